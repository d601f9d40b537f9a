//! Store URLs: which backend a URL names, and opening it.

use std::sync::Arc;

use credence_core::{Error, Ledger, MemoryLedger, Result};

/// The URL forms, for error messages.
pub const URL_FORMS: &str = "memory:, sqlite:<dir>, sqlite::memory: or postgres://user@host:port/db?options";

/// An opened backend, kept by its concrete type for diagnostics ([`crate::doctor`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// `memory:` — the pure-Rust reference backend.
    Memory(Arc<MemoryLedger>),
    /// `sqlite:<dir>` or `sqlite::memory:`.
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<credence_sqlite::SqliteLedger>),
    /// `postgres://…`.
    #[cfg(feature = "postgres")]
    Postgres(Arc<credence_postgres::PostgresLedger>),
}

impl Backend {
    /// The same ledger behind the storage trait.
    pub fn ledger(&self) -> Arc<dyn Ledger> {
        match self {
            Backend::Memory(l) => l.clone(),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(l) => l.clone(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(l) => l.clone(),
        }
    }
}

/// Which backend a URL names, without opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `memory:`
    Memory,
    /// `sqlite:<dir>` or `sqlite::memory:`
    Sqlite,
    /// `postgres://` or `postgresql://`
    Postgres,
}

/// Classifies a URL by its scheme, refusing empty, unknown and not-compiled-in ones.
///
/// # Errors
/// `InvalidStoreUrl` saying why.
pub fn scheme(url: &str) -> Result<Scheme> {
    let bad = |reason: String| Err(Error::InvalidStoreUrl { url: redact(url), reason });
    if url.trim().is_empty() {
        return bad(format!("the URL is empty; expected {URL_FORMS}"));
    }
    if let Some(rest) = url.strip_prefix("memory:") {
        if !rest.is_empty() {
            return bad("`memory:` takes nothing after the colon".into());
        }
        return Ok(Scheme::Memory);
    }
    if url.starts_with("sqlite:") {
        if !cfg!(feature = "sqlite") {
            return bad("this build of credence has no SQLite support (enable the `sqlite` feature)".into());
        }
        return Ok(Scheme::Sqlite);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if !cfg!(feature = "postgres") {
            return bad(
                "this build of credence has no PostgreSQL support (rebuild with `--features postgres`)"
                    .into(),
            );
        }
        return Ok(Scheme::Postgres);
    }
    match url.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() => {
            bad(format!("unknown scheme `{scheme}:`; expected {URL_FORMS}"))
        }
        _ => bad(format!("no scheme; expected {URL_FORMS} (for a directory write `sqlite:{url}`)")),
    }
}

/// Opens the backend a URL names.
///
/// # Errors
/// `InvalidStoreUrl` for a malformed URL or a backend not compiled in; the backend's own
/// errors when it cannot be opened (an unreachable server is `Unavailable`).
pub fn open_backend(url: &str) -> Result<Backend> {
    match scheme(url)? {
        Scheme::Memory => Ok(Backend::Memory(Arc::new(MemoryLedger::new()))),
        #[cfg(feature = "sqlite")]
        Scheme::Sqlite => Ok(Backend::Sqlite(Arc::new(credence_sqlite::SqliteLedger::from_url(url)?))),
        #[cfg(feature = "postgres")]
        Scheme::Postgres => {
            Ok(Backend::Postgres(Arc::new(credence_postgres::PostgresLedger::from_url(url)?)))
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::InvalidStoreUrl { url: redact(url), reason: "backend not compiled in".into() }),
    }
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    credence_core::redact::url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_malformed_urls_are_invalid_store_url() {
        for url in ["", "  ", "memory:x", "mysql://x", "/tmp/dir", "redis:"] {
            let err = scheme(url).expect_err(url);
            assert!(matches!(err, Error::InvalidStoreUrl { .. }), "{url:?}: {err}");
        }
    }

    #[test]
    fn scheme_postgres_without_the_feature_says_how_to_enable_it() {
        let r = scheme("postgres://u@h/db");
        if cfg!(feature = "postgres") {
            assert_eq!(r.ok(), Some(Scheme::Postgres));
        } else {
            let err = r.expect_err("not compiled in").to_string();
            assert!(err.contains("--features postgres"), "{err}");
        }
    }
}
