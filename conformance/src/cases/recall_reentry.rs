//! SPEC §2.2 step 3: recall re-entries — corroboration by identity, burst quarantine, and the
//! amplification guard (re-entries never become ground truth).

use credence_core::{
    AsOf, AuditQuery, Belief, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Currency, Disposition,
    EngineConfig, Event, IngestRequest, LedgerEntry, Marker, Provenance, RecallQuery, WriteReceipt,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

const SECOND: i64 = 1_000_000;

fn reentry(fx: &Fixture, v: impl Into<serde_json::Value>) -> Result<WriteReceipt, CaseError> {
    Ok(fx
        .engine
        .ingest(IngestRequest::new("a", "alice", "employer", v).with_provenance(Provenance::RecallReEntry))?)
}

fn external(fx: &Fixture, v: impl Into<serde_json::Value>) -> Result<WriteReceipt, CaseError> {
    Ok(fx.engine.ingest(IngestRequest::new("a", "alice", "employer", v))?)
}

fn belief(fx: &Fixture) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?)
}

fn detected(fx: &Fixture, target: ClaimRef) -> Result<Vec<LedgerEntry>, CaseError> {
    let query = AuditQuery { claim_ref: Some(target), limit: 1_000_000, ..AuditQuery::default() };
    Ok(fx
        .engine
        .audit("a", &query)?
        .entries
        .into_iter()
        .filter(|e| e.event == Event::RecallReEntryDetected)
        .collect())
}

fn history_len(fx: &Fixture) -> Result<usize, CaseError> {
    Ok(fx.engine.history("a", "alice", "employer", AsOf::Now)?.entries.len())
}

/// The parts of a belief a re-entry must never change.
fn essence(
    b: &Belief,
) -> (
    BeliefStatus,
    Option<serde_json::Value>,
    Option<ClaimRef>,
    u32,
    Option<credence_core::Timestamp>,
    Vec<Marker>,
) {
    (
        b.status,
        b.value.clone(),
        b.primary_claim,
        b.corroboration_count,
        b.last_confirmed_at,
        b.markers.clone(),
    )
}

/// A re-entry equal to a live claim is CommittedCheap with the target's claim_ref; no claim row
/// is written and exactly one RecallReEntryDetected entry is appended on the target.
pub fn reentry_equal_to_live_claim_is_committed_cheap_with_target_ref(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = external(&fx, "Acme")?.claim();
    let r = reentry(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(target), "the receipt names the target");
    ensure_eq!(history_len(&fx)?, 1, "no new claim row");
    let entries = detected(&fx, target)?;
    ensure_eq!(entries.len(), 1);
    ensure_eq!(Some(entries[0].seq), r.seq);
    ensure_eq!(entries[0].disposition, Disposition::CommittedCheap);
    Ok(())
}

/// With `derived_from`, the first parent is the target: a re-entry equal to it is corroboration
/// by identity of that parent, even when the parent is on another line.
pub fn reentry_via_derived_from_targets_that_parent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "acme", "name", "Acme"))?.claim();
    let r = fx.engine.ingest(
        IngestRequest::new("a", "alice", "employer", "Acme")
            .with_provenance(Provenance::RecallReEntry)
            .derived_from([parent]),
    )?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(parent));
    ensure_eq!(detected(&fx, parent)?.len(), 1);
    ensure_eq!(history_len(&fx)?, 0, "nothing is stored on the re-entry's own line");
    ensure_eq!(belief(&fx)?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// A re-entry whose `derived_from` parent holds another value is PendingLowConfidence, even if a
/// live claim on the line has the re-entry's value (the parent, not the line, is the target).
pub fn reentry_derived_from_parent_with_other_value_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "acme", "name", "Acme Corp"))?.claim();
    let live = external(&fx, "Acme")?.claim();
    let r = fx.engine.ingest(
        IngestRequest::new("a", "alice", "employer", "Acme")
            .with_provenance(Provenance::RecallReEntry)
            .derived_from([parent]),
    )?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure!(r.claim_ref != Some(parent) && r.claim_ref != Some(live), "a new, stored claim: {r:?}");
    ensure!(detected(&fx, parent)?.is_empty() && detected(&fx, live)?.is_empty(), "no identity match");
    let lineage = fx.engine.lineage("a", r.claim())?;
    ensure_eq!(lineage.iter().map(|s| (s.depth, s.claim.claim_ref)).collect::<Vec<_>>(), vec![(1, parent)]);
    Ok(())
}

