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
    Handle, Head, LedgerEntry, LedgerRead, Result, StateMark, StatusChange, Timestamp,
};
use postgres::Row;
use postgres::types::ToSql;

use crate::codec::{self, max_seq_param};
use crate::error::PgResult;
use crate::pool::PgConnection;

type Param<'a> = &'a (dyn ToSql + Sync);

/// A read view of one agent inside an open transaction on `conn`.
pub(crate) struct PgView<'c> {
    conn: RefCell<&'c mut PgConnection>,
    agent: &'c str,
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

impl<'c> PgView<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection, agent: &'c str) -> PgView<'c> {
        PgView { conn: RefCell::new(conn), agent, plans: None, edges: RefCell::default() }
    }

    /// Also records the plan of every statement into `plans`.
    pub(crate) fn with_plans(mut self, plans: Option<&'c Mutex<Vec<QueryPlan>>>) -> PgView<'c> {
        self.plans = plans;
        self
    }

    fn query(&self, sql: &'static str, params: &[Param<'_>]) -> PgResult<Vec<Row>> {
        let mut conn = self.conn.borrow_mut();
        if let Some(plans) = self.plans {
            let rows = conn.client().query(&format!("EXPLAIN {sql}"), params)?;
            let plan =
                rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>().join("\n");
            plans.lock().unwrap_or_else(PoisonError::into_inner).push(QueryPlan { sql, plan });
        }
        let stmt = conn.statement(sql)?;
        Ok(conn.client().query(&stmt, params)?)
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

    /// The agent's newest unit (used by the write path's checks).
    pub(crate) fn head_raw(&self) -> PgResult<Option<Head>> {
        let rows = self.query(
            "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 ORDER BY stream_seq DESC LIMIT 1",
            &[&self.agent],
        )?;
        rows.first().map(codec::head).transpose()
    }

    /// The head and which of `refs` already exist as claims of the agent (one round trip).
    pub(crate) fn head_and_existing_claims(
        &self,
        refs: &[uuid::Uuid],
    ) -> PgResult<(Option<Head>, Vec<uuid::Uuid>)> {
        let rows = self.query(
            "SELECT h.stream_seq, h.tx_time, \
             ARRAY(SELECT claim_ref FROM claims WHERE agent_id = $1 AND claim_ref = ANY($2)) AS existing \
             FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 \
             ORDER BY stream_seq DESC LIMIT 1) h ON TRUE",
            &[&self.agent, &refs],
        )?;
        let Some(row) = rows.first() else { return Ok((None, Vec::new())) };
        let r = codec::RowReader::new(row, "units");
        let existing: Vec<uuid::Uuid> = r.get("existing")?;
        let head = match r.get::<Option<i64>>("stream_seq")? {
            None => None,
            Some(_) => Some(codec::head(row)?),
        };
        Ok((head, existing))
    }
}

impl LedgerRead for PgView<'_> {
    fn head(&self) -> Result<Option<Head>> {
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

    fn line_claims(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<Vec<Claim>> {
        self.rows(
            claims_sql!(
                "WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND stream_seq <= $4 \
                 ORDER BY stream_seq, claim_ref, ord"
            ),
            &[&self.agent, &subject, &predicate, &max_seq_param(max_seq)],
            codec::claim,
        )
    }

    fn line_marks(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<Vec<StateMark>> {
        let events: Vec<&str> = Event::MARKS.iter().map(|e| e.as_str()).collect();
        self.rows(
            // The line's claims drive the lookup (OFFSET 0 keeps the planner from flattening the
            // lateral subquery into a scan of the agent's whole ledger when its statistics are
            // stale, as they are while a table grows).
            "SELECT e.stream_seq, e.idx, e.claim_ref, e.event, e.disposition FROM claims c \
             CROSS JOIN LATERAL (SELECT x.stream_seq, x.idx, x.claim_ref, x.event, x.disposition FROM entries x \
             WHERE x.agent_id = c.agent_id AND x.claim_ref = c.claim_ref AND x.stream_seq <= $4 \
             AND x.event = ANY($5) OFFSET 0) e \
             WHERE c.agent_id = $1 AND c.subject = $2 AND c.predicate = $3 ORDER BY e.stream_seq, e.idx",
            &[&self.agent, &subject, &predicate, &max_seq_param(max_seq), &events],
            codec::mark,
        )
    }

    fn line_assertions(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<Vec<Assertion>> {
        self.rows(
            "SELECT a.stream_seq, a.assertion_ref, a.target, a.kind, a.at FROM claims c \
             CROSS JOIN LATERAL (SELECT x.stream_seq, x.assertion_ref, x.target, x.kind, x.at, x.ord \
             FROM assertions x WHERE x.agent_id = c.agent_id AND x.target = c.claim_ref \
             AND x.stream_seq <= $4 OFFSET 0) a \
             WHERE c.agent_id = $1 AND c.subject = $2 AND c.predicate = $3 \
             ORDER BY a.stream_seq, a.assertion_ref, a.ord",
            &[&self.agent, &subject, &predicate, &max_seq_param(max_seq)],
            codec::assertion,
        )
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
        Ok(units)
    }
}

/// Appends `item` to the unit with `seq` (rows of units outside the page are dropped).
fn place<T>(units: &mut [Append], seq: u64, item: T, list: fn(&mut Append) -> &mut Vec<T>) {
    if let Ok(i) = units.binary_search_by_key(&seq, |u| u.seq) {
        list(&mut units[i]).push(item);
    }
}
