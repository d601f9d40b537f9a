//! The storage contract of the `Ledger` and `LedgerRead` traits (the "must" sentences of
//! `credence_core::ledger`), checked through the engine and directly on the ledger.

use credence_core::ledger::read_with;
use credence_core::serde_json::{Value, json};
use credence_core::{
    Adjudication, AdjudicationStatus, AgentId, Append, Assertion, AssertionKind, AssertionRef, BeliefStatus,
    Cardinality, Claim, ClaimEngine, ClaimRef, Criticality, Disposition, Edge, EdgeKind, Error, Event,
    Granularity, Handle, IdSource, IngestRequest, LedgerEntry, LineRows, Provenance, RecallQuery,
    StatusChange, Timestamp, Upto, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn agent(id: &str) -> Result<AgentId, CaseError> {
    AgentId::new(id).map_err(|r| CaseError::Failed(format!("{id:?} should be a valid agent id: {r}")))
}

fn units(fx: &Fixture, id: &str) -> Result<Vec<Append>, CaseError> {
    Ok(read_with(&*fx.store.ledger, &agent(id)?, |view| view.units(0, usize::MAX))?)
}

fn head_seq(fx: &Fixture, id: &str) -> Result<u64, CaseError> {
    Ok(read_with(&*fx.store.ledger, &agent(id)?, |view| view.head())?.map_or(0, |h| h.seq))
}

/// Reading an agent that has never written answers NoBelief and creates nothing.
pub fn empty_agent_reads_as_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let belief = fx.engine.recall(&RecallQuery::new("nobody", "s", "p"))?;
    ensure_eq!(belief.status, BeliefStatus::NoBelief);
    ensure_eq!(belief.as_of_seq, 0);
    ensure_eq!(fx.engine.agents()?, Vec::<credence_core::AgentId>::new());
    Ok(())
}

/// Every commit unit of an agent gets the next seq, starting at 1 with no gaps, whatever
/// operation wrote it.
pub fn write_seq_starts_at_one_and_is_gap_free(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let b = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let c = fx.engine.ingest(IngestRequest::new("a", "s", "q", "x"))?;
    let d = fx.engine.invalidate("a", a.claim(), "wrong")?;
    let e = fx.engine.resolve("a", "s", "p", b.claim())?;
    let seqs: Vec<Option<u64>> = [&a, &b, &c, &d, &e].iter().map(|r| r.seq).collect();
    ensure_eq!(seqs, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let stored: Vec<u64> = units(&fx, "a")?.iter().map(|u| u.seq).collect();
    ensure_eq!(stored, vec![1, 2, 3, 4, 5]);
    ensure_eq!(head_seq(&fx, "a")?, 5);
    Ok(())
}

/// Seq is per agent: a second agent's first unit is seq 1 however many units others wrote.
pub fn write_seq_is_per_agent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for i in 0..3 {
        fx.engine.ingest(IngestRequest::new("a", "s", format!("p{i}"), i))?;
    }
    let first_of_b = fx.engine.ingest(IngestRequest::new("b", "s", "p", 1))?;
    ensure_eq!(first_of_b.seq, Some(1));
    ensure_eq!(head_seq(&fx, "a")?, 3);
    ensure_eq!(head_seq(&fx, "b")?, 1);
    Ok(())
}

/// With the clock standing still, each unit's tx_time is the previous one plus 1 µs.
pub fn write_clock_standing_still_tx_time_strictly_increases(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = fx.clock_now();
    let mut times = Vec::new();
    for i in 0..4 {
        let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", i))?;
        times.push(r.tx_time);
    }
    let expected: Vec<Option<Timestamp>> = (0..4).map(|i| Some(t0.plus_micros(i))).collect();
    ensure_eq!(times, expected);
    Ok(())
}

/// When the clock goes backwards, tx_time is the previous tx_time plus 1 µs; when it moves
/// forward again, tx_time follows the clock.
pub fn write_clock_going_backwards_tx_time_stays_monotonic(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = fx.clock_now();
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    ensure_eq!(first.tx_time, Some(t0));
    fx.clock.set(day(2020, 1, 1));
    let second = fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?;
    ensure_eq!(second.tx_time, Some(t0.plus_micros(1)));
    let third = fx.engine.ingest(IngestRequest::new("a", "s", "q", 3))?;
    ensure_eq!(third.tx_time, Some(t0.plus_micros(2)));
    let later = day(2027, 3, 4).plus_micros(17);
    fx.clock.set(later);
    let fourth = fx.engine.ingest(IngestRequest::new("a", "s", "p", 4))?;
    ensure_eq!(fourth.tx_time, Some(later));
    let stored: Vec<Timestamp> = units(&fx, "a")?.iter().map(|u| u.tx_time).collect();
    ensure_eq!(stored, vec![t0, t0.plus_micros(1), t0.plus_micros(2), later]);
    Ok(())
}

/// tx_time monotonicity is per agent: another agent's later writes do not push this agent's
/// tx_time forward.
pub fn write_tx_time_monotonicity_is_per_agent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = fx.clock_now();
    for i in 0..3 {
        fx.engine.ingest(IngestRequest::new("a", "s", "p", i))?;
    }
    let b = fx.engine.ingest(IngestRequest::new("b", "s", "p", 1))?;
    ensure_eq!(b.tx_time, Some(t0));
    Ok(())
}

/// Every row of one commit unit (claim, edges, ledger entries, assertions, adjudication rows)
/// carries the unit's seq and tx_time.
pub fn write_unit_rows_share_seq_and_tx_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "s", "parent", 0))?;
    fx.clock.advance_micros(5);
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.clock.advance_micros(5);
    // corroboration: claim + Corroborates edge + DependsOn edge + two entries
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").depends_on([parent.claim()]))?;
    fx.clock.advance_micros(5);
    // contradiction with an oracle: claim + entries + adjudication row
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.clock.advance_micros(5);
    // invalidation: assertion + entries + dependent flag
    fx.engine.invalidate("a", parent.claim(), "test")?;
    fx.clock.advance_micros(5);
    fx.engine.invalidate("a", a.claim(), "test")?;
    let all = units(&fx, "a")?;
    ensure_eq!(all.len(), 6);
    let mut rows = 0;
    for u in &all {
        for c in &u.claims {
            ensure!(c.seq == u.seq && c.tx_time == u.tx_time, "claim {c:?} in unit {}", u.seq);
            rows += 1;
        }
        for e in &u.entries {
            ensure!(e.seq == u.seq && e.recorded_at == u.tx_time, "entry {e:?} in unit {}", u.seq);
            rows += 1;
        }
        for e in &u.edges {
            ensure!(e.seq == u.seq, "edge {e:?} in unit {}", u.seq);
            rows += 1;
        }
        for a in &u.assertions {
            ensure!(a.seq == u.seq && a.at == u.tx_time, "assertion {a:?} in unit {}", u.seq);
            rows += 1;
        }
        for a in &u.adjudications {
            ensure!(a.seq == u.seq && a.queued_at == u.tx_time, "adjudication {a:?} in unit {}", u.seq);
            rows += 1;
        }
    }
    ensure!(rows >= 16, "expected the scenario to write at least 16 rows, saw {rows}");
    ensure!(all[2].edges.len() == 2 && all[2].entries.len() == 2, "corroboration unit: {:?}", all[2]);
    ensure!(all[3].adjudications.len() == 1, "oracle unit: {:?}", all[3]);
    ensure!(!all[4].assertions.is_empty(), "invalidation unit: {:?}", all[4]);
    Ok(())
}

