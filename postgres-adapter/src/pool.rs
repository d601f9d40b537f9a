//! The r2d2 connection manager: connections that are never handed out dirty.
//!
//! Every connection is a [`PgConnection`]: the driver's client, a per-connection cache of
//! prepared statements, and a flag saying whether a transaction may be open on it. Code that
//! opens a transaction goes through a guard whose drop rolls back; a connection whose
//! rollback failed (or that is closed) reports itself broken, so r2d2 discards it instead of
//! putting it back. A connection whose driver client was handed out through
//! [`PgConnection::client`] (so a transaction may have been opened behind credence's back) is
//! checked on its next checkout: the server is asked whether a transaction is open; an open
//! one is rolled back, and a connection in an aborted transaction, or that fails the check, is
//! discarded. A connection only credence's own code used needs no such round trip: its
//! transaction flag is exact. A connection the server closed while idle is noticed by the first
//! statement of the next use, which is then repeated once on a fresh connection
//! (`begin_fresh`).

use std::collections::HashMap;

use postgres::{Client, Statement};
use postgres_openssl::MakeTlsConnector;
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

use credence_core::{Head, telemetry};

use crate::codec::UnitMark;
use crate::error::{BACKEND, Failure, PgError, PgResult, is_connection_error};
use crate::sql;

/// One pooled connection.
pub struct PgConnection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// True from `BEGIN` until a successful `COMMIT`/`ROLLBACK`.
    in_transaction: bool,
    /// True once the client was handed out through [`PgConnection::client`]; the next checkout
    /// then asks the server whether a transaction is open.
    exposed: bool,
    /// Inside a write transaction that holds `agent`'s lock: the agent and its current head,
    /// kept up to date by the write path (nothing else can change it while the lock is held).
    /// Inside a read: the head in the read's snapshot.
    tracked_head: Option<(String, Option<Head>)>,
    /// The write path's server-side prepared statements exist on this session.
    simple_prepared: bool,
    /// Why the role cannot write, when the write statements could not be prepared.
    writes_refused: Option<String>,
    /// Statements of the write transaction not sent yet (`;`-separated): the `BEGIN` batch,
    /// savepoints, a unit's inserts. They ride in front of the next round trip, which runs
    /// them first and in order.
    pending: String,
    /// `pending` holds the transaction's `BEGIN` (nothing of the transaction was sent yet).
    begin_pending: bool,
    /// `pending` holds nothing but the `BEGIN` batch (so committing needs no round trip).
    begin_only: bool,
    /// Why the last statement of the write transaction failed, if one did since
    /// [`PgConnection::clear_failure`] (the transaction is then aborted, or gone).
    failure: Option<RoundTrip>,
    /// A unit the write transaction holds (its rows sent or queued, not rolled back), by which
    /// the transaction is recognised if its `COMMIT`'s answer is lost (see `write::lost`).
    kept: Option<UnitMark>,
}

/// A failed round trip of the write path, as far as the write logic needs to know.
#[derive(Clone, Debug)]
pub(crate) struct RoundTrip {
    /// The failure's class.
    pub(crate) class: Failure,
    /// It was the transaction's first round trip (the one with `BEGIN`), it did not carry the
    /// `COMMIT`, and the connection was found closed: nothing of the transaction ran, so it
    /// may be repeated elsewhere.
    pub(crate) stale_connection: bool,
    /// The round trip carried the transaction's `COMMIT` and the connection broke: the
    /// transaction may have committed, which only a lookup can tell (see `write::lost`).
    pub(crate) commit_lost: bool,
}

/// True when `sql` (a simple-query batch) ends with the transaction's `COMMIT`.
fn carries_commit(sql: &str) -> bool {
    sql == "COMMIT" || sql.ends_with("; COMMIT")
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection").field("in_transaction", &self.in_transaction).finish_non_exhaustive()
    }
}

