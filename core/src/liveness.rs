//! Which claims are live (SPEC §3.2 step 2): a claim's state from its ledger entries and
//! assertions. The engine folds lines with it, and backends that keep the live claims of each
//! line as a derived index (see [`LedgerRead::live`](crate::LedgerRead::live)) derive that
//! index with it, so the two can never disagree. The rows of a line a ledger returns live here
//! too, so the ledger depends on this module and not the other way round.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::claim::Claim;
use crate::ids::ClaimRef;
use crate::record::{Assertion, AssertionKind, Disposition, Event, LedgerEntry};

/// The liveness-relevant part of one ledger entry (no rationale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateMark {
    /// The claim the entry is about.
    pub claim_ref: ClaimRef,
    /// The entry's commit unit.
    pub seq: u64,
    /// The entry's index within the unit.
    pub index: u32,
    /// The entry's event.
    pub event: Event,
    /// The entry's disposition.
    pub disposition: crate::record::Disposition,
}

impl StateMark {
    /// The mark of a full ledger entry.
    pub fn of(entry: &LedgerEntry) -> StateMark {
        StateMark {
            claim_ref: entry.claim_ref,
            seq: entry.seq,
            index: entry.index,
            event: entry.event,
            disposition: entry.disposition,
        }
    }
}

/// One line's rows, everything the fold needs (see [`LedgerRead::line`](crate::LedgerRead::line)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineRows {
    /// The line's claims, ordered by `(seq, claim_ref)`.
    pub claims: Vec<Claim>,
    /// The liveness marks of those claims: one [`StateMark`] per ledger entry whose event is
    /// in [`Event::MARKS`] (state events and `DependentFlaggedPendingReview`), ordered by
    /// `(seq, index)`.
    pub marks: Vec<StateMark>,
    /// The assertions about those claims, ordered by `(seq, assertion_ref)`.
    pub assertions: Vec<Assertion>,
}

/// What the rows say about one claim at an as-of point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimState {
    /// Disposition of the latest state entry.
    pub disposition: Disposition,
    /// True when the latest assertion (by `(seq, assertion_ref)`) is Bound.
    pub bound: bool,
    /// True when a DependentFlaggedPendingReview entry exists.
    pub flagged: bool,
}

impl ClaimState {
    /// Live: a live disposition, not bound.
    pub fn is_live(&self) -> bool {
        self.disposition.is_live() && !self.bound
    }
}

/// Folds marks (ordered by `(seq, index)`) and assertions (ordered by `(seq,
/// assertion_ref)`) into per-claim state. A claim with no state entry is absent from the map
/// and therefore not live.
pub fn claim_states(marks: &[StateMark], assertions: &[Assertion]) -> HashMap<ClaimRef, ClaimState> {
    let mut states: HashMap<ClaimRef, ClaimState> = HashMap::new();
    let mut flagged: Vec<ClaimRef> = Vec::new();
    for e in marks {
        if e.event.is_state() {
            states.entry(e.claim_ref).and_modify(|s| s.disposition = e.disposition).or_insert(ClaimState {
                disposition: e.disposition,
                bound: false,
                flagged: false,
            });
        } else if e.event == Event::DependentFlaggedPendingReview {
            flagged.push(e.claim_ref);
        }
    }
    for a in assertions {
        if let Some(s) = states.get_mut(&a.target) {
            s.bound = a.kind == AssertionKind::Bound;
        }
    }
    for r in flagged {
        if let Some(s) = states.get_mut(&r) {
            s.flagged = true;
        }
    }
    states
}

/// One live claim of a line with its state (see [`LedgerRead::live`](crate::LedgerRead::live)).
#[derive(Clone, Debug, PartialEq)]
pub struct LiveClaim {
    /// The claim.
    pub claim: Claim,
    /// Disposition of its latest state entry (a live one).
    pub disposition: Disposition,
    /// True when a DependentFlaggedPendingReview entry exists for it.
    pub flagged: bool,
}

/// The live claims of a line's rows, ordered by `(seq, claim_ref)` as the rows are.
pub fn live_claims(rows: LineRows) -> Vec<LiveClaim> {
    let states = claim_states(&rows.marks, &rows.assertions);
    rows.claims
        .into_iter()
        .filter_map(|claim| {
            let state = states.get(&claim.claim_ref).filter(|s| s.is_live())?;
            Some(LiveClaim { disposition: state.disposition, flagged: state.flagged, claim })
        })
        .collect()
}
