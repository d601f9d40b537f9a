//! SPEC §1.1 and §2.2 step 1: invalid input is `Rejected` with a typed reason, and nothing of
//! a rejected write is persisted.

use credence_core::ledger::read_with;
use credence_core::serde_json::json;
use credence_core::{
    AgentId, AuditQuery, ClaimEngine, ClaimRef, Disposition, EngineConfig, Field, IdSource, IngestRequest,
    RecallQuery, RejectReason, Relation, Timestamp, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// Ingests `req`, requires a `Rejected` receipt that names no unit, and returns the reason.
fn rejected(fx: &Fixture, req: IngestRequest) -> Result<RejectReason, CaseError> {
    let r = fx.engine.ingest(req.clone())?;
    ensure_eq!(r.disposition, Disposition::Rejected, "disposition of {req:?}");
    ensure!(r.seq.is_none() && r.tx_time.is_none() && r.handle.is_none(), "rejected receipt {r:?}");
    let shown = format!("{r:?}");
    r.reason.ok_or_else(|| CaseError::Failed(format!("rejected receipt without a reason: {shown}")))
}

/// Requires that the store holds no agent at all.
fn store_is_empty(fx: &Fixture) -> CaseResult {
    ensure_eq!(fx.store.ledger.agents()?, Vec::<AgentId>::new());
    Ok(())
}

fn head_seq(fx: &Fixture, id: &str) -> Result<u64, CaseError> {
    let id = AgentId::new(id).map_err(|r| CaseError::Failed(r.to_string()))?;
    Ok(read_with(&*fx.store.ledger, &id, |view| view.head())?.map_or(0, |h| h.seq))
}

/// An empty agent id is Rejected (`Empty { AgentId }`) and nothing is stored.
pub fn ingest_empty_agent_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reason = rejected(&fx, IngestRequest::new("", "s", "p", 1))?;
    ensure_eq!(reason, RejectReason::Empty { field: Field::AgentId });
    store_is_empty(&fx)
}

/// An agent id of 257 bytes is Rejected (`TooLong`); exactly 256 bytes (multi-byte
/// characters included) is accepted and listed exactly as given.
pub fn ingest_agent_id_length_limit_is_256_bytes_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let too_long = format!("{}x", "é".repeat(128));
    let reason = rejected(&fx, IngestRequest::new(too_long.as_str(), "s", "p", 1))?;
    ensure_eq!(reason, RejectReason::TooLong { field: Field::AgentId, len: 257, max: 256 });
    store_is_empty(&fx)?;
    let exact = "é".repeat(128);
    ensure_eq!(exact.len(), 256);
    let r = fx.engine.ingest(IngestRequest::new(exact.as_str(), "s", "p", 1))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let listed: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(listed, vec![exact.clone()]);
    ensure_eq!(fx.engine.recall(&RecallQuery::new(exact.as_str(), "s", "p"))?.value, Some(json!(1)));
    Ok(())
}

/// An agent id holding a NUL byte is Rejected (`ContainsNul { AgentId }`).
pub fn ingest_agent_with_nul_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for id in ["a\0b", "\0", "agent\0"] {
        let reason = rejected(&fx, IngestRequest::new(id, "s", "p", 1))?;
        ensure_eq!(reason, RejectReason::ContainsNul { field: Field::AgentId }, "agent {id:?}");
    }
    store_is_empty(&fx)
}

/// An agent id holding a control character is Rejected (`ContainsControl { AgentId }`).
pub fn ingest_agent_with_control_character_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for id in ["a\nb", "tab\there", "esc\u{1b}", "del\u{7f}", "c1\u{85}", "\r"] {
        let reason = rejected(&fx, IngestRequest::new(id, "s", "p", 1))?;
        ensure_eq!(reason, RejectReason::ContainsControl { field: Field::AgentId }, "agent {id:?}");
    }
    store_is_empty(&fx)
}

/// An empty subject or predicate is Rejected (`Empty`) naming the field.
pub fn ingest_empty_subject_or_predicate_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reason = rejected(&fx, IngestRequest::new("a", "", "p", 1))?;
    ensure_eq!(reason, RejectReason::Empty { field: Field::Subject });
    let reason = rejected(&fx, IngestRequest::new("a", "s", "", 1))?;
    ensure_eq!(reason, RejectReason::Empty { field: Field::Predicate });
    store_is_empty(&fx)
}

