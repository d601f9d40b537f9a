//! SPEC §1.3, §2.2 step 9 and §3.2 step 3: trusted valid-time windows, succession and
//! `valid_at`.

use credence_core::serde_json::json;
use credence_core::{
    AsOf, Belief, BeliefStatus, ClaimEngine, Disposition, EngineConfig, Granularity, IngestRequest,
    RecallQuery, Timestamp, ValidTime, WriteReceipt,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn day(y: i32, m: u32, d: u32) -> Timestamp {
    Timestamp::from_ymd(y, m, d).expect("the case uses valid calendar dates")
}

fn year(y: i32) -> Option<Timestamp> {
    Some(day(y, 1, 1))
}

fn ceo(name: &str, w: ValidTime) -> IngestRequest {
    IngestRequest::new("a", "acme", "ceo", name).with_valid_time(w)
}

/// The CEO line of the issue: Alice [2020, 2022), Bob [2022, 2024), Carol [2024, ∞).
fn ceo_line(fx: &Fixture) -> Result<[WriteReceipt; 3], CaseError> {
    Ok([
        fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?,
        fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), year(2024))))?,
        fx.engine.ingest(ceo("Carol", ValidTime::new(year(2024), None)))?,
    ])
}

fn ceo_at(fx: &Fixture, t: Timestamp) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "acme", "ceo").valid_at(t))?)
}

/// Trusted, pairwise non-overlapping windows succeed each other: Alice is `cheap_path`, Bob and
/// Carol are CommittedCheap `succession`.
pub fn ingest_trusted_disjoint_windows_are_committed_cheap_succession(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let [a, b, c] = ceo_line(&fx)?;
    ensure_eq!(a.rationale.as_deref(), Some("cheap_path"));
    for r in [&b, &c] {
        ensure_eq!(r.disposition, Disposition::CommittedCheap);
        ensure_eq!(r.rationale.as_deref(), Some("succession"));
        ensure!(r.contested_with.is_empty(), "{r:?}");
    }
    Ok(())
}

/// `valid_at` 2021-06-01 answers Alice, Resolved.
pub fn recall_valid_at_2021_is_alice(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let [a, _, _] = ceo_line(&fx)?;
    let b = ceo_at(&fx, day(2021, 6, 1))?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.value, Some(json!("Alice")));
    ensure_eq!(b.primary_claim, a.claim_ref);
    Ok(())
}

/// `valid_at` 2023-01-01 answers Bob.
pub fn recall_valid_at_2023_is_bob(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ceo_line(&fx)?;
    let b = ceo_at(&fx, day(2023, 1, 1))?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.value, Some(json!("Bob")));
    Ok(())
}

/// `valid_at` 2025-06-01 answers Carol.
pub fn recall_valid_at_2025_is_carol(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ceo_line(&fx)?;
    ensure_eq!(ceo_at(&fx, day(2025, 6, 1))?.value, Some(json!("Carol")));
    Ok(())
}

/// `valid_at` 2019-01-01 (before every window) answers NoBelief.
pub fn recall_valid_at_before_every_window_is_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ceo_line(&fx)?;
    let b = ceo_at(&fx, day(2019, 1, 1))?;
    ensure_eq!(b.status, BeliefStatus::NoBelief);
    ensure_eq!(b.value, None);
    ensure!(b.values.is_empty(), "{:?}", b.values);
    Ok(())
}

/// Windows are half-open: `valid_at` exactly on a boundary belongs to the window starting
/// there.
pub fn recall_valid_at_on_boundary_belongs_to_later_window(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ceo_line(&fx)?;
    ensure_eq!(ceo_at(&fx, day(2022, 1, 1))?.value, Some(json!("Bob")));
    ensure_eq!(ceo_at(&fx, day(2022, 1, 1).plus_micros(-1))?.value, Some(json!("Alice")));
    ensure_eq!(ceo_at(&fx, day(2024, 1, 1))?.value, Some(json!("Carol")));
    Ok(())
}

