//! What the engine and the backends tell an operator (SPEC §10), in one place: the `tracing`
//! events and `metrics` names every backend uses, so a dashboard reads the same names whatever
//! the store.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `credence_operations_total` | counter | `operation`, `outcome` | engine operations by kind and outcome (a disposition, `ok`, or an error kind) |
//! | `credence_operation_seconds` | histogram | `operation` | their duration |
//! | `credence_group_commit_units` | histogram | | write units handed to the backend together |
//! | `credence_lock_wait_seconds` | histogram | `backend` | time a write waited for its agent's lock |
//! | `credence_pool_wait_seconds` | histogram | `backend` | time spent checking a connection out of the pool |
//! | `credence_pool_timeouts_total` | counter | `backend` | checkouts that gave up after the pool's timeout |
//! | `credence_retries_total` | counter | `backend`, `cause` | work run again after a transient failure |
//! | `credence_lost_commits_total` | counter | `backend`, `found` | commits whose answer was lost, by what a lookup found (`stored`, `not_stored`, `unknown`) |
//! | `credence_checkpoints_total` | counter | `backend`, `mode` | WAL checkpoints |
//! | `credence_checkpoint_seconds` | histogram | `backend`, `mode` | their duration |
//! | `credence_migrations_total` | counter | `backend` | schema migrations applied |
//! | `credence_open_adjudications` | gauge | `agent` | an agent's open adjudications, each time they are read |
//!
//! Events carry the same figures (`lock wait`, `pool wait`, `retry`, `checkpoint` at DEBUG;
//! `pool timeout` and `lost commit` at WARN; `migrated` at INFO). Inside an engine operation they belong to its
//! span, which names the agent. With no subscriber and no recorder installed each costs a check
//! of a static flag.

use std::time::Duration;

/// Microseconds in `d`, saturating (for event fields).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A write of `backend` waited `waited` for its agent's lock (SQLite: the in-process writer, the
/// cross-process write turn and `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock`).
pub fn lock_wait(backend: &'static str, waited: Duration) {
    tracing::debug!(backend, waited_us = micros(waited), "lock wait");
    metrics::histogram!("credence_lock_wait_seconds", "backend" => backend).record(waited.as_secs_f64());
}

/// A connection checkout from `backend`'s pool took `waited`.
pub fn pool_wait(backend: &'static str, waited: Duration) {
    tracing::debug!(backend, waited_us = micros(waited), "pool wait");
    metrics::histogram!("credence_pool_wait_seconds", "backend" => backend).record(waited.as_secs_f64());
}

/// A connection checkout from `backend`'s pool gave up after `timeout`.
pub fn pool_timeout(backend: &'static str, timeout: Duration) {
    tracing::warn!(
        backend,
        timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        "pool timeout"
    );
    metrics::counter!("credence_pool_timeouts_total", "backend" => backend).increment(1);
}

/// `backend` runs `units` units of work again (attempt `attempt`, counting the first as 0)
/// because of `cause` — a short fixed name such as `conflict` or `busy` — with `reason` saying
/// what happened (formatted only when the event is recorded).
pub fn retry(
    backend: &'static str,
    cause: &'static str,
    units: usize,
    attempt: u32,
    reason: &dyn std::fmt::Display,
) {
    tracing::debug!(backend, cause, units, attempt, reason = %reason, "retry");
    metrics::counter!("credence_retries_total", "backend" => backend, "cause" => cause)
        .increment(u64::try_from(units).unwrap_or(u64::MAX));
}

/// The answer to a `COMMIT` of `backend` was lost (the connection broke) and looking the
/// transaction up found it `found`: `stored`, `not_stored` or `unknown`.
pub fn lost_commit(backend: &'static str, found: &'static str) {
    tracing::warn!(backend, found, "lost commit");
    metrics::counter!("credence_lost_commits_total", "backend" => backend, "found" => found).increment(1);
}

/// `backend` ran a WAL checkpoint in `mode` (e.g. `PASSIVE`), which took `took` and moved
/// `frames` frames back into the database, as the checkpoint reports them (a `TRUNCATE` one,
/// which empties the WAL, reports 0).
pub fn checkpoint(backend: &'static str, mode: &'static str, frames: i64, took: Duration) {
    tracing::debug!(backend, mode, frames, took_us = micros(took), "checkpoint");
    metrics::counter!("credence_checkpoints_total", "backend" => backend, "mode" => mode).increment(1);
    metrics::histogram!("credence_checkpoint_seconds", "backend" => backend, "mode" => mode)
        .record(took.as_secs_f64());
}

/// `backend` brought `target` (an agent's file, a schema) from schema version `from` to `to` in
/// `took`.
pub fn migrated(backend: &'static str, target: &str, from: i64, to: i64, took: Duration) {
    tracing::info!(backend, target, from, to, took_us = micros(took), "migrated");
    metrics::counter!("credence_migrations_total", "backend" => backend).increment(1);
}

/// `agent` has `open` open adjudications (set each time they are read).
pub fn open_adjudications(agent: &str, open: usize) {
    metrics::gauge!("credence_open_adjudications", "agent" => agent.to_owned()).set(open as f64);
}
