//! The rows of a sequential ingest written by hand: what the storage alone costs.
//!
//! An ingest of a claim on a new line stores its unit, the claim, its ledger entry, its live
//! row (whose trigger counts the line) and the line's search postings, each with the indexes
//! credence's schema keeps on them. These baselines write exactly those rows with the raw
//! driver into credence's own schema (made by opening the backend), one transaction per claim
//! with the agent's lock — no engine, no reads, no decision. Their rate against the
//! single-row baseline is the most any ingest keeping these indexes can reach on the machine;
//! the sequential ingest's rate against theirs is what the engine and adapter add.

use std::path::Path;
use std::time::{Duration, Instant};

use credence_core::{ClaimEngine, Engine, IngestRequest};
use credence_sqlite::{SqliteConfig, SqliteLedger};
use serde_json::json;
use uuid::Uuid;

/// The agent whose rows the baselines write.
const AGENT: &str = "rows";

/// The rationale stored with a claim committed on the cheap path.
const RATIONALE: &str = r#"{"rationale":"cheap_path"}"#;

/// A value key of claim `i`: 16 bytes, as long as the stored hash of a value.
fn value_key(i: u64) -> [u8; 16] {
    Uuid::from_u128(u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)).into_bytes()
}

/// The line and value of claim `i`, as the history bench's sequential ingests name them.
fn line_of(i: u64) -> (String, String) {
    (format!("r-{i}"), i.to_string())
}

/// The rows written into a credence SQLite agent file with rusqlite.
pub struct SqliteRows {
    conn: rusqlite::Connection,
    next: u64,
    seq: i64,
    tx: i64,
    id: i64,
}

impl SqliteRows {
    /// Makes agent `rows` in a fresh store under `dir` with `config` (one ingest, so the file
    /// exists with credence's schema), closes it and opens the file with the backend's PRAGMAs.
    pub fn open(dir: &Path, config: &SqliteConfig) -> Result<SqliteRows, String> {
        let err = |e: rusqlite::Error| e.to_string();
        let engine = Engine::new(SqliteLedger::open(dir, config.clone()).map_err(|e| e.to_string())?);
        engine.ingest(IngestRequest::new(AGENT, "first", "p", 0)).map_err(|e| e.to_string())?;
        drop(engine);
        let file = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "sqlite3"))
            .ok_or("no agent file was made")?;
        let conn = rusqlite::Connection::open(file).map_err(err)?;
        crate::baseline::durable(&conn).map_err(err)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(err)?;
        let (seq, tx, id) = conn
            .query_row(
                "SELECT max(stream_seq), max(tx_time), (SELECT max(id) FROM claims) FROM commits",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(err)?;
        Ok(SqliteRows { conn, next: 0, seq, tx, id })
    }

    /// Writes the rows of `n` more claims (without their search postings unless `postings`),
    /// one transaction each; returns how long that took.
    pub fn insert(&mut self, n: u64, postings: bool) -> Result<Duration, String> {
        let err = |e: rusqlite::Error| e.to_string();
        let start = Instant::now();
        for i in self.next..self.next + n {
            let (subject, value) = line_of(i);
            let terms = credence_core::terms::of_parts(&subject, "p", &json!(i));
            let claim_ref = Uuid::now_v7();
            (self.seq, self.tx, self.id) = (self.seq + 1, self.tx + 1, self.id + 1);
            let c = &self.conn;
            c.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])).map_err(err)?;
            c.prepare_cached("INSERT INTO commits (agent_id, stream_seq, tx_time, first_claim, n_claims) VALUES (?1, ?2, ?3, ?4, 1)")
                .and_then(|mut s| s.execute(rusqlite::params![AGENT, self.seq, self.tx, self.id]))
                .map_err(err)?;
            c.prepare_cached(
                "INSERT INTO claims (agent_id, stream_seq, claim_ref, tx_time, subject, predicate, value, provenance, \
                 cardinality, confidence, criticality, has_valid_time, derived_from, depends_on, id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'p', ?6, 'FirstHand', 'Functional', 1.0, 'Medium', 0, '[]', '[]', ?7)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![AGENT, self.seq, claim_ref.as_bytes(), self.tx, subject, value, self.id])
            })
            .map_err(err)?;
            c.prepare_cached(
                "INSERT INTO ledger_entries (agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition, \
                 rationale, recorded_at) VALUES (?1, ?2, 0, 0, ?3, 'ClaimCommitted', 'CommittedCheap', ?4, ?5)",
            )
            .and_then(|mut s| s.execute(rusqlite::params![AGENT, self.seq, claim_ref.as_bytes(), RATIONALE, self.tx]))
            .map_err(err)?;
            c.prepare_cached(
                "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, value_key, \
                 lo, hi, trust, short, set_valued, since, flagged_from) \
                 VALUES (?1, ?2, 'p', ?3, 'CommittedCheap', 0, ?4, NULL, NULL, -1.0, 0, 0, ?5, NULL)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![AGENT, subject, claim_ref.as_bytes(), value_key(i).as_slice(), self.seq])
            })
            .map_err(err)?;
            for term in terms.iter().filter(|_| postings) {
                c.prepare_cached(
                    "INSERT INTO terms (agent_id, term, subject, predicate, first_seq) VALUES (?1, ?2, ?3, 'p', ?4) \
                     ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| s.execute(rusqlite::params![AGENT, term, subject, self.seq]))
                .map_err(err)?;
            }
            c.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map_err(err)?;
        }
        self.next += n;
        Ok(start.elapsed())
    }
}

