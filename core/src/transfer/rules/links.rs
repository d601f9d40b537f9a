//! The rules about what a unit's rows name and how its events pair with its rows: references
//! to claims and adjudications, adjudication rows and status changes, dispositions and
//! events, idempotency records.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::unit::{UnitCheck, show};
use super::{Checked, Rule, fail};
use crate::claim::Provenance;
use crate::idempotency::{self, StoredAnswer};
use crate::ids::{ClaimRef, Handle};
use crate::record::{AdjudicationStatus, AssertionKind, Disposition, EdgeKind, Event};
use crate::validate::Relation;

/// The events the engine writes with each disposition (see `engine::ingest`, `engine::ops`,
/// `engine::cascade`).
fn event_allows(event: Event, d: Disposition) -> bool {
    use Disposition as D;
    match event {
        Event::ClaimCommitted => matches!(
            d,
            D::CommittedCheap
                | D::CommittedInferred
                | D::QueuedForAdjudication
                | D::Contested
                | D::PendingConflict
                | D::PendingLowConfidence
                | D::Quarantined
        ),
        Event::Corroborated => d == D::CommittedCheap,
        Event::RecallReEntryDetected => matches!(d, D::CommittedCheap | D::Quarantined),
        Event::ValidityAsserted => matches!(d, D::Superseded | D::Invalidated | D::Reinstated),
        Event::AdjudicationRequested => d == D::QueuedForAdjudication,
        Event::AdjudicationResolved => matches!(d, D::CommittedCheap | D::Superseded | D::Contested),
        Event::AdjudicationExpired => d == D::Contested,
        Event::Resolved => matches!(d, D::CommittedCheap | D::Superseded),
        Event::Invalidated => d == D::Invalidated,
        Event::Reinstated => d == D::Reinstated,
        Event::DependentFlaggedPendingReview => d == D::PendingReview,
    }
}

/// The dispositions a new claim of each provenance can be committed with (SPEC §2.2): a recall
/// re-entry or a model inference never commits as first-hand truth.
fn provenance_allows(p: Provenance, d: Disposition) -> bool {
    use Disposition as D;
    match p {
        Provenance::External(_) => matches!(
            d,
            D::CommittedCheap
                | D::QueuedForAdjudication
                | D::Contested
                | D::PendingLowConfidence
                | D::Quarantined
        ),
        Provenance::ModelDerived => matches!(d, D::CommittedInferred | D::PendingConflict | D::Quarantined),
        Provenance::RecallReEntry => matches!(d, D::PendingLowConfidence | D::Quarantined),
    }
}

/// Adds `delta` to the count of `key`, for matching two lists of rows as multisets.
fn tally<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, i64>, key: K, delta: i64) {
    *counts.entry(key).or_insert(0) += delta;
}

/// The first key whose count is not zero.
fn unbalanced<K: Copy>(counts: &HashMap<K, i64>) -> Option<(K, i64)> {
    counts.iter().find(|(_, n)| **n != 0).map(|(k, n)| (*k, *n))
}

