//! Failure paths (SPEC §1.5, §2.1, §6): the backend's ledger wrapped in a
//! [`FailingLedger`] that fails chosen calls. A failed write must surface as a typed error,
//! persist nothing and consume no seq; a failed read must be an error, never a panic.

use std::sync::Arc;

use credence_core::{
    AuditQuery, BeliefStatus, ClaimEngine, Disposition, Engine, EngineConfig, Error, IngestRequest,
    Provenance, RecallQuery, Verdict,
};

use crate::faults::{FailingLedger, Fault};
use crate::{CaseError, CaseResult, DynLedger, Factory, Fixture, ensure, ensure_eq};

/// The fixture's store behind a [`FailingLedger`], and an engine with the fixture's settings on it.
struct Faulty {
    fx: Fixture,
    ledger: Arc<FailingLedger<DynLedger>>,
    engine: Engine<DynLedger>,
}

impl Faulty {
    fn new(f: &dyn Factory, oracle: bool) -> Result<Faulty, CaseError> {
        Faulty::build(f, EngineConfig::default(), oracle)
    }

    fn build(f: &dyn Factory, config: EngineConfig, oracle: bool) -> Result<Faulty, CaseError> {
        let fx = Fixture::build(f, config, oracle)?;
        let ledger = Arc::new(FailingLedger::new(fx.store.ledger.clone()));
        let engine = fx.engine_on(ledger.clone())?;
        Ok(Faulty { fx, ledger, engine })
    }

    /// Every audit entry of `agent`, read through the unwrapped ledger.
    fn entries(&self, agent: &str) -> Result<usize, CaseError> {
        let q = AuditQuery { limit: 100_000, ..AuditQuery::default() };
        Ok(self.fx.engine.audit(agent, &q)?.entries.len())
    }

    /// The agent's newest seq, read through the unwrapped ledger.
    fn head(&self, agent: &str) -> Result<u64, CaseError> {
        let q = AuditQuery { limit: 1, newest_first: true, ..AuditQuery::default() };
        Ok(self.fx.engine.audit(agent, &q)?.entries.first().map_or(0, |e| e.seq))
    }
}

fn claim(value: &str) -> IngestRequest {
    IngestRequest::new("a", "alice", "employer", value)
}

/// A write failing with Unavailable returns that retryable error, persists nothing, and the
/// retried write commits with the next seq and the same disposition.
pub fn write_failing_unavailable_is_retryable_and_persists_nothing(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, false)?;
    let first = t.engine.ingest(claim("Acme"))?;
    ensure_eq!(first.seq, Some(1));
    t.ledger.fail_writes(1, Fault::Unavailable);
    let err = match t.engine.ingest(claim("Globex")) {
        Err(e) => e,
        Ok(r) => return Err(CaseError::Failed(format!("the failed write was answered {r:?}"))),
    };
    ensure!(matches!(err, Error::Unavailable { .. }), "expected Unavailable, got {err}");
    ensure!(err.is_retryable(), "an injected Unavailable must be retryable: {err}");
    ensure_eq!(t.entries("a")?, 1, "entries after the failed write");
    let belief = t.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.value, Some("Acme".into()));
    let retry = t.engine.ingest(claim("Globex"))?;
    ensure_eq!(retry.seq, Some(2), "the retry takes the seq the failed write did not consume");
    ensure_eq!(retry.disposition, Disposition::Contested);
    ensure_eq!(retry.contested_with, vec![first.claim()]);
    Ok(())
}

/// A first write failing with a Backend error is not retryable and does not create the agent.
pub fn write_failing_backend_error_is_not_retryable_and_creates_no_agent(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, false)?;
    t.ledger.fail_writes(1, Fault::Backend);
    let err = match t.engine.ingest(claim("Acme")) {
        Err(e) => e,
        Ok(r) => return Err(CaseError::Failed(format!("the failed write was answered {r:?}"))),
    };
    ensure!(matches!(err, Error::Backend { .. }), "expected Backend, got {err}");
    ensure!(!err.is_retryable(), "a Backend error is not retryable: {err}");
    ensure_eq!(t.fx.engine.agents()?, Vec::<credence_core::AgentId>::new());
    ensure_eq!(t.engine.ingest(claim("Acme"))?.seq, Some(1));
    Ok(())
}

