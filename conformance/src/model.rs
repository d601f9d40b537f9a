//! Model-based property tests (SPEC §7): random operation sequences applied to a backend and
//! to the `memory:` reference must give identical observable results.
//!
//! Each generated case builds two engines with the same settings — a [`ManualClock`] at
//! [`start_time`], [`SequentialIds`] with the same seed, the same
//! [`RecordingOracle`] setup (an oracle is configured in about half the cases, sometimes with an
//! adjudication TTL) — one over a fresh store from the backend's [`Factory`], one over a
//! [`MemoryLedger`]. Both get the same operations: ingests with every provenance, small value
//! pools (so conflicts and corroborations happen), Functional and SetValued lines, confidences
//! below the floor, valid-time windows from a few distinct years (trusted, untrusted,
//! incoherent), parents referring to earlier claims (and unknown ones), resolve, invalidate,
//! reinstate, verdicts on known and unknown handles, sweeps, clock steps from a microsecond to a
//! quarter, and oracle outages. After every operation the answers must be equal (the whole
//! receipt, or the error's variant and message); at the end `recall`, `history` and `subject`
//! of every line at random transaction-time and valid-time points, every agent's full audit
//! trail (all pages, both directions, per claim), `lineage`, `pending`, `agents` and the
//! requests the oracle saw must be equal too.
//!
//! A second property, [`check_invariants`], runs the same scenarios on the backend alone and
//! checks what must hold without a reference: per-agent seq gap-free with strictly increasing
//! tx_time, `history(..).current() == recall(..)`, exactly one ClaimCommitted entry per stored
//! claim in its own unit, only the dispositions the SPEC allows per operation, no panic.
//!
//! A third-party backend gets both through [`conformance_tests!`](crate::conformance_tests)
//! (tests `model_tests::model_matches_reference` and
//! `model_tests::invariants_hold_on_random_operation_sequences`) or calls them directly:
//!
//! ```ignore
//! #[test]
//! fn my_backend_matches_the_reference() {
//!     credence_conformance::model::check_against_model(&MyFactory, 64);
//! }
//! ```
//!
//! `PROPTEST_CASES` overrides the case count. A failure panics with the shrunk, minimal
//! operation sequence and the first difference, and its seed is appended to
//! [`MODEL_REGRESSIONS`] (`proptest-regressions/credence-model.txt` under the test's working
//! directory, i.e. the crate being tested); commit that file so the case is replayed first from
//! then on. [`check_against_model_with`] and [`runner_config`] take another configuration.

mod invariants;
mod ops;
mod strategy;

use std::fmt::Debug;
use std::sync::Arc;

use credence_core::ledger::Span;
use credence_core::{
    AsOf, AuditPage, AuditQuery, ClaimEngine, ClaimRef, Clock, Engine, EngineConfig, Error, ManualClock,
    MemoryLedger, RecallQuery, SequentialIds,
};
use proptest::test_runner::{Config, FailurePersistence, FileFailurePersistence, TestCaseError, TestRunner};

pub use invariants::{INVARIANT_REGRESSIONS, check_invariants, check_invariants_with};
use ops::{AGENTS, Known, PREDICATES, SUBJECTS, Scenario, Setup, as_of, effective, shaped, year};
use strategy::scenario;

use crate::{DynLedger, Factory, RecordingOracle, start_time};

/// The case count the conformance macro uses; `PROPTEST_CASES` overrides it.
pub const DEFAULT_CASES: u32 = 64;

/// Most audit pages one agent may produce before the read is declared endless.
const MAX_AUDIT_PAGES: usize = 100_000;

/// One engine of a comparison, with the clock and oracle it was built with.
struct Side {
    engine: Engine<DynLedger>,
    clock: Arc<ManualClock>,
    oracle: Arc<RecordingOracle>,
}

