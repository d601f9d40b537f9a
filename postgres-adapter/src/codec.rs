//! Rows ↔ domain types. Every decode failure is a `Corrupt` error naming the row, never a panic.

use credence_core::{
    Adjudication, AdjudicationStatus, AgentId, Assertion, AssertionKind, AssertionRef, Cardinality, Claim,
    ClaimRef, Criticality, Disposition, Edge, EdgeKind, Event, Granularity, Handle, LedgerEntry, Provenance,
    StateMark, Timestamp, ValidTime,
};
use postgres::types::FromSql;
use postgres::{Row, SimpleQueryRow};
use uuid::Uuid;

use crate::error::{PgError, PgResult};

pub(crate) fn cardinality_str(c: Cardinality) -> &'static str {
    match c {
        Cardinality::Functional => "Functional",
        Cardinality::SetValued => "SetValued",
    }
}

fn parse_cardinality(s: &str) -> Option<Cardinality> {
    [Cardinality::Functional, Cardinality::SetValued].into_iter().find(|c| cardinality_str(*c) == s)
}

pub(crate) fn criticality_str(c: Criticality) -> &'static str {
    match c {
        Criticality::Low => "Low",
        Criticality::Medium => "Medium",
        Criticality::High => "High",
        Criticality::Critical => "Critical",
    }
}

fn parse_criticality(s: &str) -> Option<Criticality> {
    [Criticality::Low, Criticality::Medium, Criticality::High, Criticality::Critical]
        .into_iter()
        .find(|c| criticality_str(*c) == s)
}

pub(crate) fn granularity_str(g: Granularity) -> &'static str {
    match g {
        Granularity::Year => "Year",
        Granularity::Month => "Month",
        Granularity::Day => "Day",
        Granularity::Instant => "Instant",
    }
}

fn parse_granularity(s: &str) -> Option<Granularity> {
    [Granularity::Year, Granularity::Month, Granularity::Day, Granularity::Instant]
        .into_iter()
        .find(|g| granularity_str(*g) == s)
}

pub(crate) fn assertion_kind_str(k: AssertionKind) -> &'static str {
    match k {
        AssertionKind::Bound => "Bound",
        AssertionKind::Reopen => "Reopen",
    }
}

fn parse_assertion_kind(s: &str) -> Option<AssertionKind> {
    [AssertionKind::Bound, AssertionKind::Reopen].into_iter().find(|k| assertion_kind_str(*k) == s)
}

/// A `u64` seq as the BIGINT column value.
pub(crate) fn seq_param(seq: u64) -> PgResult<i64> {
    i64::try_from(seq).map_err(|_| PgError::Conflict(format!("seq {seq} does not fit a BIGINT column")))
}

/// A `max_seq` bound: values past the column range mean "everything".
pub(crate) fn max_seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A position within a unit as the INTEGER `ord` column.
pub(crate) fn ord_param(i: usize) -> PgResult<i32> {
    i32::try_from(i)
        .map_err(|_| PgError::Conflict(format!("unit has more than {} rows of one kind", i32::MAX)))
}

/// One row's cells, in the binary form of the extended protocol ([`RowReader`]) or the text
/// form of a simple-query batch ([`TextReader`]); the decoders below are written once over it.
pub(crate) trait Cells {
    /// The table the row comes from, for error messages.
    fn table(&self) -> &'static str;
    /// A text column (`None` for NULL).
    fn str_opt(&self, column: &str) -> PgResult<Option<&str>>;
    /// A BIGINT column.
    fn i64_opt(&self, column: &str) -> PgResult<Option<i64>>;
    /// A REAL column.
    fn f32_opt(&self, column: &str) -> PgResult<Option<f32>>;
    /// A BOOLEAN column.
    fn bool_opt(&self, column: &str) -> PgResult<Option<bool>>;
    /// A UUID column.
    fn uuid_opt(&self, column: &str) -> PgResult<Option<Uuid>>;
    /// A UUID[] column.
    fn uuids(&self, column: &str) -> PgResult<Vec<Uuid>>;

