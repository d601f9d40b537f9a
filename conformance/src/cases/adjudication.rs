//! SPEC §2.2 step 10 and §2.3: the oracle loop — queueing, verdicts, expiry, sweep, pending.

use std::time::Duration;

use credence_core::ledger::read_with;
use credence_core::{
    Adjudication, AdjudicationStatus, AsOf, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus,
    Disposition, EngineConfig, Error, Event, Handle, IngestRequest, LedgerEntry, Marker, Provenance,
    RecallQuery, Timestamp, Verdict, WriteReceipt,
};

use super::support::{agent_id, status};
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// One hour, the TTL used by the expiry cases.
const TTL: Duration = Duration::from_secs(3600);
const TTL_MICROS: i64 = 3_600_000_000;

fn with_ttl(f: &dyn Factory) -> Result<Fixture, CaseError> {
    Fixture::build(f, EngineConfig { adjudication_ttl: Some(TTL), ..EngineConfig::default() }, true)
}

/// The agent's head seq straight from the ledger (0 when it has no rows).
fn head_seq(fx: &Fixture, agent: &str) -> Result<u64, CaseError> {
    let id = agent_id(agent)?;
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| v.head())?.map_or(0, |h| h.seq))
}

/// The adjudication row straight from the ledger.
fn row(fx: &Fixture, agent: &str, handle: Handle) -> Result<Adjudication, CaseError> {
    let id = agent_id(agent)?;
    read_with(fx.store.ledger.as_ref(), &id, |v| v.adjudication(handle))?
        .ok_or_else(|| CaseError::Failed(format!("no adjudication row for handle {handle}")))
}

/// Every ledger entry about one claim, in seq order.
fn entries_of(fx: &Fixture, agent: &str, claim: ClaimRef) -> Result<Vec<LedgerEntry>, CaseError> {
    let query = AuditQuery { claim_ref: Some(claim), limit: 1_000_000, ..AuditQuery::default() };
    Ok(fx.engine.audit(agent, &query)?.entries)
}

fn handle_of(r: &WriteReceipt) -> Result<Handle, CaseError> {
    r.handle.ok_or_else(|| CaseError::Failed(format!("receipt {r:?} carries no handle")))
}

/// An incumbent "Acme" and a queued challenger "Globex" on `alice/employer` of agent `a`.
fn queued(fx: &Fixture) -> Result<(WriteReceipt, WriteReceipt, Handle), CaseError> {
    let incumbent = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    fx.clock.advance_micros(1_000_000);
    let challenger = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    ensure_eq!(challenger.disposition, Disposition::QueuedForAdjudication);
    let handle = handle_of(&challenger)?;
    Ok((incumbent, challenger, handle))
}

fn recall(fx: &Fixture) -> Result<credence_core::Belief, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?)
}

/// True when some string inside `v` equals `needle`.
fn json_contains(v: &serde_json::Value, needle: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s == needle,
        serde_json::Value::Array(items) => items.iter().any(|i| json_contains(i, needle)),
        serde_json::Value::Object(map) => map.values().any(|i| json_contains(i, needle)),
        _ => false,
    }
}

/// An External contradiction with an oracle configured is QueuedForAdjudication, and the
/// oracle is told after commit.
pub fn conflict_with_oracle_is_queued_for_adjudication(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let second = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    ensure_eq!(second.disposition, Disposition::QueuedForAdjudication);
    ensure_eq!(second.contested_with, vec![first.claim()]);
    let requests = fx.oracle()?.requests();
    ensure_eq!(requests.len(), 1);
    ensure!(Some(requests[0].handle) == second.handle, "oracle got handle {:?}", requests[0].handle);
    let pending = fx.engine.pending(Some("a"))?;
    ensure_eq!(pending.len(), 1);
    ensure!(pending[0].notified, "the row is marked notified after the oracle accepted it");
    Ok(())
}

