//! SPEC §1.5 and §3.2 step 1: reads pinned to a transaction-time point, by time or by seq,
//! both inclusive.

use credence_core::serde_json::json;
use credence_core::{
    AsOf, Belief, BeliefStatus, ClaimEngine, ClaimStatus, IngestRequest, RecallQuery, Timestamp,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn at_seq(fx: &Fixture, n: u64) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "s", "p").as_of_seq(n))?)
}

fn at_time(fx: &Fixture, t: Timestamp) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "s", "p").as_of(t))?)
}

/// `as_of_seq: n` includes unit n and excludes later units.
pub fn recall_as_of_seq_is_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let one = at_seq(&fx, 1)?;
    ensure_eq!(one.status, BeliefStatus::TimingUncertain);
    ensure_eq!(one.value, Some(json!("x")));
    ensure_eq!(one.primary_claim, x.claim_ref);
    ensure_eq!(one.as_of_seq, 1);
    let two = at_seq(&fx, 2)?;
    ensure_eq!(two.status, BeliefStatus::Contested);
    ensure_eq!(two.as_of_seq, 2);
    Ok(())
}

/// `as_of: t` exactly equal to a unit's tx_time includes that unit; one microsecond earlier
/// excludes it.
pub fn recall_as_of_time_is_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.clock.advance_days(2);
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let t = y.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let exact = at_time(&fx, t)?;
    ensure_eq!(exact.status, BeliefStatus::Contested);
    ensure_eq!(exact.as_of_seq, 2);
    let before = at_time(&fx, t.plus_micros(-1))?;
    ensure_eq!(before.value, Some(json!("x")));
    ensure_eq!(before.as_of_seq, 1);
    Ok(())
}

/// A time between two units sees the earlier one only.
pub fn recall_as_of_time_between_units_sees_earlier_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.clock.advance_days(10);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let t = x.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let mid = at_time(&fx, t.plus_micros(5 * 86_400_000_000))?;
    ensure_eq!(mid.value, Some(json!("x")));
    ensure_eq!(mid.as_of_seq, 1);
    Ok(())
}

/// An as-of point before the agent's first write (time before it, or seq 0) is NoBelief with
/// `as_of_seq` 0.
pub fn recall_as_of_before_first_write_is_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let t = x.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    for b in [at_time(&fx, t.plus_micros(-1))?, at_time(&fx, Timestamp::EPOCH)?, at_seq(&fx, 0)?] {
        ensure_eq!(b.status, BeliefStatus::NoBelief);
        ensure_eq!(b.as_of_seq, 0);
    }
    Ok(())
}

/// As-of pins liveness too: a claim invalidated later is still live as of before the
/// invalidation.
pub fn recall_as_of_pins_liveness(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.invalidate("a", x.claim(), "wrong")?;
    ensure_eq!(at_seq(&fx, 1)?.value, Some(json!("x")));
    ensure_eq!(at_seq(&fx, 2)?.status, BeliefStatus::NoBelief);
    fx.engine.reinstate("a", x.claim())?;
    ensure_eq!(at_seq(&fx, 2)?.status, BeliefStatus::NoBelief);
    ensure_eq!(at_seq(&fx, 3)?.value, Some(json!("x")));
    Ok(())
}

/// As-of pins resolutions: before a manual resolve the line is Contested, after it resolved.
pub fn recall_as_of_before_resolve_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.resolve("a", "s", "p", y.claim())?;
    ensure_eq!(at_seq(&fx, 2)?.status, BeliefStatus::Contested);
    ensure_eq!(at_seq(&fx, 3)?.value, Some(json!("y")));
    Ok(())
}

/// `as_of_seq` counts the agent's units across lines: a unit on another line still moves the
/// pin, and the belief reports the seq it was pinned to.
pub fn recall_as_of_seq_counts_units_of_every_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "other", 1))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let two = at_seq(&fx, 2)?;
    ensure_eq!(two.value, Some(json!("x")));
    ensure_eq!(two.as_of_seq, 2);
    let now = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(now.as_of_seq, 3);
    ensure_eq!(now.status, BeliefStatus::Contested);
    Ok(())
}

/// An as-of seq at or beyond the head sees everything.
pub fn recall_as_of_seq_beyond_head_sees_everything(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let far = at_seq(&fx, 1_000)?;
    ensure_eq!(far.status, BeliefStatus::Contested);
    ensure_eq!(far.values, vec![json!("x"), json!("y")]);
    let future = at_time(&fx, Timestamp(i64::MAX))?;
    ensure_eq!(future.status, BeliefStatus::Contested);
    Ok(())
}

