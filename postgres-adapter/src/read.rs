//! [`LedgerRead`] over one PostgreSQL transaction.
//!
//! Reads run inside `REPEATABLE READ READ ONLY` transactions (one snapshot); inside a write
//! the view shares the write's transaction, which holds the agent's advisory lock, so no other
//! unit of the agent can commit while it runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use credence_core::{
    Adjudication, AdjudicationStatus, Append, Assertion, AuditRange, Claim, ClaimRef, Edge, EdgeKind, Event,
    Handle, Head, LedgerEntry, LedgerRead, LineRows, Result, StatusChange, Timestamp, Upto,
};
use postgres::types::ToSql;
use postgres::{Row, SimpleQueryMessage, SimpleQueryRow};

use crate::codec::{self, Cells, max_seq_param};
use crate::error::PgResult;
use crate::pool::PgConnection;
use crate::write;

type Param<'a> = &'a (dyn ToSql + Sync);

/// A read view of one agent inside an open transaction on `conn`.
pub(crate) struct PgView<'c> {
    conn: RefCell<&'c mut PgConnection>,
    agent: &'c str,
    /// Inside a write transaction begun with [`PgConnection::begin_deferred`]: queued
    /// statements are sent first, and the line read goes as a simple query with them.
    write: bool,
    plans: Option<&'c Mutex<Vec<QueryPlan>>>,
    edges: RefCell<EdgeCache>,
}

/// After this many `edges_to` lookups of one kind in one view, all of the agent's edges of
/// that kind are loaded at once: a cascade over a thousand dependents then costs one query
/// instead of a thousand round trips, while a single lookup stays a single indexed query.
const BULK_EDGES_AFTER: u32 = 4;

#[derive(Default)]
struct EdgeCache {
    lookups: HashMap<EdgeKind, u32>,
    loaded: HashMap<EdgeKind, HashMap<uuid::Uuid, Vec<Edge>>>,
}

/// One statement of the read path with the plan PostgreSQL chose for it (see
/// [`PostgresLedger::capture_plans`](crate::PostgresLedger::capture_plans)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPlan {
    /// The statement.
    pub sql: &'static str,
    /// `EXPLAIN` output, one line per plan node.
    pub plan: String,
}

macro_rules! claims_sql {
    ($tail:literal) => {
        concat!(
            "SELECT agent_id, claim_ref, stream_seq, subject, predicate, value, provenance, \
             cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
             vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on FROM claims ",
            $tail
        )
    };
}

macro_rules! entries_sql {
    ($tail:literal) => {
        concat!(
            "SELECT stream_seq, idx, claim_ref, event, disposition, rationale, recorded_at FROM entries ",
            $tail
        )
    };
}

macro_rules! adjudications_sql {
    ($tail:literal) => {
        concat!(
            "SELECT agent_id, handle, stream_seq, subject, predicate, challenger, incumbents, queued_at, \
             expires_at, status, notified, closed_seq FROM adjudications ",
            $tail
        )
    };
}

const AUDIT_SQL: [&str; 8] = [
    // [claim filter][cursor][newest_first]
    entries_sql!("WHERE agent_id = $1 ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 ORDER BY stream_seq DESC, idx DESC LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 AND (stream_seq, idx) > ($3, $4) ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!(
        "WHERE agent_id = $1 AND (stream_seq, idx) < ($3, $4) ORDER BY stream_seq DESC, idx DESC LIMIT $2"
    ),
    entries_sql!("WHERE agent_id = $1 AND claim_ref = $3 ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 AND claim_ref = $3 ORDER BY stream_seq DESC, idx DESC LIMIT $2"),
    entries_sql!(
        "WHERE agent_id = $1 AND claim_ref = $3 AND (stream_seq, idx) > ($4, $5) \
         ORDER BY stream_seq, idx LIMIT $2"
    ),
    entries_sql!(
        "WHERE agent_id = $1 AND claim_ref = $3 AND (stream_seq, idx) < ($4, $5) \
         ORDER BY stream_seq DESC, idx DESC LIMIT $2"
    ),
];

