//! Appending one commit unit's rows inside the write transaction.

use credence_core::{Append, Event, Head};
use postgres::error::SqlState;
use uuid::Uuid;

use crate::codec::{self, ord_param, seq_param};
use crate::error::{PgError, PgResult, is_read_only};
use crate::pool::PgConnection;
use crate::read::{LINE_HEAD_SQL, LINE_SQL, PgView};
use crate::speculate::{LOCKED_SETTING, PLAN_EXPECT, PREPARE_EXPECT};

/// When a unit's rows are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timing {
    /// Queued on the connection: they ride in front of the next round trip (the next unit's
    /// first read, or the `COMMIT`). A failure then shows on that round trip.
    Defer,
    /// Now, in a round trip of their own (a failure is this unit's).
    Now,
    /// Now, with the transaction's `COMMIT` in the same round trip.
    NowCommit,
}

/// Checks `append` against the agent's current head (the same refusals as the reference
/// backend), then inserts every row; a claim that already exists refuses the unit. Runs under
/// the agent's advisory lock; the connection's tracked head moves to the unit.
///
/// A unit with adjudication rows or status changes is always sent at once and never
/// commits here (those rows go through the extended protocol after the insert). Returns
/// whether the transaction committed.
pub(crate) fn append(
    conn: &mut PgConnection,
    agent: &str,
    append: &Append,
    timing: Timing,
) -> PgResult<bool> {
    let head = match conn.write_head(agent) {
        Some(head) => head,
        None => {
            PgView::for_write(conn, agent).start_write()?;
            conn.write_head(agent).unwrap_or(None)
        }
    };
    let expected = head.map_or(1, |h| h.seq + 1);
    if append.seq != expected {
        return Err(PgError::Conflict(format!("unit seq {} is not the next seq {expected}", append.seq)));
    }
    if let Some(prev) = head
        && append.tx_time <= prev.tx_time
    {
        return Err(PgError::Conflict(format!(
            "unit tx_time {} is not after {}",
            append.tx_time, prev.tx_time
        )));
    }
    if let Some(reason) = append.shape_problem() {
        return Err(PgError::Conflict(reason));
    }
    let plain = is_plain(append);
    let timing = if plain { timing } else { Timing::Now };
    let sql = insert_sql(agent, append, head.is_none())?;
    let new_head = Some(Head { seq: append.seq, tx_time: append.tx_time });
    match timing {
        Timing::Defer => {
            conn.defer(&sql);
            conn.set_write_head(agent, new_head);
            return Ok(false);
        }
        Timing::Now => {
            conn.send(&sql).map_err(refused(append.seq))?;
        }
        Timing::NowCommit => {
            conn.send(&format!("{sql}; COMMIT")).map_err(refused(append.seq))?;
            conn.committed();
            return Ok(true);
        }
    }
    if let Err(e) = insert_adjudications(conn, agent, append) {
        conn.note_failure(&e);
        return Err(e);
    }
    conn.set_write_head(agent, new_head);
    Ok(false)
}

/// True for a unit whose rows all go into the one `credence_append` statement: no adjudication
/// rows, status changes or idempotency record (those go through the extended protocol after it).
pub(crate) fn is_plain(append: &Append) -> bool {
    append.adjudications.is_empty() && append.status_changes.is_empty() && append.idempotency.is_none()
}

/// Maps the insert's refusal of an existing claim (a division by zero, see
/// [`prepare_append`]) and of a stored edge (the edges' primary key) to a conflict. A repeated
/// idempotency key stays a unique violation, which is retried: the retry finds the key.
fn refused(seq: u64) -> impl Fn(PgError) -> PgError {
    move |e| match &e {
        PgError::Db(db) if db.code() == Some(&SqlState::DIVISION_BY_ZERO) => {
            PgError::Conflict(format!("a claim of unit {seq} already exists"))
        }
        PgError::Db(db) if db.code() == Some(&SqlState::UNIQUE_VIOLATION) && is_edge_violation(db) => {
            PgError::Conflict(format!("unit {seq} repeats a stored edge"))
        }
        _ => e,
    }
}

fn is_edge_violation(e: &postgres::Error) -> bool {
    e.as_db_error().and_then(|d| d.constraint()) == Some("edges_pkey")
}

