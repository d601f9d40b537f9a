//! SPEC §3.3 and §7: no silent caps — large audit trails, long lines, many predicates, many
//! pending rows — and state decided early stays decided.

use std::time::Duration;

use credence_core::ledger::read_with;
use credence_core::{
    AgentId, AsOf, AuditQuery, BeliefStatus, ClaimEngine, ClaimStatus, Disposition, EngineConfig, Event,
    IngestRequest, RecallQuery,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// More than 10 000 ledger entries for one agent: a claim superseded in the third unit is still
/// superseded at the end (and still live as of before), and the whole trail is returned in one
/// page when asked, without a cap.
pub fn ten_thousand_entries_no_caps_and_superseded_stays_superseded(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let acme = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let globex = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?.claim();
    let resolved = fx.engine.resolve("a", "alice", "employer", acme)?;
    ensure_eq!(resolved.seq, Some(3));
    // 500 claims depending on one root, then 20 invalidate/reinstate cycles of the root (each
    // invalidation flags all 499 dependents in one unit) plus 500 ingests on other lines.
    let root = fx.engine.ingest(IngestRequest::new("a", "root", "p", 0))?.claim();
    for i in 1..500 {
        fx.engine.ingest(IngestRequest::new("a", format!("dep{i:03}"), "p", i).depends_on([root]))?;
    }
    for cycle in 0..20 {
        fx.engine.invalidate("a", root, "cycle")?;
        fx.engine.reinstate("a", root)?;
        for j in 0..25 {
            fx.engine.ingest(IngestRequest::new("a", "noise", format!("q{cycle}-{j}"), j))?;
        }
    }
    // Opening: 2 ClaimCommitted + the resolution (loser: ValidityAsserted + Resolved; winner:
    // Resolved). Then 500 ClaimCommitted, 20 × (ValidityAsserted + Invalidated + 499 flags +
    // ValidityAsserted + Reinstated), 500 noise claims.
    let expected_total = 5 + 500 + 20 * 503 + 500;
    ensure!(expected_total > 10_000, "the workload exceeds 10 000 entries");
    let page = fx.engine.audit("a", &AuditQuery { limit: 1_000_000, ..AuditQuery::default() })?;
    ensure_eq!(page.entries.len(), expected_total, "one page holds every entry: no cap");
    ensure_eq!(page.next, None);
    let id = AgentId::new("a").map_err(|e| CaseError::Failed(e.to_string()))?;
    let head = read_with(fx.store.ledger.as_ref(), &id, |v| v.head())?.map_or(0, |h| h.seq);
    ensure_eq!(head, 3 + 500 + 20 * 27, "one unit per write");

    let history = fx.engine.history("a", "alice", "employer", AsOf::Now)?;
    let status_of =
        |r| history.entries.iter().find(|e| e.claim.claim_ref == r).map(|e| (e.disposition, e.status));
    ensure_eq!(status_of(globex), Some((Disposition::Superseded, ClaimStatus::Superseded)));
    ensure_eq!(status_of(acme).map(|s| s.1), Some(ClaimStatus::Current));
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.value, Some("Acme".into()));
    ensure_eq!(belief.as_of_seq, head);
    let before = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(2))?;
    ensure_eq!(before.status, BeliefStatus::Contested, "as of seq 2 the line was contested");
    let mid = fx.engine.recall(&RecallQuery::new("a", "alice", "employer").as_of_seq(head / 2))?;
    ensure_eq!(mid.value, Some("Acme".into()));
    let loser = fx
        .engine
        .audit("a", &AuditQuery { claim_ref: Some(globex), limit: 1000, ..AuditQuery::default() })?;
    ensure!(loser.entries.iter().all(|e| e.seq <= 3), "nothing touched the loser later: {:?}", loser.entries);
    ensure_eq!(
        loser.entries.last().map(|e| (e.event, e.disposition)),
        Some((Event::Resolved, Disposition::Superseded))
    );
    Ok(())
}

