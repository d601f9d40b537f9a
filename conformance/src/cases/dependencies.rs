//! SPEC §2.3: the dependency cascade — claims that transitively `depends_on` a claim that stops
//! being live are flagged PendingReview (depth ≤ 64, each once) in the same commit unit.

use credence_core::ledger::read_with;
use credence_core::{
    AgentId, AsOf, AuditRange, ClaimEngine, ClaimRef, ClaimStatus, Disposition, Event, IngestRequest,
    LedgerEntry, Marker, Provenance, RecallQuery, Verdict, WriteReceipt,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// Every DependentFlaggedPendingReview entry of agent `a`, in seq order.
fn flags(fx: &Fixture) -> Result<Vec<LedgerEntry>, CaseError> {
    let id = AgentId::new("a").map_err(|e| CaseError::Failed(e.to_string()))?;
    let range = AuditRange { claim_ref: None, after: None, limit: 1_000_000_000, newest_first: false };
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| v.audit(&range))?
        .into_iter()
        .filter(|e| e.event == Event::DependentFlaggedPendingReview)
        .collect())
}

fn flagged_refs(fx: &Fixture) -> Result<Vec<ClaimRef>, CaseError> {
    Ok(flags(fx)?.into_iter().map(|e| e.claim_ref).collect())
}

/// Ingests a claim of agent `a` on line `(s, p)` depending on `parents`.
fn dep(fx: &Fixture, s: &str, parents: &[ClaimRef]) -> Result<ClaimRef, CaseError> {
    let r = fx.engine.ingest(IngestRequest::new("a", s, "p", s).depends_on(parents.iter().copied()))?;
    ensure!(r.disposition == Disposition::CommittedCheap, "{s}: {r:?}");
    Ok(r.claim())
}

fn markers(fx: &Fixture, s: &str) -> Result<Vec<Marker>, CaseError> {
    Ok(fx.engine.recall(&RecallQuery::new("a", s, "p"))?.markers)
}

fn seq_of(r: &WriteReceipt) -> Result<u64, CaseError> {
    r.seq.ok_or_else(|| CaseError::Failed(format!("receipt without seq: {r:?}")))
}

/// Invalidating a parent flags its dependent: the dependent stays live (history Current, same
/// value) and its belief carries the marker PendingReview.
pub fn invalidate_parent_flags_dependent_pending_review(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = dep(&fx, "parent", &[])?;
    let child = dep(&fx, "child", &[parent])?;
    ensure!(markers(&fx, "child")?.is_empty(), "no marker while the parent is live");
    fx.engine.invalidate("a", parent, "wrong")?;
    let belief = fx.engine.recall(&RecallQuery::new("a", "child", "p"))?;
    ensure_eq!(belief.value, Some("child".into()), "the dependent stays live");
    ensure_eq!(belief.markers, vec![Marker::PendingReview]);
    let history = fx.engine.history("a", "child", "p", AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1);
    ensure_eq!(history.entries[0].status, ClaimStatus::Current);
    ensure!(history.entries[0].markers.contains(&Marker::PendingReview), "{:?}", history.entries[0].markers);
    ensure_eq!(flagged_refs(&fx)?, vec![child]);
    Ok(())
}

/// The flag is an audit entry DependentFlaggedPendingReview (disposition PendingReview) in the
/// same commit unit as the invalidation.
pub fn cascade_entries_share_the_invalidation_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = dep(&fx, "parent", &[])?;
    let child = dep(&fx, "child", &[parent])?;
    let r = fx.engine.invalidate("a", parent, "wrong")?;
    let entries = flags(&fx)?;
    ensure_eq!(entries.len(), 1);
    ensure_eq!(entries[0].claim_ref, child);
    ensure_eq!(entries[0].disposition, Disposition::PendingReview);
    ensure_eq!(Some(entries[0].seq), r.seq);
    ensure_eq!(Some(entries[0].recorded_at), r.tx_time);
    let page =
        fx.engine.audit("a", &credence_core::AuditQuery { claim_ref: Some(child), ..Default::default() })?;
    ensure!(
        page.entries.iter().any(|e| e.event == Event::DependentFlaggedPendingReview),
        "the flag is visible through audit: {:?}",
        page.entries
    );
    Ok(())
}

