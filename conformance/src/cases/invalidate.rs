//! SPEC §2.3: `invalidate` — Bound + Invalidated, history keeps the claim.

use credence_core::ledger::read_with;
use credence_core::{
    AsOf, AssertionKind, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Disposition, Event,
    IngestRequest, RecallQuery, RejectReason, WriteReceipt,
};

use super::support::{agent_id, belief, footprint, ingest, status};
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn rejected(r: &WriteReceipt) -> Result<RejectReason, CaseError> {
    ensure_eq!(r.disposition, Disposition::Rejected);
    ensure_eq!(r.seq, None, "a rejection has no seq");
    r.reason.clone().ok_or_else(|| CaseError::Failed(format!("rejection without a reason: {r:?}")))
}

/// Invalidating a live claim answers Invalidated; history keeps the claim with status
/// Invalidated and the belief drops it.
pub fn invalidate_live_claim_is_invalidated_and_kept_in_history(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    let r = fx.engine.invalidate("a", acme, "typo")?;
    ensure_eq!(r.disposition, Disposition::Invalidated);
    ensure_eq!(r.claim_ref, Some(acme));
    ensure_eq!(r.seq, Some(2));
    let history = fx.engine.history("a", "alice", "employer", AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1, "history keeps the claim");
    ensure_eq!(history.entries[0].claim.value, serde_json::json!("Acme"));
    ensure_eq!(
        (history.entries[0].disposition, history.entries[0].status),
        (Disposition::Invalidated, ClaimStatus::Invalidated)
    );
    let b = belief(&fx)?;
    ensure_eq!(b.status, BeliefStatus::NoBelief);
    ensure_eq!(b.value, None);
    ensure_eq!(history.belief, b, "history.current() agrees with recall");
    Ok(())
}

/// The invalidation writes a Bound assertion and an Invalidated entry carrying the reason,
/// in one commit unit.
pub fn invalidate_writes_bound_assertion_and_entry_with_reason(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    let r = fx.engine.invalidate("a", acme, "wrong person entirely")?;
    let seq = r.seq.ok_or_else(|| CaseError::Failed("no seq".into()))?;
    let id = agent_id("a")?;
    let units = read_with(fx.store.ledger.as_ref(), &id, |v| v.units(0, 1_000_000))?;
    let assertions: Vec<credence_core::Assertion> =
        units.into_iter().flat_map(|u| u.assertions).filter(|a| a.target == acme).collect();
    let query = AuditQuery { claim_ref: Some(acme), limit: 1_000_000, ..AuditQuery::default() };
    let entries = fx.engine.audit("a", &query)?.entries;
    ensure_eq!(assertions.len(), 1);
    ensure_eq!((assertions[0].kind, assertions[0].seq), (AssertionKind::Bound, seq));
    ensure_eq!(Some(assertions[0].at), r.tx_time);
    let inv: Vec<_> = entries.iter().filter(|e| e.event == Event::Invalidated).collect();
    ensure_eq!(inv.len(), 1);
    ensure_eq!((inv[0].seq, inv[0].disposition), (seq, Disposition::Invalidated));
    ensure!(inv[0].rationale.to_string().contains("wrong person entirely"), "rationale {}", inv[0].rationale);
    Ok(())
}

/// One of two supporters of a value invalidated: the other still holds the value (SPEC §2.2
/// step 7), with one supporter fewer.
pub fn invalidate_one_supporter_keeps_value_held_by_other(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = ingest(&fx, "Acme")?.claim();
    let second = ingest(&fx, "Acme")?;
    ensure_eq!(second.rationale.as_deref(), Some("corroboration"));
    ensure_eq!(belief(&fx)?.corroboration_count, 1);
    fx.engine.invalidate("a", first, "bad source")?;
    let b = belief(&fx)?;
    ensure_eq!(b.value, Some("Acme".into()));
    ensure_eq!(b.corroboration_count, 0);
    ensure_eq!(b.primary_claim, second.claim_ref);
    Ok(())
}

/// Invalidating one side of a Contested line leaves the other value as the belief.
pub fn invalidate_one_side_of_contested_line_uncontests_it(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, "Acme")?;
    let globex = ingest(&fx, "Globex")?;
    ensure_eq!(belief(&fx)?.status, BeliefStatus::Contested);
    fx.engine.invalidate("a", globex.claim(), "mistaken")?;
    let b = belief(&fx)?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(b.value, Some("Acme".into()));
    Ok(())
}

/// Invalidation is bi-temporal: read as of the seq before it, the claim is still live.
pub fn invalidate_as_of_before_still_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?;
    fx.clock.advance_micros(5_000_000);
    let r = fx.engine.invalidate("a", acme.claim(), "x")?;
    let before = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(1))?;
    ensure_eq!(before.value, Some("Acme".into()));
    let t = acme.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let by_time = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of(t))?;
    ensure_eq!(by_time.value, Some("Acme".into()));
    let after = r.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    ensure_eq!(
        fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of(after))?.status,
        BeliefStatus::NoBelief
    );
    let history = fx.engine.history("a", "alice", "employer", AsOf::Seq(1))?;
    ensure_eq!(history.entries.first().map(|e| e.status), Some(ClaimStatus::Current));
    Ok(())
}