/// The three line reads of the engine's write path (`line_claims`, `line_marks`,
/// `line_assertions` for one line and `max_seq`) in one statement: a `UNION ALL` with a
/// discriminator `k` (0 claims, 1 marks, 2 assertions), each part in its documented order.
/// The line's claims are read in `claims_by_line` order (`ORDER BY stream_seq, claim_ref` in
/// each part): that makes `claims_by_line` the cheapest index even when the plan is made while
/// the tables are tiny (a generic plan cached per connection), where otherwise
/// `claims_by_unit` ties and is picked, and then scans every claim of the agent on each write.
/// `OFFSET 0` keeps the lateral lookups from being flattened into a scan of the whole ledger.
macro_rules! line_parts {
    () => {
        "(SELECT 0 AS k, agent_id, claim_ref, stream_seq, subject, predicate, value, provenance, \
     cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
     vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on, NULL::bigint AS \
     idx, NULL::text AS event, NULL::text AS disposition, NULL::uuid AS assertion_ref, NULL::uuid AS \
     target, NULL::text AS kind, NULL::bigint AS at, claim_ref AS o2, ord::bigint AS o3 FROM claims \
     WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND stream_seq <= $4 ORDER BY \
     stream_seq, claim_ref) UNION ALL (SELECT 1, NULL, e.claim_ref, e.stream_seq, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.idx, e.event, \
     e.disposition, NULL, NULL, NULL, NULL, NULL, e.idx FROM (SELECT agent_id, claim_ref FROM claims \
     WHERE agent_id = $1 AND subject = $2 AND predicate = $3 ORDER BY stream_seq, claim_ref) c CROSS \
     JOIN LATERAL (SELECT x.stream_seq, x.idx, x.claim_ref, x.event, x.disposition FROM entries x \
     WHERE x.agent_id = c.agent_id AND x.claim_ref = c.claim_ref AND x.stream_seq <= $4 AND x.event \
     = ANY($5) OFFSET 0) e) UNION ALL (SELECT 2, NULL, NULL, a.stream_seq, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     a.assertion_ref, a.target, a.kind, a.at, a.assertion_ref, a.ord::bigint FROM (SELECT agent_id, \
     claim_ref FROM claims WHERE agent_id = $1 AND subject = $2 AND predicate = $3 ORDER BY \
     stream_seq, claim_ref) c CROSS JOIN LATERAL (SELECT x.stream_seq, x.assertion_ref, x.target, \
     x.kind, x.at, x.ord FROM assertions x WHERE x.agent_id = c.agent_id AND x.target = c.claim_ref \
     AND x.stream_seq <= $4 OFFSET 0) a)"
    };
}
pub(crate) const LINE_SQL: &str = concat!(line_parts!(), " ORDER BY k, stream_seq, o2, o3");

/// [`LINE_SQL`] with a fourth part, `k` = 3: the agent's head (`stream_seq`, `tx_time`), if
/// it has a unit. The write path reads it with the line in one statement, after the lock.
pub(crate) const LINE_HEAD_SQL: &str = concat!(
    line_parts!(),
    " UNION ALL (SELECT 3, NULL, NULL, u.stream_seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, u.tx_time, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL FROM units u WHERE u.agent_id = $1 ORDER BY u.stream_seq DESC LIMIT 1) \
     ORDER BY k, stream_seq, o2, o3"
);

