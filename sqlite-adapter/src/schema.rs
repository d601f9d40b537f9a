//! Opening connections (PRAGMAs) and applying the refinery migrations under a write lock.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use credence_core::telemetry;

use crate::config::SqliteConfig;
use crate::error::{BACKEND, SqlResult, SqliteError};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The oldest SQLite this crate accepts (3.51.3), as `sqlite3_libversion_number`.
pub const MIN_SQLITE_VERSION: i32 = 3_051_003;

/// The schema version whose migration leaves the live claims index to be rebuilt in Rust
/// (`live::rebuild`), in the same transaction.
const LIVE_WINDOWS_VERSION: i64 = 5;

/// The schema version whose migration leaves the search postings to be derived in Rust
/// (`terms::rebuild`), in the same transaction.
const DISCOVERY_VERSION: i64 = 7;

/// refinery's history table (same layout as refinery's own runner writes).
const HISTORY_TABLE: &str = "refinery_schema_history";

/// Refuses a linked SQLite older than [`MIN_SQLITE_VERSION`].
pub(crate) fn check_library_version() -> SqlResult<()> {
    if rusqlite::version_number() < MIN_SQLITE_VERSION {
        return Err(SqliteError::Config(format!(
            "sqlite: the linked SQLite {} is older than the required 3.51.3",
            rusqlite::version()
        )));
    }
    Ok(())
}

/// How a connection is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The one write connection (may create the file).
    Writer,
    /// A read-only (`query_only`) connection; never creates the file.
    Reader,
    /// A read-only connection to a file on a store that cannot be written (a read-only
    /// directory or file system, a backup): opened `immutable`, so SQLite needs neither the
    /// `-shm` nor the `-wal` file it could not create, and changes nothing.
    Frozen,
}

/// Why the agent file at `path` (existing or not) cannot be written, when it cannot: its
/// directory takes no new file (WAL needs `-wal` and `-shm` beside it), the file refuses
/// writes, or the file system is read-only. `None` when both can be written.
///
/// Asked of the operating system (`access`), never by opening the file: closing any descriptor
/// of a database file would drop the POSIX locks SQLite holds on it in this process.
pub(crate) fn read_only_reason(path: &Path) -> Option<String> {
    use rustix::fs::{Access, access};
    use rustix::io::Errno;
    let refused = |p: &Path| match access(p, Access::WRITE_OK) {
        Err(e) if [Errno::ACCESS, Errno::PERM, Errno::ROFS].contains(&e) => Some(e),
        _ => None,
    };
    let dir = path.parent()?;
    if let Some(e) = refused(dir) {
        return Some(format!("the directory {} takes no new files ({e})", dir.display()));
    }
    if path.exists()
        && let Some(e) = refused(path)
    {
        return Some(format!("{} cannot be written ({e})", path.display()));
    }
    None
}

/// Opens a file of a store that cannot be written: read-only as usual when SQLite can (the
/// `-shm` file exists), else `immutable` — unless a `-wal` file holds commits it could then not
/// see, which is refused rather than read stale.
fn open_frozen(path: &Path) -> SqlResult<Connection> {
    let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let usual = Connection::open_with_flags(path, ro)
        .and_then(|c| c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).map(|()| c));
    if let Ok(conn) = usual {
        return Ok(conn);
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(SqliteError::ReadOnly(format!(
            "{} has commits in its -wal file that cannot be read without write access to the \
             directory (copy a store after a checkpoint, or with `credence export`)",
            path.display()
        )));
    }
    Connection::open_with_flags(format!("{}?immutable=1", file_uri(path)), ro | OpenFlags::SQLITE_OPEN_URI)
        .map_err(SqliteError::sqlite(format!("opening {} read-only", path.display())))
}

/// Opens an agent file read-only to inspect it (what `doctor` does): as usual on a store that
/// can be written, `immutable` on one that cannot (WAL would need a `-shm` file it cannot
/// create). Never creates or changes anything.
///
/// # Errors
/// Why the file cannot be opened.
pub fn open_for_inspection(path: &Path) -> Result<Connection, String> {
    if read_only_reason(path).is_some() {
        open_frozen(path).map_err(|e| e.to_string())
    } else {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| e.to_string())
    }
}