/// Grandchildren are flagged too, in the same commit unit (same seq).
pub fn cascade_flags_grandchildren_in_same_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let root = dep(&fx, "root", &[])?;
    let child = dep(&fx, "child", &[root])?;
    let grandchild = dep(&fx, "grandchild", &[child])?;
    let great = dep(&fx, "great", &[grandchild])?;
    let r = fx.engine.invalidate("a", root, "x")?;
    let seq = seq_of(&r)?;
    let entries = flags(&fx)?;
    let mut refs: Vec<ClaimRef> = entries.iter().map(|e| e.claim_ref).collect();
    refs.sort();
    let mut expected = vec![child, grandchild, great];
    expected.sort();
    ensure_eq!(refs, expected);
    ensure!(entries.iter().all(|e| e.seq == seq), "all flags in the invalidation's unit: {entries:?}");
    for s in ["child", "grandchild", "great"] {
        ensure_eq!(markers(&fx, s)?, vec![Marker::PendingReview], "line {s}");
    }
    Ok(())
}

/// In a diamond (two paths to one descendant) every dependent is flagged exactly once.
pub fn cascade_diamond_flags_each_dependent_once(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let top = dep(&fx, "top", &[])?;
    let left = dep(&fx, "left", &[top])?;
    let right = dep(&fx, "right", &[top])?;
    let bottom = dep(&fx, "bottom", &[left, right])?;
    let below = dep(&fx, "below", &[bottom])?;
    fx.engine.invalidate("a", top, "x")?;
    let mut refs = flagged_refs(&fx)?;
    refs.sort();
    let mut expected = vec![left, right, bottom, below];
    expected.sort();
    ensure_eq!(refs, expected, "each dependent flagged exactly once");
    Ok(())
}

/// The cascade follows at most 64 levels: in a chain of 70, the claims 1..=64 levels below
/// the invalidated root are flagged and the deeper ones are not.
pub fn cascade_depth_limit_is_sixty_four(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut chain = vec![dep(&fx, "n00", &[])?];
    for i in 1..=70 {
        let parent = chain[i - 1];
        chain.push(dep(&fx, &format!("n{i:02}"), &[parent])?);
    }
    fx.engine.invalidate("a", chain[0], "x")?;
    let flagged = flagged_refs(&fx)?;
    ensure_eq!(flagged.len(), 64, "exactly 64 levels are flagged");
    for (depth, claim) in chain.iter().enumerate().skip(1) {
        let is_flagged = flagged.contains(claim);
        ensure_eq!(is_flagged, depth <= 64, "depth {depth}");
    }
    ensure_eq!(markers(&fx, "n64")?, vec![Marker::PendingReview]);
    ensure!(markers(&fx, "n65")?.is_empty(), "depth 65 is beyond the limit");
    Ok(())
}

/// Claims that do not depend on the invalidated claim (siblings, its own parent, claims derived
/// from it, other lines) are not flagged.
pub fn cascade_leaves_unrelated_claims_unflagged(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let grand = dep(&fx, "grand", &[])?;
    let target = dep(&fx, "target", &[grand])?;
    dep(&fx, "sibling", &[grand])?;
    fx.engine.ingest(IngestRequest::new("a", "derived", "p", 1).derived_from([target]))?;
    dep(&fx, "other", &[])?;
    let child = dep(&fx, "child", &[target])?;
    fx.engine.invalidate("a", target, "x")?;
    ensure_eq!(flagged_refs(&fx)?, vec![child]);
    for s in ["grand", "sibling", "derived", "other"] {
        ensure!(markers(&fx, s)?.is_empty(), "line {s} is not flagged");
    }
    Ok(())
}

/// A dependent whose parent is live is never flagged, and a flag only starts at the cascade's
/// unit: read as of the seq before it, the dependent carries no marker.
pub fn cascade_flag_is_bitemporal(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = dep(&fx, "parent", &[])?;
    dep(&fx, "child", &[parent])?;
    let r = fx.engine.invalidate("a", parent, "x")?;
    let seq = seq_of(&r)?;
    let before = fx.engine.recall(&RecallQuery::new("a", "child", "p").as_of_seq(seq - 1))?;
    ensure!(before.markers.is_empty(), "markers before the cascade: {:?}", before.markers);
    let after = fx.engine.recall(&RecallQuery::new("a", "child", "p").as_of_seq(seq))?;
    ensure_eq!(after.markers, vec![Marker::PendingReview]);
    Ok(())
}

