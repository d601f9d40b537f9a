//! Rows ↔ domain types: decoding what the server returns (every failure a `Corrupt` error
//! naming the row, never a panic) and encoding a unit's rows for the write statements.

use credence_core::{
    Adjudication, AdjudicationStatus, AgentId, Append, Assertion, AssertionKind, AssertionRef, Cardinality,
    Claim, ClaimRef, Criticality, Disposition, Edge, EdgeKind, Event, Granularity, Handle, Head, LedgerEntry,
    LineSummary, LiveClaim, Provenance, StateMark, Timestamp, ValidTime,
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

/// One row of the live-claims read (`sql::LIVE`): the claim's columns, its state, and the
/// index's own `live_ref` — a live claim whose claims row is missing is `Corrupt`.
pub(crate) fn live_claim_from(r: &impl Cells) -> PgResult<LiveClaim> {
    if r.uuid_opt("claim_ref")?.is_none() {
        let live_ref = r.uuid_opt("live_ref")?.map_or_else(|| "?".to_owned(), |u| u.to_string());
        return Err(PgError::Corrupt(format!("live_claims row: live claim {live_ref} has no claims row")));
    }
    Ok(LiveClaim {
        claim: claim_from(r)?,
        disposition: r.text_as("disposition", Disposition::parse)?,
        flagged: r.required("flagged", r.bool_opt("flagged")?)?,
    })
}

/// A `live_lines` row as a [`LineSummary`].
pub(crate) fn summary_from(r: &impl Cells) -> PgResult<LineSummary> {
    let count = |name: &str| -> PgResult<u64> {
        let n = r.required(name, r.i64_opt(name)?)?;
        u64::try_from(n).map_err(|_| PgError::Corrupt(format!("live_lines row: negative {name} {n}")))
    };
    Ok(LineSummary {
        live: count("live")?,
        functional: count("functional")?,
        clash_free: count("clashes")? == 0,
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

/// The rows of each statement of a simple-query batch, in order (one list per statement).
pub(crate) fn statement_rows(messages: &[postgres::SimpleQueryMessage]) -> Vec<Vec<&SimpleQueryRow>> {
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for m in messages {
        match m {
            postgres::SimpleQueryMessage::Row(row) => rows.push(row),
            postgres::SimpleQueryMessage::CommandComplete(_) => out.push(std::mem::take(&mut rows)),
            _ => {}
        }
    }
    out
}

/// The head from the result of the head query (`None`: the agent has no unit).
pub(crate) fn head_in(rows: &[&SimpleQueryRow]) -> PgResult<Option<Head>> {
    rows.first().map(|row| head_from(&TextReader::new(row, "units"))).transpose()
}

// ---------------------------------------------------------------------------------------------
// Encoding: a unit's rows for the write statements, and how a unit is recognised.

/// A line: subject and predicate.
pub(crate) type LineKey = (String, String);

/// A row (a JSON object) as JSON text.
pub(crate) fn row_text(row: &serde_json::Value) -> PgResult<String> {
    serde_json::to_string(row).map_err(|e| PgError::Conflict(format!("a row does not serialise: {e}")))
}

/// A unit's rows as JSON values, one list per table (see `sql::prepare_append`).
#[derive(Clone, Debug)]
pub(crate) struct UnitRows {
    pub(crate) seq: i64,
    pub(crate) tx_time: i64,
    pub(crate) first_unit: bool,
    /// Each row a JSON object, as text.
    pub(crate) claims: Vec<String>,
    pub(crate) entries: Vec<String>,
    pub(crate) assertions: Vec<String>,
    pub(crate) edges: Vec<String>,
}

/// Lower-case hexadecimal of `bytes` (`decode(…, 'hex')` in SQL).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The rows of `append` (all but adjudications); `first_unit` when it is its agent's first.
pub(crate) fn unit_rows(append: &Append, first_unit: bool) -> PgResult<UnitRows> {
    use serde_json::json;
    if let Some(reason) = append.row_with_other_seq() {
        return Err(PgError::Conflict(reason));
    }
    let seq = seq_param(append.seq)?;
    let claims = {
        let mut rows = Vec::with_capacity(append.claims.len());
        for (i, c) in append.claims.iter().enumerate() {
            let vt = c.valid_time.as_ref();
            let derived: Vec<String> = c.derived_from.iter().map(|r| r.0.to_string()).collect();
            let depends: Vec<String> = c.depends_on.iter().map(|r| r.0.to_string()).collect();
            rows.push(row_text(&json!({
                "r": c.claim_ref.0.to_string(),
                "s": seq_param(c.seq)?,
                "o": ord_param(i)?,
                "subj": c.subject,
                "pred": c.predicate,
                "val": serde_json::to_string(&c.value)
                    .map_err(|e| PgError::Conflict(format!("claim value does not serialise: {e}")))?,
                "prov": c.provenance.as_str(),
                "card": cardinality_str(c.cardinality),
                "conf": c.confidence,
                "crit": criticality_str(c.criticality),
                "hvt": vt.is_some(),
                "vs": vt.and_then(|w| w.start).map(|t| t.0),
                "ve": vt.and_then(|w| w.end).map(|t| t.0),
                "vc": vt.map(|w| w.confidence),
                "vsg": vt.and_then(|w| w.start_granularity).map(granularity_str),
                "veg": vt.and_then(|w| w.end_granularity).map(granularity_str),
                "tx": c.tx_time.0,
                "df": derived,
                "dp": depends,
                "vk": hex(&credence_core::liveness::value_key(&c.value)),
                "tm": credence_core::terms::of_claim(c),
            }))?);
        }
        rows
    };
    let entries = {
        let mut rows = Vec::with_capacity(append.entries.len());
        for (i, e) in append.entries.iter().enumerate() {
            rows.push(row_text(&json!({
                "s": seq_param(e.seq)?,
                "i": i64::from(e.index),
                "o": ord_param(i)?,
                "r": e.claim_ref.0.to_string(),
                "ev": e.event.as_str(),
                "di": e.disposition.as_str(),
                "ra": serde_json::to_string(&e.rationale)
                    .map_err(|err| PgError::Conflict(format!("entry rationale does not serialise: {err}")))?,
                "at": e.recorded_at.0,
            }))?);
        }
        rows
    };
    let assertions = {
        let mut rows = Vec::with_capacity(append.assertions.len());
        for (i, x) in append.assertions.iter().enumerate() {
            rows.push(row_text(&json!({
                "s": seq_param(x.seq)?,
                "o": ord_param(i)?,
                "r": x.assertion_ref.0.to_string(),
                "t": x.target.0.to_string(),
                "k": assertion_kind_str(x.kind),
                "at": x.at.0,
            }))?);
        }
        rows
    };
    let edges = {
        let mut rows = Vec::with_capacity(append.edges.len());
        for (i, e) in append.edges.iter().enumerate() {
            rows.push(row_text(&json!({
                "f": e.from.0.to_string(),
                "t": e.to.0.to_string(),
                "k": e.kind.as_str(),
                "s": seq_param(e.seq)?,
                "o": ord_param(i)?,
            }))?);
        }
        rows
    };
    Ok(UnitRows { seq, tx_time: append.tx_time.0, first_unit, claims, entries, assertions, edges })
}

/// One unit of a transaction, as it can be recognised in the store: its seq, its tx_time and
/// one row only it holds — its first claim, else its first assertion, else its first ledger
/// entry, else its first edge (a unit with none of these is recognised by its unit row alone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnitMark {
    pub(crate) seq: u64,
    pub(crate) tx_time: Timestamp,
    pub(crate) row: UnitMarkRow,
}

/// The row only a unit holds (see [`UnitMark`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UnitMarkRow {
    Claim(ClaimRef),
    Assertion(AssertionRef),
    Entry { index: u32, claim_ref: ClaimRef, event: Event },
    Edge { from: ClaimRef, to: ClaimRef, kind: EdgeKind },
    UnitOnly,
}

impl UnitMark {
    /// The mark of the unit `append`.
    pub(crate) fn of(append: &Append) -> UnitMark {
        let row = if let Some(c) = append.claims.first() {
            UnitMarkRow::Claim(c.claim_ref)
        } else if let Some(a) = append.assertions.first() {
            UnitMarkRow::Assertion(a.assertion_ref)
        } else if let Some(e) = append.entries.first() {
            UnitMarkRow::Entry { index: e.index, claim_ref: e.claim_ref, event: e.event }
        } else if let Some(e) = append.edges.first() {
            UnitMarkRow::Edge { from: e.from, to: e.to, kind: e.kind }
        } else {
            UnitMarkRow::UnitOnly
        };
        UnitMark { seq: append.seq, tx_time: append.tx_time, row }
    }
}