/// `path` as an SQLite URI (`file:` with `%`-escapes), for opening it with URI parameters.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// Where one agent's database lives.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A file.
    File(std::path::PathBuf),
    /// A shared in-memory database (`memdb` VFS) with this name.
    Memory(String),
}

/// Creates the agent file at `path` whole or not at all: the schema and the agent's id are
/// written to a temporary file in the same directory (a name no listing reads), which is then
/// linked into place. A failure (a full disk, say) leaves no half-made agent file behind; if
/// another process created the file meanwhile, its file is kept.
pub(crate) fn create_file(path: &std::path::Path, agent: &str, config: &SqliteConfig) -> SqlResult<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.creating-{}-{n}", std::process::id()));
    let remove_tmp = || {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = tmp.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    };
    let made = (|| {
        let mut conn = open(&Target::File(tmp.clone()), Role::Writer, config)?;
        migrate(&mut conn, agent, config.busy_timeout)?;
        checkpoint(&conn, Checkpoint::Truncate)
            .map_err(SqliteError::sqlite("checkpointing the new agent file"))?;
        conn.close().map_err(|(_, e)| SqliteError::sqlite("closing the new agent file")(e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename that never replaces does the same.
            Err(e) => {
                use rustix::fs::{CWD, RenameFlags, renameat_with};
                match renameat_with(CWD, &tmp, CWD, path, RenameFlags::NOREPLACE) {
                    Ok(()) => Ok(()),
                    Err(rustix::io::Errno::EXIST) => Ok(()),
                    Err(_) => Err(SqliteError::io(format!("linking {} into place", path.display()))(e)),
                }
            }
        }
    })();
    remove_tmp();
    made
}

/// Opens a connection to `target` and applies the PRAGMAs every connection gets.
pub(crate) fn open(target: &Target, role: Role, config: &SqliteConfig) -> SqlResult<Connection> {
    // No SQLITE_OPEN_URI for files: an agent file's path is a path, never a URI. (The bundled
    // SQLite reads `file:` names as URIs whatever the flag, so the store directory is made
    // absolute when the store is opened: no agent file's path starts with `file:`.) Only the
    // in-memory databases are named by URI.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if role == Role::Writer || matches!(target, Target::Memory(_)) {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    if matches!(target, Target::Memory(_)) {
        flags |= OpenFlags::SQLITE_OPEN_URI;
    }
    let (conn, is_file) = match target {
        Target::File(path) if role == Role::Frozen => (open_frozen(path)?, true),
        Target::File(path) => (
            Connection::open_with_flags(path, flags)
                .map_err(SqliteError::sqlite(format!("opening {}", path.display())))?,
            true,
        ),
        Target::Memory(name) => (
            Connection::open_with_flags(format!("file:{name}?vfs=memdb"), flags)
                .map_err(SqliteError::sqlite("opening an in-memory database"))?,
            false,
        ),
    };
    conn.set_prepared_statement_cache_capacity(64);
    apply_pragmas(&conn, is_file, role, config)?;
    Ok(conn)
}

fn apply_pragmas(conn: &Connection, is_file: bool, role: Role, config: &SqliteConfig) -> SqlResult<()> {
    if role == Role::Frozen {
        // Nothing to set on a file nobody can write: no journal mode to switch, no syncing.
        return conn.execute_batch("PRAGMA query_only=ON").map_err(SqliteError::sqlite("setting query_only"));
    }
    // In-memory readers poll on their own (see `AgentDb::read`): SQLite's busy handler sleeps
    // too coarsely to catch the gaps between write transactions.
    let busy = if !is_file && role == Role::Reader { Duration::ZERO } else { config.busy_timeout };
    conn.busy_timeout(busy).map_err(SqliteError::sqlite("setting busy_timeout"))?;
    if is_file && role == Role::Writer {
        // Takes effect only in a file with no page yet (one being made), and only before it
        // enters WAL mode; a file keeps the page size it was made with.
        conn.execute_batch(&format!("PRAGMA page_size={}", config.page_size))
            .map_err(SqliteError::sqlite("setting page_size"))?;
    }
    if is_file {
        // Switching to WAL needs a brief exclusive lock; concurrent openers may see BUSY
        // without the busy handler being invoked, so retry within busy_timeout.
        let mode = retry_busy(config.busy_timeout, || {
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                .map_err(SqliteError::sqlite("setting journal_mode=WAL"))
        })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::Config(format!("sqlite: journal_mode=WAL was refused (got {mode})")));
        }
    }
    // temp_store=MEMORY keeps each unit's savepoint journal in memory: on a file it costs
    // two pwrite calls per page a unit touches (most of a group commit's system time).
    let batch = format!(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; \
         PRAGMA journal_size_limit={};{}",
        config.journal_size_limit,
        if cfg!(target_os = "macos") { " PRAGMA fullfsync=ON;" } else { "" },
    );
    conn.execute_batch(&batch).map_err(SqliteError::sqlite("setting PRAGMAs"))?;
    if role != Role::Writer {
        conn.execute_batch("PRAGMA query_only=ON").map_err(SqliteError::sqlite("setting query_only"))?;
    }
    Ok(())
}

