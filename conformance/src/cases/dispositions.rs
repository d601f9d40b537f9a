//! SPEC §1.6: each of the twelve dispositions is reachable through the public API, and each
//! is live or not as the table says (live claims shape recall, non-live ones do not).

use std::collections::BTreeSet;

use credence_core::serde_json::json;
use credence_core::{
    AsOf, AuditQuery, Belief, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Disposition, IdSource,
    IngestRequest, Marker, Provenance, RecallQuery, RejectReason, Timestamp, ValidTime, Verdict,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn recall(fx: &Fixture, p: &str) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "s", p))?)
}

/// The status a line's history gives one claim.
fn status_of(fx: &Fixture, p: &str, claim: ClaimRef) -> Result<ClaimStatus, CaseError> {
    let h = fx.engine.history("a", "s", p, AsOf::Now)?;
    h.entries
        .iter()
        .find(|e| e.claim.claim_ref == claim)
        .map(|e| e.status)
        .ok_or_else(|| CaseError::Failed(format!("claim {claim} missing from history of {p}")))
}

/// CommittedCheap is live: the claim is the belief.
pub fn ingest_committed_cheap_claim_is_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(recall(&fx, "p")?.primary_claim, r.claim_ref);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Current);
    Ok(())
}

/// CommittedInferred is live and marks the belief `Inferred`.
pub fn ingest_committed_inferred_claim_is_live_with_inferred_marker(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::CommittedInferred);
    let b = recall(&fx, "p")?;
    ensure_eq!(b.primary_claim, r.claim_ref);
    ensure_eq!(b.markers, vec![Marker::Inferred]);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Current);
    Ok(())
}

/// QueuedForAdjudication is live: next to its live incumbent the line is Contested until the
/// verdict.
pub fn ingest_queued_challenger_is_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    ensure_eq!(r.disposition, Disposition::QueuedForAdjudication);
    ensure!(r.handle.is_some(), "a queued receipt carries its handle: {r:?}");
    let b = recall(&fx, "p")?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.values, vec![json!("x"), json!("y")]);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Current);
    Ok(())
}

/// Contested is live: both values stay in the belief.
pub fn ingest_contested_claim_is_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    ensure_eq!(r.disposition, Disposition::Contested);
    ensure_eq!(recall(&fx, "p")?.values, vec![json!("x"), json!("y")]);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Current);
    Ok(())
}

/// Contested is reachable through an oracle's Unknown verdict, and both claims stay live.
pub fn adjudicate_unknown_verdict_leaves_both_claims_contested_and_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let handle = y.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Unknown, Provenance::USER)?;
    let got: BTreeSet<(ClaimRef, &str)> = out.dispositions.iter().map(|(c, d)| (*c, d.as_str())).collect();
    let want: BTreeSet<(ClaimRef, &str)> =
        [(x.claim(), "Contested"), (y.claim(), "Contested")].into_iter().collect();
    ensure_eq!(got, want);
    ensure_eq!(recall(&fx, "p")?.values, vec![json!("x"), json!("y")]);
    Ok(())
}

/// PendingConflict is not live: the model's contradicting value is not in the belief.
pub fn ingest_pending_conflict_claim_is_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::PendingConflict);
    ensure_eq!(recall(&fx, "p")?.values, vec![json!("x")]);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Pending);
    Ok(())
}

/// PendingLowConfidence is not live: alone on its line it leaves NoBelief.
pub fn ingest_pending_low_confidence_claim_is_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.2))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure_eq!(recall(&fx, "p")?.status, BeliefStatus::NoBelief);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Pending);
    Ok(())
}

