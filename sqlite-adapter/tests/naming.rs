//! Agent ids map to distinct, path-safe files inside the store directory.

use std::collections::BTreeSet;

use credence_core::{AgentId, ClaimEngine, Engine, IngestRequest, Ledger, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn tricky_ids() -> Vec<String> {
    vec![
        "../x".into(),
        "a/b".into(),
        "a\\b".into(),
        "A".into(),
        "a".into(),
        "con".into(),
        "CON".into(),
        "nul.txt".into(),
        ".".into(),
        "..".into(),
        "é".into(),
        "e\u{301}".into(),
        "日本語のエージェント".into(),
        "x".repeat(256),
        "é".repeat(128),
        format!("{}y", "x".repeat(255)),
        "x".repeat(101),
        "x".repeat(100),
    ]
}

#[test]
fn agent_ids_each_get_their_own_file_inside_the_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    let ids = tricky_ids();
    for (i, id) in ids.iter().enumerate() {
        engine.ingest(IngestRequest::new(id.as_str(), "s", "p", i))?;
    }
    let mut files = BTreeSet::new();
    for id in &ids {
        let file = engine.ledger().agent_file(&AgentId::new(id.as_str())?)?.ok_or("file store")?;
        assert_eq!(file.parent(), Some(dir.path()), "{id:?} → {}", file.display());
        let name = file.file_name().and_then(|n| n.to_str()).ok_or("utf-8 name")?.to_owned();
        assert!(name.len() + "-wal".len() <= 255, "{id:?}: name of {} bytes", name.len());
        assert!(name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'-' | b'.')), "{name}");
        assert!(file.exists(), "{}", file.display());
        files.insert(name.to_ascii_lowercase());
    }
    assert_eq!(files.len(), ids.len(), "two ids share a file (case-insensitively)");
    for (i, id) in ids.iter().enumerate() {
        let belief = engine.recall(&RecallQuery::new(id.as_str(), "s", "p"))?;
        assert_eq!(belief.value, Some(i.into()), "{id:?}");
    }
    Ok(())
}

#[test]
fn agents_lists_original_ids_sorted_after_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ids = tricky_ids();
    {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        for id in &ids {
            engine.ingest(IngestRequest::new(id.as_str(), "s", "p", 1))?;
        }
    }
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let mut expected: Vec<AgentId> =
        ids.iter().map(|id| AgentId::new(id.as_str())).collect::<Result<_, _>>()?;
    expected.sort();
    assert_eq!(ledger.agents()?, expected);
    Ok(())
}

#[test]
fn agents_ignores_agents_without_committed_units_and_foreign_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "not a database")?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    engine.ingest(IngestRequest::new("real", "s", "p", 1))?;
    // A rejected write persists nothing.
    engine.ingest(IngestRequest::new("ghost", "", "p", 1))?;
    assert_eq!(engine.ledger().agents()?, vec![AgentId::new("real")?]);
    Ok(())
}
