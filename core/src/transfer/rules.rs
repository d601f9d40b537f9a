//! Every rule an imported unit (or a copied one) must keep, in one place (SPEC §8).
//!
//! [`Checker`] is shown each agent's units in order, one at a time, and refuses the first
//! unit that breaks a rule with a [`Violation`]: the [`Rule`] and a reason. It keeps only what
//! later units can refer to, per agent: the head, the ids of claims, assertions and
//! adjudications, the edges, which adjudications are still open (with their challenger and
//! incumbents) and the idempotency keys — never the units themselves.
//!
//! The rules are those of the live write path: a unit passes only if the engine could have
//! written it. Each check is linear in the unit's size (sets and maps, no pairwise scans), so
//! a hostile unit costs no more than reading it.

mod links;
mod unit;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::agent::AgentId;
use crate::ids::{AssertionRef, ClaimRef, Handle};
use crate::ledger::Append;
use crate::record::EdgeKind;
use crate::time::{MICROS_PER_DAY, Timestamp};
use unit::UnitCheck;

/// The rules an import file must keep. Each has a stable short code ([`Rule::code`]) that
/// errors and the CLI's `--json` error document carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// `header`: the first line is the header `{"format":"credence-export","version":1}`.
    Header,
    /// `syntax`: every line is UTF-8 and a complete JSON unit line (a line cut short fails).
    Syntax,
    /// `line_too_long`: no line is longer than the line cap (refused after reading that many
    /// bytes, never read whole).
    LineTooLong,
    /// `trailer`: the file ends with its trailer line, nothing follows it, and its counts
    /// match the file.
    Trailer,
    /// `seq_gap`: each agent's units run 1, 2, 3, … with no gap or repeat.
    SeqGap,
    /// `tx_time_order`: each agent's `tx_time` strictly increases from unit to unit.
    TxTimeOrder,
    /// `time_range`: every transaction time lies between the Unix epoch and the importing
    /// clock's now plus one day; an adjudication expires after it was queued.
    TimeRange,
    /// `claim_limits`: every claim keeps the limits of SPEC §1.1 (subject and predicate 1–1024
    /// bytes without NUL, value depth and size, confidences finite in [0, 1], parents listed
    /// once).
    ClaimLimits,
    /// `unit_consistency`: a unit has rows, every row carries the unit's seq, tx_time and
    /// agent, entries are indexed 0.., each claim has exactly one ClaimCommitted entry and
    /// every ClaimCommitted names a claim of the unit, edges leave the unit's own claims, a
    /// claim's DerivedFrom/DependsOn edges match its parent lists, no edge twice.
    UnitConsistency,
    /// `reference`: every claim, parent, edge end, incumbent and adjudication a row names
    /// exists for the same agent by then.
    Reference,
    /// `duplicate`: claim, assertion and adjudication ids are new for the agent, and no edge
    /// is written twice.
    Duplicate,
    /// `adjudication`: a queued row is pending, its challenger is a claim of its unit on the
    /// row's line queued for adjudication, it has incumbents; a status change closes an
    /// adjudication opened by an earlier unit and still open, once.
    Adjudication,
    /// `disposition_event`: each entry's event and disposition go together as the engine
    /// writes them (never `Rejected`), its rationale is an object with a string
    /// `"rationale"`, a claim's first disposition fits its provenance, and each event comes
    /// with the rows the engine writes alongside it.
    DispositionEvent,
    /// `idempotency`: a unit's idempotency record has a valid key not used before by the
    /// agent, a request fingerprint, and an answer about this unit.
    Idempotency,
}

impl Rule {
    /// Every rule, in the order a unit is checked (file-level rules first).
    pub const ALL: [Rule; 14] = [
        Rule::Header,
        Rule::Syntax,
        Rule::LineTooLong,
        Rule::Trailer,
        Rule::SeqGap,
        Rule::TimeRange,
        Rule::TxTimeOrder,
        Rule::ClaimLimits,
        Rule::Duplicate,
        Rule::UnitConsistency,
        Rule::Reference,
        Rule::Adjudication,
        Rule::DispositionEvent,
        Rule::Idempotency,
    ];

