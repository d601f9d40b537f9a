//! A write lock held elsewhere beyond `busy_timeout` is a retryable `Unavailable`; reads go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use credence_core::{AgentId, ClaimEngine, Engine, Error, IngestRequest, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger, rusqlite};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn write_while_another_connection_holds_the_lock_is_unavailable_and_reads_continue() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { busy_timeout: Duration::from_millis(200), ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config.clone())?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let file = engine.ledger().agent_file(&AgentId::new("a")?)?.ok_or("file store")?;

    // Another process (here: a foreign connection) takes the write lock and keeps it.
    let foreign = rusqlite::Connection::open(&file)?;
    foreign.execute_batch("BEGIN IMMEDIATE")?;

    let started = Instant::now();
    let err = engine.ingest(IngestRequest::new("a", "s2", "p", 2)).err();
    assert!(matches!(err, Some(Error::Unavailable { .. })), "{err:?}");
    assert!(err.as_ref().is_some_and(Error::is_retryable));
    assert!(started.elapsed() >= Duration::from_millis(150), "gave up before busy_timeout");

    // Readers are not blocked by the lock holder (WAL), also from a freshly opened store.
    assert_eq!(engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(1.into()));
    let other = Engine::new(SqliteLedger::open(dir.path(), config)?);
    assert_eq!(other.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(1.into()));

    foreign.execute_batch("ROLLBACK")?;
    let r = engine.ingest(IngestRequest::new("a", "s2", "p", 2))?;
    assert_eq!(r.seq, Some(2), "the failed write consumed a seq");
    Ok(())
}

#[test]
fn write_waiting_for_one_agents_lock_does_not_hold_up_other_agents() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { busy_timeout: Duration::from_secs(10), ..SqliteConfig::default() };
    let engine = Arc::new(Engine::new(SqliteLedger::open(dir.path(), config)?));
    for agent in ["a", "b", "c"] {
        engine.ingest(IngestRequest::new(agent, "s", "p", 1))?;
    }
    let file = engine.ledger().agent_file(&AgentId::new("a")?)?.ok_or("file store")?;
    let foreign = rusqlite::Connection::open(&file)?;
    foreign.execute_batch("BEGIN IMMEDIATE")?;

    // A write to `a` starts and waits (up to 10 s) for the foreign lock.
    let finished = Arc::new(AtomicBool::new(false));
    let waiter = std::thread::spawn({
        let (engine, finished) = (engine.clone(), finished.clone());
        move || {
            let result = engine.ingest(IngestRequest::new("a", "s2", "p", 2));
            finished.store(true, Ordering::SeqCst);
            result
        }
    });
    // Give it time to reach the lock wait (any adapter-wide lock it takes is taken by then).
    std::thread::sleep(Duration::from_millis(500));
    assert!(!finished.load(Ordering::SeqCst), "the write to `a` did not wait for the foreign lock");

    // Writes to other agents go through while it waits.
    let started = Instant::now();
    for agent in ["b", "c"] {
        let r = engine.ingest(IngestRequest::new(agent, "s2", "p", 2))?;
        assert_eq!(r.seq, Some(2), "{agent}");
    }
    assert!(
        !finished.load(Ordering::SeqCst),
        "writes to b and c waited for the write to a ({:?})",
        started.elapsed()
    );

    foreign.execute_batch("ROLLBACK")?;
    let r = waiter.join().map_err(|_| "the writer of `a` panicked")??;
    assert_eq!(r.seq, Some(2));
    assert_eq!(engine.recall(&RecallQuery::new("a", "s2", "p"))?.value, Some(2.into()));
    Ok(())
}
