//! The adapter's private error type and its one mapping into [`credence_core::Error`].

use postgres::error::SqlState;

/// The backend name used in every error and report.
pub(crate) const BACKEND: &str = "postgres";

/// Everything that can go wrong inside the adapter.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    /// A driver error: a database error with an SQLSTATE, or a connection/TLS/IO failure.
    /// Shown with its sources: the driver's own message is just "db error".
    #[error("{}", error_chain(.0))]
    Db(#[from] postgres::Error),
    /// No pooled connection became available in time.
    #[error("no connection available from the pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A stored row does not decode.
    #[error("{0}")]
    Corrupt(String),
    /// An optimistic-concurrency conflict (refused seq, duplicate claim, retries exhausted).
    #[error("{0}")]
    Conflict(String),
    /// The TLS configuration cannot be built (unreadable certificate, bad key, ...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    /// The role may not write (found when the write statements were prepared).
    #[error("{0}")]
    ReadOnly(String),
    /// The stored schema is newer than this build.
    #[error("schema too new")]
    SchemaTooNew { found: i64, supported: i64 },
}

pub(crate) type PgResult<T> = Result<T, PgError>;

/// SQLSTATEs the write path retries: unique violation (the OCC backstop), serialisation
/// failure and deadlock.
pub(crate) fn is_occ(e: &PgError) -> bool {
    match e {
        PgError::Db(db) => {
            matches!(
                db.code(),
                Some(c) if *c == SqlState::UNIQUE_VIOLATION
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            )
        }
        _ => false,
    }
}

/// True when the error means the connection (and its transaction) is gone or unusable.
pub(crate) fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03"
        }
        None => true,
    }
}

/// True for errors a later retry of the whole call may fix: lost connections, pool
/// timeouts, statement timeouts, lock timeouts, resource exhaustion.
pub(crate) fn is_unavailable(e: &PgError) -> bool {
    match e {
        PgError::Pool(_) => true,
        PgError::Db(db) => db_unavailable(db),
        _ => false,
    }
}

fn db_unavailable(e: &postgres::Error) -> bool {
    let Some(code) = e.code() else {
        let text = error_chain(e);
        return !(text.contains("TLS") || text.contains("certificate") || text.contains("ssl"));
    };
    let c = code.code();
    c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources (too many connections, ...)
        || c == "57014" // query_canceled (statement_timeout)
        || c == "55P03" // lock_not_available
        || c == "57P01" // admin_shutdown (pg_terminate_backend)
        || c == "57P02" // crash_shutdown
        || c == "57P03" // cannot_connect_now
}

/// True when the server refused a write for lack of privileges (a SELECT-only role, SQLSTATE
/// 42501) or because the transaction or server is read-only (25006: a hot standby, or
/// `default_transaction_read_only`).
pub(crate) fn is_read_only(e: &PgError) -> bool {
    match e {
        PgError::Db(db) => db_read_only(db),
        PgError::ReadOnly(_) => true,
        _ => false,
    }
}

fn db_read_only(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::INSUFFICIENT_PRIVILEGE || *c == SqlState::READ_ONLY_SQL_TRANSACTION)
}

fn db_to_core(e: postgres::Error) -> credence_core::Error {
    use credence_core::Error;
    let text = error_chain(&e);
    if db_read_only(&e) {
        return Error::ReadOnly { backend: BACKEND, reason: text };
    }
    if e.code().is_some_and(|c| {
        *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    }) {
        Error::Conflict { backend: BACKEND, reason: text }
    } else if db_unavailable(&e) {
        Error::Unavailable { backend: BACKEND, reason: text }
    } else {
        // The driver's own message is just "db error"; the chain carries the server's text.
        Error::Backend { backend: BACKEND, source: text.into() }
    }
}

/// The error's message with its sources, so TLS and IO causes are visible.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl From<PgError> for credence_core::Error {
    fn from(e: PgError) -> Self {
        use credence_core::Error;
        match e {
            PgError::Db(db) => db_to_core(db),
            PgError::Pool(p) => {
                Error::Unavailable { backend: BACKEND, reason: format!("connection pool: {p}") }
            }
            PgError::Corrupt(detail) => Error::Corrupt { backend: BACKEND, detail },
            PgError::Conflict(reason) => Error::Conflict { backend: BACKEND, reason },
            PgError::Tls(reason) => Error::InvalidConfig { reason: format!("postgres TLS: {reason}") },
            PgError::Migration(m) => Error::Backend { backend: BACKEND, source: Box::new(m) },
            PgError::SchemaTooNew { found, supported } => Error::SchemaTooNew { found, supported },
            PgError::ReadOnly(reason) => Error::ReadOnly { backend: BACKEND, reason },
        }
    }
}
