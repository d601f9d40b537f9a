//! `--idempotency-key` (SPEC §2.4), driven through the real binary: a retried write stores
//! nothing new, also when several OS processes send it at once.
//!
//! The PostgreSQL variant uses `CREDENCE_TEST_POSTGRES_URL` (and `--features postgres`); without
//! it it is skipped with a loud message, except under `CI=true`, where that is a failure.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn command(store: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credence"));
    cmd.env_remove("CREDENCE_STORE").arg("--store").arg(store).arg("--json").args(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// The exit code and the JSON document of a finished `--json` command.
fn document(args: &[&str], out: &Output) -> (Option<i32>, Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "credence panicked on {args:?}: {stderr}");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{args:?} printed no JSON document ({e}): {}{stderr}", String::from_utf8_lossy(&out.stdout))
    });
    (out.status.code(), doc)
}

/// Runs a `--json` command; returns its exit code and document.
fn run(store: &str, args: &[&str]) -> (Option<i32>, Value) {
    let out = command(store, args).output().expect("the credence binary runs");
    document(args, &out)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.display())
}

/// The number of ledger entries of `agent` (one page is enough here).
fn entries(store: &str, agent: &str) -> usize {
    let (code, doc) = run(store, &["audit", agent, "--limit", "1000"]);
    assert_eq!(code, Some(0), "{doc}");
    doc["entries"].as_array().map_or(0, Vec::len)
}

fn remember_twice_answers_the_first_receipt(store: &str) {
    let args = ["remember", "a", "alice", "city", "Lisbon", "--idempotency-key", "call-1"];
    let (code, first) = run(store, &args);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(first["disposition"], "CommittedCheap");
    let (code, again) = run(store, &args);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again, first, "the retry answered another receipt");
    assert_eq!(entries(store, "a"), 1, "the retry wrote a ledger entry");

    let (code, other) =
        run(store, &["remember", "a", "alice", "city", "Porto", "--idempotency-key", "call-1"]);
    assert_eq!(code, Some(1), "{other}");
    assert_eq!(other["disposition"], "Rejected");
    assert_eq!(other["reason"]["code"], "idempotency_key_reused", "{other}");
    assert_eq!(entries(store, "a"), 1);
}

/// Four processes started together with the same keyed `remember`: one claim, four equal
/// receipts.
fn processes_racing_with_one_key_store_it_once(store: &str) {
    let args = ["remember", "race", "bob", "employer", "Acme", "--idempotency-key", "k"];
    let children: Vec<_> =
        (0..4).map(|_| command(store, &args).spawn().expect("the credence binary starts")).collect();
    let docs: Vec<Value> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("the credence binary finishes");
            let (code, doc) = document(&args, &out);
            assert_eq!(code, Some(0), "{doc}");
            doc
        })
        .collect();
    assert!(docs.iter().all(|d| *d == docs[0]), "the processes got different receipts: {docs:?}");
    assert_eq!(docs[0]["seq"], 1);
    assert_eq!(entries(store, "race"), 1);
}

#[test]
fn remember_retried_with_its_key_answers_the_first_receipt_and_writes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    remember_twice_answers_the_first_receipt(&sqlite_url(dir.path()));
    Ok(())
}

#[test]
fn processes_racing_with_one_key_store_one_claim_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    processes_racing_with_one_key_store_it_once(&sqlite_url(dir.path()));
    Ok(())
}

#[test]
fn invalidate_retried_with_its_key_answers_the_first_receipt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let (_, r) = run(&store, &["remember", "a", "s", "p", "v"]);
    let claim = r["claim_ref"].as_str().ok_or("no claim_ref")?.to_owned();
    let args = ["invalidate", "a", &claim, "--reason", "typo", "--idempotency-key", "inv-1"];
    let (code, first) = run(&store, &args);
    assert_eq!((code, first["disposition"].as_str()), (Some(0), Some("Invalidated")), "{first}");
    let (code, again) = run(&store, &args);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again, first);
    // Without the key the same call is refused: the claim is no longer live.
    let (code, unkeyed) = run(&store, &["invalidate", "a", &claim, "--reason", "typo"]);
    assert_eq!((code, unkeyed["disposition"].as_str()), (Some(1), Some("Rejected")), "{unkeyed}");
    assert_eq!(entries(&store, "a"), 3, "claim committed, validity asserted, invalidated");
    Ok(())
}

#[test]
fn an_invalid_key_is_rejected_naming_the_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let long = "k".repeat(129);
    let (code, doc) = run(&store, &["remember", "a", "s", "p", "v", "--idempotency-key", &long]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["reason"]["code"], "too_long", "{doc}");
    assert_eq!(doc["reason"]["field"], "idempotency_key", "{doc}");
    let (_, agents) = run(&store, &["agents"]);
    assert_eq!(agents["agents"], serde_json::json!([]));
    Ok(())
}

#[cfg(feature = "postgres")]
#[test]
fn keyed_writes_on_postgres_store_once_across_processes() -> TestResult {
    let Ok(base) = std::env::var("CREDENCE_TEST_POSTGRES_URL") else {
        let msg = "CREDENCE_TEST_POSTGRES_URL is unset: the CLI idempotency test on PostgreSQL did not run";
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg} (CI=true makes this a failure)");
        eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
        return Ok(());
    };
    let schema = format!("credence_cli_idem_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = format!("{base}{sep}schema={schema}");
    remember_twice_answers_the_first_receipt(&store);
    processes_racing_with_one_key_store_it_once(&store);
    let mut client = credence_postgres::postgres::Client::connect(&base, credence_postgres::postgres::NoTls)?;
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))?;
    Ok(())
}