/// A subject or predicate of 1025 bytes is Rejected (`TooLong`); exactly 1024 bytes is
/// accepted and readable.
pub fn ingest_term_length_limit_is_1024_bytes_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let long = "ü".repeat(512) + "x";
    ensure_eq!(long.len(), 1025);
    let reason = rejected(&fx, IngestRequest::new("a", long.as_str(), "p", 1))?;
    ensure_eq!(reason, RejectReason::TooLong { field: Field::Subject, len: 1025, max: 1024 });
    let reason = rejected(&fx, IngestRequest::new("a", "s", long.as_str(), 1))?;
    ensure_eq!(reason, RejectReason::TooLong { field: Field::Predicate, len: 1025, max: 1024 });
    store_is_empty(&fx)?;
    let exact = "ü".repeat(512);
    ensure_eq!(exact.len(), 1024);
    let r = fx.engine.ingest(IngestRequest::new("a", exact.as_str(), exact.as_str(), 1))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let b = fx.engine.recall(&RecallQuery::new("a", exact.as_str(), exact.as_str()))?;
    ensure_eq!(b.value, Some(json!(1)));
    Ok(())
}

/// A subject or predicate holding a NUL byte is Rejected (`ContainsNul`) naming the field.
pub fn ingest_term_with_nul_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reason = rejected(&fx, IngestRequest::new("a", "s\0", "p", 1))?;
    ensure_eq!(reason, RejectReason::ContainsNul { field: Field::Subject });
    let reason = rejected(&fx, IngestRequest::new("a", "s", "\0p", 1))?;
    ensure_eq!(reason, RejectReason::ContainsNul { field: Field::Predicate });
    store_is_empty(&fx)
}

/// Subjects and predicates may hold control characters other than NUL (only agent ids forbid
/// them); such lines are stored and read back byte-for-byte.
pub fn ingest_term_with_control_characters_is_accepted(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let r = fx.engine.ingest(IngestRequest::new("a", "line\nbreak", "tab\there\u{7f}", "v"))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let b = fx.engine.recall(&RecallQuery::new("a", "line\nbreak", "tab\there\u{7f}"))?;
    ensure_eq!(b.value, Some(json!("v")));
    Ok(())
}

/// A value whose serialised size exceeds `max_value_bytes` is Rejected (`ValueTooLarge`);
/// exactly `max_value_bytes` is accepted.
pub fn ingest_value_size_limit_is_inclusive(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { max_value_bytes: 100, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let too_big = json!("x".repeat(99));
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", too_big))?;
    ensure_eq!(reason, RejectReason::ValueTooLarge { size: 101, max: 100 });
    let obj = json!({"k": "y".repeat(93)});
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", obj))?;
    ensure_eq!(reason, RejectReason::ValueTooLarge { size: 101, max: 100 });
    store_is_empty(&fx)?;
    let exact = json!("x".repeat(98));
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", exact.clone()))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(exact));
    Ok(())
}

/// With the default configuration, 65 536 serialised bytes are accepted and 65 537 rejected.
pub fn ingest_value_default_limit_is_64_kib(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", json!("x".repeat(65_535))))?;
    ensure_eq!(reason, RejectReason::ValueTooLarge { size: 65_537, max: 65_536 });
    let exact = json!("x".repeat(65_534));
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", exact.clone()))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(exact));
    Ok(())
}

/// A value confidence that is NaN, infinite, negative or above 1 is Rejected
/// (`ConfidenceOutOfRange { Confidence }`).
pub fn ingest_confidence_out_of_range_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for c in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.01, 1.01, -1.0, 2.0] {
        let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).with_confidence(c))?;
        ensure!(
            matches!(reason, RejectReason::ConfidenceOutOfRange { field: Field::Confidence, .. }),
            "confidence {c}: {reason:?}"
        );
    }
    store_is_empty(&fx)
}

/// Confidences 0 and 1 are in range: they are not Rejected.
pub fn ingest_confidence_bounds_are_accepted(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let one = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_confidence(1.0))?;
    ensure_eq!(one.disposition, Disposition::CommittedCheap);
    let zero = fx.engine.ingest(IngestRequest::new("a", "s", "q", 1).with_confidence(0.0))?;
    ensure_eq!(zero.disposition, Disposition::PendingLowConfidence);
    let w = ValidTime::new(Some(Timestamp::from_ymd(2020, 1, 1).expect("valid date")), None);
    for c in [0.0, 1.0] {
        let r =
            fx.engine.ingest(IngestRequest::new("a", "s", "w", 1).with_valid_time(w.with_confidence(c)))?;
        ensure!(r.disposition != Disposition::Rejected, "valid-time confidence {c}: {r:?}");
    }
    Ok(())
}

