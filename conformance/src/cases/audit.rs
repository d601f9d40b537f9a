//! SPEC §3.3: the audit trail — seq order, cursor paging with no silent caps, filtering, and
//! no trace of rejected writes.

use credence_core::ledger::read_with;
use credence_core::{
    AgentId, AuditCursor, AuditQuery, AuditRange, ClaimEngine, ClaimRef, Disposition, Error, Event, Handle,
    IngestRequest, LedgerEntry, Provenance, Verdict,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// Every entry of `agent` straight from the ledger, ascending.
fn ledger_entries(fx: &Fixture, agent: &str) -> Result<Vec<LedgerEntry>, CaseError> {
    let id = AgentId::new(agent).map_err(|e| CaseError::Failed(e.to_string()))?;
    let range = AuditRange { claim_ref: None, after: None, limit: 1_000_000_000, newest_first: false };
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| v.audit(&range))?)
}

fn pos(e: &LedgerEntry) -> AuditCursor {
    AuditCursor { seq: e.seq, index: e.index }
}

/// Pages through the whole audit trail with `limit`, checking each page's cursor, and returns
/// the concatenation. Fails instead of looping forever.
fn page_all(
    fx: &Fixture,
    agent: &str,
    claim_ref: Option<ClaimRef>,
    limit: usize,
    newest_first: bool,
    expected_total: usize,
) -> Result<Vec<LedgerEntry>, CaseError> {
    let mut out: Vec<LedgerEntry> = Vec::with_capacity(expected_total);
    let mut after = None;
    let max_pages = expected_total / limit + 2;
    for _ in 0..max_pages {
        let page = fx.engine.audit(agent, &AuditQuery { claim_ref, after, limit, newest_first })?;
        ensure!(page.entries.len() <= limit, "page of {} entries exceeds limit {limit}", page.entries.len());
        ensure!(
            after.is_none() || !page.entries.is_empty(),
            "a page's next must be None when nothing follows (limit {limit}, after {after:?})"
        );
        let last = page.entries.last().map(pos);
        out.extend(page.entries);
        match page.next {
            Some(cursor) => {
                ensure!(last == Some(cursor), "next {cursor:?} is not the page's last entry {last:?}");
                ensure!(out.len() < expected_total + 1, "more entries than exist (limit {limit})");
                after = Some(cursor);
            }
            None => return Ok(out),
        }
    }
    Err(CaseError::Failed(format!("paging with limit {limit} did not finish within {max_pages} pages")))
}

/// Checks that `entries` are strictly ordered (ascending or descending by `(seq, index)`) with
/// no duplicate.
fn check_order(entries: &[LedgerEntry], newest_first: bool) -> CaseResult {
    for w in entries.windows(2) {
        let (a, b) = (pos(&w[0]), pos(&w[1]));
        let ok = if newest_first { a > b } else { a < b };
        ensure!(ok, "entries out of order or duplicated: {a:?} then {b:?} (newest_first {newest_first})");
    }
    Ok(())
}

/// Checks that ascending `entries` have no gap: each unit's indexes run 0, 1, … and seqs run
/// 1, 2, … (every unit of the workload writes at least one entry).
fn check_no_gaps(entries: &[LedgerEntry]) -> CaseResult {
    let mut expected = AuditCursor { seq: 1, index: 0 };
    for e in entries {
        let at = pos(e);
        if at != expected {
            ensure_eq!(at, AuditCursor { seq: expected.seq + 1, index: 0 }, "gap after {expected:?}");
        }
        expected = AuditCursor { seq: at.seq, index: at.index + 1 };
    }
    Ok(())
}

/// A small mixed history on agent `a`: cheap, corroboration, contest, resolve, invalidate,
/// reinstate. Returns the claims written.
fn small_history(fx: &Fixture) -> Result<Vec<ClaimRef>, CaseError> {
    let a = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let b = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let c = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Globex"))?.claim();
    fx.engine.resolve("a", "alice", "employer", a)?;
    let d = fx.engine.ingest(IngestRequest::new("a", "bob", "city", "Paris"))?.claim();
    fx.engine.invalidate("a", d, "moved")?;
    fx.engine.reinstate("a", d)?;
    Ok(vec![a, b, c, d])
}