/// A dependent with two parents is flagged when one of them stops being live.
pub fn cascade_flags_dependent_when_one_of_two_parents_stops(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let p1 = dep(&fx, "p1", &[])?;
    let p2 = dep(&fx, "p2", &[])?;
    let child = dep(&fx, "child", &[p1, p2])?;
    fx.engine.invalidate("a", p2, "x")?;
    ensure_eq!(flagged_refs(&fx)?, vec![child]);
    ensure_eq!(markers(&fx, "child")?, vec![Marker::PendingReview]);
    Ok(())
}

/// A parent superseded by a manual resolution flags its dependents in the resolution's unit.
pub fn resolve_superseding_parent_flags_dependent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?.claim();
    let on_acme = dep(&fx, "badge", &[acme])?;
    let on_globex = dep(&fx, "desk", &[globex])?;
    let r = fx.engine.resolve("a", "alice", "employer", globex)?;
    let entries = flags(&fx)?;
    ensure_eq!(entries.iter().map(|e| e.claim_ref).collect::<Vec<_>>(), vec![on_acme]);
    ensure_eq!(Some(entries[0].seq), r.seq);
    ensure!(markers(&fx, "desk")?.is_empty(), "the winner's dependent {on_globex} is not flagged");
    Ok(())
}

/// An incumbent superseded by an Affirm verdict flags its dependents in the verdict's unit.
pub fn affirm_superseding_parent_flags_dependent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let child = dep(&fx, "badge", &[acme])?;
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    let out = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER)?;
    let entries = flags(&fx)?;
    ensure_eq!(entries.iter().map(|e| (e.claim_ref, e.seq)).collect::<Vec<_>>(), vec![(child, out.seq)]);
    ensure_eq!(markers(&fx, "badge")?, vec![Marker::PendingReview]);
    Ok(())
}

/// A challenger superseded by a Deny verdict flags its dependents; the incumbent's are untouched.
pub fn deny_superseding_challenger_flags_its_dependents(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    let on_acme = dep(&fx, "badge", &[acme])?;
    let on_globex = dep(&fx, "desk", &[globex.claim()])?;
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    fx.engine.submit_adjudication("a", handle, Verdict::Deny, Provenance::USER)?;
    ensure_eq!(flagged_refs(&fx)?, vec![on_globex]);
    ensure!(markers(&fx, "badge")?.is_empty(), "{on_acme} depends on the holder and is not flagged");
    Ok(())
}

/// An Unknown verdict supersedes nothing, so nothing is flagged.
pub fn unknown_verdict_flags_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?;
    dep(&fx, "badge", &[acme])?;
    dep(&fx, "desk", &[globex.claim()])?;
    let handle = globex.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
    fx.engine.submit_adjudication("a", handle, Verdict::Unknown, Provenance::USER)?;
    ensure!(flags(&fx)?.is_empty(), "no claim stopped being live");
    Ok(())
}

/// A dependent on the same line as its parent is flagged and stays live on that line.
pub fn cascade_flags_dependent_on_same_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "alice", "skills", "rust").set_valued())?.claim();
    let child = fx
        .engine
        .ingest(IngestRequest::new("a", "alice", "skills", "cargo").set_valued().depends_on([parent]))?;
    ensure_eq!(child.disposition, Disposition::CommittedCheap);
    fx.engine.invalidate("a", parent, "x")?;
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "skills"))?;
    ensure_eq!(belief.values, vec![serde_json::json!("cargo")]);
    ensure_eq!(belief.markers, vec![Marker::PendingReview]);
    Ok(())
}

/// A resolution superseding two claims that share a dependent flags that dependent once.
pub fn resolve_superseding_two_parents_flags_shared_dependent_once(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?.claim();
    let initech = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Initech"))?.claim();
    let shared = dep(&fx, "report", &[globex, initech])?;
    fx.engine.resolve("a", "alice", "employer", acme)?;
    ensure_eq!(flagged_refs(&fx)?, vec![shared], "flagged exactly once");
    Ok(())
}

/// Reinstating the parent does not clear the dependent's flag: review is still owed
/// (docs/semantics.md), so PendingReview stays on its belief.
pub fn reinstating_parent_keeps_dependent_flagged(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = dep(&fx, "parent", &[])?;
    dep(&fx, "child", &[parent])?;
    fx.engine.invalidate("a", parent, "x")?;
    fx.engine.reinstate("a", parent)?;
    ensure_eq!(markers(&fx, "child")?, vec![Marker::PendingReview]);
    ensure!(markers(&fx, "parent")?.is_empty(), "the parent itself is not flagged");
    Ok(())
}
