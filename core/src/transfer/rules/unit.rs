//! The rules about a unit's own rows: its place in the agent's stream, its times, the limits
//! on its claims, new ids, and its internal shape. [`UnitCheck::run`] runs every rule in
//! order; the rules about what rows name are in `links`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{AgentState, Checked, Limits, Rule, fail};
use crate::agent::AgentId;
use crate::claim::Claim;
use crate::ids::ClaimRef;
use crate::ledger::Append;
use crate::record::{EdgeKind, Event};
use crate::time::Timestamp;
use crate::validate::{self, Field, Relation};

/// The checks of one unit against its agent's state.
pub(super) struct UnitCheck<'a> {
    pub(super) agent: &'a AgentId,
    pub(super) unit: &'a Append,
    pub(super) state: &'a AgentState,
    pub(super) limits: Limits,
    /// The unit's own claims by id.
    pub(super) new: HashMap<ClaimRef, &'a Claim>,
}

/// A time as micros and as a date, for messages.
pub(super) fn show(t: Timestamp) -> String {
    format!("{} ({t})", t.0)
}

/// The serialised size of a value, without building the text.
fn serialised_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

impl<'a> UnitCheck<'a> {
    pub(super) fn new(agent: &'a AgentId, unit: &'a Append, state: &'a AgentState, limits: Limits) -> Self {
        let new = unit.claims.iter().map(|c| (c.claim_ref, c)).collect();
        UnitCheck { agent, unit, state, limits, new }
    }

    pub(super) fn run(&self) -> Checked {
        self.sequence()?;
        self.times()?;
        self.order()?;
        for claim in &self.unit.claims {
            self.claim_limits(claim)?;
        }
        self.duplicates()?;
        self.consistency()?;
        self.references()?;
        self.adjudications()?;
        self.dispositions()?;
        self.idempotency()
    }

    /// `seq_gap`.
    fn sequence(&self) -> Checked {
        let prev = self.state.head.map_or(0, |(seq, _)| seq);
        if prev.checked_add(1) == Some(self.unit.seq) {
            return Ok(());
        }
        let what =
            if self.unit.seq <= prev { "a duplicated or out-of-order row" } else { "units are missing" };
        fail(Rule::SeqGap, format!("does not follow seq {prev} ({what})"))
    }

    /// `time_range`.
    fn times(&self) -> Checked {
        let latest = self.limits.latest;
        let outside = |t: Timestamp| t < Timestamp::EPOCH || t > latest;
        let refuse = |what: String, t: Timestamp| {
            fail(
                Rule::TimeRange,
                format!(
                    "{what} {} is not between the Unix epoch and {}, the importing clock's now plus one day",
                    show(t),
                    show(latest)
                ),
            )
        };
        let unit = self.unit;
        if outside(unit.tx_time) {
            return refuse("tx_time".into(), unit.tx_time);
        }
        if let Some(c) = unit.claims.iter().find(|c| outside(c.tx_time)) {
            return refuse(format!("claim {}: tx_time", c.claim_ref), c.tx_time);
        }
        if let Some(e) = unit.entries.iter().find(|e| outside(e.recorded_at)) {
            return refuse(format!("ledger entry {}: recorded_at", e.index), e.recorded_at);
        }
        if let Some(a) = unit.assertions.iter().find(|a| outside(a.at)) {
            return refuse(format!("assertion {}: at", a.assertion_ref), a.at);
        }
        for j in &unit.adjudications {
            if outside(j.queued_at) {
                return refuse(format!("adjudication {}: queued_at", j.handle), j.queued_at);
            }
            if let Some(expires) = j.expires_at.filter(|e| *e <= j.queued_at) {
                return fail(
                    Rule::TimeRange,
                    format!(
                        "adjudication {}: expires_at {} is not after its queued_at {}",
                        j.handle,
                        show(expires),
                        show(j.queued_at)
                    ),
                );
            }
        }
        Ok(())
    }

    /// `tx_time_order`.
    fn order(&self) -> Checked {
        match self.state.head {
            Some((seq, prev)) if self.unit.tx_time <= prev => fail(
                Rule::TxTimeOrder,
                format!(
                    "tx_time {} does not increase (seq {seq} has {})",
                    show(self.unit.tx_time),
                    show(prev)
                ),
            ),
            _ => Ok(()),
        }
    }

    /// `claim_limits`: what the engine checks before it writes a claim.
    fn claim_limits(&self, c: &Claim) -> Checked {
        let checks = || -> Result<(), validate::RejectReason> {
            validate::subject_or_predicate(Field::Subject, &c.subject)?;
            validate::subject_or_predicate(Field::Predicate, &c.predicate)?;
            // Depth first: serialising is recursive, the depth check is not.
            validate::value_depth(&c.value)?;
            let size = serialised_len(&c.value);
            if size > self.limits.max_value_bytes {
                return Err(validate::RejectReason::ValueTooLarge { size, max: self.limits.max_value_bytes });
            }
            validate::confidence(Field::Confidence, c.confidence)?;
            if let Some(w) = &c.valid_time {
                validate::confidence(Field::ValidTimeConfidence, w.confidence)?;
            }
            validate::parents_unique(Relation::DerivedFrom, &c.derived_from)?;
            validate::parents_unique(Relation::DependsOn, &c.depends_on)
        };
        checks().or_else(|reason| fail(Rule::ClaimLimits, format!("claim {}: {reason}", c.claim_ref)))
    }

