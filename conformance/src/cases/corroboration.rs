//! SPEC §2.2 step 7 and §3.2 step 5: an External claim equal to a live value corroborates it.

use credence_core::ledger::read_with;
use credence_core::serde_json::{Value, json};
use credence_core::{
    AgentId, AuditQuery, Belief, BeliefStatus, ClaimEngine, ClaimRef, Currency, Disposition, EdgeKind, Event,
    IngestRequest, Provenance, RecallQuery, Timestamp, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn recall(fx: &Fixture) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?)
}

fn ingest(fx: &Fixture, v: Value) -> Result<credence_core::WriteReceipt, CaseError> {
    Ok(fx.engine.ingest(IngestRequest::new("a", "s", "p", v))?)
}

fn corroborates(fx: &Fixture, from: ClaimRef) -> Result<Vec<ClaimRef>, CaseError> {
    let id = AgentId::new("a").map_err(|r| CaseError::Failed(r.to_string()))?;
    let edges = read_with(&*fx.store.ledger, &id, |view| view.edges_from(from, EdgeKind::Corroborates))?;
    Ok(edges.iter().map(|e| e.to).collect())
}

/// An External claim equal to a live value is CommittedCheap (rationale `corroboration`) and
/// stored as a live supporter of the same single candidate.
pub fn ingest_equal_external_value_is_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let b = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::USER))?;
    ensure_eq!(b.disposition, Disposition::CommittedCheap);
    ensure_eq!(b.rationale.as_deref(), Some("corroboration"));
    ensure!(b.claim_ref.is_some() && b.claim_ref != a.claim_ref, "a new claim row: {b:?}");
    ensure!(b.contested_with.is_empty(), "{:?}", b.contested_with);
    let belief = recall(&fx)?;
    ensure_eq!(belief.status, BeliefStatus::TimingUncertain);
    ensure_eq!(belief.value, Some(json!("x")));
    ensure_eq!(belief.candidates.len(), 1, "no second candidate");
    ensure_eq!(belief.candidates[0].supporting, vec![a.claim(), b.claim()]);
    ensure_eq!(belief.primary_claim, a.claim_ref);
    ensure_eq!(belief.corroboration_count, 1);
    Ok(())
}

/// The Corroborates edge points at the earliest live claim with the value, not at the newest
/// supporter.
pub fn ingest_corroboration_edge_points_to_earliest_live_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let b = ingest(&fx, json!("x"))?;
    let c = ingest(&fx, json!("x"))?;
    ensure_eq!(corroborates(&fx, a.claim())?, Vec::<ClaimRef>::new());
    ensure_eq!(corroborates(&fx, b.claim())?, vec![a.claim()]);
    ensure_eq!(corroborates(&fx, c.claim())?, vec![a.claim()]);
    Ok(())
}

/// When the earliest claim with the value is no longer live, the edge points at the earliest
/// claim that still is.
pub fn ingest_corroboration_edge_skips_non_live_claims(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let b = ingest(&fx, json!("x"))?;
    fx.engine.invalidate("a", a.claim(), "wrong")?;
    let c = ingest(&fx, json!("x"))?;
    ensure_eq!(c.rationale.as_deref(), Some("corroboration"));
    ensure_eq!(corroborates(&fx, c.claim())?, vec![b.claim()]);
    Ok(())
}

/// Corroboration appends a Corroborated ledger entry about the target in the same unit.
pub fn ingest_corroboration_appends_corroborated_entry_on_target(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let b = ingest(&fx, json!("x"))?;
    let audit = fx.engine.audit("a", &AuditQuery { claim_ref: a.claim_ref, ..AuditQuery::default() })?;
    let corroborated: Vec<_> = audit.entries.iter().filter(|e| e.event == Event::Corroborated).collect();
    ensure_eq!(corroborated.len(), 1);
    ensure_eq!(Some(corroborated[0].seq), b.seq);
    ensure_eq!(Some(corroborated[0].recorded_at), b.tx_time);
    Ok(())
}

/// `corroboration_count` grows by exactly one per supporter.
pub fn recall_corroboration_count_grows_by_one_per_supporter(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut supporters = Vec::new();
    for n in 0..5u32 {
        supporters.push(ingest(&fx, json!({"v": 1}))?.claim());
        let b = recall(&fx)?;
        ensure_eq!(b.corroboration_count, n);
        ensure_eq!(b.candidates.len(), 1);
        ensure_eq!(b.candidates[0].supporting, supporters);
    }
    Ok(())
}

/// A corroboration refreshes currency: `last_confirmed_at` becomes the newest supporter's
/// tx_time.
pub fn ingest_corroboration_refreshes_last_confirmed_at(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    fx.clock.advance_days(40);
    ensure_eq!(recall(&fx)?.currency, Some(Currency::AgingUnconfirmed));
    let b = ingest(&fx, json!("x"))?;
    let belief = recall(&fx)?;
    ensure_eq!(belief.last_confirmed_at, b.tx_time);
    ensure!(belief.last_confirmed_at != a.tx_time, "refreshed");
    ensure_eq!(belief.currency, Some(Currency::Fresh));
    Ok(())
}