/// A commit that fails after the unit body ran persists none of the unit's rows and consumes
/// no seq.
pub fn commit_failure_after_unit_ran_persists_nothing_and_consumes_no_seq(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, true)?;
    let first = t.engine.ingest(claim("Acme"))?;
    t.ledger.fail_commits(1, Fault::Unavailable);
    let err = t.engine.ingest(claim("Globex")).err();
    ensure!(matches!(err, Some(Error::Unavailable { .. })), "expected Unavailable, got {err:?}");
    ensure_eq!(t.entries("a")?, 1, "entries after the failed commit");
    ensure_eq!(t.fx.engine.history("a", "alice", "employer", credence_core::AsOf::Now)?.entries.len(), 1);
    ensure_eq!(t.fx.engine.pending(Some("a"))?, Vec::new(), "no adjudication row survives the failed commit");
    ensure_eq!(
        t.fx.oracle()?.requests().len(),
        0,
        "the oracle is never told about an uncommitted challenger"
    );
    let retry = t.engine.ingest(claim("Globex"))?;
    ensure_eq!(retry.seq, Some(2));
    ensure_eq!(retry.disposition, Disposition::QueuedForAdjudication);
    ensure_eq!(retry.contested_with, vec![first.claim()]);
    Ok(())
}

/// Every write operation answers an error, never Ok, when its commit fails, and nothing of it
/// is persisted.
pub fn every_write_operation_fails_when_its_commit_fails(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, true)?;
    let acme = t.engine.ingest(claim("Acme"))?;
    let globex = t.engine.ingest(claim("Globex"))?;
    let Some(handle) = globex.handle else {
        return Err(CaseError::Failed(format!("a contradiction with an oracle was answered {globex:?}")));
    };
    let city = t.engine.ingest(IngestRequest::new("a", "alice", "city", "Paris"))?;
    t.engine.invalidate("a", city.claim(), "wrong")?;
    let before = (t.entries("a")?, t.head("a")?);
    type Write<'a> = (&'a str, Box<dyn Fn(&Engine<DynLedger>) -> Result<String, Error> + 'a>);
    let writes: Vec<Write<'_>> = vec![
        ("ingest", Box::new(|e| e.ingest(claim("Initech")).map(|r| format!("{r:?}")))),
        (
            "resolve",
            Box::new(|e| e.resolve("a", "alice", "employer", acme.claim()).map(|r| format!("{r:?}"))),
        ),
        ("invalidate", Box::new(|e| e.invalidate("a", acme.claim(), "x").map(|r| format!("{r:?}")))),
        ("reinstate", Box::new(|e| e.reinstate("a", city.claim()).map(|r| format!("{r:?}")))),
        (
            "submit_adjudication",
            Box::new(|e| {
                e.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)
                    .map(|o| format!("{o:?}"))
            }),
        ),
        // sweep answers Ok and lists the agents it could not finish in its report.
        (
            "sweep",
            Box::new(|e| {
                let r = e.sweep(days_ahead(&t, 400))?;
                match r.failed.first() {
                    Some(failure) => Err(Error::InvalidQuery { reason: failure.error.clone() }),
                    None => Ok(format!("{r:?}")),
                }
            }),
        ),
    ];
    for (fault_name, fail) in [("commit", true), ("write", false)] {
        for (name, write) in &writes {
            if fail {
                t.ledger.fail_commits(1, Fault::Backend);
            } else {
                t.ledger.fail_writes(1, Fault::Unavailable);
            }
            let answer = write(&t.engine);
            t.ledger.heal();
            ensure!(answer.is_err(), "{name} with a failing {fault_name} was answered Ok: {answer:?}");
            ensure_eq!((t.entries("a")?, t.head("a")?), before, "rows after the failed {name}");
        }
    }
    ensure_eq!(t.fx.engine.pending(Some("a"))?.len(), 1, "the adjudication is still pending");
    ensure_eq!(t.engine.ingest(claim("Initech"))?.seq, Some(before.1 + 1));
    Ok(())
}