/// The rows written into a credence PostgreSQL schema with the `postgres` crate: each
/// claim's rows one simple-query round trip of prepared statements under the agent's
/// advisory lock, as credence-postgres sends an ingest decided ahead.
pub struct PostgresRows {
    client: postgres::Client,
    schema: String,
    next: u64,
    seq: i64,
    tx: i64,
}

impl PostgresRows {
    /// Makes agent `rows` in credence's schema at `url` (one ingest through the backend, so
    /// the schema and the agent exist) and prepares the inserts.
    pub fn open(url: &str, schema: &str) -> Result<PostgresRows, String> {
        let err = |e: postgres::Error| e.to_string();
        {
            let ledger = credence_postgres::PostgresLedger::from_url(&crate::store::schema_url(url, schema))
                .map_err(|e| e.to_string())?;
            let engine = Engine::new(ledger);
            engine.ingest(IngestRequest::new(AGENT, "first", "p", 0)).map_err(|e| e.to_string())?;
        }
        let mut client = crate::baseline::pg_client(url)?;
        client
            .batch_execute(&format!(
                "SET search_path TO \"{schema}\";
                 PREPARE r_unit(text, bigint, bigint) AS INSERT INTO units (agent_id, stream_seq, tx_time) VALUES ($1, $2, $3);
                 PREPARE r_claim(text, uuid, bigint, text, text, bigint, bytea) AS INSERT INTO claims (agent_id, claim_ref,
                    stream_seq, ord, subject, predicate, value, provenance, cardinality, confidence, criticality,
                    has_valid_time, tx_time, derived_from, depends_on, value_key)
                    VALUES ($1, $2, $3, 0, $4, 'p', $5, 'FirstHand', 'Functional', 1.0, 'Medium', false, $6, '{{}}', '{{}}', $7);
                 PREPARE r_entry(text, bigint, uuid, bigint) AS INSERT INTO entries (agent_id, stream_seq, idx, ord,
                    claim_ref, event, disposition, rationale, recorded_at)
                    VALUES ($1, $2, 0, 0, $3, 'ClaimCommitted', 'CommittedCheap', '{RATIONALE}', $4);
                 PREPARE r_line(text, text) AS INSERT INTO lines (agent_id, subject, predicate) VALUES ($1, $2, 'p')
                    ON CONFLICT DO NOTHING;
                 PREPARE r_terms(text, text[], text, bigint) AS INSERT INTO terms (agent_id, term, subject, predicate,
                    first_seq) SELECT $1, t, $3, 'p', $4 FROM unnest($2) AS t ON CONFLICT DO NOTHING;
                 PREPARE r_live(text, text, uuid, bytea, bigint) AS INSERT INTO live_claims (agent_id, subject,
                    predicate, claim_ref, disposition, flagged, value_key, lo, hi, trust, short, set_valued, since,
                    flagged_from) VALUES ($1, $2, 'p', $3, 'CommittedCheap', false, $4, NULL, NULL, -1.0, false, false,
                    $5, NULL);"
            ))
            .map_err(err)?;
        let (seq, tx): (i64, i64) = {
            let row = client
                .query_one("SELECT max(stream_seq), max(tx_time) FROM units WHERE agent_id = $1", &[&AGENT])
                .map_err(err)?;
            (row.get(0), row.get(1))
        };
        Ok(PostgresRows { client, schema: schema.to_owned(), next: 0, seq, tx })
    }