/// Without `valid_at`, when every live window is trusted, the default is the as-of time: now
/// → Carol.
pub fn recall_default_valid_at_is_now(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let [_, _, c] = ceo_line(&fx)?;
    fx.clock.advance_days(1);
    let b = fx.engine.recall(&RecallQuery::new("a", "acme", "ceo"))?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.value, Some(json!("Carol")));
    ensure_eq!(b.primary_claim, c.claim_ref);
    Ok(())
}

/// Without `valid_at`, a past as-of point uses that point's time as valid_at: the CEO as
/// recorded then.
pub fn recall_as_of_past_defaults_valid_at_to_as_of_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.clock.set(day(2021, 1, 1));
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    fx.clock.set(day(2023, 1, 1));
    fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), year(2024))))?;
    fx.clock.set(day(2025, 1, 1));
    fx.engine.ingest(ceo("Carol", ValidTime::new(year(2024), None)))?;
    let at = |t| fx.engine.recall(&RecallQuery::new("a", "acme", "ceo").as_of(t));
    ensure_eq!(at(day(2021, 6, 1))?.value, Some(json!("Alice")));
    ensure_eq!(at(day(2023, 6, 1))?.value, Some(json!("Bob")));
    ensure_eq!(at(day(2025, 6, 1))?.value, Some(json!("Carol")));
    let by_seq = fx.engine.recall(&RecallQuery::new("a", "acme", "ceo").as_of_seq(2))?;
    ensure_eq!(by_seq.value, Some(json!("Bob")), "as_of_seq 2 uses unit 2's tx_time");
    Ok(())
}

/// A lone live claim whose trusted window does not contain `valid_at` is dropped: NoBelief.
pub fn recall_lone_claim_outside_valid_at_is_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    ensure_eq!(ceo_at(&fx, day(2023, 1, 1))?.status, BeliefStatus::NoBelief);
    let now = fx.engine.recall(&RecallQuery::new("a", "acme", "ceo"))?;
    ensure_eq!(now.status, BeliefStatus::NoBelief, "the window ended before now");
    ensure_eq!(ceo_at(&fx, day(2021, 1, 1))?.value, Some(json!("Alice")));
    Ok(())
}

/// A claim with an untrusted window is never dropped by `valid_at`.
pub fn recall_untrusted_window_stays_for_any_valid_at(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = ValidTime::new(year(2020), year(2021)).with_confidence(0.5);
    fx.engine.ingest(ceo("Alice", w))?;
    for t in [day(2019, 1, 1), day(2020, 6, 1), day(2030, 1, 1)] {
        let b = ceo_at(&fx, t)?;
        ensure_eq!(b.value, Some(json!("Alice")), "valid_at {t}");
        ensure_eq!(b.status, BeliefStatus::Resolved, "a claim with valid-time data is not TimingUncertain");
    }
    Ok(())
}

/// When a live window is untrusted there is no default valid_at: an ended trusted window stays
/// live next to it (Contested) until an explicit `valid_at` drops it.
pub fn recall_untrusted_live_window_disables_default_valid_at(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    let bob = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None).with_confidence(0.5)))?;
    ensure_eq!(bob.disposition, Disposition::Contested, "an untrusted window cannot succeed");
    let now = fx.engine.recall(&RecallQuery::new("a", "acme", "ceo"))?;
    ensure_eq!(now.status, BeliefStatus::Contested);
    let b = ceo_at(&fx, day(2023, 1, 1))?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.value, Some(json!("Bob")));
    Ok(())
}

/// The trust threshold is inclusive: windows at confidence 0.7 succeed each other; at 0.69 they
/// are untrusted and the second claim contradicts the first.
pub fn ingest_succession_trust_threshold_is_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022)).with_confidence(0.7)))?;
    let bob = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None).with_confidence(0.7)))?;
    ensure_eq!(bob.rationale.as_deref(), Some("succession"));
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022)).with_confidence(0.69)))?;
    let bob = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None).with_confidence(0.69)))?;
    ensure_eq!(bob.disposition, Disposition::Contested);
    Ok(())
}