/// Queueing writes, in the challenger's own commit unit, a pending row (status pending, the
/// challenger, its incumbents, `queued_at` = the unit's tx_time) and an AdjudicationRequested entry.
pub fn queue_writes_pending_row_and_requested_entry_in_same_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let seq = challenger.seq.ok_or_else(|| CaseError::Failed("queued receipt has no seq".into()))?;
    ensure_eq!(head_seq(&fx, "a")?, seq, "queueing is exactly one commit unit");
    let adj = row(&fx, "a", handle)?;
    ensure_eq!(adj.status, AdjudicationStatus::Pending);
    ensure_eq!(adj.challenger, challenger.claim());
    ensure_eq!(adj.incumbents, vec![incumbent.claim()]);
    ensure_eq!(Some(adj.queued_at), challenger.tx_time);
    ensure_eq!(adj.seq, seq);
    ensure_eq!((adj.subject.as_str(), adj.predicate.as_str()), ("alice", "employer"));
    ensure_eq!(adj.agent_id.as_str(), "a");
    let entries = entries_of(&fx, "a", challenger.claim())?;
    let requested: Vec<&LedgerEntry> =
        entries.iter().filter(|e| e.event == Event::AdjudicationRequested).collect();
    ensure_eq!(requested.len(), 1, "exactly one AdjudicationRequested entry");
    ensure_eq!(requested[0].seq, seq, "AdjudicationRequested is in the claim's commit unit");
    ensure_eq!(requested[0].disposition, Disposition::QueuedForAdjudication);
    ensure_eq!(Some(requested[0].recorded_at), challenger.tx_time);
    let committed = entries.iter().find(|e| e.event == Event::ClaimCommitted);
    ensure!(committed.is_some_and(|e| e.seq == seq), "ClaimCommitted shares the unit: {entries:?}");
    Ok(())
}

/// With `adjudication_ttl` configured, a queued row expires at exactly `queued_at + ttl`.
pub fn queue_with_ttl_sets_expires_at_to_queued_at_plus_ttl(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, challenger, handle) = queued(&fx)?;
    let adj = row(&fx, "a", handle)?;
    let queued_at = challenger.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    ensure_eq!(adj.queued_at, queued_at);
    ensure_eq!(adj.expires_at, Some(queued_at.plus_micros(TTL_MICROS)));
    let pending = fx.engine.pending(Some("a"))?;
    ensure_eq!(pending.first().and_then(|p| p.expires_at), Some(queued_at.plus_micros(TTL_MICROS)));
    Ok(())
}

/// Without `adjudication_ttl` a queued row never expires: `expires_at` is `None`.
pub fn queue_without_ttl_has_no_expiry(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (_, _, handle) = queued(&fx)?;
    ensure_eq!(row(&fx, "a", handle)?.expires_at, None);
    Ok(())
}

/// While the challenger waits for the oracle the line's belief is Contested with both values.
pub fn queued_challenger_makes_belief_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    queued(&fx)?;
    let belief = recall(&fx)?;
    ensure_eq!(belief.status, BeliefStatus::Contested);
    ensure_eq!(belief.value, None);
    ensure_eq!(belief.values, vec![serde_json::json!("Acme"), serde_json::json!("Globex")]);
    ensure!(belief.markers.contains(&Marker::Contested), "markers {:?}", belief.markers);
    Ok(())
}

/// Without an oracle a contradiction is Contested and no adjudication row or
/// AdjudicationRequested entry is written.
pub fn conflict_without_oracle_queues_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    ensure_eq!(r.disposition, Disposition::Contested);
    ensure_eq!(r.handle, None);
    ensure!(fx.engine.pending(None)?.is_empty(), "no pending rows without an oracle");
    let entries = entries_of(&fx, "a", r.claim())?;
    ensure!(
        entries.iter().all(|e| e.event != Event::AdjudicationRequested),
        "no AdjudicationRequested entry: {entries:?}"
    );
    Ok(())
}

/// Affirm: the incumbent is Bound and Superseded, the challenger CommittedCheap, the row
/// resolved, and the belief is the challenger's value.
pub fn affirm_supersedes_incumbent_and_commits_challenger(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let before = head_seq(&fx, "a")?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure_eq!(out.handle, handle);
    ensure_eq!(out.verdict, Verdict::Affirm);
    ensure_eq!(out.seq, before + 1, "a verdict is one commit unit");
    ensure!(
        out.dispositions.contains(&(incumbent.claim(), Disposition::Superseded)),
        "{:?}",
        out.dispositions
    );
    ensure!(
        out.dispositions.contains(&(challenger.claim(), Disposition::CommittedCheap)),
        "{:?}",
        out.dispositions
    );
    ensure_eq!(
        status(&fx, "alice", "employer", incumbent.claim())?,
        (Disposition::Superseded, ClaimStatus::Superseded)
    );
    ensure_eq!(
        status(&fx, "alice", "employer", challenger.claim())?,
        (Disposition::CommittedCheap, ClaimStatus::Current)
    );
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    ensure!(fx.engine.pending(None)?.is_empty(), "the row is no longer pending");
    let belief = recall(&fx)?;
    ensure_eq!(belief.value, Some("Globex".into()));
    ensure_eq!(belief.primary_claim, challenger.claim_ref);
    ensure!(!belief.is_contested(), "belief {belief:?}");
    Ok(())
}

