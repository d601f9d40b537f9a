//! SPEC §2.2: the ingest decision order, one case per step, and the first-match-wins
//! precedence between steps.

use credence_core::serde_json::json;
use credence_core::{
    AsOf, AuditQuery, Belief, BeliefStatus, ClaimEngine, ClaimStatus, Disposition, EngineConfig, Event,
    History, IngestRequest, Marker, Provenance, RecallQuery, Timestamp, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn day(y: i32, m: u32, d: u32) -> Timestamp {
    Timestamp::from_ymd(y, m, d).expect("the case uses valid calendar dates")
}

fn window(start: Option<Timestamp>, end: Option<Timestamp>) -> ValidTime {
    ValidTime::new(start, end)
}

fn recall(fx: &Fixture, s: &str, p: &str) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", s, p))?)
}

fn history(fx: &Fixture, s: &str, p: &str) -> Result<History, CaseError> {
    Ok(fx.engine.history("a", s, p, AsOf::Now)?)
}

fn now(fx: &Fixture) -> Timestamp {
    credence_core::Clock::now(&*fx.clock)
}

/// Step 6: an External claim on an empty line is CommittedCheap (rationale `cheap_path`) and
/// becomes the belief.
pub fn first_hand_fact_without_conflict_is_committed_cheap(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    ensure_eq!(r.seq, Some(1));
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.status, BeliefStatus::TimingUncertain);
    ensure_eq!(belief.value, Some("Acme".into()));
    ensure_eq!(belief.primary_claim, r.claim_ref);
    Ok(())
}

/// Step 6: a user assertion is External too: CommittedCheap `cheap_path` on an empty line.
pub fn ingest_user_asserted_on_empty_line_is_committed_cheap(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_provenance(Provenance::USER))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    Ok(())
}

/// Step 6 applies when the line's only claims are not live: a claim after an invalidated one
/// is CommittedCheap `cheap_path`.
pub fn ingest_line_with_only_non_live_claims_takes_cheap_path(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let old = fx.engine.ingest(IngestRequest::new("a", "s", "p", "old"))?;
    fx.engine.invalidate("a", old.claim(), "wrong")?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "low").with_confidence(0.1))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "new"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    ensure!(r.contested_with.is_empty(), "contested_with {:?}", r.contested_with);
    Ok(())
}

/// Step 2: a trusted window with `start > end` is Quarantined (rationale
/// `incoherent_valid_time`), stored but not live.
pub fn ingest_trusted_window_start_after_end_is_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(Some(day(2022, 1, 1)), Some(day(2021, 1, 1)));
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w))?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    ensure_eq!(r.rationale.as_deref(), Some("incoherent_valid_time"));
    ensure!(r.seq.is_some(), "a quarantined claim is stored: {r:?}");
    ensure_eq!(recall(&fx, "s", "p")?.status, BeliefStatus::NoBelief);
    let h = history(&fx, "s", "p")?;
    ensure_eq!(h.entries.len(), 1);
    ensure_eq!(h.entries[0].status, ClaimStatus::Quarantined);
    ensure_eq!(h.entries[0].disposition, Disposition::Quarantined);
    Ok(())
}

/// Step 2: a trusted window starting after the claim's tx_time is Quarantined.
pub fn ingest_trusted_window_starting_in_the_future_is_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(Some(now(&fx).plus_micros(1)), None);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w))?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    ensure_eq!(r.rationale.as_deref(), Some("incoherent_valid_time"));
    ensure_eq!(recall(&fx, "s", "p")?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// Step 2: equality is coherent: a trusted window with `start == tx_time` is committed.
pub fn ingest_trusted_window_starting_at_tx_time_is_coherent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t = now(&fx);
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(window(Some(t), None)))?;
    ensure_eq!(r.tx_time, Some(t));
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    Ok(())
}

/// Step 2: equality is coherent: a trusted window with `start == end` is committed.
pub fn ingest_trusted_window_start_equal_end_is_coherent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t = day(2020, 1, 1);
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(window(Some(t), Some(t))))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(history(&fx, "s", "p")?.entries[0].status, ClaimStatus::Current);
    Ok(())
}

/// Step 2: an untrusted window (confidence below the threshold) is never quarantined, however
/// incoherent.
pub fn ingest_untrusted_incoherent_window_is_not_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let backwards = window(Some(day(2022, 1, 1)), Some(day(2021, 1, 1))).with_confidence(0.69);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(backwards))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let future = window(Some(day(2099, 1, 1)), None).with_confidence(0.0);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "q", "x").with_valid_time(future))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(recall(&fx, "s", "q")?.value, Some(json!("x")));
    Ok(())
}

