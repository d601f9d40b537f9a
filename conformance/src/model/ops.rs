//! The random operations of the model-based tests, their strategies, and how each one is
//! applied to an engine.

use std::fmt::Debug;
use std::mem::Discriminant;
use std::time::Duration;

use credence_core::serde_json::{Value, json};
use credence_core::{
    AdjudicationOutcome, AsOf, ClaimEngine, ClaimRef, Clock, Criticality, EngineConfig, Error, Granularity,
    Handle, IngestRequest, Provenance, SweepReport, Timestamp, ValidTime, Verdict, WriteReceipt,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::Side;

/// The agents operations pick from; `""` is an invalid id, picked rarely.
pub(super) const AGENTS: [&str; 3] = ["agent-a", "agent-b", ""];
/// The subjects operations pick from.
pub(super) const SUBJECTS: [&str; 2] = ["alice", "bob"];
/// The predicates operations pick from.
pub(super) const PREDICATES: [&str; 2] = ["employer", "city"];

const MINUTE: i64 = 60 * 1_000_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// How far the clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// One microsecond.
    Micro,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// Ten days.
    TenDays,
    /// A month (30 days).
    Month,
    /// A quarter (91 days).
    Quarter,
}

impl Step {
    pub(super) fn micros(self) -> i64 {
        match self {
            Step::Micro => 1,
            Step::Minute => MINUTE,
            Step::Hour => 60 * MINUTE,
            Step::Day => DAY,
            Step::TenDays => 10 * DAY,
            Step::Month => 30 * DAY,
            Step::Quarter => 91 * DAY,
        }
    }
}

/// An earlier claim (or handle) by position among those seen so far, or one nobody minted.
#[derive(Clone, Copy, Debug)]
pub(super) enum Pick {
    /// The `index`-th one seen so far (modulo how many there are); unknown when none yet.
    Earlier(Index),
    /// A ref that was never minted.
    Unknown,
}

/// A valid-time window drawn from a few distinct years, so successions and overlaps happen.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub start: Option<i32>,
    pub end: Option<i32>,
    pub confidence: f32,
    pub granularity: Option<Granularity>,
}

impl Window {
    fn valid_time(self) -> ValidTime {
        let at = |y: i32| Timestamp::from_ymd(y, 1, 1).expect("January 1st is a valid date");
        ValidTime {
            start: self.start.map(at),
            end: self.end.map(at),
            confidence: self.confidence,
            start_granularity: self.granularity,
            end_granularity: self.end.and(self.granularity),
        }
    }
}

/// One ingest request, in pool terms.
#[derive(Clone, Debug)]
pub(super) struct Ingest {
    pub agent: &'static str,
    pub subject: &'static str,
    pub predicate: &'static str,
    pub value: Value,
    pub provenance: Provenance,
    pub set_valued: bool,
    pub confidence: f32,
    pub criticality: Criticality,
    pub window: Option<Window>,
    pub derived_from: Vec<Pick>,
    pub depends_on: Vec<Pick>,
}

