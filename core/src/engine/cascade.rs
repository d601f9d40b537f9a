//! What follows when claims stop being live (SPEC §2.3): claims that transitively depend on
//! them are flagged for review, and adjudications they are the challenger of are closed, all
//! in the same commit unit.

use std::collections::{HashSet, VecDeque};

use serde_json::json;

use super::unit::UnitBuilder;
use crate::error::Result;
use crate::ids::ClaimRef;
use crate::ledger::LedgerRead;
use crate::record::{AdjudicationStatus, Disposition, EdgeKind, Event, StatusChange};

/// Deepest dependency chain the cascade follows.
pub(super) const MAX_DEPTH: u32 = 64;

/// Everything that follows when the claims `stopped` stop being live in this unit.
pub(super) fn on_stopped(
    view: &dyn LedgerRead,
    unit: &mut UnitBuilder<'_>,
    stopped: &[ClaimRef],
) -> Result<()> {
    flag_dependents(view, unit, stopped)?;
    close_challenges(view, unit, stopped)
}

/// Closes (as resolved) the open adjudications whose challenger stopped being live, unless this
/// unit closes them already: a verdict or expiry arriving later must not relabel a claim the
/// user superseded or invalidated.
fn close_challenges(view: &dyn LedgerRead, unit: &mut UnitBuilder<'_>, stopped: &[ClaimRef]) -> Result<()> {
    for adj in view.open_adjudications()? {
        let closing = &mut unit.append_mut().status_changes;
        if stopped.contains(&adj.challenger) && !closing.iter().any(|c| c.handle == adj.handle) {
            closing.push(StatusChange { handle: adj.handle, status: AdjudicationStatus::Resolved });
        }
    }
    Ok(())
}

/// Flags every claim that transitively `depends_on` one of `stopped` (depth ≤ 64, each once).
fn flag_dependents(view: &dyn LedgerRead, unit: &mut UnitBuilder<'_>, stopped: &[ClaimRef]) -> Result<()> {
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