/// Affirm supersedes every live incumbent the row names (here the incumbent and an earlier,
/// still-queued challenger).
pub fn affirm_supersedes_every_live_incumbent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (first, second, _) = queued(&fx)?;
    let third = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Initech"))?;
    ensure_eq!(third.disposition, Disposition::QueuedForAdjudication);
    let mut incumbents = third.contested_with.clone();
    incumbents.sort();
    let mut expected = vec![first.claim(), second.claim()];
    expected.sort();
    ensure_eq!(incumbents, expected, "the third value contradicts both live claims");
    fx.engine.submit_adjudication("a", handle_of(&third)?, Verdict::Affirm, Provenance::USER)?;
    for loser in [first.claim(), second.claim()] {
        ensure_eq!(status(&fx, "alice", "employer", loser)?.1, ClaimStatus::Superseded);
    }
    let belief = recall(&fx)?;
    ensure_eq!(belief.value, Some("Initech".into()));
    ensure_eq!(belief.candidates.len(), 1);
    Ok(())
}

/// The verdict's ledger entries (ValidityAsserted + AdjudicationResolved for the loser,
/// AdjudicationResolved for the winner) share one seq and record the evidence provenance.
pub fn affirm_records_resolved_entries_with_evidence_provenance(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::ModelDerived)?;
    let loser: Vec<LedgerEntry> =
        entries_of(&fx, "a", incumbent.claim())?.into_iter().filter(|e| e.seq == out.seq).collect();
    let events: Vec<(Event, Disposition)> = loser.iter().map(|e| (e.event, e.disposition)).collect();
    ensure!(
        events.contains(&(Event::ValidityAsserted, Disposition::Superseded)),
        "loser gets a Bound assertion entry: {events:?}"
    );
    ensure!(events.contains(&(Event::AdjudicationResolved, Disposition::Superseded)), "{events:?}");
    let winner: Vec<LedgerEntry> =
        entries_of(&fx, "a", challenger.claim())?.into_iter().filter(|e| e.seq == out.seq).collect();
    let resolved: Vec<&LedgerEntry> =
        winner.iter().filter(|e| e.event == Event::AdjudicationResolved).collect();
    ensure_eq!(resolved.len(), 1);
    ensure_eq!(resolved[0].disposition, Disposition::CommittedCheap);
    for e in loser.iter().chain(&winner).filter(|e| e.event == Event::AdjudicationResolved) {
        ensure!(
            json_contains(&e.rationale, Provenance::ModelDerived.as_str()),
            "rationale {} records the evidence provenance",
            e.rationale
        );
    }
    Ok(())
}

/// A verdict is bi-temporal: read as of the seq before it, the line is still Contested.
pub fn affirm_as_of_before_verdict_still_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, _, handle) = queued(&fx)?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    let before = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(out.seq - 1))?;
    ensure_eq!(before.status, BeliefStatus::Contested);
    let history = fx.engine.history("a", "alice", "employer", AsOf::Seq(out.seq - 1))?;
    let old = history.entries.iter().find(|e| e.claim.claim_ref == incumbent.claim());
    ensure!(old.is_some_and(|e| e.status == ClaimStatus::Current), "incumbent live before the verdict");
    Ok(())
}

/// Deny: the challenger is Bound and Superseded, the incumbent holds the belief, the row resolved.
pub fn deny_supersedes_challenger_and_incumbent_holds(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::FIRST_HAND)?;
    ensure!(
        out.dispositions.contains(&(challenger.claim(), Disposition::Superseded)),
        "{:?}",
        out.dispositions
    );
    ensure_eq!(
        status(&fx, "alice", "employer", challenger.claim())?,
        (Disposition::Superseded, ClaimStatus::Superseded)
    );
    ensure_eq!(status(&fx, "alice", "employer", incumbent.claim())?.1, ClaimStatus::Current);
    ensure!(
        entries_of(&fx, "a", incumbent.claim())?.iter().all(|e| e.seq != out.seq),
        "Deny writes nothing about the incumbent"
    );
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    let belief = recall(&fx)?;
    ensure_eq!(belief.value, Some("Acme".into()));
    ensure_eq!(belief.primary_claim, incumbent.claim_ref);
    Ok(())
}

