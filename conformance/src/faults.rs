//! A fault-injecting wrapper ledger (after redb's `FailingBackend`): wraps any [`Ledger`] and
//! fails chosen calls, so the engine's error paths can be exercised on every backend.
//!
//! ```
//! use std::sync::Arc;
//! use credence_conformance::faults::{FailingLedger, Fault};
//! use credence_core::{ClaimEngine, Engine, IngestRequest, MemoryLedger};
//!
//! let ledger = Arc::new(FailingLedger::new(MemoryLedger::new()));
//! let engine = Engine::new(ledger.clone());
//! ledger.fail_writes(1, Fault::Unavailable);
//! let err = engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme")).unwrap_err();
//! assert!(err.is_retryable());
//! assert_eq!(engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme")).unwrap().seq, Some(1));
//! ```

use std::sync::{Mutex, PoisonError};

use credence_core::{
    Adjudication, AgentId, Append, Assertion, AuditRange, Claim, ClaimRef, Edge, EdgeKind, Error, Event,
    Handle, Head, Ledger, LedgerEntry, LedgerRead, LineRows, ReadUnit, Result, Timestamp, Upto, WriteUnit,
};

/// The error an injected failure produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `Error::Unavailable` (retryable): busy storage, a lost connection.
    Unavailable,
    /// `Error::Backend` (not retryable): any other driver failure.
    Backend,
    /// `Error::Corrupt` (not retryable): a row that does not decode.
    Corrupt,
}

impl Fault {
    fn error(self, backend: &'static str, during: &str) -> Error {
        match self {
            Fault::Unavailable => {
                Error::Unavailable { backend, reason: format!("injected fault during {during}") }
            }
            Fault::Backend => {
                Error::Backend { backend, source: format!("injected fault during {during}").into() }
            }
            Fault::Corrupt => Error::corrupt(backend, format!("injected fault during {during}")),
        }
    }
}

/// How many of the next calls of one kind fail, and how.
#[derive(Clone, Copy, Debug)]
struct Countdown {
    left: u32,
    fault: Fault,
}

impl Countdown {
    const OFF: Countdown = Countdown { left: 0, fault: Fault::Unavailable };

    fn take(&mut self) -> Option<Fault> {
        (self.left > 0).then(|| {
            self.left -= 1;
            self.fault
        })
    }
}

#[derive(Debug)]
struct Plan {
    writes: Countdown,
    commits: Countdown,
    reads: Countdown,
    notifies: Countdown,
    /// `(n, fault)`: the n-th view call from now (1 = the next one) fails.
    view_call: Option<(u32, Fault)>,
    injected: u32,
}

/// Wraps a ledger and fails the calls it is told to fail; every other call goes through.
///
/// Failures are counted down per kind: `fail_writes(2, ..)` fails the next two `write` calls.
/// A write failure before the unit ran, a commit failure after it ran and a failing view call
/// all leave nothing written, as a real backend that rolls back would.
#[derive(Debug)]
pub struct FailingLedger<L> {
    inner: L,
    plan: Mutex<Plan>,
}

impl<L: Ledger> FailingLedger<L> {
    /// Wraps `inner`; nothing fails until told to.
    pub fn new(inner: L) -> FailingLedger<L> {
        let plan = Plan {
            writes: Countdown::OFF,
            commits: Countdown::OFF,
            reads: Countdown::OFF,
            notifies: Countdown::OFF,
            view_call: None,
            injected: 0,
        };
        FailingLedger { inner, plan: Mutex::new(plan) }
    }

