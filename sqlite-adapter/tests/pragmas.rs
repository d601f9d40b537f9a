//! Connection settings, schema management, URLs, configuration and the agent cache.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use credence_core::{AgentId, ClaimEngine, Disposition, Engine, Error, IngestRequest, Ledger, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger, rusqlite};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn agent(id: &str) -> AgentId {
    AgentId::new(id).expect("test agent ids are valid")
}

#[test]
fn open_file_connections_read_back_wal_full_foreign_keys_and_busy_timeout() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(1234),
        journal_size_limit: 1 << 20,
        ..SqliteConfig::default()
    };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let (writer, reader) = engine.ledger().connection_pragmas(&agent("a"))?.ok_or("agent has a database")?;
    for (role, p) in [("writer", &writer), ("reader", &reader)] {
        assert_eq!(p.journal_mode, "wal", "{role}");
        assert_eq!(p.synchronous, 2, "{role}: synchronous must be FULL");
        assert!(p.foreign_keys, "{role}");
        assert_eq!(p.busy_timeout_ms, 1234, "{role}");
        assert_eq!(p.journal_size_limit, 1 << 20, "{role}");
    }
    assert!(!writer.query_only);
    assert!(reader.query_only);
    // journal_mode is persistent: a foreign connection sees WAL in the file itself.
    let file = engine.ledger().agent_file(&agent("a"))?.ok_or("file store")?;
    let conn = rusqlite::Connection::open(&file)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[test]
fn new_agent_files_take_the_configured_page_size_and_old_ones_keep_theirs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let page_size =
        |engine: &Engine<SqliteLedger>, id: &str| -> Result<(i64, i64), Box<dyn std::error::Error>> {
            let (writer, reader) =
                engine.ledger().connection_pragmas(&agent(id))?.ok_or("agent has a database")?;
            Ok((writer.page_size, reader.page_size))
        };
    {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        engine.ingest(IngestRequest::new("old", "s", "p", 1))?;
        assert_eq!(page_size(&engine, "old")?, (4096, 4096), "the default");
    }
    let engine = Engine::new(SqliteLedger::open(
        dir.path(),
        SqliteConfig { page_size: 1024, ..SqliteConfig::default() },
    )?);
    engine.ingest(IngestRequest::new("new", "s", "p", 1))?;
    engine.ingest(IngestRequest::new("old", "t", "p", 2))?;
    assert_eq!(page_size(&engine, "new")?, (1024, 1024));
    assert_eq!(page_size(&engine, "old")?, (4096, 4096), "a file keeps the page size it was made with");
    assert_eq!(engine.recall(&RecallQuery::new("new", "s", "p"))?.value, Some(1.into()));
    assert_eq!(engine.recall(&RecallQuery::new("old", "s", "p"))?.value, Some(1.into()));
    assert_eq!(engine.recall(&RecallQuery::new("old", "t", "p"))?.value, Some(2.into()));
    Ok(())
}

#[test]
fn library_version_is_at_least_3_51_3() {
    assert!(rusqlite::version_number() >= credence_sqlite::MIN_SQLITE_VERSION, "{}", rusqlite::version());
}

#[test]
fn from_url_malformed_is_invalid_store_url() {
    for url in
        ["", "sqlite:", "sqlite://", "sqlite::mem:", "postgres://localhost/x", "memory:", "file:/tmp/x"]
    {
        let err = SqliteLedger::from_url(url).err();
        assert!(matches!(err, Some(Error::InvalidStoreUrl { .. })), "{url:?}: {err:?}");
    }
}

#[test]
fn from_url_memory_and_dir_open_working_stores() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("store").display());
    for ledger in [SqliteLedger::from_url("sqlite::memory:")?, SqliteLedger::from_url(&url)?] {
        let engine = Engine::new(ledger);
        let r = engine.ingest(IngestRequest::new("a", "s", "p", "v"))?;
        assert_eq!(r.disposition, Disposition::CommittedCheap);
        assert_eq!(engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some("v".into()));
    }
    assert!(dir.path().join("store").is_dir());
    Ok(())
}