/// A valid-time confidence that is NaN, infinite or outside [0, 1] is Rejected
/// (`ConfidenceOutOfRange { ValidTimeConfidence }`).
pub fn ingest_valid_time_confidence_out_of_range_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = ValidTime::new(Some(Timestamp::from_ymd(2020, 1, 1).expect("valid date")), None);
    for c in [f32::NAN, f32::INFINITY, -0.5, 1.5] {
        let req = IngestRequest::new("a", "s", "p", 1).with_valid_time(w.with_confidence(c));
        let reason = rejected(&fx, req)?;
        ensure!(
            matches!(reason, RejectReason::ConfidenceOutOfRange { field: Field::ValidTimeConfidence, .. }),
            "valid-time confidence {c}: {reason:?}"
        );
    }
    store_is_empty(&fx)
}

/// A `derived_from` parent that does not exist is Rejected (`UnknownParent { DerivedFrom }`)
/// and consumes no seq.
pub fn ingest_unknown_derived_from_parent_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let real = fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?.claim();
    let ghost = ClaimRef(fx.ids.next_id(Timestamp::EPOCH));
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).derived_from([real, ghost]))?;
    ensure_eq!(reason, RejectReason::UnknownParent { relation: Relation::DerivedFrom, claim_ref: ghost });
    ensure_eq!(head_seq(&fx, "a")?, 1);
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.values.len(), 0);
    Ok(())
}

/// A `depends_on` parent that does not exist is Rejected (`UnknownParent { DependsOn }`).
pub fn ingest_unknown_depends_on_parent_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let ghost = ClaimRef(fx.ids.next_id(Timestamp::EPOCH));
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).depends_on([ghost]))?;
    ensure_eq!(reason, RejectReason::UnknownParent { relation: Relation::DependsOn, claim_ref: ghost });
    store_is_empty(&fx)
}

/// A parent listed twice (in either list) is Rejected (`DuplicateParent`), even when it
/// exists.
pub fn ingest_parent_listed_twice_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let p = fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?.claim();
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).derived_from([p, p]))?;
    ensure_eq!(reason, RejectReason::DuplicateParent { relation: Relation::DerivedFrom, claim_ref: p });
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).depends_on([p, p]))?;
    ensure_eq!(reason, RejectReason::DuplicateParent { relation: Relation::DependsOn, claim_ref: p });
    ensure_eq!(head_seq(&fx, "a")?, 1);
    let ok = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).derived_from([p]).depends_on([p]))?;
    ensure_eq!(ok.disposition, Disposition::CommittedCheap);
    Ok(())
}

/// A parent that belongs to another agent is unknown for this agent (`UnknownParent`).
pub fn ingest_parent_of_another_agent_is_unknown(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let foreign = fx.engine.ingest(IngestRequest::new("other", "s", "p", 1))?.claim();
    fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?;
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).derived_from([foreign]))?;
    ensure_eq!(reason, RejectReason::UnknownParent { relation: Relation::DerivedFrom, claim_ref: foreign });
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", 1).depends_on([foreign]))?;
    ensure_eq!(reason, RejectReason::UnknownParent { relation: Relation::DependsOn, claim_ref: foreign });
    ensure_eq!(head_seq(&fx, "a")?, 1);
    Ok(())
}

/// A rejected write persists nothing: no claim, no audit entry, no seq, and a new agent is not
/// listed.
pub fn ingest_rejected_persists_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let kept = fx.engine.ingest(IngestRequest::new("a", "s", "p", "kept"))?;
    let ghost = ClaimRef(fx.ids.next_id(Timestamp::EPOCH));
    let bad = [
        IngestRequest::new("a", "s", "p", "x").with_confidence(f32::NAN),
        IngestRequest::new("a", "s\0", "p", "x"),
        IngestRequest::new("a", "s", "p", "x").depends_on([ghost]),
        IngestRequest::new("a", "s", "p", "x").derived_from([kept.claim(), kept.claim()]),
        IngestRequest::new("new\nagent", "s", "p", "x"),
        IngestRequest::new("new", "", "p", "x"),
    ];
    for req in bad {
        rejected(&fx, req)?;
    }
    let audit = fx.engine.audit("a", &AuditQuery { limit: 1000, ..AuditQuery::default() })?;
    ensure!(audit.entries.iter().all(|e| e.seq == 1), "audit after rejections: {:?}", audit.entries);
    let history = fx.engine.history("a", "s", "p", credence_core::AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1);
    ensure_eq!(head_seq(&fx, "a")?, 1);
    let listed: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(listed, vec!["a".to_owned()]);
    let audit_new = fx.engine.audit("new", &AuditQuery::default())?;
    ensure!(audit_new.entries.is_empty(), "audit of a never-accepted agent: {:?}", audit_new.entries);
    Ok(())
}

