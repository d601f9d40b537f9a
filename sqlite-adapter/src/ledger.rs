//! [`SqliteLedger`]: the [`Ledger`] implementation and its bounded cache of open agents.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use credence_core::{
    AgentId, AgentSurvey, DamagedAgent, Handle, Head, Ledger, ReadUnit, Result, WriteUnit, run_unit,
};

use crate::agent::{AgentDb, Counters};
use crate::config::SqliteConfig;
use crate::error::{BACKEND, SqlResult, SqliteError};
use crate::live;
use crate::naming::{self, Decoded};
use crate::read::{EmptyView, View};
use crate::schema::{self, Pragmas, Target};
use crate::url::{self, Location};
use crate::write;
use rusqlite::Connection;

/// One unit of a batch on the write connection: runs the engine's unit and appends its rows.
type AppendOp<'a> = dyn FnMut(&Connection) -> Result<Option<Head>> + 'a;

/// Hashed file names probe at most this many `-<n>` suffixes.
const MAX_PROBES: u32 = 64;

/// Distinguishes the in-memory databases of different `SqliteLedger`s in one process.
static MEMORY_STORES: AtomicU64 = AtomicU64::new(0);

/// The `sqlite:` ledger: one SQLite database per agent (see the crate docs).
pub struct SqliteLedger {
    location: Location,
    config: SqliteConfig,
    memory_prefix: String,
    cache: Mutex<Cache>,
    counters: Arc<Counters>,
}

/// Group-commit counters of a store since it was opened (see [`SqliteLedger::commit_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions committed (one per group commit).
    pub transactions: u64,
    /// Writes (commit units and `mark_notified` calls) acknowledged through them.
    pub writes: u64,
}

#[derive(Default)]
struct Cache {
    map: HashMap<AgentId, Entry>,
    tick: u64,
    next_memory_db: u64,
}

struct Entry {
    db: Arc<AgentDb>,
    last_used: u64,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("location", &self.location)
            .field("config", &self.config)
            .finish()
    }
}

impl SqliteLedger {
    /// Opens (creating if needed) a store with one database file per agent under `dir`.
    ///
    /// # Errors
    /// `InvalidConfig` for a bad `config` or a linked SQLite older than 3.51.3; `Backend` when
    /// the directory cannot be created.
    ///
    /// The directory is made absolute first (so a later change of the working directory does
    /// not move the store, and no agent file's path can read as a SQLite `file:` URI, which the
    /// bundled SQLite would otherwise interpret).
    pub fn open(dir: impl AsRef<Path>, config: SqliteConfig) -> Result<SqliteLedger> {
        let given = dir.as_ref();
        let dir = std::path::absolute(given)
            .map_err(SqliteError::io(format!("resolving the directory {}", given.display())))?;
        std::fs::create_dir_all(&dir).map_err(SqliteError::io(format!("creating {}", dir.display())))?;
        Ok(SqliteLedger::new(Location::Dir(dir), config)?)
    }

    /// A store on in-memory databases (one per agent): same engine, nothing on disk, gone
    /// when the ledger is dropped.
    ///
    /// # Errors
    /// As [`open`](SqliteLedger::open).
    pub fn in_memory(config: SqliteConfig) -> Result<SqliteLedger> {
        Ok(SqliteLedger::new(Location::Memory, config)?)
    }

    /// Opens `sqlite:<dir>` or `sqlite::memory:` with the default configuration.
    ///
    /// # Errors
    /// `InvalidStoreUrl` for anything else (another scheme, an empty directory, …).
    pub fn from_url(url: &str) -> Result<SqliteLedger> {
        SqliteLedger::from_url_with(url, SqliteConfig::default())
    }

    /// As [`from_url`](SqliteLedger::from_url) with an explicit configuration.
    ///
    /// # Errors
    /// As [`from_url`](SqliteLedger::from_url) and [`open`](SqliteLedger::open).
    pub fn from_url_with(url: &str, config: SqliteConfig) -> Result<SqliteLedger> {
        match url::parse(url)? {
            Location::Dir(dir) => SqliteLedger::open(dir, config),
            Location::Memory => SqliteLedger::in_memory(config),
        }
    }

    fn new(location: Location, config: SqliteConfig) -> SqlResult<SqliteLedger> {
        config.validate()?;
        schema::check_library_version()?;
        let n = MEMORY_STORES.fetch_add(1, Ordering::Relaxed);
        Ok(SqliteLedger {
            location,
            config,
            memory_prefix: format!("/credence-{}-{n}", std::process::id()),
            cache: Mutex::new(Cache::default()),
            counters: Arc::default(),
        })
    }

    /// The directory of a file-backed store, `None` for `sqlite::memory:`.
    pub fn dir(&self) -> Option<&Path> {
        match &self.location {
            Location::Dir(dir) => Some(dir),
            Location::Memory => None,
        }
    }