/// `sweep` carries on past an agent whose storage fails: the other agents are swept, the
/// failing one is listed in the report's `failed` with nothing of it written, and the next
/// sweep finishes it.
pub fn sweep_carries_on_past_a_failing_agent(f: &dyn Factory) -> CaseResult {
    let ttl = std::time::Duration::from_secs(3600);
    let t = Faulty::build(f, EngineConfig { adjudication_ttl: Some(ttl), ..EngineConfig::default() }, true)?;
    for agent in ["a", "b"] {
        t.engine.ingest(IngestRequest::new(agent, "alice", "employer", "Acme"))?;
        let challenger = t.engine.ingest(IngestRequest::new(agent, "alice", "employer", "Globex"))?;
        ensure_eq!(challenger.disposition, Disposition::QueuedForAdjudication);
    }
    let before = (t.entries("a")?, t.head("a")?);
    // Agents are swept in `agents()` order, so the one failing write is agent "a"'s.
    t.ledger.fail_writes(1, Fault::Unavailable);
    let report = t.engine.sweep(days_ahead(&t, 400));
    t.ledger.heal();
    let report = report?;
    ensure_eq!(report.expired, 1, "agent b's row expires");
    ensure_eq!(report.failed.len(), 1, "failed agents: {:?}", report.failed);
    ensure_eq!(report.failed[0].agent.as_str(), "a");
    ensure!(report.failed[0].retryable, "an Unavailable failure is retryable: {:?}", report.failed[0]);
    ensure_eq!((t.entries("a")?, t.head("a")?), before, "rows of the failed agent");
    ensure_eq!(t.fx.engine.pending(Some("a"))?.len(), 1);
    ensure_eq!(t.fx.engine.pending(Some("b"))?.len(), 0);
    let again = t.engine.sweep(days_ahead(&t, 400))?;
    ensure_eq!((again.expired, again.failed.len()), (1, 0));
    ensure_eq!(t.fx.engine.pending(Some("a"))?.len(), 0);
    Ok(())
}

/// The fixture clock's now plus `days`.
fn days_ahead(t: &Faulty, days: i64) -> credence_core::Timestamp {
    credence_core::Clock::now(t.fx.clock.as_ref()).plus_micros(days * 86_400_000_000)
}

/// A verdict whose commit failed leaves the adjudication pending; the retried verdict applies.
pub fn failed_verdict_leaves_adjudication_pending_and_retry_applies(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, true)?;
    t.engine.ingest(claim("Acme"))?;
    let challenger = t.engine.ingest(claim("Globex"))?;
    let handle = challenger.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    t.ledger.fail_commits(1, Fault::Unavailable);
    let err = t.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER).err();
    ensure!(err.as_ref().is_some_and(Error::is_retryable), "expected a retryable error, got {err:?}");
    ensure_eq!(t.fx.engine.pending(Some("a"))?.len(), 1);
    let belief = t.fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.status, BeliefStatus::Contested);
    let outcome = t.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure_eq!(outcome.seq, 3);
    ensure_eq!(t.fx.engine.pending(Some("a"))?.len(), 0);
    let belief = t.fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.value, Some("Globex".into()));
    Ok(())
}

