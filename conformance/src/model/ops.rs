//! The random operations of the model-based tests, their strategies, and how each one is
//! applied to an engine.

use std::fmt::Debug;
use std::mem::Discriminant;
use std::time::Duration;

use credence_core::serde_json::Value;
use credence_core::{
    AdjudicationOutcome, AsOf, ClaimEngine, ClaimRef, Clock, Criticality, EngineConfig, Error, Granularity,
    Handle, IngestRequest, Provenance, SweepReport, Timestamp, ValidTime, Verdict, WriteReceipt,
};
use proptest::sample::Index;

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
    /// The `index`-th one the operation's agent got so far (modulo how many); unknown when none.
    Own(Index),
    /// The `index`-th one any agent got so far (often another agent's).
    Any(Index),
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
    /// An idempotency key `k0`–`k2` (few, so keys repeat: replays and reuses happen).
    pub key: Option<u8>,
}

/// One operation of a scenario.
#[derive(Clone, Debug)]
pub(super) enum Op {
    /// `ingest`.
    Ingest(Ingest),
    /// `resolve` in favour of an earlier (or unknown) claim, on that claim's own line (`None`)
    /// or on another one.
    Resolve { agent: &'static str, line: Option<(&'static str, &'static str)>, winner: Pick },
    /// `invalidate`.
    Invalidate { agent: &'static str, target: Pick },
    /// `reinstate`.
    Reinstate { agent: &'static str, target: Pick },
    /// `submit_adjudication` on an earlier (or unknown) handle.
    Adjudicate { agent: &'static str, handle: Pick, verdict: Verdict, evidence: Provenance },
    /// `sweep(now + ahead)`.
    Sweep { ahead: Step },
    /// Repeats the latest earlier `Ingest` (nothing when there is none): re-entry bursts,
    /// corroborations and identical retries.
    Again,
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

/// A claim some operation stored, with its agent and line.
#[derive(Clone, Copy, Debug)]
pub(super) struct KnownClaim {
    pub agent: &'static str,
    pub subject: &'static str,
    pub predicate: &'static str,
    pub claim: ClaimRef,
}

/// Claims, handles and instants seen so far (from the reference engine's answers).
#[derive(Debug, Default)]
pub(super) struct Known {
    pub claims: Vec<KnownClaim>,
    pub handles: Vec<(&'static str, Handle)>,
    pub times: Vec<Timestamp>,
}

/// Picks from `all` (or from the entries of `agent`) by a [`Pick`].
fn choose<T: Copy>(all: &[T], of: impl Fn(&T) -> &'static str, agent: &str, pick: Pick) -> Option<T> {
    let pool: Vec<T> = match pick {
        Pick::Own(_) => all.iter().filter(|t| of(t) == agent).copied().collect(),
        Pick::Any(_) => all.to_vec(),
        Pick::Unknown => return None,
    };
    match pick {
        Pick::Own(i) | Pick::Any(i) if !pool.is_empty() => Some(pool[i.index(pool.len())]),
        _ => None,
    }
}

impl Known {
    /// The claim a pick names for an operation of `agent`.
    pub(super) fn claim(&self, agent: &str, pick: Pick) -> ClaimRef {
        self.known_claim(agent, pick).map_or_else(unknown_claim, |k| k.claim)
    }

    fn known_claim(&self, agent: &str, pick: Pick) -> Option<KnownClaim> {
        choose(&self.claims, |k| k.agent, agent, pick)
    }

    fn handle(&self, agent: &str, pick: Pick) -> Handle {
        choose(&self.handles, |h| h.0, agent, pick).map_or_else(unknown_handle, |h| h.1)
    }

    /// True when some earlier answer named `claim`.
    pub(super) fn has(&self, claim: ClaimRef) -> bool {
        self.claims.iter().any(|k| k.claim == claim)
    }

    /// Records the claims and handles an answer to `op` names, and its tx_time.
    pub(super) fn learn(&mut self, op: &Op, outcome: &Outcome) {
        let (Op::Ingest(i), Outcome::Receipt(r)) = (op, outcome) else { return };
        if let Some(claim) = r.claim_ref.filter(|&c| r.seq.is_some() && !self.has(c)) {
            self.claims.push(KnownClaim {
                agent: i.agent,
                subject: i.subject,
                predicate: i.predicate,
                claim,
            });
        }
        if let Some(h) = r.handle {
            self.handles.push((i.agent, h));
        }
        self.times.extend(r.tx_time);
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
            Op::Resolve { agent, line, winner } => {
                let target = known.known_claim(agent, *winner);
                let (subject, predicate) =
                    line.or(target.map(|k| (k.subject, k.predicate))).unwrap_or((SUBJECTS[0], PREDICATES[0]));
                receipt(e.resolve(agent, subject, predicate, known.claim(agent, *winner)))
            }
            Op::Invalidate { agent, target } => {
                receipt(e.invalidate(agent, known.claim(agent, *target), "model test"))
            }
            Op::Reinstate { agent, target } => receipt(e.reinstate(agent, known.claim(agent, *target))),
            Op::Adjudicate { agent, handle, verdict, evidence } => e
                .submit_adjudication(agent, known.handle(agent, *handle), *verdict, *evidence)
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
            Op::Again => Outcome::Nothing,
        }
    }
}

impl Op {
    /// The agent a write operation is for (`None` for sweeps and clock or oracle changes).
    pub(super) fn agent(&self) -> Option<&'static str> {
        match self {
            Op::Ingest(i) => Some(i.agent),
            Op::Resolve { agent, .. }
            | Op::Invalidate { agent, .. }
            | Op::Reinstate { agent, .. }
            | Op::Adjudicate { agent, .. } => Some(agent),
            Op::Sweep { .. } | Op::Again | Op::Advance(_) | Op::OracleDown(_) => None,
        }
    }
}

impl Ingest {
    fn request(&self, known: &Known) -> IngestRequest {
        let mut req = IngestRequest::new(self.agent, self.subject, self.predicate, self.value.clone())
            .with_provenance(self.provenance)
            .with_confidence(self.confidence)
            .with_criticality(self.criticality)
            .derived_from(self.derived_from.iter().map(|&p| known.claim(self.agent, p)))
            .depends_on(self.depends_on.iter().map(|&p| known.claim(self.agent, p)));
        if self.set_valued {
            req = req.set_valued();
        }
        if let Some(w) = self.window {
            req = req.with_valid_time(w.valid_time());
        }
        if let Some(k) = self.key {
            req = req.with_idempotency_key(format!("k{k}"));
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

/// The operation to run at position `n`: `ops[n]`, or for [`Op::Again`] the latest ingest
/// before it.
pub(super) fn effective(ops: &[Op], n: usize) -> &Op {
    match &ops[n] {
        Op::Again => ops[..n].iter().rev().find(|o| matches!(o, Op::Ingest(_))).unwrap_or(&ops[n]),
        op => op,
    }
}

/// Formats an `Err` as its shape, so results of two engines compare.
pub(super) fn shaped<T: Debug>(r: Result<T, Error>) -> Result<T, ErrorShape> {
    r.map_err(ErrorShape::from)
}