impl<'c> PgView<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection, agent: &'c str) -> PgView<'c> {
        PgView { conn: RefCell::new(conn), agent, write: false, plans: None, edges: RefCell::default() }
    }

    /// A view inside a write transaction on `conn` (see [`PgView::write`]).
    pub(crate) fn for_write(conn: &'c mut PgConnection, agent: &'c str) -> PgView<'c> {
        PgView { write: true, ..PgView::new(conn, agent) }
    }

    /// Inside a write: sends the queued statements (the transaction's `BEGIN` and lock, a
    /// previous unit's inserts) with the head query unless the head is known, and records the
    /// head. Statements of one batch run in order, so the lock is taken before the reads.
    pub(crate) fn start_write(&self) -> PgResult<()> {
        let mut conn = self.conn.borrow_mut();
        if conn.write_head(self.agent).is_some() {
            return conn.flush();
        }
        let messages = conn.send(&write::head_sql(self.agent))?;
        let results = statement_rows(&messages);
        let head = head_in(results.last().map_or(&[][..], Vec::as_slice))?;
        conn.set_write_head(self.agent, head);
        Ok(())
    }

    /// Also records the plan of every statement into `plans`.
    pub(crate) fn with_plans(mut self, plans: Option<&'c Mutex<Vec<QueryPlan>>>) -> PgView<'c> {
        self.plans = plans;
        self
    }

    fn query(&self, sql: &'static str, params: &[Param<'_>]) -> PgResult<Vec<Row>> {
        if self.write {
            self.start_write()?;
        }
        let mut conn = self.conn.borrow_mut();
        if let Some(plans) = self.plans {
            let rows = conn.raw().query(&format!("EXPLAIN {sql}"), params)?;
            let plan =
                rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>().join("\n");
            plans.lock().unwrap_or_else(PoisonError::into_inner).push(QueryPlan { sql, plan });
        }
        let result = conn.statement(sql).and_then(|stmt| Ok(conn.raw().query(&stmt, params)?));
        if let Err(e) = &result {
            conn.note_failure(e);
        }
        result
    }

    fn rows<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        decode: fn(&Row) -> PgResult<T>,
    ) -> Result<Vec<T>> {
        let rows = self.query(sql, params)?;
        Ok(rows.iter().map(decode).collect::<PgResult<Vec<T>>>()?)
    }

    fn first<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        decode: fn(&Row) -> PgResult<T>,
    ) -> Result<Option<T>> {
        Ok(self.rows(sql, params, decode)?.into_iter().next())
    }

    fn fetch_line(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<LineRows> {
        if self.write {
            return Ok(self.fetch_line_in_write(subject, predicate, max_seq)?);
        }
        let events: Vec<&str> = Event::MARKS.iter().map(|e| e.as_str()).collect();
        let rows =
            self.query(LINE_SQL, &[&self.agent, &subject, &predicate, &max_seq_param(max_seq), &events])?;
        let (mut claims, mut marks, mut assertions) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let k: i32 = codec::RowReader::new(row, "claims").get("k")?;
            match k {
                0 => claims.push(codec::claim(row)?),
                1 => marks.push(codec::mark(row)?),
                _ => assertions.push(codec::assertion(row)?),
            }
        }
        Ok(LineRows { claims, marks, assertions })
    }

    /// [`PgView::fetch_line`] inside a write: one simple-query round trip with whatever is
    /// queued (the `BEGIN` batch with the agent's lock, a previous unit's inserts), the head
    /// query if the head is not known yet, and the line query.
    fn fetch_line_in_write(&self, subject: &str, predicate: &str, max_seq: u64) -> PgResult<LineRows> {
        let mut conn = self.conn.borrow_mut();
        let head_known = conn.write_head(self.agent).is_some();
        let sql = write::line_sql(self.agent, subject, predicate, max_seq_param(max_seq), !head_known);
        let messages = conn.send(&sql)?;
        let results = statement_rows(&messages);
        let line_rows = results.last().map_or(&[][..], Vec::as_slice);
        let mut head = None;
        let (mut claims, mut marks, mut assertions) = (Vec::new(), Vec::new(), Vec::new());
        for row in line_rows {
            let r = codec::TextReader::new(row, "claims");
            match r.i64("k")? {
                0 => claims.push(codec::claim_from(&r)?),
                1 => marks.push(codec::mark_from(&codec::TextReader::new(row, "entries"))?),
                2 => assertions.push(codec::assertion_from(&codec::TextReader::new(row, "assertions"))?),
                _ => head = Some(codec::head_from(&codec::TextReader::new(row, "units"))?),
            }
        }
        if !head_known {
            conn.set_write_head(self.agent, head);
        }
        Ok(LineRows { claims, marks, assertions })
    }

    /// The agent's newest unit (used by the write path's checks).
    pub(crate) fn head_raw(&self) -> PgResult<Option<Head>> {
        let rows = self.query(
            "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 ORDER BY stream_seq DESC LIMIT 1",
            &[&self.agent],
        )?;
        rows.first().map(codec::head).transpose()
    }
}

/// The rows of each statement of a simple-query batch, in order (one list per statement).
pub(crate) fn statement_rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<&SimpleQueryRow>> {
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::Row(row) => rows.push(row),
            SimpleQueryMessage::CommandComplete(_) => out.push(std::mem::take(&mut rows)),
            _ => {}
        }
    }
    out
}

/// The head from the result of the head query (`None`: the agent has no unit).
pub(crate) fn head_in(rows: &[&SimpleQueryRow]) -> PgResult<Option<Head>> {
    rows.first().map(|row| codec::head_from(&codec::TextReader::new(row, "units"))).transpose()
}

