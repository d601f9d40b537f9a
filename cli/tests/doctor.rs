//! `credence doctor` finds what is wrong, and only that: one test per kind of damage, each made
//! by hand on a real store, and a creation cut short by a full disk that leaves nothing behind.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use credence_sqlite::rusqlite::Connection;
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

mod support;

fn run(store: &str, args: &[&str]) -> Output {
    support::credence_on(store, args, Stdio::null())
}

/// A SQLite store with agents `a` (three units) and `b` (one).
fn store(dir: &Path) -> String {
    let store = format!("sqlite:{}", dir.display());
    for args in [["a", "s", "p", "1"], ["a", "s", "q", "2"], ["a", "t", "p", "3"], ["b", "s", "p", "4"]] {
        let mut all = vec!["remember"];
        all.extend_from_slice(&args);
        assert_eq!(run(&store, &all).status.code(), Some(0), "{args:?}");
    }
    store
}

/// The doctor's report: `(healthy, the error findings' check names and details)`.
fn doctor(store: &str) -> (bool, Vec<String>) {
    let out = run(store, &["--json", "doctor"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let healthy = doc["healthy"].as_bool().expect("the report says whether the store is healthy");
    assert_eq!(out.status.code(), Some(if healthy { 0 } else { 1 }), "{doc}");
    let errors = doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["level"] == "error")
        .map(|f| format!("{}: {}", f["check"].as_str().unwrap_or(""), f["detail"].as_str().unwrap_or("")))
        .collect();
    (healthy, errors)
}

/// `a`'s file (`a-61.sqlite3`), checkpointed so its rows are in the main file.
fn file_of_a(dir: &Path) -> std::path::PathBuf {
    dir.join("a-61.sqlite3")
}

fn edit(file: &Path, sql: &str) -> TestResult {
    let conn = Connection::open(file)?;
    conn.execute_batch(sql)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

#[test]
fn doctor_calls_an_untouched_store_healthy() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (healthy, errors) = doctor(&store(dir.path()));
    assert!(healthy, "{errors:?}");
    Ok(())
}

#[test]
fn doctor_finds_an_agent_file_renamed_to_another_agents_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    // `a`'s file now carries the name of agent `c` (hex 63).
    std::fs::rename(file_of_a(dir.path()), dir.path().join("a-63.sqlite3"))?;
    let (healthy, errors) = doctor(&store);
    assert!(!healthy);
    assert!(errors.iter().any(|e| e.contains("a-63.sqlite3") && e.contains("another name")), "{errors:?}");
    Ok(())
}

#[test]
fn doctor_finds_an_agent_id_changed_inside_its_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    edit(&file_of_a(dir.path()), "UPDATE agent SET agent_id = 'z' WHERE singleton = 1")?;
    let (healthy, errors) = doctor(&store);
    assert!(!healthy);
    assert!(errors.iter().any(|e| e.contains("a-61.sqlite3") && e.contains("\"z\"")), "{errors:?}");
    Ok(())
}

#[test]
fn doctor_finds_a_live_claims_index_that_disagrees_with_the_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    edit(&file_of_a(dir.path()), "DELETE FROM live_claims WHERE subject = 's' AND predicate = 'q'")?;
    let (healthy, errors) = doctor(&store);
    assert!(!healthy);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("live index a:") && errors[0].contains("\"s\"/\"q\""), "{errors:?}");
    Ok(())
}

#[test]
fn doctor_finds_poisoned_transaction_times() -> TestResult {
    for (what, sql, rule) in [
        (
            "far in the future",
            "UPDATE commits SET tx_time = 9000000000000000000 WHERE stream_seq = 3",
            "time_range",
        ),
        (
            "not increasing",
            "UPDATE commits SET tx_time = (SELECT tx_time FROM commits WHERE stream_seq = 1) WHERE stream_seq = 2",
            "tx_time_order",
        ),
        ("a claim's time off its unit's", "UPDATE claims SET tx_time = tx_time - 1 WHERE stream_seq = 2", ""),
    ] {
        let dir = tempfile::tempdir()?;
        let store = store(dir.path());
        edit(&file_of_a(dir.path()), sql)?;
        let (healthy, errors) = doctor(&store);
        assert!(!healthy, "{what}");
        assert!(
            errors.iter().any(|e| e.starts_with("integrity a:") && e.contains(rule)),
            "{what}: {errors:?}"
        );
    }
    Ok(())
}

#[test]
fn doctor_calls_an_empty_agent_file_harmless() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    std::fs::write(dir.path().join("a-64.sqlite3"), b"")?;
    let (healthy, errors) = doctor(&store);
    assert!(healthy, "{errors:?}");
    Ok(())
}