/// A rejected write consumes no seq: the next accepted write gets the next number.
pub fn write_rejected_consumes_no_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let ghost = ClaimRef(fx.ids.next_id(fx.clock_now()));
    let r1 = fx.engine.ingest(IngestRequest::new("a", "s", "p", 2).derived_from([ghost]))?;
    ensure_eq!(r1.disposition, Disposition::Rejected);
    let r2 = fx.engine.ingest(IngestRequest::new("a", "", "p", 2))?;
    ensure_eq!(r2.disposition, Disposition::Rejected);
    let r3 = fx.engine.invalidate("a", ghost, "no such claim")?;
    ensure_eq!(r3.disposition, Disposition::Rejected);
    let r4 = fx.engine.reinstate("a", first.claim())?;
    ensure_eq!(r4.disposition, Disposition::Rejected);
    for r in [&r1, &r2, &r3, &r4] {
        ensure!(r.seq.is_none() && r.tx_time.is_none(), "a rejected receipt names no unit: {r:?}");
    }
    let next = fx.engine.ingest(IngestRequest::new("a", "s", "q", 3))?;
    ensure_eq!(next.seq, Some(2));
    ensure_eq!(units(&fx, "a")?.len(), 2);
    Ok(())
}

/// `Ledger::write` refuses an Append whose seq is not head + 1 with `Error::Conflict` and
/// writes none of its rows.
pub fn write_append_with_wrong_seq_is_conflict_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let id = agent("a")?;
    let t = day(2027, 1, 1);
    for bad_seq in [0, 1, 3, 99] {
        let claim_ref = ClaimRef(fx.ids.next_id(t));
        let mut append = Append::new(bad_seq, t);
        append.claims.push(plain_claim(&id, claim_ref, bad_seq, t));
        append.entries.push(committed_entry(claim_ref, bad_seq, t));
        let result = fx.store.ledger.write(&id, &mut |_view| Ok(Some(append.clone())));
        ensure!(matches!(result, Err(Error::Conflict { .. })), "seq {bad_seq} gave {result:?}");
        let found = read_with(&*fx.store.ledger, &id, |view| view.claim(claim_ref))?;
        ensure!(found.is_none(), "rows of the refused unit {bad_seq} are visible: {found:?}");
    }
    ensure_eq!(head_seq(&fx, "a")?, 1);
    ensure_eq!(units(&fx, "a")?.len(), 1);
    let history = fx.engine.history("a", "s", "p", credence_core::AsOf::Now)?;
    ensure_eq!(history.entries.len(), 1);
    ensure_eq!(history.entries[0].claim.claim_ref, first.claim());
    let next = fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?;
    ensure_eq!(next.seq, Some(2));
    Ok(())
}

/// `Ledger::write` refuses an Append one of whose rows carries a seq other than the unit's
/// with `Error::Conflict` and writes none of its rows (a unit is read back by its seq).
pub fn write_append_with_a_row_of_another_seq_is_conflict_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let id = agent("a")?;
    let t = day(2027, 1, 1);
    for bad_row in ["claim", "entry"] {
        let claim_ref = ClaimRef(fx.ids.next_id(t));
        let mut append = Append::new(2, t);
        let (claim_seq, entry_seq) = if bad_row == "claim" { (1, 2) } else { (2, 1) };
        append.claims.push(plain_claim(&id, claim_ref, claim_seq, t));
        append.entries.push(committed_entry(claim_ref, entry_seq, t));
        let result = fx.store.ledger.write(&id, &mut |_view| Ok(Some(append.clone())));
        ensure!(matches!(result, Err(Error::Conflict { .. })), "a {bad_row} of seq 1 gave {result:?}");
        let found = read_with(&*fx.store.ledger, &id, |view| view.claim(claim_ref))?;
        ensure!(found.is_none(), "rows of the refused unit are visible: {found:?}");
    }
    ensure_eq!(head_seq(&fx, "a")?, 1);
    ensure_eq!(units(&fx, "a")?.len(), 1);
    let next = fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?;
    ensure_eq!(next.seq, Some(2));
    Ok(())
}

/// A unit with no rows is refused (`Conflict`, SPEC §5.0): nothing is written, no seq is used
/// and the agent is not created.
pub fn write_unit_with_no_rows_is_conflict_and_uses_no_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t = day(2027, 1, 1);
    let result = fx.store.ledger.write(&agent("a")?, &mut |_view| Ok(Some(Append::new(1, t))));
    ensure!(matches!(result, Err(Error::Conflict { .. })), "an empty unit gave {result:?}");
    ensure_eq!(fx.store.ledger.agents()?, Vec::<AgentId>::new());
    ensure_eq!(head_seq(&fx, "a")?, 0);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let result = fx.store.ledger.write(&agent("a")?, &mut |_view| Ok(Some(Append::new(2, t))));
    ensure!(matches!(result, Err(Error::Conflict { .. })), "an empty unit gave {result:?}");
    ensure_eq!(fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?.seq, Some(2));
    Ok(())
}

/// A unit repeating an edge `(from, to, kind)` — one already stored, or twice in itself — is
/// refused (`Conflict`, SPEC §5.0): none of its rows are written and no seq is used.
pub fn write_unit_repeating_an_edge_is_conflict_and_uses_no_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "s", "base", 1))?;
    let child = fx.engine.ingest(IngestRequest::new("a", "s", "p", 2).depends_on([parent.claim()]))?;
    let id = agent("a")?;
    let t = day(2027, 1, 1);
    for twice_in_unit in [false, true] {
        let claim_ref = ClaimRef(fx.ids.next_id(t));
        let mut append = Append::new(3, t);
        append.claims.push(plain_claim(&id, claim_ref, 3, t));
        append.entries.push(committed_entry(claim_ref, 3, t));
        let edge = Edge { from: child.claim(), to: parent.claim(), kind: EdgeKind::DependsOn, seq: 3 };
        append.edges.push(edge.clone());
        if twice_in_unit {
            let fresh = Edge { from: claim_ref, to: parent.claim(), kind: EdgeKind::DerivedFrom, seq: 3 };
            append.edges = vec![fresh.clone(), fresh];
        }
        let result = fx.store.ledger.write(&id, &mut |_view| Ok(Some(append.clone())));
        ensure!(
            matches!(result, Err(Error::Conflict { .. })),
            "a repeated edge (twice in the unit: {twice_in_unit}) gave {result:?}"
        );
        let found = read_with(&*fx.store.ledger, &id, |view| view.claim(claim_ref))?;
        ensure!(found.is_none(), "a claim of the refused unit is visible: {found:?}");
    }
    ensure_eq!(head_seq(&fx, "a")?, 2);
    let edges = read_with(&*fx.store.ledger, &id, |view| view.edges_to(parent.claim(), EdgeKind::DependsOn))?;
    ensure_eq!(edges.len(), 1);
    ensure_eq!(fx.engine.ingest(IngestRequest::new("a", "s", "p", 3))?.seq, Some(3));
    Ok(())
}

/// A write unit that returns `Ok(None)` writes nothing, consumes no seq and does not create
/// the agent.
pub fn write_unit_returning_none_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent("quiet")?;
    let head = fx.store.ledger.write(&id, &mut |_view| Ok(None))?;
    ensure_eq!(head, None);
    ensure_eq!(fx.store.ledger.agents()?, Vec::<AgentId>::new());
    ensure_eq!(head_seq(&fx, "quiet")?, 0);
    let r = fx.engine.ingest(IngestRequest::new("quiet", "s", "p", 1))?;
    ensure_eq!(r.seq, Some(1));
    Ok(())
}

