//! The r2d2 connection manager: connections that are never handed out dirty.
//!
//! Every connection is a [`PgConnection`]: the driver's client, a per-connection cache of
//! prepared statements, and a flag saying whether a transaction may be open on it. Code that
//! opens a transaction goes through a guard whose drop rolls back; a connection whose
//! rollback failed (or that is closed) reports itself broken, so r2d2 discards it instead of
//! putting it back. Checkout also asks the server whether a transaction is open (one opened
//! through [`PgConnection::client`] included): an open one is rolled back, and a connection in
//! an aborted transaction, or that fails the check, is discarded.

use std::collections::HashMap;

use postgres::{Client, Statement};
use postgres_openssl::MakeTlsConnector;
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

use crate::error::{PgError, PgResult};

/// One pooled connection.
pub struct PgConnection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// True from `BEGIN` until a successful `COMMIT`/`ROLLBACK`.
    in_transaction: bool,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection").field("in_transaction", &self.in_transaction).finish_non_exhaustive()
    }
}

impl PgConnection {
    /// The driver's client (for statements outside credence's own transactions).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
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

    /// Runs `BEGIN …` and returns a guard that rolls back unless committed.
    pub(crate) fn begin(&mut self, begin_sql: &str) -> PgResult<Txn<'_>> {
        self.in_transaction = true;
        if let Err(e) = self.client.batch_execute(begin_sql) {
            let _ = self.try_rollback();
            return Err(e.into());
        }
        Ok(Txn { conn: self, done: false })
    }

    /// `BEGIN …` without a guard: the caller owns the (pooled) connection, and returning it
    /// to the pool with the transaction open rolls back or discards it.
    pub(crate) fn begin_raw(&mut self, begin_sql: &str) -> PgResult<()> {
        self.in_transaction = true;
        self.client.batch_execute(begin_sql)?;
        Ok(())
    }

    /// `COMMIT` of a transaction begun with [`PgConnection::begin_raw`].
    pub(crate) fn commit_raw(&mut self) -> PgResult<()> {
        match self.client.batch_execute("COMMIT") {
            Ok(()) => {
                self.in_transaction = false;
                Ok(())
            }
            Err(e) => {
                let _ = self.try_rollback();
                Err(e.into())
            }
        }
    }

    fn try_rollback(&mut self) -> bool {
        if self.client.is_closed() {
            return false;
        }
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
        Ok(PgConnection { client: self.inner.connect()?, statements: HashMap::new(), in_transaction: false })
    }
}

impl ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection { client: self.inner.connect()?, statements: HashMap::new(), in_transaction: false })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        if conn.in_transaction && !conn.try_rollback() {
            // Surface a real error so r2d2 discards the connection.
            conn.client.batch_execute("ROLLBACK")?;
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
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.client.is_closed() || (conn.in_transaction && !conn.try_rollback())
    }
}

/// Maps a pool checkout failure.
pub(crate) fn checkout(pool: &r2d2::Pool<PgManager>) -> PgResult<r2d2::PooledConnection<PgManager>> {
    pool.get().map_err(PgError::from)
}
