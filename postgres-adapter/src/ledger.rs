//! [`PostgresLedger`]: the [`Ledger`] implementation.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use credence_core::{AgentId, Error, Handle, Head, Ledger, ReadUnit, Result, WriteUnit};

use crate::config::PostgresConfig;
use crate::error::{BACKEND, PgError, PgResult, is_occ};
use crate::group::{BatchFailure, Groups, Member};
use crate::lock::agent_lock_key;
use crate::pool::{PgManager, begin_fresh, checkout};
use crate::read::{PgView, QueryPlan, head_in, statement_rows};
use crate::{schema, tls, write};

/// The PostgreSQL ledger: all agents in one database schema, a pool of connections, writes
/// serialised per agent with `pg_advisory_xact_lock` and grouped per agent in-process.
pub struct PostgresLedger {
    pool: r2d2::Pool<PgManager>,
    config: PostgresConfig,
    groups: Groups,
    capture: AtomicBool,
    plans: Mutex<Vec<QueryPlan>>,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger").field("config", &self.config).finish_non_exhaustive()
    }
}

impl PostgresLedger {
    /// Parses `url` (see the crate docs for the options) and connects.
    ///
    /// # Errors
    /// As [`PostgresLedger::connect`], plus `InvalidStoreUrl` for a bad URL.
    pub fn from_url(url: &str) -> Result<PostgresLedger> {
        PostgresLedger::connect(PostgresConfig::from_url(url)?)
    }

