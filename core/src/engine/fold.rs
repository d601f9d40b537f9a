//! Liveness and the fold from a line's rows to a [`Belief`] (SPEC §1.6, §3.2).

use std::collections::HashMap;

use serde_json::Value;

use crate::api::{Belief, BeliefStatus, Candidate, Currency, Marker, Staleness};
use crate::claim::{Cardinality, Claim, Provenance};
use crate::config::EngineConfig;
use crate::ids::ClaimRef;
use crate::ledger::StateMark;
pub(super) use crate::liveness::ClaimState;
use crate::liveness::{LiveClaim, claim_states};
use crate::record::Assertion;
use crate::time::{MICROS_PER_DAY, Timestamp};

/// A line's claims in canonical order with their states.
pub(super) struct Line {
    pub claims: Vec<Claim>,
    pub states: HashMap<ClaimRef, ClaimState>,
}

impl Line {
    pub(super) fn new(
        mut claims: Vec<Claim>,
        marks: &[StateMark],
        assertions: &[Assertion],
        threshold: f32,
    ) -> Line {
        claims.sort_by_key(|c| c.canonical_key(threshold));
        Line { claims, states: claim_states(marks, assertions) }
    }

    /// A line of its live claims only (answers about other claims: not live, no state).
    pub(super) fn of_live(live: Vec<LiveClaim>, threshold: f32) -> Line {
        let mut claims = Vec::with_capacity(live.len());
        let mut states = HashMap::with_capacity(live.len());
        for l in live {
            let state = ClaimState { disposition: l.disposition, bound: false, flagged: l.flagged };
            states.insert(l.claim.claim_ref, state);
            claims.push(l.claim);
        }
        claims.sort_by_key(|c| c.canonical_key(threshold));
        Line { claims, states }
    }

    pub(super) fn state(&self, r: ClaimRef) -> Option<ClaimState> {
        self.states.get(&r).copied()
    }

    pub(super) fn is_live(&self, r: ClaimRef) -> bool {
        self.state(r).is_some_and(|s| s.is_live())
    }

    /// The live claims, canonical order.
    pub(super) fn live(&self) -> Vec<&Claim> {
        self.claims.iter().filter(|c| self.is_live(c.claim_ref)).collect()
    }
}

/// Inputs of the fold besides the line.
pub(super) struct FoldPoint {
    /// The seq the read is pinned to.
    pub as_of_seq: u64,
    /// The transaction time of the as-of point (default `valid_at`).
    pub as_of_time: Timestamp,
    /// An explicit `valid_at`.
    pub valid_at: Option<Timestamp>,
    /// The real clock, for currency.
    pub now: Timestamp,
}

fn currency(config: &EngineConfig, now: Timestamp, last: Timestamp) -> Currency {
    let age = now.micros().saturating_sub(last.micros());
    if age < i64::from(config.aging_days).saturating_mul(MICROS_PER_DAY) {
        Currency::Fresh
    } else if age < i64::from(config.decayed_days).saturating_mul(MICROS_PER_DAY) {
        Currency::AgingUnconfirmed
    } else {
        Currency::Decayed
    }
}

/// The fold of SPEC §3.2 steps 2–7.
pub(super) fn belief(line: &Line, config: &EngineConfig, point: &FoldPoint) -> Belief {
    let threshold = config.valid_time_confidence_threshold;
    let mut live = line.live();
    let valid_at = point.valid_at.or_else(|| {
        let all_trusted = !live.is_empty() && live.iter().all(|c| c.trusted_window(threshold).is_some());
        all_trusted.then_some(point.as_of_time)
    });
    if let Some(t) = valid_at {
        live.retain(|c| c.trusted_window(threshold).is_none_or(|w| w.contains(t)));
    }

    let mut candidates: Vec<(Value, Vec<&Claim>)> = Vec::new();
    for c in &live {
        match candidates.iter_mut().find(|(v, _)| *v == c.value) {
            Some((_, supporters)) => supporters.push(c),
            None => candidates.push((c.value.clone(), vec![c])),
        }
    }

    let all_set_valued = live.iter().all(|c| c.cardinality == Cardinality::SetValued);
    let status = if live.is_empty() {
        BeliefStatus::NoBelief
    } else if candidates.len() >= 2 && !all_set_valued {
        BeliefStatus::Contested
    } else if candidates.len() == 1
        && candidates[0].1.iter().all(|c| !c.valid_time.is_some_and(|w| w.has_bounds()))
    {
        BeliefStatus::TimingUncertain
    } else {
        BeliefStatus::Resolved
    };

    let single = (candidates.len() == 1).then(|| &candidates[0]);
    let value = match (status, single) {
        (BeliefStatus::Resolved | BeliefStatus::TimingUncertain, Some((v, _))) if !all_set_valued => {
            Some(v.clone())
        }
        _ => None,
    };
    let last_confirmed_at = live.iter().map(|c| c.tx_time).max();
    let currency = last_confirmed_at.map(|t| currency(config, point.now, t));

    let mut markers = Vec::new();
    if status == BeliefStatus::Contested {
        markers.push(Marker::Contested);
    }
    if live.iter().any(|c| line.state(c.claim_ref).is_some_and(|s| s.flagged)) {
        markers.push(Marker::PendingReview);
    }
    if candidates.iter().any(|(_, s)| s.iter().all(|c| c.provenance == Provenance::ModelDerived)) {
        markers.push(Marker::Inferred);
    }

    Belief {
        status,
        value,
        values: candidates.iter().map(|(v, _)| v.clone()).collect(),
        candidates: candidates
            .iter()
            .map(|(v, s)| Candidate {
                value: v.clone(),
                claim_ref: s[0].claim_ref,
                supporting: s.iter().map(|c| c.claim_ref).collect(),
                provenance: s[0].provenance,
                confidence: s.iter().map(|c| c.confidence).fold(0.0, f32::max),
                valid_time: s[0].valid_time,
            })
            .collect(),
        primary_claim: single.map(|(_, s)| s[0].claim_ref),
        criticality: live.iter().map(|c| c.criticality).max(),
        corroboration_count: single.map_or(0, |(_, s)| u32::try_from(s.len() - 1).unwrap_or(u32::MAX)),
        last_confirmed_at,
        currency,
        staleness: currency.map(|c| Staleness {
            is_stale: c != Currency::Fresh,
            reason: match c {
                Currency::Fresh => None,
                Currency::AgingUnconfirmed => {
                    Some(format!("not confirmed for {} days or more", config.aging_days))
                }
                Currency::Decayed => Some(format!("not confirmed for {} days or more", config.decayed_days)),
            },
        }),
        markers,
        as_of_seq: point.as_of_seq,
    }
}
