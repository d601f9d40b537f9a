//! SPEC §2.3: `reinstate` — only a Superseded or Invalidated claim: Reopen + Reinstated.

use credence_core::ledger::read_with;
use credence_core::{
    AsOf, AssertionKind, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Disposition, Event,
    IngestRequest, Provenance, RecallQuery, RejectReason, ValidTime, Verdict,
};

use super::support::{agent_id, belief, footprint, ingest, status};
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// Expects a `NotReinstatable` rejection that wrote nothing.
fn expect_not_reinstatable(fx: &Fixture, claim: ClaimRef) -> CaseResult {
    let before = footprint(fx, "a")?;
    let r = fx.engine.reinstate("a", claim)?;
    ensure_eq!(r.disposition, Disposition::Rejected);
    ensure_eq!(r.seq, None);
    ensure!(
        matches!(r.reason, Some(RejectReason::NotReinstatable { claim_ref, .. }) if claim_ref == claim),
        "reason {:?}",
        r.reason
    );
    ensure_eq!(footprint(fx, "a")?, before, "nothing written");
    Ok(())
}

/// Reinstating an Invalidated claim answers Reinstated and the claim is live again.
pub fn reinstate_invalidated_claim_is_live_again(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    fx.engine.invalidate("a", acme, "oops")?;
    ensure_eq!(belief(&fx)?.status, BeliefStatus::NoBelief);
    let r = fx.engine.reinstate("a", acme)?;
    ensure_eq!(r.disposition, Disposition::Reinstated);
    ensure_eq!(r.claim_ref, Some(acme));
    ensure_eq!(r.seq, Some(3));
    ensure_eq!(status(&fx, "alice", "employer", acme)?, (Disposition::Reinstated, ClaimStatus::Current));
    let b = belief(&fx)?;
    ensure_eq!(b.value, Some("Acme".into()));
    ensure_eq!(b.primary_claim, Some(acme));
    Ok(())
}

/// Reinstating writes a Reopen assertion and a Reinstated entry in one commit unit.
pub fn reinstate_writes_reopen_assertion_and_entry(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    fx.engine.invalidate("a", acme, "oops")?;
    let r = fx.engine.reinstate("a", acme)?;
    let seq = r.seq.ok_or_else(|| CaseError::Failed("no seq".into()))?;
    let id = agent_id("a")?;
    let units = read_with(fx.store.ledger.as_ref(), &id, |v| v.units(0, 1_000_000))?;
    let assertions: Vec<credence_core::Assertion> =
        units.into_iter().flat_map(|u| u.assertions).filter(|a| a.target == acme).collect();
    let query = AuditQuery { claim_ref: Some(acme), limit: 1_000_000, ..AuditQuery::default() };
    let entries = fx.engine.audit("a", &query)?.entries;
    let kinds: Vec<(AssertionKind, u64)> = assertions.iter().map(|a| (a.kind, a.seq)).collect();
    ensure_eq!(kinds, vec![(AssertionKind::Bound, 2), (AssertionKind::Reopen, seq)]);
    ensure!(
        entries.iter().any(|e| e.event == Event::Reinstated
            && e.disposition == Disposition::Reinstated
            && e.seq == seq),
        "entries {entries:?}"
    );
    Ok(())
}

/// Reinstating a Superseded loser makes the line Contested again; the receipt names the
/// live claims it now contradicts.
pub fn reinstate_superseded_claim_makes_line_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    let globex = ingest(&fx, "Globex")?.claim();
    fx.engine.resolve("a", "alice", "employer", globex)?;
    ensure_eq!(status(&fx, "alice", "employer", acme)?.1, ClaimStatus::Superseded);
    let r = fx.engine.reinstate("a", acme)?;
    ensure_eq!(r.disposition, Disposition::Reinstated);
    ensure_eq!(r.contested_with, vec![globex]);
    let b = belief(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.values, vec![serde_json::json!("Acme"), serde_json::json!("Globex")]);
    Ok(())
}

/// Reinstating a Deny loser (Superseded by the oracle) makes it live again.
pub fn reinstate_adjudication_loser_is_live_again(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    ingest(&fx, "Acme")?;
    let globex = ingest(&fx, "Globex")?;
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER)?;
    ensure_eq!(status(&fx, "alice", "employer", globex.claim())?.1, ClaimStatus::Superseded);
    let r = fx.engine.reinstate("a", globex.claim())?;
    ensure_eq!(r.disposition, Disposition::Reinstated);
    ensure_eq!(status(&fx, "alice", "employer", globex.claim())?.1, ClaimStatus::Current);
    ensure_eq!(belief(&fx)?.status, BeliefStatus::Contested);
    Ok(())
}

/// A reinstated claim that agrees with the live value just supports it (no contest).
pub fn reinstate_claim_equal_to_live_value_is_not_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = ingest(&fx, "Acme")?.claim();
    let second = ingest(&fx, "Acme")?.claim();
    fx.engine.invalidate("a", first, "x")?;
    let r = fx.engine.reinstate("a", first)?;
    ensure!(r.contested_with.is_empty(), "contested_with {:?}", r.contested_with);
    let b = belief(&fx)?;
    ensure_eq!(b.value, Some("Acme".into()));
    ensure_eq!(b.candidates.len(), 1);
    ensure_eq!(b.candidates[0].supporting, vec![first, second]);
    ensure_eq!(b.corroboration_count, 1);
    Ok(())
}

