//! The search postings (schema version 7): a `terms` row per term and line that a claim of the
//! line carried ([`credence_core::terms::of_claim`]), with the first unit that carried it,
//! written with each claim in its commit unit; [`rebuild`] derives them from the claims again.

use credence_core::{Claim, Result};
use rusqlite::{Connection, params};

use crate::codec::{json_from_sql, seq_to_sql};
use crate::error::{SqlResult, SqliteError};
use crate::read::{get, text};

/// Adds the postings of `claim` (of agent `agent`) that its line does not have yet.
pub(crate) fn insert(conn: &Connection, agent: &str, claim: &Claim) -> SqlResult<()> {
    let terms = credence_core::terms::of_claim(claim);
    add(conn, (agent, &claim.subject, &claim.predicate), seq_to_sql(claim.seq)?, &terms)
}

fn add(
    conn: &Connection,
    (agent, subject, predicate): (&str, &str, &str),
    seq: i64,
    terms: &[String],
) -> SqlResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO terms (agent_id, term, subject, predicate, first_seq) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT DO NOTHING",
        )
        .map_err(SqliteError::sqlite("preparing a term insert"))?;
    for term in terms {
        stmt.execute(params![agent, term, subject, predicate, seq])
            .map_err(SqliteError::sqlite("inserting a term"))?;
    }
    Ok(())
}

/// Derives every posting from the claims again (in claim order, so each keeps its first unit);
/// returns how many there are.
pub(crate) fn rebuild(conn: &Connection) -> Result<u64> {
    conn.execute("DELETE FROM terms", []).map_err(SqliteError::sqlite("clearing the terms"))?;
    let mut stmt = conn
        .prepare("SELECT agent_id, stream_seq, subject, predicate, value FROM claims ORDER BY id")
        .map_err(SqliteError::sqlite("listing the claims"))?;
    let mut rows = stmt.query([]).map_err(SqliteError::sqlite("listing the claims"))?;
    while let Some(row) = rows.next().map_err(SqliteError::sqlite("reading a claim"))? {
        let what = "claims row";
        let (agent, seq): (String, i64) = (get(row, 0)?, get(row, 1)?);
        let (subject, predicate): (String, String) = (get(row, 2)?, get(row, 3)?);
        let value = json_from_sql(text(row, 4, what)?, what)?;
        let terms = credence_core::terms::of_parts(&subject, &predicate, &value);
        add(conn, (&agent, &subject, &predicate), seq, &terms)?;
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM terms", [], |r| r.get(0))
        .map_err(SqliteError::sqlite("counting the terms"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}
