//! [`LedgerRead`] over one SQLite connection inside one transaction.

use credence_core::{
    Adjudication, AdjudicationStatus, AgentId, Append, Assertion, AuditRange, Claim, ClaimRef, Edge,
    EdgeKind, Event, Handle, Head, HistoryCursor, Idempotency, LedgerEntry, LedgerRead, LinePage, LineRows,
    LineSummary, LiveClaim, Result, Span, StateMark, StatusChange, SubjectRange, SubjectSummary, Timestamp,
    Upto, ValidTime,
};
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{CachedStatement, Connection, Params, Row, ToSql};

use crate::codec::{
    enum_from_sql, enum_to_sql, f32_from_sql, json_from_sql, seq_bound, seq_from_sql, uuid_from_sql,
};
use crate::error::{SqlResult, SqliteError};

const CLAIM_COLS: &str = "c.claim_ref, c.stream_seq, c.tx_time, c.subject, c.predicate, c.value, c.provenance, \
     c.cardinality, c.confidence, c.criticality, c.has_valid_time, c.vt_start, c.vt_end, c.vt_confidence, \
     c.vt_start_granularity, c.vt_end_granularity, c.derived_from, c.depends_on";
const ENTRY_COLS: &str =
    "e.stream_seq, e.entry_index, e.claim_ref, e.event, e.disposition, e.rationale, e.recorded_at";
const ASSERTION_COLS: &str = "a.assertion_ref, a.target, a.kind, a.at, a.stream_seq";
const EDGE_COLS: &str = "g.from_ref, g.to_ref, g.kind, g.stream_seq";
const ADJ_COLS: &str = "j.handle, j.subject, j.predicate, j.challenger, j.incumbents, j.queued_at, j.expires_at, \
     j.status, j.notified, j.stream_seq";

/// A consistent view of one agent's rows through `conn`; the caller holds the transaction.
pub(crate) struct View<'c> {
    conn: &'c Connection,
    agent: &'c AgentId,
}

