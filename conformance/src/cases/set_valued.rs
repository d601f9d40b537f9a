//! SPEC §2.2 step 8 and §3.2: SetValued lines hold coexisting members.

use credence_core::serde_json::json;
use credence_core::{
    Belief, BeliefStatus, ClaimEngine, Criticality, Disposition, IngestRequest, Marker, Provenance,
    RecallQuery, Timestamp, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn member(v: &str) -> IngestRequest {
    IngestRequest::new("a", "alice", "speaks", v).set_valued()
}

fn recall(fx: &Fixture) -> Result<Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "alice", "speaks"))?)
}

/// SetValued members coexist: each is CommittedCheap (later ones `set_member`), the belief is
/// Resolved with every member in `values` (canonical order) and no single `value`.
pub fn ingest_set_valued_members_coexist_resolved(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let en = fx.engine.ingest(member("en"))?;
    ensure_eq!(en.disposition, Disposition::CommittedCheap);
    ensure_eq!(en.rationale.as_deref(), Some("cheap_path"));
    for v in ["fr", "de"] {
        let r = fx.engine.ingest(member(v))?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "member {v}");
        ensure_eq!(r.rationale.as_deref(), Some("set_member"), "member {v}");
        ensure!(r.contested_with.is_empty(), "member {v}: {:?}", r.contested_with);
    }
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.values, vec![json!("en"), json!("fr"), json!("de")]);
    ensure_eq!(b.candidates.len(), 3);
    ensure_eq!(b.value, None, "`value` is only for a Functional line");
    ensure_eq!(b.primary_claim, None);
    ensure!(b.markers.is_empty(), "markers {:?}", b.markers);
    Ok(())
}

/// A single SetValued member without valid time is TimingUncertain and, the line not being
/// Functional, carries no single `value`: the member is in `values`.
pub fn recall_single_set_valued_member_is_listed_in_values(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(member("en"))?;
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(b.values, vec![json!("en")]);
    ensure_eq!(b.value, None);
    Ok(())
}

/// A SetValued member repeated corroborates the existing member (step 7 before step 8).
pub fn ingest_repeated_set_valued_member_is_corroboration(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(member("en"))?;
    fx.engine.ingest(member("fr"))?;
    let r = fx.engine.ingest(member("en"))?;
    ensure_eq!(r.rationale.as_deref(), Some("corroboration"));
    let b = recall(&fx)?;
    ensure_eq!(b.values, vec![json!("en"), json!("fr")]);
    ensure_eq!(b.candidates[0].supporting.len(), 2);
    Ok(())
}

/// A Functional claim on a line of live SetValued members is a contradiction: Contested,
/// listing every member.
pub fn ingest_functional_claim_onto_set_valued_line_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let en = fx.engine.ingest(member("en"))?;
    let fr = fx.engine.ingest(member("fr"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "speaks", "es"))?;
    ensure_eq!(r.disposition, Disposition::Contested);
    ensure_eq!(r.contested_with, vec![en.claim(), fr.claim()]);
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.markers, vec![Marker::Contested]);
    Ok(())
}

/// A SetValued claim on a line holding a live Functional claim is a contradiction: Contested.
pub fn ingest_set_valued_claim_onto_functional_line_is_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let en = fx.engine.ingest(IngestRequest::new("a", "alice", "speaks", "en"))?;
    let r = fx.engine.ingest(member("fr"))?;
    ensure_eq!(r.disposition, Disposition::Contested);
    ensure_eq!(r.contested_with, vec![en.claim()]);
    ensure_eq!(recall(&fx)?.status, BeliefStatus::Contested);
    Ok(())
}

/// With an oracle configured, a new SetValued member is still CommittedCheap: nothing is queued.
pub fn ingest_set_valued_member_with_oracle_is_not_queued(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.engine.ingest(member("en"))?;
    let r = fx.engine.ingest(member("fr"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure!(fx.engine.pending(Some("a"))?.is_empty(), "nothing queued");
    ensure!(fx.oracle()?.requests().is_empty(), "oracle not asked");
    Ok(())
}

/// Invalidating one member leaves the others.
pub fn invalidate_set_valued_member_leaves_the_others(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(member("en"))?;
    let fr = fx.engine.ingest(member("fr"))?;
    fx.engine.ingest(member("de"))?;
    fx.engine.invalidate("a", fr.claim(), "wrong")?;
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.values, vec![json!("en"), json!("de")]);
    Ok(())
}

/// Members are listed in canonical order: by trusted valid start, not by ingest order.
pub fn recall_set_valued_values_follow_canonical_order(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let since = |y| ValidTime::new(Some(Timestamp::from_ymd(y, 1, 1).expect("valid date")), None);
    fx.engine.ingest(member("de").with_valid_time(since(2022)))?;
    fx.engine.ingest(member("en").with_valid_time(since(2001)))?;
    fx.engine.ingest(member("fr").with_valid_time(since(2010)))?;
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.values, vec![json!("en"), json!("fr"), json!("de")]);
    Ok(())
}

/// A ModelDerived member of a SetValued line does not conflict with the other members: it is
/// CommittedInferred and its candidate marks the belief `Inferred`.
pub fn ingest_model_derived_set_member_is_committed_inferred(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(member("en"))?;
    let r = fx.engine.ingest(member("fr").with_provenance(Provenance::ModelDerived))?;
    ensure_eq!(r.disposition, Disposition::CommittedInferred);
    let b = recall(&fx)?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.values, vec![json!("en"), json!("fr")]);
    ensure_eq!(b.markers, vec![Marker::Inferred]);
    Ok(())
}

/// A SetValued belief's criticality is the highest among its live members.
pub fn recall_set_valued_criticality_is_max_over_live_members(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(member("en").with_criticality(Criticality::Low))?;
    let hi = fx.engine.ingest(member("fr").with_criticality(Criticality::Critical))?;
    fx.engine.ingest(member("de").with_criticality(Criticality::High))?;
    ensure_eq!(recall(&fx)?.criticality, Some(Criticality::Critical));
    fx.engine.invalidate("a", hi.claim(), "wrong")?;
    ensure_eq!(recall(&fx)?.criticality, Some(Criticality::High));
    Ok(())
}

/// SetValued members with trusted windows are filtered by `valid_at` like any claim; the
/// default valid_at (all windows trusted) is now.
pub fn recall_set_valued_members_are_filtered_by_valid_at(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let y = |y| Some(Timestamp::from_ymd(y, 1, 1).expect("valid date"));
    fx.engine.ingest(member("en").with_valid_time(ValidTime::new(y(2000), y(2010))))?;
    fx.engine.ingest(member("fr").with_valid_time(ValidTime::new(y(2005), None)))?;
    let at = |t: Option<Timestamp>| {
        fx.engine.recall(&RecallQuery::new("a", "alice", "speaks").valid_at(t.expect("valid date")))
    };
    ensure_eq!(at(y(2008))?.values, vec![json!("en"), json!("fr")]);
    ensure_eq!(at(y(2012))?.values, vec![json!("fr")]);
    ensure_eq!(at(y(2001))?.values, vec![json!("en")]);
    ensure_eq!(recall(&fx)?.values, vec![json!("fr")]);
    Ok(())
}
