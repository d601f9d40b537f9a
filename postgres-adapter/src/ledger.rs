//! [`PostgresLedger`]: the [`Ledger`] implementation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use credence_core::{AgentId, Handle, Head, Ledger, ReadUnit, Result, WriteUnit};

use crate::codec::{head_in, statement_rows};
use crate::config::PostgresConfig;
use crate::error::{BACKEND, PgError, PgResult};
use crate::lock::{self, Lock, agent_lock_key};
use crate::pool::{PgManager, begin_fresh, checkout};
use crate::read::{PgView, QueryPlan};
use crate::write::{WriteStats, Writer};
use crate::{schema, session, sql, tls};

/// The PostgreSQL ledger: all agents in one database schema, a pool of connections, writes
/// serialised per agent with `pg_advisory_xact_lock` and grouped per agent in-process.
pub struct PostgresLedger {
    pool: r2d2::Pool<PgManager>,
    config: PostgresConfig,
    writer: Writer,
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
            .event_handler(Box::new(crate::pool::PoolEvents))
            .build_unchecked(manager);
        Ok(PostgresLedger {
            pool,
            config,
            writer: Writer::default(),
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
        self.writer.stats()
    }

    /// Diagnostics: while on, every statement of [`Ledger::read`] is also `EXPLAIN`ed after it
    /// ran — the generic plan its connection keeps for it — and the plan kept for
    /// [`PostgresLedger::take_plans`] (used to check the read path uses indexes).
    pub fn capture_plans(&self, on: bool) {
        self.capture.store(on, Ordering::SeqCst);
    }

    /// The plans captured so far (and forgets them).
    pub fn take_plans(&self) -> Vec<QueryPlan> {
        std::mem::take(&mut *self.plans.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn mark_notified_inner(&self, agent: &str, handle: Handle) -> PgResult<()> {
        // Taking the agent's lock keeps writers' views stable: nothing of the agent changes
        // while one of its units runs.
        let begin = lock::begin_locked(agent_lock_key(&self.config.schema, agent), Lock::Wait);
        let (mut conn, ()) = begin_fresh(&self.pool, |c| c.begin_raw(&begin))?;
        let mut txn = conn.adopt();
        let stmt = txn.conn().statement(sql::MARK_NOTIFIED)?;
        txn.conn().raw().execute(&stmt, &[&agent, &handle.0])?;
        txn.commit()
    }

    fn rebuild_inner(&self, agent: &str) -> PgResult<u64> {
        let begin = lock::begin_locked(agent_lock_key(&self.config.schema, agent), Lock::Wait);
        let (mut conn, ()) = begin_fresh(&self.pool, |c| c.begin_raw(&begin))?;
        let mut txn = conn.adopt();
        let live = crate::rebuild::rebuild_agent(txn.conn().raw(), agent)?;
        txn.commit()?;
        Ok(live)
    }

    fn agents_inner(&self) -> PgResult<Vec<AgentId>> {
        let (_conn, rows) = begin_fresh(&self.pool, |c| Ok(c.raw().query(sql::AGENTS, &[])?))?;
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

impl Ledger for PostgresLedger {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    /// Runs the units back to back on this thread in one transaction (see the `write`
    /// module): each unit without a savepoint while all goes well, its rows sent with the next
    /// unit's first read, one `COMMIT` for all. Units whose append hit an OCC failure (or
    /// whose transaction did) are run again, together, up to `write_retries` times.
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        self.writer.write_batch(
            &self.pool,
            &self.config.schema,
            self.config.write_retries,
            agent.as_str(),
            units,
        )
    }

    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        // The head rides with BEGIN (almost every read pins it first); the snapshot keeps it.
        let begin = format!("{}; {}", sql::READ_BEGIN, sql::head_sql(agent.as_str()));
        let (mut conn, head) = begin_fresh(&self.pool, |c| {
            session::ensure_prepared(c)?;
            let messages = c.begin_raw_query(&begin)?;
            head_in(statement_rows(&messages).last().map_or(&[][..], Vec::as_slice))
        })?;
        conn.track_head(agent.as_str(), head);
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

    fn rebuild_indexes(&self, agent: &AgentId) -> Result<Option<u64>> {
        Ok(Some(self.rebuild_inner(agent.as_str())?))
    }
}
