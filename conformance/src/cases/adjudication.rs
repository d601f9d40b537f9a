//! SPEC §2.2 step 10 and §2.3: the oracle loop.

use credence_core::{ClaimEngine, Disposition, IngestRequest};

use crate::{CaseResult, Factory, Fixture, ensure, ensure_eq};

/// An External contradiction with an oracle configured is QueuedForAdjudication, and the
/// oracle is told after commit.
pub fn conflict_with_oracle_is_queued_for_adjudication(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let second = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    ensure_eq!(second.disposition, Disposition::QueuedForAdjudication);
    ensure_eq!(second.contested_with, vec![first.claim()]);
    let requests = fx.oracle()?.requests();
    ensure_eq!(requests.len(), 1);
    ensure!(Some(requests[0].handle) == second.handle, "oracle got handle {:?}", requests[0].handle);
    let pending = fx.engine.pending(Some("a"))?;
    ensure_eq!(pending.len(), 1);
    ensure!(pending[0].notified, "the row is marked notified after the oracle accepted it");
    Ok(())
}
