//! Helpers several case modules share.

use credence_core::ledger::read_with;
use credence_core::{AgentId, AuditRange};

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
