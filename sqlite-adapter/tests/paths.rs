//! Store URLs and directories are what they look like (SPEC §5.2): never a SQLite URI, and
//! nothing is created outside the store directory.
//!
//! The one test that changes the working directory lives alone in this binary (the working
//! directory is per process).

use std::path::Path;

use credence_core::{ClaimEngine, Engine, Error, IngestRequest, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(
                path.strip_prefix(dir)
                    .map_or_else(|_| path.display().to_string(), |p| p.display().to_string()),
            );
        }
    }
    out.sort();
    out
}

#[test]
fn uri_shaped_urls_are_refused_and_a_directory_named_file_colon_stays_a_path() -> TestResult {
    let work = tempfile::tempdir()?;
    let target = work.path().join("elsewhere");
    std::fs::create_dir(&target)?;
    std::env::set_current_dir(work.path())?;

    for url in [
        format!("sqlite:file:{}", target.display()),
        format!("sqlite://file:{}", target.display()),
        format!("sqlite:{}?mode=memory", target.display()),
        "sqlite:FILE:mem".to_owned(),
    ] {
        let err = SqliteLedger::from_url(&url).err();
        assert!(matches!(err, Some(Error::InvalidStoreUrl { .. })), "{url}: {err:?}");
    }
    assert_eq!(files_under(work.path()), vec!["elsewhere".to_owned()], "a refused URL created something");

    // A directory whose relative name starts with `file:` (given as a path, not a URL) is a
    // directory: SQLite never reads it as a URI that points at `elsewhere`.
    let dir = format!("file:{}", target.display());
    let engine = Engine::new(SqliteLedger::open(Path::new(&dir), SqliteConfig::default())?);
    engine.ingest(IngestRequest::new("a", "s", "p", "v"))?;
    assert_eq!(engine.recall(&RecallQuery::new("a", "s", "p"))?.value, Some("v".into()));
    assert!(
        files_under(&target).is_empty(),
        "files appeared in the URI's target: {:?}",
        files_under(&target)
    );
    let made = files_under(work.path());
    assert!(
        made.iter().all(|f| f == "elsewhere" || f.starts_with("file:")),
        "files outside the store directory: {made:?}"
    );
    assert!(
        made.iter().any(|f| f.ends_with(".sqlite3")),
        "the agent file is in the store directory: {made:?}"
    );
    Ok(())
}