/// A row (a JSON object) as JSON text.
fn row_text(row: &serde_json::Value) -> PgResult<String> {
    serde_json::to_string(row).map_err(|e| PgError::Conflict(format!("a row does not serialise: {e}")))
}

/// Rows (JSON objects as text) as one JSON array in a string literal, for
/// `json_to_recordset`; with `agent`, each row gets the field `"ag"` naming it first.
fn rows_literal<'a>(rows: impl IntoIterator<Item = (Option<&'a str>, &'a str)>) -> PgResult<String> {
    let mut text = String::from("[");
    for (i, (agent, row)) in rows.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match agent {
            Some(agent) => {
                let fields = row.strip_prefix('{').unwrap_or(row);
                text.push_str("{\"ag\":");
                text.push_str(&row_text(&serde_json::Value::from(agent))?);
                if !fields.starts_with('}') {
                    text.push(',');
                }
                text.push_str(fields);
            }
            None => text.push_str(row),
        }
    }
    text.push(']');
    Ok(quote_literal(&text))
}

/// Server-side prepared statements used from simple-query batches (which cannot bind
/// parameters but can `EXECUTE` with literal arguments, keeping the cached plan). Prepared
/// once per connection by [`ensure_prepared`]; `PREPARE` is not undone by a rollback.
const PREPARE_HEAD: &str = "PREPARE credence_head(text) AS SELECT stream_seq, tx_time FROM units \
     WHERE agent_id = $1 ORDER BY stream_seq DESC LIMIT 1";