impl LedgerRead for PgView<'_> {
    fn head(&self) -> Result<Option<Head>> {
        // Inside a write the transaction holding the agent's lock tracks the head exactly.
        if self.write {
            self.start_write()?;
        }
        if let Some(head) = self.conn.borrow().write_head(self.agent) {
            return Ok(head);
        }
        Ok(self.head_raw()?)
    }

    fn seq_at(&self, t: Timestamp) -> Result<u64> {
        let head = self.first(
            "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND tx_time <= $2 \
             ORDER BY tx_time DESC, stream_seq DESC LIMIT 1",
            &[&self.agent, &t.0],
            codec::head,
        )?;
        Ok(head.map_or(0, |h| h.seq))
    }

    fn tx_time_of(&self, seq: u64) -> Result<Option<Timestamp>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        let head = self.first(
            "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND stream_seq = $2",
            &[&self.agent, &seq],
            codec::head,
        )?;
        Ok(head.map(|h| h.tx_time))
    }

    fn claim(&self, claim_ref: ClaimRef) -> Result<Option<Claim>> {
        self.first(
            claims_sql!("WHERE agent_id = $1 AND claim_ref = $2"),
            &[&self.agent, &claim_ref.0],
            codec::claim,
        )
    }

    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows> {
        let max_seq = match upto {
            Upto::Head => u64::MAX,
            Upto::Seq(n) => n,
        };
        self.fetch_line(subject, predicate, max_seq)
    }

    fn claim_entries(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<LedgerEntry>> {
        self.rows(
            entries_sql!(
                "WHERE agent_id = $1 AND claim_ref = $2 AND stream_seq <= $3 ORDER BY stream_seq, idx"
            ),
            &[&self.agent, &claim_ref.0, &max_seq_param(max_seq)],
            codec::entry,
        )
    }

    fn claim_assertions(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<Assertion>> {
        self.rows(
            "SELECT stream_seq, assertion_ref, target, kind, at FROM assertions \
             WHERE agent_id = $1 AND target = $2 AND stream_seq <= $3 ORDER BY stream_seq, assertion_ref, ord",
            &[&self.agent, &claim_ref.0, &max_seq_param(max_seq)],
            codec::assertion,
        )
    }

    fn count_entries_since(&self, claim_ref: ClaimRef, event: Event, since: Timestamp) -> Result<u64> {
        let rows = self.query(
            "SELECT count(*) AS n FROM entries \
             WHERE agent_id = $1 AND claim_ref = $2 AND event = $3 AND recorded_at >= $4",
            &[&self.agent, &claim_ref.0, &event.as_str(), &since.0],
        )?;
        let n: i64 = match rows.first() {
            Some(row) => codec::RowReader::new(row, "entries").get("n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn edges_to(&self, to: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        let bulk = {
            let mut cache = self.edges.borrow_mut();
            if let Some(all) = cache.loaded.get(&kind) {
                return Ok(all.get(&to.0).cloned().unwrap_or_default());
            }
            let n = cache.lookups.entry(kind).or_insert(0);
            *n += 1;
            *n > BULK_EDGES_AFTER
        };
        if bulk {
            let edges = self.rows(
                "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
                 WHERE agent_id = $1 AND kind = $2 ORDER BY to_ref, stream_seq, from_ref, ord",
                &[&self.agent, &kind.as_str()],
                codec::edge,
            )?;
            let mut all: HashMap<uuid::Uuid, Vec<Edge>> = HashMap::new();
            for e in edges {
                all.entry(e.to.0).or_default().push(e);
            }
            let found = all.get(&to.0).cloned().unwrap_or_default();
            self.edges.borrow_mut().loaded.insert(kind, all);
            return Ok(found);
        }
        self.rows(
            "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND to_ref = $2 AND kind = $3 ORDER BY stream_seq, from_ref, ord",
            &[&self.agent, &to.0, &kind.as_str()],
            codec::edge,
        )
    }

    fn edges_from(&self, from: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        self.rows(
            "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND from_ref = $2 AND kind = $3 ORDER BY stream_seq, ord",
            &[&self.agent, &from.0, &kind.as_str()],
            codec::edge,
        )
    }

    fn predicates(&self, subject: &str, max_seq: u64) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT DISTINCT predicate FROM claims WHERE agent_id = $1 AND subject = $2 AND stream_seq <= $3",
            &[&self.agent, &subject, &max_seq_param(max_seq)],
        )?;
        let mut v = rows
            .iter()
            .map(|r| codec::RowReader::new(r, "claims").get::<String>("predicate"))
            .collect::<PgResult<Vec<String>>>()?;
        v.sort();
        Ok(v)
    }

    fn audit(&self, range: &AuditRange) -> Result<Vec<LedgerEntry>> {
        let limit = i64::try_from(range.limit).unwrap_or(i64::MAX);
        let desc = usize::from(range.newest_first);
        let (cursor_seq, cursor_idx) = match range.after {
            Some(c) => (max_seq_param(c.seq), i64::from(c.index)),
            None => (0, 0),
        };
        let agent = &self.agent;
        match (range.claim_ref, range.after) {
            (None, None) => self.rows(AUDIT_SQL[desc], &[agent, &limit], codec::entry),
            (None, Some(_)) => {
                self.rows(AUDIT_SQL[2 + desc], &[agent, &limit, &cursor_seq, &cursor_idx], codec::entry)
            }
            (Some(r), None) => self.rows(AUDIT_SQL[4 + desc], &[agent, &limit, &r.0], codec::entry),
            (Some(r), Some(_)) => {
                self.rows(AUDIT_SQL[6 + desc], &[agent, &limit, &r.0, &cursor_seq, &cursor_idx], codec::entry)
            }
        }
    }

    fn adjudication(&self, handle: Handle) -> Result<Option<Adjudication>> {
        self.first(
            adjudications_sql!("WHERE agent_id = $1 AND handle = $2"),
            &[&self.agent, &handle.0],
            codec::adjudication,
        )
    }

    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        self.rows(
            adjudications_sql!(
                "WHERE agent_id = $1 AND status = 'pending' ORDER BY queued_at, handle, stream_seq, ord"
            ),
            &[&self.agent],
            codec::adjudication,
        )
    }

    fn units(&self, after_seq: u64, limit: usize) -> Result<Vec<Append>> {
        let Ok(after) = i64::try_from(after_seq) else { return Ok(Vec::new()) };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let heads = self.rows(
            "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND stream_seq > $2 \
             ORDER BY stream_seq LIMIT $3",
            &[&self.agent, &after, &limit],
            codec::head,
        )?;
        let (Some(first), Some(last)) = (heads.first(), heads.last()) else { return Ok(Vec::new()) };
        let (lo, hi) = (max_seq_param(first.seq), max_seq_param(last.seq));
        let mut units: Vec<Append> = heads.iter().map(|h| Append::new(h.seq, h.tx_time)).collect();
        let range: [Param<'_>; 3] = [&self.agent, &lo, &hi];

        let claims = self.rows(
            claims_sql!("WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord"),
            &range,
            codec::claim,
        )?;
        let assertions = self.rows(
            "SELECT stream_seq, assertion_ref, target, kind, at FROM assertions \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord",
            &range,
            codec::assertion,
        )?;
        let edges = self.rows(
            "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord",
            &range,
            codec::edge,
        )?;
        let entries = self.rows(
            entries_sql!(
                "WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord, idx"
            ),
            &range,
            codec::entry,
        )?;
        let adjudications = self.query(
            adjudications_sql!(
                "WHERE agent_id = $1 AND (stream_seq BETWEEN $2 AND $3 OR closed_seq BETWEEN $2 AND $3) \
                 ORDER BY stream_seq, ord"
            ),
            &range,
        )?;

        let mut changes = Vec::new();
        let mut opened = Vec::new();
        for row in &adjudications {
            let adj = codec::adjudication(row)?;
            if let Some(closed) = codec::closed_seq(row)? {
                changes.push((closed, StatusChange { handle: adj.handle, status: adj.status }));
            }
            opened.push(Adjudication { status: AdjudicationStatus::Pending, ..adj });
        }
        for c in claims {
            place(&mut units, c.seq, c, |u| &mut u.claims);
        }
        for a in assertions {
            place(&mut units, a.seq, a, |u| &mut u.assertions);
        }
        for e in edges {
            place(&mut units, e.seq, e, |u| &mut u.edges);
        }
        for e in entries {
            place(&mut units, e.seq, e, |u| &mut u.entries);
        }
        for a in opened {
            place(&mut units, a.seq, a, |u| &mut u.adjudications);
        }
        for (seq, c) in changes {
            place(&mut units, seq, c, |u| &mut u.status_changes);
        }
        let keys = self.rows(
            "SELECT key, stream_seq, request, answer FROM idempotency_keys \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3",
            &range,
            codec::idempotency,
        )?;
        for (seq, record) in keys {
            if let Ok(i) = units.binary_search_by_key(&seq, |u| u.seq) {
                units[i].idempotency = Some(Box::new(record));
            }
        }
        Ok(units)
    }

    fn idempotency(&self, key: &str) -> Result<Option<credence_core::Idempotency>> {
        Ok(self
            .first(
                "SELECT key, stream_seq, request, answer FROM idempotency_keys WHERE agent_id = $1 AND key = $2",
                &[&self.agent, &key],
                codec::idempotency,
            )?
            .map(|(_, record)| record))
    }
}

/// Appends `item` to the unit with `seq` (rows of units outside the page are dropped).
fn place<T>(units: &mut [Append], seq: u64, item: T, list: fn(&mut Append) -> &mut Vec<T>) {
    if let Ok(i) = units.binary_search_by_key(&seq, |u| u.seq) {
        list(&mut units[i]).push(item);
    }
}