/// A write unit that fails returns its error, writes nothing and consumes no seq.
pub fn write_unit_returning_error_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let id = agent("a")?;
    let result = fx
        .store
        .ledger
        .write(&id, &mut |_view| Err(Error::InvalidQuery { reason: "the unit body gave up".into() }));
    ensure!(matches!(result, Err(Error::InvalidQuery { .. })), "got {result:?}");
    let fresh = agent("b")?;
    let result = fx.store.ledger.write(&fresh, &mut |_view| Err(Error::NotFound { what: "x".into() }));
    ensure!(matches!(result, Err(Error::NotFound { .. })), "got {result:?}");
    ensure_eq!(head_seq(&fx, "a")?, 1);
    ensure_eq!(fx.store.ledger.agents()?, vec![id]);
    ensure_eq!(fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?.seq, Some(2));
    Ok(())
}

/// Reading an unknown agent (directly or through every engine read) succeeds with an empty
/// view and does not create the agent.
pub fn read_unknown_agent_creates_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent("ghost")?;
    let (head, claims, seq) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((view.head()?, view.line("s", "p", Upto::Head)?.claims, view.seq_at(fx.clock_now())?))
    })?;
    ensure_eq!(head, None);
    ensure!(claims.is_empty(), "claims of an unknown agent: {claims:?}");
    ensure_eq!(seq, 0);
    fx.engine.recall(&RecallQuery::new("ghost", "s", "p"))?;
    fx.engine.history("ghost", "s", "p", credence_core::AsOf::Now)?;
    fx.engine.subject("ghost", "s", credence_core::AsOf::Now, None)?;
    fx.engine.audit("ghost", &credence_core::AuditQuery::default())?;
    fx.engine.pending(Some("ghost"))?;
    ensure_eq!(fx.store.ledger.agents()?, Vec::<AgentId>::new());
    ensure_eq!(fx.engine.agents()?, Vec::<AgentId>::new());
    Ok(())
}

/// `agents()` lists every agent with a committed unit, sorted bytewise, ids exactly as given
/// (case-different and non-ASCII ids are distinct agents).
pub fn agents_list_sorted_bytewise_with_ids_as_given(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let ids = ["b", "B", "a", "é", "e\u{301}", "Zed", "日本", "a b", "a.b/../c", "A"];
    for id in ids {
        let r = fx.engine.ingest(IngestRequest::new(id, "s", "p", id))?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "ingest for {id:?}");
    }
    let mut expected: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    let listed: Vec<String> = fx.store.ledger.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(listed, expected);
    let via_engine: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(via_engine, expected);
    Ok(())
}

/// Agent ids that differ only in case or Unicode normalisation are different agents with
/// separate rows and separate seq streams.
pub fn ingest_case_different_agent_ids_are_separate_agents(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let ids = ["Alice", "alice", "ALICE", "caf\u{e9}", "cafe\u{301}"];
    for (i, id) in ids.iter().enumerate() {
        let r = fx.engine.ingest(IngestRequest::new(*id, "s", "p", i))?;
        ensure_eq!(r.seq, Some(1), "first write of {id:?}");
    }
    for (i, id) in ids.iter().enumerate() {
        let belief = fx.engine.recall(&RecallQuery::new(*id, "s", "p"))?;
        ensure_eq!(belief.value, Some(json!(i)), "belief of {id:?}");
        ensure_eq!(belief.status, BeliefStatus::TimingUncertain, "status of {id:?}");
    }
    ensure_eq!(fx.engine.agents()?.len(), ids.len());
    Ok(())
}

/// Subjects and predicates are matched byte-for-byte: case, trailing spaces and Unicode
/// normalisation make different lines.
pub fn ingest_line_terms_matched_byte_for_byte(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let subjects = ["alice", "Alice", "alice ", "caf\u{e9}", "cafe\u{301}"];
    for (i, s) in subjects.iter().enumerate() {
        let r = fx.engine.ingest(IngestRequest::new("a", *s, "p", i))?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "subject {s:?}");
        let r = fx.engine.ingest(IngestRequest::new("a", "x", *s, i))?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "predicate {s:?}");
    }
    for (i, s) in subjects.iter().enumerate() {
        let b = fx.engine.recall(&RecallQuery::new("a", *s, "p"))?;
        ensure_eq!(b.value, Some(json!(i)), "subject {s:?}");
        let b = fx.engine.recall(&RecallQuery::new("a", "x", *s))?;
        ensure_eq!(b.value, Some(json!(i)), "predicate {s:?}");
    }
    Ok(())
}

/// Path-like and reserved-looking agent ids (`.`, `..`, `../x`, `a/b`, `a\\b`, `CON`, `nul`, a
/// 256-byte id with slashes) are ordinary, separate agents listed exactly as given.
pub fn ingest_path_like_agent_ids_are_ordinary_agents(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let long = "/..".repeat(85) + "x";
    let ids = [".", "..", "../x", "a/b", "a\\b", "CON", "con", "nul", "~", "a:b", "*?", long.as_str()];
    for (i, id) in ids.iter().enumerate() {
        let r = fx.engine.ingest(IngestRequest::new(*id, "s", "p", i))?;
        ensure_eq!(r.seq, Some(1), "first write of {id:?}");
    }
    for (i, id) in ids.iter().enumerate() {
        ensure_eq!(fx.engine.recall(&RecallQuery::new(*id, "s", "p"))?.value, Some(json!(i)), "agent {id:?}");
    }
    let mut expected: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    let listed: Vec<String> = fx.engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(listed, expected);
    Ok(())
}

/// Terms holding SQL wildcards and quotes (`%`, `_`, `'`, `"`, `;`) match only themselves: no
/// pattern matching, no injection.
pub fn ingest_line_terms_with_sql_metacharacters_match_exactly(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let terms = ["a", "a%", "a_", "ab", "%", "_", "O'Brien", "\"q\"", "x'; DROP TABLE claims; --", "a\\%"];
    for (i, t) in terms.iter().enumerate() {
        fx.engine.ingest(IngestRequest::new("a", *t, *t, i))?;
    }
    for (i, t) in terms.iter().enumerate() {
        ensure_eq!(fx.engine.recall(&RecallQuery::new("a", *t, *t))?.value, Some(json!(i)), "line {t:?}");
        let preds: Vec<String> =
            fx.engine.subject("a", t, credence_core::AsOf::Now, None)?.into_iter().map(|(p, _)| p).collect();
        ensure_eq!(preds, vec![(*t).to_owned()], "subject {t:?}");
        ensure_eq!(fx.engine.history("a", t, t, credence_core::AsOf::Now)?.entries.len(), 1, "history {t:?}");
    }
    Ok(())
}