/// The `PREPARE` of the statement inserting all rows of a unit but adjudications: a CTE with
/// one `INSERT … SELECT … FROM json_to_recordset(…)` per table, each taking a JSON array of
/// rows (`[]` for none). Claims use `ON CONFLICT DO NOTHING`; the final `SELECT` divides by
/// zero when fewer claims went in than expected, which refuses a unit whose claim already
/// exists (or that repeats one of its own).
///
/// `credence_append(agent, seq, tx_time, first_unit, claims, entries, assertions, edges,
/// n_claims)` inserts one unit.
///
/// `credence_append_many(agents, heads, keys, line_agents, subjects, predicates, units,
/// claims, entries, assertions, edges)` inserts the units of several agents sharing a
/// transaction (see the `convoy` module) — but only those of the agents that pass their guard:
/// the agent's lock key is among those the transaction got (the transaction-local setting
/// [`LOCKED_SETTING`], set by the statement before), its newest unit is the head the unit was
/// decided at, and none of the lines it took as empty holds a claim. It returns one row
/// `ok:<agent>` per agent written. `units` holds `{ag, s, tx, f, n}` per unit (`n`: its
/// claims) and every row names its agent in `ag`. Each line is probed once, whatever the
/// number of units.
fn prepare_append(many: bool) -> String {
    let (head, sources, ag, ag_col, only_ok) = if many {
        (
            format!(
                "PREPARE credence_append_many(text[], bigint[], bigint[], text[], text[], text[], json, json, json, \
                 json, json) AS WITH \
                 taken AS MATERIALIZED (SELECT DISTINCT l.ag FROM unnest($4, $5, $6) AS l(ag, s, p) \
                   WHERE (SELECT c.claim_ref FROM claims c WHERE c.agent_id = l.ag AND c.subject = l.s \
                   AND c.predicate = l.p ORDER BY c.stream_seq, c.claim_ref LIMIT 1) IS NOT NULL), \
                 ok AS MATERIALIZED (SELECT h.ag FROM unnest($1, $2, $3) AS h(ag, seq, k) \
                   WHERE h.k = ANY ((SELECT string_to_array(current_setting('{LOCKED_SETTING}', true), ','))::bigint[]) \
                   AND (SELECT coalesce(max(u.stream_seq), 0) FROM units u WHERE u.agent_id = h.ag) = h.seq \
                   AND NOT EXISTS (SELECT 1 FROM taken WHERE taken.ag = h.ag)), \
                 u AS (INSERT INTO units (agent_id, stream_seq, tx_time) \
                   SELECT ag, s, tx FROM json_to_recordset($7) AS t(ag text, s bigint, tx bigint) \
                   WHERE ag IN (SELECT ag FROM ok)), \
                 g AS (INSERT INTO agents (agent_id) \
                   SELECT ag FROM json_to_recordset($7) AS t(ag text, f boolean) \
                   WHERE f AND ag IN (SELECT ag FROM ok) ON CONFLICT DO NOTHING)"
            ),
            ["$8", "$9", "$10", "$11"],
            "ag",
            "ag text, ",
            " WHERE ag IN (SELECT ag FROM ok)",
        )
    } else {
        (
            "PREPARE credence_append(text, bigint, bigint, boolean, json, json, json, json, bigint) AS WITH \
             u AS (INSERT INTO units (agent_id, stream_seq, tx_time) VALUES ($1, $2, $3)), \
             g AS (INSERT INTO agents (agent_id) SELECT $1 WHERE $4 ON CONFLICT DO NOTHING)"
                .to_owned(),
            ["$5", "$6", "$7", "$8"],
            "$1",
            "",
            "",
        )
    };
    let [claims, entries, assertions, edges] = sources;
    let tail = if many {
        "SELECT 'ok:' || ag FROM ok WHERE 1 / CASE WHEN (SELECT count(*) FROM c) = (SELECT coalesce(sum(n), 0) \
         FROM json_to_recordset($7) AS t(ag text, n bigint) WHERE ag IN (SELECT ag FROM ok)) THEN 1 ELSE 0 END = 1"
    } else {
        "SELECT 1 / CASE WHEN (SELECT count(*) FROM c) = $9 THEN 1 ELSE 0 END"
    };
    format!(
        "{head}, \
         c AS (INSERT INTO claims (agent_id, claim_ref, stream_seq, ord, subject, predicate, value, provenance, \
           cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
           vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on) \
           SELECT {ag}, r, s, o, subj, pred, val, prov, card, conf, crit, hvt, vs, ve, vc, vsg, veg, tx, df, dp \
           FROM json_to_recordset({claims}) AS t({ag_col}r uuid, s bigint, o integer, subj text, pred text, \
           val text, prov text, card text, conf real, crit text, hvt boolean, vs bigint, ve bigint, vc real, \
           vsg text, veg text, tx bigint, df uuid[], dp uuid[]){only_ok} ON CONFLICT DO NOTHING RETURNING 1), \
         e AS (INSERT INTO entries (agent_id, stream_seq, idx, ord, claim_ref, event, disposition, rationale, \
           recorded_at) SELECT {ag}, s, i, o, r, ev, di, ra, at FROM json_to_recordset({entries}) \
           AS t({ag_col}s bigint, i bigint, o integer, r uuid, ev text, di text, ra text, at bigint){only_ok}), \
         a AS (INSERT INTO assertions (agent_id, stream_seq, ord, assertion_ref, target, kind, at) \
           SELECT {ag}, s, o, r, t, k, at FROM json_to_recordset({assertions}) \
           AS t({ag_col}s bigint, o integer, r uuid, t uuid, k text, at bigint){only_ok}), \
         d AS (INSERT INTO edges (agent_id, from_ref, to_ref, kind, stream_seq, ord) \
           SELECT {ag}, f, t, k, s, o FROM json_to_recordset({edges}) \
           AS t({ag_col}f uuid, t uuid, k text, s bigint, o integer){only_ok}) \
         {tail}"
    )
}

/// Session settings of every connection the write path uses, made with the prepared
/// statements: plans are generic (cached per connection, no planning per write) and never a
/// sequential scan chosen while the agent's tables were tiny (every query is an index lookup);
/// REAL values in text results are the shortest exact form (see `codec::TextReader`).
const SESSION_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET extra_float_digits = 3";

