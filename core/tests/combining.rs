//! The engine's combining of concurrent writes (see `engine/combine.rs`): batches reach
//! `Ledger::write_batch`, every caller gets its own outcome, and a backend that panics in the
//! middle of a batch fails that batch's callers without wedging the agent.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use credence_core::{
    AgentId, ClaimEngine, Disposition, Engine, Handle, Head, IngestRequest, Ledger, MemoryLedger, ReadUnit,
    Result, WriteUnit,
};

/// A memory ledger that counts `write_batch` calls and their sizes, and can be told to panic
/// in the next one.
#[derive(Default)]
struct Watched {
    inner: MemoryLedger,
    batches: AtomicUsize,
    largest: AtomicUsize,
    panic_next: AtomicBool,
}

impl Ledger for Watched {
    fn backend(&self) -> &'static str {
        "watched"
    }
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.largest.fetch_max(units.len(), Ordering::SeqCst);
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("the backend panicked on purpose (combining test)");
        }
        // Slow enough that callers arriving meanwhile queue up behind the leader.
        thread::sleep(Duration::from_millis(5));
        self.inner.write_batch(agent, units)
    }
    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        self.inner.read(agent, f)
    }
    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
        self.inner.mark_notified(agent, handle)
    }
    fn agents(&self) -> Result<Vec<AgentId>> {
        self.inner.agents()
    }
}

/// Runs `threads` callers that each ingest one claim on its own line of agent "a" at once;
/// returns every caller's outcome (fails the test instead of hanging).
fn ingest_together(
    engine: &Arc<Engine<Arc<Watched>>>,
    threads: usize,
    tag: &str,
) -> Vec<Result<Disposition>> {
    let barrier = Arc::new(Barrier::new(threads));
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let (engine, barrier, tx, tag) = (engine.clone(), barrier.clone(), tx.clone(), tag.to_owned());
        thread::spawn(move || {
            barrier.wait();
            let r = engine.ingest(IngestRequest::new("a", format!("{tag}-{t}"), "p", t));
            let _ = tx.send(r.map(|r| r.disposition));
        });
    }
    (0..threads)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30)).expect("an ingest never returned: the lane is wedged")
        })
        .collect()
}

#[test]
fn concurrent_ingests_of_one_agent_reach_the_ledger_in_batches() {
    let ledger = Arc::new(Watched::default());
    let engine = Arc::new(Engine::new(ledger.clone()));
    let outcomes = ingest_together(&engine, 16, "s");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(Disposition::CommittedCheap))), "{outcomes:?}");
    let batches = ledger.batches.load(Ordering::SeqCst);
    assert!(batches < 16, "16 concurrent ingests took {batches} write_batch calls: nothing was combined");
    assert!(ledger.largest.load(Ordering::SeqCst) > 1);
}

#[test]
fn a_backend_panicking_in_a_batch_fails_that_batch_and_the_agent_goes_on() {
    let ledger = Arc::new(Watched::default());
    let engine = Arc::new(Engine::new(ledger.clone()));
    ledger.panic_next.store(true, Ordering::SeqCst);
    let outcomes = ingest_together(&engine, 8, "first");
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(failed >= 1, "the panicking batch's callers get an error: {outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o.is_err() || matches!(o, Ok(Disposition::CommittedCheap))),
        "{outcomes:?}"
    );
    // Nothing of the panicked batch was stored; later ingests of the agent work.
    let after = ingest_together(&engine, 8, "second");
    assert!(after.iter().all(|o| matches!(o, Ok(Disposition::CommittedCheap))), "{after:?}");
    let stored = engine.audit("a", &credence_core::AuditQuery::default()).expect("audit").entries.len();
    assert_eq!(stored, 8 - failed + 8);
}

/// Every kind of engine write goes through the one combining layer, not only ingest: with a
/// single write per `write_batch` call, concurrent invalidations would take one call each.
#[test]
fn concurrent_writes_of_every_kind_reach_the_ledger_in_batches() {
    let ledger = Arc::new(Watched::default());
    let engine = Arc::new(Engine::new(ledger.clone()));
    let threads = 16;
    let claims: Vec<_> = (0..threads)
        .map(|t| engine.ingest(IngestRequest::new("a", format!("s-{t}"), "p", t)).expect("ingest").claim())
        .collect();
    let before = ledger.batches.load(Ordering::SeqCst);
    let barrier = Arc::new(Barrier::new(threads));
    let (tx, rx) = mpsc::channel();
    for claim in claims {
        let (engine, barrier, tx) = (engine.clone(), barrier.clone(), tx.clone());
        thread::spawn(move || {
            barrier.wait();
            let _ = tx.send(engine.invalidate("a", claim, "test").map(|r| r.disposition));
        });
    }
    let outcomes: Vec<_> = (0..threads)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).expect("an invalidation never returned"))
        .collect();
    assert!(outcomes.iter().all(|o| matches!(o, Ok(Disposition::Invalidated))), "{outcomes:?}");
    let batches = ledger.batches.load(Ordering::SeqCst) - before;
    assert!(batches < threads, "{threads} concurrent invalidations took {batches} write_batch calls");
}