/// Invalidate, reinstate, invalidate again: each step takes effect and the history keeps one row.
pub fn reinstate_then_invalidate_again_is_invalidated(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    for round in 0..3 {
        ensure_eq!(
            fx.engine.invalidate("a", acme, "x")?.disposition,
            Disposition::Invalidated,
            "round {round}"
        );
        ensure_eq!(status(&fx, "alice", "employer", acme)?.1, ClaimStatus::Invalidated);
        ensure_eq!(fx.engine.reinstate("a", acme)?.disposition, Disposition::Reinstated, "round {round}");
        ensure_eq!(status(&fx, "alice", "employer", acme)?.1, ClaimStatus::Current);
    }
    ensure_eq!(fx.engine.history("a", "alice", "employer", AsOf::Now)?.entries.len(), 1);
    ensure_eq!(footprint(&fx, "a")?.0, 7);
    Ok(())
}

/// Reinstating a live claim is Rejected `NotReinstatable` and writes nothing.
pub fn reinstate_live_claim_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    expect_not_reinstatable(&fx, acme)
}

/// Reinstating an already reinstated (live) claim is Rejected `NotReinstatable`.
pub fn reinstate_twice_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = ingest(&fx, "Acme")?.claim();
    fx.engine.invalidate("a", acme, "x")?;
    fx.engine.reinstate("a", acme)?;
    expect_not_reinstatable(&fx, acme)
}

/// Reinstating a queued (live) challenger is Rejected `NotReinstatable`.
pub fn reinstate_queued_claim_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    ingest(&fx, "Acme")?;
    let globex = ingest(&fx, "Globex")?;
    ensure_eq!(globex.disposition, Disposition::QueuedForAdjudication);
    expect_not_reinstatable(&fx, globex.claim())
}

/// Reinstating a PendingLowConfidence claim is Rejected `NotReinstatable` and it stays pending.
pub fn reinstate_pending_claim_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let weak = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme").with_confidence(0.1))?;
    ensure_eq!(weak.disposition, Disposition::PendingLowConfidence);
    expect_not_reinstatable(&fx, weak.claim())?;
    ensure_eq!(status(&fx, "alice", "employer", weak.claim())?.1, ClaimStatus::Pending);
    ensure_eq!(belief(&fx)?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// Reinstating a PendingConflict (ModelDerived) claim is Rejected `NotReinstatable`.
pub fn reinstate_pending_conflict_claim_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, "Acme")?;
    let inferred = fx.engine.ingest(
        IngestRequest::new("a", "alice", "employer", "Globex").with_provenance(Provenance::ModelDerived),
    )?;
    ensure_eq!(inferred.disposition, Disposition::PendingConflict);
    expect_not_reinstatable(&fx, inferred.claim())
}

/// Reinstating a Quarantined claim is Rejected `NotReinstatable` and it stays quarantined.
pub fn reinstate_quarantined_claim_is_rejected_not_reinstatable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let now = credence_core::Clock::now(fx.clock.as_ref());
    // A trusted window that starts a day in the future is incoherent (SPEC §2.2 step 2).
    let window = ValidTime::new(Some(now.plus_micros(86_400_000_000)), None);
    let q = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme").with_valid_time(window))?;
    ensure_eq!(q.disposition, Disposition::Quarantined);
    expect_not_reinstatable(&fx, q.claim())?;
    ensure_eq!(status(&fx, "alice", "employer", q.claim())?.1, ClaimStatus::Quarantined);
    Ok(())
}

/// Reinstating an unknown claim is Rejected `UnknownClaim` and writes nothing.
pub fn reinstate_unknown_claim_is_rejected_unknown_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, "Acme")?;
    let before = footprint(&fx, "a")?;
    let unknown: ClaimRef = "0190a5c4-0000-7000-8000-00000000beef"
        .parse()
        .map_err(|e| CaseError::Failed(format!("claim ref literal: {e}")))?;
    let r = fx.engine.reinstate("a", unknown)?;
    ensure_eq!(r.disposition, Disposition::Rejected);
    ensure_eq!(r.reason, Some(RejectReason::UnknownClaim { claim_ref: unknown }));
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    Ok(())
}

/// Reinstating a claim whose trusted window is disjoint from the live claim's is a succession,
/// not a contradiction: the receipt lists nothing in `contested_with` and the belief is not
/// Contested.
pub fn reinstate_claim_in_disjoint_window_is_not_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let y = |year| credence_core::Timestamp::from_ymd(year, 1, 1);
    let old = ValidTime::new(y(2020), y(2022));
    let new = ValidTime::new(y(2022), None);
    let alice = fx.engine.ingest(IngestRequest::new("a", "acme", "ceo", "Alice").with_valid_time(old))?;
    let bob = fx.engine.ingest(IngestRequest::new("a", "acme", "ceo", "Bob").with_valid_time(new))?;
    ensure_eq!(bob.rationale.as_deref(), Some("succession"));
    fx.engine.invalidate("a", alice.claim(), "x")?;
    let r = fx.engine.reinstate("a", alice.claim())?;
    ensure_eq!(r.disposition, Disposition::Reinstated);
    ensure!(r.contested_with.is_empty(), "a disjoint window contradicts nothing: {:?}", r.contested_with);
    let belief = fx.engine.recall(&RecallQuery::new("a", "acme", "ceo"))?;
    ensure!(!belief.is_contested(), "belief {belief:?}");
    ensure_eq!(belief.value, Some("Bob".into()));
    let past =
        fx.engine.recall(&RecallQuery::new("a", "acme", "ceo").valid_at(y(2021).unwrap_or_default()))?;
    ensure_eq!(past.value, Some("Alice".into()), "the reinstated claim holds its own window");
    Ok(())
}
