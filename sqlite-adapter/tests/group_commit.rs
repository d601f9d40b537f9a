//! Group commit: the units of a batch (concurrent engine writes) share one transaction,
//! each in its own savepoint; a unit alone in its batch runs without one.

use std::sync::{Arc, Barrier};

use credence_core::{AgentId, Append, ClaimEngine, Engine, Error, IngestRequest, Ledger, Timestamp};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The next unit after the view's head, holding one informational ledger entry (a unit must
/// hold a row).
fn next_unit(view: &dyn credence_core::LedgerRead) -> credence_core::Result<Append> {
    let head = view.head()?;
    let seq = head.map_or(1, |h| h.seq + 1);
    let t = head.map_or(Timestamp(1_000), |h| h.tx_time.plus_micros(1));
    let mut unit = Append::new(seq, t);
    unit.entries.push(credence_core::LedgerEntry {
        seq,
        index: 0,
        claim_ref: credence_core::ClaimRef(uuid::Uuid::nil()),
        event: credence_core::Event::Corroborated,
        disposition: credence_core::Disposition::CommittedCheap,
        rationale: credence_core::serde_json::json!({ "rationale": "test" }),
        recorded_at: t,
    });
    Ok(unit)
}

#[test]
fn failing_unit_in_a_batch_rolls_back_alone_and_the_rest_commit_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let agent = AgentId::new("batch")?;
    ledger.write(&agent, &mut |v| next_unit(v).map(Some))?;
    let before = ledger.commit_stats();
    let mut ok1 = |v: &dyn credence_core::LedgerRead| next_unit(v).map(Some);
    let mut fail =
        |_: &dyn credence_core::LedgerRead| Err(Error::InvalidQuery { reason: "this unit fails".into() });
    let mut ok2 = |v: &dyn credence_core::LedgerRead| next_unit(v).map(Some);
    let mut units: [&mut credence_core::WriteUnit<'_>; 3] = [&mut ok1, &mut fail, &mut ok2];
    let results = ledger.write_batch(&agent, &mut units);
    assert!(matches!(results[1], Err(Error::InvalidQuery { .. })), "{results:?}");
    let seqs: Vec<Option<u64>> =
        results.iter().map(|r| r.as_ref().ok().and_then(|h| h.map(|h| h.seq))).collect();
    assert_eq!(seqs, vec![Some(2), None, Some(3)]);
    let after = ledger.commit_stats();
    assert_eq!(after.writes - before.writes, 2);
    assert_eq!(after.transactions - before.transactions, 1, "the two units were not committed together");
    Ok(())
}

#[test]
fn unit_alone_failing_after_writing_rows_leaves_none_of_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let agent = AgentId::new("alone")?;
    let edge = |seq| credence_core::Edge {
        seq,
        from: credence_core::ClaimRef(uuid::Uuid::from_u128(1)),
        to: credence_core::ClaimRef(uuid::Uuid::from_u128(2)),
        kind: credence_core::EdgeKind::DependsOn,
    };
    let with_edge = |v: &dyn credence_core::LedgerRead| {
        let mut unit = next_unit(v)?;
        unit.edges = vec![edge(unit.seq)];
        Ok(Some(unit))
    };
    ledger.write(&agent, &mut |v| with_edge(v))?;
    // A unit alone in its batch runs without a savepoint: its commits and ledger rows are
    // written before its edge, already stored, is refused, and must go with the transaction.
    let repeated = ledger.write(&agent, &mut |v| with_edge(v));
    assert!(matches!(repeated, Err(Error::Conflict { .. })), "{repeated:?}");
    let mut read = (None, 0);
    ledger.read(&agent, &mut |v| {
        read = (v.head()?.map(|h| h.seq), v.units(0, 10)?.len());
        Ok(())
    })?;
    assert_eq!(read, (Some(1), 1), "the failed unit's rows were committed");
    let head = ledger.write(&agent, &mut |v| next_unit(v).map(Some))?;
    assert_eq!(head.map(|h| h.seq), Some(2), "the next unit takes the seq the failed one left");
    assert_eq!(ledger.commit_stats().writes, 2);
    Ok(())
}

#[test]
fn panicking_write_unit_is_an_error_and_the_agent_goes_on() -> TestResult {
    let ledger = SqliteLedger::in_memory(SqliteConfig::default())?;
    let agent = AgentId::new("p")?;
    let panicked = ledger.write(&agent, &mut |_| panic!("unit panics on purpose (test)"));
    assert!(matches!(panicked, Err(Error::Backend { .. })), "{panicked:?}");
    let head = ledger.write(&agent, &mut |v| next_unit(v).map(Some))?;
    assert_eq!(head.map(|h| h.seq), Some(1));
    Ok(())
}

#[test]
fn sixty_four_concurrent_writers_need_fewer_transactions_than_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Arc::new(Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?));
    engine.ingest(IngestRequest::new("g", "warm", "p", 0))?;
    let before = engine.ledger().commit_stats();
    let start = Arc::new(Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|t| {
            let (engine, start) = (engine.clone(), start.clone());
            std::thread::spawn(move || -> Result<(), Error> {
                start.wait();
                for i in 0..5 {
                    engine.ingest(IngestRequest::new("g", format!("t{t}-{i}"), "p", i))?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "thread panicked")??;
    }
    let after = engine.ledger().commit_stats();
    let (tx, writes) = (after.transactions - before.transactions, after.writes - before.writes);
    assert_eq!(writes, 320);
    assert!(tx * 4 <= writes, "{tx} transactions for {writes} writes: group commit is not batching");
    Ok(())
}

#[test]
fn write_returning_none_consumes_no_seq_and_commits_nothing() -> TestResult {
    let ledger = SqliteLedger::in_memory(SqliteConfig::default())?;
    let agent = AgentId::new("n")?;
    assert_eq!(ledger.write(&agent, &mut |_| Ok(None))?, None);
    assert!(ledger.agents()?.is_empty());
    let head = ledger.write(&agent, &mut |v| next_unit(v).map(Some))?;
    assert_eq!(head.map(|h| h.seq), Some(1));
    let wrong = ledger.write(&agent, &mut |v| next_unit(v).map(|u| Some(Append { seq: u.seq + 1, ..u })));
    assert!(matches!(wrong, Err(Error::Conflict { .. })), "{wrong:?}");
    assert_eq!(ledger.commit_stats().writes, 1);
    Ok(())
}