/// Unknown: challenger and incumbent are both Contested, the row resolved, the belief Contested.
pub fn unknown_verdict_contests_both_and_closes_row(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Unknown, Provenance::USER)?;
    for claim in [incumbent.claim(), challenger.claim()] {
        ensure!(out.dispositions.contains(&(claim, Disposition::Contested)), "{:?}", out.dispositions);
        ensure_eq!(status(&fx, "alice", "employer", claim)?, (Disposition::Contested, ClaimStatus::Current));
    }
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    ensure!(fx.engine.pending(Some("a"))?.is_empty(), "the row is closed");
    ensure_eq!(recall(&fx)?.status, BeliefStatus::Contested);
    Ok(())
}

/// A verdict arriving after `expires_at` returns `HandleExpired`, records the expiry (challenger
/// Contested with an AdjudicationExpired entry, row expired) and leaves the line Contested.
pub fn verdict_after_expiry_returns_handle_expired_and_contests(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    let before = head_seq(&fx, "a")?;
    fx.clock.advance_micros(2 * TTL_MICROS);
    let err = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleExpired { handle: h }) if h == handle), "got {err:?}");
    ensure_eq!(head_seq(&fx, "a")?, before + 1, "the expiry is recorded as one commit unit");
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Expired);
    let expired: Vec<LedgerEntry> = entries_of(&fx, "a", challenger.claim())?
        .into_iter()
        .filter(|e| e.event == Event::AdjudicationExpired)
        .collect();
    ensure_eq!(expired.len(), 1);
    ensure_eq!(expired[0].disposition, Disposition::Contested);
    ensure_eq!(expired[0].seq, before + 1);
    ensure_eq!(
        status(&fx, "alice", "employer", challenger.claim())?,
        (Disposition::Contested, ClaimStatus::Current)
    );
    ensure_eq!(status(&fx, "alice", "employer", incumbent.claim())?.1, ClaimStatus::Current);
    ensure_eq!(recall(&fx)?.status, BeliefStatus::Contested);
    ensure!(fx.engine.pending(None)?.is_empty(), "an expired row is not pending");
    Ok(())
}

/// The expiry boundary is inclusive: a verdict at exactly `expires_at` is expired.
pub fn verdict_exactly_at_expires_at_is_expired(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, _, handle) = queued(&fx)?;
    let expires_at =
        row(&fx, "a", handle)?.expires_at.ok_or_else(|| CaseError::Failed("no expiry".into()))?;
    fx.clock.set(expires_at);
    let err = fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleExpired { .. })), "got {err:?}");
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Expired);
    Ok(())
}

/// One microsecond before `expires_at` the verdict is still applied.
pub fn verdict_just_before_expiry_is_applied(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, challenger, handle) = queued(&fx)?;
    let expires_at =
        row(&fx, "a", handle)?.expires_at.ok_or_else(|| CaseError::Failed("no expiry".into()))?;
    fx.clock.set(expires_at.plus_micros(-1));
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure!(
        out.dispositions.contains(&(challenger.claim(), Disposition::CommittedCheap)),
        "{:?}",
        out.dispositions
    );
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    Ok(())
}

/// Submitting again to a handle that expired is `HandleAlreadyClosed` and writes nothing.
pub fn submit_to_expired_handle_is_already_closed(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, _, handle) = queued(&fx)?;
    fx.clock.advance_micros(2 * TTL_MICROS);
    let first = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(first, Err(Error::HandleExpired { .. })), "got {first:?}");
    let seq = head_seq(&fx, "a")?;
    let second = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(
        matches!(&second, Err(Error::HandleAlreadyClosed { handle: h, status }) if *h == handle && status == "expired"),
        "got {second:?}"
    );
    ensure_eq!(head_seq(&fx, "a")?, seq, "nothing written");
    Ok(())
}

/// An unknown handle is `HandleNotFound` and nothing is written.
pub fn submit_unknown_handle_is_not_found_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    queued(&fx)?;
    let seq = head_seq(&fx, "a")?;
    let unknown: Handle = "0190a5c4-0000-7000-8000-00000000dead"
        .parse()
        .map_err(|e| CaseError::Failed(format!("handle literal: {e}")))?;
    let err = fx.engine.submit_adjudication("a", unknown, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleNotFound { handle }) if handle == unknown), "got {err:?}");
    ensure_eq!(head_seq(&fx, "a")?, seq, "nothing written");
    ensure_eq!(fx.engine.pending(Some("a"))?.len(), 1, "the real row is untouched");
    Ok(())
}

