//! The live-claims index (schema versions 4 and 5): the claims of each line live at the head,
//! each with what finds it by valid time ([`IndexColumns`]), and per line the counters of
//! `live_lines` that the schema's triggers keep in step with them. Kept in the commit unit
//! that changes them: each claim the unit touches (`Append::touched_claims`) has its state
//! folded from all its entries and assertions — the unit's included — with
//! `credence_core::liveness`, the engine's own rule (`LedgerRead::claim_state`), and its row
//! written or removed. [`rebuild`] derives the whole index from the rows again.

use credence_core::liveness::{ClaimState, IndexColumns};
use credence_core::{AgentId, Append, Claim, ClaimRef, LedgerRead, Result};
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
        let (claim, state) = match own.iter().find(|(c, _)| c.claim_ref == claim_ref) {
            Some((c, state)) => (Some((*c).clone()), *state),
            None => (view.claim(claim_ref)?, view.claim_state(claim_ref)?),
        };
        // An entry about a claim the agent does not hold changes no line.
        let Some(claim) = claim else { continue };
        let new = own.iter().any(|(c, _)| c.claim_ref == claim_ref);
        write(conn, agent, &claim, state, new)?;
    }
    Ok(())
}

/// Writes one claim's row for its state: kept (its disposition and flag brought up to date)
/// or added when live, removed when not. A claim `new` in its unit has no row yet.
fn write(
    conn: &Connection,
    agent: &AgentId,
    claim: &Claim,
    state: Option<ClaimState>,
    new: bool,
) -> Result<()> {
    let key = params![agent.as_str(), claim.subject, claim.predicate, claim.claim_ref.0.as_bytes()];
    let sqlite = SqliteError::sqlite("updating the live claims");
    let Some(s) = state.filter(|s| s.is_live()) else {
        if new {
            return Ok(());
        }
        conn.prepare_cached(
            "DELETE FROM live_claims WHERE agent_id = ?1 AND subject = ?2 AND predicate = ?3 AND claim_ref = ?4",
        )
        .and_then(|mut st| st.execute(key))
        .map_err(sqlite)?;
        return Ok(());
    };
    let disposition = enum_to_sql(&s.disposition)?;
    if new {
        return insert(conn, agent, claim, &disposition, s.flagged);
    }
    // An update first: a row replaced would count the claim's clashes twice.
    let kept = conn
        .prepare_cached(
            "UPDATE live_claims SET disposition = ?5, flagged = ?6 WHERE agent_id = ?1 AND subject = ?2 \
             AND predicate = ?3 AND claim_ref = ?4",
        )
        .and_then(|mut st| {
            st.execute(params![
                agent.as_str(),
                claim.subject,
                claim.predicate,
                claim.claim_ref.0.as_bytes(),
                disposition,
                s.flagged
            ])
        })
        .map_err(SqliteError::sqlite("updating the live claims"))?;
    if kept > 0 {
        return Ok(());
    }
    insert(conn, agent, claim, &disposition, s.flagged)
}

/// Adds a live claim's row.
fn insert(conn: &Connection, agent: &AgentId, claim: &Claim, disposition: &str, flagged: bool) -> Result<()> {
    let c = IndexColumns::of(claim);
    conn.prepare_cached(
        "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, value_key, lo, \
         hi, trust, short, set_valued) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            agent.as_str(),
            claim.subject,
            claim.predicate,
            claim.claim_ref.0.as_bytes(),
            disposition,
            flagged,
            c.value_key.as_slice(),
            c.lo,
            c.hi,
            f64::from(c.trust),
            c.short,
            c.set_valued
        ])
    })
    .map_err(SqliteError::sqlite("updating the live claims"))?;
    Ok(())
}

/// Derives the whole index from the ledger rows again, inside the caller's transaction: every
/// claim's state folded as [`update`] folds it. Returns how many claims are live.
pub(crate) fn rebuild(conn: &Connection) -> Result<u64> {
    conn.execute_batch("DELETE FROM live_claims; DELETE FROM live_lines")
        .map_err(SqliteError::sqlite("clearing the live claims"))?;
    let stored: Option<String> = conn
        .query_row("SELECT agent_id FROM agent WHERE singleton = 1", [], |r| r.get(0))
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        .map_err(SqliteError::sqlite("reading the stored agent id"))?;
    let Some(stored) = stored else { return Ok(0) };
    let agent = AgentId::new(&stored)
        .map_err(|r| SqliteError::Decode(format!("the stored agent id {stored:?} is not valid: {r}")))?;
    let refs: Vec<Vec<u8>> = conn
        .prepare("SELECT claim_ref FROM claims ORDER BY id")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(SqliteError::sqlite("listing the claims"))?;
    let view = View::new(conn, &agent);
    let mut live = 0;
    for bytes in refs {
        let claim_ref = ClaimRef(crate::codec::uuid_from_sql(&bytes, "claims row")?);
        let claim = view.claim(claim_ref)?.ok_or_else(|| {
            SqliteError::Decode(format!("claim {claim_ref} is not of the file's agent {stored:?}"))
        })?;
        let state = view.claim_state(claim_ref)?;
        live += u64::from(state.is_some_and(|s| s.is_live()));
        write(conn, &agent, &claim, state, true)?;
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use crate::config::SqliteConfig;
    use crate::schema::{self, Role, Target};

    /// SQLite's virtual-machine steps to insert one more live claim with a one-hour window into
    /// a line already holding `held` of them, one per hour (the triggers' work included).
    fn steps_to_add_one(held: i64) -> Result<i32, Box<dyn std::error::Error>> {
        let config = SqliteConfig::default();
        let target = Target::Memory(format!("/credence-live-steps-{}-{held}", std::process::id()));
        let mut conn = schema::open(&target, Role::Writer, &config)?;
        schema::migrate(&mut conn, "a", config.busy_timeout)?;
        let insert = "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, \
                      value_key, lo, hi, trust, short, set_valued) \
                      VALUES ('a', 's', 'p', ?1, 'CommittedCheap', 0, ?2, ?3, ?4, 1.0, 1, 0)";
        let hour = 3_600_000_000_i64;
        for i in 0..held {
            conn.execute(
                insert,
                rusqlite::params![i.to_be_bytes(), i.to_be_bytes(), i * hour, (i + 1) * hour],
            )?;
        }
        // One more, in the middle of the line, of a value no other claim holds.
        let mut stmt = conn.prepare(insert)?;
        let middle = held / 2;
        stmt.execute(rusqlite::params![
            (-1_i64).to_be_bytes(),
            (-1_i64).to_be_bytes(),
            middle * hour,
            middle * hour + 1
        ])?;
        Ok(stmt.get_status(StatementStatus::VmStep))
    }

    /// Keeping a line's summary costs what the new window overlaps, not what the line holds: the
    /// triggers find the short windows by start and scan only the others (a plan that read the
    /// whole line made ingest slow down as its valid-time succession grew).
    #[test]
    fn adding_a_live_claim_costs_the_same_whatever_the_line_holds() -> Result<(), Box<dyn std::error::Error>>
    {
        let (small, large) = (steps_to_add_one(100)?, steps_to_add_one(3_000)?);
        assert!(large < small * 2, "{small} steps beside 100 claims, {large} beside 3 000");
        Ok(())
    }
}