/// 808 re-entries of one claim (spaced so no burst forms) keep one claim row and leave the
/// belief unchanged: same value, corroboration_count 0, last_confirmed_at not refreshed.
pub fn reentry_repeated_808_times_keeps_one_row_and_belief_unchanged(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = external(&fx, "Acme")?.claim();
    let before = belief(&fx)?;
    for i in 0..808 {
        fx.clock.advance_micros(7 * SECOND);
        let r = reentry(&fx, "Acme")?;
        ensure!(
            r.disposition == Disposition::CommittedCheap && r.claim_ref == Some(target),
            "re-entry {i}: {r:?}"
        );
    }
    ensure_eq!(history_len(&fx)?, 1, "still one claim row");
    let after = belief(&fx)?;
    ensure_eq!(essence(&after), essence(&before));
    ensure_eq!(after.corroboration_count, 0);
    ensure_eq!(after.candidates.len(), 1);
    ensure_eq!(after.candidates[0].supporting, vec![target]);
    ensure_eq!(detected(&fx, target)?.len(), 808, "every re-entry is auditable");
    Ok(())
}

/// Re-entries never refresh currency: 40 days after the last External confirmation a re-entry
/// leaves the belief AgingUnconfirmed with the old last_confirmed_at.
pub fn reentry_does_not_refresh_currency(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = external(&fx, "Acme")?;
    fx.clock.advance_days(40);
    reentry(&fx, "Acme")?;
    let b = belief(&fx)?;
    ensure_eq!(b.last_confirmed_at, r.tx_time);
    ensure_eq!(b.currency, Some(Currency::AgingUnconfirmed));
    ensure!(b.staleness.as_ref().is_some_and(|s| s.is_stale), "still stale: {:?}", b.staleness);
    Ok(())
}

/// With the default threshold 10 and window 60 s, the 11th re-entry within the window is
/// Quarantined (rationale `recall_burst`, receipt names the target); the target is untouched
/// and the parked re-entry is auditable.
pub fn reentry_burst_eleventh_within_window_is_quarantined(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = external(&fx, "Acme")?.claim();
    let before = belief(&fx)?;
    for i in 1..=10 {
        fx.clock.advance_micros(SECOND);
        let r = reentry(&fx, "Acme")?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "re-entry {i} is below the threshold");
    }
    fx.clock.advance_micros(SECOND);
    let r = reentry(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::Quarantined);
    ensure_eq!(r.rationale.as_deref(), Some("recall_burst"));
    ensure_eq!(r.claim_ref, Some(target));
    let entries = detected(&fx, target)?;
    ensure_eq!(entries.len(), 11);
    ensure_eq!(entries.last().map(|e| e.disposition), Some(Disposition::Quarantined));
    ensure_eq!(entries.last().map(|e| e.seq), r.seq);
    ensure_eq!(history_len(&fx)?, 1, "no claim row for the burst");
    let history = fx.engine.history("a", "alice", "employer", AsOf::Now)?;
    ensure_eq!(history.entries[0].status, ClaimStatus::Current, "the target is still live");
    ensure_eq!(history.entries[0].disposition, Disposition::CommittedCheap);
    ensure_eq!(essence(&belief(&fx)?), essence(&before));
    Ok(())
}

/// Once the burst window has passed, a re-entry is CommittedCheap again.
pub fn reentry_after_burst_window_passes_is_committed_cheap_again(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = external(&fx, "Acme")?.claim();
    for _ in 0..11 {
        fx.clock.advance_micros(SECOND);
        reentry(&fx, "Acme")?;
    }
    fx.clock.advance_micros(SECOND);
    ensure_eq!(reentry(&fx, "Acme")?.disposition, Disposition::Quarantined, "still inside the burst");
    fx.clock.advance_micros(61 * SECOND);
    let r = reentry(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(target));
    Ok(())
}

