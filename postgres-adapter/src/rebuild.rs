//! Deriving the indexes from the ledger rows again (SPEC §3.5): after the migration that
//! introduces them (schema version 5 leaves a `credence_rebuild` row naming what to build) and,
//! one agent at a time, whenever an operator asks (`Ledger::rebuild_indexes`, `credence
//! reindex`). Everything happens in one
//! transaction: readers see the old index or the new one, never a half-built one.

use postgres::{GenericClient, Transaction};

use crate::codec::hex;
use crate::error::{PgError, PgResult};
use crate::sql;

/// Claims given their value key per statement.
const KEY_PAGE: i64 = 5_000;

/// Gives every claim without a value key its key, then rebuilds `live_claims` and
/// `live_lines` from the rows. Returns how many claims are live.
pub(crate) fn rebuild(tx: &mut Transaction<'_>) -> PgResult<u64> {
    fill_value_keys(tx, None)?;
    tx.batch_execute(&sql::rebuild_live())?;
    let live: i64 = tx.query_one("SELECT count(*) FROM live_claims", &[])?.try_get(0)?;
    Ok(u64::try_from(live).unwrap_or(0))
}

/// Rebuilds `agent`'s part of the index inside the transaction open on `client` (which holds
/// the agent's lock): its claims' value keys computed where missing, its live claims derived
/// again. Returns how many are live.
pub(crate) fn rebuild_agent(client: &mut impl GenericClient, agent: &str) -> PgResult<u64> {
    fill_value_keys(client, Some(agent))?;
    for statement in sql::rebuild_agent_live().split("; ") {
        client.execute(statement, &[&agent])?;
    }
    let live: i64 =
        client.query_one("SELECT count(*) FROM live_claims WHERE agent_id = $1", &[&agent])?.try_get(0)?;
    Ok(u64::try_from(live).unwrap_or(0))
}

/// Computes the value key (`credence_core::liveness::value_key`) of every claim (of `only`
/// the agent, if given) stored without one, page by page in primary-key order.
fn fill_value_keys(tx: &mut impl GenericClient, only: Option<&str>) -> PgResult<()> {
    let mut after: Option<(String, uuid::Uuid)> = None;
    loop {
        let (agent, claim_ref) = after.clone().unwrap_or_default();
        let rows = tx.query(
            "SELECT agent_id, claim_ref, value FROM claims WHERE value_key IS NULL \
             AND ($1 OR (agent_id, claim_ref) > ($2, $3)) AND ($5::text IS NULL OR agent_id = $5) \
             ORDER BY agent_id, claim_ref LIMIT $4",
            &[&after.is_none(), &agent, &claim_ref, &KEY_PAGE, &only],
        )?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = Some((last.try_get(0)?, last.try_get(1)?));
        let (mut agents, mut refs, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let (agent, claim_ref, value): (String, uuid::Uuid, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let value: serde_json::Value = serde_json::from_str(&value).map_err(|e| {
                PgError::Corrupt(format!(
                    "claims row {claim_ref} of agent {agent:?}: value does not decode: {e}"
                ))
            })?;
            agents.push(agent);
            refs.push(claim_ref);
            keys.push(hex(&credence_core::liveness::value_key(&value)));
        }
        tx.execute(
            "UPDATE claims c SET value_key = decode(k, 'hex') FROM unnest($1::text[], $2::uuid[], $3::text[]) \
             AS u(a, r, k) WHERE c.agent_id = u.a AND c.claim_ref = u.r",
            &[&agents, &refs, &keys],
        )?;
    }
}
