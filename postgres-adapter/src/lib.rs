//! # credence-postgres
//!
//! The `postgres://` backend of credence: all agents in one PostgreSQL database (optionally
//! one schema), every table keyed by `agent_id`, times as `BIGINT` microseconds.
//!
//! ```no_run
//! use credence_core::{Engine, IngestRequest};
//! use credence_postgres::PostgresLedger;
//!
//! let ledger = PostgresLedger::from_url(
//!     "postgres://postgres@127.0.0.1:5432/test?schema=credence&pool_max=8&sslmode=disable",
//! )?;
//! let engine = Engine::builder(ledger).build()?;
//! # Ok::<(), credence_core::Error>(())
//! ```
//!
//! ## Store URL
//!
//! `postgres://user[:password]@host[:port]/database?option=value&…` (also `postgresql://`;
//! `[::1]` for IPv6; `%XX` escapes in every part). Options — any other is refused with
//! `Error::InvalidStoreUrl` naming it:
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `sslmode` | `disable`, `prefer`, `require`, `verify-ca`, `verify-full` | `prefer` |
//! | `sslrootcert` | PEM file of trusted CAs for the verify modes | system store |
//! | `sslcert`, `sslkey` | client certificate and key (PEM) | none |
//! | `schema` | schema for credence's tables, created if missing | `public` |
//! | `application_name` | reported in `pg_stat_activity` | `credence` |
//! | `connect_timeout` | TCP connect + startup | `10s` |
//! | `statement_timeout` | per statement, incl. waiting for an agent's lock; `0` = none, at most 2 147 483 647 ms | `30s` |
//! | `pool_max` | most open connections, 1 to 10 000 | `10` |
//! | `pool_min_idle` | idle connections kept open, at most `pool_max` | `0` |
//! | `pool_timeout` | wait for a free connection; more than 0, at most `24h` | `30s` |
//! | `pool_max_lifetime` | close connections older than this; `0` = never | `30m` |
//! | `pool_idle_timeout` | close connections idle this long; `0` = never | `10m` |
//! | `write_retries` | retries of a write after an OCC failure | `8` |
//!
//! Durations are `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
//!
//! ## How writes work
//!
//! * **Per-agent serialisation** — every write transaction first runs
//!   `pg_advisory_xact_lock(key)` (a transaction shared by several agents tries each lock
//!   instead, see below), `key` being FNV-1a 64 of
//!   `"credence:agent:" + schema + "/" + id` (see [`agent_lock_key`]), so writers of one
//!   agent — in any process — run one at a time, while other agents (and other schemas)
//!   proceed in parallel. The unit's reads, decision and appends run in that
//!   transaction (`READ COMMITTED`, so every statement after the lock sees every earlier unit).
//! * **OCC backstop** — `UNIQUE(agent_id, stream_seq)` on the `units` table. Unique
//!   violations, serialisation failures (40001) and deadlocks (40P01) are retried with bounded
//!   exponential backoff (the unit is re-run), then reported as `Error::Conflict`.
//! * **Group commit** — the engine hands every write of an agent to
//!   [`Ledger::write_batch`](credence_core::Ledger::write_batch), concurrent ones together (its
//!   combiner is the one batching layer); a batch's units run back to back in one transaction
//!   on one thread, and are answered only after its `COMMIT` (module `write::pipelined`).
//! * **Lost commits** — when the round trip carrying a `COMMIT` breaks (server restart,
//!   terminated backend), the writer takes the agent's lock on a fresh connection and looks one
//!   unit of the transaction up: stored → answered as written; not stored → `Unavailable`;
//!   not found out within about 5 s → `Unavailable` "outcome unknown". Never stored twice
//!   (module `write::lost`, `WriteStats::lost_commits_committed`).
//! * **One round trip** — when this process knows the agent's head (its own last commit) and
//!   a unit reads nothing but the head and lines it may take as empty, the unit is decided
//!   before its transaction and `BEGIN`, the lock, a guard (head and lines unchanged, checked
//!   under the lock), the rows and `COMMIT` go in one round trip; in a batch, such units queue
//!   their guard and rows without a round trip of their own. A failed guard rolls back and the
//!   units run again as below (module `write::ahead`, `docs/semantics.md`).
//! * **Agents share transactions** — lone units of *different* agents decided ahead go in
//!   groups: while two groups are in flight, further units queue, and the next group takes them
//!   all (up to 64) into one transaction and one round trip: every agent's lock is tried
//!   (`pg_try_advisory_xact_lock`) in one statement, then one statement writes the units that got
//!   their lock and pass their guard. A refused unit is sent again alone, waiting only for its
//!   own agent's lock, while the rest commit — no write waits for another agent's lock (module
//!   `write::convoy`, `WriteStats::refused_in_groups`).
//! * **Round trips** — otherwise an uncontended write costs two. The transaction's `BEGIN` and
//!   `pg_advisory_xact_lock` ride in front of the unit's first read, in one simple-query
//!   batch with the agent's head and the unit's line read (`LedgerRead::line`: claims, marks
//!   and assertions in one statement); statements of a batch run in order, so the lock is
//!   taken before the reads. Then all of the unit's rows go in one statement (JSON literals
//!   unpacked by `json_to_recordset`) with the `COMMIT`. In a batch, each unit's rows ride in
//!   front of the next unit's first read instead, so a unit costs one round trip. The head,
//!   line and insert statements are server-side prepared statements (`PREPARE`d once per
//!   connection, run with `EXECUTE` and quoted literals; results come back as text), so their
//!   plans are cached although they travel in simple-query batches. Units need no savepoint
//!   while all goes well: when a statement fails in a transaction other units share, it is
//!   rolled back and they run again, each in its own savepoint. Adjudication rows and status
//!   changes commit in a round trip of their own.
//! * **Live claims** — `live_claims` (schema versions 4 and 5) holds each line's claims live at
//!   the head with their windows, `live_spans` the short windows by start, `live_lines` a
//!   summary per line (kept by a row trigger) and `live_periods` the stretches through which
//!   claims were live before: derived indexes every write updates in the same round trip as its
//!   rows (`credence_live`, from the claims the units touched). Deciding a write and recall,
//!   now or as of an earlier unit, read them instead of the line's history
//!   (`LedgerRead::live_overlapping`, `line_summary`, `live_at`); `credence doctor` checks them
//!   against the rows and `credence reindex` rebuilds them (`rebuild.rs`).
//! * **Refusals** — the statements refuse a unit inside the server with a SQLSTATE of their
//!   own (class `KR`, raised by the function `credence_check` that schema version 3 creates):
//!   a claim already stored, a guard finding the head or a line changed, an agent's lock held
//!   elsewhere; the client tells them apart by code (`error::refusal`).
//! * **Reads** run in one `REPEATABLE READ READ ONLY` transaction and never take the lock.
//! * **Plans** — pooled connections get generic plans (`plan_cache_mode =
//!   force_generic_plan`, cached per connection) and `enable_seqscan = off`, set once per
//!   session before a connection's first read or write: every query is an index lookup by
//!   agent, and a plan cached while a table was tiny must not be a scan. The line read is
//!   written so `claims_by_line` wins even then.
//! * **Pool** — a connection returned with a transaction open or aborted is rolled back, or
//!   discarded if that fails. A connection whose driver client was handed out
//!   ([`pool::PgConnection::client`]) is checked with the server on its next checkout (an open
//!   transaction is rolled back, an aborted one discards it); one only credence used is known
//!   clean without a round trip. A connection the server closed while it sat idle fails the
//!   first statement of its next use, which is then repeated once on a fresh connection.
//! * **Schema** — refinery migrations ([`schema`]) on a dedicated connection under a session
//!   advisory lock; a schema newer than this build is refused with `Error::SchemaTooNew`.
//!
//! ## Modules
//!
//! Dependencies run one way, top to bottom:
//!
//! * `ledger` — [`PostgresLedger`]: connecting, reads, and handing writes to `write`;
//! * `write` — the write path: `mod` (batches, retries, counters) → `pipelined` (units back to
//!   back in one transaction) → `ahead` (units decided before any read), `convoy` (several
//!   agents' units in one transaction) → `append` (a unit's rows), `view` (what a unit reads
//!   through), `lost` (looking up a commit whose answer was lost);
//! * `read` (the read view), `session` (a connection's prepared statements and settings),
//!   `schema` (migrations);
//! * `sql` (every statement) over `pool` (connections), `codec` (rows ↔ types), `lock`
//!   (advisory locks), `error` (one classifier of SQLSTATEs).
#![deny(missing_docs)]

mod codec;
pub mod config;
mod error;
mod ledger;
pub mod lock;
pub mod pool;
mod read;
mod rebuild;
pub mod schema;
mod session;
mod sql;
mod tls;
mod url;
mod write;

pub use config::{PoolConfig, PostgresConfig, SslMode};
pub use ledger::PostgresLedger;
pub use lock::agent_lock_key;
pub use read::QueryPlan;
pub use url::redact as redact_url;
pub use write::WriteStats;

pub use postgres;
pub use r2d2;
pub use r2d2_postgres;