    /// The stable short code, e.g. `"time_range"`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::Header => "header",
            Rule::Syntax => "syntax",
            Rule::LineTooLong => "line_too_long",
            Rule::Trailer => "trailer",
            Rule::SeqGap => "seq_gap",
            Rule::TxTimeOrder => "tx_time_order",
            Rule::TimeRange => "time_range",
            Rule::ClaimLimits => "claim_limits",
            Rule::UnitConsistency => "unit_consistency",
            Rule::Reference => "reference",
            Rule::Duplicate => "duplicate",
            Rule::Adjudication => "adjudication",
            Rule::DispositionEvent => "disposition_event",
            Rule::Idempotency => "idempotency",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A broken rule and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) rule: Rule,
    pub(crate) reason: String,
}

type Checked = Result<(), Violation>;

fn fail(rule: Rule, reason: impl Into<String>) -> Checked {
    Err(Violation { rule, reason: reason.into() })
}

/// The limits the rules are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest serialised claim value, in bytes.
    pub(crate) max_value_bytes: usize,
    /// Latest transaction time accepted: the importing clock's now plus one day.
    pub(crate) latest: Timestamp,
}

impl Limits {
    pub(crate) fn new(now: Timestamp, max_value_bytes: usize) -> Limits {
        Limits { max_value_bytes, latest: now.plus_micros(MICROS_PER_DAY) }
    }
}

/// An adjudication some unit opened.
#[derive(Debug)]
struct Opened {
    challenger: ClaimRef,
    /// Dropped once the adjudication is closed.
    incumbents: Vec<ClaimRef>,
    open: bool,
}

/// What later units of one agent can refer to.
#[derive(Debug, Default)]
struct AgentState {
    head: Option<(u64, Timestamp)>,
    claims: HashSet<ClaimRef>,
    assertions: HashSet<AssertionRef>,
    edges: HashSet<(ClaimRef, ClaimRef, EdgeKind)>,
    adjudications: HashMap<Handle, Opened>,
    keys: HashSet<String>,
}

impl AgentState {
    /// Takes in a unit that passed every rule.
    fn record(&mut self, unit: &Append) {
        self.head = Some((unit.seq, unit.tx_time));
        self.claims.extend(unit.claims.iter().map(|c| c.claim_ref));
        self.assertions.extend(unit.assertions.iter().map(|a| a.assertion_ref));
        self.edges.extend(unit.edges.iter().map(|e| (e.from, e.to, e.kind)));
        for j in &unit.adjudications {
            let opened = Opened { challenger: j.challenger, incumbents: j.incumbents.clone(), open: true };
            self.adjudications.insert(j.handle, opened);
        }
        for s in &unit.status_changes {
            if let Some(opened) = self.adjudications.get_mut(&s.handle) {
                opened.open = false;
                opened.incumbents = Vec::new();
            }
        }
        if let Some(i) = &unit.idempotency {
            self.keys.insert(i.key.clone());
        }
    }
}

/// Checks units one at a time, each agent's in seq order (agents may interleave).
#[derive(Debug)]
pub(crate) struct Checker {
    limits: Limits,
    agents: BTreeMap<AgentId, AgentState>,
    units: u64,
}

impl Checker {
    pub(crate) fn new(limits: Limits) -> Checker {
        Checker { limits, agents: BTreeMap::new(), units: 0 }
    }

    /// The agents seen so far, sorted bytewise.
    pub(crate) fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.keys()
    }

    /// How many agents were seen.
    pub(crate) fn agent_count(&self) -> u64 {
        u64::try_from(self.agents.len()).unwrap_or(u64::MAX)
    }

    /// How many units passed.
    pub(crate) fn units(&self) -> u64 {
        self.units
    }

    /// Checks `agent`'s next unit against every rule and, when it passes, remembers what
    /// later units may refer to.
    pub(crate) fn check(&mut self, agent: &AgentId, unit: &Append) -> Checked {
        let limits = self.limits;
        let state = self.agents.entry(agent.clone()).or_default();
        UnitCheck::new(agent, unit, state, limits).run().map_err(|v| Violation {
            rule: v.rule,
            reason: format!("agent {:?} unit seq {}: {}", agent.as_str(), unit.seq, v.reason),
        })?;
        state.record(unit);
        self.units += 1;
        Ok(())
    }
}