/// One operation of a scenario.
#[derive(Clone, Debug)]
pub(super) enum Op {
    /// `ingest`.
    Ingest(Ingest),
    /// `resolve` of a line in favour of an earlier (or unknown) claim.
    Resolve { agent: &'static str, subject: &'static str, predicate: &'static str, winner: Pick },
    /// `invalidate`.
    Invalidate { agent: &'static str, target: Pick },
    /// `reinstate`.
    Reinstate { agent: &'static str, target: Pick },
    /// `submit_adjudication` on an earlier (or unknown) handle.
    Adjudicate { agent: &'static str, handle: Pick, verdict: Verdict, evidence: Provenance },
    /// `sweep(now + ahead)`.
    Sweep { ahead: Step },
    /// Moves both clocks.
    Advance(Step),
    /// Makes both oracles fail (or succeed again).
    OracleDown(bool),
}

/// Engine settings shared by both sides of a scenario.
#[derive(Clone, Copy, Debug)]
pub(super) struct Setup {
    pub oracle: bool,
    pub ttl: Option<Step>,
    pub burst_threshold: u32,
    pub id_seed: u64,
}

impl Setup {
    pub(super) fn config(&self) -> EngineConfig {
        EngineConfig {
            quarantine_burst_threshold: self.burst_threshold,
            adjudication_ttl: self
                .ttl
                .map(|s| Duration::from_micros(u64::try_from(s.micros()).expect("steps are positive"))),
            ..EngineConfig::default()
        }
    }
}

/// A transaction-time pin for the final reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum AsOfPick {
    /// Now.
    Now,
    /// A seq between 0 and the agent's head + 1.
    Seq(Index),
    /// One of the instants seen during the run, shifted by -1, 0 or +1 µs.
    Time(Index, i64),
}

/// One point the final reads are taken at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    pub as_of: AsOfPick,
    pub valid_at: Option<i32>,
}

/// A whole generated case.
#[derive(Clone, Debug)]
pub(super) struct Scenario {
    pub setup: Setup,
    pub ops: Vec<Op>,
    pub probes: Vec<Probe>,
    pub audit_page: usize,
}

/// What one operation answered, in a form two engines can be compared on.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Outcome {
    Receipt(WriteReceipt),
    Verdict(AdjudicationOutcome),
    Sweep(SweepReport),
    Failed(ErrorShape),
    Nothing,
}

/// An error's variant and message.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ErrorShape {
    pub variant: Discriminant<Error>,
    pub text: String,
}

impl From<Error> for ErrorShape {
    fn from(e: Error) -> Self {
        ErrorShape { variant: std::mem::discriminant(&e), text: e.to_string() }
    }
}

/// Claims, handles and instants seen so far (from the reference engine's answers).
#[derive(Debug, Default)]
pub(super) struct Known {
    pub claims: Vec<ClaimRef>,
    pub handles: Vec<Handle>,
    pub times: Vec<Timestamp>,
}

impl Known {
    pub(super) fn claim(&self, pick: Pick) -> ClaimRef {
        match pick {
            Pick::Earlier(i) if !self.claims.is_empty() => self.claims[i.index(self.claims.len())],
            _ => unknown_claim(),
        }
    }

    fn handle(&self, pick: Pick) -> Handle {
        match pick {
            Pick::Earlier(i) if !self.handles.is_empty() => self.handles[i.index(self.handles.len())],
            _ => unknown_handle(),
        }
    }

    /// Records the claims, handles and times an answer names.
    pub(super) fn learn(&mut self, outcome: &Outcome) {
        if let Outcome::Receipt(r) = outcome {
            if let Some(c) = r.claim_ref.filter(|c| !self.claims.contains(c)) {
                self.claims.push(c);
            }
            if let Some(h) = r.handle.filter(|h| !self.handles.contains(h)) {
                self.handles.push(h);
            }
            self.times.extend(r.tx_time);
        }
    }

    /// The instant an [`AsOfPick::Time`] names.
    pub(super) fn time(&self, i: Index, shift: i64) -> Timestamp {
        let base =
            if self.times.is_empty() { crate::start_time() } else { self.times[i.index(self.times.len())] };
        base.plus_micros(shift)
    }
}

/// The claim ref or handle nobody minted, as a string.
const UNKNOWN: &str = "0bad0000-0000-4000-8000-000000000001";

fn unknown_claim() -> ClaimRef {
    UNKNOWN.parse().expect("UNKNOWN is a well-formed UUID")
}

fn unknown_handle() -> Handle {
    UNKNOWN.parse().expect("UNKNOWN is a well-formed UUID")
}

