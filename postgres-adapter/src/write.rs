//! Appending one commit unit's rows inside the write transaction.

use credence_core::Append;
use uuid::Uuid;

use crate::codec::{self, ord_param, seq_param};
use crate::error::{PgError, PgResult};
use crate::pool::PgConnection;
use crate::read::PgView;

/// Checks `append` against the agent's current head and existing claims (the same refusals
/// as the reference backend), then inserts every row. Runs under the agent's advisory lock.
pub(crate) fn append(conn: &mut PgConnection, agent: &str, append: &Append) -> PgResult<()> {
    let (head, existing) = {
        let view = PgView::new(conn, agent);
        let refs: Vec<Uuid> = append.claims.iter().map(|c| c.claim_ref.0).collect();
        view.head_and_existing_claims(&refs)?
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
    if let Some(dup) = existing.first() {
        return Err(PgError::Conflict(format!("claim {dup} already exists")));
    }
    insert_rows(conn, agent, append, head.is_none())
}

fn insert_rows(conn: &mut PgConnection, agent: &str, append: &Append, first_unit: bool) -> PgResult<()> {
    let seq = seq_param(append.seq)?;
    let stmt = conn.statement("INSERT INTO units (agent_id, stream_seq, tx_time) VALUES ($1, $2, $3)")?;
    conn.client().execute(&stmt, &[&agent, &seq, &append.tx_time.0])?;
    if first_unit {
        let stmt = conn.statement("INSERT INTO agents (agent_id) VALUES ($1) ON CONFLICT DO NOTHING")?;
        conn.client().execute(&stmt, &[&agent])?;
    }

    for (i, c) in append.claims.iter().enumerate() {
        let stmt = conn.statement(
            "INSERT INTO claims (agent_id, claim_ref, stream_seq, ord, subject, predicate, value, provenance, \
             cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
             vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )?;
        let value = serde_json::to_string(&c.value)
            .map_err(|e| PgError::Conflict(format!("claim value does not serialise: {e}")))?;
        let vt = c.valid_time.as_ref();
        let derived: Vec<Uuid> = c.derived_from.iter().map(|r| r.0).collect();
        let depends: Vec<Uuid> = c.depends_on.iter().map(|r| r.0).collect();
        conn.client().execute(
            &stmt,
            &[
                &agent,
                &c.claim_ref.0,
                &seq_param(c.seq)?,
                &ord_param(i)?,
                &c.subject,
                &c.predicate,
                &value,
                &c.provenance.as_str(),
                &codec::cardinality_str(c.cardinality),
                &c.confidence,
                &codec::criticality_str(c.criticality),
                &vt.is_some(),
                &vt.and_then(|w| w.start).map(|t| t.0),
                &vt.and_then(|w| w.end).map(|t| t.0),
                &vt.map(|w| w.confidence),
                &vt.and_then(|w| w.start_granularity).map(codec::granularity_str),
                &vt.and_then(|w| w.end_granularity).map(codec::granularity_str),
                &c.tx_time.0,
                &derived,
                &depends,
            ],
        )?;
    }

    if !append.entries.is_empty() {
        // One statement for all entries of the unit (a unit can flag hundreds of dependents).
        let n = append.entries.len();
        let (mut seqs, mut idxs, mut ords, mut refs) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut events, mut dispositions, mut rationales, mut times) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, e) in append.entries.iter().enumerate() {
            seqs.push(seq_param(e.seq)?);
            idxs.push(i64::from(e.index));
            ords.push(ord_param(i)?);
            refs.push(e.claim_ref.0);
            events.push(e.event.as_str());
            dispositions.push(e.disposition.as_str());
            rationales
                .push(serde_json::to_string(&e.rationale).map_err(|err| {
                    PgError::Conflict(format!("entry rationale does not serialise: {err}"))
                })?);
            times.push(e.recorded_at.0);
        }
        let stmt = conn.statement(
            "INSERT INTO entries (agent_id, stream_seq, idx, ord, claim_ref, event, disposition, rationale, \
             recorded_at) SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::integer[], $5::uuid[], \
             $6::text[], $7::text[], $8::text[], $9::bigint[])",
        )?;
        conn.client().execute(
            &stmt,
            &[&agent, &seqs, &idxs, &ords, &refs, &events, &dispositions, &rationales, &times],
        )?;
    }

    for (i, a) in append.assertions.iter().enumerate() {
        let stmt = conn.statement(
            "INSERT INTO assertions (agent_id, stream_seq, ord, assertion_ref, target, kind, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )?;
        conn.client().execute(
            &stmt,
            &[
                &agent,
                &seq_param(a.seq)?,
                &ord_param(i)?,
                &a.assertion_ref.0,
                &a.target.0,
                &codec::assertion_kind_str(a.kind),
                &a.at.0,
            ],
        )?;
    }

    for (i, e) in append.edges.iter().enumerate() {
        // An edge that already exists is kept as it was (edges are unique per from/to/kind).
        let stmt = conn.statement(
            "INSERT INTO edges (agent_id, from_ref, to_ref, kind, stream_seq, ord) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )?;
        conn.client().execute(
            &stmt,
            &[&agent, &e.from.0, &e.to.0, &e.kind.as_str(), &seq_param(e.seq)?, &ord_param(i)?],
        )?;
    }

    for (i, a) in append.adjudications.iter().enumerate() {
        let stmt = conn.statement(
            "INSERT INTO adjudications (agent_id, handle, stream_seq, ord, subject, predicate, challenger, \
             incumbents, queued_at, expires_at, status, notified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )?;
        let incumbents: Vec<Uuid> = a.incumbents.iter().map(|r| r.0).collect();
        conn.client().execute(
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
        conn.client().execute(&stmt, &[&agent, &change.handle.0, &change.status.as_str(), &seq])?;
    }
    Ok(())
}