impl<'c> View<'c> {
    /// A view of `agent` through `conn` (already inside a transaction).
    pub(crate) fn new(conn: &'c Connection, agent: &'c AgentId) -> View<'c> {
        View { conn, agent }
    }

    /// A cached statement. Parameters compared with indexed columns are written `+?N`: with
    /// STAT4 compiled in (the bundled SQLite), a bare `?N` next to an indexed column in a query
    /// with ORDER BY makes SQLite re-prepare the statement on every new binding, which cost
    /// about a third of a write's CPU time; the unary plus keeps the plan and the cache.
    fn stmt(&self, sql: &str) -> SqlResult<CachedStatement<'c>> {
        self.conn.prepare_cached(sql).map_err(SqliteError::sqlite("preparing a query"))
    }

    /// Live claims from a query selecting `CLAIM_COLS, disposition, flagged, live claim_ref`
    /// over `live_claims l LEFT JOIN claims c`, the index first: a live claim whose claims row
    /// is gone or damaged past recognition (its claim_ref) is reported, not silently left out.
    fn live_rows(
        &self,
        sql: &str,
        params: impl Params,
        (subject, predicate): (&str, &str),
    ) -> SqlResult<Vec<LiveClaim>> {
        let what = "live_claims row";
        self.rows(sql, params, |view, row| {
            if matches!(value_ref(row, 0)?, ValueRef::Null) {
                return Err(SqliteError::Decode(format!(
                    "{what}: live claim {} of line {subject:?}/{predicate:?} has no claims row",
                    blob_uuid(row, 20, what)?
                )));
            }
            Ok(LiveClaim {
                claim: view.claim_from_row(row)?,
                disposition: enum_from_sql(text(row, 18, what)?, what)?,
                flagged: get(row, 19)?,
            })
        })
    }

    fn rows<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl Fn(&View<'c>, &Row<'_>) -> SqlResult<T>,
    ) -> SqlResult<Vec<T>> {
        let mut stmt = self.stmt(sql)?;
        let mut rows = stmt.query(params).map_err(SqliteError::sqlite("running a query"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(SqliteError::sqlite("reading a row"))? {
            out.push(decode(self, row)?);
        }
        Ok(out)
    }

    fn claims(&self, sql: &str, params: impl Params) -> SqlResult<Vec<Claim>> {
        self.rows(sql, params, View::claim_from_row)
    }

    fn claim_from_row(&self, row: &Row<'_>) -> SqlResult<Claim> {
        let what = "claims row";
        let valid_time = if get::<bool>(row, 10)? {
            Some(ValidTime {
                start: get::<Option<i64>>(row, 11)?.map(Timestamp),
                end: get::<Option<i64>>(row, 12)?.map(Timestamp),
                confidence: f32_from_sql(
                    get::<Option<f64>>(row, 13)?.ok_or_else(|| {
                        SqliteError::Decode(format!("{what}: valid time without confidence"))
                    })?,
                    what,
                )?,
                start_granularity: opt_text(row, 14, what)?.map(|s| enum_from_sql(s, what)).transpose()?,
                end_granularity: opt_text(row, 15, what)?.map(|s| enum_from_sql(s, what)).transpose()?,
            })
        } else {
            None
        };
        Ok(Claim {
            claim_ref: ClaimRef(blob_uuid(row, 0, what)?),
            agent_id: self.agent.clone(),
            seq: seq_from_sql(get(row, 1)?, what)?,
            tx_time: Timestamp(get(row, 2)?),
            subject: get(row, 3)?,
            predicate: get(row, 4)?,
            value: json_from_sql(text(row, 5, what)?, what)?,
            provenance: enum_from_sql(text(row, 6, what)?, what)?,
            cardinality: enum_from_sql(text(row, 7, what)?, what)?,
            confidence: f32_from_sql(get(row, 8)?, what)?,
            criticality: enum_from_sql(text(row, 9, what)?, what)?,
            valid_time,
            derived_from: json_from_sql(text(row, 16, what)?, what)?,
            depends_on: json_from_sql(text(row, 17, what)?, what)?,
        })
    }

    fn entries(&self, sql: &str, params: impl Params) -> SqlResult<Vec<LedgerEntry>> {
        self.rows(sql, params, |_, row| {
            let what = "ledger_entries row";
            Ok(LedgerEntry {
                seq: seq_from_sql(get(row, 0)?, what)?,
                index: entry_index(get(row, 1)?)?,
                claim_ref: ClaimRef(blob_uuid(row, 2, what)?),
                event: enum_from_sql(text(row, 3, what)?, what)?,
                disposition: enum_from_sql(text(row, 4, what)?, what)?,
                rationale: json_from_sql(text(row, 5, what)?, what)?,
                recorded_at: Timestamp(get(row, 6)?),
            })
        })
    }

    fn assertions(&self, sql: &str, params: impl Params) -> SqlResult<Vec<Assertion>> {
        self.rows(sql, params, |_, row| {
            let what = "assertions row";
            Ok(Assertion {
                assertion_ref: credence_core::AssertionRef(blob_uuid(row, 0, what)?),
                target: ClaimRef(blob_uuid(row, 1, what)?),
                kind: enum_from_sql(text(row, 2, what)?, what)?,
                at: Timestamp(get(row, 3)?),
                seq: seq_from_sql(get(row, 4)?, what)?,
            })
        })
    }

    fn edges(&self, sql: &str, params: impl Params) -> SqlResult<Vec<Edge>> {
        self.rows(sql, params, |_, row| {
            let what = "edges row";
            Ok(Edge {
                from: ClaimRef(blob_uuid(row, 0, what)?),
                to: ClaimRef(blob_uuid(row, 1, what)?),
                kind: enum_from_sql(text(row, 2, what)?, what)?,
                seq: seq_from_sql(get(row, 3)?, what)?,
            })
        })
    }

    fn adjudications(&self, sql: &str, params: impl Params) -> SqlResult<Vec<Adjudication>> {
        self.rows(sql, params, |view, row| {
            let what = "adjudications row";
            Ok(Adjudication {
                handle: Handle(blob_uuid(row, 0, what)?),
                agent_id: view.agent.clone(),
                subject: get(row, 1)?,
                predicate: get(row, 2)?,
                challenger: ClaimRef(blob_uuid(row, 3, what)?),
                incumbents: json_from_sql(text(row, 4, what)?, what)?,
                queued_at: Timestamp(get(row, 5)?),
                expires_at: get::<Option<i64>>(row, 6)?.map(Timestamp),
                status: enum_from_sql(text(row, 7, what)?, what)?,
                notified: get(row, 8)?,
                seq: seq_from_sql(get(row, 9)?, what)?,
            })
        })
    }

    fn scalar<T: FromSql>(&self, sql: &str, params: impl Params) -> SqlResult<Option<T>> {
        let mut stmt = self.stmt(sql)?;
        let mut rows = stmt.query(params).map_err(SqliteError::sqlite("running a query"))?;
        match rows.next().map_err(SqliteError::sqlite("reading a row"))? {
            Some(row) => Ok(Some(get(row, 0)?)),
            None => Ok(None),
        }
    }

    /// The newest commit unit.
    pub(crate) fn head_for_write(&self) -> SqlResult<Option<Head>> {
        let mut stmt = self.stmt(
            "SELECT stream_seq, tx_time FROM commits WHERE agent_id = +?1 ORDER BY stream_seq DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([self.agent.as_str()]).map_err(SqliteError::sqlite("reading the head"))?;
        match rows.next().map_err(SqliteError::sqlite("reading the head"))? {
            Some(row) => Ok(Some(Head {
                seq: seq_from_sql(get(row, 0)?, "commits row")?,
                tx_time: Timestamp(get(row, 1)?),
            })),
            None => Ok(None),
        }
    }

    fn audit_sql(&self, range: &AuditRange) -> SqlResult<Vec<LedgerEntry>> {
        let dir = if range.newest_first { "DESC" } else { "ASC" };
        let cmp = if range.newest_first { "<" } else { ">" };
        let agent = self.agent.as_str();
        let claim = range.claim_ref.map(|r| r.0.as_bytes().to_vec());
        let (cseq, cidx) = range.after.map_or((0, 0), |c| (seq_bound(c.seq), i64::from(c.index)));
        let limit = i64::try_from(range.limit).unwrap_or(i64::MAX);
        let mut sql = format!("SELECT {ENTRY_COLS} FROM ledger_entries e WHERE e.agent_id = +:agent");
        let mut params: Vec<(&str, &dyn ToSql)> = vec![(":agent", &agent), (":limit", &limit)];
        if let Some(claim) = &claim {
            sql.push_str(" AND e.claim_ref = +:claim");
            params.push((":claim", claim));
        }
        if range.after.is_some() {
            sql.push_str(&format!(" AND (e.stream_seq, e.entry_index) {cmp} (+:cseq, +:cidx)"));
            params.push((":cseq", &cseq));
            params.push((":cidx", &cidx));
        }
        sql.push_str(&format!(" ORDER BY e.stream_seq {dir}, e.idx {dir} LIMIT :limit"));
        self.entries(&sql, params.as_slice())
    }

    fn units_sql(&self, after_seq: u64, limit: usize) -> SqlResult<Vec<Append>> {
        let agent = self.agent.as_str();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let heads = self.rows(
            "SELECT stream_seq, tx_time, first_claim, n_claims FROM commits WHERE agent_id = +?1 \
             AND stream_seq > +?2 ORDER BY stream_seq LIMIT ?3",
            rusqlite::params![agent, seq_bound(after_seq), limit],
            |_, row| {
                Ok((
                    get::<i64>(row, 0)?,
                    Timestamp(get(row, 1)?),
                    get::<Option<i64>>(row, 2)?,
                    get::<i64>(row, 3)?,
                ))
            },
        )?;
        let mut out = Vec::with_capacity(heads.len());
        for (seq, tx_time, first_claim, n_claims) in heads {
            let mut unit = Append::new(seq_from_sql(seq, "commits row")?, tx_time);
            let p = rusqlite::params![agent, seq];
            // The unit's claims are the rowids first_claim .. first_claim + n_claims (`+c.agent_id`:
            // the rowid range, never claims_by_line, narrows the search).
            if let Some(first) = first_claim {
                let last = n_claims.checked_sub(1).and_then(|k| first.checked_add(k)).ok_or_else(|| {
                    SqliteError::Decode(format!("commits row {seq}: claim range out of bounds"))
                })?;
                unit.claims = self.claims(
                    &format!(
                        "SELECT {CLAIM_COLS} FROM claims c WHERE c.id BETWEEN ?2 AND ?3 AND +c.agent_id = +?1 \
                         ORDER BY c.id"
                    ),
                    rusqlite::params![agent, first, last],
                )?;
            }
            if i64::try_from(unit.claims.len()).ok() != Some(n_claims) {
                return Err(SqliteError::Decode(format!(
                    "commits row {seq} names {n_claims} claims; {} are stored",
                    unit.claims.len()
                )));
            }
            unit.assertions = self.assertions(
                &format!("SELECT {ASSERTION_COLS} FROM assertions a WHERE a.agent_id = +?1 AND a.stream_seq = +?2 ORDER BY a.id"),
                p,
            )?;
            unit.edges = self.edges(
                &format!("SELECT {EDGE_COLS} FROM edges g WHERE g.agent_id = +?1 AND g.stream_seq = +?2 ORDER BY g.id"),
                p,
            )?;
            unit.entries = self.entries(
                &format!("SELECT {ENTRY_COLS} FROM ledger_entries e WHERE e.agent_id = +?1 AND e.stream_seq = +?2 ORDER BY e.idx"),
                p,
            )?;
            unit.adjudications = self
                .adjudications(
                    &format!("SELECT {ADJ_COLS} FROM adjudications j WHERE j.agent_id = +?1 AND j.stream_seq = +?2 ORDER BY j.id"),
                    p,
                )?
                .into_iter()
                .map(|a| Adjudication { status: AdjudicationStatus::Pending, ..a })
                .collect();
            unit.status_changes = self
                .adjudications(
                    &format!("SELECT {ADJ_COLS} FROM adjudications j WHERE j.agent_id = +?1 AND j.closed_seq = +?2 ORDER BY j.id"),
                    p,
                )?
                .into_iter()
                .map(|a| StatusChange { handle: a.handle, status: a.status })
                .collect();
            unit.idempotency = self
                .idempotency_rows(
                    "SELECT key, request, answer FROM idempotency_keys WHERE agent_id = +?1 AND stream_seq = +?2",
                    p,
                )?
                .pop()
                .map(Box::new);
            out.push(unit);
        }
        Ok(out)
    }
}

impl View<'_> {
    /// Idempotency records (`key, request, answer` columns).
    fn idempotency_rows(&self, sql: &str, params: impl Params) -> SqlResult<Vec<Idempotency>> {
        self.rows(sql, params, |_, row| {
            let what = "idempotency_keys row";
            Ok(Idempotency {
                key: text(row, 0, what)?.to_owned(),
                request: text(row, 1, what)?.to_owned(),
                answer: json_from_sql(text(row, 2, what)?, what)?,
            })
        })
    }
}

pub(crate) fn get<T: FromSql>(row: &Row<'_>, idx: usize) -> SqlResult<T> {
    row.get(idx).map_err(|e| SqliteError::sqlite(format!("decoding column {idx}"))(e))
}

fn value_ref<'r>(row: &'r Row<'_>, idx: usize) -> SqlResult<ValueRef<'r>> {
    row.get_ref(idx).map_err(|e| SqliteError::sqlite(format!("decoding column {idx}"))(e))
}

/// A TEXT column, borrowed from the row (no copy).
pub(crate) fn text<'r>(row: &'r Row<'_>, idx: usize, what: &str) -> SqlResult<&'r str> {
    value_ref(row, idx)?.as_str().map_err(|e| SqliteError::Decode(format!("{what}: column {idx}: {e}")))
}

/// A nullable TEXT column, borrowed from the row.
fn opt_text<'r>(row: &'r Row<'_>, idx: usize, what: &str) -> SqlResult<Option<&'r str>> {
    value_ref(row, idx)?
        .as_str_or_null()
        .map_err(|e| SqliteError::Decode(format!("{what}: column {idx}: {e}")))
}

/// A UUID stored as a 16-byte BLOB, read without copying the blob first.
pub(crate) fn blob_uuid(row: &Row<'_>, idx: usize, what: &str) -> SqlResult<uuid::Uuid> {
    let bytes = value_ref(row, idx)?
        .as_blob()
        .map_err(|e| SqliteError::Decode(format!("{what}: column {idx}: {e}")))?;
    uuid_from_sql(bytes, what)
}

pub(crate) fn entry_index(v: i64) -> SqlResult<u32> {
    u32::try_from(v)
        .map_err(|_| SqliteError::Decode(format!("ledger_entries row: entry index {v} out of range")))
}

/// `'ClaimCommitted', 'ValidityAsserted', …`: the events of [`Event::MARKS`] as an SQL list.
fn marks_in_list() -> String {
    Event::MARKS.iter().map(|e| format!("'{}'", e.as_str())).collect::<Vec<_>>().join(", ")
}

fn blob(r: ClaimRef) -> [u8; 16] {
    *r.0.as_bytes()
}

impl View<'_> {
    /// The line's claims with `seq ≤ max_seq`, ordered by `(seq, claim_ref)`.
    pub(crate) fn line_claims(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<Vec<Claim>> {
        let sql = format!(
            "SELECT {CLAIM_COLS} FROM claims c WHERE c.agent_id = +?1 AND c.subject = +?2 AND c.predicate = +?3 \
             AND c.stream_seq <= +?4 ORDER BY c.stream_seq, c.claim_ref"
        );
        Ok(self
            .claims(&sql, rusqlite::params![self.agent.as_str(), subject, predicate, seq_bound(max_seq)])?)
    }

    // `CROSS JOIN` fixes the join order: the line's few claims first, then their rows by
    // claim (SQLite never reorders a CROSS JOIN). `INDEXED BY`: without statistics SQLite
    // may pick a range of ledger_entries' primary key (agent_id, stream_seq, …) over the
    // by-claim index, and that range is the agent's whole ledger up to `max_seq`.
    pub(crate) fn line_marks(&self, subject: &str, predicate: &str, max_seq: u64) -> Result<Vec<StateMark>> {
        let sql = format!(
            "SELECT e.claim_ref, e.stream_seq, e.entry_index, e.event, e.disposition \
             FROM claims c CROSS JOIN ledger_entries e INDEXED BY ledger_entries_by_claim \
             ON e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref \
             WHERE c.agent_id = +?1 AND c.subject = +?2 AND c.predicate = +?3 AND e.stream_seq <= +?4 \
             AND e.event IN ({}) ORDER BY e.stream_seq, e.entry_index, e.idx",
            marks_in_list()
        );
        Ok(self.rows(
            &sql,
            rusqlite::params![self.agent.as_str(), subject, predicate, seq_bound(max_seq)],
            |_, row| {
                let what = "ledger_entries row";
                Ok(StateMark {
                    claim_ref: ClaimRef(blob_uuid(row, 0, what)?),
                    seq: seq_from_sql(get(row, 1)?, what)?,
                    index: entry_index(get(row, 2)?)?,
                    event: enum_from_sql(text(row, 3, what)?, what)?,
                    disposition: enum_from_sql(text(row, 4, what)?, what)?,
                })
            },
        )?)
    }

    /// The assertions about the line's claims with `seq ≤ max_seq`.
    pub(crate) fn line_assertions(
        &self,
        subject: &str,
        predicate: &str,
        max_seq: u64,
    ) -> Result<Vec<Assertion>> {
        let sql = format!(
            "SELECT {ASSERTION_COLS} FROM claims c CROSS JOIN assertions a \
             ON a.agent_id = c.agent_id AND a.target = c.claim_ref \
             WHERE c.agent_id = +?1 AND c.subject = +?2 AND c.predicate = +?3 AND a.stream_seq <= +?4 \
             ORDER BY a.stream_seq, a.assertion_ref, a.id"
        );
        Ok(self.assertions(
            &sql,
            rusqlite::params![self.agent.as_str(), subject, predicate, seq_bound(max_seq)],
        )?)
    }
}

/// One line of the view's agent: `?1` the agent, `?2` the subject, `?3` the predicate.
const LINE: &str = "agent_id = +?1 AND subject = +?2 AND predicate = +?3";

/// The live claims of a line a span reaches at a threshold (`?4` the threshold, `?5`/`?6` the
/// span's start and end, NULL unbounded), as `WITH reach(claim_ref)`: three index scans — the
/// short windows a threshold may find untrusted; the short windows starting no earlier than
/// the line's longest one before the span and before its end; the other windows, all (kept
/// when untrusted or overlapping).
const REACH: &str = "WITH reach(claim_ref) AS ( \
     SELECT claim_ref FROM live_claims INDEXED BY live_claims_doubt \
       WHERE agent_id = +?1 AND subject = +?2 AND predicate = +?3 AND short AND trust < 1 AND trust < ?4 \
     UNION SELECT claim_ref FROM live_claims INDEXED BY live_claims_short \
       WHERE agent_id = +?1 AND subject = +?2 AND predicate = +?3 AND short \
       AND lo >= coalesce(?5 - (SELECT span FROM live_lines WHERE agent_id = +?1 AND subject = +?2 \
         AND predicate = +?3), -9223372036854775807 - 1) \
       AND lo < coalesce(?6, 9223372036854775807) AND hi > coalesce(?5, -9223372036854775807 - 1) \
     UNION SELECT claim_ref FROM live_claims INDEXED BY live_claims_long \
       WHERE agent_id = +?1 AND subject = +?2 AND predicate = +?3 AND NOT short \
       AND (trust < ?4 OR NOT ((hi IS NOT NULL AND ?5 IS NOT NULL AND hi <= ?5) \
         OR (?6 IS NOT NULL AND lo IS NOT NULL AND ?6 <= lo))))";

impl LedgerRead for View<'_> {
    fn head(&self) -> Result<Option<Head>> {
        Ok(self.head_for_write()?)
    }

    // A unit's tx_time is later than its predecessor's (`write::apply` refuses anything else)
    // and seqs have no gaps, so the newest unit at or before `t` is found by bisecting 1..=head
    // on the primary key: about log2(head) lookups, and no tx_time index to write per ingest.
    fn seq_at(&self, t: Timestamp) -> Result<u64> {
        let Some(head) = self.head_for_write()? else { return Ok(0) };
        if head.tx_time <= t {
            return Ok(head.seq);
        }
        // tx_time(at_or_before) <= t (0: before the first unit) and tx_time(after) > t.
        let (mut at_or_before, mut after) = (0, head.seq);
        while after - at_or_before > 1 {
            let mid = at_or_before + (after - at_or_before) / 2;
            match self.tx_time_of(mid)? {
                Some(tx) if tx <= t => at_or_before = mid,
                Some(_) => after = mid,
                None => {
                    return Err(SqliteError::Decode(format!(
                        "unit {mid} is missing below the head {}",
                        head.seq
                    ))
                    .into());
                }
            }
        }
        Ok(at_or_before)
    }

    fn tx_time_of(&self, seq: u64) -> Result<Option<Timestamp>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        let t: Option<i64> = self.scalar(
            "SELECT tx_time FROM commits WHERE agent_id = +?1 AND stream_seq = +?2",
            rusqlite::params![self.agent.as_str(), seq],
        )?;
        Ok(t.map(Timestamp))
    }

    fn claim(&self, claim_ref: ClaimRef) -> Result<Option<Claim>> {
        let sql = format!("SELECT {CLAIM_COLS} FROM claims c WHERE c.agent_id = +?1 AND c.claim_ref = +?2");
        Ok(self.claims(&sql, rusqlite::params![self.agent.as_str(), blob(claim_ref)])?.into_iter().next())
    }

    fn live(&self, subject: &str, predicate: &str) -> Result<Vec<LiveClaim>> {
        let sql = format!(
            "SELECT {CLAIM_COLS}, l.disposition, l.flagged, l.claim_ref FROM live_claims l LEFT JOIN claims c \
             ON c.claim_ref = l.claim_ref WHERE l.agent_id = +?1 AND l.subject = +?2 AND l.predicate = +?3 \
             ORDER BY c.stream_seq, c.claim_ref"
        );
        Ok(self.live_rows(
            &sql,
            rusqlite::params![self.agent.as_str(), subject, predicate],
            (subject, predicate),
        )?)
    }

    fn live_overlapping(
        &self,
        subject: &str,
        predicate: &str,
        span: Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        let sql = format!(
            "{REACH} SELECT {CLAIM_COLS}, l.disposition, l.flagged, l.claim_ref FROM reach \
             CROSS JOIN live_claims l ON l.agent_id = +?1 AND l.subject = +?2 AND l.predicate = +?3 AND l.claim_ref = reach.claim_ref \
             LEFT JOIN claims c ON c.claim_ref = l.claim_ref ORDER BY c.stream_seq, c.claim_ref"
        );
        let (start, end) = (span.start.map(Timestamp::micros), span.end.map(Timestamp::micros));
        let params =
            rusqlite::params![self.agent.as_str(), subject, predicate, f64::from(threshold), start, end];
        Ok(self.live_rows(&sql, params, (subject, predicate))?)
    }

    fn live_at(
        &self,
        subject: &str,
        predicate: &str,
        seq: u64,
        span: Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        // What is live now and was since `seq` or before, found as at the head; and what was live
        // then and is not now: the stretches ending after `seq`, within the line's longest one.
        // (`CROSS JOIN` keeps the reach first: the planner would scan the line to filter `since`.)
        let flagged = |t: &str| format!("{t}.flagged_from IS NOT NULL AND {t}.flagged_from <= ?7");
        let sql = format!(
            "{REACH} SELECT {CLAIM_COLS}, l.disposition, {}, l.claim_ref FROM reach \
             CROSS JOIN live_claims l ON l.agent_id = +?1 AND l.subject = +?2 AND l.predicate = +?3 AND l.claim_ref = reach.claim_ref \
             LEFT JOIN claims c ON c.claim_ref = l.claim_ref WHERE l.since <= ?7 \
             UNION ALL SELECT {CLAIM_COLS}, p.disposition, {}, p.claim_ref FROM live_periods p \
             LEFT JOIN claims c ON c.claim_ref = p.claim_ref \
             WHERE p.agent_id = +?1 AND p.subject = +?2 AND p.predicate = +?3 AND p.to_seq > ?7 \
             AND p.to_seq <= ?7 + (SELECT period FROM live_lines WHERE {LINE}) AND p.from_seq <= ?7 \
             ORDER BY 2, 1",
            flagged("l"),
            flagged("p")
        );
        let (start, end) = (span.start.map(Timestamp::micros), span.end.map(Timestamp::micros));
        let params = rusqlite::params![
            self.agent.as_str(),
            subject,
            predicate,
            f64::from(threshold),
            start,
            end,
            seq_bound(seq)
        ];
        Ok(self.live_rows(&sql, params, (subject, predicate))?)
    }

    fn line_summary(&self, subject: &str, predicate: &str) -> Result<LineSummary> {
        let what = "live_lines row";
        let counts = self.rows(
            "SELECT live, functional, clashes FROM live_lines WHERE agent_id = +?1 AND subject = +?2 AND predicate = +?3",
            rusqlite::params![self.agent.as_str(), subject, predicate],
            |_, row| Ok((get::<i64>(row, 0)?, get::<i64>(row, 1)?, get::<i64>(row, 2)?)),
        )?;
        let Some(&(live, functional, clashes)) = counts.first() else { return Ok(LineSummary::default()) };
        let count = |n: i64| {
            u64::try_from(n).map_err(|_| {
                SqliteError::Decode(format!("{what} of {subject:?}/{predicate:?}: negative count {n}"))
            })
        };
        Ok(LineSummary {
            live: count(live)?,
            functional: count(functional)?,
            clash_free: count(clashes)? == 0,
        })
    }

    // Two ranges merged: the claims a trusted window start orders, from the cursor's key on
    // (`claims_by_start`), and the claims their transaction time orders, from the unit current at
    // the cursor's key (`claims_by_line`: tx_time grows with seq). When the first range fills
    // the page, the second stops at the unit current at the page's last key: a claim of a later
    // unit sorts after it.
    fn line_page(&self, subject: &str, predicate: &str, page: &LinePage) -> Result<Vec<Claim>> {
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let threshold = f64::from(page.threshold);
        let after = page.after.map_or((i64::MIN, i64::MIN, -1, [0u8; 16]), |a| {
            (a.key.micros(), a.tx_time.micros(), seq_bound(a.seq), blob(a.claim_ref))
        });
        let by_start = format!(
            "SELECT {CLAIM_COLS} FROM claims c INDEXED BY claims_by_start \
             WHERE c.agent_id = +?1 AND c.subject = +?2 AND c.predicate = +?3 AND c.vt_start IS NOT NULL \
             AND c.vt_start >= +?4 AND c.vt_confidence >= +?8 AND c.stream_seq <= +?9 \
             AND (c.vt_start, c.tx_time, c.stream_seq, c.claim_ref) > (+?4, +?5, +?6, +?7) \
             ORDER BY c.vt_start, c.stream_seq, c.claim_ref LIMIT ?10"
        );
        let params = rusqlite::params![
            self.agent.as_str(),
            subject,
            predicate,
            after.0,
            after.1,
            after.2,
            after.3,
            threshold,
            seq_bound(page.seq),
            limit
        ];
        let mut claims = self.claims(&by_start, params)?;
        let mut upto = page.seq;
        if claims.len() == page.limit
            && let Some(last) = claims.last()
        {
            upto = upto.min(self.seq_at(HistoryCursor::of(last, page.threshold).key)?);
        }
        let from = match page.after {
            Some(a) => self.seq_at(a.key)?,
            None => 0,
        };
        let by_tx = format!(
            "SELECT {CLAIM_COLS} FROM claims c INDEXED BY claims_by_line \
             WHERE c.agent_id = +?1 AND c.subject = +?2 AND c.predicate = +?3 \
             AND c.stream_seq >= +?4 AND c.stream_seq <= +?5 \
             AND NOT (c.vt_start IS NOT NULL AND c.vt_confidence >= +?10) \
             AND (c.tx_time, c.tx_time, c.stream_seq, c.claim_ref) > (+?6, +?7, +?8, +?9) \
             ORDER BY c.stream_seq, c.claim_ref LIMIT ?11"
        );
        let params = rusqlite::params![
            self.agent.as_str(),
            subject,
            predicate,
            seq_bound(from),
            seq_bound(upto),
            after.0,
            after.1,
            after.2,
            after.3,
            threshold,
            limit
        ];
        claims.extend(self.claims(&by_tx, params)?);
        Ok(page.select(claims))
    }

    // `live_lines` has a row per line with a claim (schema 7); a range of it, grouped by
    // subject in key order, stops after `limit` subjects.
    fn subjects(&self, range: &SubjectRange<'_>) -> Result<Vec<SubjectSummary>> {
        let end = range.prefix_end();
        let mut sql = String::from(
            "SELECT subject, count(*), sum(live) FROM live_lines WHERE agent_id = +?1 AND subject >= +?2",
        );
        if end.is_some() {
            sql.push_str(" AND subject < +?3");
        }
        if range.after.is_some() {
            sql.push_str(" AND subject > +?4");
        }
        sql.push_str(" GROUP BY subject ORDER BY subject LIMIT ?5");
        let limit = i64::try_from(range.limit).unwrap_or(i64::MAX);
        let what = "live_lines row";
        let count =
            |n: i64| u64::try_from(n).map_err(|_| SqliteError::Decode(format!("{what}: negative count {n}")));
        Ok(self.rows(
            &sql,
            rusqlite::params![self.agent.as_str(), range.prefix, end, range.after, limit],
            |_, row| {
                Ok(SubjectSummary {
                    subject: get(row, 0)?,
                    lines: count(get(row, 1)?)?,
                    live: count(get(row, 2)?)?,
                })
            },
        )?)
    }

    fn term_lines(&self, term: &str, seq: u64, limit: usize) -> Result<Vec<(String, String)>> {
        Ok(self.rows(
            "SELECT subject, predicate FROM terms WHERE agent_id = +?1 AND term = +?2 AND first_seq <= +?3 \
             ORDER BY subject, predicate LIMIT ?4",
            rusqlite::params![
                self.agent.as_str(),
                term,
                seq_bound(seq),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |_, row| Ok((get(row, 0)?, get(row, 1)?)),
        )?)
    }

    fn line_latest(&self, subject: &str, predicate: &str, seq: u64) -> Result<Option<u64>> {
        let latest: Option<i64> = self.scalar(
            "SELECT stream_seq FROM claims INDEXED BY claims_by_line WHERE agent_id = +?1 AND subject = +?2 \
             AND predicate = +?3 AND stream_seq <= +?4 ORDER BY stream_seq DESC LIMIT 1",
            rusqlite::params![self.agent.as_str(), subject, predicate, seq_bound(seq)],
        )?;
        Ok(latest.map(|s| seq_from_sql(s, "claims row")).transpose()?)
    }

    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows> {
        let max_seq = match upto {
            Upto::Head => u64::MAX,
            Upto::Seq(n) => n,
        };
        let claims = self.line_claims(subject, predicate, max_seq)?;
        if claims.is_empty() {
            return Ok(LineRows::default());
        }
        Ok(LineRows {
            claims,
            marks: self.line_marks(subject, predicate, max_seq)?,
            assertions: self.line_assertions(subject, predicate, max_seq)?,
        })
    }

    // `INDEXED BY`: as in `line_marks`.
    fn claim_entries(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM ledger_entries e INDEXED BY ledger_entries_by_claim \
             WHERE e.agent_id = +?1 AND e.claim_ref = +?2 \
             AND e.stream_seq <= +?3 ORDER BY e.stream_seq, e.idx"
        );
        Ok(self.entries(&sql, rusqlite::params![self.agent.as_str(), blob(claim_ref), seq_bound(max_seq)])?)
    }

    fn claim_assertions(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<Assertion>> {
        let sql = format!(
            "SELECT {ASSERTION_COLS} FROM assertions a WHERE a.agent_id = +?1 AND a.target = +?2 \
             AND a.stream_seq <= +?3 ORDER BY a.stream_seq, a.assertion_ref, a.id"
        );
        Ok(self
            .assertions(&sql, rusqlite::params![self.agent.as_str(), blob(claim_ref), seq_bound(max_seq)])?)
    }

    // `INDEXED BY`: as in `line_marks`.
    fn count_entries_since(&self, claim_ref: ClaimRef, event: Event, since: Timestamp) -> Result<u64> {
        let n: Option<i64> = self.scalar(
            "SELECT count(*) FROM ledger_entries INDEXED BY ledger_entries_by_claim \
             WHERE agent_id = +?1 AND claim_ref = +?2 AND event = +?3 \
             AND recorded_at >= +?4",
            rusqlite::params![self.agent.as_str(), blob(claim_ref), event.as_str(), since.0],
        )?;
        Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
    }

    fn edges_to(&self, to: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        let sql = format!(
            "SELECT {EDGE_COLS} FROM edges g WHERE g.agent_id = +?1 AND g.to_ref = +?2 AND g.kind = +?3 \
             ORDER BY g.stream_seq, g.from_ref, g.id"
        );
        Ok(self.edges(&sql, rusqlite::params![self.agent.as_str(), blob(to), kind.as_str()])?)
    }

    fn edges_from(&self, from: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        let sql = format!(
            "SELECT {EDGE_COLS} FROM edges g WHERE g.agent_id = +?1 AND g.from_ref = +?2 AND g.kind = +?3 ORDER BY g.id"
        );
        Ok(self.edges(&sql, rusqlite::params![self.agent.as_str(), blob(from), kind.as_str()])?)
    }

    // The subject's lines from `live_lines` (a row per line, schema 7), each kept when it had a
    // claim by `max_seq`: O(lines × log n), not a scan of the subject's claims.
    fn predicates(&self, subject: &str, max_seq: u64) -> Result<Vec<String>> {
        Ok(self.rows(
            "SELECT l.predicate FROM live_lines l WHERE l.agent_id = +?1 AND l.subject = +?2 AND EXISTS ( \
             SELECT 1 FROM claims c INDEXED BY claims_by_line WHERE c.agent_id = l.agent_id \
             AND c.subject = l.subject AND c.predicate = l.predicate AND c.stream_seq <= +?3) ORDER BY l.predicate",
            rusqlite::params![self.agent.as_str(), subject, seq_bound(max_seq)],
            |_, row| get(row, 0),
        )?)
    }

    fn audit(&self, range: &AuditRange) -> Result<Vec<LedgerEntry>> {
        Ok(self.audit_sql(range)?)
    }

    fn adjudication(&self, handle: Handle) -> Result<Option<Adjudication>> {
        let sql = format!("SELECT {ADJ_COLS} FROM adjudications j WHERE j.agent_id = +?1 AND j.handle = +?2");
        Ok(self
            .adjudications(&sql, rusqlite::params![self.agent.as_str(), handle.0.as_bytes()])?
            .into_iter()
            .next())
    }

    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        let pending = enum_to_sql(&AdjudicationStatus::Pending)?;
        let sql = format!(
            "SELECT {ADJ_COLS} FROM adjudications j WHERE j.agent_id = +?1 AND j.status = +?2 \
             ORDER BY j.queued_at, j.handle, j.id"
        );
        Ok(self.adjudications(&sql, rusqlite::params![self.agent.as_str(), pending])?)
    }

    fn units(&self, after_seq: u64, limit: usize) -> Result<Vec<Append>> {
        Ok(self.units_sql(after_seq, limit)?)
    }

    fn idempotency(&self, key: &str) -> Result<Option<Idempotency>> {
        Ok(self
            .idempotency_rows(
                "SELECT key, request, answer FROM idempotency_keys WHERE agent_id = +?1 AND key = +?2",
                rusqlite::params![self.agent.as_str(), key],
            )?
            .pop())
    }
}