impl PgConnection {
    /// The driver's client (for statements outside credence's own transactions). The next
    /// checkout of this connection asks the server whether a transaction was left open.
    pub fn client(&mut self) -> &mut Client {
        self.exposed = true;
        &mut self.client
    }

    /// The driver's client for credence's own statements (which keep `in_transaction` exact).
    pub(crate) fn raw(&mut self) -> &mut Client {
        &mut self.client
    }

    fn wrap(client: Client) -> PgConnection {
        PgConnection {
            client,
            statements: HashMap::new(),
            in_transaction: false,
            exposed: false,
            tracked_head: None,
            simple_prepared: false,
            writes_refused: None,
            pending: String::new(),
            begin_pending: false,
            begin_only: false,
            failure: None,
            kept: None,
        }
    }

    /// Starts a write transaction lazily: `begin_sql` (`BEGIN`, the agent's lock, …) is sent
    /// in front of the transaction's first statement, so the lock is taken before any read.
    pub(crate) fn begin_deferred(&mut self, begin_sql: &str) {
        self.in_transaction = true;
        self.tracked_head = None;
        self.failure = None;
        self.kept = None;
        self.pending.clear();
        self.pending.push_str(begin_sql);
        self.begin_pending = true;
        self.begin_only = true;
    }

    /// True while nothing of the write transaction was sent (its first round trip is next).
    pub(crate) fn begin_pending(&self) -> bool {
        self.begin_pending
    }

    /// Queues `sql` to run in front of the next round trip.
    pub(crate) fn defer(&mut self, sql: &str) {
        self.begin_only = false;
        if !self.pending.is_empty() {
            self.pending.push_str("; ");
        }
        self.pending.push_str(sql);
    }

    /// Sends the queued statements followed by `tail` (either may be empty) as one
    /// simple-query round trip and returns its messages. A failure is remembered (see
    /// [`PgConnection::failure`]); when the round trip ends with `COMMIT` and the connection
    /// broke, it says the commit's answer was lost ([`RoundTrip::commit_lost`]).
    pub(crate) fn send(&mut self, tail: &str) -> PgResult<Vec<postgres::SimpleQueryMessage>> {
        let mut sql = std::mem::take(&mut self.pending);
        let with_begin = std::mem::replace(&mut self.begin_pending, false);
        if !tail.is_empty() {
            if !sql.is_empty() {
                sql.push_str("; ");
            }
            sql.push_str(tail);
        }
        if sql.is_empty() {
            return Ok(Vec::new());
        }
        match self.client.simple_query(&sql) {
            Ok(messages) => {
                if with_begin {
                    report_lock_wait(&messages);
                }
                Ok(messages)
            }
            Err(e) => {
                let e = PgError::from(e);
                let broke = matches!(&e, PgError::Db(db) if is_connection_error(db));
                let commit = carries_commit(&sql);
                self.failure = Some(RoundTrip {
                    class: Failure::of(&e),
                    stale_connection: with_begin && broke && !commit,
                    commit_lost: broke && commit,
                });
                Err(e)
            }
        }
    }

    /// Sends the queued statements, if any.
    pub(crate) fn flush(&mut self) -> PgResult<()> {
        self.send("").map(drop)
    }

    /// Remembers a failed statement sent outside [`PgConnection::send`].
    pub(crate) fn note_failure(&mut self, e: &PgError) {
        self.failure = Some(RoundTrip { class: Failure::of(e), stale_connection: false, commit_lost: false });
    }

    /// The failure since the last [`PgConnection::clear_failure`], if any.
    pub(crate) fn failure(&self) -> Option<&RoundTrip> {
        self.failure.as_ref()
    }

    /// Forgets the remembered failure (after rolling back past it).
    pub(crate) fn clear_failure(&mut self) {
        self.failure = None;
    }

    /// Records that the write transaction holds the unit `mark` (its rows sent or queued).
    pub(crate) fn keep(&mut self, mark: UnitMark) {
        self.kept = Some(mark);
    }