/// Handles are looked up per agent: another agent's handle is `HandleNotFound` for this agent,
/// and neither agent gets a write.
pub fn submit_handle_of_other_agent_is_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (_, _, handle) = queued(&fx)?;
    fx.engine.ingest(IngestRequest::new("b", "x", "y", 1))?;
    let (seq_a, seq_b) = (head_seq(&fx, "a")?, head_seq(&fx, "b")?);
    let err = fx.engine.submit_adjudication("b", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleNotFound { .. })), "got {err:?}");
    ensure_eq!((head_seq(&fx, "a")?, head_seq(&fx, "b")?), (seq_a, seq_b), "nothing written");
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Pending);
    Ok(())
}

/// A handle already resolved is `HandleAlreadyClosed` (status `resolved`) and nothing is written.
pub fn submit_to_resolved_handle_is_already_closed_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (_, _, handle) = queued(&fx)?;
    fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER)?;
    let seq = head_seq(&fx, "a")?;
    let belief = recall(&fx)?;
    let err = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(
        matches!(&err, Err(Error::HandleAlreadyClosed { status, .. }) if status == "resolved"),
        "got {err:?}"
    );
    ensure_eq!(head_seq(&fx, "a")?, seq, "nothing written");
    ensure_eq!(recall(&fx)?, belief, "the first verdict stands");
    Ok(())
}

/// `sweep(now)` expires every overdue row (challenger Contested, AdjudicationExpired entry,
/// row expired), leaves rows not yet due pending, and reports the count.
pub fn sweep_expires_overdue_rows_and_reports_count(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let mut challengers = Vec::new();
    for (i, s) in ["s1", "s2", "s3"].into_iter().enumerate() {
        fx.engine.ingest(IngestRequest::new("a", s, "p", "old"))?;
        let c = fx.engine.ingest(IngestRequest::new("a", s, "p", "new"))?;
        ensure_eq!(c.disposition, Disposition::QueuedForAdjudication, "line {i}");
        challengers.push(c);
        fx.clock.advance_micros(TTL_MICROS / 2);
    }
    // Rows were queued at t0, t0 + ttl/2, t0 + ttl; sweep at t0 + ttl + ttl/4.
    let t0 = challengers[0].tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let now = t0.plus_micros(TTL_MICROS + TTL_MICROS / 4);
    fx.clock.set(now);
    let report = fx.engine.sweep(now)?;
    ensure_eq!(report.expired, 1);
    let r0 = row(&fx, "a", handle_of(&challengers[0])?)?;
    ensure_eq!(r0.status, AdjudicationStatus::Expired);
    ensure_eq!(row(&fx, "a", handle_of(&challengers[1])?)?.status, AdjudicationStatus::Pending);
    ensure_eq!(row(&fx, "a", handle_of(&challengers[2])?)?.status, AdjudicationStatus::Pending);
    let expired: Vec<LedgerEntry> = entries_of(&fx, "a", challengers[0].claim())?
        .into_iter()
        .filter(|e| e.event == Event::AdjudicationExpired)
        .collect();
    ensure_eq!(expired.len(), 1);
    ensure_eq!(expired[0].disposition, Disposition::Contested);
    ensure_eq!(status(&fx, "s1", "p", challengers[0].claim())?.0, Disposition::Contested);
    ensure_eq!(fx.engine.pending(Some("a"))?.len(), 2);
    let later = t0.plus_micros(3 * TTL_MICROS);
    fx.clock.set(later);
    ensure_eq!(fx.engine.sweep(later)?.expired, 2);
    ensure!(fx.engine.pending(None)?.is_empty(), "everything expired");
    Ok(())
}

/// Sweep's boundary is inclusive: a row whose `expires_at` equals `now` is expired.
pub fn sweep_at_exactly_expires_at_expires_row(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, _, handle) = queued(&fx)?;
    let expires_at =
        row(&fx, "a", handle)?.expires_at.ok_or_else(|| CaseError::Failed("no expiry".into()))?;
    fx.clock.set(expires_at);
    let before = fx.engine.sweep(expires_at.plus_micros(-1))?;
    ensure_eq!(before.expired, 0, "one microsecond early nothing expires");
    ensure_eq!(fx.engine.sweep(expires_at)?.expired, 1);
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Expired);
    Ok(())
}