/// A rejected receipt's reason is typed and serialises with a snake_case `code`.
pub fn ingest_reject_reason_serialises_with_code(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let reason = rejected(&fx, IngestRequest::new("a", "", "p", 1))?;
    let wire = credence_core::serde_json::to_value(&reason)
        .map_err(|e| CaseError::Failed(format!("reason does not serialise: {e}")))?;
    ensure_eq!(wire, json!({"code": "empty", "field": "subject"}));
    Ok(())
}

/// The value limit counts serialised UTF-8 bytes, escapes included: `"é"` is 2 bytes, a control
/// character serialises as a 6-byte `\u00XX` escape.
pub fn ingest_value_size_counts_serialised_bytes(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { max_value_bytes: 62, ..EngineConfig::default() };
    let fx = Fixture::build(f, config, false)?;
    let ok = fx.engine.ingest(IngestRequest::new("a", "s", "p", "é".repeat(30)))?;
    ensure_eq!(ok.disposition, Disposition::CommittedCheap);
    let reason = rejected(&fx, IngestRequest::new("a", "s", "q", "é".repeat(31)))?;
    ensure_eq!(reason, RejectReason::ValueTooLarge { size: 64, max: 62 });
    let ok = fx.engine.ingest(IngestRequest::new("a", "s", "r", "\u{1}".repeat(10)))?;
    ensure_eq!(ok.disposition, Disposition::CommittedCheap);
    let reason = rejected(&fx, IngestRequest::new("a", "s", "t", "\u{1}".repeat(11)))?;
    ensure_eq!(reason, RejectReason::ValueTooLarge { size: 68, max: 62 });
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "r"))?.value, Some(json!("\u{1}".repeat(10))));
    Ok(())
}

/// A claim with every term at its limit at once (256-byte agent, 1024-byte subject and
/// predicate, a 64 KiB value) is stored, listed and read back exactly.
pub fn ingest_all_terms_at_their_limits_round_trip(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let agent = "ä".repeat(128);
    let subject = "ß".repeat(512);
    let predicate = "€".repeat(341) + "x";
    ensure!(agent.len() == 256 && subject.len() == 1024 && predicate.len() == 1024, "limits");
    let value = json!("v".repeat(65_534));
    let r = fx.engine.ingest(IngestRequest::new(
        agent.as_str(),
        subject.as_str(),
        predicate.as_str(),
        value.clone(),
    ))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let again = fx.engine.ingest(IngestRequest::new(
        agent.as_str(),
        subject.as_str(),
        predicate.as_str(),
        value.clone(),
    ))?;
    ensure_eq!(again.rationale.as_deref(), Some("corroboration"));
    let b = fx.engine.recall(&RecallQuery::new(agent.as_str(), subject.as_str(), predicate.as_str()))?;
    ensure_eq!(b.value, Some(value));
    ensure_eq!(b.corroboration_count, 1);
    let preds: Vec<String> = fx
        .engine
        .subject(agent.as_str(), &subject, credence_core::AsOf::Now, None)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    ensure_eq!(preds, vec![predicate]);
    let listed: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(listed, vec![agent]);
    Ok(())
}

/// A value nesting arrays/objects 101 levels deep is Rejected (`ValueTooDeep { depth: 101,
/// max: 100 }`); exactly 100 levels is accepted and round-trips.
pub fn ingest_value_nesting_limit_is_100_levels_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let nest = |leaf: credence_core::serde_json::Value, levels: usize| {
        (0..levels).fold(leaf, |v, i| if i % 2 == 0 { json!([v]) } else { json!({ "k": v }) })
    };
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", nest(json!([]), 100)))?;
    ensure_eq!(reason, RejectReason::ValueTooDeep { depth: 101, max: 100 });
    let reason = rejected(&fx, IngestRequest::new("a", "s", "p", nest(json!("leaf"), 1_000)))?;
    ensure!(matches!(reason, RejectReason::ValueTooDeep { max: 100, .. }), "{reason:?}");
    store_is_empty(&fx)?;
    let deepest = nest(json!({"leaf": true}), 99);
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", deepest.clone()))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(deepest));
    Ok(())
}
