//! SPEC §10 on PostgreSQL: the spans of engine operations name the backend; the lock wait,
//! pool waits, migrations and retries show up as events and metrics.
//!
//! One `#[test]` in its own binary (see `credence_conformance::observe`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use credence_conformance::observe::{Capture, check_two_ingests, counter, samples, two_ingests};
use credence_core::{ClaimEngine, Engine, Error, IngestRequest, SequentialIds};
use credence_postgres::{PostgresLedger, agent_lock_key};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn engine(ledger: Arc<PostgresLedger>, seed: u64) -> Result<Engine<Arc<PostgresLedger>>, Error> {
    Engine::builder(ledger).ids(Arc::new(SequentialIds::new(seed))).build()
}

#[test]
fn postgres_operations_lock_waits_pool_waits_migrations_and_retries_are_observed() -> TestResult {
    let base = require_server!();
    ingest_spans_pool_waits_and_migrations(&base)?;
    a_write_waiting_for_the_agents_lock_reports_the_wait(&base)?;
    a_guard_finding_another_process_wrote_reports_the_retry(&base)
}

fn ingest_spans_pool_waits_and_migrations(base: &str) -> TestResult {
    let guard = support::SchemaGuard::new(base);
    let capture = Capture::new();
    capture.run(|| -> TestResult {
        let engine = engine(Arc::new(PostgresLedger::from_url(&guard.url(""))?), 1)?;
        Ok(two_ingests(&engine)?)
    })?;
    let metrics = capture.metrics();
    check_two_ingests(&capture, &metrics, "postgres")?;
    assert_eq!(capture.lines_with(&["migrated", "from=0", &guard.schema]).len(), 1, "{}", capture.log());
    assert_eq!(counter(&metrics, "credence_migrations_total{backend=postgres}"), 1, "{metrics:?}");
    // Both writes read the line first, so both waited for the agent's lock (however briefly).
    assert_eq!(samples(&metrics, "credence_lock_wait_seconds{backend=postgres}").len(), 2, "{metrics:?}");
    assert!(!samples(&metrics, "credence_pool_wait_seconds{backend=postgres}").is_empty(), "{metrics:?}");
    Ok(())
}

fn a_write_waiting_for_the_agents_lock_reports_the_wait(base: &str) -> TestResult {
    let guard = support::SchemaGuard::new(base);
    let engine = engine(Arc::new(PostgresLedger::from_url(&guard.url(""))?), 1)?;
    // Another session holds the agent's lock for 300 ms.
    let mut foreign = support::admin_client(base)?;
    let key = agent_lock_key(&guard.schema, "a");
    foreign.execute("SELECT pg_advisory_lock($1)", &[&key])?;
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        foreign.execute("SELECT pg_advisory_unlock($1)", &[&key]).map(drop)
    });
    let capture = Capture::new();
    capture.run(|| engine.ingest(IngestRequest::new("a", "s", "p", 1)))?;
    release.join().map_err(|_| "the releasing thread panicked")??;
    let metrics = capture.metrics();
    let waits = samples(&metrics, "credence_lock_wait_seconds{backend=postgres}");
    assert_eq!(waits.len(), 1, "{metrics:?}");
    assert!(waits[0] >= 0.25, "waited {}s for a lock held 300 ms", waits[0]);
    assert_eq!(capture.lines_with(&["lock wait", "credence.ingest"]).len(), 1, "{}", capture.log());
    Ok(())
}

fn a_guard_finding_another_process_wrote_reports_the_retry(base: &str) -> TestResult {
    let guard = support::SchemaGuard::new(base);
    // Two ledgers on one schema stand for two processes.
    let (a, b) = (PostgresLedger::from_url(&guard.url(""))?, PostgresLedger::from_url(&guard.url(""))?);
    let (a, b) = (engine(Arc::new(a), 1)?, engine(Arc::new(b), 2)?);
    a.ingest(IngestRequest::new("shared", "x", "p", 1))?; // a learns the head
    b.ingest(IngestRequest::new("shared", "y", "p", 2))?; // which b moves on
    let capture = Capture::new();
    let receipt = capture.run(|| a.ingest(IngestRequest::new("shared", "z", "p", 3)))?;
    assert_eq!(receipt.seq, Some(3));
    let metrics = capture.metrics();
    assert_eq!(
        counter(&metrics, "credence_retries_total{backend=postgres,cause=guard_failed}"),
        1,
        "{metrics:?}"
    );
    assert_eq!(
        capture.lines_with(&["retry", "cause=\"guard_failed\"", "credence.ingest"]).len(),
        1,
        "{}",
        capture.log()
    );
    Ok(())
}