    /// Connects, creates the schema if needed and migrates it (on a dedicated connection under
    /// a session advisory lock), then opens the pool.
    ///
    /// # Errors
    /// `InvalidConfig` for bad settings or unreadable TLS files; `SchemaTooNew` when the schema
    /// was written by a newer build; `Unavailable` when the server cannot be reached;
    /// `Backend` for authentication and TLS failures (the message says which).
    pub fn connect(config: PostgresConfig) -> Result<PostgresLedger> {
        config.validate()?;
        let tls = tls::connector(&config)?;
        let manager = PgManager::new(config.driver_config(), tls);
        {
            let mut dedicated = manager.open()?;
            schema::migrate(&mut dedicated, &config.schema)?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(config.pool.max_size)
            .min_idle(config.pool.min_idle)
            .connection_timeout(config.pool.connection_timeout)
            .max_lifetime(config.pool.max_lifetime)
            .idle_timeout(config.pool.idle_timeout)
            .test_on_check_out(true)
            .build_unchecked(manager);
        Ok(PostgresLedger {
            pool,
            config,
            groups: Groups::default(),
            capture: AtomicBool::new(false),
            plans: Mutex::new(Vec::new()),
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// The connection pool (for diagnostics and tests). A connection checked out here and
    /// returned with a transaction open is rolled back or discarded.
    pub fn pool(&self) -> &r2d2::Pool<PgManager> {
        &self.pool
    }

    /// The newest schema version applied to this ledger's schema.
    ///
    /// # Errors
    /// `Unavailable` if no connection can be had.
    pub fn schema_version(&self) -> Result<i64> {
        let mut conn = checkout(&self.pool)?;
        Ok(schema::applied_version(&mut conn)?)
    }

    /// How many write transactions committed and how many units ran in them (the difference
    /// is what group commit saved).
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            transactions: self.groups.committed_batches.load(Ordering::Relaxed),
            units: self.groups.committed_members.load(Ordering::Relaxed),
            speculative_units: self.groups.speculated.load(Ordering::Relaxed),
            failed_guards: self.groups.failed_guards.load(Ordering::Relaxed),
            refused_in_groups: self.groups.refused_in_groups.load(Ordering::Relaxed),
            lost_commits_committed: self.groups.lost_committed.load(Ordering::Relaxed),
            lost_commits_not_committed: self.groups.lost_not_committed.load(Ordering::Relaxed),
            lost_commits_unknown: self.groups.lost_unknown.load(Ordering::Relaxed),
        }
    }

    /// Diagnostics: while on, every statement of [`Ledger::read`] is also `EXPLAIN`ed and its
    /// plan kept for [`PostgresLedger::take_plans`] (used to check the read path uses indexes).
    pub fn capture_plans(&self, on: bool) {
        self.capture.store(on, Ordering::SeqCst);
    }

    /// The plans captured so far (and forgets them).
    pub fn take_plans(&self) -> Vec<QueryPlan> {
        std::mem::take(&mut *self.plans.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits before retry `attempt`, or says the retries are used up.
    fn retry_allowed(&self, attempt: &mut u32) -> bool {
        if *attempt >= self.config.write_retries {
            return false;
        }
        backoff(*attempt);
        *attempt += 1;
        true
    }

    fn mark_notified_inner(&self, agent: &str, handle: Handle) -> PgResult<()> {
        let (mut conn, ()) =
            begin_fresh(&self.pool, |c| c.begin_raw("BEGIN ISOLATION LEVEL READ COMMITTED"))?;
        let mut txn = conn.adopt();
        // Taking the agent's lock keeps writers' views stable: nothing of the agent changes
        // while one of its units runs.
        txn.conn()
            .raw()
            .execute("SELECT pg_advisory_xact_lock($1)", &[&agent_lock_key(&self.config.schema, agent)])?;
        let stmt = txn
            .conn()
            .statement("UPDATE adjudications SET notified = TRUE WHERE agent_id = $1 AND handle = $2")?;
        txn.conn().raw().execute(&stmt, &[&agent, &handle.0])?;
        txn.commit()
    }

    fn agents_inner(&self) -> PgResult<Vec<AgentId>> {
        let (_conn, rows) =
            begin_fresh(&self.pool, |c| Ok(c.raw().query("SELECT agent_id FROM agents", &[])?))?;
        let mut agents = rows
            .iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(|e| PgError::Corrupt(format!("agents row: {e}")))?;
                AgentId::new(id).map_err(|e| PgError::Corrupt(format!("agents row: {e}")))
            })
            .collect::<PgResult<Vec<AgentId>>>()?;
        agents.sort();
        Ok(agents)
    }
}

/// Counters of committed write transactions (see [`PostgresLedger::write_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Write transactions committed.
    pub transactions: u64,
    /// Units (write calls) that ran inside them, including ones that wrote nothing.
    pub units: u64,
    /// Units decided before any read, on what this process knew of the agent (its head and
    /// lines taken as empty), whose transaction committed after a guard under the lock
    /// confirmed that knowledge (see `docs/semantics.md`). Alone, such a unit is written in
    /// one round trip.
    pub speculative_units: u64,
    /// Transactions with such units that failed, their guard finding the knowledge stale
    /// (another process wrote the agent, or a line was not empty); their units ran again with
    /// reads.
    pub failed_guards: u64,
    /// Units refused inside transactions shared by units of several agents (decided ahead, see
    /// `docs/semantics.md`) — their agent's lock held elsewhere, their guard failing, or the
    /// whole shared statement failing — each of which was then sent again alone.
    pub refused_in_groups: u64,
    /// Transactions (or units of a shared one) whose `COMMIT`'s answer was lost — the
    /// connection broke in the round trip that carried it — and that a lookup under the agent's
    /// lock then found committed: their units were answered as written.
    pub lost_commits_committed: u64,
    /// Such lookups that found the transaction not committed (answered `Unavailable`, or sent
    /// again when nothing but the one round trip had been sent).
    pub lost_commits_not_committed: u64,
    /// Such lookups that could not find out (answered `Unavailable` "outcome unknown").
    pub lost_commits_unknown: u64,
}

enum Attempt {
    Done(Result<Option<Head>>),
    Retry(String),
}

/// What one unit's attempt came to, from what it did and how its batch ended. Only OCC
/// failures are retried, and those come with a transaction that did not commit: a
/// transaction whose commit may have happened is settled before this (see the `outcome`
/// module), and one that could not be settled is answered "outcome unknown", never retried.
fn outcome(member: Member, commit: &Result<(), BatchFailure>) -> Attempt {
    match (member, commit) {
        (Member::Unit(e), _) => Attempt::Done(Err(e)),
        (Member::Nothing, _) => Attempt::Done(Ok(None)),
        (Member::Written(head), Ok(())) => Attempt::Done(Ok(Some(head))),
        (Member::Append(e), _) if is_occ(&e) => Attempt::Retry(e.to_string()),
        (Member::Append(e), _) => Attempt::Done(Err(e.into())),
        (Member::NotRun, Ok(())) => {
            Attempt::Done(Err(Error::Backend { backend: BACKEND, source: "a write unit was skipped".into() }))
        }
        (_, Err(BatchFailure::Occ(reason))) => Attempt::Retry(reason.clone()),
        (_, Err(BatchFailure::OutcomeUnknown(reason))) => {
            Attempt::Done(Err(Error::outcome_unknown(BACKEND, reason)))
        }
        (_, Err(BatchFailure::Unavailable(reason))) => {
            Attempt::Done(Err(Error::Unavailable { backend: BACKEND, reason: reason.clone() }))
        }
        (_, Err(BatchFailure::ReadOnly(reason))) => {
            Attempt::Done(Err(Error::ReadOnly { backend: BACKEND, reason: reason.clone() }))
        }
        (_, Err(BatchFailure::Other(reason))) => {
            Attempt::Done(Err(Error::Backend { backend: BACKEND, source: reason.clone().into() }))
        }
    }
}

fn exhausted(attempts: u32, reason: &str) -> Error {
    Error::Conflict {
        backend: BACKEND,
        reason: format!("still conflicting after {attempts} attempts: {reason}"),
    }
}

/// Sleeps before retry `attempt` (0-based): exponential from 2 ms, capped at 200 ms, with
/// jitter so competing writers spread out.
fn backoff(attempt: u32) {
    let base = 2u64.saturating_mul(1u64 << attempt.min(7)).min(200);
    let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % (base + 1);
    std::thread::sleep(Duration::from_millis(base / 2 + jitter / 2 + 1));
}

/// Begins a read. (The connection's session settings, made by `write::ensure_prepared` before
/// the first read or write on it, include `enable_seqscan = off`: every query of credence is
/// an index lookup by agent, and a plan PostgreSQL caches per connection must not be a
/// sequential scan chosen while a table was still tiny.)
const READ_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

impl Ledger for PostgresLedger {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    /// Runs the units back to back on this thread in one transaction (see the `group`
    /// module): each unit without a savepoint while all goes well, its rows sent with the next
    /// unit's first read, one `COMMIT` for all. Units whose append hit an OCC failure (or
    /// whose batch did) are run again, together, up to `write_retries` times.
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        let mut results: Vec<Option<Result<Option<Head>>>> = units.iter().map(|_| None).collect();
        let mut todo: Vec<usize> = (0..units.len()).collect();
        let mut attempt = 0;
        while !todo.is_empty() {
            let mut round: Vec<&mut WriteUnit<'_>> = units
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| todo.binary_search(i).is_ok())
                .map(|(_, u)| &mut **u)
                .collect();
            let (members, commit) =
                self.groups.run_batch(&self.pool, &self.config.schema, agent.as_str(), &mut round);
            drop(round);
            let mut retry = Vec::new();
            let mut reasons = Vec::new();
            for (&i, member) in todo.iter().zip(members) {
                match outcome(member, &commit) {
                    Attempt::Done(r) => results[i] = Some(r),
                    Attempt::Retry(reason) => {
                        retry.push(i);
                        reasons.push(reason);
                    }
                }
            }
            if !retry.is_empty() && !self.retry_allowed(&mut attempt) {
                for (i, reason) in retry.drain(..).zip(&reasons) {
                    results[i] = Some(Err(exhausted(attempt + 1, reason)));
                }
            }
            todo = retry;
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Backend {
                        backend: BACKEND,
                        source: "the batch returned no result for a unit".into(),
                    })
                })
            })
            .collect()
    }

    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        // The head rides with BEGIN (almost every read pins it first); the snapshot keeps it.
        let begin = format!("{READ_BEGIN}; {}", write::head_sql(agent.as_str()));
        let (mut conn, head) = begin_fresh(&self.pool, |c| {
            write::ensure_prepared(c)?;
            let messages = c.begin_raw_query(&begin)?;
            head_in(statement_rows(&messages).last().map_or(&[][..], Vec::as_slice))
        })?;
        conn.set_write_head(agent.as_str(), head);
        let mut txn = conn.adopt();
        {
            let plans = self.capture.load(Ordering::SeqCst).then_some(&self.plans);
            let view = PgView::new(txn.conn(), agent.as_str()).with_plans(plans);
            f(&view)?;
        }
        Ok(txn.commit()?)
    }

    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
        Ok(self.mark_notified_inner(agent.as_str(), handle)?)
    }

    fn agents(&self) -> Result<Vec<AgentId>> {
        Ok(self.agents_inner()?)
    }
}