/// Every read operation surfaces a failing read as an error, and the next read succeeds.
pub fn read_failure_surfaces_as_error(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, false)?;
    let r = t.engine.ingest(claim("Acme"))?;
    type Read<'a> = (&'a str, Box<dyn Fn(&Engine<DynLedger>) -> Result<(), Error> + 'a>);
    let reads: Vec<Read<'_>> = vec![
        ("recall", Box::new(|e| e.recall(&RecallQuery::new("a", "alice", "employer")).map(drop))),
        ("history", Box::new(|e| e.history("a", "alice", "employer", credence_core::AsOf::Now).map(drop))),
        ("subject", Box::new(|e| e.subject("a", "alice", credence_core::AsOf::Now, None).map(drop))),
        ("audit", Box::new(|e| e.audit("a", &AuditQuery::default()).map(drop))),
        ("lineage", Box::new(|e| e.lineage("a", r.claim()).map(drop))),
        ("pending(agent)", Box::new(|e| e.pending(Some("a")).map(drop))),
        ("pending(all)", Box::new(|e| e.pending(None).map(drop))),
        ("agents", Box::new(|e| e.agents().map(drop))),
    ];
    for fault in [Fault::Unavailable, Fault::Backend, Fault::Corrupt] {
        for (name, read) in &reads {
            t.ledger.fail_reads(1, fault);
            let answer = read(&t.engine);
            t.ledger.heal();
            ensure!(answer.is_err(), "{name} with a failing read ({fault:?}) was answered Ok");
            read(&t.engine).map_err(|e| CaseError::Failed(format!("{name} after the failure: {e}")))?;
        }
    }
    Ok(())
}

/// A failure at any single storage call inside an ingest or a recall fails that operation with
/// the injected error and writes nothing.
pub fn failure_at_any_view_call_fails_the_operation_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, false)?;
    let first = t.engine.ingest(claim("Acme"))?;
    let parent = Some(first.claim());
    let before = (t.entries("a")?, t.head("a")?);
    let mut failed = 0;
    for n in 1..=200 {
        t.ledger.fail_view_call(n, Fault::Corrupt);
        let answer = t.engine.ingest(claim("Globex").depends_on(parent));
        t.ledger.heal();
        match answer {
            Err(Error::Corrupt { .. }) => failed += 1,
            Err(e) => {
                return Err(CaseError::Failed(format!(
                    "view call {n} failed with {e}, not the injected Corrupt"
                )));
            }
            Ok(_) => break,
        }
        ensure_eq!((t.entries("a")?, t.head("a")?), before, "rows after a failure at view call {n}");
    }
    ensure!(failed > 0, "the ingest made no view call the fault could hit");
    for n in 1..=200 {
        t.ledger.fail_view_call(n, Fault::Unavailable);
        let answer = t.engine.recall(&RecallQuery::new("a", "alice", "employer"));
        t.ledger.heal();
        match answer {
            Err(e) => ensure!(e.is_retryable(), "recall failing at view call {n}: {e}"),
            Ok(_) => break,
        }
    }
    Ok(())
}

/// An oracle notification whose recording fails leaves the row un-notified; `sweep` notifies
/// it again and marks it.
pub fn mark_notified_failure_leaves_row_unnotified_until_sweep(f: &dyn Factory) -> CaseResult {
    let t = Faulty::new(f, true)?;
    t.engine.ingest(claim("Acme"))?;
    t.ledger.fail_mark_notified(1, Fault::Unavailable);
    let queued = t.engine.ingest(claim("Globex"))?;
    ensure_eq!(
        queued.disposition,
        Disposition::QueuedForAdjudication,
        "the committed write is still answered"
    );
    let pending = t.fx.engine.pending(Some("a"))?;
    ensure!(pending.len() == 1 && !pending[0].notified, "the row stays un-notified: {pending:?}");
    let report = t.engine.sweep(credence_core::Clock::now(t.fx.clock.as_ref()))?;
    ensure_eq!(report.renotified, 1);
    let pending = t.fx.engine.pending(Some("a"))?;
    ensure!(pending.len() == 1 && pending[0].notified, "sweep marks the row notified: {pending:?}");
    Ok(())
}