/// Prepares [`PREPARE_HEAD`], both forms of [`prepare_append`] and [`PREPARE_EXPECT`] (the
/// guards planned at once, see [`PLAN_EXPECT`]) and the line queries on `conn`, and makes the
/// [`SESSION_SETTINGS`], unless already done.
pub(crate) fn ensure_prepared(conn: &mut PgConnection) -> PgResult<()> {
    if conn.simple_prepared() {
        return Ok(());
    }
    let prepare_line = format!(
        "PREPARE credence_line(text, text, text, bigint, text[]) AS {LINE_SQL}; \
         PREPARE credence_line_head(text, text, text, bigint, text[]) AS {LINE_HEAD_SQL}"
    );
    // The read statements first: a role that may only read gets them, and the session
    // settings, even though planning the write statements (EXPLAIN checks privileges) fails.
    if let Err(e) = conn.raw().batch_execute(&format!("{PREPARE_HEAD}; {prepare_line}; {SESSION_SETTINGS}")) {
        deallocate(conn, &["credence_head", "credence_line", "credence_line_head"]);
        return Err(e.into());
    }
    let writes =
        format!("{}; {}; {PREPARE_EXPECT}; {PLAN_EXPECT}", prepare_append(false), prepare_append(true));
    if let Err(e) = conn.raw().batch_execute(&writes) {
        // Leave nothing half-prepared behind, nor the sort setting PLAN_EXPECT turns off.
        let _ = conn.raw().batch_execute("RESET enable_sort");
        let write_names = ["credence_append", "credence_append_many", "credence_expect"];
        deallocate(conn, &write_names);
        let e = PgError::from(e);
        if !is_read_only(&e) {
            deallocate(conn, &["credence_head", "credence_line", "credence_line_head"]);
            return Err(e);
        }
        conn.refuse_writes(e.to_string());
    }
    conn.set_simple_prepared();
    Ok(())
}

/// [`ensure_prepared`] for a write: `ReadOnly` on a connection whose role may not write.
pub(crate) fn ensure_writable(conn: &mut PgConnection) -> PgResult<()> {
    ensure_prepared(conn)?;
    match conn.writes_refused() {
        Some(reason) => Err(PgError::ReadOnly(reason.to_owned())),
        None => Ok(()),
    }
}

fn deallocate(conn: &mut PgConnection, names: &[&str]) {
    for name in names {
        let _ = conn.raw().batch_execute(&format!("DEALLOCATE {name}"));
    }
}

/// The line query ([`LINE_SQL`], or [`LINE_HEAD_SQL`] `with_head`) for a simple-query batch,
/// its arguments quoted literals.
pub(crate) fn line_sql(agent: &str, subject: &str, predicate: &str, max_seq: i64, with_head: bool) -> String {
    let events: Vec<String> = Event::MARKS.iter().map(|e| quote_literal(e.as_str())).collect();
    format!(
        "EXECUTE credence_line{}({}, {}, {}, {max_seq}, ARRAY[{}]::text[])",
        if with_head { "_head" } else { "" },
        quote_literal(agent),
        quote_literal(subject),
        quote_literal(predicate),
        events.join(", ")
    )
}

/// The head query of [`PREPARE_HEAD`] for `agent`, for a simple-query batch.
pub(crate) fn head_sql(agent: &str) -> String {
    format!("EXECUTE credence_head({})", quote_literal(agent))
}

/// The unit's rows (all but adjudications) as one `EXECUTE credence_append(…)` for the
/// simple-query protocol. Every value travels inside JSON string literals quoted by
/// [`quote_literal`] (numbers are formatted by Rust), so nothing is spliced in unquoted.
pub(crate) fn insert_sql(agent: &str, append: &Append, first_unit: bool) -> PgResult<String> {
    unit_rows(append, first_unit)?.insert_sql(agent)
}