    fn corrupt(&self, column: &str, why: impl std::fmt::Display) -> PgError
    where
        Self: Sized,
    {
        PgError::Corrupt(format!("{} row, column {column}: {why}", self.table()))
    }

    fn required<T>(&self, column: &str, v: Option<T>) -> PgResult<T>
    where
        Self: Sized,
    {
        v.ok_or_else(|| self.corrupt(column, "unexpected NULL"))
    }

    fn str(&self, column: &str) -> PgResult<&str>
    where
        Self: Sized,
    {
        let v = self.str_opt(column)?;
        self.required(column, v)
    }

    fn i64(&self, column: &str) -> PgResult<i64>
    where
        Self: Sized,
    {
        let v = self.i64_opt(column)?;
        self.required(column, v)
    }

    fn uuid(&self, column: &str) -> PgResult<Uuid>
    where
        Self: Sized,
    {
        let v = self.uuid_opt(column)?;
        self.required(column, v)
    }

    fn seq(&self, column: &str) -> PgResult<u64>
    where
        Self: Sized,
    {
        let v = self.i64(column)?;
        u64::try_from(v).map_err(|_| self.corrupt(column, format!("negative seq {v}")))
    }

    fn index(&self, column: &str) -> PgResult<u32>
    where
        Self: Sized,
    {
        let v = self.i64(column)?;
        u32::try_from(v).map_err(|_| self.corrupt(column, format!("index {v} out of range")))
    }

    fn time(&self, column: &str) -> PgResult<Timestamp>
    where
        Self: Sized,
    {
        Ok(Timestamp(self.i64(column)?))
    }

    fn opt_time(&self, column: &str) -> PgResult<Option<Timestamp>>
    where
        Self: Sized,
    {
        Ok(self.i64_opt(column)?.map(Timestamp))
    }

    fn text_as<T>(&self, column: &str, parse: impl Fn(&str) -> Option<T>) -> PgResult<T>
    where
        Self: Sized,
    {
        let s = self.str(column)?;
        parse(s).ok_or_else(|| self.corrupt(column, format!("unknown value {s:?}")))
    }

    fn json(&self, column: &str) -> PgResult<serde_json::Value>
    where
        Self: Sized,
    {
        let s = self.str(column)?;
        serde_json::from_str(s).map_err(|e| self.corrupt(column, format!("invalid JSON: {e}")))
    }

    fn agent(&self) -> PgResult<AgentId>
    where
        Self: Sized,
    {
        let s = self.str("agent_id")?;
        AgentId::new(s).map_err(|e| self.corrupt("agent_id", e))
    }
}

/// A binary row of the extended protocol.
pub(crate) struct RowReader<'r> {
    row: &'r Row,
    table: &'static str,
}

impl<'r> RowReader<'r> {
    pub(crate) fn new(row: &'r Row, table: &'static str) -> RowReader<'r> {
        RowReader { row, table }
    }

    pub(crate) fn get<T: FromSql<'r>>(&self, column: &str) -> PgResult<T> {
        self.row.try_get(column).map_err(|e| self.corrupt(column, e))
    }
}

impl Cells for RowReader<'_> {
    fn table(&self) -> &'static str {
        self.table
    }
    fn str_opt(&self, column: &str) -> PgResult<Option<&str>> {
        self.get(column)
    }
    fn i64_opt(&self, column: &str) -> PgResult<Option<i64>> {
        self.get(column)
    }
    fn f32_opt(&self, column: &str) -> PgResult<Option<f32>> {
        self.get(column)
    }
    fn bool_opt(&self, column: &str) -> PgResult<Option<bool>> {
        self.get(column)
    }
    fn uuid_opt(&self, column: &str) -> PgResult<Option<Uuid>> {
        self.get(column)
    }
    fn uuids(&self, column: &str) -> PgResult<Vec<Uuid>> {
        self.get(column)
    }
}

/// A text row of a simple-query batch: every value in PostgreSQL's text output format.
/// (REAL values round-trip exactly: the session sets `extra_float_digits = 3`, the shortest
/// exact form.)
pub(crate) struct TextReader<'r> {
    row: &'r SimpleQueryRow,
    table: &'static str,
}

