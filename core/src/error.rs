//! The one error type of credence.

use crate::ids::Handle;

/// How the reason of an [`Error::Unavailable`] starts when a write's commit may or may not
/// have happened ([`Error::outcome_unknown`]).
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";

/// What can go wrong outside the ordinary dispositions.
///
/// Bad input to a write is not an error: it is a `Rejected` disposition with a reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A claim or other record that the call names does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// No adjudication has this handle.
    #[error("no adjudication with handle {handle}")]
    HandleNotFound {
        /// The handle given.
        handle: Handle,
    },
    /// The adjudication expired before the verdict arrived; the expiry has been recorded.
    #[error("adjudication {handle} expired before the verdict")]
    HandleExpired {
        /// The handle given.
        handle: Handle,
    },
    /// The adjudication was already resolved or expired; nothing was written.
    #[error("adjudication {handle} is already closed ({status})")]
    HandleAlreadyClosed {
        /// The handle given.
        handle: Handle,
        /// `resolved` or `expired`.
        status: String,
    },
    /// An `EngineConfig` or backend configuration value is out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which value and why.
        reason: String,
    },
    /// A store URL could not be understood.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL given (credentials removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write that answers no receipt (an adjudication verdict) was refused: nothing was
    /// written. Writes that answer a receipt report this as a `Rejected` disposition instead.
    #[error("rejected: {reason}")]
    Rejected {
        /// Why.
        reason: crate::validate::RejectReason,
    },
    /// A read query is malformed (for example an audit page of zero entries).
    #[error("invalid query: {reason}")]
    InvalidQuery {
        /// What is wrong with it.
        reason: String,
    },
    /// The stored schema is newer than this binary understands.
    #[error("schema version {found} is newer than the {supported} this build supports")]
    SchemaTooNew {
        /// Version found in storage.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The store is temporarily unavailable (busy, locked, pool timeout, connection lost).
    /// Retrying may succeed.
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        reason: String,
    },
    /// An optimistic-concurrency conflict that survived the backend's own retries.
    /// Retrying may succeed.
    #[error("{backend} write conflict: {reason}")]
    Conflict {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        reason: String,
    },
    /// A write to a store that can only be read (a read-only directory or file system, a
    /// database role without write privileges). Nothing was written; reads work.
    #[error("{backend} store is read-only: {reason}")]
    ReadOnly {
        /// Backend name.
        backend: &'static str,
        /// Why it cannot be written.
        reason: String,
    },
    /// A stored row does not decode.
    #[error("{backend} holds a corrupt record: {detail}")]
    Corrupt {
        /// Backend name.
        backend: &'static str,
        /// Which row and why.
        detail: String,
    },
    /// Any other backend failure.
    #[error("{backend} error: {source}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The variant's name (`"NotFound"`, `"Unavailable"`, …): what front doors that cannot
    /// match on the enum (Python, logs) name the error by.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "NotFound",
            Error::HandleNotFound { .. } => "HandleNotFound",
            Error::HandleExpired { .. } => "HandleExpired",
            Error::HandleAlreadyClosed { .. } => "HandleAlreadyClosed",
            Error::InvalidConfig { .. } => "InvalidConfig",
            Error::InvalidStoreUrl { .. } => "InvalidStoreUrl",
            Error::Rejected { .. } => "Rejected",
            Error::InvalidQuery { .. } => "InvalidQuery",
            Error::SchemaTooNew { .. } => "SchemaTooNew",
            Error::Unavailable { .. } => "Unavailable",
            Error::Conflict { .. } => "Conflict",
            Error::ReadOnly { .. } => "ReadOnly",
            Error::Corrupt { .. } => "Corrupt",
            Error::Backend { .. } => "Backend",
        }
    }

    /// True when retrying the same call may succeed (busy/locked, pool timeout, lost connection,
    /// optimistic-concurrency conflict).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Conflict { .. })
    }

    /// An `Unavailable` error for a write whose commit may or may not have happened (the
    /// connection broke after `COMMIT` was sent and the backend could not find out): its
    /// reason starts with [`OUTCOME_UNKNOWN`]. Retry such a write only with an idempotency
    /// key (SPEC §2.4), or check first whether it was stored.
    pub fn outcome_unknown(backend: &'static str, detail: impl std::fmt::Display) -> Error {
        Error::Unavailable { backend, reason: format!("{OUTCOME_UNKNOWN}: {detail}") }
    }

    /// True for an [`outcome_unknown`](Self::outcome_unknown) error: the write may have been
    /// stored. Every other error of a write means nothing of it was stored.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::Unavailable { reason, .. } if reason.starts_with(OUTCOME_UNKNOWN))
    }

    /// A copy of this error for another caller that shares its cause (for example every
    /// unit of a batch whose store could not be opened). `Backend` errors keep their message.
    pub fn replicate(&self) -> Error {
        match self {
            Error::NotFound { what } => Error::NotFound { what: what.clone() },
            Error::HandleNotFound { handle } => Error::HandleNotFound { handle: *handle },
            Error::HandleExpired { handle } => Error::HandleExpired { handle: *handle },
            Error::HandleAlreadyClosed { handle, status } => {
                Error::HandleAlreadyClosed { handle: *handle, status: status.clone() }
            }
            Error::InvalidConfig { reason } => Error::InvalidConfig { reason: reason.clone() },
            Error::InvalidStoreUrl { url, reason } => {
                Error::InvalidStoreUrl { url: url.clone(), reason: reason.clone() }
            }
            Error::InvalidQuery { reason } => Error::InvalidQuery { reason: reason.clone() },
            Error::Rejected { reason } => Error::Rejected { reason: reason.clone() },
            Error::SchemaTooNew { found, supported } => {
                Error::SchemaTooNew { found: *found, supported: *supported }
            }
            Error::Unavailable { backend, reason } => Error::Unavailable { backend, reason: reason.clone() },
            Error::Conflict { backend, reason } => Error::Conflict { backend, reason: reason.clone() },
            Error::Corrupt { backend, detail } => Error::Corrupt { backend, detail: detail.clone() },
            Error::ReadOnly { backend, reason } => Error::ReadOnly { backend, reason: reason.clone() },
            Error::Backend { backend, source } => {
                Error::Backend { backend, source: source.to_string().into() }
            }
        }
    }

    /// The error a batched unit gets when its body panicked (see
    /// [`Ledger::write_batch`](crate::Ledger::write_batch)); carries the panic message.
    pub fn unit_panicked(backend: &'static str, payload: &(dyn std::any::Any + Send)) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Error::Backend { backend, source: format!("the write unit panicked: {message}").into() }
    }

    /// A `Corrupt` error for `backend`.
    pub fn corrupt(backend: &'static str, detail: impl Into<String>) -> Error {
        Error::Corrupt { backend, detail: detail.into() }
    }
}

/// `Result` with credence's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