impl Side {
    fn new(ledger: DynLedger, setup: &Setup) -> Result<Side, String> {
        let clock = Arc::new(ManualClock::new(start_time()));
        let oracle = Arc::new(RecordingOracle::default());
        let mut builder = Engine::builder(ledger)
            .config(setup.config())
            .clock(clock.clone())
            .ids(Arc::new(SequentialIds::new(setup.id_seed)));
        if setup.oracle {
            builder = builder.oracle(oracle.clone());
        }
        let engine = builder.build().map_err(|e| format!("the engine could not be built: {e}"))?;
        Ok(Side { engine, clock, oracle })
    }

    /// The agent's newest seq (0 when it has none or the read fails).
    fn head(&self, agent: &str) -> u64 {
        let q = AuditQuery { limit: 1, newest_first: true, ..AuditQuery::default() };
        self.engine.audit(agent, &q).ok().and_then(|p| p.entries.first().map(|e| e.seq)).unwrap_or(0)
    }

    /// Every page of an agent's audit trail.
    fn audit_pages(
        &self,
        agent: &str,
        claim_ref: Option<ClaimRef>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<AuditPage>, Error> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = self.engine.audit(agent, &AuditQuery { claim_ref, after, limit, newest_first })?;
            after = page.next;
            pages.push(page);
            if after.is_none() || pages.len() >= MAX_AUDIT_PAGES {
                return Ok(pages);
            }
        }
    }
}

/// Where [`check_against_model`] saves failing seeds, relative to the test's working directory.
pub const MODEL_REGRESSIONS: &str = "proptest-regressions/credence-model.txt";

/// Runs `cases` random scenarios (`PROPTEST_CASES` overrides) against the factory's backend and
/// the `memory:` reference, each on a fresh store, and panics with the minimal failing
/// operation sequence if any observable answer differs. Failing seeds are saved to
/// [`MODEL_REGRESSIONS`] and replayed first on later runs.
pub fn check_against_model(f: &dyn Factory, cases: u32) {
    check_against_model_with(f, runner_config(cases, Some(MODEL_REGRESSIONS)));
}

/// [`check_against_model`] with a runner configuration of your own (case count, shrinking
/// limits, where failures are saved).
pub fn check_against_model_with(f: &dyn Factory, config: Config) {
    run(f, config, "differs from the memory: reference", compare);
}

/// The configuration the checks use: `cases` cases unless `PROPTEST_CASES` says otherwise, and
/// failing seeds appended to `regressions` (a path relative to the working directory, which
/// `cargo test` sets to the tested crate's root), or kept nowhere for `None`. A missing file
/// reads as "no saved failures"; a file that cannot be written only prints a warning.
pub fn runner_config(cases: u32, regressions: Option<&'static str>) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    let persistence: Box<dyn FailurePersistence> = match regressions {
        Some(path) => Box::new(FileFailurePersistence::Direct(path)),
        None => Box::new(FileFailurePersistence::Off),
    };
    Config { cases, failure_persistence: Some(persistence), source_file: None, ..Config::default() }
}

fn run(
    f: &dyn Factory,
    config: Config,
    what: &str,
    property: fn(&dyn Factory, &Scenario) -> Result<(), String>,
) {
    if let Some(why) = f.unavailable() {
        // As `run_case` does: a backend that cannot be tested here skips, visibly.
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED model check on {}: {why}", f.name());
        return;
    }
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&scenario(), |s| property(f, &s).map_err(TestCaseError::fail)) {
        panic!("backend {} {what}:\n{e}", f.name());
    }
}

/// One scenario on the backend and on the reference.
fn compare(f: &dyn Factory, s: &Scenario) -> Result<(), String> {
    let store = f.store().map_err(|e| format!("the factory could not make a store: {e}"))?;
    let sut = Side::new(store.ledger.clone(), &s.setup)?;
    let model = Side::new(Arc::new(MemoryLedger::new()), &s.setup)?;
    let backend = f.name();
    let mut known = Known::default();
    for n in 0..s.ops.len() {
        let op = effective(&s.ops, n);
        known.times.push(model.clock.now());
        let expected = op.apply(&model, &known);
        let actual = op.apply(&sut, &known);
        if expected != actual {
            return Err(format!("operation #{n} {op:?}\n  memory: {expected:?}\n  {backend}: {actual:?}"));
        }
        known.learn(op, &expected);
    }
    Pair { model: &model, sut: &sut, backend: &backend }.final_reads(s, &known)
}

