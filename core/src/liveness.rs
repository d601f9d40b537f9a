//! Which claims are live (SPEC §3.2 step 2): a claim's state from its ledger entries and
//! assertions. The engine folds lines with it, and backends that keep the live claims of each
//! line as a derived index (see [`LedgerRead::live`](crate::LedgerRead::live)) derive that
//! index with it, so the two can never disagree. The rows of a line a ledger returns live here
//! too, so the ledger depends on this module and not the other way round; so do the pieces of
//! such indexes every backend derives alike: valid-time spans and what a span reaches, a
//! line's summary, the columns stored per live claim with its value key, and a claim's
//! stretches of liveness unit by unit.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::claim::{Cardinality, Claim, ValidTime};
use crate::ids::ClaimRef;
use crate::record::{Assertion, AssertionKind, Disposition, Event, LedgerEntry};
use crate::time::Timestamp;

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

/// A stretch of commit units `[from, to)` through which a claim was live with one
/// disposition (`to`: `None` while it still is), for backends that answer reads as of an
/// earlier unit from an index (see [`LedgerRead::live_at`](crate::LedgerRead::live_at)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// The unit from which it was live with `disposition`.
    pub from: u64,
    /// The first unit it no longer was (dead, or live with another disposition).
    pub to: Option<u64>,
    /// Its disposition throughout.
    pub disposition: Disposition,
}

/// The periods of one claim, folded from its marks (ordered by `(seq, index)`) and assertions
/// (ordered by `(seq, assertion_ref)`) unit by unit as [`claim_states`] folds them all: a new
/// period starts at each unit after which the claim is live with another disposition than
/// before, and one ends at each unit after which it is not.
pub fn periods(marks: &[StateMark], assertions: &[Assertion]) -> Vec<Period> {
    let mut seqs: Vec<u64> = marks.iter().map(|m| m.seq).chain(assertions.iter().map(|a| a.seq)).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut out: Vec<Period> = Vec::new();
    let (mut m, mut a) = (0, 0);
    let (mut disposition, mut bound): (Option<Disposition>, bool) = (None, false);
    for seq in seqs {
        while let Some(mark) = marks.get(m).filter(|mark| mark.seq <= seq) {
            if mark.event.is_state() {
                disposition = Some(mark.disposition);
            }
            m += 1;
        }
        while let Some(assertion) = assertions.get(a).filter(|x| x.seq <= seq) {
            bound = assertion.kind == AssertionKind::Bound;
            a += 1;
        }
        let now = disposition.filter(|d| d.is_live() && !bound);
        let open = out.last().filter(|p| p.to.is_none()).map(|p| p.disposition);
        if open == now {
            continue;
        }
        if let Some(last) = out.last_mut().filter(|p| p.to.is_none()) {
            last.to = Some(seq);
        }
        if let Some(disposition) = now {
            out.push(Period { from: seq, to: None, disposition });
        }
    }
    out
}

/// The unit of a claim's first DependentFlaggedPendingReview entry, if any (a claim is
/// flagged as of every unit from it on).
pub fn flagged_from(marks: &[StateMark]) -> Option<u64> {
    marks.iter().filter(|m| m.event == Event::DependentFlaggedPendingReview).map(|m| m.seq).min()
}

/// A half-open stretch of valid time `[start, end)`; a missing bound is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// The first instant in the span (`None`: -∞).
    pub start: Option<Timestamp>,
    /// The first instant after the span (`None`: +∞).
    pub end: Option<Timestamp>,
}

impl Span {
    /// All of valid time.
    pub const ALL: Span = Span { start: None, end: None };

    /// The span of one instant.
    pub fn at(t: Timestamp) -> Span {
        Span { start: Some(t), end: t.micros().checked_add(1).map(Timestamp) }
    }

    /// The span a window covers.
    pub fn of(window: &ValidTime) -> Span {
        Span { start: window.start, end: window.end }
    }

    /// The span a claim's window covers in valid time as drawn, trusted or not: a claim
    /// without a window covers all of it.
    pub fn of_claim(claim: &Claim) -> Span {
        claim.valid_time.as_ref().map_or(Span::ALL, Span::of)
    }

    /// True iff the two spans share an instant (the negation of [`ValidTime::disjoint`]).
    pub fn overlaps(&self, other: &Span) -> bool {
        let ends_before =
            |a: &Span, b: &Span| matches!((a.end, b.start), (Some(end), Some(start)) if end <= start);
        !ends_before(self, other) && !ends_before(other, self)
    }
}

