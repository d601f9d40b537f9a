//! Every statement of the read and write paths is planned with an index: no full scans.
//!
//! The test captures the SQL the adapter really runs (SQLite's statement trace) while every
//! [`LedgerRead`] method and a write are exercised, then asks `EXPLAIN QUERY PLAN` about each.

use std::sync::{Arc, Mutex};

use credence_core::{
    AdjudicationStatus, AgentId, Append, AuditCursor, AuditRange, Cardinality, Claim, ClaimRef, Criticality,
    EdgeKind, Event, Handle, HistoryCursor, LedgerRead, LinePage, Provenance, Span, StatusChange,
    SubjectRange, Timestamp,
};
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use uuid::Uuid;

use crate::config::SqliteConfig;
use crate::read::View;
use crate::schema::{self, Role, Target};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn every_read(view: &View<'_>) -> credence_core::Result<()> {
    let r = ClaimRef(Uuid::from_u128(7));
    view.head()?;
    view.seq_at(Timestamp(5))?;
    view.tx_time_of(1)?;
    view.claim(r)?;
    view.line_claims("s", "p", 9)?;
    view.line_marks("s", "p", 9)?;
    view.line_assertions("s", "p", 9)?;
    view.live("s", "p")?;
    view.line_summary("s", "p")?;
    view.live_overlapping("s", "p", Span::at(Timestamp(5)), 0.7)?;
    view.live_at("s", "p", 1, Span::at(Timestamp(5)), 0.7)?;
    view.claim_entries(r, 9)?;
    view.claim_states_at(&[r], 9)?;
    view.term_lines("t", 9, 10)?;
    view.line_latest("s", "p", 9)?;
    for prefix in ["", "a"] {
        for after in [None, Some("b")] {
            view.subjects(&SubjectRange { prefix, after, limit: 10 })?;
        }
    }
    let after = HistoryCursor { key: Timestamp(5), tx_time: Timestamp(5), seq: 2, claim_ref: r };
    for after in [None, Some(after)] {
        view.line_page("s", "p", &LinePage { seq: 9, threshold: 0.7, after, limit: 10 })?;
    }
    view.claim_assertions(r, 9)?;
    view.count_entries_since(r, Event::RecallReEntryDetected, Timestamp(0))?;
    view.edges_to(r, EdgeKind::DependsOn)?;
    view.edges_from(r, EdgeKind::DerivedFrom)?;
    view.predicates("s", 9)?;
    for claim_ref in [None, Some(r)] {
        for after in [None, Some(AuditCursor { seq: 3, index: 0 })] {
            for newest_first in [false, true] {
                view.audit(&AuditRange { claim_ref, after, limit: 10, newest_first })?;
            }
        }
    }
    view.adjudication(Handle(Uuid::from_u128(9)))?;
    view.open_adjudications()?;
    view.units(0, 10)?;
    Ok(())
}

#[test]
fn every_read_and_write_statement_uses_an_index() -> TestResult {
    let config = SqliteConfig::default();
    let target = Target::Memory(format!("/credence-explain-{}", std::process::id()));
    let mut conn = schema::open(&target, Role::Writer, &config)?;
    schema::migrate(&mut conn, "a", config.busy_timeout)?;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_STMT,
        Some(move |e: TraceEvent<'_>| {
            if let TraceEvent::Stmt(_, sql) = e {
                sink.lock().expect("trace sink lock is never poisoned").push(sql.to_owned());
            }
        }),
    )?;
    let agent = AgentId::new("a")?;
    // Two units, so `seq_at` bisects and `units` reads a claim range.
    let mut first = Append::new(1, Timestamp(10));
    first.claims.push(Claim {
        claim_ref: ClaimRef(Uuid::from_u128(7)),
        agent_id: agent.clone(),
        subject: "s".into(),
        predicate: "p".into(),
        value: serde_json::json!(1),
        provenance: Provenance::FIRST_HAND,
        cardinality: Cardinality::Functional,
        confidence: 1.0,
        criticality: Criticality::Medium,
        valid_time: None,
        tx_time: Timestamp(10),
        seq: 1,
        derived_from: Vec::new(),
        depends_on: Vec::new(),
    });
    crate::write::apply(&conn, &agent, &first)?;
    let mut unit = Append::new(2, Timestamp(20));
    unit.status_changes
        .push(StatusChange { handle: Handle(Uuid::from_u128(9)), status: AdjudicationStatus::Expired });
    crate::write::apply(&conn, &agent, &unit)?;
    crate::write::mark_notified(&conn, &agent, Handle(Uuid::from_u128(9)))?;
    // After the write, so `units` finds a unit and runs its per-unit queries too.
    every_read(&View::new(&conn, &agent))?;
    conn.trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>)?;

    let statements: Vec<String> = seen.lock().map_err(|_| "poisoned")?.clone();
    assert!(statements.len() >= 25, "only {} statements captured", statements.len());
    let mut scans = Vec::new();
    let mut searches = 0;
    for sql in statements.iter().filter(|s| {
        let s = s.trim_start().to_ascii_uppercase();
        ["SELECT", "WITH", "UPDATE", "DELETE"].iter().any(|k| s.starts_with(k))
    }) {
        let paged = sql.contains(" LIMIT ");
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let details: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))?
            .collect::<Result<_, _>>()?;
        if std::env::var_os("CREDENCE_PRINT_PLANS").is_some() {
            println!("{sql}\n    {}", details.join("\n    "));
        }
        for d in details {
            searches += usize::from(d.starts_with("SEARCH "));
            // `SCAN t` is a full table scan; `SCAN t USING [COVERING] INDEX` a full index scan.
            // (`SCAN reach` reads the rows a `reach` subquery found with its own searches.)
            if d.starts_with("SCAN ") && !d.starts_with("SCAN CONSTANT ROW") && d != "SCAN reach" {
                scans.push(format!("{d}\n    in {sql}"));
            }
            // agent_id is constant within a file: a search narrowed only by it (and a seq
            // range) reads the whole table, unless the statement pages with LIMIT.
            let whole = ["(agent_id=?)", "(agent_id=? AND stream_seq<?)", "(agent_id=? AND stream_seq>?)"];
            if !paged && whole.iter().any(|w| d.ends_with(w)) {
                scans.push(format!("{d} (agent_id is constant)\n    in {sql}"));
            }
            // A read of what a span reaches looks each live claim up by key, never reads the line.
            if sql.contains("WITH reach")
                && d == "SEARCH l USING PRIMARY KEY (agent_id=? AND subject=? AND predicate=?)"
            {
                scans.push(format!("{d} (the whole line)\n    in {sql}"));
            }
        }
    }
    assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
    assert!(searches >= 20, "only {searches} index searches: the plans were not inspected");
    Ok(())
}