/// The names in `dir` that could be an SQLite database, journal or temporary file, or the
/// adapter's in-memory database names taken as a path (`/credence-<pid>-…`).
fn sqlite_like_names(dir: &std::path::Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        let looks_sqlite = ["sqlite", "credence", "etilqs", "memdb", "memory", "-journal", "-wal", "-shm"]
            .iter()
            .any(|p| lower.contains(p));
        if looks_sqlite {
            out.insert(name);
        }
    }
    Ok(out)
}

#[test]
fn in_memory_store_leaves_nothing_on_disk_and_is_private() -> TestResult {
    // Where a file could wrongly appear: the current directory (a relative name), the temp
    // dir (SQLite's temporary files) and the root (the memdb names are absolute URI paths).
    // Other processes (tests, builds) write to the temp dir at the same time, so each listing
    // is narrowed to names that look like SQLite's or the adapter's; nothing else writes
    // those there. Changing the current directory to a fresh one would be stronger, but it
    // is process-wide state that other tests of this binary would see under `cargo test`.
    let dirs = [std::env::current_dir()?, std::env::temp_dir(), std::path::PathBuf::from("/")];
    let before = dirs.iter().map(|d| sqlite_like_names(d)).collect::<Result<Vec<_>, _>>()?;

    let a = Engine::new(SqliteLedger::in_memory(SqliteConfig::default())?);
    let b = Engine::new(SqliteLedger::in_memory(SqliteConfig::default())?);
    for i in 0..300 {
        a.ingest(IngestRequest::new("x", format!("s{i}"), "p", "v".repeat(1_000)))?;
    }
    assert_eq!(a.recall(&RecallQuery::new("x", "s7", "p"))?.value, Some("v".repeat(1_000).into()));
    assert!(b.recall(&RecallQuery::new("x", "s7", "p"))?.is_empty());
    assert!(a.ledger().dir().is_none());
    assert_eq!(a.ledger().agent_file(&agent("x"))?, None);

    let nothing_new = |when: &str| -> TestResult {
        for (dir, before) in dirs.iter().zip(&before) {
            let after = sqlite_like_names(dir)?;
            let new: Vec<&String> = after.difference(before).collect();
            assert!(new.is_empty(), "{when}: in-memory store left {new:?} in {}", dir.display());
        }
        Ok(())
    };
    nothing_new("while open")?;
    drop((a, b));
    nothing_new("after closing")
}

#[test]
fn open_invalid_config_is_invalid_config() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = [
        SqliteConfig { read_pool_size: 0, ..SqliteConfig::default() },
        SqliteConfig { max_open_agents: 0, ..SqliteConfig::default() },
        SqliteConfig { journal_size_limit: -1, ..SqliteConfig::default() },
        SqliteConfig { checkpoint_every_n_commits: 0, ..SqliteConfig::default() },
        SqliteConfig { page_size: 256, ..SqliteConfig::default() },
        SqliteConfig { page_size: 3000, ..SqliteConfig::default() },
        SqliteConfig { page_size: 131_072, ..SqliteConfig::default() },
        // rusqlite's busy_timeout panics on a value beyond i32::MAX ms; the check stops it.
        SqliteConfig { busy_timeout: Duration::MAX, ..SqliteConfig::default() },
        SqliteConfig { busy_timeout: Duration::from_millis(1 << 31), ..SqliteConfig::default() },
    ];
    for config in bad {
        let err = SqliteLedger::open(dir.path(), config.clone()).err();
        assert!(matches!(err, Some(Error::InvalidConfig { .. })), "{config:?}: {err:?}");
    }
    Ok(())
}

#[test]
fn open_same_fresh_file_from_eight_threads_all_succeed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (path, barrier) = (dir.path().to_path_buf(), barrier.clone());
            std::thread::spawn(move || -> Result<Disposition, Error> {
                let engine = Engine::new(SqliteLedger::open(&path, SqliteConfig::default())?);
                barrier.wait();
                Ok(engine.ingest(IngestRequest::new("shared", format!("s{i}"), "p", i))?.disposition)
            })
        })
        .collect();
    for h in handles {
        let d = h.join().map_err(|_| "thread panicked")??;
        assert_eq!(d, Disposition::CommittedCheap);
    }
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let head = credence_core::ledger::read_with(&ledger, &agent("shared"), |v| v.head())?;
    assert_eq!(head.map(|h| h.seq), Some(8));
    Ok(())
}