/// A sweep with nothing due writes nothing (the agent's seq does not move).
pub fn sweep_before_expiry_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, challenger, _) = queued(&fx)?;
    let seq = head_seq(&fx, "a")?;
    let queued_at = challenger.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?;
    let report = fx.engine.sweep(queued_at.plus_micros(TTL_MICROS - 1))?;
    ensure_eq!(report.expired, 0);
    ensure_eq!(head_seq(&fx, "a")?, seq);
    ensure_eq!(fx.engine.pending(Some("a"))?.len(), 1);
    Ok(())
}

/// Sweep is idempotent: a second sweep at the same time expires nothing and writes nothing.
pub fn sweep_twice_is_idempotent(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, challenger, _) = queued(&fx)?;
    let now = challenger.tx_time.map_or(Timestamp::EPOCH, |t| t.plus_micros(2 * TTL_MICROS));
    fx.clock.set(now);
    ensure_eq!(fx.engine.sweep(now)?.expired, 1);
    let seq = head_seq(&fx, "a")?;
    let entries = entries_of(&fx, "a", challenger.claim())?.len();
    let again = fx.engine.sweep(now)?;
    ensure_eq!(again.expired, 0);
    ensure_eq!(again.renotified, 0);
    ensure_eq!(head_seq(&fx, "a")?, seq, "the second sweep writes nothing");
    ensure_eq!(entries_of(&fx, "a", challenger.claim())?.len(), entries);
    Ok(())
}

/// Without a TTL, sweeping far in the future expires nothing.
pub fn sweep_without_ttl_never_expires(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (_, _, handle) = queued(&fx)?;
    fx.clock.advance_days(10_000);
    let report = fx.engine.sweep(clock_now(&fx))?;
    ensure_eq!(report.expired, 0);
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Pending);
    Ok(())
}

/// Sweep expires overdue rows of every agent, not just one.
pub fn sweep_expires_rows_of_every_agent(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let mut handles = Vec::new();
    for agent in ["a", "b", "c"] {
        fx.engine.ingest(IngestRequest::new(agent, "s", "p", 1))?;
        let r = fx.engine.ingest(IngestRequest::new(agent, "s", "p", 2))?;
        handles.push((agent, handle_of(&r)?));
    }
    let now = clock_now(&fx).plus_micros(2 * TTL_MICROS);
    fx.clock.set(now);
    ensure_eq!(fx.engine.sweep(now)?.expired, 3);
    for (agent, handle) in handles {
        ensure_eq!(row(&fx, agent, handle)?.status, AdjudicationStatus::Expired, "agent {agent}");
    }
    Ok(())
}

/// An oracle that fails leaves the claim queued (live, line Contested) with `notified = false`;
/// no claim is orphaned.
pub fn failed_oracle_leaves_row_unnotified_and_claim_queued(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.oracle()?.set_failing(true);
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    ensure_eq!(r.disposition, Disposition::QueuedForAdjudication);
    let handle = handle_of(&r)?;
    let adj = row(&fx, "a", handle)?;
    ensure_eq!(adj.status, AdjudicationStatus::Pending);
    ensure!(!adj.notified, "a failed notification leaves notified = false");
    ensure!(fx.oracle()?.requests().is_empty(), "the oracle recorded nothing");
    let pending = fx.engine.pending(Some("a"))?;
    ensure!(pending.len() == 1 && !pending[0].notified, "pending {pending:?}");
    ensure_eq!(status(&fx, "alice", "employer", r.claim())?.1, ClaimStatus::Current);
    ensure_eq!(recall(&fx)?.status, BeliefStatus::Contested);
    Ok(())
}

/// Sweep re-notifies un-notified rows once the oracle is back, marks them notified and counts
/// them; while the oracle still fails it counts them as still un-notified.
pub fn sweep_renotifies_once_oracle_recovers(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let oracle = fx.oracle()?;
    oracle.set_failing(true);
    let (_, _, handle) = queued(&fx)?;
    let now = clock_now(&fx);
    let down = fx.engine.sweep(now)?;
    ensure_eq!((down.renotified, down.still_unnotified), (0, 1));
    ensure!(!row(&fx, "a", handle)?.notified, "still un-notified");
    oracle.set_failing(false);
    let up = fx.engine.sweep(now)?;
    ensure_eq!((up.renotified, up.still_unnotified, up.expired), (1, 0, 0));
    ensure!(row(&fx, "a", handle)?.notified, "marked notified after the retry");
    let requests = oracle.requests();
    ensure_eq!(requests.len(), 1);
    ensure_eq!(requests[0].handle, handle);
    let again = fx.engine.sweep(now)?;
    ensure_eq!(again.renotified, 0, "a notified row is not notified again");
    ensure_eq!(oracle.requests().len(), 1);
    Ok(())
}