impl<'r> TextReader<'r> {
    pub(crate) fn new(row: &'r SimpleQueryRow, table: &'static str) -> TextReader<'r> {
        TextReader { row, table }
    }

    fn parsed<T>(&self, column: &str, parse: impl Fn(&str) -> Option<T>) -> PgResult<Option<T>> {
        match self.str_opt(column)? {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| self.corrupt(column, format!("bad value {s:?}"))),
        }
    }
}

impl Cells for TextReader<'_> {
    fn table(&self) -> &'static str {
        self.table
    }
    fn str_opt(&self, column: &str) -> PgResult<Option<&str>> {
        self.row.try_get(column).map_err(|e| self.corrupt(column, e))
    }
    fn i64_opt(&self, column: &str) -> PgResult<Option<i64>> {
        self.parsed(column, |s| s.parse().ok())
    }
    fn f32_opt(&self, column: &str) -> PgResult<Option<f32>> {
        self.parsed(column, |s| s.parse().ok())
    }
    fn bool_opt(&self, column: &str) -> PgResult<Option<bool>> {
        self.parsed(column, |s| match s {
            "t" => Some(true),
            "f" => Some(false),
            _ => None,
        })
    }
    fn uuid_opt(&self, column: &str) -> PgResult<Option<Uuid>> {
        self.parsed(column, |s| Uuid::parse_str(s).ok())
    }
    fn uuids(&self, column: &str) -> PgResult<Vec<Uuid>> {
        // `{}` or `{a,b,…}`: UUIDs are never quoted and hold no commas.
        let parse = |s: &str| -> Option<Vec<Uuid>> {
            let inner = s.strip_prefix('{')?.strip_suffix('}')?;
            if inner.is_empty() {
                return Some(Vec::new());
            }
            inner.split(',').map(|u| Uuid::parse_str(u).ok()).collect()
        };
        let v = self.parsed(column, parse)?;
        self.required(column, v)
    }
}

pub(crate) fn claim(row: &Row) -> PgResult<Claim> {
    claim_from(&RowReader::new(row, "claims"))
}

pub(crate) fn claim_from(r: &impl Cells) -> PgResult<Claim> {
    let valid_time = if r.required("has_valid_time", r.bool_opt("has_valid_time")?)? {
        let gran = |c: &str| -> PgResult<Option<Granularity>> {
            match r.str_opt(c)? {
                None => Ok(None),
                Some(s) => {
                    parse_granularity(s).map(Some).ok_or_else(|| r.corrupt(c, format!("unknown value {s:?}")))
                }
            }
        };
        Some(ValidTime {
            start: r.opt_time("vt_start")?,
            end: r.opt_time("vt_end")?,
            confidence: r
                .f32_opt("vt_confidence")?
                .ok_or_else(|| r.corrupt("vt_confidence", "missing for a claim with a valid time"))?,
            start_granularity: gran("vt_start_granularity")?,
            end_granularity: gran("vt_end_granularity")?,
        })
    } else {
        None
    };
    Ok(Claim {
        claim_ref: ClaimRef(r.uuid("claim_ref")?),
        agent_id: r.agent()?,
        subject: r.str("subject")?.to_owned(),
        predicate: r.str("predicate")?.to_owned(),
        value: r.json("value")?,
        provenance: r.text_as("provenance", Provenance::parse)?,
        cardinality: r.text_as("cardinality", parse_cardinality)?,
        confidence: r.required("confidence", r.f32_opt("confidence")?)?,
        criticality: r.text_as("criticality", parse_criticality)?,
        valid_time,
        tx_time: r.time("tx_time")?,
        seq: r.seq("stream_seq")?,
        derived_from: r.uuids("derived_from")?.into_iter().map(ClaimRef).collect(),
        depends_on: r.uuids("depends_on")?.into_iter().map(ClaimRef).collect(),
    })
}

