//! SPEC §2.3: `resolve` — human-in-the-loop resolution of a line without an oracle.

use credence_core::ledger::read_with;
use credence_core::{
    AdjudicationStatus, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Disposition, Event,
    IngestRequest, LedgerEntry, RecallQuery, RejectReason, WriteReceipt,
};

use super::support::{agent_id, footprint, status};
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn entries_of(fx: &Fixture, agent: &str, claim: ClaimRef) -> Result<Vec<LedgerEntry>, CaseError> {
    let query = AuditQuery { claim_ref: Some(claim), limit: 1_000_000, ..AuditQuery::default() };
    Ok(fx.engine.audit(agent, &query)?.entries)
}

fn ingest(
    fx: &Fixture,
    s: &str,
    p: &str,
    v: impl Into<serde_json::Value>,
) -> Result<WriteReceipt, CaseError> {
    Ok(fx.engine.ingest(IngestRequest::new("a", s, p, v))?)
}

/// A Contested line `alice/employer` of agent `a`: "Acme" then "Globex" (no oracle).
fn contested(fx: &Fixture) -> Result<(ClaimRef, ClaimRef), CaseError> {
    let a = ingest(fx, "alice", "employer", "Acme")?;
    let b = ingest(fx, "alice", "employer", "Globex")?;
    ensure_eq!(b.disposition, Disposition::Contested);
    Ok((a.claim(), b.claim()))
}

fn rejected(r: &WriteReceipt) -> Result<RejectReason, CaseError> {
    ensure_eq!(r.disposition, Disposition::Rejected);
    ensure_eq!(r.seq, None, "a rejection has no seq");
    ensure_eq!(r.tx_time, None, "a rejection has no tx_time");
    r.reason.clone().ok_or_else(|| CaseError::Failed(format!("rejection without a reason: {r:?}")))
}

/// Resolving a Contested line supersedes every other live claim, gives the winner a Resolved
/// entry with CommittedCheap, and the belief becomes the winner's value.
pub fn resolve_contested_line_supersedes_losers_and_commits_winner(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let (acme, globex) = contested(&fx)?;
    let (seq_before, _) = footprint(&fx, "a")?;
    let r = fx.engine.resolve("a", "alice", "employer", globex)?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(r.claim_ref, Some(globex));
    ensure_eq!(r.seq, Some(seq_before + 1), "resolve is one commit unit");
    ensure_eq!(status(&fx, "alice", "employer", acme)?, (Disposition::Superseded, ClaimStatus::Superseded));
    ensure_eq!(
        status(&fx, "alice", "employer", globex)?,
        (Disposition::CommittedCheap, ClaimStatus::Current)
    );
    let winner: Vec<LedgerEntry> =
        entries_of(&fx, "a", globex)?.into_iter().filter(|e| Some(e.seq) == r.seq).collect();
    ensure!(
        winner.iter().any(|e| e.event == Event::Resolved && e.disposition == Disposition::CommittedCheap),
        "winner entries {winner:?}"
    );
    let loser: Vec<(Event, Disposition)> = entries_of(&fx, "a", acme)?
        .into_iter()
        .filter(|e| Some(e.seq) == r.seq)
        .map(|e| (e.event, e.disposition))
        .collect();
    ensure!(loser.contains(&(Event::ValidityAsserted, Disposition::Superseded)), "loser is Bound: {loser:?}");
    ensure!(loser.contains(&(Event::Resolved, Disposition::Superseded)), "loser entries {loser:?}");
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.status, BeliefStatus::TimingUncertain);
    ensure_eq!(belief.value, Some("Globex".into()));
    ensure_eq!(belief.primary_claim, Some(globex));
    ensure!(belief.markers.is_empty(), "markers {:?}", belief.markers);
    Ok(())
}

/// With three live values, resolve supersedes both others.
pub fn resolve_three_values_supersedes_all_others(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let (acme, globex) = contested(&fx)?;
    let initech = ingest(&fx, "alice", "employer", "Initech")?.claim();
    let r = fx.engine.resolve("a", "alice", "employer", acme)?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    for loser in [globex, initech] {
        ensure_eq!(status(&fx, "alice", "employer", loser)?.1, ClaimStatus::Superseded);
    }
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.values, vec![serde_json::json!("Acme")]);
    Ok(())
}

/// Every supporter of the winning value other than the winner is also superseded ("every other
/// live claim"), so only the winner supports the value afterwards.
pub fn resolve_supersedes_other_supporters_of_winning_value(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let (acme, _) = contested(&fx)?;
    let acme2 = ingest(&fx, "alice", "employer", "Acme")?;
    ensure_eq!(acme2.disposition, Disposition::CommittedCheap, "a corroboration");
    fx.engine.resolve("a", "alice", "employer", acme)?;
    ensure_eq!(status(&fx, "alice", "employer", acme2.claim())?.1, ClaimStatus::Superseded);
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.candidates.len(), 1);
    ensure_eq!(belief.candidates[0].supporting, vec![acme]);
    ensure_eq!(belief.corroboration_count, 0);
    Ok(())
}

/// Resolve closes the open adjudication rows of the line (status resolved) and leaves rows of
/// other lines open.
pub fn resolve_closes_open_pending_rows_of_the_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let acme = ingest(&fx, "alice", "employer", "Acme")?.claim();
    let globex = ingest(&fx, "alice", "employer", "Globex")?;
    ensure_eq!(globex.disposition, Disposition::QueuedForAdjudication);
    ingest(&fx, "bob", "employer", "Acme")?;
    let other = ingest(&fx, "bob", "employer", "Globex")?;
    let r = fx.engine.resolve("a", "alice", "employer", acme)?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(status(&fx, "alice", "employer", globex.claim())?.1, ClaimStatus::Superseded);
    let id = agent_id("a")?;
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    let row = read_with(fx.store.ledger.as_ref(), &id, |v| v.adjudication(handle))?;
    ensure_eq!(row.map(|a| a.status), Some(AdjudicationStatus::Resolved));
    let open: Vec<_> = fx.engine.pending(Some("a"))?.into_iter().map(|a| a.handle).collect();
    ensure_eq!(open, other.handle.into_iter().collect::<Vec<_>>(), "bob's row stays open");
    Ok(())
}

