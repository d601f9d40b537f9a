//! Rows ↔ domain types. Every decode failure is a `Corrupt` error naming the row, never a panic.

use credence_core::{
    Adjudication, AdjudicationStatus, AgentId, Assertion, AssertionKind, AssertionRef, Cardinality, Claim,
    ClaimRef, Criticality, Disposition, Edge, EdgeKind, Event, Granularity, Handle, LedgerEntry, Provenance,
    StateMark, Timestamp, ValidTime,
};
use postgres::Row;
use postgres::types::FromSql;
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

/// One decoding context: the table and the row's key, for error messages.
pub(crate) struct RowReader<'r> {
    row: &'r Row,
    table: &'static str,
}

impl<'r> RowReader<'r> {
    pub(crate) fn new(row: &'r Row, table: &'static str) -> RowReader<'r> {
        RowReader { row, table }
    }

    fn corrupt(&self, column: &str, why: impl std::fmt::Display) -> PgError {
        PgError::Corrupt(format!("{} row, column {column}: {why}", self.table))
    }

    pub(crate) fn get<T: FromSql<'r>>(&self, column: &str) -> PgResult<T> {
        self.row.try_get(column).map_err(|e| self.corrupt(column, e))
    }

    fn seq(&self, column: &str) -> PgResult<u64> {
        let v: i64 = self.get(column)?;
        u64::try_from(v).map_err(|_| self.corrupt(column, format!("negative seq {v}")))
    }

    fn time(&self, column: &str) -> PgResult<Timestamp> {
        Ok(Timestamp(self.get(column)?))
    }

    fn opt_time(&self, column: &str) -> PgResult<Option<Timestamp>> {
        Ok(self.get::<Option<i64>>(column)?.map(Timestamp))
    }

    fn text_as<T>(&self, column: &str, parse: impl Fn(&str) -> Option<T>) -> PgResult<T> {
        let s: &str = self.get(column)?;
        parse(s).ok_or_else(|| self.corrupt(column, format!("unknown value {s:?}")))
    }

    fn json(&self, column: &str) -> PgResult<serde_json::Value> {
        let s: &str = self.get(column)?;
        serde_json::from_str(s).map_err(|e| self.corrupt(column, format!("invalid JSON: {e}")))
    }

    fn agent(&self) -> PgResult<AgentId> {
        let s: String = self.get("agent_id")?;
        AgentId::new(s).map_err(|e| self.corrupt("agent_id", e))
    }

    fn uuids(&self, column: &str) -> PgResult<Vec<Uuid>> {
        self.get(column)
    }
}

pub(crate) fn claim(row: &Row) -> PgResult<Claim> {
    let r = RowReader::new(row, "claims");
    let valid_time = if r.get::<bool>("has_valid_time")? {
        let gran = |c: &str| -> PgResult<Option<Granularity>> {
            match r.get::<Option<&str>>(c)? {
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
                .get::<Option<f32>>("vt_confidence")?
                .ok_or_else(|| r.corrupt("vt_confidence", "missing for a claim with a valid time"))?,
            start_granularity: gran("vt_start_granularity")?,
            end_granularity: gran("vt_end_granularity")?,
        })
    } else {
        None
    };
    Ok(Claim {
        claim_ref: ClaimRef(r.get("claim_ref")?),
        agent_id: r.agent()?,
        subject: r.get("subject")?,
        predicate: r.get("predicate")?,
        value: r.json("value")?,
        provenance: r.text_as("provenance", Provenance::parse)?,
        cardinality: r.text_as("cardinality", parse_cardinality)?,
        confidence: r.get("confidence")?,
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
    let r = RowReader::new(row, "entries");
    let idx: i64 = r.get("idx")?;
    Ok(StateMark {
        claim_ref: ClaimRef(r.get("claim_ref")?),
        seq: r.seq("stream_seq")?,
        index: u32::try_from(idx).map_err(|_| r.corrupt("idx", format!("index {idx} out of range")))?,
        event: r.text_as("event", Event::parse)?,
        disposition: r.text_as("disposition", Disposition::parse)?,
    })
}

pub(crate) fn assertion(row: &Row) -> PgResult<Assertion> {
    let r = RowReader::new(row, "assertions");
    Ok(Assertion {
        assertion_ref: AssertionRef(r.get("assertion_ref")?),
        target: ClaimRef(r.get("target")?),
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
    let r = RowReader::new(row, "units");
    Ok(credence_core::Head { seq: r.seq("stream_seq")?, tx_time: r.time("tx_time")? })
}
