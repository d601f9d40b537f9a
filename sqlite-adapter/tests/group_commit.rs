//! Group commit: concurrent writes share one transaction, each in its own savepoint.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use credence_core::{AgentId, Append, ClaimEngine, Engine, Error, Head, IngestRequest, Ledger, Timestamp};
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
fn failing_write_in_a_batch_rolls_back_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ledger = Arc::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    let agent = AgentId::new("batch")?;
    // Create the file first so the timing below only covers the batch.
    ledger.write(&agent, &mut |v| next_unit(v).map(Some))?;
    let before = ledger.commit_stats();
    let gate = Arc::new(Barrier::new(3));

    // A holds the write connection for a while; B (fails) and C (succeeds) queue up meanwhile
    // and join A's transaction.
    let spawn = |kind: &'static str| {
        let (ledger, agent, gate) = (ledger.clone(), agent.clone(), gate.clone());
        std::thread::spawn(move || -> Result<Option<Head>, Error> {
            gate.wait();
            if kind != "slow" {
                std::thread::sleep(Duration::from_millis(50));
            }
            ledger.write(&agent, &mut |view| {
                let unit = next_unit(view)?;
                match kind {
                    "slow" => {
                        std::thread::sleep(Duration::from_millis(400));
                        Ok(Some(unit))
                    }
                    "fail" => Err(Error::InvalidQuery { reason: "this unit fails".into() }),
                    _ => Ok(Some(unit)),
                }
            })
        })
    };
    let (a, b, c) = (spawn("slow"), spawn("fail"), spawn("ok"));
    let a = a.join().map_err(|_| "a panicked")??;
    let b = b.join().map_err(|_| "b panicked")?;
    let c = c.join().map_err(|_| "c panicked")??;
    assert!(matches!(b, Err(Error::InvalidQuery { .. })), "{b:?}");
    let mut seqs = vec![a.map(|h| h.seq), c.map(|h| h.seq)];
    seqs.sort();
    assert_eq!(seqs, vec![Some(2), Some(3)]);
    let head = credence_core::ledger::read_with(&*ledger, &agent, |v| v.head())?;
    assert_eq!(head.map(|h| h.seq), Some(3));
    let after = ledger.commit_stats();
    assert_eq!(after.writes - before.writes, 2);
    assert_eq!(after.transactions - before.transactions, 1, "A and C were not committed together");
    Ok(())
}

#[test]
fn panicking_write_unit_panics_its_caller_only() -> TestResult {
    let ledger = Arc::new(SqliteLedger::in_memory(SqliteConfig::default())?);
    let agent = AgentId::new("p")?;
    let l2 = ledger.clone();
    let a2 = agent.clone();
    let panicked = std::thread::spawn(move || {
        let _ = l2.write(&a2, &mut |_| panic!("unit panics"));
    })
    .join();
    assert!(panicked.is_err());
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