/// PendingReview is reachable (a `depends_on` parent stops being live), is recorded in the
/// audit trail, and the flagged claim stays live with the `PendingReview` marker.
pub fn invalidate_parent_flags_dependent_pending_review_and_keeps_it_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "s", "base", "b"))?;
    let child = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").depends_on([parent.claim()]))?;
    fx.engine.invalidate("a", parent.claim(), "wrong")?;
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: child.claim_ref, ..AuditQuery::default() })?;
    ensure!(
        audit.entries.iter().any(|e| e.disposition == Disposition::PendingReview),
        "the child has a PendingReview entry: {:?}",
        audit.entries
    );
    let b = recall(&fx, "p")?;
    ensure_eq!(b.value, Some(json!("x")));
    ensure_eq!(b.markers, vec![Marker::PendingReview]);
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure_eq!(h.entries[0].status, ClaimStatus::Current);
    ensure_eq!(h.entries[0].markers, vec![Marker::PendingReview]);
    Ok(())
}

/// Quarantined is not live.
pub fn ingest_quarantined_claim_is_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let future = ValidTime::new(Some(Timestamp::from_ymd(2099, 1, 1).expect("valid date")), None);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_valid_time(future))?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    let b = recall(&fx, "p")?;
    ensure_eq!(b.values, vec![json!("x")]);
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(status_of(&fx, "p", r.claim())?, ClaimStatus::Quarantined);
    Ok(())
}

/// Superseded (the loser of a manual resolve) is not live; the winner is CommittedCheap.
pub fn resolve_loser_is_superseded_and_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let r = fx.engine.resolve("a", "s", "p", y.claim())?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.contested_with, vec![x.claim()]);
    let b = recall(&fx, "p")?;
    ensure_eq!(b.values, vec![json!("y")]);
    ensure_eq!(status_of(&fx, "p", x.claim())?, ClaimStatus::Superseded);
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: x.claim_ref, ..AuditQuery::default() })?;
    ensure!(
        audit.entries.iter().any(|e| e.disposition == Disposition::Superseded),
        "the loser has a Superseded entry: {:?}",
        audit.entries
    );
    Ok(())
}

/// Superseded (the incumbent after an Affirm verdict) is not live; the challenger is
/// CommittedCheap and holds the line.
pub fn adjudicate_affirm_incumbent_is_superseded_and_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let handle = y.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure!(out.dispositions.contains(&(x.claim(), Disposition::Superseded)), "{:?}", out.dispositions);
    ensure!(out.dispositions.contains(&(y.claim(), Disposition::CommittedCheap)), "{:?}", out.dispositions);
    let b = recall(&fx, "p")?;
    ensure_eq!(b.value, Some(json!("y")));
    ensure_eq!(status_of(&fx, "p", x.claim())?, ClaimStatus::Superseded);
    Ok(())
}

/// Invalidated is not live; history keeps the claim with status Invalidated.
pub fn invalidate_claim_is_invalidated_and_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.invalidate("a", x.claim(), "typo")?;
    ensure_eq!(r.disposition, Disposition::Invalidated);
    ensure_eq!(r.claim_ref, x.claim_ref);
    ensure_eq!(recall(&fx, "p")?.status, BeliefStatus::NoBelief);
    ensure_eq!(status_of(&fx, "p", x.claim())?, ClaimStatus::Invalidated);
    Ok(())
}

/// Reinstated is live: an invalidated claim reinstated is the belief again.
pub fn reinstate_invalidated_claim_is_live_again(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.invalidate("a", x.claim(), "oops")?;
    let r = fx.engine.reinstate("a", x.claim())?;
    ensure_eq!(r.disposition, Disposition::Reinstated);
    let b = recall(&fx, "p")?;
    ensure_eq!(b.value, Some(json!("x")));
    ensure_eq!(b.primary_claim, x.claim_ref);
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure_eq!(h.entries[0].disposition, Disposition::Reinstated);
    ensure_eq!(h.entries[0].status, ClaimStatus::Current);
    Ok(())
}