pub(crate) fn entry(row: &Row) -> PgResult<LedgerEntry> {
    let r = RowReader::new(row, "entries");
    let idx: i64 = r.get("idx")?;
    Ok(LedgerEntry {
        seq: r.seq("stream_seq")?,
        index: u32::try_from(idx).map_err(|_| r.corrupt("idx", format!("index {idx} out of range")))?,
        claim_ref: ClaimRef(r.get("claim_ref")?),
        event: r.text_as("event", Event::parse)?,
        disposition: r.text_as("disposition", Disposition::parse)?,
        rationale: r.json("rationale")?,
        recorded_at: r.time("recorded_at")?,
    })
}

pub(crate) fn mark(row: &Row) -> PgResult<StateMark> {
    mark_from(&RowReader::new(row, "entries"))
}

pub(crate) fn mark_from(r: &impl Cells) -> PgResult<StateMark> {
    Ok(StateMark {
        claim_ref: ClaimRef(r.uuid("claim_ref")?),
        seq: r.seq("stream_seq")?,
        index: r.index("idx")?,
        event: r.text_as("event", Event::parse)?,
        disposition: r.text_as("disposition", Disposition::parse)?,
    })
}

pub(crate) fn assertion(row: &Row) -> PgResult<Assertion> {
    assertion_from(&RowReader::new(row, "assertions"))
}

pub(crate) fn assertion_from(r: &impl Cells) -> PgResult<Assertion> {
    Ok(Assertion {
        assertion_ref: AssertionRef(r.uuid("assertion_ref")?),
        target: ClaimRef(r.uuid("target")?),
        kind: r.text_as("kind", parse_assertion_kind)?,
        at: r.time("at")?,
        seq: r.seq("stream_seq")?,
    })
}

pub(crate) fn edge(row: &Row) -> PgResult<Edge> {
    let r = RowReader::new(row, "edges");
    Ok(Edge {
        from: ClaimRef(r.get("from_ref")?),
        to: ClaimRef(r.get("to_ref")?),
        kind: r.text_as("kind", EdgeKind::parse)?,
        seq: r.seq("stream_seq")?,
    })
}

pub(crate) fn adjudication(row: &Row) -> PgResult<Adjudication> {
    let r = RowReader::new(row, "adjudications");
    Ok(Adjudication {
        handle: Handle(r.get("handle")?),
        agent_id: r.agent()?,
        subject: r.get("subject")?,
        predicate: r.get("predicate")?,
        challenger: ClaimRef(r.get("challenger")?),
        incumbents: r.uuids("incumbents")?.into_iter().map(ClaimRef).collect(),
        queued_at: r.time("queued_at")?,
        expires_at: r.opt_time("expires_at")?,
        status: r.text_as("status", AdjudicationStatus::parse)?,
        notified: r.get("notified")?,
        seq: r.seq("stream_seq")?,
    })
}

/// An idempotency record: `(key, stream_seq, request, answer)`; the seq is returned beside it.
pub(crate) fn idempotency(row: &Row) -> PgResult<(u64, credence_core::Idempotency)> {
    let r = RowReader::new(row, "idempotency_keys");
    let answer: String = r.get("answer")?;
    let answer =
        serde_json::from_str(&answer).map_err(|e| r.corrupt("answer", format!("not an answer: {e}")))?;
    Ok((
        r.seq("stream_seq")?,
        credence_core::Idempotency { key: r.get("key")?, request: r.get("request")?, answer },
    ))
}

/// `closed_seq` of an adjudication row, if it was closed.
pub(crate) fn closed_seq(row: &Row) -> PgResult<Option<u64>> {
    let r = RowReader::new(row, "adjudications");
    match r.get::<Option<i64>>("closed_seq")? {
        None => Ok(None),
        Some(v) => {
            u64::try_from(v).map(Some).map_err(|_| r.corrupt("closed_seq", format!("negative seq {v}")))
        }
    }
}

/// A unit row: `(stream_seq, tx_time)`.
pub(crate) fn head(row: &Row) -> PgResult<credence_core::Head> {
    head_from(&RowReader::new(row, "units"))
}

pub(crate) fn head_from(r: &impl Cells) -> PgResult<credence_core::Head> {
    Ok(credence_core::Head { seq: r.seq("stream_seq")?, tx_time: r.time("tx_time")? })
}