/// Runs `f` again while it fails with BUSY/LOCKED, for at most `limit`.
pub(crate) fn retry_busy<T>(limit: Duration, mut f: impl FnMut() -> SqlResult<T>) -> SqlResult<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.is_busy() && start.elapsed() < limit => {
                telemetry::retry(BACKEND, "busy", 1, attempt, &e);
                attempt += 1;
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The modes of `PRAGMA wal_checkpoint` the backend runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Checkpoint {
    /// Copies what it can without waiting for readers or writers.
    Passive,
    /// Copies everything and truncates the WAL (waits for readers of old frames).
    Truncate,
}

impl Checkpoint {
    fn name(self) -> &'static str {
        match self {
            Checkpoint::Passive => "PASSIVE",
            Checkpoint::Truncate => "TRUNCATE",
        }
    }
}

/// Runs a WAL checkpoint on `conn` and reports it (SPEC §10): its mode, the frames it moved
/// back into the database, and how long it took.
pub(crate) fn checkpoint(conn: &Connection, mode: Checkpoint) -> rusqlite::Result<()> {
    let started = Instant::now();
    // The answer is (busy, frames in the WAL, frames checkpointed); -1 when not in WAL mode.
    let frames: i64 = conn.query_row(&format!("PRAGMA wal_checkpoint({})", mode.name()), [], |r| r.get(2))?;
    telemetry::checkpoint(BACKEND, mode.name(), frames.max(0), started.elapsed());
    Ok(())
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Brings the file's schema up to date and records (or checks) the agent id stored in it.
///
/// Everything runs inside one `BEGIN IMMEDIATE` transaction, so concurrent openers (threads or
/// processes) serialise on SQLite's write lock: the first applies the migrations, the others
/// then find them applied. A schema newer than this build is `SchemaTooNew`.
pub(crate) fn migrate(conn: &mut Connection, agent: &str, timeout: Duration) -> SqlResult<()> {
    // Fast path without the write lock: an up-to-date file of this agent needs nothing, so
    // opening it for a read never waits for a writer.
    if retry_busy(timeout, || is_current(conn, agent))? {
        return Ok(());
    }
    retry_busy(timeout, || migrate_once(conn, agent))
}

/// What a store that cannot be written checks instead of migrating: the file is at the newest
/// schema and belongs to `agent`.
pub(crate) fn check_frozen(conn: &Connection, agent: &str, reason: &str) -> SqlResult<()> {
    if is_current(conn, agent)? {
        return Ok(());
    }
    let found: i64 = conn
        .query_row(&format!("SELECT COALESCE(MAX(version), 0) FROM {HISTORY_TABLE}"), [], |r| r.get(0))
        .unwrap_or(0);
    let supported = latest_version();
    if found > supported {
        return Err(SqliteError::SchemaTooNew { found, supported });
    }
    Err(SqliteError::ReadOnly(format!(
        "the file of agent {agent:?} is at schema version {found} (or belongs to another agent) and \
         cannot be brought to version {supported}: {reason}"
    )))
}

/// True when the file's schema is exactly the newest and it belongs to `agent`.
fn is_current(conn: &Connection, agent: &str) -> SqlResult<bool> {
    let read = SqliteError::sqlite("checking the schema version");
    let tables: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('{HISTORY_TABLE}', 'agent')"),
            [],
            |r| r.get(0),
        )
        .map_err(read)?;
    if tables != 2 {
        return Ok(false);
    }
    let (version, stored): (i64, Option<String>) = conn
        .query_row(
            &format!(
                "SELECT (SELECT COALESCE(MAX(version), 0) FROM {HISTORY_TABLE}), \
                 (SELECT agent_id FROM agent WHERE singleton = 1)"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(SqliteError::sqlite("checking the schema version"))?;
    Ok(version == latest_version() && stored.as_deref() == Some(agent))
}

/// Runs [`migrate_in_transaction`] with foreign keys off (a migration that rebuilds a table
/// others reference must drop it; SQLite only lets that pragma change outside a transaction)
/// and turns them back on, whatever happened.
fn migrate_once(conn: &mut Connection, agent: &str) -> SqlResult<()> {
    conn.execute_batch("PRAGMA foreign_keys=OFF")
        .map_err(SqliteError::sqlite("turning foreign keys off for the migration"))?;
    let migrated = migrate_in_transaction(conn, agent);
    let restored = conn
        .execute_batch("PRAGMA foreign_keys=ON")
        .map_err(SqliteError::sqlite("turning foreign keys back on after the migration"));
    migrated.and(restored)
}

fn migrate_in_transaction(conn: &mut Connection, agent: &str) -> SqlResult<()> {
    let started = Instant::now();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(SqliteError::sqlite("locking the database for migration"))?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE}(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));"
    ))
    .map_err(SqliteError::sqlite("creating the migration history"))?;
    let current: i64 = tx
        .query_row(&format!("SELECT COALESCE(MAX(version), 0) FROM {HISTORY_TABLE}"), [], |r| r.get(0))
        .map_err(SqliteError::sqlite("reading the schema version"))?;
    let supported = latest_version();
    if current > supported {
        return Err(SqliteError::SchemaTooNew { found: current, supported });
    }
    let runner = embedded::migrations::runner();
    let mut pending: Vec<_> =
        runner.get_migrations().iter().filter(|m| i64::from(m.version()) > current).collect();
    pending.sort_by_key(|m| m.version());
    let migrating = !pending.is_empty();
    for m in pending {
        let version = i64::from(m.version());
        let sql = m.sql().ok_or_else(|| SqliteError::Internal(format!("migration {m} has no SQL")))?;
        tx.execute_batch(sql).map_err(SqliteError::sqlite(format!("applying migration {m}")))?;
        tx.execute(
            &format!(
                "INSERT INTO {HISTORY_TABLE} (version, name, applied_on, checksum) \
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?3)"
            ),
            rusqlite::params![m.version(), m.name(), m.checksum().to_string()],
        )
        .map_err(SqliteError::sqlite(format!("recording migration {m}")))?;
        if version == LIVE_WINDOWS_VERSION {
            crate::live::rebuild(&tx)
                .map_err(|e| SqliteError::Decode(format!("building the live claims index: {e}")))?;
        }
        if version == DISCOVERY_VERSION {
            crate::terms::rebuild(&tx)
                .map_err(|e| SqliteError::Decode(format!("building the search postings: {e}")))?;
        }
    }
    if migrating {
        check_migrated(&tx)?;
    }
    let stored: Option<String> = tx
        .query_row("SELECT agent_id FROM agent WHERE singleton = 1", [], |r| r.get(0))
        .optional()
        .map_err(SqliteError::sqlite("reading the stored agent id"))?;
    match stored {
        Some(id) if id == agent => {}
        Some(id) => {
            return Err(SqliteError::Decode(format!(
                "the file belongs to agent {id:?}, not {agent:?} (renamed or copied file?)"
            )));
        }
        None => {
            tx.execute("INSERT INTO agent (singleton, agent_id) VALUES (1, ?1)", [agent])
                .map_err(SqliteError::sqlite("recording the agent id"))?;
        }
    }
    tx.commit().map_err(SqliteError::sqlite("committing the migration"))?;
    if migrating {
        telemetry::migrated(BACKEND, agent, current, supported, started.elapsed());
    }
    Ok(())
}