#[test]
fn open_file_with_newer_schema_is_schema_too_new() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
        engine.ledger().agent_file(&agent("a"))?.ok_or("file store")?
    };
    let conn = rusqlite::Connection::open(&file)?;
    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (999, 'future', '', '0')",
        [],
    )?;
    drop(conn);
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    let err = engine.ingest(IngestRequest::new("a", "s", "p", 2)).err();
    assert!(
        matches!(err, Some(Error::SchemaTooNew { found: 999, supported }) if supported == credence_sqlite::schema_version()),
        "{err:?}"
    );
    let err = engine.recall(&RecallQuery::new("a", "s", "p")).err();
    assert!(matches!(err, Some(Error::SchemaTooNew { .. })), "{err:?}");
    Ok(())
}

#[test]
fn schema_history_is_refinerys_table() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let file = engine.ledger().agent_file(&agent("a"))?.ok_or("file store")?;
    let conn = rusqlite::Connection::open(&file)?;
    let mut stmt = conn.prepare("SELECT version, name FROM refinery_schema_history ORDER BY version")?;
    let applied = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        applied,
        [
            (1, "init".to_owned()),
            (2, "fewer_btrees".to_owned()),
            (3, "idempotency_keys".to_owned()),
            (4, "live_claims".to_owned()),
            (5, "live_windows".to_owned()),
            (6, "history_pages".to_owned()),
            (7, "discovery".to_owned())
        ]
    );
    assert_eq!(credence_sqlite::schema_version(), 7);
    Ok(())
}

#[test]
fn agent_cache_beyond_max_open_agents_closes_idle_agents_and_keeps_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { max_open_agents: 2, ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    for i in 0..6 {
        engine.ingest(IngestRequest::new(format!("agent-{i}"), "s", "p", i))?;
        assert!(engine.ledger().open_agents() <= 2, "open: {}", engine.ledger().open_agents());
    }
    for i in 0..6 {
        let belief = engine.recall(&RecallQuery::new(format!("agent-{i}"), "s", "p"))?;
        assert_eq!(belief.value, Some(i.into()));
        assert!(engine.ledger().open_agents() <= 2);
    }
    // A closed agent was checkpointed: its WAL is empty or gone.
    let file = engine.ledger().agent_file(&agent("agent-0"))?.ok_or("file store")?;
    let wal = file.with_extension("sqlite3-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal)?.len() == 0,
        "WAL of a closed agent was not checkpointed"
    );
    Ok(())
}

#[test]
fn read_of_unknown_agent_is_empty_and_creates_no_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let head = credence_core::ledger::read_with(&ledger, &agent("nobody"), |v| v.head())?;
    assert_eq!(head, None);
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    assert!(ledger.agents()?.is_empty());
    Ok(())
}

#[test]
fn wal_stays_bounded_under_sustained_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig {
        checkpoint_every_n_commits: 10,
        journal_size_limit: 256 * 1024,
        ..SqliteConfig::default()
    };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    engine.ingest(IngestRequest::new("a", "s", "p", 0))?;
    let file = engine.ledger().agent_file(&agent("a"))?.ok_or("file store")?;
    let wal_file = file.with_extension("sqlite3-wal");
    // SQLite's own auto-checkpoint (1000 pages, about 4 MiB) would bound the WAL too, so the
    // size is sampled after every ingest: only the adapter's passive checkpoint every 10
    // units keeps it far below 1 MiB. 600 units of ~2 KB write well over 1 MiB of frames.
    let payload = "x".repeat(2_000);
    let mut max_wal = 0;
    for i in 0..600 {
        engine.ingest(IngestRequest::new("a", format!("s{i}"), "p", payload.as_str()))?;
        max_wal = max_wal.max(std::fs::metadata(&wal_file)?.len());
    }
    let db = std::fs::metadata(&file)?.len();
    assert!(max_wal < 1024 * 1024, "WAL grew to {max_wal} bytes (db {db})");
    Ok(())
}