/// `units()` returns each commit unit exactly as it was appended (every row kind, every
/// field), pages with `after_seq` and `limit`, and shows a closed adjudication row as
/// pending plus a status change in the closing unit.
pub fn read_units_return_exactly_what_was_written(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent("raw")?;
    let t1 = Timestamp(1_767_225_600_123_457);
    let t2 = t1.plus_micros(1);
    let c1 = ClaimRef(fx.ids.next_id(t1));
    let c2 = ClaimRef(fx.ids.next_id(t1));
    let handle = Handle(fx.ids.next_id(t1));
    let mut first = plain_claim(&id, c1, 1, t1);
    first.value = json!({"k": [1, 2.5, "x", null, true], "nested": {"deep": {"x": -7}}});
    first.provenance = Provenance::USER;
    first.cardinality = Cardinality::SetValued;
    first.confidence = 0.75;
    first.criticality = Criticality::Critical;
    first.valid_time = Some(ValidTime {
        start: Some(Timestamp(-5)),
        end: Some(Timestamp(7)),
        confidence: 0.5,
        start_granularity: Some(Granularity::Year),
        end_granularity: Some(Granularity::Instant),
    });
    let mut second = plain_claim(&id, c2, 1, t1);
    second.provenance = Provenance::ModelDerived;
    second.derived_from = vec![c1];
    second.depends_on = vec![c1];
    let mut u1 = Append::new(1, t1);
    u1.claims = vec![first, second];
    u1.edges = vec![
        Edge { from: c2, to: c1, kind: EdgeKind::DerivedFrom, seq: 1 },
        Edge { from: c2, to: c1, kind: EdgeKind::DependsOn, seq: 1 },
        Edge { from: c2, to: c1, kind: EdgeKind::Corroborates, seq: 1 },
    ];
    u1.entries = vec![
        committed_entry(c1, 1, t1),
        LedgerEntry {
            seq: 1,
            index: 1,
            claim_ref: c2,
            event: Event::ClaimCommitted,
            disposition: Disposition::QueuedForAdjudication,
            rationale: json!({"rationale": "contradiction", "contested_with": [c1]}),
            recorded_at: t1,
        },
    ];
    u1.adjudications = vec![Adjudication {
        handle,
        agent_id: id.clone(),
        subject: "s".into(),
        predicate: "p".into(),
        challenger: c2,
        incumbents: vec![c1],
        queued_at: t1,
        expires_at: Some(Timestamp(i64::MAX)),
        status: AdjudicationStatus::Pending,
        notified: false,
        seq: 1,
    }];
    let mut u2 = Append::new(2, t2);
    let assertion_ref = AssertionRef(fx.ids.next_id(t2));
    u2.assertions = vec![Assertion { assertion_ref, target: c1, kind: AssertionKind::Bound, at: t2, seq: 2 }];
    u2.entries = vec![LedgerEntry {
        seq: 2,
        index: 0,
        claim_ref: c1,
        event: Event::ValidityAsserted,
        disposition: Disposition::Superseded,
        rationale: json!({"rationale": "adjudication", "kind": "Bound"}),
        recorded_at: t2,
    }];
    u2.status_changes = vec![StatusChange { handle, status: AdjudicationStatus::Resolved }];
    for u in [&u1, &u2] {
        let head = fx.store.ledger.write(&id, &mut |_view| Ok(Some(u.clone())))?;
        ensure_eq!(head.map(|h| (h.seq, h.tx_time)), Some((u.seq, u.tx_time)));
    }
    let (all, page1, page2, after_all, closed) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.units(0, usize::MAX)?,
            view.units(0, 1)?,
            view.units(1, 10)?,
            view.units(2, 10)?,
            view.adjudication(handle)?,
        ))
    })?;
    ensure_eq!(all, vec![u1.clone(), u2.clone()]);
    ensure_eq!(page1, vec![u1]);
    ensure_eq!(page2, vec![u2]);
    ensure!(after_all.is_empty(), "units after the head: {after_all:?}");
    ensure_eq!(closed.map(|a| a.status), Some(AdjudicationStatus::Resolved));
    Ok(())
}

/// On a durable backend every committed unit survives closing and reopening the store exactly
/// (all row kinds, the adjudication's `notified` flag), and the engine answers the same.
pub fn write_units_survive_reopen(f: &dyn Factory) -> CaseResult {
    crate::require(f, f.capabilities().durable, "durable")?;
    let fx = Fixture::with_oracle(f)?;
    let base = fx.engine.ingest(IngestRequest::new("a", "s", "base", 0))?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").depends_on([base.claim()]))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.invalidate("a", base.claim(), "gone")?;
    fx.engine.ingest(IngestRequest::new("b", "s", "p", json!({"k": [1, 2.5]})))?;
    let before_a = units(&fx, "a")?;
    let before_b = units(&fx, "b")?;
    let belief = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    let history = fx.engine.history("a", "s", "p", credence_core::AsOf::Now)?;
    let pending = fx.engine.pending(None)?;
    let Some(reopened) = fx.store.reopen() else {
        return Err(CaseError::Failed("a durable backend must provide Store::reopen".into()));
    };
    let ledger = reopened?;
    let engine = fx.engine_on(ledger.clone())?;
    let after = |id: &str| -> Result<Vec<Append>, CaseError> {
        Ok(read_with(&*ledger, &agent(id)?, |view| view.units(0, usize::MAX))?)
    };
    ensure_eq!(after("a")?, before_a);
    ensure_eq!(after("b")?, before_b);
    ensure_eq!(ledger.agents()?, vec![agent("a")?, agent("b")?]);
    ensure_eq!(engine.recall(&RecallQuery::new("a", "s", "p"))?, belief);
    ensure_eq!(engine.history("a", "s", "p", credence_core::AsOf::Now)?, history);
    ensure_eq!(engine.pending(None)?, pending);
    let next = engine.ingest(IngestRequest::new("a", "s", "p", "z"))?;
    ensure_eq!(next.seq, Some(6));
    ensure_eq!(next.disposition, Disposition::QueuedForAdjudication);
    ensure_eq!(next.contested_with.len(), 3);
    ensure_eq!(next.contested_with.first(), Some(&x.claim()));
    Ok(())
}

/// `seq_at` answers the largest seq with tx_time ≤ t (0 before the first unit) and
/// `tx_time_of` the unit's exact tx_time (None for a unit that does not exist).
pub fn read_seq_at_and_tx_time_of_answer_per_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let t0 = fx.clock_now();
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    fx.clock.advance_micros(10);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let t1 = t0.plus_micros(10);
    let id = agent("a")?;
    let answers = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.seq_at(t0.plus_micros(-1))?,
            view.seq_at(t0)?,
            view.seq_at(t1.plus_micros(-1))?,
            view.seq_at(t1)?,
            view.seq_at(Timestamp(i64::MAX))?,
            view.tx_time_of(1)?,
            view.tx_time_of(2)?,
            view.tx_time_of(3)?,
        ))
    })?;
    ensure_eq!(answers, (0, 1, 1, 2, 2, Some(t0), Some(t1), None));
    Ok(())
}

/// `seq_at` and `tx_time_of` agree with every unit of a 40-unit stream written at irregular
/// times (clock jumps forward, stands still and goes back).
pub fn read_seq_at_matches_every_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut stamps = Vec::new();
    for i in 0..40i64 {
        match i % 4 {
            0 => fx.clock.advance_micros(i * 7_919),
            1 => {}
            2 => fx.clock.advance_micros(-50_000),
            _ => fx.clock.advance_micros(1),
        }
        let r = fx.engine.ingest(IngestRequest::new("a", "s", format!("p{}", i % 3), i))?;
        stamps.push(r.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?);
    }
    ensure!(stamps.windows(2).all(|w| w[0] < w[1]), "tx_time strictly increases: {stamps:?}");
    let id = agent("a")?;
    let (at, before, times) = read_with(&*fx.store.ledger, &id, |view| {
        let mut at = Vec::new();
        let mut before = Vec::new();
        let mut times = Vec::new();
        for (n, t) in (1u64..).zip(&stamps) {
            at.push(view.seq_at(*t)?);
            before.push(view.seq_at(t.plus_micros(-1))?);
            times.push(view.tx_time_of(n)?);
        }
        Ok((at, before, times))
    })?;
    ensure_eq!(at, (1..=40).collect::<Vec<u64>>());
    ensure_eq!(before, (0..40).collect::<Vec<u64>>());
    ensure_eq!(times, stamps.iter().map(|t| Some(*t)).collect::<Vec<_>>());
    Ok(())
}