    /// A unit the write transaction holds, if any (see [`PgConnection::keep`]).
    pub(crate) fn kept(&self) -> Option<&UnitMark> {
        self.kept.as_ref()
    }

    /// Ends the write transaction with `ROLLBACK` (no round trip if nothing of it was sent).
    pub(crate) fn rollback_raw(&mut self) -> PgResult<()> {
        self.tracked_head = None;
        self.failure = None;
        self.kept = None;
        self.pending.clear();
        if std::mem::replace(&mut self.begin_pending, false) {
            self.in_transaction = false;
            return Ok(());
        }
        self.client.batch_execute("ROLLBACK")?;
        self.in_transaction = false;
        Ok(())
    }

    /// The head of `agent` as tracked by the write transaction holding its lock, if any.
    pub(crate) fn tracked_head(&self, agent: &str) -> Option<Option<Head>> {
        match &self.tracked_head {
            Some((a, head)) if a == agent => Some(*head),
            _ => None,
        }
    }

    /// Records `agent`'s head inside the write transaction holding its lock.
    pub(crate) fn track_head(&mut self, agent: &str, head: Option<Head>) {
        match &mut self.tracked_head {
            Some((a, h)) if a == agent => *h = head,
            slot => *slot = Some((agent.to_owned(), head)),
        }
    }

    /// True if a transaction may still be open on this connection.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// A prepared statement for `sql`, prepared once per connection.
    pub(crate) fn statement(&mut self, sql: &'static str) -> PgResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs the prepared statement `sql` with `params`. The session forces generic plans, so a
    /// statement's first run makes the plan the connection keeps for it; for the statements of
    /// [`sql::PLANNED_WITHOUT_SORTS`] that run has sorts disabled. A statement is kept only
    /// once its first run succeeded (otherwise the next run prepares it again).
    pub(crate) fn query_prepared(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> PgResult<Vec<postgres::Row>> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(self.client.query(stmt, params)?);
        }
        let stmt = self.client.prepare(sql)?;
        let rows = if sql::PLANNED_WITHOUT_SORTS.contains(&sql) {
            self.without_sorts(|client| Ok(client.query(&stmt, params)?))?
        } else {
            self.client.query(&stmt, params)?
        };
        self.statements.insert(sql, stmt);
        Ok(rows)
    }

