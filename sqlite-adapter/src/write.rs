//! Appending one commit unit's rows (inside the caller's savepoint).

use credence_core::{AgentId, Append, Head};
use rusqlite::{Connection, params};

use crate::codec::{enum_to_sql, json_to_sql, seq_to_sql};
use crate::error::{SqlResult, SqliteError};
use crate::read::View;

/// Appends `append` for `agent` through `conn`, which must be inside the agent's write
/// transaction. Refuses a seq other than head + 1, a tx_time not after the head's, a
/// duplicate claim and rows of another agent with `Conflict`. On error the caller rolls the
/// savepoint back, so nothing of the unit remains.
pub(crate) fn apply(conn: &Connection, agent: &AgentId, append: &Append) -> SqlResult<Head> {
    let head = View::new(conn, agent).head_for_write()?;
    let expected = head.map_or(1, |h| h.seq.saturating_add(1));
    if append.seq != expected {
        return Err(SqliteError::Conflict(format!("unit seq {} is not the next seq {expected}", append.seq)));
    }
    if let Some(prev) = head
        && append.tx_time <= prev.tx_time
    {
        return Err(SqliteError::Conflict(format!(
            "unit tx_time {} is not after {}",
            append.tx_time, prev.tx_time
        )));
    }
    if let Some(reason) = append.shape_problem() {
        return Err(SqliteError::Conflict(reason));
    }
    let a = agent.as_str();
    let seq = seq_to_sql(append.seq)?;
    let sql = |ctx: &'static str| SqliteError::sqlite(ctx);
    // The unit's claims take the next rowids, one after the other; its commits row names the
    // range (there is no index of claims by seq).
    let n_claims = i64::try_from(append.claims.len())
        .map_err(|_| SqliteError::Conflict("too many claims in one unit".into()))?;
    let first_claim = if n_claims == 0 {
        None
    } else {
        let last: i64 = conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM claims")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(sql("reading the last claim id"))?;
        let ids_left = i64::MAX.checked_sub(last).is_some_and(|left| left >= n_claims);
        if !ids_left {
            return Err(SqliteError::Conflict("the agent's claim ids are used up".into()));
        }
        Some(last + 1)
    };
    conn.prepare_cached(
        "INSERT INTO commits (agent_id, stream_seq, tx_time, first_claim, n_claims) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![a, seq, append.tx_time.0, first_claim, n_claims]))
    .map_err(sql("inserting the commit unit"))?;

    for (pos, c) in (0i64..).zip(&append.claims) {
        // In range: checked above that first_claim + n_claims - 1 fits.
        let id = first_claim.and_then(|first| first.checked_add(pos));
        if &c.agent_id != agent {
            return Err(SqliteError::Conflict(format!(
                "claim {} belongs to agent {}",
                c.claim_ref, c.agent_id
            )));
        }
        let vt = c.valid_time.as_ref();
        let gran = |g: Option<credence_core::Granularity>| g.map(|g| enum_to_sql(&g)).transpose();
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO claims (agent_id, stream_seq, claim_ref, tx_time, subject, predicate, value, \
                 provenance, cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, \
                 vt_confidence, vt_start_granularity, vt_end_granularity, derived_from, depends_on, id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )
            .map_err(sql("preparing a claim insert"))?;
        let inserted = stmt.execute(params![
            a,
            seq_to_sql(c.seq)?,
            c.claim_ref.0.as_bytes(),
            c.tx_time.0,
            c.subject,
            c.predicate,
            json_to_sql(&c.value)?,
            c.provenance.as_str(),
            enum_to_sql(&c.cardinality)?,
            f64::from(c.confidence),
            enum_to_sql(&c.criticality)?,
            vt.is_some(),
            vt.and_then(|v| v.start).map(|t| t.0),
            vt.and_then(|v| v.end).map(|t| t.0),
            vt.map(|v| f64::from(v.confidence)),
            gran(vt.and_then(|v| v.start_granularity))?,
            gran(vt.and_then(|v| v.end_granularity))?,
            json_to_sql(&c.derived_from)?,
            json_to_sql(&c.depends_on)?,
            id,
        ]);
        if let Err(e) = inserted {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
                return Err(SqliteError::Conflict(format!("claim {} already exists ({e})", c.claim_ref)));
            }
            return Err(SqliteError::sqlite("inserting a claim")(e));
        }
        crate::terms::insert(conn, a, c)?;
    }

    for a_row in &append.assertions {
        let (row_seq, kind) = (seq_to_sql(a_row.seq)?, enum_to_sql(&a_row.kind)?);
        conn.prepare_cached(
            "INSERT INTO assertions (agent_id, stream_seq, assertion_ref, target, kind, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                a,
                row_seq,
                a_row.assertion_ref.0.as_bytes(),
                a_row.target.0.as_bytes(),
                kind,
                a_row.at.0,
            ])
        })
        .map_err(sql("inserting an assertion"))?;
    }

    for e in &append.edges {
        let row_seq = seq_to_sql(e.seq)?;
        // Edges are unique per (agent, from, to, kind): a unit repeating one is refused.
        let inserted = conn
            .prepare_cached(
                "INSERT INTO edges (agent_id, stream_seq, from_ref, to_ref, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![a, row_seq, e.from.0.as_bytes(), e.to.0.as_bytes(), e.kind.as_str()])
            });
        unique(inserted, "inserting an edge", || {
            format!("the edge {} -{:?}-> {} already exists", e.from, e.kind, e.to)
        })?;
    }

    for (pos, e) in append.entries.iter().enumerate() {
        let pos = i64::try_from(pos)
            .map_err(|_| SqliteError::Conflict("too many ledger entries in one unit".into()))?;
        let (rationale, row_seq) = (json_to_sql(&e.rationale)?, seq_to_sql(e.seq)?);
        conn.prepare_cached(
            "INSERT INTO ledger_entries (agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition, \
             rationale, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut s| {
            s.execute(params![
                a,
                row_seq,
                pos,
                i64::from(e.index),
                e.claim_ref.0.as_bytes(),
                e.event.as_str(),
                e.disposition.as_str(),
                rationale,
                e.recorded_at.0,
            ])
        })
        .map_err(sql("inserting a ledger entry"))?;
    }

    for j in &append.adjudications {
        if &j.agent_id != agent {
            return Err(SqliteError::Conflict(format!(
                "adjudication {} belongs to agent {}",
                j.handle, j.agent_id
            )));
        }
        let incumbents = json_to_sql(&j.incumbents)?;
        let (status, row_seq) = (enum_to_sql(&j.status)?, seq_to_sql(j.seq)?);
        conn.prepare_cached(
            "INSERT INTO adjudications (agent_id, stream_seq, handle, subject, predicate, challenger, incumbents, \
             queued_at, expires_at, status, notified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .and_then(|mut s| {
            s.execute(params![
                a,
                row_seq,
                j.handle.0.as_bytes(),
                j.subject,
                j.predicate,
                j.challenger.0.as_bytes(),
                incumbents,
                j.queued_at.0,
                j.expires_at.map(|t| t.0),
                status,
                j.notified,
            ])
        })
        .map_err(sql("inserting an adjudication"))?;
    }

    for change in &append.status_changes {
        let status = enum_to_sql(&change.status)?;
        conn.prepare_cached(
            "UPDATE adjudications SET status = ?3, closed_seq = ?4 WHERE agent_id = +?1 AND handle = +?2",
        )
        .and_then(|mut s| s.execute(params![a, change.handle.0.as_bytes(), status, seq]))
        .map_err(sql("closing an adjudication"))?;
    }
    if let Some(record) = &append.idempotency {
        let answer = json_to_sql(&record.answer)?;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (agent_id, key, stream_seq, request, answer) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![a, record.key, seq, record.request, answer]));
        unique(inserted, "inserting an idempotency key", || {
            format!("idempotency key {:?} is already stored", record.key)
        })?;
    }
    Ok(Head { seq: append.seq, tx_time: append.tx_time })
}

/// The result of an insert into a table with a uniqueness constraint: a violation refuses the
/// unit (`Conflict`, saying `what` repeats); any other failure is described by `ctx`.
fn unique(
    inserted: rusqlite::Result<usize>,
    ctx: &'static str,
    what: impl FnOnce() -> String,
) -> SqlResult<()> {
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Err(SqliteError::Conflict(format!("{} ({e})", what())))
        }
        Err(e) => Err(SqliteError::sqlite(ctx)(e)),
    }
}

/// Sets the `notified` flag of one adjudication row (consumes no seq).
pub(crate) fn mark_notified(
    conn: &Connection,
    agent: &AgentId,
    handle: credence_core::Handle,
) -> SqlResult<()> {
    conn.prepare_cached("UPDATE adjudications SET notified = 1 WHERE agent_id = +?1 AND handle = +?2")
        .and_then(|mut s| s.execute(params![agent.as_str(), handle.0.as_bytes()]))
        .map_err(SqliteError::sqlite("marking an adjudication notified"))?;
    Ok(())
}