    /// `duplicate`.
    fn duplicates(&self) -> Checked {
        let (unit, state) = (self.unit, self.state);
        let mut claims = HashSet::with_capacity(unit.claims.len());
        for c in &unit.claims {
            if state.claims.contains(&c.claim_ref) {
                return fail(
                    Rule::Duplicate,
                    format!("claim {} was already written by an earlier unit", c.claim_ref),
                );
            }
            if !claims.insert(c.claim_ref) {
                return fail(Rule::Duplicate, format!("claim {} appears twice in the unit", c.claim_ref));
            }
        }
        let mut assertions = HashSet::with_capacity(unit.assertions.len());
        for a in &unit.assertions {
            if state.assertions.contains(&a.assertion_ref) || !assertions.insert(a.assertion_ref) {
                return fail(Rule::Duplicate, format!("assertion {} appears twice", a.assertion_ref));
            }
        }
        let mut handles = HashSet::with_capacity(unit.adjudications.len());
        for j in &unit.adjudications {
            if state.adjudications.contains_key(&j.handle) || !handles.insert(j.handle) {
                return fail(Rule::Duplicate, format!("adjudication {} is queued twice", j.handle));
            }
        }
        if let Some(e) = unit.edges.iter().find(|e| state.edges.contains(&(e.from, e.to, e.kind))) {
            return fail(
                Rule::Duplicate,
                format!(
                    "edge {} -{}-> {} was already written by an earlier unit",
                    e.from,
                    e.kind.as_str(),
                    e.to
                ),
            );
        }
        Ok(())
    }

    /// `unit_consistency`.
    fn consistency(&self) -> Checked {
        let unit = self.unit;
        if let Some(problem) = unit.shape_problem() {
            return fail(Rule::UnitConsistency, problem);
        }
        self.rows_carry_the_unit()?;
        let mut committed: HashMap<ClaimRef, usize> = HashMap::new();
        for e in unit.entries.iter().filter(|e| e.event == Event::ClaimCommitted) {
            if !self.new.contains_key(&e.claim_ref) {
                return fail(
                    Rule::UnitConsistency,
                    format!(
                        "ledger entry {}: ClaimCommitted names {}, which is not a claim of this unit",
                        e.index, e.claim_ref
                    ),
                );
            }
            *committed.entry(e.claim_ref).or_insert(0) += 1;
        }
        for c in &unit.claims {
            match committed.get(&c.claim_ref) {
                Some(1) => {}
                None => {
                    return fail(
                        Rule::UnitConsistency,
                        format!("claim {} has no ClaimCommitted entry in its unit", c.claim_ref),
                    );
                }
                Some(n) => {
                    return fail(
                        Rule::UnitConsistency,
                        format!("claim {} has {n} ClaimCommitted entries in its unit", c.claim_ref),
                    );
                }
            }
        }
        let mut parents: HashMap<(ClaimRef, EdgeKind), Vec<ClaimRef>> = HashMap::new();
        for e in &unit.edges {
            if !self.new.contains_key(&e.from) {
                return fail(
                    Rule::UnitConsistency,
                    format!(
                        "edge {} -{}-> {} leaves a claim that is not of this unit (a unit's edges leave its own claims)",
                        e.from,
                        e.kind.as_str(),
                        e.to
                    ),
                );
            }
            if e.kind != EdgeKind::Corroborates {
                parents.entry((e.from, e.kind)).or_default().push(e.to);
            }
        }
        for c in &unit.claims {
            for (kind, relation, list) in [
                (EdgeKind::DerivedFrom, Relation::DerivedFrom, &c.derived_from),
                (EdgeKind::DependsOn, Relation::DependsOn, &c.depends_on),
            ] {
                let mut edges = parents.remove(&(c.claim_ref, kind)).unwrap_or_default();
                let mut listed = list.clone();
                edges.sort_unstable();
                listed.sort_unstable();
                if edges != listed {
                    return fail(
                        Rule::UnitConsistency,
                        format!(
                            "claim {}: its {relation} list ({} parent(s)) and its {} edges in the unit ({}) differ",
                            c.claim_ref,
                            listed.len(),
                            kind.as_str(),
                            edges.len()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Every row carries the unit's seq, tx_time and agent; entries are indexed 0...
    fn rows_carry_the_unit(&self) -> Checked {
        let (unit, agent) = (self.unit, self.agent);
        let (seq, tx_time) = (unit.seq, unit.tx_time);
        let wrong = |what: String| fail(Rule::UnitConsistency, format!("{what} does not match its unit"));
        if let Some(c) = unit.claims.iter().find(|c| c.seq != seq || c.tx_time != tx_time) {
            return wrong(format!("claim {}'s seq or tx_time", c.claim_ref));
        }
        if let Some(c) = unit.claims.iter().find(|c| &c.agent_id != agent) {
            return wrong(format!("claim {}'s agent", c.claim_ref));
        }
        if let Some(a) = unit.assertions.iter().find(|a| a.seq != seq || a.at != tx_time) {
            return wrong(format!("assertion {}'s seq or time", a.assertion_ref));
        }
        if unit.edges.iter().any(|e| e.seq != seq) {
            return wrong("an edge's seq".into());
        }
        if let Some(e) = unit.entries.iter().find(|e| e.seq != seq || e.recorded_at != tx_time) {
            return wrong(format!("ledger entry {}'s seq or time", e.index));
        }
        if let Some((i, _)) =
            unit.entries.iter().enumerate().find(|(i, e)| usize::try_from(e.index).ok() != Some(*i))
        {
            return wrong(format!("the index of ledger entry #{i}"));
        }
        if let Some(j) =
            unit.adjudications.iter().find(|j| j.seq != seq || &j.agent_id != agent || j.queued_at != tx_time)
        {
            return wrong(format!("adjudication {}'s seq, agent or queued_at", j.handle));
        }
        Ok(())
    }

    /// True when `r` is a claim of the agent by this unit: an earlier unit's or this one's.
    pub(super) fn exists(&self, r: ClaimRef) -> bool {
        self.state.claims.contains(&r) || self.new.contains_key(&r)
    }
}
