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

/// The SQLSTATEs credence's own statements raise, through the function `credence_check`
/// (migration V3), one per refusal, so each is told apart by its code alone.
pub(crate) mod refusal {
    /// A unit's claim is already stored (or the unit repeats one of its own claims).
    pub(crate) const CLAIM_EXISTS: &str = "KR001";
    /// A guard found what a unit decided ahead took for granted no longer so: the agent's
    /// head moved, or a line it took as empty holds a claim (see `write::ahead`).
    pub(crate) const STALE: &str = "KR002";
    /// The agent's lock is held by another transaction and was only tried (see `lock::Lock`).
    pub(crate) const LOCK_BUSY: &str = "KR003";
}

/// What a failed statement means to the write path — the one place SQLSTATEs are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Serialisation failure, deadlock or unique violation (the OCC backstop): the unit may
    /// be run again.
    Occ(String),
    /// The connection, the pool or the server is unavailable.
    Unavailable(String),
    /// The role or server may not write (see [`is_read_only`]).
    ReadOnly(String),
    /// One of credence's own refusals (a code of [`refusal`]).
    Refused(&'static str, String),
    /// The connection broke while committing and whether the transaction committed could not
    /// be found out (see `write::lost`).
    OutcomeUnknown(String),
    /// Anything else.
    Other(String),
}

impl Failure {
    /// The class of `e`.
    pub(crate) fn of(e: &PgError) -> Failure {
        let text = e.to_string();
        match e {
            PgError::Pool(_) => Failure::Unavailable(text),
            PgError::ReadOnly(_) => Failure::ReadOnly(text),
            PgError::Db(db) => match db_class(db) {
                DbClass::Occ => Failure::Occ(text),
                DbClass::Unavailable => Failure::Unavailable(text),
                DbClass::ReadOnly => Failure::ReadOnly(text),
                DbClass::Refused(code) => Failure::Refused(code, text),
                DbClass::Other => Failure::Other(text),
            },
            _ => Failure::Other(text),
        }
    }

    /// What went wrong, in words.
    pub(crate) fn reason(&self) -> &str {
        match self {
            Failure::Occ(r)
            | Failure::Unavailable(r)
            | Failure::ReadOnly(r)
            | Failure::Refused(_, r)
            | Failure::OutcomeUnknown(r)
            | Failure::Other(r) => r,
        }
    }

    /// The error a caller is answered with.
    pub(crate) fn into_error(self) -> credence_core::Error {
        use credence_core::Error;
        match self {
            Failure::Occ(reason) | Failure::Refused(_, reason) => {
                Error::Conflict { backend: BACKEND, reason }
            }
            Failure::Unavailable(reason) => Error::Unavailable { backend: BACKEND, reason },
            Failure::ReadOnly(reason) => Error::ReadOnly { backend: BACKEND, reason },
            Failure::OutcomeUnknown(reason) => Error::outcome_unknown(BACKEND, reason),
            Failure::Other(reason) => Error::Backend { backend: BACKEND, source: reason.into() },
        }
    }
}

/// A database error's class, from its SQLSTATE (see [`Failure`]).
enum DbClass {
    Occ,
    Unavailable,
    ReadOnly,
    Refused(&'static str),
    Other,
}

fn db_class(e: &postgres::Error) -> DbClass {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection or TLS failed before the server answered.
        let text = error_chain(e);
        let tls = text.contains("TLS") || text.contains("certificate") || text.contains("ssl");
        return if tls { DbClass::Other } else { DbClass::Unavailable };
    };
    let c = code.code();
    for known in [refusal::CLAIM_EXISTS, refusal::STALE, refusal::LOCK_BUSY] {
        if c == known {
            return DbClass::Refused(known);
        }
    }
    if *code == SqlState::UNIQUE_VIOLATION
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        DbClass::Occ
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE || *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        // A SELECT-only role (42501), or a read-only transaction or server (25006: a hot
        // standby, or `default_transaction_read_only`).
        DbClass::ReadOnly
    } else if c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources (too many connections, ...)
        || c == "57014" // query_canceled (statement_timeout)
        || c == "55P03" // lock_not_available
        || c == "57P01" // admin_shutdown (pg_terminate_backend)
        || c == "57P02" // crash_shutdown
        || c == "57P03"
    // cannot_connect_now
    {
        DbClass::Unavailable
    } else {
        DbClass::Other
    }
}

/// True for errors the write path retries (see [`Failure::Occ`]).
pub(crate) fn is_occ(e: &PgError) -> bool {
    matches!(Failure::of(e), Failure::Occ(_))
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
    matches!(Failure::of(e), Failure::Unavailable(_))
}

/// True when the server refused a write for lack of privileges or because the transaction or
/// server is read-only.
pub(crate) fn is_read_only(e: &PgError) -> bool {
    matches!(Failure::of(e), Failure::ReadOnly(_))
}

fn db_to_core(e: postgres::Error) -> credence_core::Error {
    // The driver's own message is just "db error"; the chain carries the server's text.
    Failure::of(&PgError::Db(e)).into_error()
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
