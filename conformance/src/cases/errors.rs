//! SPEC §6: the one error type — what a retry can fix, NotFound for reads of unknown claims,
//! and bad input as a `Rejected` disposition rather than an error.

use credence_core::{
    AsOf, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, Disposition, EngineConfig, Error, Handle,
    IngestRequest, Provenance, RecallQuery, RejectReason, Verdict,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn unknown_claim() -> Result<ClaimRef, CaseError> {
    "0190a5c4-0000-7000-8000-00000000beef"
        .parse()
        .map_err(|e| CaseError::Failed(format!("claim ref literal: {e}")))
}

/// `is_retryable` is true for `Unavailable` and `Conflict`.
pub fn is_retryable_true_for_unavailable_and_conflict(_f: &dyn Factory) -> CaseResult {
    let unavailable = Error::Unavailable { backend: "test", reason: "database is locked".into() };
    let conflict = Error::Conflict { backend: "test", reason: "stream_seq taken".into() };
    ensure!(unavailable.is_retryable(), "{unavailable}");
    ensure!(conflict.is_retryable(), "{conflict}");
    Ok(())
}

/// `is_retryable` is false for every other error kind.
pub fn is_retryable_false_for_every_other_error(_f: &dyn Factory) -> CaseResult {
    let handle = Handle(unknown_claim()?.0);
    let others = [
        Error::NotFound { what: "claim".into() },
        Error::HandleNotFound { handle },
        Error::HandleExpired { handle },
        Error::HandleAlreadyClosed { handle, status: "resolved".into() },
        Error::InvalidConfig { reason: "threshold".into() },
        Error::InvalidStoreUrl { url: "nope://".into(), reason: "scheme".into() },
        Error::InvalidQuery { reason: "limit 0".into() },
        Error::SchemaTooNew { found: 9, supported: 1 },
        Error::corrupt("test", "row 1 does not decode"),
        Error::ReadOnly { backend: "test", reason: "read-only file system".into() },
        Error::Rejected { reason: credence_core::RejectReason::IdempotencyKeyReused { key: "k".into() } },
        Error::Backend { backend: "test", source: "disk on fire".into() },
    ];
    for e in &others {
        ensure!(!e.is_retryable(), "{e:?} must not be retryable");
    }
    Ok(())
}

/// The errors a verdict can produce are not retryable (retrying cannot change the outcome).
pub fn handle_errors_from_engine_are_not_retryable(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    let handle = r.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER)?;
    let closed = fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER);
    ensure!(matches!(&closed, Err(e @ Error::HandleAlreadyClosed { .. }) if !e.is_retryable()), "{closed:?}");
    let missing =
        fx.engine.submit_adjudication("a", Handle(unknown_claim()?.0), Verdict::Deny, Provenance::USER);
    ensure!(matches!(&missing, Err(e @ Error::HandleNotFound { .. }) if !e.is_retryable()), "{missing:?}");
    Ok(())
}

/// The lineage of an unknown claim is `Error::NotFound`.
pub fn lineage_of_unknown_claim_is_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let err = fx.engine.lineage("a", unknown_claim()?);
    ensure!(matches!(err, Err(Error::NotFound { .. })), "got {err:?}");
    Ok(())
}

/// The lineage of another agent's claim is `Error::NotFound` for this agent.
pub fn lineage_of_other_agents_claim_is_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let foreign = fx.engine.ingest(IngestRequest::new("b", "alice", "employer", "Acme"))?.claim();
    let err = fx.engine.lineage("a", foreign);
    ensure!(matches!(err, Err(Error::NotFound { .. })), "got {err:?}");
    ensure!(fx.engine.lineage("b", foreign)?.is_empty(), "the owner sees an empty lineage");
    Ok(())
}

/// The lineage of a claim under an invalid agent id is `Error::NotFound`, not a panic.
pub fn lineage_with_invalid_agent_is_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for agent in ["", "a\0b", "tab\there"] {
        let err = fx.engine.lineage(agent, unknown_claim()?);
        ensure!(matches!(err, Err(Error::NotFound { .. })), "agent {agent:?}: got {err:?}");
    }
    Ok(())
}