/// History as of a point lists only claims written by then, with their statuses then, and
/// its belief equals recall at the same point.
pub fn history_as_of_shows_statuses_at_that_point(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.resolve("a", "s", "p", x.claim())?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "z"))?;
    let then = fx.engine.history("a", "s", "p", AsOf::Seq(2))?;
    ensure_eq!(then.as_of_seq, 2);
    let statuses: Vec<ClaimStatus> = then.entries.iter().map(|e| e.status).collect();
    ensure_eq!(statuses, vec![ClaimStatus::Current, ClaimStatus::Current]);
    ensure_eq!(then.current().status, BeliefStatus::Contested);
    ensure_eq!(*then.current(), at_seq(&fx, 2)?);
    let now = fx.engine.history("a", "s", "p", AsOf::Now)?;
    let statuses: Vec<ClaimStatus> = now.entries.iter().map(|e| e.status).collect();
    ensure_eq!(statuses, vec![ClaimStatus::Current, ClaimStatus::Superseded, ClaimStatus::Current]);
    Ok(())
}

/// History as of a time works like as of a seq.
pub fn history_as_of_time_matches_as_of_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.clock.advance_days(1);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let t = x.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let by_time = fx.engine.history("a", "s", "p", AsOf::Time(t))?;
    let by_seq = fx.engine.history("a", "s", "p", AsOf::Seq(1))?;
    ensure_eq!(by_time.entries, by_seq.entries);
    ensure_eq!(by_time.entries.len(), 1);
    ensure_eq!(by_time.as_of_seq, 1);
    Ok(())
}

/// `subject` as of a point lists only predicates written by then.
pub fn subject_as_of_lists_only_earlier_predicates(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "b", 1))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "a", 2))?;
    let then = fx.engine.subject("a", "s", AsOf::Seq(1), None)?;
    let preds: Vec<&str> = then.iter().map(|(p, _)| p.as_str()).collect();
    ensure_eq!(preds, vec!["b"]);
    ensure!(then.iter().all(|(_, b)| b.as_of_seq == 1), "{then:?}");
    let now = fx.engine.subject("a", "s", AsOf::Now, None)?;
    ensure_eq!(now.len(), 2);
    Ok(())
}

/// After the clock goes backwards, a read "now" still covers every committed unit: a trusted
/// window that started before the latest tx_time is current (interpretation: the as-of time of
/// "now" is never earlier than the agent's latest tx_time, which SPEC §1.5 keeps monotonic).
pub fn recall_now_after_clock_went_back_sees_current_window(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t = credence_core::Clock::now(&*fx.clock);
    let w = credence_core::ValidTime::new(Some(t.plus_micros(-1_800_000_000)), None);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(w))?;
    ensure_eq!(r.disposition, credence_core::Disposition::CommittedCheap);
    fx.clock.set(t.plus_micros(-3_600_000_000));
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.value, Some(json!("x")));
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure_eq!(h.current().value, Some(json!("x")));
    Ok(())
}

/// The two time axes are independent: "who did we think, in mid-2021, was CEO in mid-2022"
/// differs from "who do we now think was CEO in mid-2022" after a correction.
pub fn recall_bitemporal_as_of_and_valid_at_are_independent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let d = |y, m| Timestamp::from_ymd(y, m, 1).expect("valid date");
    let ceo = |v: &str, s, e| {
        IngestRequest::new("a", "acme", "ceo", v).with_valid_time(credence_core::ValidTime::new(Some(s), e))
    };
    fx.clock.set(d(2021, 1));
    let alice = fx.engine.ingest(ceo("Alice", d(2020, 1), None))?;
    fx.clock.set(d(2023, 1));
    fx.engine.invalidate("a", alice.claim(), "tenure ended in 2022")?;
    fx.engine.ingest(ceo("Alice", d(2020, 1), Some(d(2022, 1))))?;
    let bob = fx.engine.ingest(ceo("Bob", d(2022, 1), None))?;
    ensure_eq!(bob.rationale.as_deref(), Some("succession"));
    let q = || RecallQuery::new("a", "acme", "ceo");
    let then = fx.engine.recall(&q().as_of(d(2021, 6)).valid_at(d(2022, 6)))?;
    ensure_eq!(then.value, Some(json!("Alice")));
    ensure_eq!(then.primary_claim, alice.claim_ref);
    let now = fx.engine.recall(&q().valid_at(d(2022, 6)))?;
    ensure_eq!(now.value, Some(json!("Bob")));
    let now_2021 = fx.engine.recall(&q().valid_at(d(2021, 6)))?;
    ensure_eq!(now_2021.value, Some(json!("Alice")));
    ensure!(now_2021.primary_claim != alice.claim_ref, "the corrected claim answers now");
    Ok(())
}
