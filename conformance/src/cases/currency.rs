//! SPEC §3.2 step 6: currency and staleness, measured against the real (injected) clock.

use credence_core::{
    Belief, ClaimEngine, Currency, EngineConfig, IngestRequest, Provenance, RecallQuery, Timestamp,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

const DAY: i64 = 86_400_000_000;

fn recall(fx: &Fixture) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?)
}

/// Writes one claim and returns its tx_time.
fn confirm(fx: &Fixture) -> Result<Timestamp, CaseError> {
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    r.tx_time.ok_or_else(|| CaseError::Failed(format!("no tx_time: {r:?}")))
}

/// Sets the clock to `t0 + micros` and returns the belief's currency.
fn currency_after(fx: &Fixture, t0: Timestamp, micros: i64) -> Result<Option<Currency>, CaseError> {
    fx.clock.set(t0.plus_micros(micros));
    Ok(recall(fx)?.currency)
}

/// A belief confirmed less than 30 days ago is Fresh and not stale.
pub fn recall_currency_under_30_days_is_fresh(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    let b = recall(&fx)?;
    ensure_eq!(b.currency, Some(Currency::Fresh));
    ensure_eq!(b.last_confirmed_at, Some(t0));
    let s = b.staleness.ok_or_else(|| CaseError::Failed("no staleness".into()))?;
    ensure!(!s.is_stale && s.reason.is_none(), "{s:?}");
    ensure_eq!(currency_after(&fx, t0, 30 * DAY - 1)?, Some(Currency::Fresh));
    Ok(())
}

/// At exactly 30 days the belief is AgingUnconfirmed, and stale with a reason.
pub fn recall_currency_at_exactly_30_days_is_aging(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 30 * DAY)?, Some(Currency::AgingUnconfirmed));
    let s = recall(&fx)?.staleness.ok_or_else(|| CaseError::Failed("no staleness".into()))?;
    ensure!(s.is_stale, "{s:?}");
    ensure!(s.reason.as_ref().is_some_and(|r| !r.is_empty()), "a stale belief says why: {s:?}");
    Ok(())
}

/// Just under 90 days is still AgingUnconfirmed.
pub fn recall_currency_under_90_days_is_aging(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 90 * DAY - 1)?, Some(Currency::AgingUnconfirmed));
    Ok(())
}

/// At exactly 90 days, and beyond, the belief is Decayed and stale.
pub fn recall_currency_at_90_days_is_decayed(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 90 * DAY)?, Some(Currency::Decayed));
    ensure!(recall(&fx)?.staleness.is_some_and(|s| s.is_stale), "stale");
    ensure_eq!(currency_after(&fx, t0, 10_000 * DAY)?, Some(Currency::Decayed));
    Ok(())
}

/// Custom `aging_days` / `decayed_days` move the boundaries.
pub fn recall_currency_custom_boundaries_apply(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { aging_days: 2, decayed_days: 5, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 2 * DAY - 1)?, Some(Currency::Fresh));
    ensure_eq!(currency_after(&fx, t0, 2 * DAY)?, Some(Currency::AgingUnconfirmed));
    ensure_eq!(currency_after(&fx, t0, 5 * DAY - 1)?, Some(Currency::AgingUnconfirmed));
    ensure_eq!(currency_after(&fx, t0, 5 * DAY)?, Some(Currency::Decayed));
    Ok(())
}

/// With `aging_days == decayed_days` a belief goes straight from Fresh to Decayed.
pub fn recall_currency_equal_boundaries_skip_aging(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { aging_days: 7, decayed_days: 7, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 7 * DAY - 1)?, Some(Currency::Fresh));
    ensure_eq!(currency_after(&fx, t0, 7 * DAY)?, Some(Currency::Decayed));
    Ok(())
}

/// A corroboration refreshes currency: a Decayed belief becomes Fresh again.
pub fn recall_currency_refreshed_by_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    ensure_eq!(currency_after(&fx, t0, 100 * DAY)?, Some(Currency::Decayed));
    let t1 = confirm(&fx)?;
    let b = recall(&fx)?;
    ensure_eq!(b.last_confirmed_at, Some(t1));
    ensure_eq!(b.currency, Some(Currency::Fresh));
    Ok(())
}

/// A recall re-entry does not refresh currency.
pub fn recall_currency_not_refreshed_by_recall_reentry(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    fx.clock.set(t0.plus_micros(40 * DAY));
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry))?;
    let b = recall(&fx)?;
    ensure_eq!(b.last_confirmed_at, Some(t0));
    ensure_eq!(b.currency, Some(Currency::AgingUnconfirmed));
    Ok(())
}

/// Currency is measured against the real clock, not the as-of point: an old as-of read of a
/// claim written long ago is Decayed now.
pub fn recall_currency_uses_real_clock_for_as_of_reads(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = confirm(&fx)?;
    fx.clock.set(t0.plus_micros(100 * DAY));
    let pinned = fx.engine.recall(&RecallQuery::new("a", "s", "p").as_of_seq(1))?;
    ensure_eq!(pinned.currency, Some(Currency::Decayed));
    let by_time = fx.engine.recall(&RecallQuery::new("a", "s", "p").as_of(t0))?;
    ensure_eq!(by_time.currency, Some(Currency::Decayed));
    Ok(())
}

/// A line with no belief has no currency and no staleness.
pub fn recall_currency_absent_without_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let b = recall(&fx)?;
    ensure_eq!(b.currency, None);
    ensure_eq!(b.staleness, None);
    ensure_eq!(b.last_confirmed_at, None);
    Ok(())
}

/// A Contested belief's `last_confirmed_at` is the newest live supporter's tx_time.
pub fn recall_currency_contested_belief_uses_newest_supporter(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    confirm(&fx)?;
    fx.clock.advance_days(50);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let b = recall(&fx)?;
    ensure!(b.is_contested(), "{b:?}");
    ensure_eq!(b.last_confirmed_at, r.tx_time);
    ensure_eq!(b.currency, Some(Currency::Fresh));
    Ok(())
}