/// What a migration that copied rows must leave true, checked before it commits: what the
/// foreign keys (off while migrating) would have refused, and that each unit's claims are the
/// rowid range its commits row names (`first_claim`, `n_claims`; see `read::units_sql`).
fn check_migrated(tx: &rusqlite::Transaction<'_>) -> SqlResult<()> {
    let count = |sql: &str, what: &'static str| -> SqlResult<i64> {
        tx.query_row(sql, [], |r| r.get(0)).map_err(SqliteError::sqlite(what))
    };
    let orphans =
        count("SELECT count(*) FROM pragma_foreign_key_check", "checking foreign keys after the migration")?;
    if orphans > 0 {
        return Err(SqliteError::Decode(format!(
            "{orphans} rows name a commit unit the file does not hold (found while migrating)"
        )));
    }
    let scattered = count(
        "SELECT count(*) FROM commits u WHERE u.n_claims <> (SELECT count(*) FROM claims c \
         WHERE c.id BETWEEN u.first_claim AND u.first_claim + u.n_claims - 1 AND c.stream_seq = u.stream_seq)",
        "checking the units' claim ranges after the migration",
    )?;
    if scattered > 0 {
        return Err(SqliteError::Decode(format!(
            "{scattered} units' claims are not stored one after the other (found while migrating)"
        )));
    }
    Ok(())
}

