//! Claims and their attributes (SPEC §1.2, §1.3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::AgentId;
use crate::ids::ClaimRef;
use crate::time::Timestamp;

/// Where a claim came from, fixed at ingest and never rewritten.
///
/// Wire form: one of the strings `"UserAsserted"`, `"FirstHand"`, `"RecallReEntry"`,
/// `"ModelDerived"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// A first-hand observation from outside the model.
    External(ExternalSource),
    /// The engine's own output coming back into the write path; never ground truth.
    RecallReEntry,
    /// A model inference: committed down-weighted, never overturns an External claim.
    ModelDerived,
}

/// The kinds of External provenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExternalSource {
    /// A first-hand human assertion.
    UserAsserted,
    /// A tool result or system of record.
    FirstHand,
}

impl Provenance {
    /// A human assertion.
    pub const USER: Provenance = Provenance::External(ExternalSource::UserAsserted);
    /// A tool result or system of record.
    pub const FIRST_HAND: Provenance = Provenance::External(ExternalSource::FirstHand);

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::External(ExternalSource::UserAsserted) => "UserAsserted",
            Provenance::External(ExternalSource::FirstHand) => "FirstHand",
            Provenance::RecallReEntry => "RecallReEntry",
            Provenance::ModelDerived => "ModelDerived",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Provenance> {
        Some(match s {
            "UserAsserted" => Provenance::USER,
            "FirstHand" => Provenance::FIRST_HAND,
            "RecallReEntry" => Provenance::RecallReEntry,
            "ModelDerived" => Provenance::ModelDerived,
            _ => return None,
        })
    }

    /// True for both External kinds.
    pub fn is_external(self) -> bool {
        matches!(self, Provenance::External(_))
    }
}

impl Serialize for Provenance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Provenance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Provenance::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown provenance {s:?}")))
    }
}

/// Whether a line holds one value at a time or a set of coexisting values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cardinality {
    /// One value at a time (the default).
    #[default]
    Functional,
    /// Values coexist.
    SetValued,
}

/// How much a claim matters. Surfaced in beliefs, never used for routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Criticality {
    /// Low.
    Low,
    /// Medium (the default).
    #[default]
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Display precision of a valid-time bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Granularity {
    /// A year.
    Year,
    /// A month.
    Month,
    /// A day.
    Day,
    /// An exact instant.
    Instant,
}

/// The valid-time window of a claim: half-open `[start, end)`, missing end = open.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidTime {
    /// Inclusive start, if known.
    pub start: Option<Timestamp>,
    /// Exclusive end; `None` = still valid.
    pub end: Option<Timestamp>,
    /// Confidence in the window itself, in [0, 1].
    pub confidence: f32,
    /// Display precision of `start`.
    pub start_granularity: Option<Granularity>,
    /// Display precision of `end`.
    pub end_granularity: Option<Granularity>,
}

impl ValidTime {
    /// A window `[start, end)` with full confidence and instant precision.
    pub fn new(start: Option<Timestamp>, end: Option<Timestamp>) -> ValidTime {
        ValidTime { start, end, confidence: 1.0, start_granularity: None, end_granularity: None }
    }

    /// The same window with another confidence.
    pub fn with_confidence(mut self, confidence: f32) -> ValidTime {
        self.confidence = confidence;
        self
    }

    /// True iff the window carries valid-time data: a start or an end. A window with neither
    /// is treated exactly as no window at all (SPEC §1.3).
    pub fn has_bounds(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }

    /// True iff the window is trusted: a start is present and confidence ≥ `threshold`.
    pub fn is_trusted(&self, threshold: f32) -> bool {
        self.start.is_some() && self.confidence >= threshold
    }

    /// True iff `t` lies in `[start, end)` (a missing start is treated as -∞).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t < e)
    }

    /// True iff the two half-open windows do not overlap.
    pub fn disjoint(&self, other: &ValidTime) -> bool {
        let ends_before = |a: &ValidTime, b: &ValidTime| match (a.end, b.start) {
            (Some(end), Some(start)) => end <= start,
            _ => false,
        };
        ends_before(self, other) || ends_before(other, self)
    }
}

/// One stored claim (SPEC §1.3). Never updated once written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Its id.
    pub claim_ref: ClaimRef,
    /// The agent it belongs to.
    pub agent_id: AgentId,
    /// What it is about.
    pub subject: String,
    /// Which property of the subject.
    pub predicate: String,
    /// The value (any JSON value; structural equality).
    pub value: Value,
    /// Where it came from.
    pub provenance: Provenance,
    /// Functional or SetValued.
    pub cardinality: Cardinality,
    /// Value confidence in [0, 1].
    pub confidence: f32,
    /// How much it matters.
    pub criticality: Criticality,
    /// Valid-time window, if any.
    pub valid_time: Option<ValidTime>,
    /// When it was written (engine-stamped).
    pub tx_time: Timestamp,
    /// The stream sequence number of the commit unit that wrote it.
    pub seq: u64,
    /// Claims it was derived from.
    pub derived_from: Vec<ClaimRef>,
    /// Claims it depends on.
    pub depends_on: Vec<ClaimRef>,
}

impl Claim {
    /// True iff the claim carries a trusted valid-time window.
    pub fn trusted_window(&self, threshold: f32) -> Option<&ValidTime> {
        self.valid_time.as_ref().filter(|w| w.is_trusted(threshold))
    }

    /// True iff this claim's and `window`'s windows are both trusted and do not overlap: the
    /// two follow each other in valid time (a succession), so they never contradict.
    pub fn succeeds_or_precedes(&self, window: Option<&ValidTime>, threshold: f32) -> bool {
        match (self.trusted_window(threshold), window.filter(|w| w.is_trusted(threshold))) {
            (Some(a), Some(b)) => a.disjoint(b),
            _ => false,
        }
    }

    /// True iff this live claim contradicts a claim holding `value` in `window`: another value,
    /// and not a trusted succession.
    pub fn contradicts(&self, value: &serde_json::Value, window: Option<&ValidTime>, threshold: f32) -> bool {
        self.value != *value && !self.succeeds_or_precedes(window, threshold)
    }

    /// The canonical ordering key of SPEC §3.1: `(key, tx_time, seq, claim_ref)`.
    pub fn canonical_key(&self, threshold: f32) -> (Timestamp, Timestamp, u64, ClaimRef) {
        let key = self.trusted_window(threshold).and_then(|w| w.start).unwrap_or(self.tx_time);
        (key, self.tx_time, self.seq, self.claim_ref)
    }
}
