//! A corrupted or truncated agent file is a typed error for that agent only.

use credence_core::{AgentId, ClaimEngine, Engine, Error, IngestRequest, Ledger, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Writes two agents, closes the store, lets `damage` spoil agent `bad`'s file, reopens.
fn damaged_store(
    damage: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
) -> Result<(tempfile::TempDir, Engine<SqliteLedger>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        for i in 0..200 {
            engine.ingest(IngestRequest::new("bad", format!("s{i}"), "p", "x".repeat(200)))?;
            engine.ingest(IngestRequest::new("good", format!("s{i}"), "p", i))?;
        }
        engine.ledger().agent_file(&AgentId::new("bad")?)?.ok_or("file store")?
    };
    damage(&file)?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    Ok((dir, engine))
}

fn assert_other_agent_works(engine: &Engine<SqliteLedger>) -> TestResult {
    // Listing agents still works and still names the damaged one.
    let listed = engine.ledger().agents()?;
    assert!(listed.contains(&AgentId::new("bad")?) && listed.contains(&AgentId::new("good")?), "{listed:?}");
    assert_eq!(engine.recall(&RecallQuery::new("good", "s7", "p"))?.value, Some(7.into()));
    engine.ingest(IngestRequest::new("good", "new", "p", 1))?;
    engine.ingest(IngestRequest::new("fresh", "s", "p", 1))?;
    assert_eq!(engine.recall(&RecallQuery::new("fresh", "s", "p"))?.value, Some(1.into()));
    Ok(())
}

fn is_typed(e: &Error) -> bool {
    matches!(e, Error::Corrupt { .. } | Error::Backend { .. })
}

#[test]
fn garbage_agent_file_is_corrupt_and_other_agents_work() -> TestResult {
    let (_dir, engine) = damaged_store(|file| {
        let _ = std::fs::remove_file(file.with_extension("sqlite3-wal"));
        let _ = std::fs::remove_file(file.with_extension("sqlite3-shm"));
        std::fs::write(file, vec![0x5a; 64 * 1024])
    })?;
    let read = engine.recall(&RecallQuery::new("bad", "s1", "p")).err();
    assert!(matches!(read, Some(Error::Corrupt { .. })), "{read:?}");
    let write = engine.ingest(IngestRequest::new("bad", "s1", "p", 2)).err();
    assert!(matches!(write, Some(Error::Corrupt { .. })), "{write:?}");
    assert_other_agent_works(&engine)
}

#[test]
fn truncated_agent_file_is_a_typed_error_and_other_agents_work() -> TestResult {
    let (_dir, engine) = damaged_store(|file| {
        let _ = std::fs::remove_file(file.with_extension("sqlite3-wal"));
        let _ = std::fs::remove_file(file.with_extension("sqlite3-shm"));
        let len = std::fs::metadata(file)?.len();
        std::fs::OpenOptions::new().write(true).open(file)?.set_len(len / 3)
    })?;
    // Depending on which pages survive, the damage shows on the first read or on a later one.
    let mut saw_error = None;
    for i in 0..200 {
        match engine.recall(&RecallQuery::new("bad", format!("s{i}"), "p")) {
            Ok(_) => {}
            Err(e) => {
                saw_error = Some(e);
                break;
            }
        }
    }
    if saw_error.is_none() {
        saw_error = engine.ingest(IngestRequest::new("bad", "s1", "p", 2)).err();
    }
    let err = saw_error.ok_or("a truncated file gave no error at all")?;
    println!("truncated file: {err}");
    assert!(is_typed(&err), "{err:?}");
    assert_other_agent_works(&engine)
}

#[test]
fn corrupt_header_byte_is_corrupt_and_other_agents_work() -> TestResult {
    let (_dir, engine) = damaged_store(|file| {
        let _ = std::fs::remove_file(file.with_extension("sqlite3-wal"));
        let _ = std::fs::remove_file(file.with_extension("sqlite3-shm"));
        let mut bytes = std::fs::read(file)?;
        bytes[0] = b'X'; // "SQLite format 3\0" magic
        std::fs::write(file, bytes)
    })?;
    let err = engine.recall(&RecallQuery::new("bad", "s1", "p")).err();
    assert!(matches!(err, Some(Error::Corrupt { .. })), "{err:?}");
    assert_other_agent_works(&engine)
}