/// Step 2: a window without a start is untrusted whatever its confidence, so it is never
/// quarantined.
pub fn ingest_window_without_start_is_untrusted_and_not_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(None, Some(day(1990, 1, 1)));
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p").valid_at(day(2025, 1, 1)))?;
    ensure_eq!(b.value, Some(json!("x")), "an untrusted window is not used to filter by valid_at");
    Ok(())
}

/// A window with neither start nor end carries no valid-time data (SPEC §1.3): a single such
/// claim reads `TimingUncertain`, exactly as a claim without a window.
pub fn recall_window_without_start_or_end_is_no_valid_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(None, None);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain, "{b:?}");
    ensure_eq!(b.value, Some(json!("x")));
    Ok(())
}

/// Step 2 before step 3: a RecallReEntry with an incoherent trusted window is Quarantined,
/// not PendingLowConfidence.
pub fn ingest_recall_reentry_with_incoherent_trusted_window_is_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(Some(day(2023, 1, 1)), Some(day(2022, 1, 1)));
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry).with_valid_time(w),
    )?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    ensure_eq!(r.rationale.as_deref(), Some("incoherent_valid_time"));
    Ok(())
}

/// Step 2 before step 4: an External claim below the floor with an incoherent trusted window is
/// Quarantined.
pub fn ingest_low_confidence_with_incoherent_trusted_window_is_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = window(Some(day(2099, 1, 1)), None);
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.1).with_valid_time(w))?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    Ok(())
}

/// Step 3: a RecallReEntry equal to a live claim is corroboration by identity: CommittedCheap
/// with the target's claim_ref, no new claim row, one RecallReEntryDetected entry on the target.
pub fn ingest_recall_reentry_matching_live_value_writes_no_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, target.claim_ref);
    ensure_eq!(r.seq, Some(2));
    let h = history(&fx, "s", "p")?;
    ensure_eq!(h.entries.len(), 1, "no claim row is written for a re-entry");
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: target.claim_ref, ..AuditQuery::default() })?;
    let detected: Vec<_> = audit.entries.iter().filter(|e| e.event == Event::RecallReEntryDetected).collect();
    ensure_eq!(detected.len(), 1);
    ensure_eq!(detected[0].seq, 2);
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.corroboration_count, 0, "re-entries never count as corroboration");
    ensure_eq!(b.last_confirmed_at, target.tx_time, "re-entries never refresh currency");
    Ok(())
}

/// Step 3: with a `derived_from` parent, the re-entry's target is the first parent; equal value
/// → corroboration by identity on that parent.
pub fn ingest_recall_reentry_targets_first_derived_from_parent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let second = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x")
            .with_provenance(Provenance::RecallReEntry)
            .derived_from([second.claim(), first.claim()]),
    )?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, second.claim_ref);
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: second.claim_ref, ..AuditQuery::default() })?;
    ensure!(
        audit.entries.iter().any(|e| e.event == Event::RecallReEntryDetected),
        "the parent got the RecallReEntryDetected entry: {:?}",
        audit.entries
    );
    Ok(())
}

/// Step 3: a RecallReEntry whose first parent holds a different value is PendingLowConfidence,
/// even if another live claim holds the value.
pub fn ingest_recall_reentry_differing_from_parent_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "s", "q", "y"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x")
            .with_provenance(Provenance::RecallReEntry)
            .derived_from([parent.claim()]),
    )?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure_eq!(history(&fx, "s", "p")?.entries.len(), 2, "the re-entry is stored");
    Ok(())
}

/// Step 3: a RecallReEntry matching no live claim is PendingLowConfidence: stored, not live,
/// marked RecallTainted in history.
pub fn ingest_recall_reentry_matching_nothing_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::RecallReEntry))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure!(r.claim_ref.is_some() && r.seq.is_some(), "stored: {r:?}");
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.values, vec![json!("x")], "the re-entry is not live");
    ensure!(b.markers.is_empty(), "re-entries never taint a belief: {:?}", b.markers);
    let h = history(&fx, "s", "p")?;
    let entry = h
        .entries
        .iter()
        .find(|e| Some(e.claim.claim_ref) == r.claim_ref)
        .ok_or_else(|| CaseError::Failed("re-entry missing from history".into()))?;
    ensure_eq!(entry.status, ClaimStatus::Pending);
    ensure_eq!(entry.markers, vec![Marker::RecallTainted]);
    Ok(())
}

