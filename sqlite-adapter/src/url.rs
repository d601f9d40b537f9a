//! Store URLs: `sqlite:<dir>` and `sqlite::memory:`.

use std::path::PathBuf;

use crate::error::{SqlResult, SqliteError};

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// One file per agent under this directory.
    Dir(PathBuf),
    /// In-memory databases, nothing on disk.
    Memory,
}

/// Parses a store URL. Anything but `sqlite:<non-empty dir>` or `sqlite::memory:` is an error.
pub(crate) fn parse(url: &str) -> SqlResult<Location> {
    let bad = |reason: &str| Err(SqliteError::Url { url: url.to_owned(), reason: reason.to_owned() });
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return bad("expected `sqlite:<dir>` or `sqlite::memory:`");
    };
    if rest == ":memory:" {
        return Ok(Location::Memory);
    }
    if rest.starts_with(':') {
        return bad("the only special location is `:memory:`");
    }
    // Accept `sqlite://path` as a URL-style spelling of `sqlite:path`.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return bad("the directory is empty");
    }
    if path.contains('\0') {
        return bad("the directory contains NUL");
    }
    // The directory is a path, never a SQLite URI: refuse what looks like one rather than
    // create a directory named after it.
    if path.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:")) {
        return bad("`file:` URIs are not store URLs: give the directory as a path, e.g. `sqlite:/srv/mem`");
    }
    if path.contains('?') {
        return bad("`?` options are not supported on SQLite store URLs (the directory is a plain path; \
             SQLite URI parameters such as `?mode=` are never applied)");
    }
    Ok(Location::Dir(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_dir_and_memory() {
        assert_eq!(parse("sqlite:/tmp/x").ok(), Some(Location::Dir(PathBuf::from("/tmp/x"))));
        assert_eq!(parse("sqlite:rel/dir").ok(), Some(Location::Dir(PathBuf::from("rel/dir"))));
        assert_eq!(parse("sqlite:///tmp/x").ok(), Some(Location::Dir(PathBuf::from("/tmp/x"))));
        assert_eq!(parse("sqlite::memory:").ok(), Some(Location::Memory));
    }

    #[test]
    fn parse_malformed_url_is_an_error() {
        for url in [
            "",
            "sqlite:",
            "sqlite://",
            "sqlite::mem:",
            "postgres://x",
            "memory:",
            "sqlite:a\0b",
            "SQLITE:x",
            "sqlite:file:/srv/mem",
            "sqlite:FILE:mem",
            "sqlite://file:x",
            "sqlite:/srv/mem?mode=ro",
            "sqlite:x?",
        ] {
            assert!(matches!(parse(url), Err(SqliteError::Url { .. })), "{url:?}");
        }
    }
}