/// The view of an agent that has no database (yet): every list is empty.
pub(crate) struct EmptyView;

impl LedgerRead for EmptyView {
    fn head(&self) -> Result<Option<Head>> {
        Ok(None)
    }
    fn seq_at(&self, _t: Timestamp) -> Result<u64> {
        Ok(0)
    }
    fn tx_time_of(&self, _seq: u64) -> Result<Option<Timestamp>> {
        Ok(None)
    }
    fn claim(&self, _claim_ref: ClaimRef) -> Result<Option<Claim>> {
        Ok(None)
    }
    fn line(&self, _s: &str, _p: &str, _upto: Upto) -> Result<LineRows> {
        Ok(LineRows::default())
    }
    fn claim_entries(&self, _c: ClaimRef, _max_seq: u64) -> Result<Vec<LedgerEntry>> {
        Ok(Vec::new())
    }
    fn claim_assertions(&self, _c: ClaimRef, _max_seq: u64) -> Result<Vec<Assertion>> {
        Ok(Vec::new())
    }
    fn count_entries_since(&self, _c: ClaimRef, _e: Event, _since: Timestamp) -> Result<u64> {
        Ok(0)
    }
    fn edges_to(&self, _to: ClaimRef, _kind: EdgeKind) -> Result<Vec<Edge>> {
        Ok(Vec::new())
    }
    fn edges_from(&self, _from: ClaimRef, _kind: EdgeKind) -> Result<Vec<Edge>> {
        Ok(Vec::new())
    }
    fn predicates(&self, _subject: &str, _max_seq: u64) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn audit(&self, _range: &AuditRange) -> Result<Vec<LedgerEntry>> {
        Ok(Vec::new())
    }
    fn adjudication(&self, _handle: Handle) -> Result<Option<Adjudication>> {
        Ok(None)
    }
    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        Ok(Vec::new())
    }
    fn units(&self, _after_seq: u64, _limit: usize) -> Result<Vec<Append>> {
        Ok(Vec::new())
    }
    fn idempotency(&self, _key: &str) -> Result<Option<Idempotency>> {
        Ok(None)
    }
}