/// Rejected persists nothing, for ingest and for operations naming an unknown claim
/// (`UnknownClaim`).
pub fn reject_invalid_writes_persist_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let ghost = ClaimRef(fx.ids.next_id(Timestamp::EPOCH));
    let receipts = [
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_confidence(7.0))?,
        fx.engine.invalidate("a", ghost, "no such claim")?,
        fx.engine.reinstate("a", ghost)?,
        fx.engine.resolve("a", "s", "p", ghost)?,
    ];
    for (i, r) in receipts.iter().enumerate() {
        ensure_eq!(r.disposition, Disposition::Rejected, "receipt {i}");
        ensure!(r.seq.is_none(), "receipt {i} names a unit: {r:?}");
    }
    for r in &receipts[1..] {
        ensure_eq!(r.reason, Some(RejectReason::UnknownClaim { claim_ref: ghost }));
    }
    let audit = fx.engine.audit("a", &AuditQuery::default())?;
    ensure!(audit.entries.iter().all(|e| e.seq == 1), "audit: {:?}", audit.entries);
    ensure_eq!(recall(&fx, "p")?.value, Some(json!("x")));
    Ok(())
}

/// One scenario through the public API reaches all twelve dispositions.
pub fn api_scenario_reaches_all_twelve_dispositions(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut note = |d: Disposition| {
        seen.insert(d.as_str());
    };
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    note(x.disposition);
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    note(y.disposition);
    let handle = y.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    for (_, d) in fx.engine.submit_adjudication("a", handle, Verdict::Unknown, Provenance::USER)?.dispositions
    {
        note(d);
    }
    let m =
        fx.engine.ingest(IngestRequest::new("a", "s", "m", "x").with_provenance(Provenance::ModelDerived))?;
    note(m.disposition);
    note(
        fx.engine
            .ingest(IngestRequest::new("a", "s", "m", "y").with_provenance(Provenance::ModelDerived))?
            .disposition,
    );
    note(fx.engine.ingest(IngestRequest::new("a", "s", "q", "x").with_confidence(0.1))?.disposition);
    let future = ValidTime::new(Some(Timestamp(i64::MAX)), None);
    note(fx.engine.ingest(IngestRequest::new("a", "s", "q", "x").with_valid_time(future))?.disposition);
    let base = fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?;
    let child = fx.engine.ingest(IngestRequest::new("a", "s", "child", 1).depends_on([base.claim()]))?;
    note(fx.engine.invalidate("a", base.claim(), "test")?.disposition);
    let flagged =
        fx.engine.audit("a", &AuditQuery { claim_ref: child.claim_ref, ..AuditQuery::default() })?;
    for e in flagged.entries {
        note(e.disposition);
    }
    note(fx.engine.resolve("a", "s", "p", x.claim())?.disposition);
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: y.claim_ref, ..AuditQuery::default() })?;
    for e in audit.entries {
        note(e.disposition);
    }
    note(fx.engine.reinstate("a", y.claim())?.disposition);
    note(fx.engine.ingest(IngestRequest::new("", "s", "p", 1))?.disposition);
    let all: BTreeSet<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
    ensure_eq!(seen, all);
    Ok(())
}

/// Informational entries never change liveness: a recall re-entry whose parent was
/// invalidated does not revive the parent.
pub fn ingest_recall_reentry_onto_invalidated_parent_does_not_revive_it(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.invalidate("a", x.claim(), "wrong")?;
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x")
            .with_provenance(Provenance::RecallReEntry)
            .derived_from([x.claim()]),
    )?;
    ensure!(r.disposition != Disposition::Rejected, "{r:?}");
    ensure_eq!(recall(&fx, "p")?.status, BeliefStatus::NoBelief);
    ensure_eq!(status_of(&fx, "p", x.claim())?, ClaimStatus::Invalidated);
    Ok(())
}

/// Informational entries never change liveness: flagging a non-live dependent for review does
/// not make it live.
pub fn invalidate_parent_of_non_live_dependent_does_not_revive_it(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let base = fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?;
    let low = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.1).depends_on([base.claim()]))?;
    ensure_eq!(low.disposition, Disposition::PendingLowConfidence);
    fx.engine.invalidate("a", base.claim(), "wrong")?;
    ensure_eq!(recall(&fx, "p")?.status, BeliefStatus::NoBelief);
    ensure_eq!(status_of(&fx, "p", low.claim())?, ClaimStatus::Pending);
    Ok(())
}