impl UnitCheck<'_> {
    /// `reference`.
    pub(super) fn references(&self) -> Checked {
        let (unit, state) = (self.unit, self.state);
        let missing = |what: String| fail(Rule::Reference, what);
        if let Some(e) = unit.entries.iter().find(|e| !self.exists(e.claim_ref)) {
            return missing(format!(
                "ledger entry {} ({}) names claim {}, which the agent does not have",
                e.index,
                e.event.as_str(),
                e.claim_ref
            ));
        }
        if let Some(a) = unit.assertions.iter().find(|a| !self.exists(a.target)) {
            return missing(format!(
                "assertion {} targets claim {}, which the agent does not have",
                a.assertion_ref, a.target
            ));
        }
        // Parents and edge ends were written before the claim that names them, as the engine
        // writes them, so lineage and dependencies never loop.
        for c in &unit.claims {
            for (relation, list) in
                [(Relation::DerivedFrom, &c.derived_from), (Relation::DependsOn, &c.depends_on)]
            {
                if let Some(p) = list.iter().find(|p| !state.claims.contains(p)) {
                    return missing(format!(
                        "claim {}: {relation} parent {p} is not a claim the agent wrote before it",
                        c.claim_ref
                    ));
                }
            }
        }
        if let Some(e) = unit.edges.iter().find(|e| !state.claims.contains(&e.to)) {
            return missing(format!(
                "edge {} -{}-> {} points at a claim the agent did not write before this unit",
                e.from,
                e.kind.as_str(),
                e.to
            ));
        }
        for j in &unit.adjudications {
            if let Some(i) = j.incumbents.iter().find(|i| !state.claims.contains(i)) {
                return missing(format!(
                    "adjudication {}: incumbent {i} is not a claim the agent wrote before this unit",
                    j.handle
                ));
            }
        }
        let opened_here: HashSet<Handle> = unit.adjudications.iter().map(|j| j.handle).collect();
        if let Some(s) = unit
            .status_changes
            .iter()
            .find(|s| !state.adjudications.contains_key(&s.handle) && !opened_here.contains(&s.handle))
        {
            return missing(format!(
                "a status change names adjudication {}, which the agent never queued",
                s.handle
            ));
        }
        Ok(())
    }

    /// `adjudication`.
    pub(super) fn adjudications(&self) -> Checked {
        let unit = self.unit;
        let bad = |what: String| fail(Rule::Adjudication, what);
        let first_disposition: HashMap<ClaimRef, Disposition> = unit
            .entries
            .iter()
            .filter(|e| e.event == Event::ClaimCommitted)
            .map(|e| (e.claim_ref, e.disposition))
            .collect();
        for j in &unit.adjudications {
            let h = j.handle;
            if j.status != AdjudicationStatus::Pending {
                return bad(format!(
                    "adjudication {h} is queued with status {}, not pending",
                    j.status.as_str()
                ));
            }
            let Some(challenger) = self.new.get(&j.challenger) else {
                return bad(format!(
                    "adjudication {h}: challenger {} is not a claim of its unit",
                    j.challenger
                ));
            };
            if challenger.subject != j.subject || challenger.predicate != j.predicate {
                return bad(format!(
                    "adjudication {h} names another line than its challenger {}'s",
                    j.challenger
                ));
            }
            if first_disposition.get(&j.challenger) != Some(&Disposition::QueuedForAdjudication) {
                return bad(format!(
                    "adjudication {h}: challenger {} is not committed as QueuedForAdjudication",
                    j.challenger
                ));
            }
            if j.incumbents.is_empty() {
                return bad(format!("adjudication {h} has no incumbent"));
            }
        }
        let mut closing = HashSet::with_capacity(unit.status_changes.len());
        for s in &unit.status_changes {
            let h = s.handle;
            if s.status == AdjudicationStatus::Pending {
                return bad(format!("a status change sets adjudication {h} to pending; changes close rows"));
            }
            if !closing.insert(h) {
                return bad(format!("adjudication {h} is closed twice in one unit"));
            }
            match self.state.adjudications.get(&h) {
                Some(opened) if !opened.open => {
                    return bad(format!("adjudication {h} is closed again (an earlier unit closed it)"));
                }
                Some(_) => {}
                None => return bad(format!("adjudication {h} is closed by the unit that queued it")),
            }
        }
        Ok(())
    }

    /// `disposition_event`.
    pub(super) fn dispositions(&self) -> Checked {
        let unit = self.unit;
        let bad = |what: String| fail(Rule::DispositionEvent, what);
        for e in &unit.entries {
            let (event, d) = (e.event.as_str(), e.disposition.as_str());
            if e.disposition == Disposition::Rejected {
                return bad(format!("ledger entry {} ({event}) is Rejected, which is never stored", e.index));
            }
            if !event_allows(e.event, e.disposition) {
                return bad(format!("ledger entry {}: the engine never writes {event} with {d}", e.index));
            }
            if !matches!(e.rationale.get("rationale"), Some(Value::String(_))) {
                return bad(format!(
                    "ledger entry {}: rationale is not a JSON object with a string \"rationale\"",
                    e.index
                ));
            }
            if e.event == Event::ClaimCommitted
                && let Some(c) = self.new.get(&e.claim_ref)
                && !provenance_allows(c.provenance, e.disposition)
            {
                return bad(format!(
                    "claim {}: a {} claim is never committed as {d}",
                    c.claim_ref,
                    c.provenance.as_str()
                ));
            }
        }
        let entries = |event: Event| unit.entries.iter().filter(move |e| e.event == event);

        // ValidityAsserted ↔ the unit's assertions: Bound for Superseded/Invalidated, Reopen for
        // Reinstated, one entry per assertion.
        let mut asserted: HashMap<(ClaimRef, AssertionKind), i64> = HashMap::new();
        for a in &unit.assertions {
            tally(&mut asserted, (a.target, a.kind), 1);
        }
        for e in entries(Event::ValidityAsserted) {
            let kind = if e.disposition == Disposition::Reinstated {
                AssertionKind::Reopen
            } else {
                AssertionKind::Bound
            };
            tally(&mut asserted, (e.claim_ref, kind), -1);
        }
        if let Some(((target, kind), n)) = unbalanced(&asserted) {
            let more = if n > 0 {
                "assertion(s) without a ValidityAsserted entry"
            } else {
                "ValidityAsserted entry(ies) without an assertion"
            };
            return bad(format!("claim {target}: {} {kind:?} {more}", n.abs()));
        }

        // Corroborated ↔ Corroborates edges.
        let mut corroborated: HashMap<ClaimRef, i64> = HashMap::new();
        for e in unit.edges.iter().filter(|e| e.kind == EdgeKind::Corroborates) {
            tally(&mut corroborated, e.to, 1);
        }
        for e in entries(Event::Corroborated) {
            tally(&mut corroborated, e.claim_ref, -1);
        }
        if let Some((claim, _)) = unbalanced(&corroborated) {
            return bad(format!("claim {claim}: its Corroborated entries and Corroborates edges differ"));
        }

        // AdjudicationRequested ↔ queued rows.
        let mut requested: HashMap<ClaimRef, i64> = HashMap::new();
        for j in &unit.adjudications {
            tally(&mut requested, j.challenger, 1);
        }
        for e in entries(Event::AdjudicationRequested) {
            tally(&mut requested, e.claim_ref, -1);
        }
        if let Some((claim, _)) = unbalanced(&requested) {
            return bad(format!(
                "claim {claim}: its AdjudicationRequested entries and queued adjudications differ"
            ));
        }

        // AdjudicationExpired ↔ rows expired by this unit (on their challenger);
        // AdjudicationResolved only on a party of a row this unit resolves.
        let mut expired: HashMap<ClaimRef, i64> = HashMap::new();
        let mut parties: HashSet<ClaimRef> = HashSet::new();
        for s in &unit.status_changes {
            let Some(opened) = self.state.adjudications.get(&s.handle) else { continue };
            match s.status {
                AdjudicationStatus::Expired => tally(&mut expired, opened.challenger, 1),
                AdjudicationStatus::Resolved => {
                    parties.insert(opened.challenger);
                    parties.extend(opened.incumbents.iter().copied());
                }
                AdjudicationStatus::Pending => {}
            }
        }
        for e in entries(Event::AdjudicationExpired) {
            tally(&mut expired, e.claim_ref, -1);
        }
        if let Some((claim, _)) = unbalanced(&expired) {
            return bad(format!(
                "claim {claim}: its AdjudicationExpired entries and the adjudications this unit expires differ"
            ));
        }
        if let Some(e) = entries(Event::AdjudicationResolved).find(|e| !parties.contains(&e.claim_ref)) {
            return bad(format!(
                "ledger entry {}: AdjudicationResolved on {}, which is no party of an adjudication this unit resolves",
                e.index, e.claim_ref
            ));
        }
        Ok(())
    }

    /// `idempotency`.
    pub(super) fn idempotency(&self) -> Checked {
        let unit = self.unit;
        let Some(record) = &unit.idempotency else { return Ok(()) };
        let bad = |what: String| fail(Rule::Idempotency, what);
        if let Err(reason) = idempotency::check_key(&record.key) {
            return bad(format!("the idempotency record's key is invalid: {reason}"));
        }
        if self.state.keys.contains(&record.key) {
            return bad(format!("idempotency key {:?} was already stored by an earlier unit", record.key));
        }
        if !idempotency::is_fingerprint(&record.request) {
            return bad(format!(
                "idempotency key {:?}: the request is not a fingerprint (64 lowercase hex digits)",
                record.key
            ));
        }
        match self.answer_problem(&record.answer) {
            Some(problem) => bad(format!("idempotency key {:?}: {problem}", record.key)),
            None => Ok(()),
        }
    }

    /// Why a stored answer cannot be this unit's, if it cannot.
    fn answer_problem(&self, answer: &StoredAnswer) -> Option<String> {
        let unit = self.unit;
        let closes = |handle: Handle, status: Option<AdjudicationStatus>| {
            unit.status_changes.iter().any(|s| s.handle == handle && status.is_none_or(|st| st == s.status))
        };
        match answer {
            StoredAnswer::Receipt(r) => {
                let known = |c: ClaimRef| {
                    self.state.claims.contains(&c) || unit.claims.iter().any(|x| x.claim_ref == c)
                };
                let recorded = |c: ClaimRef, d: Disposition| {
                    unit.entries.iter().any(|e| e.claim_ref == c && e.disposition == d)
                };
                if r.disposition == Disposition::Rejected {
                    Some("the stored receipt is Rejected, but a rejected write stores nothing".into())
                } else if r.seq != Some(unit.seq) {
                    Some(format!("the stored receipt names seq {:?}, not its unit's", r.seq))
                } else if r.tx_time != Some(unit.tx_time) {
                    Some(format!(
                        "the stored receipt names tx_time {:?}, not its unit's",
                        r.tx_time.map(show)
                    ))
                } else if !r.claim_ref.is_some_and(known) {
                    Some(format!(
                        "the stored receipt names claim {:?}, which the agent does not hold",
                        r.claim_ref
                    ))
                } else if !r.claim_ref.is_some_and(|c| recorded(c, r.disposition)) {
                    Some(format!(
                        "the stored receipt says {:?}, which no ledger entry of its unit records for its claim",
                        r.disposition
                    ))
                } else if r.handle.is_some_and(|h| !unit.adjudications.iter().any(|j| j.handle == h)) {
                    Some("the stored receipt names an adjudication its unit does not open".into())
                } else {
                    None
                }
            }
            StoredAnswer::Adjudication(o) => {
                if o.seq != unit.seq {
                    Some(format!("the stored outcome names seq {}, not its unit's", o.seq))
                } else if !closes(o.handle, None) {
                    Some(format!(
                        "the stored outcome is about adjudication {}, which its unit does not close",
                        o.handle
                    ))
                } else if let Some((c, d)) = o
                    .dispositions
                    .iter()
                    .find(|(c, d)| !unit.entries.iter().any(|e| e.claim_ref == *c && e.disposition == *d))
                {
                    Some(format!(
                        "the stored outcome gives {c} {d:?}, which no ledger entry of its unit records"
                    ))
                } else {
                    None
                }
            }
            StoredAnswer::HandleExpired { handle } => (!closes(*handle, Some(AdjudicationStatus::Expired)))
                .then(|| format!("the stored answer says {handle} expired, but its unit does not expire it")),
        }
    }
}