/// Audit entries come in seq order (index order within a unit); `newest_first` gives exactly
/// the reverse.
pub fn audit_entries_in_seq_order_and_newest_first_reversed(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    small_history(&fx)?;
    let total = ledger_entries(&fx, "a")?.len();
    let asc = fx.engine.audit("a", &AuditQuery { limit: 1000, ..AuditQuery::default() })?;
    ensure_eq!(asc.entries.len(), total);
    ensure_eq!(asc.next, None);
    check_order(&asc.entries, false)?;
    check_no_gaps(&asc.entries)?;
    ensure_eq!(asc.entries.last().map(|e| e.seq), Some(7), "seven commit units");
    let desc =
        fx.engine.audit("a", &AuditQuery { limit: 1000, newest_first: true, ..AuditQuery::default() })?;
    let mut reversed = asc.entries.clone();
    reversed.reverse();
    ensure_eq!(desc.entries, reversed);
    Ok(())
}

/// Every entry carries its unit's seq and tx_time, indexes start at 0 within a unit, and the
/// rationale is a JSON object with a `rationale` string.
pub fn audit_entries_carry_unit_seq_time_and_rationale(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    fx.clock.advance_micros(3_000_000);
    let r = fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?;
    ensure_eq!(r.rationale.as_deref(), Some("corroboration"));
    let page = fx.engine.audit("a", &AuditQuery::default())?;
    let unit: Vec<&LedgerEntry> = page.entries.iter().filter(|e| Some(e.seq) == r.seq).collect();
    ensure_eq!(unit.len(), 2, "ClaimCommitted and Corroborated: {unit:?}");
    ensure_eq!(unit.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 1]);
    ensure!(unit.iter().all(|e| Some(e.recorded_at) == r.tx_time), "recorded_at is the unit's tx_time");
    let events: Vec<Event> = unit.iter().map(|e| e.event).collect();
    ensure!(events.contains(&Event::ClaimCommitted) && events.contains(&Event::Corroborated), "{events:?}");
    for e in &page.entries {
        ensure!(e.rationale.get("rationale").is_some_and(|v| v.is_string()), "rationale {}", e.rationale);
    }
    Ok(())
}

/// 20 000+ entries of one agent page through completely with no gap, no duplicate and no cap,
/// for page sizes 1, 7, 5000 and one larger than the total, ascending and newest first.
///
/// The workload mixes 1000 single-entry ingests with invalidate/reinstate cycles of a claim with
/// 999 dependents (each invalidation is one unit of 1001 entries), so page boundaries fall both
/// between and inside units while the write count stays small enough for PostgreSQL.
pub fn audit_pages_twenty_thousand_entries_completely(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let root = fx.engine.ingest(IngestRequest::new("a", "root", "p", 0))?.claim();
    for i in 1..1000 {
        let r = fx.engine.ingest(IngestRequest::new("a", format!("dep{i:04}"), "p", i).depends_on([root]))?;
        ensure!(r.disposition == Disposition::CommittedCheap, "dependent {i}: {r:?}");
    }
    for cycle in 0..19 {
        let r = fx.engine.invalidate("a", root, "cycle")?;
        ensure_eq!(r.disposition, Disposition::Invalidated, "cycle {cycle}");
        ensure_eq!(fx.engine.reinstate("a", root)?.disposition, Disposition::Reinstated, "cycle {cycle}");
    }
    // 1000 ClaimCommitted + 19 × (ValidityAsserted + Invalidated + 999 flags) + 19 × (ValidityAsserted + Reinstated).
    let expected_total = 1000 + 19 * 1001 + 19 * 2;
    let reference = ledger_entries(&fx, "a")?;
    ensure_eq!(reference.len(), expected_total, "the ledger holds every entry");
    check_no_gaps(&reference)?;
    for limit in [1, 7, 5000, expected_total + 1000] {
        let all = page_all(&fx, "a", None, limit, false, expected_total)?;
        ensure_eq!(all.len(), expected_total, "ascending, limit {limit}");
        check_order(&all, false)?;
        check_no_gaps(&all)?;
        ensure!(all == reference, "ascending paging with limit {limit} differs from the ledger");
    }
    let mut reversed = reference.clone();
    reversed.reverse();
    for limit in [7, 5000, expected_total + 1000] {
        let all = page_all(&fx, "a", None, limit, true, expected_total)?;
        ensure_eq!(all.len(), expected_total, "newest first, limit {limit}");
        check_order(&all, true)?;
        ensure!(all == reversed, "newest-first paging with limit {limit} is not the exact reverse");
    }
    let one = fx.engine.audit("a", &AuditQuery { limit: expected_total + 1000, ..AuditQuery::default() })?;
    ensure_eq!(one.entries.len(), expected_total, "a limit above the total returns everything at once");
    ensure_eq!(one.next, None);
    Ok(())
}

