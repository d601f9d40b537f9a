//! Opening the store under test from a URL, a fresh isolated corner of it per run, and what
//! the store takes on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use credence_core::Ledger;
use credence_postgres::PostgresLedger;
use credence_sqlite::{SqliteConfig, SqliteLedger};

/// Reads a backend's `(transactions, writes)` commit counters, if it keeps them.
pub type CommitProbe = Box<dyn Fn() -> Option<(u64, u64)>>;

/// Which backend a run measures, and where its scratch data lives.
pub enum Target {
    /// `memory:`.
    Memory,
    /// `sqlite::memory:`.
    SqliteInMemory,
    /// `sqlite:<dir>`: a fresh sub-directory of `<dir>` (`store/` for credence, `baseline/`
    /// for the raw rusqlite baseline), removed afterwards.
    SqliteDir(PathBuf),
    /// `postgres://…`: a fresh schema, dropped afterwards.
    Postgres { url: String, schema: String },
}

/// The SQLite backend's defaults, with `page_size` for the files it makes when given.
pub fn sqlite_config(page_size: Option<u32>) -> SqliteConfig {
    let defaults = SqliteConfig::default();
    SqliteConfig { page_size: page_size.unwrap_or(defaults.page_size), ..defaults }
}

/// `url` with credence's `schema` parameter added.
pub fn schema_url(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

fn run_tag() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}_{nanos}", std::process::id())
}

impl Target {
    /// Parses a store URL and prepares a fresh scratch area for it.
    pub fn from_url(url: &str) -> Result<Target, String> {
        if url == "memory:" {
            Ok(Target::Memory)
        } else if url == "sqlite::memory:" {
            Ok(Target::SqliteInMemory)
        } else if let Some(dir) = url.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err("sqlite: needs a directory, e.g. sqlite:./bench-data".into());
            }
            let sub = Path::new(dir).join(format!("credence-bench-{}", run_tag()));
            std::fs::create_dir_all(&sub).map_err(|e| format!("creating {}: {e}", sub.display()))?;
            Ok(Target::SqliteDir(sub))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if url.contains("schema=") {
                return Err("leave schema= out of the URL: the bench makes and drops its own schema".into());
            }
            Ok(Target::Postgres { url: url.to_owned(), schema: format!("credence_bench_{}", run_tag()) })
        } else {
            Err(format!(
                "unsupported store URL {url:?}: use memory:, sqlite:<dir>, sqlite::memory: or postgres://…"
            ))
        }
    }

    /// The backend's name for the report.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Memory => "memory",
            Target::SqliteInMemory => "sqlite (in-memory)",
            Target::SqliteDir(_) => "sqlite",
            Target::Postgres { .. } => "postgres",
        }
    }

    /// Opens the ledger under test, with a probe of its commit counters
    /// `(transactions, writes)` where the backend keeps them (group commit shows as more
    /// writes than transactions).
    pub fn open(&self) -> Result<(Arc<dyn Ledger>, CommitProbe), String> {
        self.open_with(&SqliteConfig::default())
    }

    /// [`Target::open`], a SQLite store with `sqlite` (ignored by the other backends).
    pub fn open_with(&self, sqlite_config: &SqliteConfig) -> Result<(Arc<dyn Ledger>, CommitProbe), String> {
        fn sqlite(l: SqliteLedger) -> (Arc<dyn Ledger>, CommitProbe) {
            let l = Arc::new(l);
            let probe = l.clone();
            (l, Box::new(move || Some((probe.commit_stats().transactions, probe.commit_stats().writes))))
        }
        Ok(match self {
            Target::Memory => (Arc::new(credence_core::MemoryLedger::new()), Box::new(|| None)),
            Target::SqliteInMemory => {
                sqlite(SqliteLedger::in_memory(sqlite_config.clone()).map_err(|e| e.to_string())?)
            }
            Target::SqliteDir(dir) => sqlite(
                SqliteLedger::open(dir.join("store"), sqlite_config.clone()).map_err(|e| e.to_string())?,
            ),
            Target::Postgres { url, schema } => {
                // The backend's default pool (10 connections): a larger one (this bench used
                // 72) made the 64-agent run measure mostly the opening of 64 TLS connections,
                // each agent's first write wanting its own.
                let full = schema_url(url, schema);
                let l = Arc::new(PostgresLedger::from_url(&full).map_err(|e| e.to_string())?);
                let probe = l.clone();
                (l, Box::new(move || Some((probe.write_stats().transactions, probe.write_stats().units))))
            }
        })
    }

    /// Bytes the store occupies (files for SQLite, relations and indexes for PostgreSQL).
    pub fn bytes_on_disk(&self) -> Result<Option<u64>, String> {
        match self {
            Target::Memory | Target::SqliteInMemory => Ok(None),
            Target::SqliteDir(dir) => Ok(Some(dir_size(&dir.join("store")).map_err(|e| e.to_string())?)),
            Target::Postgres { url, schema } => {
                let mut client = crate::baseline::pg_client(url)?;
                let row = client
                    .query_one(
                        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND c.relkind = 'r'",
                        &[schema],
                    )
                    .map_err(|e| e.to_string())?;
                let bytes: i64 = row.get(0);
                Ok(u64::try_from(bytes).ok())
            }
        }
    }

    /// Removes the scratch area.
    pub fn cleanup(&self) -> Result<(), String> {
        match self {
            Target::Memory | Target::SqliteInMemory => Ok(()),
            Target::SqliteDir(dir) => std::fs::remove_dir_all(dir).map_err(|e| e.to_string()),
            Target::Postgres { url, schema } => {
                let mut client = crate::baseline::pg_client(url)?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}
