//! Helpers several case modules share.

use credence_core::ledger::read_with;
use credence_core::{
    AgentId, AsOf, AuditRange, Belief, ClaimEngine, ClaimRef, ClaimStatus, Disposition, IngestRequest,
    RecallQuery, WriteReceipt,
};

use crate::{CaseError, Fixture};

/// A valid agent id, or a failed case naming the bad one.
pub(crate) fn agent_id(agent: &str) -> Result<AgentId, CaseError> {
    AgentId::new(agent).map_err(|e| CaseError::Failed(format!("bad agent id {agent:?}: {e}")))
}

/// The agent's head seq and its number of ledger entries, straight from the ledger.
pub(crate) fn footprint(fx: &Fixture, agent: &str) -> Result<(u64, usize), CaseError> {
    let id = agent_id(agent)?;
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| {
        let seq = v.head()?.map_or(0, |h| h.seq);
        let range = AuditRange { claim_ref: None, after: None, limit: 1_000_000_000, newest_first: false };
        Ok((seq, v.audit(&range)?.len()))
    })?)
}

/// A claim's latest disposition and status in the history of line `(s, p)` of agent `a`.
pub(crate) fn status(
    fx: &Fixture,
    s: &str,
    p: &str,
    claim: ClaimRef,
) -> Result<(Disposition, ClaimStatus), CaseError> {
    let history = fx.engine.history("a", s, p, AsOf::Now)?;
    history
        .entries
        .iter()
        .find(|e| e.claim.claim_ref == claim)
        .map(|e| (e.disposition, e.status))
        .ok_or_else(|| CaseError::Failed(format!("claim {claim} missing from history of ({s}, {p})")))
}

/// Ingests a first-hand value on line (alice, employer) of agent `a`.
pub(crate) fn ingest(fx: &Fixture, v: impl Into<serde_json::Value>) -> Result<WriteReceipt, CaseError> {
    Ok(fx.engine.ingest(IngestRequest::new("a", "alice", "employer", v))?)
}

/// The belief of line (alice, employer) of agent `a`.
pub(crate) fn belief(fx: &Fixture) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?)
}
