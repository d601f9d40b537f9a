//! Readers during a write storm never error, and concurrent writers lose nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use credence_core::{AgentId, ClaimEngine, Disposition, Engine, IngestRequest, Ledger, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `CREDENCE_STORM_SECS` (default 10).
fn storm_duration() -> Duration {
    let secs = std::env::var("CREDENCE_STORM_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    Duration::from_secs_f64(secs)
}

fn storm(ledger: SqliteLedger) -> TestResult {
    let engine = Arc::new(Engine::new(ledger));
    engine.ingest(IngestRequest::new("storm", "hot", "p", 0))?;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(9));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (engine, stop, writes, start) = (engine.clone(), stop.clone(), writes.clone(), start.clone());
        writers.push(std::thread::spawn(move || -> Result<(), String> {
            start.wait();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = engine
                    .ingest(IngestRequest::new("storm", format!("w{w}-{i}"), "p", i))
                    .map_err(|e| format!("writer {w}: {e}"))?;
                if r.disposition != Disposition::CommittedCheap {
                    return Err(format!("writer {w}: {:?}", r.disposition));
                }
                // Keep the hot line moving too.
                if i.is_multiple_of(10) {
                    engine
                        .ingest(IngestRequest::new("storm", "hot", "p", i).set_valued())
                        .map_err(|e| format!("writer {w}: {e}"))?;
                }
                i += 1;
                writes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let mut readers = Vec::new();
    for r in 0..4 {
        let (engine, stop, reads, start) = (engine.clone(), stop.clone(), reads.clone(), start.clone());
        readers.push(std::thread::spawn(move || -> Vec<String> {
            start.wait();
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match engine.recall(&RecallQuery::new("storm", "hot", "p")) {
                    Ok(belief) if belief.is_empty() => {
                        errors.push(format!("reader {r}: hot line has no belief"))
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!("reader {r}: {e}")),
                }
                if let Err(e) = engine.history("storm", "w0-0", "p", Default::default()) {
                    errors.push(format!("reader {r}: {e}"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            errors
        }));
    }
    start.wait();
    std::thread::sleep(storm_duration());
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().map_err(|_| "writer panicked")??;
    }
    let mut errors = Vec::new();
    for r in readers {
        errors.extend(r.join().map_err(|_| "reader panicked")?);
    }
    assert!(errors.is_empty(), "{} reader errors, first: {:?}", errors.len(), errors.first());
    let (writes, reads) = (writes.load(Ordering::Relaxed), reads.load(Ordering::Relaxed));
    assert!(writes > 0 && reads > 0, "writes {writes}, reads {reads}");
    // Every acknowledged write is there, seq gap-free.
    let agent = AgentId::new("storm")?;
    let units = credence_core::ledger::read_with(engine.ledger(), &agent, |v| v.units(0, usize::MAX))?;
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u.seq, u64::try_from(i)? + 1, "seq gap");
    }
    let claims: usize = units.iter().map(|u| u.claims.len()).sum();
    assert!(u64::try_from(claims)? > writes, "claims {claims} < acknowledged writes {writes}");
    println!("storm: {writes} writes, {reads} reads, {} units", units.len());
    Ok(())
}

#[test]
fn readers_during_write_storm_on_file_store_see_no_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    storm(SqliteLedger::open(dir.path(), SqliteConfig::default())?)
}

#[test]
fn readers_during_write_storm_on_memory_store_see_no_errors() -> TestResult {
    storm(SqliteLedger::in_memory(SqliteConfig::default())?)
}

#[test]
fn concurrent_writers_to_one_agent_share_group_commits_and_lose_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Arc::new(Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?));
    let threads = 32;
    let per_thread = 20;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (engine, start) = (engine.clone(), start.clone());
            std::thread::spawn(move || -> Result<Vec<u64>, credence_core::Error> {
                start.wait();
                (0..per_thread)
                    .map(|i| {
                        let r = engine.ingest(IngestRequest::new("many", format!("t{t}-{i}"), "p", i))?;
                        Ok(r.seq.unwrap_or(0))
                    })
                    .collect()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for h in handles {
        seqs.extend(h.join().map_err(|_| "thread panicked")??);
    }
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=u64::try_from(threads * per_thread)?).collect();
    assert_eq!(seqs, expected);
    let agent = AgentId::new("many")?;
    let head = credence_core::ledger::read_with(engine.ledger(), &agent, |v| v.head())?;
    assert_eq!(head.map(|h| h.seq), expected.last().copied());
    assert_eq!(engine.ledger().agents()?, vec![agent]);
    Ok(())
}

#[test]
fn conflicting_pair_from_two_threads_is_one_committed_cheap_and_one_contested() -> TestResult {
    for round in 0..10 {
        let engine = Arc::new(Engine::new(SqliteLedger::in_memory(SqliteConfig::default())?));
        let start = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["red", "blue"]
            .into_iter()
            .map(|v| {
                let (engine, start) = (engine.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    engine.ingest(IngestRequest::new("pair", "car", "colour", v)).map(|r| r.disposition)
                })
            })
            .collect();
        let mut ds = Vec::new();
        for h in handles {
            ds.push(h.join().map_err(|_| "thread panicked")??);
        }
        ds.sort_by_key(|d| d.as_str());
        assert_eq!(ds, vec![Disposition::CommittedCheap, Disposition::Contested], "round {round}");
    }
    Ok(())
}