/// A unit's rows as JSON values, one list per table (see [`prepare_append`]).
#[derive(Clone, Debug)]
pub(crate) struct UnitRows {
    seq: i64,
    tx_time: i64,
    first_unit: bool,
    /// Each row a JSON object, as text.
    claims: Vec<String>,
    entries: Vec<String>,
    assertions: Vec<String>,
    edges: Vec<String>,
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
                "card": codec::cardinality_str(c.cardinality),
                "conf": c.confidence,
                "crit": codec::criticality_str(c.criticality),
                "hvt": vt.is_some(),
                "vs": vt.and_then(|w| w.start).map(|t| t.0),
                "ve": vt.and_then(|w| w.end).map(|t| t.0),
                "vc": vt.map(|w| w.confidence),
                "vsg": vt.and_then(|w| w.start_granularity).map(codec::granularity_str),
                "veg": vt.and_then(|w| w.end_granularity).map(codec::granularity_str),
                "tx": c.tx_time.0,
                "df": derived,
                "dp": depends,
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
                "k": codec::assertion_kind_str(x.kind),
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

impl UnitRows {
    /// The rows as one `EXECUTE credence_append(…)` for `agent`.
    pub(crate) fn insert_sql(&self, agent: &str) -> PgResult<String> {
        Ok(format!(
            "EXECUTE credence_append({}, {}, {}, {}, {}, {}, {}, {}, {})",
            quote_literal(agent),
            self.seq,
            self.tx_time,
            if self.first_unit { "TRUE" } else { "FALSE" },
            own_rows(&self.claims)?,
            own_rows(&self.entries)?,
            own_rows(&self.assertions)?,
            own_rows(&self.edges)?,
            self.claims.len()
        ))
    }
}

/// The rows of several agents' units (at most one each) as one `EXECUTE
/// credence_append_many(…)` after the guard arguments `guard_args` (see
/// `speculate::many_guard_args`): each row names its agent.
pub(crate) fn insert_many_sql(guard_args: &str, units: &[(&str, &UnitRows)]) -> PgResult<String> {
    let named = |table: fn(&UnitRows) -> &Vec<String>| {
        rows_literal(
            units.iter().flat_map(|(agent, rows)| table(rows).iter().map(|row| (Some(*agent), row.as_str()))),
        )
    };
    let mut heads = Vec::with_capacity(units.len());
    for (_, rows) in units {
        let n = rows.claims.len();
        heads.push(row_text(
            &serde_json::json!({ "s": rows.seq, "tx": rows.tx_time, "f": rows.first_unit, "n": n }),
        )?);
    }
    Ok(format!(
        "EXECUTE credence_append_many({guard_args}, {}, {}, {}, {}, {})",
        rows_literal(units.iter().zip(&heads).map(|((agent, _), head)| (Some(*agent), head.as_str())))?,
        named(|r| &r.claims)?,
        named(|r| &r.entries)?,
        named(|r| &r.assertions)?,
        named(|r| &r.edges)?,
    ))
}

/// One unit's rows of a table as a literal (see [`rows_literal`]).
fn own_rows(rows: &[String]) -> PgResult<String> {
    rows_literal(rows.iter().map(|row| (None, row.as_str())))
}

/// `s` as an SQL string literal (`E'…'`, so the result does not depend on
/// `standard_conforming_strings`): quotes and backslashes are doubled.
pub(crate) fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn insert_adjudications(conn: &mut PgConnection, agent: &str, append: &Append) -> PgResult<()> {
    let seq = seq_param(append.seq)?;
    for (i, a) in append.adjudications.iter().enumerate() {
        let stmt = conn.statement(
            "INSERT INTO adjudications (agent_id, handle, stream_seq, ord, subject, predicate, challenger, \
             incumbents, queued_at, expires_at, status, notified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )?;
        let incumbents: Vec<Uuid> = a.incumbents.iter().map(|r| r.0).collect();
        conn.raw().execute(
            &stmt,
            &[
                &agent,
                &a.handle.0,
                &seq_param(a.seq)?,
                &ord_param(i)?,
                &a.subject,
                &a.predicate,
                &a.challenger.0,
                &incumbents,
                &a.queued_at.0,
                &a.expires_at.map(|t| t.0),
                &a.status.as_str(),
                &a.notified,
            ],
        )?;
    }

    for change in &append.status_changes {
        let stmt = conn.statement(
            "UPDATE adjudications SET status = $3, closed_seq = $4 WHERE agent_id = $1 AND handle = $2",
        )?;
        conn.raw().execute(&stmt, &[&agent, &change.handle.0, &change.status.as_str(), &seq])?;
    }

    if let Some(record) = &append.idempotency {
        let answer = serde_json::to_string(&record.answer)
            .map_err(|e| PgError::Conflict(format!("an idempotency answer does not serialise: {e}")))?;
        let stmt = conn.statement(
            "INSERT INTO idempotency_keys (agent_id, key, stream_seq, request, answer) VALUES ($1, $2, $3, $4, $5)",
        )?;
        conn.raw().execute(&stmt, &[&agent, &record.key, &seq, &record.request, &answer])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_literal_names_each_rows_agent_first_and_keeps_the_row() -> PgResult<()> {
        // The agent is JSON-escaped, then the whole text quoted for SQL (backslashes doubled).
        let rows = [(Some("o'k\""), r#"{"s":1,"v":"x"}"#), (Some("b"), "{}"), (None, r#"{"s":2}"#)];
        assert_eq!(rows_literal(rows)?, r#"E'[{"ag":"o''k\\"","s":1,"v":"x"},{"ag":"b"},{"s":2}]'"#);
        assert_eq!(rows_literal(std::iter::empty())?, "E'[]'");
        Ok(())
    }
}
