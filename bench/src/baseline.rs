//! The raw-driver baselines: single-row inserts into a table shaped like the claims table, one
//! transaction per row, with the same durability settings as the backend. Each keeps its
//! table open so the bench can alternate baseline and credence rounds.

use std::path::Path;
use std::time::{Duration, Instant};

/// Sets the PRAGMAs credence-sqlite gives its write connections that bear on a commit's cost:
/// WAL, `synchronous=FULL`, foreign keys checked.
pub fn durable(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")
}

/// Single-row inserts with rusqlite into a fresh file, with the PRAGMAs credence-sqlite uses
/// (WAL, synchronous=FULL), one `BEGIN IMMEDIATE … COMMIT` per row.
pub struct SqliteBaseline {
    conn: rusqlite::Connection,
    next: u64,
}

impl SqliteBaseline {
    /// Creates the baseline table in `dir/baseline.db`.
    pub fn open(dir: &Path) -> Result<SqliteBaseline, String> {
        let err = |e: rusqlite::Error| e.to_string();
        let conn = rusqlite::Connection::open(dir.join("baseline.db")).map_err(err)?;
        durable(&conn).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE baseline (agent_id TEXT NOT NULL, stream_seq INTEGER NOT NULL, claim_ref TEXT NOT NULL,
                subject TEXT NOT NULL, predicate TEXT NOT NULL, value TEXT NOT NULL, tx_time INTEGER NOT NULL,
                UNIQUE (agent_id, stream_seq));",
        )
        .map_err(err)?;
        Ok(SqliteBaseline { conn, next: 0 })
    }

    /// Inserts `n` more rows, `per_txn` to a transaction (`BEGIN IMMEDIATE … COMMIT`); when
    /// more than one, each row in its own savepoint, as a group commit runs its units.
    /// Returns how long that took.
    pub fn insert(&mut self, n: u64, per_txn: u64) -> Result<Duration, String> {
        let err = |e: rusqlite::Error| e.to_string();
        let run = |sql: &str| self.conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(err);
        let savepoints = per_txn > 1;
        let start = Instant::now();
        for first in (self.next..self.next + n).step_by(per_txn.max(1) as usize) {
            run("BEGIN IMMEDIATE")?;
            for i in first..(first + per_txn).min(self.next + n) {
                let seq = i64::try_from(i + 1).map_err(|e| e.to_string())?;
                if savepoints {
                    run("SAVEPOINT row")?;
                }
                let row =
                    rusqlite::params![seq, format!("ref-{i}"), format!("subject-{i}"), i.to_string(), seq];
                self.conn
                    .prepare_cached("INSERT INTO baseline VALUES ('bench', ?1, ?2, ?3, 'p', ?4, ?5)")
                    .and_then(|mut s| s.execute(row))
                    .map_err(err)?;
                if savepoints {
                    run("RELEASE row")?;
                }
            }
            run("COMMIT")?;
        }
        self.next += n;
        Ok(start.elapsed())
    }
}

/// A plain client for a credence store URL (query options are credence's, so they are
/// dropped; the bench runs against a local server without TLS).
pub fn pg_client(url: &str) -> Result<postgres::Client, String> {
    let base = url.split('?').next().unwrap_or(url);
    postgres::Client::connect(base, postgres::NoTls).map_err(|e| format!("connecting to {base}: {e}"))
}

/// Single-row inserts with the `postgres` crate, one autocommit INSERT per row, into a table
/// in the run's schema (dropped with it).
pub struct PostgresBaseline {
    client: postgres::Client,
    stmt: postgres::Statement,
    table: String,
    next: u64,
}

impl PostgresBaseline {
    /// Creates the baseline table in `schema`.
    pub fn open(url: &str, schema: &str) -> Result<PostgresBaseline, String> {
        let mut client = pg_client(url)?;
        let err = |e: postgres::Error| e.to_string();
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
                 CREATE TABLE \"{schema}\".baseline (agent_id TEXT NOT NULL, stream_seq BIGINT NOT NULL,
                    claim_ref TEXT NOT NULL, subject TEXT NOT NULL, predicate TEXT NOT NULL, value TEXT NOT NULL,
                    tx_time BIGINT NOT NULL, UNIQUE (agent_id, stream_seq));"
            ))
            .map_err(err)?;
        let stmt = client
            .prepare(&format!("INSERT INTO \"{schema}\".baseline VALUES ('bench', $1, $2, $3, 'p', $4, $5)"))
            .map_err(err)?;
        Ok(PostgresBaseline { client, stmt, table: format!("\"{schema}\".baseline"), next: 0 })
    }

    /// Inserts `n` more rows: with `per_txn` 1 one autocommit statement each, otherwise
    /// `per_txn` to a transaction, each row in its own savepoint, the whole transaction sent
    /// as one simple query (one round trip, as credence-postgres sends a group commit).
    /// Returns how long that took.
    pub fn insert(&mut self, n: u64, per_txn: u64) -> Result<Duration, String> {
        let err = |e: postgres::Error| e.to_string();
        let start = Instant::now();
        for first in (self.next..self.next + n).step_by(per_txn.max(1) as usize) {
            let rows = first..(first + per_txn).min(self.next + n);
            if per_txn <= 1 {
                for i in rows {
                    let seq = i64::try_from(i + 1).map_err(|e| e.to_string())?;
                    let row: [&(dyn postgres::types::ToSql + Sync); 5] =
                        [&seq, &format!("ref-{i}"), &format!("subject-{i}"), &i.to_string(), &seq];
                    self.client.execute(&self.stmt, &row).map_err(err)?;
                }
                continue;
            }
            // The values are digits and ASCII letters: no quoting needed.
            let mut sql = String::from("BEGIN;");
            for i in rows {
                sql += &format!(
                    "SAVEPOINT row; INSERT INTO {} VALUES ('bench', {seq}, 'ref-{i}', 'subject-{i}', 'p', '{i}', {seq}); \
                     RELEASE row;",
                    self.table,
                    seq = i + 1
                );
            }
            sql += "COMMIT;";
            self.client.batch_execute(&sql).map_err(err)?;
        }
        self.next += n;
        Ok(start.elapsed())
    }
}

/// A baseline of either kind.
pub enum Baseline {
    Sqlite(SqliteBaseline),
    Postgres(Box<PostgresBaseline>),
}

impl Baseline {
    /// The table row's label.
    pub fn label(&self) -> &'static str {
        match self {
            Baseline::Sqlite(_) => "raw rusqlite insert/s (1 row per txn)",
            Baseline::Postgres(_) => "raw postgres insert/s (1 row per txn)",
        }
    }

    /// Inserts `n` more rows, `per_txn` to a transaction (each in its own savepoint when
    /// more than one); returns how long that took.
    pub fn insert(&mut self, n: u64, per_txn: u64) -> Result<Duration, String> {
        match self {
            Baseline::Sqlite(b) => b.insert(n, per_txn),
            Baseline::Postgres(b) => b.insert(n, per_txn),
        }
    }

    /// Removes the baseline's PostgreSQL table so it does not count as credence's disk use
    /// (the SQLite baseline lives in its own file).
    pub fn finish(self) -> Result<(), String> {
        match self {
            Baseline::Sqlite(_) => Ok(()),
            Baseline::Postgres(mut b) => {
                let sql = format!("DROP TABLE {}", b.table);
                b.client.batch_execute(&sql).map_err(|e| e.to_string())
            }
        }
    }
}