/// If one supporter is invalidated the others still hold the value; when the last goes, the
/// line has no belief.
pub fn invalidate_one_supporter_keeps_corroborated_value(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let b = ingest(&fx, json!("x"))?;
    fx.engine.invalidate("a", a.claim(), "source retracted")?;
    let belief = recall(&fx)?;
    ensure_eq!(belief.value, Some(json!("x")));
    ensure_eq!(belief.primary_claim, b.claim_ref);
    ensure_eq!(belief.corroboration_count, 0);
    ensure_eq!(belief.last_confirmed_at, b.tx_time);
    fx.engine.invalidate("a", b.claim(), "source retracted")?;
    ensure_eq!(recall(&fx)?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// Invalidating the newest supporter moves `last_confirmed_at` back to the newest remaining one.
pub fn invalidate_newest_supporter_rolls_back_last_confirmed_at(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    fx.clock.advance_days(1);
    let b = ingest(&fx, json!("x"))?;
    fx.engine.invalidate("a", b.claim(), "wrong")?;
    ensure_eq!(recall(&fx)?.last_confirmed_at, a.tx_time);
    Ok(())
}

/// Value equality is structural: `1` and `1.0` are different values, so the second contests
/// the first.
pub fn ingest_float_after_equal_integer_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!(1))?;
    let b = ingest(&fx, json!(1.0))?;
    ensure_eq!(b.disposition, Disposition::Contested);
    ensure_eq!(b.contested_with, vec![a.claim()]);
    ensure_eq!(recall(&fx)?.values, vec![json!(1), json!(1.0)]);
    Ok(())
}

/// Value equality is structural: the string `"30"` and the number `30` are different values.
pub fn ingest_number_after_equal_string_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, json!("30"))?;
    let b = ingest(&fx, json!(30))?;
    ensure_eq!(b.disposition, Disposition::Contested);
    let belief = recall(&fx)?;
    ensure_eq!(belief.status, BeliefStatus::Contested);
    ensure_eq!(belief.values, vec![json!("30"), json!(30)]);
    Ok(())
}

/// Value equality ignores object key order, at every depth: a reordered object corroborates.
pub fn ingest_reordered_object_value_is_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first: Value = credence_core::serde_json::from_str(r#"{"a": 1, "b": {"x": [1, 2], "y": null}}"#)
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    let reordered: Value = credence_core::serde_json::from_str(r#"{"b": {"y": null, "x": [1, 2]}, "a": 1}"#)
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    ingest(&fx, first)?;
    let r = ingest(&fx, reordered)?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.rationale.as_deref(), Some("corroboration"));
    ensure_eq!(recall(&fx)?.corroboration_count, 1);
    Ok(())
}

/// Array order matters: `[1, 2]` and `[2, 1]` are different values.
pub fn ingest_reordered_array_value_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ingest(&fx, json!([1, 2]))?;
    let r = ingest(&fx, json!([2, 1]))?;
    ensure_eq!(r.disposition, Disposition::Contested);
    Ok(())
}

/// An equal value below the confidence floor is not a corroboration: it is
/// PendingLowConfidence and adds no supporter.
pub fn ingest_equal_value_below_floor_is_not_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = ingest(&fx, json!("x"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.1))?;
    ensure_eq!(r.disposition, Disposition::PendingLowConfidence);
    let b = recall(&fx)?;
    ensure_eq!(b.corroboration_count, 0);
    ensure_eq!(b.last_confirmed_at, a.tx_time);
    Ok(())
}

/// An equal value in a trusted window disjoint from the live claim's trusted window is a
/// succession (step 9), not a corroboration.
pub fn ingest_equal_value_in_disjoint_trusted_window_is_succession(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let w1 = ValidTime::new(Some(d(2020)), Some(d(2022)));
    let w2 = ValidTime::new(Some(d(2023)), None);
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w1))?;
    let b = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w2))?;
    ensure_eq!(b.disposition, Disposition::CommittedCheap);
    ensure_eq!(b.rationale.as_deref(), Some("succession"));
    ensure_eq!(corroborates(&fx, b.claim())?, Vec::<ClaimRef>::new());
    let at_2021 = fx.engine.recall(&RecallQuery::new("a", "s", "p").valid_at(d(2021)))?;
    ensure_eq!(at_2021.primary_claim, a.claim_ref);
    Ok(())
}

/// An equal value in an overlapping trusted window corroborates.
pub fn ingest_equal_value_in_overlapping_trusted_window_is_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let w1 = ValidTime::new(Some(d(2020)), None);
    let w2 = ValidTime::new(Some(d(2021)), None);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w1))?;
    let b = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w2))?;
    ensure_eq!(b.rationale.as_deref(), Some("corroboration"));
    ensure_eq!(recall(&fx)?.corroboration_count, 1);
    Ok(())
}