/// Filtering by claim_ref returns exactly that claim's entries, in order, across pages.
pub fn audit_filter_by_claim_ref_returns_only_its_entries(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let claims = small_history(&fx)?;
    let reference = ledger_entries(&fx, "a")?;
    for claim in claims {
        let expected: Vec<LedgerEntry> = reference.iter().filter(|e| e.claim_ref == claim).cloned().collect();
        ensure!(!expected.is_empty(), "every claim has entries");
        let paged = page_all(&fx, "a", Some(claim), 2, false, expected.len())?;
        ensure_eq!(paged, expected, "claim {claim}");
        let desc = page_all(&fx, "a", Some(claim), 1, true, expected.len())?;
        let mut reversed = expected.clone();
        reversed.reverse();
        ensure_eq!(desc, reversed, "claim {claim}, newest first");
    }
    Ok(())
}

/// A limit of 0 is `Error::InvalidQuery`.
pub fn audit_limit_zero_is_invalid_query(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    small_history(&fx)?;
    let err = fx.engine.audit("a", &AuditQuery { limit: 0, ..AuditQuery::default() });
    ensure!(matches!(err, Err(Error::InvalidQuery { .. })), "got {err:?}");
    let err =
        fx.engine.audit("nobody", &AuditQuery { limit: 0, newest_first: true, ..AuditQuery::default() });
    ensure!(matches!(err, Err(Error::InvalidQuery { .. })), "also for an empty agent: {err:?}");
    Ok(())
}

/// An agent with no rows has an empty audit trail with no cursor.
pub fn audit_of_unknown_agent_is_empty(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    small_history(&fx)?;
    let page = fx.engine.audit("b", &AuditQuery::default())?;
    ensure!(page.entries.is_empty() && page.next.is_none(), "page {page:?}");
    ensure!(!fx.engine.agents()?.iter().any(|a| a.as_str() == "b"), "reading created no agent");
    Ok(())
}

/// Paging after the last entry (or before the first, newest first) returns an empty page.
pub fn audit_after_last_entry_is_empty(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    small_history(&fx)?;
    let reference = ledger_entries(&fx, "a")?;
    let (first, last) = match (reference.first(), reference.last()) {
        (Some(a), Some(b)) => (pos(a), pos(b)),
        _ => return Err(CaseError::Failed("no entries".into())),
    };
    let after = fx.engine.audit("a", &AuditQuery { after: Some(last), ..AuditQuery::default() })?;
    ensure!(after.entries.is_empty() && after.next.is_none(), "after the last: {after:?}");
    let before = fx
        .engine
        .audit("a", &AuditQuery { after: Some(first), newest_first: true, ..AuditQuery::default() })?;
    ensure!(before.entries.is_empty() && before.next.is_none(), "before the first: {before:?}");
    Ok(())
}