#[test]
fn a_creation_cut_short_by_a_full_disk_leaves_no_agent_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite:{}", dir.path().display());
    // A file size limit of 8 KiB stands for a full disk: SQLite's writes beyond it fail (EFBIG;
    // the signal is ignored so the process sees the error).
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" --store \"$1\" remember a s p v")
        .arg(env!("CARGO_BIN_EXE_credence"))
        .arg(&store)
        .env_remove("CREDENCE_STORE")
        .output()?;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let left: Vec<String> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "a failed creation left {left:?}");
    // Without the limit the same write succeeds and the store is healthy.
    assert_eq!(run(&store, &["remember", "a", "s", "p", "v"]).status.code(), Some(0));
    let (healthy, errors) = doctor(&store);
    assert!(healthy, "{errors:?}");
    Ok(())
}

#[cfg(feature = "postgres")]
#[test]
fn doctor_finds_poisoned_transaction_times_on_postgres() -> TestResult {
    let Ok(base) = std::env::var("CREDENCE_TEST_POSTGRES_URL") else {
        let msg = "CREDENCE_TEST_POSTGRES_URL is unset: the doctor test on PostgreSQL did not run";
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg} (CI=true makes this a failure)");
        eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
        return Ok(());
    };
    let schema = format!("credence_cli_doctor_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = format!("{base}{sep}schema={schema}");
    for value in ["1", "2"] {
        assert_eq!(run(&store, &["remember", "a", "s", "p", value]).status.code(), Some(0));
    }
    let (healthy, errors) = doctor(&store);
    let mut client = credence_postgres::postgres::Client::connect(&base, credence_postgres::postgres::NoTls)?;
    client.batch_execute(&format!(
        "UPDATE \"{schema}\".units SET tx_time = 9000000000000000000 WHERE stream_seq = 2"
    ))?;
    let (poisoned, found) = doctor(&store);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))?;
    assert!(healthy, "{errors:?}");
    assert!(!poisoned);
    assert!(found.iter().any(|e| e.starts_with("integrity a:") && e.contains("time_range")), "{found:?}");
    Ok(())
}

#[test]
fn doctor_finds_a_line_summary_that_disagrees_with_the_live_claims() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    edit(
        &file_of_a(dir.path()),
        "UPDATE live_lines SET clashes = clashes + 1 WHERE subject = 's' AND predicate = 'q'",
    )?;
    let (healthy, errors) = doctor(&store);
    assert!(!healthy);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("live index a:") && errors[0].contains("summary"), "{errors:?}");
    Ok(())
}

#[test]
fn doctor_finds_search_postings_and_subjects_that_disagree_with_the_claims() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    edit(&file_of_a(dir.path()), "DELETE FROM terms WHERE term = 'q'")?;
    let (healthy, errors) = doctor(&store);
    assert!(!healthy);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("discovery index a:") && errors[0].contains("\"q\""), "{errors:?}");
    edit(
        &file_of_a(dir.path()),
        "INSERT INTO terms SELECT agent_id, 'q', subject, 'q', 1 FROM live_lines WHERE subject = 's' AND predicate = 'q'; DELETE FROM live_lines WHERE subject = 't'",
    )?;
    let (_, errors) = doctor(&store);
    assert!(
        errors.iter().any(|e| e.starts_with("discovery index a:") && e.contains("subjects")),
        "{errors:?}"
    );
    Ok(())
}

#[test]
fn reindex_repairs_the_live_claims_summaries_and_postings_doctor_finds_wrong() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path());
    edit(
        &file_of_a(dir.path()),
        "DELETE FROM live_claims WHERE subject = 's' AND predicate = 'q'; \
         UPDATE live_lines SET clashes = 7 WHERE subject = 't'; DELETE FROM terms WHERE term = 'p'",
    )?;
    assert!(!doctor(&store).0);
    let one = run(&store, &["--json", "reindex", "--agent", "a"]);
    assert_eq!(one.status.code(), Some(0), "{}", String::from_utf8_lossy(&one.stderr));
    let report: Value = serde_json::from_slice(&one.stdout)?;
    assert_eq!(report["agents"], serde_json::json!([{"agent": "a", "live_claims": 3}]), "{report}");
    let (healthy, errors) = doctor(&store);
    assert!(healthy, "{errors:?}");
    let all = run(&store, &["--json", "reindex"]);
    let report: Value = serde_json::from_slice(&all.stdout)?;
    assert_eq!(report["agents"].as_array().map(Vec::len), Some(2), "{report}");
    Ok(())
}