/// Re-notifying consumes no seq: the agent's stream does not move.
pub fn sweep_renotify_consumes_no_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.oracle()?.set_failing(true);
    queued(&fx)?;
    let seq = head_seq(&fx, "a")?;
    fx.oracle()?.set_failing(false);
    ensure_eq!(fx.engine.sweep(clock_now(&fx))?.renotified, 1);
    ensure_eq!(head_seq(&fx, "a")?, seq);
    Ok(())
}

/// A verdict can be given for a row whose notification failed (the handle is in the receipt).
pub fn verdict_on_unnotified_row_is_applied(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.oracle()?.set_failing(true);
    let (_, challenger, handle) = queued(&fx)?;
    fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    ensure_eq!(recall(&fx)?.primary_claim, challenger.claim_ref);
    fx.oracle()?.set_failing(false);
    let report = fx.engine.sweep(clock_now(&fx))?;
    ensure_eq!(report.renotified, 0, "a closed row is never re-notified");
    Ok(())
}

/// `pending(None)` lists open rows of every agent, oldest `queued_at` first; `pending(Some)` only
/// that agent's.
pub fn pending_lists_open_rows_oldest_first_across_agents(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let mut expected = Vec::new();
    for (agent, line) in [("zeta", "l1"), ("alpha", "l1"), ("zeta", "l2"), ("mid", "l1")] {
        fx.engine.ingest(IngestRequest::new(agent, line, "p", "x"))?;
        fx.clock.advance_micros(10_000_000);
        let r = fx.engine.ingest(IngestRequest::new(agent, line, "p", "y"))?;
        expected.push(handle_of(&r)?);
        fx.clock.advance_micros(10_000_000);
    }
    let all: Vec<Handle> = fx.engine.pending(None)?.iter().map(|a| a.handle).collect();
    ensure_eq!(all, expected, "oldest first across agents");
    let zeta = fx.engine.pending(Some("zeta"))?;
    ensure_eq!(zeta.iter().map(|a| a.handle).collect::<Vec<_>>(), vec![expected[0], expected[2]]);
    ensure!(zeta.iter().all(|a| a.agent_id.as_str() == "zeta"), "only zeta's rows");
    ensure!(fx.engine.pending(Some("nobody"))?.is_empty(), "an unknown agent has none");
    Ok(())
}

/// Closed rows (resolved or expired) are not listed by `pending`.
pub fn pending_excludes_closed_rows(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let mut handles = Vec::new();
    for s in ["s1", "s2", "s3"] {
        if s == "s3" {
            fx.engine.submit_adjudication("a", handles[0], Verdict::Unknown, Provenance::USER)?;
            fx.clock.advance_micros(2 * TTL_MICROS);
        }
        fx.engine.ingest(IngestRequest::new("a", s, "p", 1))?;
        handles.push(handle_of(&fx.engine.ingest(IngestRequest::new("a", s, "p", 2))?)?);
    }
    let late = fx.engine.submit_adjudication("a", handles[1], Verdict::Affirm, Provenance::USER);
    ensure!(matches!(late, Err(Error::HandleExpired { .. })), "s2 was queued two TTLs ago: {late:?}");
    let open: Vec<Handle> = fx.engine.pending(Some("a"))?.iter().map(|a| a.handle).collect();
    ensure_eq!(open, vec![handles[2]]);
    ensure_eq!(row(&fx, "a", handles[0])?.status, AdjudicationStatus::Resolved);
    ensure_eq!(row(&fx, "a", handles[1])?.status, AdjudicationStatus::Expired);
    Ok(())
}

/// The fixture clock's current time.
fn clock_now(fx: &Fixture) -> Timestamp {
    credence_core::Clock::now(fx.clock.as_ref())
}

/// An incumbent invalidated while the row was pending is left alone by Affirm: only the
/// challenger is settled (CommittedCheap) and it becomes the belief.
pub fn affirm_after_incumbent_invalidated_settles_only_challenger(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    fx.engine.invalidate("a", incumbent.claim(), "retracted")?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    ensure_eq!(out.dispositions, vec![(challenger.claim(), Disposition::CommittedCheap)]);
    ensure_eq!(
        status(&fx, "alice", "employer", incumbent.claim())?,
        (Disposition::Invalidated, ClaimStatus::Invalidated)
    );
    ensure_eq!(recall(&fx)?.value, Some("Globex".into()));
    Ok(())
}