/// Bad input to a write is a `Rejected` disposition with a typed reason, never an error: an
/// invalid agent id for ingest, resolve, invalidate and reinstate.
pub fn invalid_agent_in_writes_is_rejected_not_error(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let claim = unknown_claim()?;
    let receipts = [
        fx.engine.ingest(IngestRequest::new("", "alice", "employer", "Acme"))?,
        fx.engine.resolve("", "alice", "employer", claim)?,
        fx.engine.invalidate("bad\0agent", claim, "x")?,
        fx.engine.reinstate("bad\nagent", claim)?,
    ];
    for r in &receipts {
        ensure_eq!(r.disposition, Disposition::Rejected);
        ensure!(
            matches!(
                r.reason,
                Some(
                    RejectReason::Empty { .. }
                        | RejectReason::ContainsNul { .. }
                        | RejectReason::ContainsControl { .. }
                )
            ),
            "reason {:?}",
            r.reason
        );
        ensure_eq!(r.seq, None);
    }
    ensure!(fx.engine.agents()?.is_empty(), "nothing was written");
    Ok(())
}

/// A verdict under an invalid agent id is `HandleNotFound` (no such agent has handles).
pub fn submit_with_invalid_agent_is_handle_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let handle = Handle(unknown_claim()?.0);
    let err = fx.engine.submit_adjudication("", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleNotFound { .. })), "got {err:?}");
    Ok(())
}

/// Reads under an invalid or unknown agent id answer empty, never an error.
pub fn reads_with_invalid_agent_are_empty_not_errors(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    for agent in ["", "nul\0", "nobody"] {
        ensure_eq!(
            fx.engine.recall(&RecallQuery::new(agent, "alice", "employer"))?.status,
            BeliefStatus::NoBelief
        );
        ensure!(fx.engine.history(agent, "alice", "employer", AsOf::Now)?.entries.is_empty(), "{agent:?}");
        ensure!(fx.engine.subject(agent, "alice", AsOf::Now, None)?.is_empty(), "{agent:?}");
        ensure!(fx.engine.audit(agent, &AuditQuery::default())?.entries.is_empty(), "{agent:?}");
        ensure!(fx.engine.pending(Some(agent))?.is_empty(), "{agent:?}");
    }
    Ok(())
}

/// An invalid configuration is a typed `InvalidConfig` error at construction, never a panic.
pub fn engine_with_invalid_config_is_invalid_config_error(f: &dyn Factory) -> CaseResult {
    let bad = [
        EngineConfig { valid_time_confidence_threshold: 1.5, ..EngineConfig::default() },
        EngineConfig { low_confidence_floor: f32::NAN, ..EngineConfig::default() },
        EngineConfig { aging_days: 91, decayed_days: 90, ..EngineConfig::default() },
        EngineConfig { quarantine_burst_threshold: 0, ..EngineConfig::default() },
    ];
    for config in bad {
        match Fixture::build(f, config.clone(), false) {
            Err(CaseError::Error(Error::InvalidConfig { .. })) => {}
            Err(other) => return Err(CaseError::Failed(format!("{config:?}: got {other}"))),
            Ok(_) => return Err(CaseError::Failed(format!("{config:?} was accepted"))),
        }
    }
    Ok(())
}

/// `adjudication_ttl`, when set, is at least 1 µs (SPEC §4): zero or less than a microsecond is
/// `InvalidConfig`; exactly one microsecond is accepted.
pub fn engine_with_adjudication_ttl_below_one_microsecond_is_invalid_config(f: &dyn Factory) -> CaseResult {
    for ttl in [std::time::Duration::ZERO, std::time::Duration::from_nanos(999)] {
        let config = EngineConfig { adjudication_ttl: Some(ttl), ..EngineConfig::default() };
        match Fixture::build(f, config, true) {
            Err(CaseError::Error(Error::InvalidConfig { reason })) => {
                ensure!(reason.contains("adjudication_ttl"), "the reason {reason:?} names the setting");
            }
            Err(other) => return Err(CaseError::Failed(format!("ttl {ttl:?}: got {other}"))),
            Ok(_) => return Err(CaseError::Failed(format!("ttl {ttl:?} was accepted"))),
        }
    }
    let one = EngineConfig {
        adjudication_ttl: Some(std::time::Duration::from_micros(1)),
        ..EngineConfig::default()
    };
    Fixture::build(f, one, true)?;
    Ok(())
}

/// Error messages name what went wrong (the handle of a handle error, the reason of a query
/// error).
pub fn error_messages_name_the_problem(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let handle = Handle(unknown_claim()?.0);
    let err = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(text.contains(&handle.to_string()), "message {text:?} names the handle");
    let err = fx.engine.audit("a", &AuditQuery { limit: 0, ..AuditQuery::default() });
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(text.contains("limit"), "message {text:?} names the limit");
    Ok(())
}