/// The agent id stored in an existing file, `None` when the file has no schema yet.
/// Opens its own short-lived read-only connection; never creates the file.
pub(crate) fn stored_agent(path: &Path, config: &SqliteConfig) -> SqlResult<Option<(String, bool)>> {
    // An empty file (a creation cut short, as when the disk filled while SQLite created it)
    // holds no agent; it is not opened, so listing never changes it.
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Ok(None);
    }
    let target = Target::File(path.to_path_buf());
    let conn = match open(&target, Role::Reader, config) {
        Ok(conn) => conn,
        // A store that cannot be written (a read-only backup) is read frozen.
        Err(e) => match read_only_reason(path) {
            Some(_) => open(&target, Role::Frozen, config)?,
            None => return Err(e),
        },
    };
    let has_schema: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agent')",
            [],
            |r| r.get(0),
        )
        .map_err(SqliteError::sqlite(format!("reading {}", path.display())))?;
    if !has_schema {
        return Ok(None);
    }
    let id: Option<String> = conn
        .query_row("SELECT agent_id FROM agent WHERE singleton = 1", [], |r| r.get(0))
        .optional()
        .map_err(SqliteError::sqlite(format!("reading the agent id of {}", path.display())))?;
    let Some(id) = id else { return Ok(None) };
    let has_units: bool = conn
        .query_row("SELECT EXISTS(SELECT 1 FROM commits)", [], |r| r.get(0))
        .map_err(SqliteError::sqlite(format!("reading {}", path.display())))?;
    Ok(Some((id, has_units)))
}

/// PRAGMA values read back from one live connection (see
/// [`SqliteLedger::connection_pragmas`](crate::SqliteLedger::connection_pragmas)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pragmas {
    /// `journal_mode` (`"wal"` for files).
    pub journal_mode: String,
    /// `synchronous` (2 = FULL).
    pub synchronous: i64,
    /// `foreign_keys`.
    pub foreign_keys: bool,
    /// `busy_timeout` in milliseconds.
    pub busy_timeout_ms: i64,
    /// `journal_size_limit` in bytes.
    pub journal_size_limit: i64,
    /// `query_only`.
    pub query_only: bool,
    /// `page_size` in bytes (the file's, set when it was made).
    pub page_size: i64,
}

/// Reads the PRAGMAs of `conn`.
pub(crate) fn read_pragmas(conn: &Connection) -> SqlResult<Pragmas> {
    let text = |p: &str| -> SqlResult<String> {
        conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .map_err(SqliteError::sqlite(format!("reading PRAGMA {p}")))
    };
    let int = |p: &str| -> SqlResult<i64> {
        conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .map_err(SqliteError::sqlite(format!("reading PRAGMA {p}")))
    };
    Ok(Pragmas {
        journal_mode: text("journal_mode")?,
        synchronous: int("synchronous")?,
        foreign_keys: int("foreign_keys")? != 0,
        busy_timeout_ms: int("busy_timeout")?,
        journal_size_limit: int("journal_size_limit")?,
        query_only: int("query_only")? != 0,
        page_size: int("page_size")?,
    })
}