    /// The wrapped ledger.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, which: fn(&mut Plan) -> &mut Countdown) -> Option<Fault> {
        let mut plan = self.plan();
        let fault = which(&mut plan).take();
        if fault.is_some() {
            plan.injected += 1;
        }
        fault
    }

    /// The next `n` `write` calls fail with `fault` before the unit body runs.
    pub fn fail_writes(&self, n: u32, fault: Fault) {
        self.plan().writes = Countdown { left: n, fault };
    }

    /// The next `n` `write` calls run the unit body against the real view, then fail with
    /// `fault` instead of committing (a failed commit); the rows are discarded. An error the
    /// body returns itself is passed through unchanged.
    pub fn fail_commits(&self, n: u32, fault: Fault) {
        self.plan().commits = Countdown { left: n, fault };
    }

    /// The next `n` `read` and `agents` calls fail with `fault`.
    pub fn fail_reads(&self, n: u32, fault: Fault) {
        self.plan().reads = Countdown { left: n, fault };
    }

    /// The next `n` `mark_notified` calls fail with `fault`.
    pub fn fail_mark_notified(&self, n: u32, fault: Fault) {
        self.plan().notifies = Countdown { left: n, fault };
    }

    /// The `n`-th view method call from now (1 = the next), inside a read or a write unit,
    /// fails with `fault`. The surrounding write then writes nothing.
    pub fn fail_view_call(&self, n: u32, fault: Fault) {
        self.plan().view_call = (n > 0).then_some((n, fault));
    }

    /// Stops every planned failure.
    pub fn heal(&self) {
        let mut plan = self.plan();
        plan.writes = Countdown::OFF;
        plan.commits = Countdown::OFF;
        plan.reads = Countdown::OFF;
        plan.notifies = Countdown::OFF;
        plan.view_call = None;
    }

    /// How many failures have been injected so far.
    pub fn injected(&self) -> u32 {
        self.plan().injected
    }

    fn write_one(&self, agent: &AgentId, unit: &mut WriteUnit<'_>) -> Result<Option<Head>> {
        if let Some(fault) = self.take(|p| &mut p.writes) {
            return Err(fault.error(self.backend(), "write"));
        }
        if let Some(fault) = self.take(|p| &mut p.commits) {
            self.inner.write(agent, &mut |view| {
                unit(&FaultyView { inner: view, owner: self })?;
                Ok(None)
            })?;
            return Err(fault.error(self.backend(), "commit"));
        }
        self.inner.write(agent, &mut |view| unit(&FaultyView { inner: view, owner: self }))
    }

    /// Counts down the planned view-call failure; `Some` when this call is the one.
    fn view_fault(&self) -> Option<Fault> {
        let mut plan = self.plan();
        let (n, fault) = plan.view_call?;
        if n <= 1 {
            plan.view_call = None;
            plan.injected += 1;
            Some(fault)
        } else {
            plan.view_call = Some((n - 1, fault));
            None
        }
    }
}

impl<L: Ledger> Ledger for FailingLedger<L> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    /// Each unit is written on its own, so a planned fault hits exactly one unit.
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        units.iter_mut().map(|unit| self.write_one(agent, &mut **unit)).collect()
    }

    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        if let Some(fault) = self.take(|p| &mut p.reads) {
            return Err(fault.error(self.backend(), "read"));
        }
        self.inner.read(agent, &mut |view| f(&FaultyView { inner: view, owner: self }))
    }

    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
        if let Some(fault) = self.take(|p| &mut p.notifies) {
            return Err(fault.error(self.backend(), "mark_notified"));
        }
        self.inner.mark_notified(agent, handle)
    }

    fn agents(&self) -> Result<Vec<AgentId>> {
        if let Some(fault) = self.take(|p| &mut p.reads) {
            return Err(fault.error(self.backend(), "agents"));
        }
        self.inner.agents()
    }
}

/// A view whose calls count down towards a planned failure.
struct FaultyView<'a, L> {
    inner: &'a dyn LedgerRead,
    owner: &'a FailingLedger<L>,
}

macro_rules! faulty_view {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl<L: Ledger> LedgerRead for FaultyView<'_, L> {
            $(
                fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    if let Some(fault) = self.owner.view_fault() {
                        return Err(fault.error(self.owner.backend(), stringify!($name)));
                    }
                    self.inner.$name($($arg),*)
                }
            )*
        }
    };
}

faulty_view! {
    head() -> Option<Head>;
    seq_at(t: Timestamp) -> u64;
    tx_time_of(seq: u64) -> Option<Timestamp>;
    claim(claim_ref: ClaimRef) -> Option<Claim>;
    line(subject: &str, predicate: &str, upto: Upto) -> LineRows;
    claim_entries(claim_ref: ClaimRef, max_seq: u64) -> Vec<LedgerEntry>;
    claim_assertions(claim_ref: ClaimRef, max_seq: u64) -> Vec<Assertion>;
    count_entries_since(claim_ref: ClaimRef, event: Event, since: Timestamp) -> u64;
    edges_to(to: ClaimRef, kind: EdgeKind) -> Vec<Edge>;
    edges_from(from: ClaimRef, kind: EdgeKind) -> Vec<Edge>;
    predicates(subject: &str, max_seq: u64) -> Vec<String>;
    audit(range: &AuditRange) -> Vec<LedgerEntry>;
    adjudication(handle: Handle) -> Option<Adjudication>;
    open_adjudications() -> Vec<Adjudication>;
    units(after_seq: u64, limit: usize) -> Vec<Append>;
}