/// True when a claim must be among the live claims a span reaches at a threshold
/// ([`LedgerRead::live_overlapping`](crate::LedgerRead::live_overlapping)): its window is not
/// trusted, or overlaps the span.
pub fn reaches(claim: &Claim, span: &Span, threshold: f32) -> bool {
    claim.trusted_window(threshold).is_none() || Span::of_claim(claim).overlaps(span)
}

/// What deciding an ingest needs to know about a whole line besides the claims its window
/// reaches (see [`LedgerRead::line_summary`](crate::LedgerRead::line_summary)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSummary {
    /// How many claims of the line are live.
    pub live: u64,
    /// How many of those are Functional (not SetValued).
    pub functional: u64,
    /// True iff no two live claims with different values have windows that overlap as drawn
    /// ([`Span::of_claim`], trust aside). When every live claim's window is trusted this is
    /// the clean succession of SPEC §2.2 step 9.
    pub clash_free: bool,
}

impl Default for LineSummary {
    /// The summary of a line without live claims.
    fn default() -> LineSummary {
        LineSummary { live: 0, functional: 0, clash_free: true }
    }
}

impl LineSummary {
    /// The summary of a line's live claims.
    pub fn of(live: &[&Claim]) -> LineSummary {
        LineSummary {
            live: live.len() as u64,
            functional: live.iter().filter(|c| c.cardinality == Cardinality::Functional).count() as u64,
            clash_free: different_values_never_overlap(live),
        }
    }
}

/// True when no two of `claims` with different values have overlapping spans
/// ([`Span::of_claim`]), in O(k log k): sorted by start, each span overlaps exactly the
/// earlier ones still open at its start; those all overlap each other, so they share one
/// value, and only that value and their furthest end need keeping. A span that ends no later
/// than it starts, `[s, e)` with `e ≤ s`, overlaps exactly the spans starting before `e` and
/// ending after `s`: it is checked at `e`, before the spans starting there, against the
/// spans open then, and joins nothing.
pub fn different_values_never_overlap(claims: &[&Claim]) -> bool {
    let mut spans: Vec<(Span, &Value)> = claims.iter().map(|c| (Span::of_claim(c), &c.value)).collect();
    let inverted = |s: &Span| matches!((s.start, s.end), (Some(start), Some(end)) if end <= start);
    spans.sort_by_key(|(s, _)| if inverted(s) { (s.end, false) } else { (s.start, true) });
    // The value of the spans open at the current start, and the furthest end among them.
    let mut open: Option<(&Value, Option<Timestamp>)> = None;
    for (span, value) in spans {
        if inverted(&span) {
            let reaches = open.is_some_and(|(open_value, end)| {
                open_value != value && end.is_none_or(|end| span.start.is_none_or(|s| end > s))
            });
            if reaches {
                return false;
            }
            continue;
        }
        let overlaps = open.is_some_and(|(_, end)| end.is_none_or(|end| span.start.is_none_or(|s| end > s)));
        open = match open {
            Some((open_value, end)) if overlaps => {
                if open_value != value {
                    return false;
                }
                Some((open_value, end.zip(span.end).map(|(a, b)| a.max(b))))
            }
            _ => Some((value, span.end)),
        };
    }
    true
}

/// How far from the epoch (either way, in microseconds, about 73 000 years) a window may
/// reach and still be indexed as [`IndexColumns::short`].
pub const SHORT_LIMIT: i64 = 1 << 61;

/// What a backend stores beside each live claim to find the ones a span reaches and to count
/// a line's clashes inside the database (see [`LedgerRead::live_overlapping`] and
/// [`LedgerRead::line_summary`]); derived from the claim alone.
///
/// [`LedgerRead::live_overlapping`]: crate::LedgerRead::live_overlapping
/// [`LedgerRead::line_summary`]: crate::LedgerRead::line_summary
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexColumns {
    /// [`value_key`] of the claim's value.
    pub value_key: [u8; 16],
    /// The window's start, `None` for -∞ (no window or no start).
    pub lo: Option<i64>,
    /// The window's end, `None` for +∞.
    pub hi: Option<i64>,
    /// The window's confidence when it has a start, else -1: the window is trusted at a
    /// threshold exactly when `trust >= threshold`.
    pub trust: f32,
    /// True when both ends are set and within [`SHORT_LIMIT`] of the epoch: such windows are
    /// found by start within the line's longest one (their length never overflows); the others
    /// — open, undated, or far out — are few and scanned whole.
    pub short: bool,
    /// True for a SetValued claim.
    pub set_valued: bool,
}