/// A line read up to `Upto::Seq(n)` returns only rows of units at or before `n` — claims,
/// marks and assertions alike — and so do subject reads with `max_seq`.
pub fn read_line_rows_respect_upto(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.invalidate("a", a.claim(), "test")?;
    let id = agent("a")?;
    let (l1, l2, l3, preds0, preds1) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.line("s", "p", Upto::Seq(1))?,
            view.line("s", "p", Upto::Seq(2))?,
            view.line("s", "p", Upto::Seq(3))?,
            view.predicates("s", 0)?,
            view.predicates("s", 1)?,
        ))
    })?;
    let seqs = |v: &[u64]| v.to_vec();
    ensure_eq!(l1.claims.iter().map(|c| c.seq).collect::<Vec<_>>(), seqs(&[1]));
    ensure_eq!(l1.marks.iter().map(|m| m.seq).collect::<Vec<_>>(), seqs(&[1]));
    ensure!(l2.assertions.is_empty(), "assertions at seq 2: {:?}", l2.assertions);
    ensure_eq!(l2.marks.iter().map(|m| m.seq).collect::<Vec<_>>(), seqs(&[1, 2]));
    ensure_eq!(l3.claims.iter().map(|c| c.seq).collect::<Vec<_>>(), seqs(&[1, 2]));
    ensure_eq!(l3.assertions.iter().map(|a| a.seq).collect::<Vec<_>>(), seqs(&[3]));
    // The invalidation's two entries (ValidityAsserted, Invalidated) are both marks, in order.
    let m3: Vec<(u64, u32, Event)> = l3.marks.iter().map(|m| (m.seq, m.index, m.event)).collect();
    ensure_eq!(
        m3,
        vec![
            (1, 0, Event::ClaimCommitted),
            (2, 0, Event::ClaimCommitted),
            (3, 0, Event::ValidityAsserted),
            (3, 1, Event::Invalidated),
        ]
    );
    ensure!(preds0.is_empty(), "predicates at seq 0: {preds0:?}");
    ensure_eq!(preds1, vec!["p".to_owned()]);
    Ok(())
}

/// In a read, `Upto::Head` is every row of the snapshot: the same rows as `Upto::Seq` of
/// the head (or beyond it); a line without claims has no rows at all.
pub fn read_line_upto_head_is_the_whole_snapshot(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.invalidate("a", a.claim(), "test")?;
    fx.engine.ingest(IngestRequest::new("a", "s", "q", "z"))?;
    let id = agent("a")?;
    let (head, at_head, at_four, beyond, empty) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.head()?.map(|h| h.seq),
            view.line("s", "p", Upto::Head)?,
            view.line("s", "p", Upto::Seq(4))?,
            view.line("s", "p", Upto::Seq(u64::MAX))?,
            view.line("s", "nothing", Upto::Head)?,
        ))
    })?;
    ensure_eq!(head, Some(4));
    ensure_eq!(at_head.claims.len(), 2);
    ensure_eq!(at_head.marks.len(), 4);
    ensure_eq!(at_head.assertions.len(), 1);
    ensure_eq!(at_head, at_four);
    ensure_eq!(at_head, beyond);
    ensure_eq!(empty, LineRows::default());
    Ok(())
}

/// `live` answers the line's claims live at the head with their latest state disposition and
/// flag, ordered by `(seq, claim_ref)`: a contested pair, an invalidated claim gone, a reinstated
/// one back, a dependent flagged — exactly what the fold of the whole line finds live.
pub fn read_live_is_what_the_fold_finds_live_at_the_head(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?.claim();
    let b = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?.claim();
    let c = fx.engine.ingest(IngestRequest::new("a", "s", "q", "z").depends_on([b]))?.claim();
    let id = agent("a")?;
    let live_of = |subject: &str, predicate: &str| -> Result<Vec<(ClaimRef, Disposition, bool)>, CaseError> {
        let (live, folded) = read_with(&*fx.store.ledger, &id, |view| {
            Ok((
                view.live(subject, predicate)?,
                credence_core::liveness::live_claims(view.line(subject, predicate, Upto::Head)?),
            ))
        })?;
        ensure_eq!(live, folded);
        Ok(live.iter().map(|l| (l.claim.claim_ref, l.disposition, l.flagged)).collect())
    };
    ensure_eq!(
        live_of("s", "p")?,
        vec![(a, Disposition::CommittedCheap, false), (b, Disposition::Contested, false)]
    );
    fx.engine.invalidate("a", a, "test")?;
    fx.engine.invalidate("a", b, "test")?;
    ensure_eq!(live_of("s", "p")?, Vec::new());
    ensure_eq!(live_of("s", "q")?, vec![(c, Disposition::CommittedCheap, true)]);
    fx.engine.reinstate("a", a)?;
    ensure_eq!(live_of("s", "p")?, vec![(a, Disposition::Reinstated, false)]);
    ensure_eq!(live_of("s", "nothing")?, Vec::new());
    Ok(())
}

/// `reached` holds every claim of `live` that the span reaches at the threshold
/// ([`credence_core::liveness::reaches`]) and nothing but claims of `live`, in their order.
fn reach_between(
    reached: &[credence_core::LiveClaim],
    live: &[credence_core::LiveClaim],
    (span, threshold): (credence_core::ledger::Span, f32),
    what: &str,
) -> Result<(), CaseError> {
    let must = |l: &&credence_core::LiveClaim| credence_core::liveness::reaches(&l.claim, &span, threshold);
    let missing: Vec<&Value> =
        live.iter().filter(must).filter(|l| !reached.contains(l)).map(|l| &l.claim.value).collect();
    ensure!(missing.is_empty(), "{what}: missing {missing:?}");
    let kept: Vec<_> = live.iter().filter(|l| reached.contains(l)).cloned().collect();
    ensure_eq!(kept, reached.to_vec());
    Ok(())
}

/// `live_overlapping` holds every live claim of the line whose window is untrusted at the
/// threshold asked (none, no start, confidence below it) or overlaps the span — at least those,
/// at most the live claims, ordered by `(seq, claim_ref)` — for spans inside, touching and
/// outside the windows, open at either end, and at two thresholds.
pub fn read_live_overlapping_holds_every_claim_reaching_the_span(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let dated = |v: &str, from, to: Option<i32>, confidence| {
        IngestRequest::new("a", "s", "p", v)
            .with_valid_time(ValidTime::new(Some(d(from)), to.map(d)).with_confidence(confidence))
    };
    for req in [
        dated("1990s", 1990, Some(2000), 1.0),
        dated("2000s", 2000, Some(2010), 1.0),
        dated("since 2010", 2010, None, 1.0),
        dated("doubtful", 1995, Some(1996), 0.6),
        IngestRequest::new("a", "s", "p", "undated"),
        IngestRequest::new("a", "s", "p", "no start").with_valid_time(ValidTime::new(None, Some(d(1980)))),
        dated("gone", 1970, Some(1971), 1.0),
    ] {
        fx.engine.ingest(req)?;
    }
    let gone = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    let gone = gone.candidates.iter().find(|c| c.value == json!("gone")).map(|c| c.claim_ref);
    fx.engine.invalidate("a", gone.ok_or_else(|| CaseError::Failed("no claim \"gone\"".into()))?, "test")?;
    let id = agent("a")?;
    let span = |from: Option<i32>, to: Option<i32>| credence_core::ledger::Span {
        start: from.map(d),
        end: to.map(d),
    };
    for (span, threshold) in [
        (span(Some(2005), Some(2006)), 0.5),
        (span(Some(2005), Some(2006)), 0.7),
        (span(Some(1999), Some(2000)), 0.5),
        (span(Some(2000), Some(2001)), 0.5),
        (span(Some(1995), Some(1995)), 0.5),
        (span(None, Some(1991)), 0.5),
        (span(Some(2030), None), 0.5),
        (credence_core::ledger::Span::ALL, 0.5),
        (credence_core::ledger::Span::at(d(1970)), 0.5),
    ] {
        let (reached, live) = read_with(&*fx.store.ledger, &id, |view| {
            Ok((view.live_overlapping("s", "p", span, threshold)?, view.live("s", "p")?))
        })?;
        reach_between(&reached, &live, (span, threshold), &format!("{span:?} at {threshold}"))?;
    }
    Ok(())
}