/// A SetValued line with 1200 members: the belief lists every value and the history every claim.
pub fn set_valued_line_with_twelve_hundred_members_lists_all(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for i in 0..1200 {
        let r =
            fx.engine.ingest(IngestRequest::new("a", "alice", "tags", format!("tag{i:04}")).set_valued())?;
        ensure!(r.disposition == Disposition::CommittedCheap, "member {i}: {r:?}");
    }
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "tags"))?;
    ensure_eq!(belief.values.len(), 1200);
    ensure_eq!(belief.candidates.len(), 1200);
    ensure_eq!(belief.values.first(), Some(&serde_json::json!("tag0000")));
    ensure_eq!(belief.values.last(), Some(&serde_json::json!("tag1199")));
    ensure!(!belief.is_contested(), "a SetValued line is never contested");
    let history = fx.engine.history("a", "alice", "tags", AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1200);
    ensure!(history.entries.iter().all(|e| e.status == ClaimStatus::Current), "all members live");
    Ok(())
}

/// 500 External confirmations of one value: corroboration_count is exactly 499 and every
/// supporter is listed.
pub fn five_hundred_corroborations_count_exactly(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for i in 0..500 {
        let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
        ensure!(r.disposition == Disposition::CommittedCheap, "confirmation {i}: {r:?}");
    }
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.corroboration_count, 499);
    ensure_eq!(belief.candidates.len(), 1);
    ensure_eq!(belief.candidates[0].supporting.len(), 500);
    Ok(())
}

/// A subject with 1500 predicates: `subject` returns every one, sorted by predicate.
pub fn subject_with_fifteen_hundred_predicates_lists_all(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for i in (0..1500).rev() {
        fx.engine.ingest(IngestRequest::new("a", "alice", format!("p{i:04}"), i))?;
    }
    let beliefs = fx.engine.subject("a", "alice", AsOf::Now, None)?;
    ensure_eq!(beliefs.len(), 1500);
    let names: Vec<&str> = beliefs.iter().map(|(p, _)| p.as_str()).collect();
    let expected: Vec<String> = (0..1500).map(|i| format!("p{i:04}")).collect();
    ensure!(names.iter().copied().eq(expected.iter().map(String::as_str)), "sorted and complete");
    ensure!(beliefs.iter().all(|(_, b)| b.value.is_some()), "every predicate has its value");
    Ok(())
}

/// 600 open adjudications: `pending` lists all of them oldest first, and one sweep expires all.
pub fn six_hundred_pending_adjudications_all_listed_and_swept(f: &dyn Factory) -> CaseResult {
    let config = EngineConfig { adjudication_ttl: Some(Duration::from_secs(60)), ..EngineConfig::default() };
    let fx = Fixture::build(f, config, true)?;
    let mut handles = Vec::new();
    for i in 0..600 {
        fx.engine.ingest(IngestRequest::new("a", format!("s{i:03}"), "p", "old"))?;
        let r = fx.engine.ingest(IngestRequest::new("a", format!("s{i:03}"), "p", "new"))?;
        handles.push(r.handle.ok_or_else(|| CaseError::Failed(format!("line {i}: no handle")))?);
    }
    let pending = fx.engine.pending(Some("a"))?;
    ensure_eq!(pending.iter().map(|a| a.handle).collect::<Vec<_>>(), handles);
    fx.clock.advance_micros(3_600_000_000);
    let now = credence_core::Clock::now(fx.clock.as_ref());
    ensure_eq!(fx.engine.sweep(now)?.expired, 600);
    ensure!(fx.engine.pending(None)?.is_empty(), "every row expired");
    Ok(())
}

/// 300 agents: `agents` lists every one, sorted, and each keeps its own stream.
pub fn three_hundred_agents_all_listed(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for i in (0..300).rev() {
        for j in 0..3 {
            let r = fx.engine.ingest(IngestRequest::new(format!("agent{i:03}"), "s", format!("p{j}"), j))?;
            ensure_eq!(r.seq, Some(j + 1), "agent{i:03} keeps its own seq");
        }
    }
    let agents: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    let expected: Vec<String> = (0..300).map(|i| format!("agent{i:03}")).collect();
    ensure_eq!(agents, expected);
    Ok(())
}