    /// The plan this connection keeps for its prepared statement `sql` (of `params`
    /// parameters), as `EXPLAIN` prints it: the session forces generic plans, made once
    /// whatever the values bound, so NULLs stand for them.
    pub(crate) fn plan_of(&mut self, sql: &'static str, params: usize) -> PgResult<String> {
        let named = self.client.query_opt(
            "SELECT name FROM pg_prepared_statements WHERE statement = $1 AND NOT from_sql",
            &[&sql],
        )?;
        let Some(named) = named else {
            return Ok("(not prepared on this connection)".to_owned());
        };
        let name: String = named.get(0);
        let nulls = vec!["NULL"; params].join(", ");
        let rows = self.client.query(&format!("EXPLAIN EXECUTE {name}({nulls})"), &[])?;
        Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>().join("\n"))
    }

    /// `run` with sorts disabled for this session, then the setting reset. When `run` fails
    /// inside a transaction, the reset fails too, and rolling back undoes the setting.
    pub(crate) fn without_sorts<T>(&mut self, run: impl FnOnce(&mut Client) -> PgResult<T>) -> PgResult<T> {
        self.client.batch_execute(sql::SORTS_OFF)?;
        let result = run(&mut self.client);
        let reset = self.client.batch_execute(sql::RESET_PLAN_SETTING);
        let value = result?;
        reset?;
        Ok(value)
    }

    /// `BEGIN …` without a guard: the caller owns the (pooled) connection, and returning it
    /// to the pool with the transaction open rolls back or discards it.
    pub(crate) fn begin_raw(&mut self, begin_sql: &str) -> PgResult<()> {
        self.in_transaction = true;
        self.tracked_head = None;
        self.kept = None;
        self.pending.clear();
        self.begin_pending = false;
        self.client.batch_execute(begin_sql)?;
        Ok(())
    }

    /// Like [`PgConnection::begin_raw`] with a simple-query batch whose result rows are
    /// returned (so a first read can ride along with `BEGIN`).
    pub(crate) fn begin_raw_query(&mut self, begin_sql: &str) -> PgResult<Vec<postgres::SimpleQueryMessage>> {
        self.in_transaction = true;
        self.tracked_head = None;
        self.kept = None;
        self.pending.clear();
        self.begin_pending = false;
        let messages = self.client.simple_query(begin_sql)?;
        report_lock_wait(&messages);
        Ok(messages)
    }

    /// A guard for a transaction already begun with [`PgConnection::begin_raw`].
    pub(crate) fn adopt(&mut self) -> Txn<'_> {
        Txn { conn: self, done: false }
    }

    /// `COMMIT` of a transaction begun with [`PgConnection::begin_raw`] or
    /// [`PgConnection::begin_deferred`], sent after any queued statements (nothing queued but
    /// the `BEGIN`: nothing to commit, no round trip). After a failure
    /// [`PgConnection::failure`] says what failed — whether the commit's answer was lost, in
    /// particular; otherwise the transaction is rolled back if the connection allows.
    pub(crate) fn commit_raw(&mut self) -> PgResult<()> {
        if self.begin_pending && self.begin_only {
            self.begin_pending = false;
            self.pending.clear();
            self.in_transaction = false;
            self.tracked_head = None;
            return Ok(());
        }
        match self.send("COMMIT") {
            Ok(_) => {
                self.committed();
                Ok(())
            }
            // When the commit's answer was lost, the connection is broken and keeps what the
            // caller needs to look the transaction up (the pool discards it).
            Err(e) if self.failure.as_ref().is_some_and(|f| f.commit_lost) => Err(e),
            Err(e) => {
                let failure = self.failure.take();
                let _ = self.try_rollback();
                self.failure = failure;
                Err(e)
            }
        }
    }

    /// True once the write path's server-side prepared statements exist on this session.
    pub(crate) fn simple_prepared(&self) -> bool {
        self.simple_prepared
    }

    /// Records that the write path's server-side prepared statements exist.
    pub(crate) fn set_simple_prepared(&mut self) {
        self.simple_prepared = true;
    }

    /// Records that the server refused to plan the write statements for lack of privileges:
    /// the connection serves reads only.
    pub(crate) fn refuse_writes(&mut self, reason: String) {
        self.writes_refused = Some(reason);
    }

    /// Why this connection cannot write, if it cannot (see [`refuse_writes`](Self::refuse_writes)).
    pub(crate) fn writes_refused(&self) -> Option<&str> {
        self.writes_refused.as_deref()
    }

    /// Records that a `COMMIT` sent along with other statements succeeded.
    pub(crate) fn committed(&mut self) {
        self.in_transaction = false;
        self.tracked_head = None;
        self.kept = None;
    }

    fn try_rollback(&mut self) -> bool {
        self.pending.clear();
        self.failure = None;
        self.kept = None;
        if std::mem::replace(&mut self.begin_pending, false) {
            self.in_transaction = false;
            self.tracked_head = None;
            return true;
        }
        if self.client.is_closed() {
            return false;
        }
        self.tracked_head = None;
        match self.client.batch_execute("ROLLBACK") {
            Ok(()) => {
                self.in_transaction = false;
                true
            }
            Err(_) => false,
        }
    }
}

/// An open transaction; dropping it without [`Txn::commit`] rolls back.
pub(crate) struct Txn<'c> {
    conn: &'c mut PgConnection,
    done: bool,
}