/// `live_at` holds, as of each unit, every claim of the line live then with its state then
/// (flagged or not) — at least those untrusted at the threshold or overlapping the span, at
/// most the claims live then, ordered by `(seq, claim_ref)` — through a contest, a resolution,
/// an invalidation, a dependent's flag and a reinstatement.
pub fn read_live_at_is_what_the_fold_finds_live_as_of_each_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let dated = |v: &str, from, to| {
        IngestRequest::new("a", "s", "p", v).with_valid_time(ValidTime::new(Some(d(from)), Some(d(to))))
    };
    let x = fx.engine.ingest(dated("x", 2000, 2001))?.claim();
    fx.engine.ingest(dated("y", 2001, 2002))?;
    let z = fx.engine.ingest(dated("z", 2001, 2003))?.claim();
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "undated"))?;
    fx.engine.ingest(IngestRequest::new("a", "t", "p", "child").depends_on([x]))?;
    fx.engine.resolve("a", "s", "p", z)?;
    fx.engine.invalidate("a", x, "test")?;
    fx.engine.reinstate("a", x)?;
    let id = agent("a")?;
    let head = head_seq(&fx, "a")?;
    let span = |from: Option<i32>, to: Option<i32>| credence_core::ledger::Span {
        start: from.map(d),
        end: to.map(d),
    };
    for seq in 0..=head + 1 {
        for (line, span) in [
            ("s", span(Some(2001), Some(2002))),
            ("s", span(None, None)),
            ("t", span(Some(1990), Some(1991))),
        ] {
            let (at, folded) = read_with(&*fx.store.ledger, &id, |view| {
                Ok((
                    view.live_at(line, "p", seq, span, 0.7)?,
                    credence_core::liveness::live_claims(view.line(line, "p", Upto::Seq(seq))?),
                ))
            })?;
            reach_between(&at, &folded, (span, 0.7), &format!("line {line} as of {seq}, {span:?}"))?;
        }
    }
    Ok(())
}

/// `line_page` pages through a line in canonical order at any threshold: trusted window starts
/// written out of order (in the past, among the claims' transaction times, in the future, one
/// start shared), untrusted windows, a window without a start and windowless claims — as of
/// each unit, in pages of 1, 2, 3 and 100, and after a cursor that no claim holds. Each page is
/// the next `limit` claims of the line as of the unit sorted by `canonical_key`.
pub fn read_line_page_pages_through_the_line_in_canonical_order(f: &dyn Factory) -> CaseResult {
    use credence_core::{HistoryCursor, LinePage};
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let near = |delta: i64| Timestamp(credence_core::Clock::now(&*fx.clock).micros() + delta);
    let window = |start: Timestamp, confidence| ValidTime::new(Some(start), None).with_confidence(confidence);
    let ingest = |v: &str, w: Option<ValidTime>| -> Result<(), CaseError> {
        let req = IngestRequest::new("a", "s", "p", v).set_valued();
        fx.engine.ingest(match w {
            Some(w) => req.with_valid_time(w),
            None => req,
        })?;
        fx.clock.advance_micros(5);
        Ok(())
    };
    ingest("2010", Some(window(d(2010), 1.0)))?;
    ingest("plain 1", None)?;
    ingest("just after", Some(window(near(12), 0.9)))?;
    ingest("2000", Some(window(d(2000), 0.8)))?;
    ingest("doubtful 1990", Some(window(d(1990), 0.6)))?;
    ingest("just before", Some(window(near(-7), 1.0)))?;
    ingest("no start", Some(ValidTime::new(None, Some(d(2030)))))?;
    ingest("2010 again", Some(window(d(2010), 0.75)))?;
    ingest("plain 2", None)?;
    ingest("2099", Some(window(d(2099), 1.0)))?;
    ingest("doubtful now", Some(window(near(1), 0.4)))?;
    fx.engine.ingest(IngestRequest::new("a", "other", "p", "elsewhere"))?;
    let id = agent("a")?;
    let head = head_seq(&fx, "a")?;
    for seq in [0, 1, 3, 6, head - 1, head, head + 1] {
        let line = read_with(&*fx.store.ledger, &id, |view| view.line("s", "p", Upto::Seq(seq)))?.claims;
        for threshold in [0.5, 0.7, 0.8, 1.0] {
            let mut sorted = line.clone();
            sorted.sort_by_key(|c| c.canonical_key(threshold));
            for limit in [1, 2, 3, 100] {
                let mut after = None;
                let mut paged = Vec::new();
                loop {
                    let page = LinePage { seq, threshold, after, limit };
                    let got = read_with(&*fx.store.ledger, &id, |view| view.line_page("s", "p", &page))?;
                    let start = paged.len();
                    let want = &sorted[start..sorted.len().min(start + limit)];
                    ensure_eq!(got.as_slice(), want, "as of {seq} at {threshold}, {limit} after {after:?}");
                    let Some(last) = got.last() else { break };
                    after = Some(HistoryCursor::of(last, threshold));
                    paged.extend(got);
                }
                ensure_eq!(paged.len(), sorted.len());
            }
            for c in &sorted {
                let cursor =
                    HistoryCursor { tx_time: Timestamp(i64::MIN), seq: 0, ..HistoryCursor::of(c, threshold) };
                let page = LinePage { seq, threshold, after: Some(cursor), limit: 3 };
                let got = read_with(&*fx.store.ledger, &id, |view| view.line_page("s", "p", &page))?;
                let want: Vec<&Claim> =
                    sorted.iter().filter(|c| HistoryCursor::of(c, threshold) > cursor).take(3).collect();
                ensure_eq!(
                    got.iter().collect::<Vec<_>>(),
                    want,
                    "as of {seq} at {threshold} after {cursor:?}"
                );
            }
        }
    }
    Ok(())
}

