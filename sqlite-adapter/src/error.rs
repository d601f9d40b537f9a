//! The adapter's private error type and its one mapping into [`credence_core::Error`].

use std::borrow::Cow;
use std::sync::Arc;

use credence_core::Error;
use rusqlite::ErrorCode;

/// The backend name used in every error.
pub(crate) const BACKEND: &str = "sqlite";

/// Everything that can go wrong inside the adapter. Converted into the core error in exactly
/// one place (the `From` impl below).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqliteError {
    /// A driver error; mapped by its SQLite result code.
    #[error("{context}: {source}")]
    Sqlite {
        /// What the adapter was doing.
        context: Cow<'static, str>,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored row or file does not decode.
    #[error("{0}")]
    Decode(String),
    /// Another process kept the agent's write turn beyond `busy_timeout` (retryable).
    #[error("{0}")]
    TurnTimeout(String),
    /// A write to a store on a read-only directory, file or file system.
    #[error("{0}")]
    ReadOnly(String),
    /// A unit that does not fit after the current head (the `UNIQUE(agent_id, stream_seq)`
    /// backstop).
    #[error("{0}")]
    Conflict(String),
    /// The file's schema is newer than this build.
    #[error("schema version {found} is newer than {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A filesystem error outside SQLite.
    #[error("{context}: {source}")]
    Io {
        /// What the adapter was doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range, or the SQLite library is too old.
    #[error("{0}")]
    Config(String),
    /// A store URL could not be understood.
    #[error("invalid store URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The group commit this write joined failed; every member gets this.
    #[error("group commit failed: {0}")]
    Batch(Arc<SqliteError>),
    /// `COMMIT` failed with an error after which SQLite does not say whether the transaction's
    /// WAL frames will count (an I/O error while syncing, say): the write may be stored.
    #[error("COMMIT failed and the outcome is unknown: {0}")]
    CommitUnknown(Box<SqliteError>),
    /// An internal state that should be impossible (a poisoned lock after a panic).
    #[error("{0}")]
    Internal(String),
}

impl SqliteError {
    /// Wraps a driver error with what the adapter was doing. A `&'static str` context costs
    /// nothing until an error happens (this runs on every statement of the hot paths).
    pub(crate) fn sqlite(
        context: impl Into<Cow<'static, str>>,
    ) -> impl FnOnce(rusqlite::Error) -> SqliteError {
        let context = context.into();
        move |source| SqliteError::Sqlite { context, source }
    }

    /// Wraps an I/O error with what the adapter was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SqliteError {
        let context = context.into();
        move |source| SqliteError::Io { context, source }
    }

    /// True when the driver reports a busy or locked database.
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            SqliteError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            SqliteError::Batch(inner) => inner.is_busy(),
            SqliteError::TurnTimeout(_) => true,
            _ => false,
        }
    }

    /// The core error this maps to; by reference so a shared batch failure maps per member.
    fn to_core(&self) -> Error {
        let message = self.to_string();
        match self {
            SqliteError::Sqlite { source, .. } => match source {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(..) => Error::corrupt(BACKEND, message),
                _ => match source.sqlite_error_code() {
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                        Error::Unavailable { backend: BACKEND, reason: message }
                    }
                    Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                        Error::corrupt(BACKEND, message)
                    }
                    Some(ErrorCode::ConstraintViolation) => {
                        Error::Conflict { backend: BACKEND, reason: message }
                    }
                    _ => Error::Backend { backend: BACKEND, source: message.into() },
                },
            },
            SqliteError::Decode(_) => Error::corrupt(BACKEND, message),
            SqliteError::ReadOnly(reason) => Error::ReadOnly { backend: BACKEND, reason: reason.clone() },
            SqliteError::TurnTimeout(reason) => {
                Error::Unavailable { backend: BACKEND, reason: reason.clone() }
            }
            SqliteError::Conflict(reason) => Error::Conflict { backend: BACKEND, reason: reason.clone() },
            SqliteError::SchemaTooNew { found, supported } => {
                Error::SchemaTooNew { found: *found, supported: *supported }
            }
            SqliteError::Io { .. } | SqliteError::Internal(_) => {
                Error::Backend { backend: BACKEND, source: message.into() }
            }
            SqliteError::Config(reason) => Error::InvalidConfig { reason: reason.clone() },
            SqliteError::Url { url, reason } => {
                Error::InvalidStoreUrl { url: url.clone(), reason: reason.clone() }
            }
            SqliteError::CommitUnknown(_) => Error::outcome_unknown(BACKEND, message),
            SqliteError::Batch(inner) if matches!(**inner, SqliteError::CommitUnknown(_)) => {
                Error::outcome_unknown(BACKEND, format!("group commit failed: {inner}"))
            }
            SqliteError::Batch(inner) => match inner.to_core() {
                Error::Unavailable { reason, .. } => {
                    Error::Unavailable { backend: BACKEND, reason: format!("group commit failed: {reason}") }
                }
                Error::Corrupt { detail, .. } => {
                    Error::corrupt(BACKEND, format!("group commit failed: {detail}"))
                }
                Error::Conflict { reason, .. } => {
                    Error::Conflict { backend: BACKEND, reason: format!("group commit failed: {reason}") }
                }
                other => Error::Backend {
                    backend: BACKEND,
                    source: format!("group commit failed: {other}").into(),
                },
            },
        }
    }
}

impl From<SqliteError> for Error {
    fn from(e: SqliteError) -> Error {
        e.to_core()
    }
}

/// The adapter's result type.
pub(crate) type SqlResult<T> = std::result::Result<T, SqliteError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_of_unknown_outcome_is_outcome_unknown_for_every_member() {
        let io = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_FSYNC),
            Some("disk I/O error".into()),
        );
        let unknown = SqliteError::CommitUnknown(Box::new(SqliteError::sqlite("committing")(io)));
        let member = Error::from(SqliteError::Batch(Arc::new(unknown)));
        assert!(member.is_outcome_unknown(), "{member}");
        assert!(member.is_retryable(), "{member}");
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let member = Error::from(SqliteError::Batch(Arc::new(SqliteError::sqlite("committing")(busy))));
        assert!(!member.is_outcome_unknown(), "a busy COMMIT committed nothing: {member}");
    }
}