/// The burst count is per target: a burst on one claim does not quarantine re-entries of another.
pub fn reentry_burst_is_counted_per_target(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    external(&fx, "Acme")?;
    let other = fx.engine.ingest(IngestRequest::new("a", "bob", "employer", "Acme"))?.claim();
    for _ in 0..10 {
        reentry(&fx, "Acme")?;
    }
    ensure_eq!(reentry(&fx, "Acme")?.disposition, Disposition::Quarantined);
    let r = fx.engine.ingest(
        IngestRequest::new("a", "bob", "employer", "Acme").with_provenance(Provenance::RecallReEntry),
    )?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(other));
    Ok(())
}

/// `quarantine_burst_threshold` is honoured: with 3, the 4th re-entry within the window is
/// Quarantined.
pub fn reentry_burst_threshold_is_configurable(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { quarantine_burst_threshold: 3, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    external(&fx, "Acme")?;
    for i in 1..=3 {
        ensure_eq!(reentry(&fx, "Acme")?.disposition, Disposition::CommittedCheap, "re-entry {i}");
    }
    ensure_eq!(reentry(&fx, "Acme")?.disposition, Disposition::Quarantined);
    Ok(())
}

/// A re-entry matching nothing is stored PendingLowConfidence: not live (NoBelief), and marked
/// RecallTainted in history.
pub fn reentry_matching_nothing_is_pending_low_confidence_and_tainted(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = reentry(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure_eq!(belief(&fx)?.status, BeliefStatus::NoBelief);
    let history = fx.engine.history("a", "alice", "employer", AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1, "the re-entry is stored");
    let entry = &history.entries[0];
    ensure_eq!(entry.claim.claim_ref, r.claim());
    ensure_eq!(entry.claim.provenance, Provenance::RecallReEntry);
    ensure_eq!(entry.status, ClaimStatus::Pending);
    ensure_eq!(entry.disposition, Disposition::PendingLowConfidence);
    ensure!(entry.markers.contains(&Marker::RecallTainted), "markers {:?}", entry.markers);
    Ok(())
}

/// A re-entry with a value other than the live claim's is PendingLowConfidence and never
/// contests the belief.
pub fn reentry_with_other_value_never_contests_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    external(&fx, "Acme")?;
    let before = belief(&fx)?;
    let r = reentry(&fx, "Globex")?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure!(r.contested_with.is_empty(), "contested_with {:?}", r.contested_with);
    let after = belief(&fx)?;
    ensure_eq!(essence(&after), essence(&before));
    ensure!(!after.markers.contains(&Marker::RecallTainted), "beliefs are never tainted");
    ensure_eq!(history_len(&fx)?, 2);
    Ok(())
}

/// A re-entry of a superseded value (no `derived_from`) matches no live claim: it is
/// PendingLowConfidence and does not revive the value.
pub fn reentry_of_superseded_value_is_pending_low_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = external(&fx, "Acme")?.claim();
    let globex = external(&fx, "Globex")?.claim();
    fx.engine.resolve("a", "alice", "employer", globex)?;
    let r = reentry(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    ensure!(r.claim_ref != Some(acme), "a new stored claim");
    ensure_eq!(belief(&fx)?.value, Some("Globex".into()));
    Ok(())
}

/// An External claim equal to a value that was only ever re-entered (stored, not live) takes the
/// cheap path: the stored re-entry is never an incumbent.
pub fn external_after_unmatched_reentry_is_cheap_path(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    reentry(&fx, "Globex")?;
    let r = external(&fx, "Acme")?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("cheap_path"));
    ensure_eq!(belief(&fx)?.value, Some("Acme".into()));
    Ok(())
}

/// On a Contested line, a re-entry equal to one of the live values is corroboration by identity
/// of that value's claim; the line stays Contested and no claim row is added.
pub fn reentry_on_contested_line_matches_equal_live_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    external(&fx, "Acme")?;
    let globex = external(&fx, "Globex")?.claim();
    let r = reentry(&fx, "Globex")?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(globex));
    ensure_eq!(history_len(&fx)?, 2);
    ensure_eq!(belief(&fx)?.status, BeliefStatus::Contested);
    Ok(())
}