/// `line_summary` counts a line's live claims and its Functional ones, and tells whether two
/// live claims of different values overlap as drawn — through a succession, a contest, its
/// resolution by invalidation, a SetValued member and a reinstatement.
pub fn read_line_summary_follows_the_live_claims(f: &dyn Factory) -> CaseResult {
    use credence_core::ledger::LineSummary;
    let fx = Fixture::new(f)?;
    let d = |y| Timestamp::from_ymd(y, 1, 1).expect("valid date");
    let dated = |v: &str, from, to| {
        IngestRequest::new("a", "s", "p", v).with_valid_time(ValidTime::new(Some(d(from)), Some(d(to))))
    };
    let id = agent("a")?;
    let summary = || -> Result<LineSummary, CaseError> {
        let (summary, live) = read_with(&*fx.store.ledger, &id, |view| {
            Ok((view.line_summary("s", "p")?, view.live("s", "p")?))
        })?;
        ensure_eq!(summary, LineSummary::of(&live.iter().map(|l| &l.claim).collect::<Vec<_>>()));
        Ok(summary)
    };
    let of = |live, functional, clash_free| LineSummary { live, functional, clash_free };
    ensure_eq!(summary()?, of(0, 0, true));
    fx.engine.ingest(dated("x", 2000, 2001))?;
    fx.engine.ingest(dated("y", 2001, 2002))?;
    ensure_eq!(summary()?, of(2, 2, true));
    let z = fx.engine.ingest(dated("z", 2001, 2003))?.claim();
    ensure_eq!(summary()?, of(3, 3, false));
    fx.engine.ingest(dated("y", 2001, 2002))?;
    ensure_eq!(summary()?, of(4, 4, false));
    fx.engine.invalidate("a", z, "test")?;
    ensure_eq!(summary()?, of(3, 3, true));
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "w").set_valued())?;
    ensure_eq!(summary()?, of(4, 3, false));
    fx.engine.reinstate("a", z)?;
    ensure_eq!(summary()?, of(5, 4, false));
    ensure_eq!(read_with(&*fx.store.ledger, &id, |view| view.line_summary("s", "nothing"))?, of(0, 0, true));
    Ok(())
}

/// `count_entries_since` counts entries of one event about one claim with `recorded_at ≥ since`
/// (inclusive), and no other events or claims.
pub fn read_count_entries_since_is_inclusive(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let target = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?.claim();
    let other = fx.engine.ingest(IngestRequest::new("a", "s", "q", "x"))?.claim();
    let mut times = Vec::new();
    for _ in 0..3 {
        fx.clock.advance_micros(1_000_000);
        let r = fx
            .engine
            .ingest(IngestRequest::new("a", "s", "p", "x").with_provenance(Provenance::RecallReEntry))?;
        ensure_eq!(r.claim_ref, Some(target));
        times.push(r.tx_time.ok_or_else(|| CaseError::Failed("no tx_time".into()))?);
    }
    let id = agent("a")?;
    let counts = read_with(&*fx.store.ledger, &id, |view| {
        let n = |c, e, t| view.count_entries_since(c, e, t);
        Ok((
            n(target, Event::RecallReEntryDetected, Timestamp(i64::MIN))?,
            n(target, Event::RecallReEntryDetected, times[1])?,
            n(target, Event::RecallReEntryDetected, times[2])?,
            n(target, Event::RecallReEntryDetected, times[2].plus_micros(1))?,
            n(target, Event::ClaimCommitted, Timestamp(i64::MIN))?,
            n(other, Event::RecallReEntryDetected, Timestamp(i64::MIN))?,
        ))
    })?;
    ensure_eq!(counts, (3, 2, 1, 0, 1, 0));
    Ok(())
}

/// `edges_to` answers edges of one kind ordered by `(seq, from)`; `edges_from` answers them in
/// the order they were appended.
pub fn read_edges_answer_in_documented_order(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?.claim();
    let p1 = fx.engine.ingest(IngestRequest::new("a", "s", "q", 1))?.claim();
    let p2 = fx.engine.ingest(IngestRequest::new("a", "s", "r", 2))?.claim();
    let mut supporters = Vec::new();
    for _ in 0..3 {
        supporters.push(fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?.claim());
    }
    let child = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "c", 0).derived_from([p2, p1, a]).depends_on([p1]))?
        .claim();
    let id = agent("a")?;
    let (to_a, from_child, deps, none) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.edges_to(a, EdgeKind::Corroborates)?,
            view.edges_from(child, EdgeKind::DerivedFrom)?,
            view.edges_from(child, EdgeKind::DependsOn)?,
            view.edges_to(a, EdgeKind::DependsOn)?,
        ))
    })?;
    ensure_eq!(to_a.iter().map(|e| e.from).collect::<Vec<_>>(), supporters);
    ensure!(to_a.iter().all(|e| e.kind == EdgeKind::Corroborates && e.to == a), "{to_a:?}");
    ensure_eq!(from_child.iter().map(|e| e.to).collect::<Vec<_>>(), vec![p2, p1, a]);
    ensure_eq!(deps.iter().map(|e| e.to).collect::<Vec<_>>(), vec![p1]);
    ensure!(none.is_empty(), "{none:?}");
    Ok(())
}

/// Transaction times survive exactly at microsecond precision, including a clock before 1970
/// and values that are not whole milliseconds.
pub fn write_times_survive_as_exact_microseconds(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let times = [Timestamp(-1), Timestamp(1_767_225_600_000_001), Timestamp(4_102_444_800_999_999)];
    let mut refs = Vec::new();
    for (i, t) in times.iter().enumerate() {
        fx.clock.set(*t);
        let r = fx.engine.ingest(IngestRequest::new("a", "s", format!("p{i}"), i))?;
        ensure_eq!(r.tx_time, Some(*t));
        refs.push(r.claim());
    }
    let id = agent("a")?;
    for (r, t) in refs.iter().zip(times) {
        let claim = read_with(&*fx.store.ledger, &id, |view| view.claim(*r))?;
        ensure_eq!(claim.map(|c| c.tx_time), Some(t));
    }
    let stored: Vec<Timestamp> = units(&fx, "a")?.iter().map(|u| u.tx_time).collect();
    ensure_eq!(stored, times.to_vec());
    Ok(())
}

/// Valid-time bounds survive exactly: pre-1970 (negative) microseconds, the extremes of the
/// range, granularities and the window confidence.
pub fn write_valid_times_survive_exactly(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let windows = [
        ValidTime::new(Some(Timestamp(-123_456_789_012_345)), Some(Timestamp(-1))),
        ValidTime::new(Some(Timestamp(i64::MIN)), Some(Timestamp(i64::MAX))),
        ValidTime {
            start: Some(day(1901, 12, 13).plus_micros(1)),
            end: None,
            confidence: 0.25,
            start_granularity: Some(Granularity::Month),
            end_granularity: Some(Granularity::Day),
        },
        ValidTime { start: None, end: Some(Timestamp(999)), ..ValidTime::new(None, None) },
    ];
    for (i, w) in windows.iter().enumerate() {
        let r = fx.engine.ingest(IngestRequest::new("a", "s", format!("p{i}"), i).with_valid_time(*w))?;
        ensure_eq!(r.disposition, Disposition::CommittedCheap, "window {w:?}");
        let h = fx.engine.history("a", "s", &format!("p{i}"), credence_core::AsOf::Now)?;
        ensure_eq!(h.entries.len(), 1);
        ensure_eq!(h.entries[0].claim.valid_time, Some(*w));
    }
    Ok(())
}