/// A custom `valid_time_confidence_threshold` decides trust.
pub fn ingest_custom_trust_threshold_decides_succession(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { valid_time_confidence_threshold: 0.9, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022)).with_confidence(0.8)))?;
    let bob = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None).with_confidence(0.8)))?;
    ensure_eq!(bob.disposition, Disposition::Contested, "0.8 is untrusted under a 0.9 threshold");
    let carol = fx.engine.ingest(ceo("Carol", ValidTime::new(year(2030), None).with_confidence(0.8)))?;
    ensure_eq!(carol.disposition, Disposition::Contested, "an untrusted future window is not quarantined");
    Ok(())
}

/// Overlapping trusted windows with different values are a contradiction: Contested.
pub fn ingest_overlapping_trusted_windows_with_different_values_are_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2023))))?;
    let b = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None)))?;
    ensure_eq!(b.disposition, Disposition::Contested);
    ensure_eq!(b.contested_with, vec![a.claim()]);
    let at = ceo_at(&fx, day(2022, 6, 1))?;
    ensure_eq!(at.status, BeliefStatus::Contested);
    ensure_eq!(ceo_at(&fx, day(2021, 1, 1))?.value, Some(json!("Alice")));
    ensure_eq!(ceo_at(&fx, day(2024, 1, 1))?.value, Some(json!("Bob")));
    Ok(())
}

/// Two open-ended trusted windows always overlap: the second value is Contested.
pub fn ingest_two_open_ended_trusted_windows_are_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), None)))?;
    let b = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None)))?;
    ensure_eq!(b.disposition, Disposition::Contested);
    Ok(())
}

/// A window overlapping one live window of a succession is Contested, and `contested_with`
/// names only the claims it overlaps (interpretation: a claim whose trusted window is disjoint
/// from the new one's is not contradicted by it).
pub fn ingest_window_overlapping_one_succession_claim_contests_only_it(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let [alice, _, _] = ceo_line(&fx)?;
    let dave = fx.engine.ingest(ceo("Dave", ValidTime::new(year(2021), year(2022))))?;
    ensure_eq!(dave.disposition, Disposition::Contested);
    ensure_eq!(dave.contested_with, vec![alice.claim()]);
    ensure_eq!(ceo_at(&fx, day(2021, 6, 1))?.status, BeliefStatus::Contested);
    ensure_eq!(ceo_at(&fx, day(2023, 1, 1))?.value, Some(json!("Bob")));
    Ok(())
}

/// With an oracle, a window overlapping one claim of a succession is queued against that claim
/// only: the adjudication's incumbents are the claims it overlaps.
pub fn ingest_overlap_with_oracle_queues_only_overlapping_incumbents(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let [alice, _, _] = ceo_line(&fx)?;
    let dave = fx.engine.ingest(ceo("Dave", ValidTime::new(year(2021), year(2022))))?;
    ensure_eq!(dave.disposition, Disposition::QueuedForAdjudication);
    let pending = fx.engine.pending(Some("a"))?;
    ensure_eq!(pending.len(), 1);
    ensure_eq!(pending[0].incumbents, vec![alice.claim()]);
    Ok(())
}

/// A succession after a corroborated window is CommittedCheap `succession` (interpretation:
/// "pairwise non-overlapping" is between different values; supporters of one value may overlap).
pub fn ingest_succession_after_corroborated_window_is_committed_cheap(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    let again = fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    ensure_eq!(again.rationale.as_deref(), Some("corroboration"));
    let bob = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), None)))?;
    ensure_eq!(bob.disposition, Disposition::CommittedCheap);
    ensure_eq!(bob.rationale.as_deref(), Some("succession"));
    ensure!(bob.contested_with.is_empty(), "{:?}", bob.contested_with);
    ensure_eq!(ceo_at(&fx, day(2021, 1, 1))?.corroboration_count, 1);
    ensure_eq!(ceo_at(&fx, day(2023, 1, 1))?.value, Some(json!("Bob")));
    Ok(())
}