    /// Why the store cannot be written, when its directory takes no new files (a read-only
    /// directory or file system, a backup): reads work, every write fails `ReadOnly`. `None` for
    /// a writable directory and in memory.
    pub fn read_only(&self) -> Option<String> {
        self.dir().and_then(|dir| schema::read_only_reason(&dir.join(".credence-no-such-file")))
    }

    /// The file that holds (or would hold) `agent`'s rows; `None` for `sqlite::memory:`.
    ///
    /// # Errors
    /// As reading the agent (a hashed name may have to look inside existing files).
    pub fn agent_file(&self, agent: &AgentId) -> Result<Option<PathBuf>> {
        match &self.location {
            Location::Dir(dir) => Ok(Some(resolve(dir, agent, true, &self.config)?.unwrap_or_default())),
            Location::Memory => Ok(None),
        }
    }

    /// The PRAGMAs of `agent`'s write connection and of one of its read connections, read
    /// back from the live connections; `None` if the agent has no database.
    ///
    /// # Errors
    /// As opening the agent.
    pub fn connection_pragmas(&self, agent: &AgentId) -> Result<Option<(Pragmas, Pragmas)>> {
        match self.agent_db(agent, false)? {
            Some(db) => db.pragmas().map(Some),
            None => Ok(None),
        }
    }

