//! [`LedgerRead`] over one PostgreSQL transaction.
//!
//! Reads run inside `REPEATABLE READ READ ONLY` transactions (one snapshot). Inside a write the
//! view shares the write's transaction, which holds the agent's advisory lock, so no other unit
//! of the agent can commit while it runs; there a [`Pipeline`] (see `write::view`) sends the
//! statements the transaction queued before each of the view's own, and reads a line together
//! with them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use credence_core::liveness::{ClaimState, claim_states};
use credence_core::{
    Adjudication, AdjudicationStatus, Append, Assertion, AuditRange, Claim, ClaimRef, Edge, EdgeKind, Event,
    Handle, Head, HistoryCursor, LedgerEntry, LedgerRead, LinePage, LineRows, LineSummary, LiveClaim, Result,
    Span, StateMark, StatusChange, SubjectRange, SubjectSummary, Timestamp, Upto,
};
use postgres::Row;
use postgres::types::ToSql;
use uuid::Uuid;

use crate::codec::{self, max_seq_param};
use crate::error::{PgError, PgResult};
use crate::pool::PgConnection;
use crate::sql;

type Param<'a> = &'a (dyn ToSql + Sync);

/// A read view of one agent inside an open transaction on `conn`.
pub(crate) struct PgView<'c> {
    conn: RefCell<&'c mut PgConnection>,
    agent: &'c str,
    /// Inside a write transaction begun with [`PgConnection::begin_deferred`].
    pipeline: Option<&'c dyn Pipeline>,
    plans: Option<&'c Mutex<Vec<QueryPlan>>>,
    edges: RefCell<EdgeCache>,
    /// The summary of the line a pipelined [`LedgerRead::live_overlapping`] read with it: the
    /// engine asks for it next, and nothing is written in between.
    summary: RefCell<Option<(String, String, LineSummary)>>,
}

