//! The `live_claims` index (schema version 4): the claims of each line live at the head, kept
//! in the commit unit that changes them. Each claim the unit touches (`Append::touched_claims`)
//! has its state folded from all its entries and assertions — the unit's included — with
//! `credence_core::liveness`, the engine's own rule, and its row written or removed.

use credence_core::liveness::claim_states;
use credence_core::{AgentId, Append, Assertion, AssertionRef, ClaimRef, Event, StateMark, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::{enum_from_sql, enum_to_sql, seq_from_sql};
use crate::error::{SqlResult, SqliteError};
use crate::read::{blob_uuid, entry_index, get, text};

/// Updates the index for every claim `append` touches (its rows already inserted).
pub(crate) fn update(conn: &Connection, agent: &AgentId, append: &Append) -> SqlResult<()> {
    let own = append.own_claim_states();
    for claim_ref in append.touched_claims() {
        // A claim new in this unit has no rows before it: its state is the unit's own rows'.
        let (line, state) = match own.iter().find(|(c, _)| c.claim_ref == claim_ref) {
            Some((c, state)) => (Some((c.subject.clone(), c.predicate.clone())), *state),
            None => {
                let marks = marks(conn, agent, claim_ref)?;
                let state =
                    claim_states(&marks, &assertions(conn, agent, claim_ref)?).get(&claim_ref).copied();
                (line_of(conn, agent, claim_ref)?, state)
            }
        };
        // An entry about a claim the agent does not hold changes no line.
        let Some((subject, predicate)) = line else { continue };
        let state = state.filter(|s| s.is_live());
        let key = params![agent.as_str(), subject, predicate, claim_ref.0.as_bytes()];
        let written = match state {
            Some(s) => {
                let disposition = enum_to_sql(&s.disposition)?;
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, \
                     flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        agent.as_str(),
                        subject,
                        predicate,
                        claim_ref.0.as_bytes(),
                        disposition,
                        s.flagged
                    ])
                })
            }
            None => conn
                .prepare_cached(
                    "DELETE FROM live_claims WHERE agent_id = ?1 AND subject = ?2 AND predicate = ?3 \
                     AND claim_ref = ?4",
                )
                .and_then(|mut st| st.execute(key)),
        };
        written.map_err(SqliteError::sqlite("updating the live claims"))?;
    }
    Ok(())
}

fn line_of(conn: &Connection, agent: &AgentId, claim_ref: ClaimRef) -> SqlResult<Option<(String, String)>> {
    conn.prepare_cached("SELECT subject, predicate FROM claims WHERE agent_id = ?1 AND claim_ref = ?2")
        .and_then(|mut st| {
            st.query_row(params![agent.as_str(), claim_ref.0.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(SqliteError::sqlite("reading a claim's line"))
}

/// The claim's liveness marks, ordered by `(seq, index)`.
fn marks(conn: &Connection, agent: &AgentId, claim_ref: ClaimRef) -> SqlResult<Vec<StateMark>> {
    let what = "ledger_entries row";
    let mut st = conn
        .prepare_cached(
            "SELECT e.stream_seq, e.entry_index, e.event, e.disposition FROM ledger_entries e \
             INDEXED BY ledger_entries_by_claim WHERE e.agent_id = ?1 AND e.claim_ref = ?2 \
             ORDER BY e.stream_seq, e.entry_index",
        )
        .map_err(SqliteError::sqlite("reading a claim's entries"))?;
    let mut rows = st
        .query(params![agent.as_str(), claim_ref.0.as_bytes()])
        .map_err(SqliteError::sqlite("reading a claim's entries"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(SqliteError::sqlite("reading a claim's entries"))? {
        let event: Event = enum_from_sql(text(row, 2, what)?, what)?;
        if !Event::MARKS.contains(&event) {
            continue;
        }
        out.push(StateMark {
            claim_ref,
            seq: seq_from_sql(get(row, 0)?, what)?,
            index: entry_index(get(row, 1)?)?,
            event,
            disposition: enum_from_sql(text(row, 3, what)?, what)?,
        });
    }
    Ok(out)
}

/// The assertions about the claim, ordered by `(seq, assertion_ref)`.
fn assertions(conn: &Connection, agent: &AgentId, claim_ref: ClaimRef) -> SqlResult<Vec<Assertion>> {
    let what = "assertions row";
    let mut st = conn
        .prepare_cached(
            "SELECT a.assertion_ref, a.kind, a.at, a.stream_seq FROM assertions a \
             WHERE a.agent_id = ?1 AND a.target = ?2 ORDER BY a.stream_seq, a.assertion_ref, a.id",
        )
        .map_err(SqliteError::sqlite("reading a claim's assertions"))?;
    let mut rows = st
        .query(params![agent.as_str(), claim_ref.0.as_bytes()])
        .map_err(SqliteError::sqlite("reading a claim's assertions"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(SqliteError::sqlite("reading a claim's assertions"))? {
        out.push(Assertion {
            assertion_ref: AssertionRef(blob_uuid(row, 0, what)?),
            target: claim_ref,
            kind: enum_from_sql(text(row, 1, what)?, what)?,
            at: Timestamp(get(row, 2)?),
            seq: seq_from_sql(get(row, 3)?, what)?,
        });
    }
    Ok(out)
}