/// Step 3: a RecallReEntry on an empty line is PendingLowConfidence.
pub fn ingest_recall_reentry_on_empty_line_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure_eq!(recall(&fx, "s", "p")?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// Step 3 before step 4: a low-confidence RecallReEntry equal to a live claim is still
/// corroboration by identity (CommittedCheap), not PendingLowConfidence.
pub fn ingest_recall_reentry_below_floor_matching_live_is_committed_cheap(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x")
            .with_provenance(Provenance::RecallReEntry)
            .with_confidence(0.05),
    )?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, target.claim_ref);
    Ok(())
}

/// Step 3: once the target already has `quarantine_burst_threshold` re-entries within the
/// burst window, the next is Quarantined (`recall_burst`), the target stays live and the burst
/// is auditable; after the window passes re-entries are CommittedCheap again.
pub fn ingest_recall_reentry_burst_is_quarantined(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { quarantine_burst_threshold: 3, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let target = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let reentry = || IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry);
    for i in 0..3 {
        fx.clock.advance_micros(1_000_000);
        let r = fx.engine.ingest(reentry())?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "re-entry {i}");
    }
    fx.clock.advance_micros(1_000_000);
    let burst = fx.engine.ingest(reentry())?;
    ensure_eq!(burst.disposition, Disposition::Quarantined);
    ensure_eq!(burst.rationale.as_deref(), Some("recall_burst"));
    ensure_eq!(burst.claim_ref, target.claim_ref);
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.value, Some(json!("x")), "the target is untouched");
    ensure_eq!(b.primary_claim, target.claim_ref);
    ensure_eq!(history(&fx, "s", "p")?.entries.len(), 1);
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: target.claim_ref, ..AuditQuery::default() })?;
    let parked = audit
        .entries
        .iter()
        .filter(|e| e.event == Event::RecallReEntryDetected && e.disposition == Disposition::Quarantined)
        .count();
    ensure_eq!(parked, 1, "the burst is auditable");
    fx.clock.advance_micros(61_000_000);
    let later = fx.engine.ingest(reentry())?;
    ensure_eq!(later.disposition, Disposition::CommittedCheap, "after the burst window");
    Ok(())
}

/// Step 3: the default burst threshold is 10 re-entries within 60 s: the 11th is Quarantined.
pub fn ingest_recall_reentry_default_burst_threshold_is_ten(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let reentry = || IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry);
    for i in 0..10 {
        let r = fx.engine.ingest(reentry())?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "re-entry {i}");
    }
    let r = fx.engine.ingest(reentry())?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    Ok(())
}

/// Step 4: an External claim below `low_confidence_floor` is PendingLowConfidence: stored, not
/// live.
pub fn ingest_external_below_floor_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.29))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure!(r.seq.is_some(), "stored: {r:?}");
    ensure_eq!(recall(&fx, "s", "p")?.status, BeliefStatus::NoBelief);
    ensure_eq!(history(&fx, "s", "p")?.entries[0].status, ClaimStatus::Pending);
    Ok(())
}

/// Step 4: the floor is exclusive: confidence exactly `low_confidence_floor` is committed.
pub fn ingest_external_at_floor_is_committed(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.3))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let config = EngineConfig { low_confidence_floor: 0.5, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let below = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.49))?;
    ensure_eq!(below.disposition, Disposition::PendingLowConfidence);
    let at = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.5))?;
    ensure_eq!(at.disposition, Disposition::CommittedCheap);
    Ok(())
}

/// Step 4 before step 10: an External claim below the floor that contradicts a live claim is
/// PendingLowConfidence, not Contested, and the line stays resolved.
pub fn ingest_external_below_floor_beats_contradiction(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_confidence(0.1))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure_eq!(r.handle, None);
    ensure!(fx.engine.pending(Some("a"))?.is_empty(), "nothing is queued for the oracle");
    ensure_eq!(recall(&fx, "s", "p")?.value, Some(json!("x")));
    Ok(())
}

/// Step 4 is for External claims only: a ModelDerived claim below the floor on an empty line
/// is CommittedInferred.
pub fn ingest_model_derived_below_floor_is_committed_inferred(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::ModelDerived).with_confidence(0.1),
    )?;
    ensure_eq!(r.disposition, Disposition::CommittedInferred);
    Ok(())
}

/// Step 5: a ModelDerived claim on an empty line is CommittedInferred; the belief carries the
/// `Inferred` marker.
pub fn ingest_model_derived_without_live_claim_is_committed_inferred(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::CommittedInferred);
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.value, Some(json!("x")));
    ensure_eq!(b.markers, vec![Marker::Inferred]);
    Ok(())
}

