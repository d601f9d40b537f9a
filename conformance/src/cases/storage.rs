//! The storage contract of the `Ledger` trait, checked through the engine.

use credence_core::{BeliefStatus, ClaimEngine, RecallQuery};

use crate::{CaseResult, Factory, Fixture, ensure_eq};

/// Reading an agent that has never written answers NoBelief and creates nothing.
pub fn empty_agent_reads_as_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let belief = fx.engine.recall(&RecallQuery::new("nobody", "s", "p"))?;
    ensure_eq!(belief.status, BeliefStatus::NoBelief);
    ensure_eq!(belief.as_of_seq, 0);
    ensure_eq!(fx.engine.agents()?, Vec::<credence_core::AgentId>::new());
    Ok(())
}