/// Resolving a line with a single live claim keeps it and records a Resolved entry.
pub fn resolve_uncontested_line_keeps_winner(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let only = ingest(&fx, "alice", "employer", "Acme")?.claim();
    let r = fx.engine.resolve("a", "alice", "employer", only)?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure!(r.contested_with.is_empty(), "nothing superseded: {:?}", r.contested_with);
    ensure!(
        entries_of(&fx, "a", only)?.iter().any(|e| e.event == Event::Resolved),
        "a Resolved entry is written"
    );
    ensure_eq!(status(&fx, "alice", "employer", only)?.1, ClaimStatus::Current);
    Ok(())
}

/// A resolution is bi-temporal: as of the seq before it the line is still Contested, and the
/// loser stays superseded afterwards.
pub fn resolve_as_of_before_resolution_still_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let (acme, _) = contested(&fx)?;
    let r = fx.engine.resolve("a", "alice", "employer", acme)?;
    let seq = r.seq.ok_or_else(|| CaseError::Failed("no seq".into()))?;
    let before = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(seq - 1))?;
    ensure_eq!(before.status, BeliefStatus::Contested);
    let after = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(seq))?;
    ensure_eq!(after.value, Some("Acme".into()));
    ingest(&fx, "other", "line", 1)?;
    let later = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(later.value, Some("Acme".into()));
    Ok(())
}

/// Resolving with an unknown claim is Rejected `UnknownClaim` and writes nothing.
pub fn resolve_unknown_claim_is_rejected_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    contested(&fx)?;
    let before = footprint(&fx, "a")?;
    let unknown: ClaimRef = "0190a5c4-0000-7000-8000-00000000beef"
        .parse()
        .map_err(|e| CaseError::Failed(format!("claim ref literal: {e}")))?;
    let r = fx.engine.resolve("a", "alice", "employer", unknown)?;
    ensure_eq!(rejected(&r)?, RejectReason::UnknownClaim { claim_ref: unknown });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    ensure_eq!(
        fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?.status,
        BeliefStatus::Contested
    );
    Ok(())
}

/// A claim of another agent is unknown to this agent: Rejected `UnknownClaim`, nothing written.
pub fn resolve_claim_of_other_agent_is_rejected_unknown_claim(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    contested(&fx)?;
    let foreign = fx.engine.ingest(IngestRequest::new("b", "alice", "employer", "Acme"))?.claim();
    let before = (footprint(&fx, "a")?, footprint(&fx, "b")?);
    let r = fx.engine.resolve("a", "alice", "employer", foreign)?;
    ensure_eq!(rejected(&r)?, RejectReason::UnknownClaim { claim_ref: foreign });
    ensure_eq!((footprint(&fx, "a")?, footprint(&fx, "b")?), before, "nothing written");
    Ok(())
}

/// A winner on another line is Rejected `WrongLine` and nothing is written.
pub fn resolve_winner_on_other_line_is_rejected_wrong_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    contested(&fx)?;
    let elsewhere = ingest(&fx, "alice", "city", "Paris")?.claim();
    let before = footprint(&fx, "a")?;
    let r = fx.engine.resolve("a", "alice", "employer", elsewhere)?;
    ensure!(
        matches!(rejected(&r)?, RejectReason::WrongLine { claim_ref, .. } if claim_ref == elsewhere),
        "reason {:?}",
        r.reason
    );
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    Ok(())
}

/// Same predicate, other subject is also another line: Rejected `WrongLine`.
pub fn resolve_winner_with_other_subject_is_rejected_wrong_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    contested(&fx)?;
    let bob = ingest(&fx, "bob", "employer", "Acme")?.claim();
    let r = fx.engine.resolve("a", "alice", "employer", bob)?;
    ensure!(matches!(rejected(&r)?, RejectReason::WrongLine { .. }), "reason {:?}", r.reason);
    ensure_eq!(status(&fx, "bob", "employer", bob)?.1, ClaimStatus::Current);
    Ok(())
}

/// A superseded winner is Rejected `NotLive` and nothing is written.
pub fn resolve_superseded_winner_is_rejected_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let (acme, globex) = contested(&fx)?;
    fx.engine.resolve("a", "alice", "employer", acme)?;
    let before = footprint(&fx, "a")?;
    let r = fx.engine.resolve("a", "alice", "employer", globex)?;
    ensure_eq!(rejected(&r)?, RejectReason::NotLive { claim_ref: globex });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    ensure_eq!(
        fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?.value,
        Some("Acme".into()),
        "the first resolution stands"
    );
    Ok(())
}

/// A winner that was never live (PendingLowConfidence) is Rejected `NotLive`.
pub fn resolve_pending_winner_is_rejected_not_live(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    contested(&fx)?;
    let weak =
        fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Hooli").with_confidence(0.1))?;
    ensure_eq!(weak.disposition, Disposition::PendingLowConfidence);
    let before = footprint(&fx, "a")?;
    let r = fx.engine.resolve("a", "alice", "employer", weak.claim())?;
    ensure_eq!(rejected(&r)?, RejectReason::NotLive { claim_ref: weak.claim() });
    ensure_eq!(footprint(&fx, "a")?, before, "nothing written");
    Ok(())
}
