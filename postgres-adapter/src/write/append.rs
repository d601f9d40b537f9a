//! Appending one commit unit's rows inside the write transaction: the checks every backend
//! makes (the next seq, a later tx_time, a sound shape), then the rows — all but adjudication
//! rows, status changes and idempotency records in one `EXECUTE credence_append`, queued or
//! sent as [`Timing`] says, followed by the update of the live-claims index.

use credence_core::{Append, Head};
use postgres::error::SqlState;
use uuid::Uuid;

use super::view;
use crate::codec::{ord_param, seq_param, unit_rows};
use crate::error::{Failure, PgError, PgResult, refusal};
use crate::pool::PgConnection;
use crate::sql;

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
    let head = view::head(conn, agent)?;
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
    let mut sql = sql::insert_sql(agent, &unit_rows(append, head.is_none())?)?;
    // The live-claims index, in the same round trip (it reads the rows just inserted).
    if let Some(live) = sql::live_for_unit(agent, append) {
        sql.push_str("; ");
        sql.push_str(&live);
    }
    let new_head = Some(Head { seq: append.seq, tx_time: append.tx_time });
    match timing {
        Timing::Defer => {
            conn.defer(&sql);
            conn.track_head(agent, new_head);
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
    conn.track_head(agent, new_head);
    Ok(false)
}

/// True for a unit whose rows all go into the one `credence_append` statement: no adjudication
/// rows, status changes or idempotency record (those go through the extended protocol after it).
pub(crate) fn is_plain(append: &Append) -> bool {
    append.adjudications.is_empty() && append.status_changes.is_empty() && append.idempotency.is_none()
}

/// Maps the insert's refusal of an existing claim (`refusal::CLAIM_EXISTS`) and of a stored
/// edge (the edges' primary key) to a conflict. A repeated idempotency key stays a unique
/// violation, which is retried: the retry finds the key.
fn refused(seq: u64) -> impl Fn(PgError) -> PgError {
    move |e| match &e {
        _ if matches!(Failure::of(&e), Failure::Refused(refusal::CLAIM_EXISTS, _)) => {
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

fn insert_adjudications(conn: &mut PgConnection, agent: &str, append: &Append) -> PgResult<()> {
    let seq = seq_param(append.seq)?;
    for (i, a) in append.adjudications.iter().enumerate() {
        let stmt = conn.statement(sql::INSERT_ADJUDICATION)?;
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
        let stmt = conn.statement(sql::CLOSE_ADJUDICATION)?;
        conn.raw().execute(&stmt, &[&agent, &change.handle.0, &change.status.as_str(), &seq])?;
    }

    if let Some(record) = &append.idempotency {
        let answer = serde_json::to_string(&record.answer)
            .map_err(|e| PgError::Conflict(format!("an idempotency answer does not serialise: {e}")))?;
        let stmt = conn.statement(sql::INSERT_IDEMPOTENCY)?;
        conn.raw().execute(&stmt, &[&agent, &record.key, &seq, &record.request, &answer])?;
    }
    Ok(())
}
