//! SPEC §2.2: the ingest decision order, one case per step and per reject reason.

use credence_core::{BeliefStatus, ClaimEngine, Disposition, IngestRequest, RecallQuery};

use crate::{CaseResult, Factory, Fixture, ensure_eq};

/// Step 6: an External claim on an empty line is CommittedCheap (rationale `cheap_path`) and
/// becomes the belief.
pub fn first_hand_fact_without_conflict_is_committed_cheap(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    ensure_eq!(r.seq, Some(1));
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.status, BeliefStatus::TimingUncertain);
    ensure_eq!(belief.value, Some("Acme".into()));
    ensure_eq!(belief.primary_claim, r.claim_ref);
    Ok(())
}
