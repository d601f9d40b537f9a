//! The `live_claims` index (schema version 4): the claims of each line live at the head, kept
//! in the commit unit that changes them. Each claim the unit touches (`Append::touched_claims`)
//! has its state folded from all its entries and assertions — the unit's included — with
//! `credence_core::liveness`, the engine's own rule (`LedgerRead::claim_state`), and its row
//! written or removed.

use credence_core::{AgentId, Append, LedgerRead, Result};
use rusqlite::{Connection, params};

use crate::codec::enum_to_sql;
use crate::error::SqliteError;
use crate::read::View;

/// Updates the index for every claim `append` touches, its rows already inserted and visible
/// to `view` (the unit's view on the write connection).
pub(crate) fn update(conn: &Connection, view: &View<'_>, agent: &AgentId, append: &Append) -> Result<()> {
    let own = append.own_claim_states();
    for claim_ref in append.touched_claims() {
        // A claim new in this unit has no rows before it: its state is the unit's own rows'.
        let (line, state) = match own.iter().find(|(c, _)| c.claim_ref == claim_ref) {
            Some((c, state)) => (Some((c.subject.clone(), c.predicate.clone())), *state),
            None => (view.claim(claim_ref)?.map(|c| (c.subject, c.predicate)), view.claim_state(claim_ref)?),
        };
        // An entry about a claim the agent does not hold changes no line.
        let Some((subject, predicate)) = line else { continue };
        let written = match state.filter(|s| s.is_live()) {
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
                .and_then(|mut st| {
                    st.execute(params![agent.as_str(), subject, predicate, claim_ref.0.as_bytes()])
                }),
        };
        written.map_err(SqliteError::sqlite("updating the live claims"))?;
    }
    Ok(())
}