/// The reference and the backend under test, read side by side.
struct Pair<'a> {
    model: &'a Side,
    sut: &'a Side,
    backend: &'a str,
}

impl Pair<'_> {
    /// Fails with both answers unless `read` answers the same on both sides.
    fn same<T: PartialEq + Debug>(
        &self,
        what: impl Fn() -> String,
        read: impl Fn(&Side) -> Result<T, Error>,
    ) -> Result<(), String> {
        let (expected, actual) = (shaped(read(self.model)), shaped(read(self.sut)));
        if expected == actual {
            Ok(())
        } else {
            Err(format!("{}\n  memory: {expected:?}\n  {}: {actual:?}", what(), self.backend))
        }
    }

    fn final_reads(&self, s: &Scenario, known: &Known) -> Result<(), String> {
        self.same(|| "agents()".into(), |side| side.engine.agents())?;
        self.same(|| "pending(None)".into(), |side| side.engine.pending(None))?;
        self.same(|| "oracle requests".into(), |side| Ok(side.oracle.requests()))?;
        for agent in AGENTS {
            self.agent_reads(s, known, agent)?;
        }
        Ok(())
    }

    fn agent_reads(&self, s: &Scenario, known: &Known, agent: &str) -> Result<(), String> {
        let head = self.model.head(agent);
        let page = s.audit_page;
        self.same(|| format!("pending({agent:?})"), |side| side.engine.pending(Some(agent)))?;
        for newest_first in [false, true] {
            self.same(
                || format!("audit({agent:?}, limit {page}, newest_first {newest_first}), all pages"),
                |side| side.audit_pages(agent, None, page, newest_first),
            )?;
        }
        for claim in known.claims.iter().map(|k| k.claim) {
            self.same(
                || format!("audit({agent:?}, claim {claim}, limit {page}), all pages"),
                |side| side.audit_pages(agent, Some(claim), page, false),
            )?;
            self.same(|| format!("lineage({agent:?}, {claim})"), |side| side.engine.lineage(agent, claim))?;
        }
        let points: Vec<(AsOf, Option<i32>)> = std::iter::once((AsOf::Now, None))
            .chain(s.probes.iter().map(|p| (as_of(p.as_of, head, known), p.valid_at)))
            .collect();
        for prefix in ["", "a"] {
            self.same(
                || format!("subjects({agent:?}, prefix {prefix:?}), pages of 1"),
                |side| {
                    let mut query = credence_core::SubjectsQuery {
                        prefix: Some(prefix.to_owned()),
                        ..credence_core::SubjectsQuery::new(agent, 1)
                    };
                    let mut pages = vec![side.engine.subjects(&query)?];
                    while let Some(after) = pages.last().and_then(|p| p.next.clone()) {
                        query.after = Some(after);
                        pages.push(side.engine.subjects(&query)?);
                    }
                    Ok(pages)
                },
            )?;
        }
        for text in ["alice", "a", "b", "1", "true", "0.0", "alice employer", "city b", "bob 1.0"] {
            for &(at, _) in &points {
                let query = credence_core::SearchQuery {
                    as_of: at,
                    ..credence_core::SearchQuery::new(agent, text, 3)
                };
                self.same(|| format!("search({query:?})"), |side| side.engine.search(&query))?;
            }
        }
        for subject in SUBJECTS {
            for &(at, valid) in &points {
                let valid_at = valid.map(year);
                self.same(
                    || format!("subject({agent:?}, {subject:?}, {at:?}, valid_at {valid_at:?})"),
                    |side| side.engine.subject(agent, subject, at, valid_at),
                )?;
            }
            for predicate in PREDICATES {
                // The live claims a backend may keep as an index equal the reference's fold.
                self.same(
                    || format!("live({agent:?}, {subject:?}, {predicate:?})"),
                    |side| {
                        let Ok(id) = credence_core::AgentId::new(agent) else { return Ok(Vec::new()) };
                        credence_core::ledger::read_with(side.engine.ledger(), &id, |view| {
                            view.live(subject, predicate)
                        })
                    },
                )?;
                self.same(
                    || format!("line_summary({agent:?}, {subject:?}, {predicate:?})"),
                    |side| {
                        let Ok(id) = credence_core::AgentId::new(agent) else {
                            return Ok(Default::default());
                        };
                        credence_core::ledger::read_with(side.engine.ledger(), &id, |view| {
                            view.line_summary(subject, predicate)
                        })
                    },
                )?;
                // A backend may answer more than the claims reaching a span; those it must.
                let spans = std::iter::once(Span::ALL)
                    .chain(points.iter().filter_map(|&(_, valid)| Some(Span::at(year(valid?)))));
                for span in spans {
                    let threshold = EngineConfig::default().valid_time_confidence_threshold;
                    self.same(
                        || format!("live_overlapping({agent:?}, {subject:?}, {predicate:?}, {span:?})"),
                        |side| {
                            let Ok(id) = credence_core::AgentId::new(agent) else { return Ok(Vec::new()) };
                            let reached =
                                credence_core::ledger::read_with(side.engine.ledger(), &id, |view| {
                                    view.live_overlapping(subject, predicate, span, threshold)
                                })?;
                            Ok(must_reach(reached, &span, threshold))
                        },
                    )?;
                }
                for seq in (0..=head + 1).step_by(usize::try_from(head / 6).unwrap_or(1).max(1)) {
                    let threshold = EngineConfig::default().valid_time_confidence_threshold;
                    let spans = [Span::ALL, Span::at(year(2024)), Span::at(year(2026))];
                    for span in spans {
                        self.same(
                            || format!("live_at({agent:?}, {subject:?}, {predicate:?}, {seq}, {span:?})"),
                            |side| {
                                let Ok(id) = credence_core::AgentId::new(agent) else {
                                    return Ok(Vec::new());
                                };
                                let reached =
                                    credence_core::ledger::read_with(side.engine.ledger(), &id, |view| {
                                        view.live_at(subject, predicate, seq, span, threshold)
                                    })?;
                                Ok(must_reach(reached, &span, threshold))
                            },
                        )?;
                    }
                }
                for &(at, valid) in &points {
                    let mut q = RecallQuery::new(agent, subject, predicate);
                    q.as_of = at;
                    q.valid_at = valid.map(year);
                    self.same(|| format!("recall({q:?})"), |side| side.engine.recall(&q))?;
                    self.same(
                        || format!("history({agent:?}, {subject:?}, {predicate:?}, {at:?})"),
                        |side| side.engine.history(agent, subject, predicate, at),
                    )?;
                    self.same(
                        || format!("history pages of 2 ({agent:?}, {subject:?}, {predicate:?}, {at:?})"),
                        |side| {
                            let mut query = credence_core::HistoryQuery {
                                as_of: at,
                                ..credence_core::HistoryQuery::new(agent, subject, predicate, 2)
                            };
                            let mut pages = vec![side.engine.history_page(&query)?];
                            while let Some(after) = pages.last().and_then(|p| p.next) {
                                query.after = Some(after);
                                pages.push(side.engine.history_page(&query)?);
                            }
                            Ok(pages)
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Of the live claims a backend answered for a span, those it must answer (a backend may answer
/// more): what two backends answer then compares.
fn must_reach(
    reached: Vec<credence_core::LiveClaim>,
    span: &Span,
    threshold: f32,
) -> Vec<credence_core::LiveClaim> {
    reached.into_iter().filter(|l| credence_core::liveness::reaches(&l.claim, span, threshold)).collect()
}