    /// How many transactions the writes so far needed: with concurrent writers to one agent,
    /// `transactions < writes` shows group commit at work.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Number of agent databases currently open.
    pub fn open_agents(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    /// The agent's database, opening it if needed; `None` if it does not exist and `create`
    /// is false.
    /// The agent a file in the store directory belongs to, if it has committed units.
    /// Every agent with rows, and the agent files that could not be read well enough to name
    /// their agent (a damaged file whose name is a hash of the id). A damaged file whose name
    /// carries the id is listed as that agent (its own reads and writes report the damage): one
    /// bad file never hides the other agents.
    fn list_agents(&self) -> Result<AgentSurvey> {
        let (mut out, mut damaged) = (Vec::new(), Vec::new());
        match &self.location {
            Location::Memory => {
                let dbs: Vec<Arc<AgentDb>> = {
                    let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                    cache.map.values().map(|e| e.db.clone()).collect()
                };
                for db in dbs {
                    if has_units(&db)? {
                        out.push(db.agent().clone());
                    }
                }
            }
            Location::Dir(dir) => {
                let entries =
                    std::fs::read_dir(dir).map_err(SqliteError::io(format!("listing {}", dir.display())))?;
                for entry in entries {
                    let entry = entry.map_err(SqliteError::io(format!("listing {}", dir.display())))?;
                    let name = entry.file_name();
                    let Some(decoded) = name.to_str().and_then(naming::decode) else { continue };
                    let named = match &decoded {
                        Decoded::Id(id) => AgentId::new(id.clone()).ok(),
                        Decoded::Hashed => None,
                    };
                    match (self.listed_agent(&entry.path(), &decoded), named) {
                        (Ok(Some(agent)), _) => out.push(agent),
                        (Ok(None), _) => {}
                        (Err(_), Some(agent)) => out.push(agent),
                        (Err(e), None) => damaged.push(DamagedAgent {
                            name: entry.path().display().to_string(),
                            reason: e.to_string(),
                        }),
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        damaged.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(AgentSurvey { agents: out, damaged })
    }

    fn listed_agent(&self, path: &std::path::Path, decoded: &Decoded) -> Result<Option<AgentId>> {
        if let Decoded::Id(id) = decoded
            && let Ok(agent) = AgentId::new(id.clone())
        {
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .map
                .get(&agent)
                .map(|e| e.db.clone());
            if let Some(db) = cached {
                return Ok(has_units(&db)?.then_some(agent));
            }
        }
        match schema::stored_agent(path, &self.config)? {
            Some((id, true)) => AgentId::new(id.clone()).map(Some).map_err(|e| {
                SqliteError::Decode(format!("{} stores an invalid agent id {id:?}: {e}", path.display()))
                    .into()
            }),
            _ => Ok(None),
        }
    }

    fn agent_db(&self, agent: &AgentId, create: bool) -> SqlResult<Option<Arc<AgentDb>>> {
        let target = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(e) = cache.map.get_mut(agent) {
                e.last_used = tick;
                return Ok(Some(e.db.clone()));
            }
            match &self.location {
                Location::Memory if !create => return Ok(None),
                Location::Memory => {
                    cache.next_memory_db += 1;
                    let target = Target::Memory(format!("{}-{}", self.memory_prefix, cache.next_memory_db));
                    let db = Arc::new(AgentDb::new(
                        agent.clone(),
                        target,
                        self.config.clone(),
                        self.counters.clone(),
                    ));
                    cache.map.insert(agent.clone(), Entry { db: db.clone(), last_used: tick });
                    return Ok(Some(db));
                }
                Location::Dir(dir) => dir.clone(),
            }
        };
        // Resolving a file name may open files: done outside the cache lock.
        let Some(path) = resolve(&target, agent, create, &self.config)? else { return Ok(None) };
        let fresh = Arc::new(AgentDb::new(
            agent.clone(),
            Target::File(path),
            self.config.clone(),
            self.counters.clone(),
        ));
        let (db, victims) = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.tick += 1;
            let tick = cache.tick;
            let db =
                cache.map.entry(agent.clone()).or_insert(Entry { db: fresh, last_used: tick }).db.clone();
            (db, evict(&mut cache, self.config.max_open_agents))
        };
        drop(victims); // checkpoints and closes, outside the lock
        Ok(Some(db))
    }
}

/// Removes least-recently-used idle agents until at most `max` are open. Agents in use (held
/// by a running call) are never closed; the cache may exceed `max` while they are.
fn evict(cache: &mut Cache, max: usize) -> Vec<Arc<AgentDb>> {
    let mut victims = Vec::new();
    while cache.map.len() > max {
        let oldest = cache
            .map
            .iter()
            .filter(|(_, e)| Arc::strong_count(&e.db) == 1)
            .min_by_key(|(_, e)| e.last_used)
            .map(|(id, _)| id.clone());
        match oldest.and_then(|id| cache.map.remove(&id)) {
            Some(e) => victims.push(e.db),
            None => break,
        }
    }
    victims
}

/// The file of `agent` under `dir`: `None` when it does not exist and `create` is false.
fn resolve(dir: &Path, agent: &AgentId, create: bool, config: &SqliteConfig) -> SqlResult<Option<PathBuf>> {
    let id = agent.as_str();
    if naming::is_direct(id) {
        let path = naming::path(dir, id, 0);
        return Ok((create || path.exists()).then_some(path));
    }
    for n in 0..MAX_PROBES {
        let path = naming::path(dir, id, n);
        if !path.exists() {
            return Ok(create.then_some(path));
        }
        match schema::stored_agent(&path, config)? {
            Some((stored, _)) if stored == id => return Ok(Some(path)),
            Some(_) => continue,
            // A file being created right now: claim it (the migration checks the id).
            None => return Ok(Some(path)),
        }
    }
    Err(SqliteError::Internal(format!("no free file name for agent {id:?} after {MAX_PROBES} probes")))
}

impl Ledger for SqliteLedger {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        let db = match self.agent_db(agent, true) {
            Ok(Some(db)) => db,
            Ok(None) => {
                let e = credence_core::Error::from(SqliteError::Internal(
                    "the agent database was not created".into(),
                ));
                return units.iter().map(|_| Err(e.replicate())).collect();
            }
            Err(e) => {
                let e = credence_core::Error::from(e);
                return units.iter().map(|_| Err(e.replicate())).collect();
            }
        };
        let mut ops: Vec<Box<AppendOp<'_>>> = units
            .iter_mut()
            .map(|unit| {
                let op = move |conn: &Connection| {
                    let view = View::new(conn, agent);
                    let Some(append) = run_unit(BACKEND, &mut **unit, &view)? else { return Ok(None) };
                    let head = write::apply(conn, agent, &append)?;
                    live::update(conn, &view, agent, &append)?;
                    Ok(Some(head))
                };
                Box::new(op) as Box<AppendOp<'_>>
            })
            .collect();
        let mut refs: Vec<&mut AppendOp<'_>> =
            ops.iter_mut().map(|op| &mut **op as &mut AppendOp<'_>).collect();
        db.write_many(&mut refs)
    }

    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        match self.agent_db(agent, false)? {
            Some(db) => db.read(f),
            None => f(&EmptyView),
        }
    }

    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
        let Some(db) = self.agent_db(agent, false)? else { return Ok(()) };
        db.write(&mut |conn| {
            write::mark_notified(conn, agent, handle)?;
            Ok(Some(()))
        })?;
        Ok(())
    }

    fn agents(&self) -> Result<Vec<AgentId>> {
        Ok(self.list_agents()?.agents)
    }

    fn rebuild_indexes(&self, agent: &AgentId) -> Result<Option<u64>> {
        let Some(db) = self.agent_db(agent, false)? else { return Ok(Some(0)) };
        db.write(&mut |conn| {
            let live = live::rebuild(conn)?;
            crate::terms::rebuild(conn)?;
            Ok(Some(live))
        })
    }

    fn survey(&self) -> Result<AgentSurvey> {
        self.list_agents()
    }
}

fn has_units(db: &AgentDb) -> Result<bool> {
    let mut found = false;
    db.read(&mut |view| {
        found = view.head()?.is_some();
        Ok(())
    })?;
    Ok(found)
}
