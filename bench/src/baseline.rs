//! The raw-driver baselines: single-row inserts into a table shaped like the claims table, one
//! transaction per row, with the same durability settings as the backend.

use std::path::Path;
use std::time::Instant;

/// Rows per second inserting `n` rows with rusqlite into a fresh file under `dir`, with the
/// PRAGMAs credence-sqlite uses (WAL, synchronous=FULL), one `BEGIN IMMEDIATE … COMMIT` per row.
pub fn sqlite_inserts(dir: &Path, n: u64) -> Result<f64, String> {
    let err = |e: rusqlite::Error| e.to_string();
    let conn = rusqlite::Connection::open(dir.join("baseline.db")).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    conn.execute_batch(
        "CREATE TABLE baseline (agent_id TEXT NOT NULL, stream_seq INTEGER NOT NULL, claim_ref TEXT NOT NULL,
            subject TEXT NOT NULL, predicate TEXT NOT NULL, value TEXT NOT NULL, tx_time INTEGER NOT NULL,
            UNIQUE (agent_id, stream_seq));",
    )
    .map_err(err)?;
    let start = Instant::now();
    for i in 0..n {
        let seq = i64::try_from(i + 1).map_err(|e| e.to_string())?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        conn.execute(
            "INSERT INTO baseline VALUES ('bench', ?1, ?2, ?3, 'p', ?4, ?5)",
            rusqlite::params![seq, format!("ref-{i}"), format!("subject-{i}"), i.to_string(), seq],
        )
        .map_err(err)?;
        conn.execute_batch("COMMIT").map_err(err)?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// A plain client for a credence store URL (query options are credence's, so they are
/// dropped; the bench runs against a local server without TLS).
pub fn pg_client(url: &str) -> Result<postgres::Client, String> {
    let base = url.split('?').next().unwrap_or(url);
    postgres::Client::connect(base, postgres::NoTls).map_err(|e| format!("connecting to {base}: {e}"))
}

/// Rows per second inserting `n` rows with the `postgres` crate, one autocommit INSERT per row,
/// into a table in `schema`.
pub fn postgres_inserts(url: &str, schema: &str, n: u64) -> Result<f64, String> {
    let mut client = pg_client(url)?;
    let err = |e: postgres::Error| e.to_string();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             CREATE TABLE \"{schema}\".baseline (agent_id TEXT NOT NULL, stream_seq BIGINT NOT NULL,
                claim_ref TEXT NOT NULL, subject TEXT NOT NULL, predicate TEXT NOT NULL, value TEXT NOT NULL,
                tx_time BIGINT NOT NULL, UNIQUE (agent_id, stream_seq));"
        ))
        .map_err(err)?;
    let stmt = client
        .prepare(&format!("INSERT INTO \"{schema}\".baseline VALUES ('bench', $1, $2, $3, 'p', $4, $5)"))
        .map_err(err)?;
    let start = Instant::now();
    for i in 0..n {
        let seq = i64::try_from(i + 1).map_err(|e| e.to_string())?;
        client
            .execute(&stmt, &[&seq, &format!("ref-{i}"), &format!("subject-{i}"), &i.to_string(), &seq])
            .map_err(err)?;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    client.batch_execute(&format!("DROP TABLE \"{schema}\".baseline")).map_err(err)?;
    Ok(rate)
}