/// Step 5: a ModelDerived claim agreeing with a live External claim is CommittedInferred; the
/// value is supported by an External claim, so the belief is not marked `Inferred`.
pub fn ingest_model_derived_agreeing_is_committed_inferred(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::CommittedInferred);
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.values, vec![json!("x")]);
    ensure_eq!(b.candidates.len(), 1);
    ensure!(b.markers.is_empty(), "markers {:?}", b.markers);
    Ok(())
}

/// Step 5: a ModelDerived claim contradicting a live claim is PendingConflict (not live); it
/// can never contest an External claim: the belief stays on the External value.
pub fn ingest_model_derived_conflict_is_pending_conflict(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let ext = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::PendingConflict);
    ensure_eq!(r.handle, None);
    ensure!(fx.engine.pending(Some("a"))?.is_empty(), "a model inference is never sent to the oracle");
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(b.value, Some(json!("x")));
    ensure_eq!(b.primary_claim, ext.claim_ref);
    let h = history(&fx, "s", "p")?;
    ensure_eq!(h.entries[1].status, ClaimStatus::Pending);
    Ok(())
}

/// Step 5: a ModelDerived claim contradicting a live ModelDerived claim is PendingConflict too.
pub fn ingest_model_derived_conflicting_inferred_is_pending_conflict(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let m = || IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::ModelDerived);
    fx.engine.ingest(m())?;
    let r =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::PendingConflict);
    ensure_eq!(recall(&fx, "s", "p")?.values, vec![json!("x")]);
    Ok(())
}

/// Step 10: an External contradiction without an oracle is Contested; `contested_with` names
/// the contradicted claim and the belief holds both values.
pub fn ingest_external_conflict_without_oracle_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let second =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::USER))?;
    ensure_eq!(second.disposition, Disposition::Contested);
    ensure_eq!(second.contested_with, vec![first.claim()]);
    ensure_eq!(second.handle, None);
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.values, vec![json!("x"), json!("y")]);
    ensure_eq!(b.value, None);
    ensure_eq!(b.markers, vec![Marker::Contested]);
    Ok(())
}

/// Step 10: `contested_with` lists every live claim the new claim contradicts (each supporter
/// of every other value) and no claim that is not live.
pub fn ingest_contested_with_lists_every_contradicted_live_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let gone = fx.engine.ingest(IngestRequest::new("a", "s", "p", "w"))?;
    fx.engine.invalidate("a", gone.claim(), "wrong")?;
    let x1 = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let x2 = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    ensure_eq!(y.contested_with, vec![x1.claim(), x2.claim()]);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "low").with_confidence(0.1))?;
    let z = fx.engine.ingest(IngestRequest::new("a", "s", "p", "z"))?;
    ensure_eq!(z.disposition, Disposition::Contested);
    ensure_eq!(z.contested_with, vec![x1.claim(), x2.claim(), y.claim()]);
    ensure_eq!(recall(&fx, "s", "p")?.values, vec![json!("x"), json!("y"), json!("z")]);
    Ok(())
}

/// Step 10: an External claim whose value equals one candidate of a Contested line corroborates
/// it (step 7 comes first) instead of contradicting the other.
pub fn ingest_equal_value_on_contested_line_is_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let again = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    ensure_eq!(again.disposition, Disposition::CommittedCheap);
    ensure_eq!(again.rationale.as_deref(), Some("corroboration"));
    let b = recall(&fx, "s", "p")?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.candidates[0].supporting, vec![x.claim(), again.claim()]);
    Ok(())
}

/// Every stored ingest writes a ClaimCommitted ledger entry carrying the receipt's disposition
/// and rationale code.
pub fn ingest_audit_entry_carries_disposition_and_rationale(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reqs = [
        IngestRequest::new("a", "s", "p", "x"),
        IngestRequest::new("a", "s", "p", "x"),
        IngestRequest::new("a", "s", "p", "y"),
        IngestRequest::new("a", "s", "p", "z").with_confidence(0.1),
        IngestRequest::new("a", "s", "p", "m").with_provenance(Provenance::ModelDerived),
    ];
    for req in reqs {
        let r = fx.engine.ingest(req)?;
        let audit = fx.engine.audit("a", &AuditQuery { claim_ref: r.claim_ref, ..AuditQuery::default() })?;
        let committed: Vec<_> = audit.entries.iter().filter(|e| e.event == Event::ClaimCommitted).collect();
        ensure_eq!(committed.len(), 1, "{r:?}");
        ensure_eq!(committed[0].disposition, r.disposition);
        ensure_eq!(Some(committed[0].seq), r.seq);
        ensure_eq!(committed[0].rationale["rationale"].as_str(), r.rationale.as_deref(), "{r:?}");
    }
    Ok(())
}