impl Txn<'_> {
    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    /// Commits. On failure the connection is left flagged and will be discarded unless a
    /// rollback succeeds.
    pub(crate) fn commit(mut self) -> PgResult<()> {
        self.done = true;
        match self.conn.client.batch_execute("COMMIT") {
            Ok(()) => {
                self.conn.in_transaction = false;
                self.conn.tracked_head = None;
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.try_rollback();
                Err(e.into())
            }
        }
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.try_rollback();
        }
    }
}

/// The r2d2 manager: r2d2_postgres's manager plus the dirty-connection rules above.
pub struct PgManager {
    inner: PostgresConnectionManager<MakeTlsConnector>,
}

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgManager").finish_non_exhaustive()
    }
}

impl PgManager {
    pub(crate) fn new(config: postgres::Config, tls: MakeTlsConnector) -> PgManager {
        PgManager { inner: PostgresConnectionManager::new(config, tls) }
    }

    /// Opens a connection outside the pool.
    pub(crate) fn open(&self) -> PgResult<PgConnection> {
        Ok(PgConnection::wrap(self.inner.connect()?))
    }
}

impl ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection::wrap(self.inner.connect()?))
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        if conn.in_transaction && !conn.try_rollback() {
            // Surface a real error so r2d2 discards the connection.
            conn.client.batch_execute("ROLLBACK")?;
        }
        conn.tracked_head = None;
        if !conn.exposed {
            // Only credence's own code used it, and its flag says no transaction is open.
            return Ok(());
        }
        // Also catch a transaction opened behind our back (through `client()`): inside an
        // aborted one this statement fails (and r2d2 discards the connection); inside an open
        // one the transaction started before this statement, so it is rolled back.
        let rows = conn.client.simple_query("SELECT now() = statement_timestamp()")?;
        let outside_transaction = rows.iter().any(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0) == Some("t"),
            _ => false,
        });
        if !outside_transaction {
            conn.client.batch_execute("ROLLBACK")?;
        }
        conn.exposed = false;
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed() || (conn.in_transaction && !conn.try_rollback())
    }
}

/// Reports the wait for the agent's lock of a round trip that began a transaction, if it took
/// one it waited for.
fn report_lock_wait(messages: &[postgres::SimpleQueryMessage]) {
    if let Some(waited) = crate::lock::waited(messages) {
        telemetry::lock_wait(BACKEND, waited);
    }
}

/// Reports the pool's checkouts and timeouts (SPEC §10).
#[derive(Debug)]
pub(crate) struct PoolEvents;

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        telemetry::pool_wait(BACKEND, event.duration());
    }

    fn handle_timeout(&self, event: r2d2::event::TimeoutEvent) {
        telemetry::pool_timeout(BACKEND, event.timeout());
    }
}

/// Maps a pool checkout failure.
pub(crate) fn checkout(pool: &r2d2::Pool<PgManager>) -> PgResult<r2d2::PooledConnection<PgManager>> {
    pool.get().map_err(PgError::from)
}

/// Checks out a connection and runs `first` (the first statement of a use, e.g. `BEGIN`) on it.
/// If that finds the connection already closed by the server (it sat idle in the pool while
/// the backend was terminated), nothing of the use has run yet, so the broken connection is
/// dropped (and discarded by the pool) and `first` is repeated once on another connection.
pub(crate) fn begin_fresh<T>(
    pool: &r2d2::Pool<PgManager>,
    mut first: impl FnMut(&mut PgConnection) -> PgResult<T>,
) -> PgResult<(r2d2::PooledConnection<PgManager>, T)> {
    let mut conn = checkout(pool)?;
    match first(&mut conn) {
        Ok(t) => Ok((conn, t)),
        Err(PgError::Db(e)) if is_connection_error(&e) => {
            telemetry::retry(BACKEND, "stale_connection", 1, 0, &e);
            drop(conn);
            let mut conn = checkout(pool)?;
            let t = first(&mut conn)?;
            Ok((conn, t))
        }
        Err(e) => Err(e),
    }
}