impl Op {
    /// Applies the operation to one side.
    pub(super) fn apply(&self, side: &Side, known: &Known) -> Outcome {
        let e = &side.engine;
        let receipt =
            |r: Result<WriteReceipt, Error>| r.map_or_else(|e| Outcome::Failed(e.into()), Outcome::Receipt);
        match self {
            Op::Ingest(i) => receipt(e.ingest(i.request(known))),
            Op::Resolve { agent, subject, predicate, winner } => {
                receipt(e.resolve(agent, subject, predicate, known.claim(*winner)))
            }
            Op::Invalidate { agent, target } => {
                receipt(e.invalidate(agent, known.claim(*target), "model test"))
            }
            Op::Reinstate { agent, target } => receipt(e.reinstate(agent, known.claim(*target))),
            Op::Adjudicate { agent, handle, verdict, evidence } => e
                .submit_adjudication(agent, known.handle(*handle), *verdict, *evidence)
                .map_or_else(|e| Outcome::Failed(e.into()), Outcome::Verdict),
            Op::Sweep { ahead } => e
                .sweep(side.clock.now().plus_micros(ahead.micros()))
                .map_or_else(|e| Outcome::Failed(e.into()), Outcome::Sweep),
            Op::Advance(step) => {
                side.clock.advance_micros(step.micros());
                Outcome::Nothing
            }
            Op::OracleDown(down) => {
                side.oracle.set_failing(*down);
                Outcome::Nothing
            }
        }
    }
}

impl Ingest {
    fn request(&self, known: &Known) -> IngestRequest {
        let mut req = IngestRequest::new(self.agent, self.subject, self.predicate, self.value.clone())
            .with_provenance(self.provenance)
            .with_confidence(self.confidence)
            .with_criticality(self.criticality)
            .derived_from(self.derived_from.iter().map(|&p| known.claim(p)))
            .depends_on(self.depends_on.iter().map(|&p| known.claim(p)));
        if self.set_valued {
            req = req.set_valued();
        }
        if let Some(w) = self.window {
            req = req.with_valid_time(w.valid_time());
        }
        req
    }
}

/// The as-of point a pick names for an agent whose head is `head`.
pub(super) fn as_of(pick: AsOfPick, head: u64, known: &Known) -> AsOf {
    match pick {
        AsOfPick::Now => AsOf::Now,
        AsOfPick::Seq(i) => {
            AsOf::Seq(u64::try_from(i.index(usize::try_from(head).unwrap_or(0) + 2)).unwrap_or(0))
        }
        AsOfPick::Time(i, shift) => AsOf::Time(known.time(i, shift)),
    }
}

/// January 1st of `year`.
pub(super) fn year(year: i32) -> Timestamp {
    Timestamp::from_ymd(year, 1, 1).expect("January 1st is a valid date")
}

fn agent() -> impl Strategy<Value = &'static str> {
    prop_oneof![12 => Just(AGENTS[0]), 8 => Just(AGENTS[1]), 1 => Just(AGENTS[2])]
}

fn step() -> impl Strategy<Value = Step> {
    select(vec![Step::Micro, Step::Minute, Step::Hour, Step::Day, Step::TenDays, Step::Month, Step::Quarter])
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![6 => any::<Index>().prop_map(Pick::Earlier), 1 => Just(Pick::Unknown)]
}

fn parents() -> impl Strategy<Value = Vec<Pick>> {
    prop_oneof![10 => Just(Vec::new()), 4 => vec(pick(), 1..=1), 1 => vec(pick(), 2..=2)]
}

fn provenance() -> impl Strategy<Value = Provenance> {
    prop_oneof![
        4 => Just(Provenance::USER),
        4 => Just(Provenance::FIRST_HAND),
        2 => Just(Provenance::RecallReEntry),
        2 => Just(Provenance::ModelDerived),
    ]
}

