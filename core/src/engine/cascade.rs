//! The dependency cascade (SPEC §2.3): claims that transitively depend on a claim that stops
//! being live are flagged for review in the same commit unit.

use std::collections::{HashSet, VecDeque};

use serde_json::json;

use super::unit::UnitBuilder;
use crate::error::Result;
use crate::ids::ClaimRef;
use crate::ledger::LedgerRead;
use crate::record::{Disposition, EdgeKind, Event};

/// Deepest dependency chain the cascade follows.
pub(super) const MAX_DEPTH: u32 = 64;

/// Flags every claim that transitively `depends_on` one of `stopped` (depth ≤ 64, each once).
pub(super) fn flag_dependents(
    view: &dyn LedgerRead,
    unit: &mut UnitBuilder<'_>,
    stopped: &[ClaimRef],
) -> Result<()> {
    let mut seen: HashSet<ClaimRef> = stopped.iter().copied().collect();
    let mut queue: VecDeque<(ClaimRef, ClaimRef, u32)> = stopped.iter().map(|&r| (r, r, 0)).collect();
    while let Some((parent, root, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for edge in view.edges_to(parent, EdgeKind::DependsOn)? {
            if seen.insert(edge.from) {
                unit.entry(
                    edge.from,
                    Event::DependentFlaggedPendingReview,
                    Disposition::PendingReview,
                    "dependency_not_live",
                    json!({ "parent": parent, "root": root, "depth": depth + 1 }),
                );
                queue.push_back((edge.from, root, depth + 1));
            }
        }
    }
    Ok(())
}