/// Invalidating an unknown claim is Rejected `UnknownClaim` and writes nothing.
pub fn invalidate_unknown_claim_is_rejected_unknown_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, "Acme")?;
    let before = footprint(&fx, "a")?;
    let unknown: ClaimRef = "0190a5c4-0000-7000-8000-00000000beef"
        .parse()
        .map_err(|e| CaseError::Failed(format!("claim ref literal: {e}")))?;
    let r = fx.engine.invalidate("a", unknown, "x")?;
    ensure_eq!(rejected(&r)?, RejectReason::UnknownClaim { claim_ref: unknown });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    Ok(())
}

/// Invalidating a claim of another agent is Rejected `UnknownClaim`; that agent's claim stays live.
pub fn invalidate_claim_of_other_agent_is_rejected_unknown_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, "Acme")?;
    let foreign = fx.engine.ingest(IngestRequest::new("b", "alice", "employer", "Acme"))?.claim();
    let before = (footprint(&fx, "a")?, footprint(&fx, "b")?);
    let r = fx.engine.invalidate("a", foreign, "x")?;
    ensure_eq!(rejected(&r)?, RejectReason::UnknownClaim { claim_ref: foreign });
    ensure_eq!((footprint(&fx, "a")?, footprint(&fx, "b")?), before, "nothing written");
    let b = fx.engine.recall(&RecallQuery::new("b", "alice", "employer"))?;
    ensure_eq!(b.value, Some("Acme".into()));
    Ok(())
}

/// Invalidating an already invalidated claim is Rejected `NotLive` and writes nothing.
pub fn invalidate_twice_is_rejected_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    fx.engine.invalidate("a", acme, "x")?;
    let before = footprint(&fx, "a")?;
    let r = fx.engine.invalidate("a", acme, "again")?;
    ensure_eq!(rejected(&r)?, RejectReason::NotLive { claim_ref: acme });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    Ok(())
}

/// Invalidating a superseded claim is Rejected `NotLive` and writes nothing.
pub fn invalidate_superseded_claim_is_rejected_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    let globex = ingest(&fx, "Globex")?.claim();
    fx.engine.resolve("a", "alice", "employer", globex)?;
    let before = footprint(&fx, "a")?;
    let r = fx.engine.invalidate("a", acme, "x")?;
    ensure_eq!(rejected(&r)?, RejectReason::NotLive { claim_ref: acme });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    ensure_eq!(status(&fx, "alice", "employer", acme)?.1, ClaimStatus::Superseded);
    Ok(())
}

/// Invalidating a claim that was never live (PendingLowConfidence) is Rejected `NotLive`.
pub fn invalidate_pending_claim_is_rejected_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let weak = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme").with_confidence(0.1))?;
    ensure_eq!(weak.disposition, Disposition::PendingLowConfidence);
    let before = footprint(&fx, "a")?;
    let r = fx.engine.invalidate("a", weak.claim(), "x")?;
    ensure_eq!(rejected(&r)?, RejectReason::NotLive { claim_ref: weak.claim() });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    ensure_eq!(status(&fx, "alice", "employer", weak.claim())?.1, ClaimStatus::Pending);
    Ok(())
}

/// A queued challenger is live and can be invalidated; the incumbent then holds the belief and
/// the challenger's adjudication is closed (status resolved) by the same unit.
pub fn invalidate_queued_challenger_removes_it_and_closes_its_row(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    ingest(&fx, "Acme")?;
    let globex = ingest(&fx, "Globex")?;
    ensure_eq!(globex.disposition, Disposition::QueuedForAdjudication);
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    let r = fx.engine.invalidate("a", globex.claim(), "retracted")?;
    ensure_eq!(r.disposition, Disposition::Invalidated);
    ensure_eq!(belief(&fx)?.value, Some("Acme".into()));
    ensure_eq!(status(&fx, "alice", "employer", globex.claim())?.1, ClaimStatus::Invalidated);
    let id = agent_id("a")?;
    let units = read_with(fx.store.ledger.as_ref(), &id, |v| v.units(0, 1_000_000))?;
    let closing: Vec<u64> =
        units.iter().filter(|u| u.status_changes.iter().any(|c| c.handle == handle)).map(|u| u.seq).collect();
    ensure_eq!(closing, r.seq.into_iter().collect::<Vec<_>>(), "the invalidation's unit closes the row");
    ensure!(fx.engine.pending(None)?.is_empty(), "nothing stays pending");
    Ok(())
}