fn window() -> impl Strategy<Value = Window> {
    let year = select(vec![2020, 2023, 2025, 2026, 2027]);
    let confidence = prop_oneof![8 => select(vec![1.0f32, 0.9, 0.7, 0.69, 0.2]), 1 => Just(1.5f32)];
    let granularity = option::of(select(vec![
        Granularity::Year,
        Granularity::Month,
        Granularity::Day,
        Granularity::Instant,
    ]));
    (option::weighted(0.85, year.clone()), option::weighted(0.5, year), confidence, granularity)
        .prop_map(|(start, end, confidence, granularity)| Window { start, end, confidence, granularity })
}

fn ingest() -> impl Strategy<Value = Op> {
    let value = select(vec![json!("a"), json!("b"), json!(1), json!(1.0), json!(true)]);
    let confidence = prop_oneof![20 => select(vec![1.0f32, 0.9, 0.5, 0.3, 0.29, 0.0]), 1 => Just(1.5f32)];
    let criticality =
        select(vec![Criticality::Low, Criticality::Medium, Criticality::High, Criticality::Critical]);
    (
        (agent(), select(SUBJECTS.to_vec()), select(PREDICATES.to_vec()), value, provenance()),
        (prop::bool::weighted(0.2), confidence, criticality, option::weighted(0.45, window())),
        (parents(), parents()),
    )
        .prop_map(
            |(
                (agent, subject, predicate, value, provenance),
                (set_valued, confidence, criticality, window),
                (derived_from, depends_on),
            )| {
                Op::Ingest(Ingest {
                    agent,
                    subject,
                    predicate,
                    value,
                    provenance,
                    set_valued,
                    confidence,
                    criticality,
                    window,
                    derived_from,
                    depends_on,
                })
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let verdict = select(vec![Verdict::Affirm, Verdict::Deny, Verdict::Unknown]);
    prop_oneof![
        14 => ingest(),
        4 => step().prop_map(Op::Advance),
        2 => (agent(), select(SUBJECTS.to_vec()), select(PREDICATES.to_vec()), pick())
            .prop_map(|(agent, subject, predicate, winner)| Op::Resolve { agent, subject, predicate, winner }),
        2 => (agent(), pick()).prop_map(|(agent, target)| Op::Invalidate { agent, target }),
        2 => (agent(), pick()).prop_map(|(agent, target)| Op::Reinstate { agent, target }),
        3 => (agent(), pick(), verdict, provenance())
            .prop_map(|(agent, handle, verdict, evidence)| Op::Adjudicate { agent, handle, verdict, evidence }),
        1 => step().prop_map(|ahead| Op::Sweep { ahead }),
        1 => any::<bool>().prop_map(Op::OracleDown),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    let as_of = prop_oneof![
        1 => Just(AsOfPick::Now),
        3 => any::<Index>().prop_map(AsOfPick::Seq),
        2 => (any::<Index>(), -1i64..=1).prop_map(|(i, s)| AsOfPick::Time(i, s)),
    ];
    (as_of, option::weighted(0.4, select(vec![2019, 2021, 2024, 2025, 2026, 2027])))
        .prop_map(|(as_of, valid_at)| Probe { as_of, valid_at })
}

/// Whole scenarios: settings, 1–40 operations, 3–6 probes and an audit page size.
pub(super) fn scenario() -> impl Strategy<Value = Scenario> {
    let setup = (
        prop::bool::weighted(0.5),
        option::weighted(0.4, select(vec![Step::Hour, Step::Day, Step::Month])),
        select(vec![2u32, 10]),
        1u64..4,
    )
        .prop_map(|(oracle, ttl, burst_threshold, id_seed)| Setup {
            oracle,
            ttl,
            burst_threshold,
            id_seed,
        });
    (setup, vec(op(), 1..40), vec(probe(), 3..=6), select(vec![1usize, 3, 100]))
        .prop_map(|(setup, ops, probes, audit_page)| Scenario { setup, ops, probes, audit_page })
}

/// Formats an `Err` as its shape, so results of two engines compare.
pub(super) fn shaped<T: Debug>(r: Result<T, Error>) -> Result<T, ErrorShape> {
    r.map_err(ErrorShape::from)
}