/// How a view inside a write transaction talks to the server (implemented by `write::view`).
pub(crate) trait Pipeline {
    /// Runs before each statement of the view: sends what the transaction queued.
    fn before(&self, conn: &mut PgConnection, agent: &str) -> PgResult<()>;
    /// Reads a line with what the transaction queued, in one round trip.
    fn line(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        subject: &str,
        predicate: &str,
        max_seq: u64,
    ) -> PgResult<LineRows>;
    /// Reads a line's live claims with what the transaction queued, in one round trip.
    fn live(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        subject: &str,
        predicate: &str,
    ) -> PgResult<Vec<LiveClaim>>;
    /// Reads the live claims of a line a span reaches, and the line's summary, with what the
    /// transaction queued, in one round trip.
    fn reach(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        line: (&str, &str),
        span: Span,
        threshold: f32,
    ) -> PgResult<(Vec<LiveClaim>, LineSummary)>;
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

impl<'c> PgView<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection, agent: &'c str) -> PgView<'c> {
        PgView {
            conn: RefCell::new(conn),
            agent,
            pipeline: None,
            plans: None,
            edges: RefCell::default(),
            summary: RefCell::default(),
        }
    }

    /// A view inside a write transaction on `conn`, talking through `pipeline`.
    pub(crate) fn in_pipeline(
        conn: &'c mut PgConnection,
        agent: &'c str,
        pipeline: &'c dyn Pipeline,
    ) -> PgView<'c> {
        PgView { pipeline: Some(pipeline), ..PgView::new(conn, agent) }
    }

    /// Also records the plan of every statement into `plans`.
    pub(crate) fn with_plans(mut self, plans: Option<&'c Mutex<Vec<QueryPlan>>>) -> PgView<'c> {
        self.plans = plans;
        self
    }

    fn query(&self, sql: &'static str, params: &[Param<'_>]) -> PgResult<Vec<Row>> {
        let mut conn = self.conn.borrow_mut();
        if let Some(pipeline) = self.pipeline {
            pipeline.before(&mut conn, self.agent)?;
        }
        let result = conn.query_prepared(sql, params);
        if let Err(e) = &result {
            conn.note_failure(e);
        }
        if let (Some(plans), Ok(_)) = (self.plans, &result) {
            let plan = conn.plan_of(sql, params.len())?;
            plans.lock().unwrap_or_else(PoisonError::into_inner).push(QueryPlan { sql, plan });
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
        if let Some(pipeline) = self.pipeline {
            return Ok(pipeline.line(
                &mut self.conn.borrow_mut(),
                self.agent,
                subject,
                predicate,
                max_seq,
            )?);
        }
        let events: Vec<&str> = Event::MARKS.iter().map(|e| e.as_str()).collect();
        let rows = self
            .query(sql::LINE_SQL, &[&self.agent, &subject, &predicate, &max_seq_param(max_seq), &events])?;
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

    /// The agent's newest unit, read.
    fn head_raw(&self) -> PgResult<Option<Head>> {
        let rows = self.query(sql::HEAD, &[&self.agent])?;
        rows.first().map(codec::head).transpose()
    }
}

impl LedgerRead for PgView<'_> {
    fn head(&self) -> Result<Option<Head>> {
        // Inside a write the transaction holding the agent's lock tracks the head exactly (the
        // pipeline reads it with the first round trip); a read knows it from its `BEGIN`.
        {
            let mut conn = self.conn.borrow_mut();
            if let Some(pipeline) = self.pipeline {
                pipeline.before(&mut conn, self.agent)?;
            }
            if let Some(head) = conn.tracked_head(self.agent) {
                return Ok(head);
            }
        }
        Ok(self.head_raw()?)
    }

    fn seq_at(&self, t: Timestamp) -> Result<u64> {
        let head = self.first(sql::SEQ_AT, &[&self.agent, &t.0], codec::head)?;
        Ok(head.map_or(0, |h| h.seq))
    }

    fn tx_time_of(&self, seq: u64) -> Result<Option<Timestamp>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        let head = self.first(sql::UNIT_HEAD, &[&self.agent, &seq], codec::head)?;
        Ok(head.map(|h| h.tx_time))
    }

    fn claim(&self, claim_ref: ClaimRef) -> Result<Option<Claim>> {
        self.first(sql::CLAIM, &[&self.agent, &claim_ref.0], codec::claim)
    }

    fn live(&self, subject: &str, predicate: &str) -> Result<Vec<LiveClaim>> {
        if let Some(pipeline) = self.pipeline {
            return Ok(pipeline.live(&mut self.conn.borrow_mut(), self.agent, subject, predicate)?);
        }
        self.rows(sql::LIVE, &[&self.agent, &subject, &predicate], |row| {
            codec::live_claim_from(&codec::RowReader::new(row, "claims"))
        })
    }

    fn live_overlapping(
        &self,
        subject: &str,
        predicate: &str,
        span: Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        if let Some(pipeline) = self.pipeline {
            let (live, summary) = pipeline.reach(
                &mut self.conn.borrow_mut(),
                self.agent,
                (subject, predicate),
                span,
                threshold,
            )?;
            *self.summary.borrow_mut() = Some((subject.to_owned(), predicate.to_owned(), summary));
            return Ok(live);
        }
        let (start, end) = (span.start.map(|t| t.0), span.end.map(|t| t.0));
        self.rows(sql::LIVE_REACH, &[&self.agent, &subject, &predicate, &threshold, &start, &end], |row| {
            codec::live_claim_from(&codec::RowReader::new(row, "claims"))
        })
    }

    fn live_at(
        &self,
        subject: &str,
        predicate: &str,
        seq: u64,
        span: Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        let (start, end) = (span.start.map(|t| t.0), span.end.map(|t| t.0));
        let seq = max_seq_param(seq);
        self.rows(sql::LIVE_AT, &[&self.agent, &subject, &predicate, &threshold, &start, &end, &seq], |row| {
            codec::live_claim_from(&codec::RowReader::new(row, "claims"))
        })
    }

    fn line_summary(&self, subject: &str, predicate: &str) -> Result<LineSummary> {
        if let Some((s, p, summary)) = self.summary.borrow_mut().take()
            && s == subject
            && p == predicate
        {
            return Ok(summary);
        }
        let summary = self.first(sql::LINE_SUMMARY, &[&self.agent, &subject, &predicate], |row| {
            codec::summary_from(&codec::RowReader::new(row, "live_lines"))
        })?;
        Ok(summary.unwrap_or_default())
    }

    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows> {
        let max_seq = match upto {
            Upto::Head => u64::MAX,
            Upto::Seq(n) => n,
        };
        self.fetch_line(subject, predicate, max_seq)
    }

    // Two ranges merged (see `sql::PAGE_BY_START` and `sql::PAGE_BY_TX`); when the first fills
    // the page, the second stops at the unit current at the page's last key: a claim of a later
    // unit sorts after it.
    fn line_page(&self, subject: &str, predicate: &str, page: &LinePage) -> Result<Vec<Claim>> {
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let (key, tx_time, seq, claim_ref) = page.after.map_or((i64::MIN, i64::MIN, -1, Uuid::nil()), |a| {
            (a.key.micros(), a.tx_time.micros(), max_seq_param(a.seq), a.claim_ref.0)
        });
        let max_seq = max_seq_param(page.seq);
        let by_start: [Param<'_>; 10] = [
            &self.agent,
            &subject,
            &predicate,
            &key,
            &tx_time,
            &seq,
            &claim_ref,
            &page.threshold,
            &max_seq,
            &limit,
        ];
        let mut claims = self.rows(sql::PAGE_BY_START, &by_start, codec::claim)?;
        let upto: Option<i64> = match claims.last() {
            Some(last) if claims.len() == page.limit => {
                Some(HistoryCursor::of(last, page.threshold).key.micros())
            }
            _ => None,
        };
        let mut params: Vec<Param<'_>> = by_start.to_vec();
        params.push(&upto);
        claims.extend(self.rows(sql::PAGE_BY_TX, &params, codec::claim)?);
        Ok(page.select(claims))
    }

    fn claim_states_at(&self, claims: &[ClaimRef], seq: u64) -> Result<HashMap<ClaimRef, ClaimState>> {
        let refs: Vec<Uuid> = claims.iter().map(|c| c.0).collect();
        let events: Vec<&str> = Event::MARKS.iter().map(|e| e.as_str()).collect();
        let seq = max_seq_param(seq);
        let marks = self.rows(sql::STATE_MARKS, &[&self.agent, &refs, &events, &seq], |row| {
            Ok(StateMark::of(&codec::entry(row)?))
        })?;
        let assertions = self.rows(sql::STATE_ASSERTIONS, &[&self.agent, &refs, &seq], codec::assertion)?;
        Ok(claim_states(&marks, &assertions))
    }

    fn subjects(&self, range: &SubjectRange<'_>) -> Result<Vec<SubjectSummary>> {
        let limit = i64::try_from(range.limit).unwrap_or(i64::MAX);
        let after = range.after.unwrap_or("");
        let rows = match range.prefix_end() {
            Some(end) => self.query(sql::SUBJECTS[0], &[&self.agent, &range.prefix, &after, &limit, &end])?,
            None => self.query(sql::SUBJECTS[1], &[&self.agent, &range.prefix, &after, &limit])?,
        };
        let count =
            |n: i64| u64::try_from(n).map_err(|_| PgError::Corrupt(format!("lines: negative count {n}")));
        Ok(rows
            .iter()
            .map(|row| {
                let r = codec::RowReader::new(row, "lines");
                Ok(SubjectSummary {
                    subject: r.get("subject")?,
                    lines: count(r.get("lines")?)?,
                    live: count(r.get("live")?)?,
                })
            })
            .collect::<PgResult<Vec<_>>>()?)
    }

    fn term_lines(&self, term: &str, seq: u64, limit: usize) -> Result<Vec<(String, String)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(sql::TERM_LINES, &[&self.agent, &term, &max_seq_param(seq), &limit], |row| {
            let r = codec::RowReader::new(row, "terms");
            Ok((r.get("subject")?, r.get("predicate")?))
        })
    }

    fn line_latest(&self, subject: &str, predicate: &str, seq: u64) -> Result<Option<u64>> {
        let latest =
            self.first(sql::LINE_LATEST, &[&self.agent, &subject, &predicate, &max_seq_param(seq)], |row| {
                let seq: i64 = codec::RowReader::new(row, "claims").get("stream_seq")?;
                u64::try_from(seq).map_err(|_| PgError::Corrupt(format!("claims row: negative seq {seq}")))
            })?;
        Ok(latest)
    }

    fn claim_entries(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<LedgerEntry>> {
        self.rows(sql::CLAIM_ENTRIES, &[&self.agent, &claim_ref.0, &max_seq_param(max_seq)], codec::entry)
    }

    fn claim_assertions(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<Assertion>> {
        self.rows(
            sql::CLAIM_ASSERTIONS,
            &[&self.agent, &claim_ref.0, &max_seq_param(max_seq)],
            codec::assertion,
        )
    }

    fn count_entries_since(&self, claim_ref: ClaimRef, event: Event, since: Timestamp) -> Result<u64> {
        let rows =
            self.query(sql::COUNT_ENTRIES_SINCE, &[&self.agent, &claim_ref.0, &event.as_str(), &since.0])?;
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
            let edges = self.rows(sql::EDGES_OF_KIND, &[&self.agent, &kind.as_str()], codec::edge)?;
            let mut all: HashMap<uuid::Uuid, Vec<Edge>> = HashMap::new();
            for e in edges {
                all.entry(e.to.0).or_default().push(e);
            }
            let found = all.get(&to.0).cloned().unwrap_or_default();
            self.edges.borrow_mut().loaded.insert(kind, all);
            return Ok(found);
        }
        self.rows(sql::EDGES_TO, &[&self.agent, &to.0, &kind.as_str()], codec::edge)
    }

    fn edges_from(&self, from: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        self.rows(sql::EDGES_FROM, &[&self.agent, &from.0, &kind.as_str()], codec::edge)
    }

    fn predicates(&self, subject: &str, max_seq: u64) -> Result<Vec<String>> {
        let rows = self.query(sql::PREDICATES, &[&self.agent, &subject, &max_seq_param(max_seq)])?;
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
            (None, None) => self.rows(sql::AUDIT[desc], &[agent, &limit], codec::entry),
            (None, Some(_)) => {
                self.rows(sql::AUDIT[2 + desc], &[agent, &limit, &cursor_seq, &cursor_idx], codec::entry)
            }
            (Some(r), None) => self.rows(sql::AUDIT[4 + desc], &[agent, &limit, &r.0], codec::entry),
            (Some(r), Some(_)) => self.rows(
                sql::AUDIT[6 + desc],
                &[agent, &limit, &r.0, &cursor_seq, &cursor_idx],
                codec::entry,
            ),
        }
    }

    fn adjudication(&self, handle: Handle) -> Result<Option<Adjudication>> {
        self.first(sql::ADJUDICATION, &[&self.agent, &handle.0], codec::adjudication)
    }

    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        self.rows(sql::OPEN_ADJUDICATIONS, &[&self.agent], codec::adjudication)
    }

    fn units(&self, after_seq: u64, limit: usize) -> Result<Vec<Append>> {
        let Ok(after) = i64::try_from(after_seq) else { return Ok(Vec::new()) };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let heads = self.rows(sql::UNITS_AFTER, &[&self.agent, &after, &limit], codec::head)?;
        let (Some(first), Some(last)) = (heads.first(), heads.last()) else { return Ok(Vec::new()) };
        let (lo, hi) = (max_seq_param(first.seq), max_seq_param(last.seq));
        let mut units: Vec<Append> = heads.iter().map(|h| Append::new(h.seq, h.tx_time)).collect();
        let range: [Param<'_>; 3] = [&self.agent, &lo, &hi];

        let claims = self.rows(sql::UNITS_CLAIMS, &range, codec::claim)?;
        let assertions = self.rows(sql::UNITS_ASSERTIONS, &range, codec::assertion)?;
        let edges = self.rows(sql::UNITS_EDGES, &range, codec::edge)?;
        let entries = self.rows(sql::UNITS_ENTRIES, &range, codec::entry)?;
        let adjudications = self.query(sql::UNITS_ADJUDICATIONS, &range)?;

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
        let keys = self.rows(sql::UNITS_KEYS, &range, codec::idempotency)?;
        for (seq, record) in keys {
            if let Ok(i) = units.binary_search_by_key(&seq, |u| u.seq) {
                units[i].idempotency = Some(Box::new(record));
            }
        }
        Ok(units)
    }

    fn idempotency(&self, key: &str) -> Result<Option<credence_core::Idempotency>> {
        Ok(self
            .first(sql::IDEMPOTENCY_KEY, &[&self.agent, &key], codec::idempotency)?
            .map(|(_, record)| record))
    }
}

/// Appends `item` to the unit with `seq` (rows of units outside the page are dropped).
fn place<T>(units: &mut [Append], seq: u64, item: T, list: fn(&mut Append) -> &mut Vec<T>) {
    if let Ok(i) = units.binary_search_by_key(&seq, |u| u.seq) {
        list(&mut units[i]).push(item);
    }
}
