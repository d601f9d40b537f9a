//! SPEC §10 on SQLite: the spans of engine operations name the backend; the lock wait, the
//! group commit, checkpoints, migrations and busy retries show up as events and metrics.
//!
//! One `#[test]` in its own binary (see `credence_conformance::observe`).

use std::time::Duration;

use credence_conformance::observe::{Capture, check_two_ingests, counter, samples, two_ingests};
use credence_core::{AgentId, ClaimEngine, Engine, IngestRequest, Ledger, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger, rusqlite};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn sqlite_operations_lock_waits_checkpoints_migrations_and_retries_are_observed() -> TestResult {
    ingest_spans_group_commits_checkpoints_and_migrations()?;
    a_write_waiting_for_another_processs_lock_reports_the_wait()?;
    a_reader_meeting_a_busy_database_reports_the_retry()
}

fn ingest_spans_group_commits_checkpoints_and_migrations() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { checkpoint_every_n_commits: 1, ..SqliteConfig::default() };
    let capture = Capture::new();
    capture.run(|| -> TestResult {
        let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
        two_ingests(&engine)?;
        engine.recall(&RecallQuery::new("agent-7", "alice", "city"))?;
        Ok(())
    })?;
    let metrics = capture.metrics();
    check_two_ingests(&capture, &metrics, "sqlite")?;
    assert!(!capture.lines_with(&["migrated", "from=0"]).is_empty(), "{}", capture.log());
    assert!(!capture.lines_with(&["checkpoint", "mode=\"PASSIVE\""]).is_empty(), "{}", capture.log());
    assert_eq!(samples(&metrics, "credence_lock_wait_seconds{backend=sqlite}").len(), 2, "{metrics:?}");
    assert_eq!(counter(&metrics, "credence_migrations_total{backend=sqlite}"), 1, "{metrics:?}");
    // The second transaction starts after one commit: the first passive checkpoint is due.
    assert_eq!(
        counter(&metrics, "credence_checkpoints_total{backend=sqlite,mode=PASSIVE}"),
        1,
        "{metrics:?}"
    );
    Ok(())
}

fn a_write_waiting_for_another_processs_lock_reports_the_wait() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { busy_timeout: Duration::from_secs(10), ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let file = engine.ledger().agent_file(&AgentId::new("a")?)?.ok_or("file store")?;
    // Another process (here: a foreign connection) holds the write lock for 300 ms.
    let foreign = rusqlite::Connection::open(&file)?;
    foreign.execute_batch("BEGIN IMMEDIATE")?;
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        foreign.execute_batch("ROLLBACK")
    });
    let capture = Capture::new();
    capture.run(|| engine.ingest(IngestRequest::new("a", "s2", "p", 2)))?;
    release.join().map_err(|_| "the releasing thread panicked")??;
    let metrics = capture.metrics();
    let waits = samples(&metrics, "credence_lock_wait_seconds{backend=sqlite}");
    assert_eq!(waits.len(), 1, "{metrics:?}");
    assert!(waits[0] >= 0.25, "waited {}s for a lock held 300 ms", waits[0]);
    assert_eq!(capture.lines_with(&["lock wait", "credence.ingest"]).len(), 1, "{}", capture.log());
    Ok(())
}

fn a_reader_meeting_a_busy_database_reports_the_retry() -> TestResult {
    // In memory there is no WAL: a reader polls while a write transaction is open.
    let ledger = SqliteLedger::in_memory(SqliteConfig::default())?;
    let engine = Engine::new(ledger);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let agent = AgentId::new("a")?;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let capture = Capture::new();
    std::thread::scope(|scope| -> TestResult {
        let writer = scope.spawn(|| {
            let mut unit = |_: &dyn credence_core::LedgerRead| {
                let _ = started_tx.send(());
                std::thread::sleep(Duration::from_millis(200));
                Ok(None)
            };
            engine.ledger().write(&agent, &mut unit)
        });
        started_rx.recv_timeout(Duration::from_secs(10))?;
        let belief = capture.run(|| engine.recall(&RecallQuery::new("a", "s", "p")))?;
        assert_eq!(belief.value, Some(1.into()));
        writer.join().map_err(|_| "the writer panicked")??;
        Ok(())
    })?;
    let metrics = capture.metrics();
    assert_eq!(counter(&metrics, "credence_retries_total{backend=sqlite,cause=busy}"), 1, "{metrics:?}");
    assert_eq!(
        capture.lines_with(&["retry", "cause=\"busy\"", "credence.recall"]).len(),
        1,
        "{}",
        capture.log()
    );
    Ok(())
}