/// An equal value in a trusted window disjoint from every (overlapping) supporter of that value
/// is not a contradiction: it is CommittedCheap with nothing in `contested_with`.
pub fn ingest_equal_value_disjoint_from_overlapping_supporters_is_not_contested(
    f: &dyn Factory,
) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2021), year(2022))))?;
    let r = fx.engine.ingest(ceo("Alice", ValidTime::new(year(2023), None)))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure!(r.contested_with.is_empty(), "{:?}", r.contested_with);
    ensure_eq!(ceo_at(&fx, day(2024, 1, 1))?.value, Some(json!("Alice")));
    ensure_eq!(ceo_at(&fx, day(2022, 6, 1))?.status, BeliefStatus::NoBelief);
    Ok(())
}

/// A ModelDerived claim in a trusted window disjoint from the live External windows does not
/// conflict with them: it is CommittedInferred and holds its own window.
pub fn ingest_model_derived_succession_is_committed_inferred(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    let m = fx.engine.ingest(
        ceo("Bob", ValidTime::new(year(2022), None)).with_provenance(credence_core::Provenance::ModelDerived),
    )?;
    ensure_eq!(m.disposition, Disposition::CommittedInferred);
    let b = ceo_at(&fx, day(2023, 1, 1))?;
    ensure_eq!(b.value, Some(json!("Bob")));
    ensure_eq!(b.markers, vec![credence_core::Marker::Inferred]);
    ensure_eq!(ceo_at(&fx, day(2021, 1, 1))?.markers, Vec::<credence_core::Marker>::new());
    Ok(())
}

/// Succession works whatever the ingest order: windows written out of order still succeed,
/// and valid_at picks the right one.
pub fn ingest_succession_out_of_order_is_still_succession(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let c = fx.engine.ingest(ceo("Carol", ValidTime::new(year(2024), None)))?;
    let a = fx.engine.ingest(ceo("Alice", ValidTime::new(year(2020), year(2022))))?;
    let b = fx.engine.ingest(ceo("Bob", ValidTime::new(year(2022), year(2024))))?;
    ensure_eq!(c.rationale.as_deref(), Some("cheap_path"));
    ensure_eq!(a.rationale.as_deref(), Some("succession"));
    ensure_eq!(b.rationale.as_deref(), Some("succession"));
    ensure_eq!(ceo_at(&fx, day(2023, 1, 1))?.value, Some(json!("Bob")));
    let h = fx.engine.history("a", "acme", "ceo", AsOf::Now)?;
    let names: Vec<_> = h.entries.iter().map(|e| e.claim.value.clone()).collect();
    ensure_eq!(names, vec![json!("Alice"), json!("Bob"), json!("Carol")]);
    Ok(())
}

/// Granularity is display precision only: a Year-granular window is not widened (its start
/// instant is exact) and decides succession exactly like an Instant one.
pub fn recall_granularity_is_display_only(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let yearly = |s, e| ValidTime {
        start_granularity: Some(Granularity::Year),
        end_granularity: Some(Granularity::Year),
        ..ValidTime::new(s, e)
    };
    fx.engine.ingest(ceo("Alice", yearly(year(2020), year(2022))))?;
    let bob = fx.engine.ingest(ceo("Bob", yearly(Some(day(2022, 6, 1)), None)))?;
    ensure_eq!(bob.rationale.as_deref(), Some("succession"));
    ensure_eq!(ceo_at(&fx, day(2022, 3, 1))?.status, BeliefStatus::NoBelief, "the 2022 gap is not filled");
    ensure_eq!(ceo_at(&fx, day(2022, 6, 1))?.value, Some(json!("Bob")));
    ensure_eq!(ceo_at(&fx, day(2021, 12, 31))?.value, Some(json!("Alice")));
    let h = fx.engine.history("a", "acme", "ceo", AsOf::Now)?;
    ensure_eq!(h.entries[1].claim.valid_time.and_then(|w| w.start_granularity), Some(Granularity::Year));
    Ok(())
}

/// The belief of a succession reports the chosen claim's window in its candidate.
pub fn recall_candidate_carries_its_valid_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    ceo_line(&fx)?;
    let b = ceo_at(&fx, day(2023, 1, 1))?;
    ensure_eq!(b.candidates.len(), 1);
    ensure_eq!(b.candidates[0].valid_time, Some(ValidTime::new(year(2022), year(2024))));
    Ok(())
}