/// JSON values round-trip structurally: strings stay strings, integers stay integers, floats
/// stay floats, nesting, unicode and escapes survive.
pub fn write_values_round_trip_structurally(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let values: Vec<Value> = vec![
        json!("30"),
        json!(30),
        json!(1),
        json!(1.0),
        json!(-2.5),
        json!(0.1),
        json!(1e-7),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(null),
        json!(true),
        json!(""),
        json!([]),
        json!({}),
        json!([1, "1", 1.0, [null], {"a": {"b": [false]}}]),
        json!({"z": 1, "a": {"y": [1, 2, {"x": "é"}]}, "": ""}),
        json!("naïve 日本語 🦀 \n\t \"quoted\" \\ back\u{7f}\u{1}"),
        json!({"emoji 🦀": "key", "k\"ey": "v"}),
    ];
    for (i, v) in values.iter().enumerate() {
        let pred = format!("p{i:02}");
        fx.engine.ingest(IngestRequest::new("a", "s", pred.as_str(), v.clone()))?;
    }
    for (i, v) in values.iter().enumerate() {
        let pred = format!("p{i:02}");
        let h = fx.engine.history("a", "s", &pred, credence_core::AsOf::Now)?;
        ensure_eq!(h.entries.len(), 1, "{pred}");
        ensure_eq!(h.entries[0].claim.value, *v, "value on {pred}");
        ensure_eq!(
            credence_core::serde_json::to_string(&h.entries[0].claim.value).ok(),
            credence_core::serde_json::to_string(v).ok(),
            "serialised form on {pred}"
        );
        let b = fx.engine.recall(&RecallQuery::new("a", "s", pred.as_str()))?;
        ensure_eq!(b.value.as_ref(), Some(v), "belief on {pred}");
    }
    Ok(())
}

/// A string value holding a NUL character is valid JSON and round-trips unchanged.
pub fn write_value_with_nul_character_round_trips(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let v = json!({"text": "before\u{0}after", "key\u{0}": 1});
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", v.clone()))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.value, Some(v));
    Ok(())
}

/// A deeply nested value (200 levels, within the size limit) is either Rejected with a reason or
/// stored and read back unchanged: an accepted value must never make its line unreadable.
pub fn write_deeply_nested_value_never_poisons_its_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut v = json!("leaf");
    for i in 0..200 {
        v = if i % 2 == 0 { json!([v]) } else { json!({ "k": v }) };
    }
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", v.clone()))?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    let h = fx.engine.history("a", "s", "p", credence_core::AsOf::Now)?;
    if r.disposition == Disposition::Rejected {
        ensure!(r.reason.is_some(), "a rejection names its reason: {r:?}");
        ensure_eq!(b.status, BeliefStatus::NoBelief);
        ensure!(h.entries.is_empty(), "nothing stored: {:?}", h.entries);
    } else {
        ensure_eq!(r.disposition, Disposition::CommittedCheap);
        ensure_eq!(b.value, Some(v));
        ensure_eq!(h.entries.len(), 1);
    }
    let next = fx.engine.ingest(IngestRequest::new("a", "s", "p", "flat"))?;
    ensure!(next.disposition != Disposition::Rejected, "the line still takes writes: {next:?}");
    Ok(())
}

/// A value nested 100 levels deep is accepted and round-trips unchanged.
pub fn write_nested_value_round_trips(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut v = json!(1.5);
    for i in 0..100 {
        v = if i % 2 == 0 { json!([v, i]) } else { json!({ "k": v, "i": i }) };
    }
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", v.clone()))?;
    ensure_eq!(r.disposition, Disposition::CommittedCheap);
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some(v));
    Ok(())
}

/// Every claim field survives storage exactly (provenance, cardinality, confidence,
/// criticality, parents, seq, tx_time).
pub fn write_claim_fields_survive_exactly(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let p1 = fx.engine.ingest(IngestRequest::new("a", "s", "base1", 1))?;
    let p2 = fx.engine.ingest(IngestRequest::new("a", "s", "base2", 2))?;
    let req = IngestRequest::new("a", "s", "p", json!({"x": 1}))
        .with_provenance(Provenance::USER)
        .with_confidence(0.3)
        .with_criticality(Criticality::Low)
        .set_valued()
        .derived_from([p2.claim(), p1.claim()])
        .depends_on([p1.claim()]);
    let r = fx.engine.ingest(req.clone())?;
    let id = agent("a")?;
    let claim = read_with(&*fx.store.ledger, &id, |view| view.claim(r.claim()))?
        .ok_or_else(|| CaseError::Failed("stored claim not found".into()))?;
    ensure_eq!(claim.agent_id, id);
    ensure_eq!(claim.subject, req.subject);
    ensure_eq!(claim.predicate, req.predicate);
    ensure_eq!(claim.value, req.value);
    ensure_eq!(claim.provenance, Provenance::USER);
    ensure_eq!(claim.cardinality, Cardinality::SetValued);
    ensure_eq!(claim.confidence.to_bits(), 0.3f32.to_bits());
    ensure_eq!(claim.criticality, Criticality::Low);
    ensure_eq!(claim.derived_from, vec![p2.claim(), p1.claim()]);
    ensure_eq!(claim.depends_on, vec![p1.claim()]);
    ensure_eq!(Some(claim.seq), r.seq);
    ensure_eq!(Some(claim.tx_time), r.tx_time);
    Ok(())
}

/// Every valid confidence survives storage exactly, bit for bit: 0, 1, the smallest normal and
/// subnormal f32, the largest value below 1, and non-decimal fractions (`-0.0` compares equal).
pub fn write_extreme_confidences_survive_exactly(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let confidences =
        [0.0f32, 1.0, f32::MIN_POSITIVE, f32::from_bits(1), 0.1, 1.0 - f32::EPSILON / 2.0, 0.7, -0.0];
    let id = agent("a")?;
    for (i, c) in confidences.iter().enumerate() {
        let w = ValidTime::new(Some(day(2020, 1, 1)), None).with_confidence(*c);
        let r = fx.engine.ingest(
            IngestRequest::new("a", "s", format!("p{i}"), i).with_confidence(*c).with_valid_time(w),
        )?;
        ensure!(r.disposition != Disposition::Rejected, "confidence {c:e}: {r:?}");
        let claim = read_with(&*fx.store.ledger, &id, |view| view.claim(r.claim()))?
            .ok_or_else(|| CaseError::Failed(format!("claim with confidence {c:e} not found")))?;
        let back = [claim.confidence, claim.valid_time.map_or(f32::NAN, |w| w.confidence)];
        for b in back {
            if *c == 0.0 {
                ensure!(b == 0.0, "confidence {c:e} came back as {b:e}");
            } else {
                ensure_eq!(b.to_bits(), c.to_bits(), "confidence {c:e} came back as {b:e}");
            }
        }
    }
    Ok(())
}

pub(super) fn day(y: i32, m: u32, d: u32) -> Timestamp {
    Timestamp::from_ymd(y, m, d).expect("the case uses valid calendar dates")
}

pub(super) fn plain_claim(id: &AgentId, claim_ref: ClaimRef, seq: u64, t: Timestamp) -> Claim {
    Claim {
        claim_ref,
        agent_id: id.clone(),
        subject: "s".into(),
        predicate: "p".into(),
        value: json!("raw"),
        provenance: Provenance::FIRST_HAND,
        cardinality: Cardinality::Functional,
        confidence: 1.0,
        criticality: Criticality::Medium,
        valid_time: None,
        tx_time: t,
        seq,
        derived_from: Vec::new(),
        depends_on: Vec::new(),
    }
}

pub(super) fn committed_entry(claim_ref: ClaimRef, seq: u64, t: Timestamp) -> LedgerEntry {
    LedgerEntry {
        seq,
        index: 0,
        claim_ref,
        event: Event::ClaimCommitted,
        disposition: Disposition::CommittedCheap,
        rationale: json!({"rationale": "cheap_path"}),
        recorded_at: t,
    }
}

trait ClockNow {
    fn clock_now(&self) -> Timestamp;
}

impl ClockNow for Fixture {
    fn clock_now(&self) -> Timestamp {
        credence_core::Clock::now(&*self.clock)
    }
}