impl IndexColumns {
    /// The columns of a claim.
    pub fn of(claim: &Claim) -> IndexColumns {
        let span = Span::of_claim(claim);
        let (lo, hi) = (span.start.map(Timestamp::micros), span.end.map(Timestamp::micros));
        let near = |t: Option<i64>| t.is_some_and(|t| (-SHORT_LIMIT..=SHORT_LIMIT).contains(&t));
        IndexColumns {
            value_key: value_key(&claim.value),
            lo,
            hi,
            trust: claim.valid_time.filter(|w| w.start.is_some()).map_or(-1.0, |w| w.confidence),
            short: near(lo) && near(hi),
            set_valued: claim.cardinality == Cardinality::SetValued,
        }
    }
}

/// A key equal for two values exactly when the values are equal as the engine compares them
/// (`serde_json::Value` equality: object keys unordered, `0.0 == -0.0`, an integer never
/// equal to a float): the first 16 bytes of a SHA-256 over a canonical encoding. Backends
/// that compare values inside the database (a line's clashes) compare these.
pub fn value_key(value: &Value) -> [u8; 16] {
    fn feed(h: &mut Sha256, value: &Value) {
        match value {
            Value::Null => h.update([0]),
            Value::Bool(b) => h.update([1, u8::from(*b)]),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    h.update([2]);
                    h.update(u.to_be_bytes());
                } else if let Some(i) = n.as_i64() {
                    h.update([3]);
                    h.update(i.to_be_bytes());
                } else {
                    // Adding 0.0 turns -0.0 into 0.0, which it equals.
                    h.update([4]);
                    h.update((n.as_f64().unwrap_or(0.0) + 0.0).to_bits().to_be_bytes());
                }
            }
            Value::String(s) => {
                h.update([5]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            Value::Array(items) => {
                h.update([6]);
                h.update((items.len() as u64).to_be_bytes());
                items.iter().for_each(|v| feed(h, v));
            }
            Value::Object(map) => {
                h.update([7]);
                h.update((map.len() as u64).to_be_bytes());
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (k, v) in entries {
                    h.update((k.len() as u64).to_be_bytes());
                    h.update(k.as_bytes());
                    feed(h, v);
                }
            }
        }
    }
    let mut h = Sha256::new();
    feed(&mut h, value);
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::agent::AgentId;
    use crate::claim::{Criticality, Provenance};

    fn claim(n: u128, start: Option<i64>, len: Option<i64>, value: u8) -> Claim {
        Claim {
            claim_ref: ClaimRef(uuid::Uuid::from_u128(n)),
            agent_id: AgentId::new("a").unwrap_or_else(|e| panic!("{e}")),
            subject: "s".into(),
            predicate: "p".into(),
            value: json!(value),
            provenance: Provenance::FIRST_HAND,
            cardinality: Cardinality::Functional,
            confidence: 1.0,
            criticality: Criticality::Medium,
            valid_time: Some(ValidTime::new(
                start.map(Timestamp),
                len.map(|l| Timestamp(start.unwrap_or(0) + l)),
            )),
            tx_time: Timestamp(1_000_000),
            seq: 1,
            derived_from: Vec::new(),
            depends_on: Vec::new(),
        }
    }

    /// The definition the sweep replaces: every pair of different values is disjoint.
    fn pairwise(claims: &[&Claim]) -> bool {
        claims.iter().enumerate().all(|(i, c)| {
            claims[..i].iter().all(|o| o.value == c.value || !Span::of_claim(o).overlaps(&Span::of_claim(c)))
        })
    }

    proptest! {
        #[test]
        fn sweep_agrees_with_the_pairwise_definition(
            windows in proptest::collection::vec(
                (proptest::option::weighted(0.9, 0i64..40), proptest::option::weighted(0.8, -6i64..12), 0u8..3),
                0..12,
            )
        ) {
            let claims: Vec<Claim> = (0u128..)
                .zip(&windows)
                .map(|(i, &(start, len, value))| claim(i, start, len, value))
                .collect();
            let refs: Vec<&Claim> = claims.iter().collect();
            prop_assert_eq!(different_values_never_overlap(&refs), pairwise(&refs));
        }

        #[test]
        fn value_keys_are_equal_exactly_when_values_are(a in json_value(), b in json_value()) {
            prop_assert_eq!(value_key(&a) == value_key(&b), a == b);
            prop_assert_eq!(value_key(&a), value_key(&a.clone()));
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..3).prop_map(|n| json!(n)),
            (-2i64..0).prop_map(|n| json!(n)),
            prop_oneof![Just(0.0f64), Just(-0.0), Just(1.0), Just(0.5)].prop_map(|f| json!(f)),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[ab]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn periods_say_what_the_fold_says_as_of_every_unit(
            steps in proptest::collection::vec((1u64..4, 0u8..6), 0..16)
        ) {
            use crate::ids::AssertionRef;
            let r = ClaimRef(uuid::Uuid::from_u128(1));
            let (mut marks, mut assertions, mut seq) = (Vec::new(), Vec::new(), 1);
            for (i, &(gap, what)) in steps.iter().enumerate() {
                seq += gap / 3;
                let index = u32::try_from(i).unwrap_or(0);
                let mark = |event, disposition| StateMark { claim_ref: r, seq, index, event, disposition };
                match what {
                    0 => marks.push(mark(Event::ClaimCommitted, Disposition::CommittedCheap)),
                    1 => marks.push(mark(Event::Invalidated, Disposition::Invalidated)),
                    2 => marks.push(mark(Event::Reinstated, Disposition::Reinstated)),
                    3 => marks.push(mark(Event::DependentFlaggedPendingReview, Disposition::PendingReview)),
                    kind => assertions.push(Assertion {
                        assertion_ref: AssertionRef(uuid::Uuid::from_u128(u128::from(seq) * 100 + i as u128)),
                        target: r,
                        kind: if kind == 4 { AssertionKind::Bound } else { AssertionKind::Reopen },
                        at: Timestamp(0),
                        seq,
                    }),
                }
            }
            let found = periods(&marks, &assertions);
            for at in 0..=seq + 1 {
                let upto = |s: u64| s <= at;
                let state = claim_states(
                    &marks.iter().copied().filter(|m| upto(m.seq)).collect::<Vec<_>>(),
                    &assertions.iter().filter(|a| upto(a.seq)).cloned().collect::<Vec<_>>(),
                )
                .get(&r)
                .copied()
                .filter(|s| s.is_live())
                .map(|s| s.disposition);
                let period = found.iter().find(|p| p.from <= at && p.to.is_none_or(|to| at < to)).map(|p| p.disposition);
                prop_assert_eq!(period, state, "as of {}", at);
            }
        }
    }

    #[test]
    fn touching_windows_of_different_values_do_not_overlap_but_nested_ones_do() {
        let (a, b) = (claim(1, Some(0), Some(10), 1), claim(2, Some(10), Some(5), 2));
        assert!(different_values_never_overlap(&[&a, &b]));
        let (outer, inner, later) =
            (claim(3, Some(0), None, 1), claim(4, Some(20), Some(1), 1), claim(5, Some(30), Some(1), 2));
        // The open-ended window reaches the later one although the window before it does not.
        assert!(!different_values_never_overlap(&[&outer, &inner, &later]));
        // An empty window overlaps a window around it, not one starting or ending with it.
        let (empty, around, from) =
            (claim(6, Some(5), Some(0), 1), claim(7, Some(0), Some(10), 2), claim(8, Some(5), Some(3), 2));
        assert!(!different_values_never_overlap(&[&around, &empty]));
        assert!(different_values_never_overlap(&[&from, &empty]));
        // So does a window ending before it starts: one around both ends, not one from its end.
        let (inverted, at_end) = (claim(9, Some(8), Some(-4), 1), claim(10, Some(4), None, 2));
        assert!(!different_values_never_overlap(&[&around, &inverted]));
        assert!(different_values_never_overlap(&[&at_end, &inverted]));
    }

    #[test]
    fn a_claim_without_a_window_overlaps_every_other_value() {
        let (mut bare, dated) = (claim(1, None, None, 1), claim(2, Some(0), Some(1), 2));
        bare.valid_time = None;
        assert!(!different_values_never_overlap(&[&bare, &dated]));
        assert_eq!(
            LineSummary::of(&[&bare, &dated]),
            LineSummary { live: 2, functional: 2, clash_free: false }
        );
        assert!(Span::at(Timestamp(i64::MAX)).overlaps(&Span { start: Some(Timestamp(0)), end: None }));
    }
}