/// A challenger invalidated while its row was pending stays Invalidated (history status and
/// disposition) when the row later expires through `sweep`; the belief is unchanged.
///
/// Interpretation (SPEC is silent): an expiry records that no verdict came; it must not turn a
/// claim the user invalidated into a "Contested" one. Either skipping the expiry entry or
/// closing the row at invalidation satisfies this case.
pub fn expiry_of_invalidated_challenger_keeps_it_invalidated(f: &dyn Factory) -> CaseResult {
    let fx = with_ttl(f)?;
    let (_, challenger, _) = queued(&fx)?;
    fx.engine.invalidate("a", challenger.claim(), "retracted")?;
    let before = recall(&fx)?;
    let now = clock_now(&fx).plus_micros(2 * TTL_MICROS);
    fx.clock.set(now);
    fx.engine.sweep(now)?;
    ensure_eq!(
        status(&fx, "alice", "employer", challenger.claim())?,
        (Disposition::Invalidated, ClaimStatus::Invalidated)
    );
    ensure_eq!(recall(&fx)?.value, before.value);
    ensure!(fx.engine.pending(None)?.is_empty(), "nothing stays pending");
    Ok(())
}

/// Invalidating a queued challenger closes its adjudication in the same unit (docs/semantics.md:
/// a claim that stops being live closes the rows it is the challenger of): a later verdict is
/// `HandleAlreadyClosed`, writes nothing, and the claim stays Invalidated.
pub fn verdict_on_invalidated_challenger_is_already_closed(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    fx.engine.invalidate("a", challenger.claim(), "retracted")?;
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    ensure!(fx.engine.pending(None)?.is_empty(), "the row is closed by the invalidation");
    let seq = head_seq(&fx, "a")?;
    let verdict = fx.engine.submit_adjudication("a", handle, Verdict::Unknown, Provenance::USER);
    ensure!(matches!(verdict, Err(Error::HandleAlreadyClosed { .. })), "got {verdict:?}");
    ensure_eq!(head_seq(&fx, "a")?, seq, "nothing written");
    ensure_eq!(
        status(&fx, "alice", "employer", challenger.claim())?,
        (Disposition::Invalidated, ClaimStatus::Invalidated)
    );
    let belief = recall(&fx)?;
    ensure_eq!(belief.value, Some("Acme".into()));
    ensure_eq!(belief.primary_claim, incumbent.claim_ref);
    Ok(())
}

/// An earlier challenger superseded by a later Affirm stops being live, so its own row is closed
/// (resolved) in the same unit and a late verdict on it is `HandleAlreadyClosed`.
pub fn affirm_superseding_earlier_challenger_closes_its_row(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (_, second, first_handle) = queued(&fx)?;
    let third = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Initech"))?;
    let out = fx.engine.submit_adjudication("a", handle_of(&third)?, Verdict::Affirm, Provenance::USER)?;
    ensure!(out.dispositions.contains(&(second.claim(), Disposition::Superseded)), "{:?}", out.dispositions);
    ensure_eq!(row(&fx, "a", first_handle)?.status, AdjudicationStatus::Resolved);
    ensure!(fx.engine.pending(None)?.is_empty(), "no row stays open");
    let late = fx.engine.submit_adjudication("a", first_handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(late, Err(Error::HandleAlreadyClosed { .. })), "got {late:?}");
    ensure_eq!(recall(&fx)?.value, Some("Initech".into()));
    Ok(())
}

/// Resolving a line in favour of the queued challenger supersedes the incumbent and closes
/// the row, so a late verdict is `HandleAlreadyClosed`.
pub fn resolve_for_queued_challenger_closes_row_before_verdict(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let (incumbent, challenger, handle) = queued(&fx)?;
    fx.engine.resolve("a", "alice", "employer", challenger.claim())?;
    ensure_eq!(status(&fx, "alice", "employer", incumbent.claim())?.1, ClaimStatus::Superseded);
    ensure_eq!(row(&fx, "a", handle)?.status, AdjudicationStatus::Resolved);
    let seq = head_seq(&fx, "a")?;
    let late = fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER);
    ensure!(matches!(late, Err(Error::HandleAlreadyClosed { .. })), "got {late:?}");
    ensure_eq!(head_seq(&fx, "a")?, seq);
    ensure_eq!(recall(&fx)?.value, Some("Globex".into()));
    Ok(())
}