    /// Writes the rows of `n` more claims (without their search postings unless `postings`),
    /// one transaction (and round trip) each; returns how long that took.
    pub fn insert(&mut self, n: u64, postings: bool) -> Result<Duration, String> {
        let start = Instant::now();
        for i in self.next..self.next + n {
            let (subject, value) = line_of(i);
            let terms = credence_core::terms::of_parts(&subject, "p", &json!(i));
            // Terms are lowercased words and numbers, the subject ASCII: no quoting needed.
            let terms = terms.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
            let claim_ref = Uuid::now_v7();
            let key: String = value_key(i).iter().map(|b| format!("{b:02x}")).collect();
            (self.seq, self.tx) = (self.seq + 1, self.tx + 1);
            let (seq, tx) = (self.seq, self.tx);
            let postings = if postings {
                format!("EXECUTE r_terms('{AGENT}', ARRAY[{terms}]::text[], '{subject}', {seq});")
            } else {
                String::new()
            };
            let sql = format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7421); \
                 EXECUTE r_unit('{AGENT}', {seq}, {tx}); \
                 EXECUTE r_claim('{AGENT}', '{claim_ref}', {seq}, '{subject}', '{value}', {tx}, '\\x{key}'); \
                 EXECUTE r_entry('{AGENT}', {seq}, '{claim_ref}', {tx}); \
                 EXECUTE r_line('{AGENT}', '{subject}'); \
                 {postings} \
                 EXECUTE r_live('{AGENT}', '{subject}', '{claim_ref}', '\\x{key}', {seq}); \
                 COMMIT;"
            );
            self.client.batch_execute(&sql).map_err(|e| e.to_string())?;
        }
        self.next += n;
        Ok(start.elapsed())
    }
}

/// The rows of either backend.
pub enum Rows {
    Sqlite(SqliteRows),
    Postgres(Box<PostgresRows>),
}

impl Rows {
    /// Writes the rows of `n` more claims (without their search postings unless `postings`);
    /// returns how long that took.
    pub fn insert(&mut self, n: u64, postings: bool) -> Result<Duration, String> {
        match self {
            Rows::Sqlite(r) => r.insert(n, postings),
            Rows::Postgres(r) => r.insert(n, postings),
        }
    }

    /// Removes the PostgreSQL schema the rows went into (the SQLite file lives in the run's
    /// directory, removed with it).
    pub fn finish(self) -> Result<(), String> {
        match self {
            Rows::Sqlite(_) => Ok(()),
            Rows::Postgres(mut r) => {
                let sql = format!("DROP SCHEMA \"{}\" CASCADE", r.schema);
                r.client.batch_execute(&sql).map_err(|e| e.to_string())
            }
        }
    }
}