/// Audit trails are per agent: one agent's entries never appear in another's.
pub fn audit_is_isolated_per_agent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    small_history(&fx)?;
    let b = fx.engine.ingest(IngestRequest::new("b", "alice", "employer", "Acme"))?.claim();
    let page = fx.engine.audit("b", &AuditQuery::default())?;
    ensure_eq!(page.entries.len(), 1);
    ensure_eq!((page.entries[0].claim_ref, page.entries[0].seq), (b, 1));
    let a = fx.engine.audit("a", &AuditQuery { limit: 1000, ..AuditQuery::default() })?;
    ensure!(a.entries.iter().all(|e| e.claim_ref != b), "agent b's claim is not in a's trail");
    Ok(())
}

/// Rejected writes (invalid ingests, bad resolve/invalidate/reinstate, unknown handles) leave
/// no ledger entry and consume no seq.
pub fn audit_rejected_writes_leave_no_entries(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let claims = small_history(&fx)?;
    let before = ledger_entries(&fx, "a")?;
    let unknown: ClaimRef = "0190a5c4-0000-7000-8000-00000000beef"
        .parse()
        .map_err(|e| CaseError::Failed(format!("claim ref literal: {e}")))?;
    let attempts = [
        fx.engine.ingest(IngestRequest::new("a", "", "employer", "Acme"))?,
        fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme").with_confidence(f32::NAN))?,
        fx.engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme").depends_on([unknown]))?,
        fx.engine.ingest(
            IngestRequest::new("a", "alice", "employer", "Acme").derived_from([claims[0], claims[0]]),
        )?,
        fx.engine.resolve("a", "alice", "employer", unknown)?,
        fx.engine.resolve("a", "alice", "employer", claims[3])?,
        fx.engine.resolve("a", "alice", "employer", claims[2])?,
        fx.engine.invalidate("a", claims[2], "already superseded")?,
        fx.engine.invalidate("a", unknown, "x")?,
        fx.engine.reinstate("a", claims[0])?,
        fx.engine.reinstate("a", unknown)?,
    ];
    for (i, r) in attempts.iter().enumerate() {
        ensure!(
            r.disposition == Disposition::Rejected && r.seq.is_none(),
            "attempt {i} was not rejected: {r:?}"
        );
    }
    let handle = Handle(unknown.0);
    let err = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(err, Err(Error::HandleNotFound { .. })), "got {err:?}");
    ensure_eq!(ledger_entries(&fx, "a")?, before, "no entry from any rejected write");
    let next = fx.engine.ingest(IngestRequest::new("a", "carol", "city", "Rome"))?;
    ensure_eq!(next.seq, Some(8), "no seq was consumed by the rejections");
    Ok(())
}

/// SPEC §3.3's figure: 100 000+ entries of one agent page through completely (page sizes 997
/// and one above the total ascending, 5000 newest first), with no gap, duplicate or cap.
pub fn audit_pages_one_hundred_thousand_entries_completely(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let root = fx.engine.ingest(IngestRequest::new("a", "root", "p", 0))?.claim();
    for i in 1..1000 {
        fx.engine.ingest(IngestRequest::new("a", format!("dep{i:04}"), "p", i).depends_on([root]))?;
    }
    for _ in 0..100 {
        fx.engine.invalidate("a", root, "cycle")?;
        fx.engine.reinstate("a", root)?;
    }
    let expected_total = 1000 + 100 * (1001 + 2);
    ensure!(expected_total > 100_000, "the workload exceeds 100 000 entries");
    let reference = ledger_entries(&fx, "a")?;
    ensure_eq!(reference.len(), expected_total, "the ledger holds every entry");
    for limit in [997, expected_total + 1] {
        let all = page_all(&fx, "a", None, limit, false, expected_total)?;
        ensure_eq!(all.len(), expected_total, "ascending, limit {limit}");
        check_no_gaps(&all)?;
        ensure!(all == reference, "ascending paging with limit {limit} differs from the ledger");
    }
    let desc = page_all(&fx, "a", None, 5000, true, expected_total)?;
    ensure_eq!(desc.len(), expected_total);
    check_order(&desc, true)?;
    Ok(())
}
