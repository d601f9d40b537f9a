//! A corrupted or truncated agent file, or a bad field in one stored row, is a typed error for
//! that agent only; listing agents leaves out (and `survey` reports) a damaged file with a
//! hashed name.

use credence_core::{
    AgentId, AsOf, AuditQuery, ClaimEngine, Engine, Error, IngestRequest, Ledger, RecallQuery,
};
use credence_sqlite::{SqliteConfig, SqliteLedger, rusqlite};

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

/// Spoils one field of one stored row of agent `bad` (line `s1`/`p`) with a raw connection.
fn damaged_row_store(
    update: &str,
) -> Result<(tempfile::TempDir, Engine<SqliteLedger>), Box<dyn std::error::Error>> {
    damaged_store(|file| {
        let conn = rusqlite::Connection::open(file).map_err(std::io::Error::other)?;
        let changed = conn.execute(update, []).map_err(std::io::Error::other)?;
        assert_eq!(changed, 1, "{update}: the damage must hit exactly one row");
        Ok(())
    })
}

/// The claims row of line `s1`/`p`: the only one the damage below touches.
const S1: &str = "subject = 's1' AND predicate = 'p'";

#[test]
fn bad_field_in_a_claims_row_is_corrupt_on_read_and_write_and_other_agents_work() -> TestResult {
    let damages = [
        ("unknown provenance", format!("UPDATE claims SET provenance = 'Hearsay' WHERE {S1}")),
        ("2-byte claim_ref", format!("UPDATE claims SET claim_ref = x'0102' WHERE {S1}")),
        ("malformed JSON value", format!("UPDATE claims SET value = '{{\"unclosed' WHERE {S1}")),
        // 0.1 as a double is no f32: the column was written from an f32 and must read back as one.
        ("confidence not an f32", format!("UPDATE claims SET confidence = 0.1 WHERE {S1}")),
    ];
    for (what, update) in damages {
        let (_dir, engine) = damaged_row_store(&update)?;
        let recall = engine.recall(&RecallQuery::new("bad", "s1", "p")).err();
        assert!(matches!(recall, Some(Error::Corrupt { .. })), "{what}: recall gave {recall:?}");
        let history = engine.history("bad", "s1", "p", AsOf::Now).err();
        assert!(matches!(history, Some(Error::Corrupt { .. })), "{what}: history gave {history:?}");
        // The decide step of an ingest on that line reads the bad row too.
        let write = engine.ingest(IngestRequest::new("bad", "s1", "p", "new")).err();
        assert!(matches!(write, Some(Error::Corrupt { .. })), "{what}: ingest gave {write:?}");
        // The damage stays in its row: another line of the same agent still reads and writes.
        assert!(engine.recall(&RecallQuery::new("bad", "s2", "p"))?.value.is_some(), "{what}");
        engine.ingest(IngestRequest::new("bad", "s2", "p", "new"))?;
        assert_other_agent_works(&engine).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

#[test]
fn bad_field_in_a_ledger_entries_row_is_corrupt_on_audit_and_other_agents_work() -> TestResult {
    let s1_entry = "claim_ref = (SELECT claim_ref FROM claims WHERE subject = 's1' AND predicate = 'p')";
    let damages = [
        ("2-byte claim_ref", format!("UPDATE ledger_entries SET claim_ref = x'0102' WHERE {s1_entry}")),
        ("unknown event", format!("UPDATE ledger_entries SET event = 'Teleported' WHERE {s1_entry}")),
        ("malformed JSON rationale", format!("UPDATE ledger_entries SET rationale = '[' WHERE {s1_entry}")),
    ];
    for (what, update) in damages {
        let (_dir, engine) = damaged_row_store(&update)?;
        let audit = engine.audit("bad", &AuditQuery::default()).err();
        assert!(matches!(audit, Some(Error::Corrupt { .. })), "{what}: audit gave {audit:?}");
        assert_other_agent_works(&engine).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

#[test]
fn agents_listing_with_garbage_hashed_name_file_leaves_it_out_reports_it_and_other_agents_work() -> TestResult
{
    // Ids longer than 100 bytes get a hashed file name: the id is only inside the file.
    let long = "l".repeat(150);
    let dir = tempfile::tempdir()?;
    let file = {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        engine.ingest(IngestRequest::new(long.as_str(), "s", "p", 1))?;
        engine.ingest(IngestRequest::new("good", "s7", "p", 7))?;
        engine.ledger().agent_file(&AgentId::new(long.as_str())?)?.ok_or("file store")?
    };
    assert!(file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("h-")), "{file:?}");
    let _ = std::fs::remove_file(file.with_extension("sqlite3-wal"));
    let _ = std::fs::remove_file(file.with_extension("sqlite3-shm"));
    std::fs::write(&file, vec![0x5a; 64 * 1024])?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    assert_eq!(engine.ledger().agents()?, vec![AgentId::new("good")?]);
    let damaged = engine.ledger().survey()?.damaged;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert!(
        damaged[0].name.ends_with(&*file.file_name().unwrap_or_default().to_string_lossy()),
        "{damaged:?}"
    );
    assert!(damaged[0].reason.contains("not a database"), "{damaged:?}");
    assert_eq!(engine.recall(&RecallQuery::new("good", "s7", "p"))?.value, Some(7.into()));
    engine.ingest(IngestRequest::new("good", "new", "p", 1))?;
    Ok(())
}
