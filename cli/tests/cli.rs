//! The `credence` binary, driven as a user would: through `std::process::Command`.
//!
//! PostgreSQL tests use `CREDENCE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`)
//! and need `--features postgres`; without the variable they are skipped with a loud message,
//! except under `CI=true`, where that is a failure.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs the binary against `store` with `args`; `stdin` is fed when given.
fn run(store: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credence"));
    cmd.env_remove("CREDENCE_STORE").env_remove("RUST_LOG").arg("--store").arg(store).args(args);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the credence binary starts");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input).expect("stdin accepts the input");
    }
    let out = child.wait_with_output().expect("the credence binary finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "credence panicked on {args:?}: {stderr}");
    out
}

/// Runs a command that must succeed and returns its stdout.
fn ok(store: &str, args: &[&str]) -> String {
    let out = run(store, args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a `--json` command that must succeed and returns its document.
fn ok_json(store: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(store, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e}): {text}"))
}

/// Runs a command that must fail with `code`; returns stderr.
fn fails(store: &str, args: &[&str], code: i32) -> String {
    let out = run(store, args, None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: stdout {} stderr {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("error"), "{args:?}: no error message on stderr: {stderr:?}");
    stderr
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.display())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A store with a small story in it: a fact, a contradiction, a succession, a derivation.
fn populate(store: &str) -> String {
    ok_json(store, &["remember", "a1", "alice", "city", "Lisbon", "--provenance", "user"]);
    ok_json(store, &["remember", "a1", "alice", "city", "Porto"]);
    let acme = ok_json(
        store,
        &["remember", "a1", "alice", "employer", "Acme", "--valid-from", "2019", "--valid-until", "2022-03"],
    );
    ok_json(store, &["remember", "a1", "alice", "employer", "Globex", "--valid-from", "2022-03"]);
    let acme_ref = s(&acme["claim_ref"]).to_owned();
    ok_json(
        store,
        &[
            "remember",
            "a1",
            "alice",
            "industry",
            "{\"name\":\"retail\"}",
            "--json-value",
            "--provenance",
            "model",
            "--derived-from",
            &acme_ref,
        ],
    );
    ok_json(store, &["remember", "a2", "bob", "tags", "x", "--set"]);
    ok_json(store, &["remember", "a2", "bob", "tags", "y", "--set"]);
    acme_ref
}

/// Every answer the CLI gives about the populated story, for comparing two stores.
fn answers(store: &str) -> Vec<Value> {
    let mut out = vec![ok_json(store, &["agents"])];
    for (agent, subject, predicate) in [
        ("a1", "alice", "city"),
        ("a1", "alice", "employer"),
        ("a1", "alice", "industry"),
        ("a2", "bob", "tags"),
    ] {
        out.push(ok_json(store, &["recall", agent, subject, predicate]));
        out.push(ok_json(store, &["recall", agent, subject, predicate, "--as-of-seq", "2"]));
        out.push(ok_json(store, &["history", agent, subject, predicate]));
    }
    out.push(ok_json(store, &["audit", "a1"]));
    out.push(ok_json(store, &["audit", "a2"]));
    out
}

#[test]
fn remember_and_recall_print_the_documented_json_fields() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let w = ok_json(&store, &["remember", "agent-1", "alice", "city", "Lisbon", "--provenance", "user"]);
    assert_eq!(w["disposition"], "CommittedCheap");
    assert_eq!(w["seq"], 1);
    assert_eq!(w["contested_with"], Value::Array(vec![]));
    assert!(s(&w["claim_ref"]).len() == 36, "{w}");
    let b = ok_json(&store, &["recall", "agent-1", "alice", "city"]);
    assert_eq!(b["status"], "TimingUncertain");
    assert_eq!(b["value"], "Lisbon");
    assert_eq!(b["values"], serde_json::json!(["Lisbon"]));
    assert_eq!(b["candidates"][0]["claim_ref"], w["claim_ref"]);
    assert_eq!(b["candidates"][0]["value"], "Lisbon");
    assert_eq!(b["markers"], serde_json::json!([]));
    assert_eq!(b["corroboration_count"], 0);
    assert_eq!(b["currency"], "Fresh");
    assert_eq!(b["as_of_seq"], 1);
    // The human form says the same.
    let text = ok(&store, &["recall", "agent-1", "alice", "city"]);
    assert!(text.contains("TimingUncertain") && text.contains("Lisbon"), "{text}");
    Ok(())
}

#[test]
fn remember_contradiction_is_contested_with_both_candidates() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let first = ok_json(&store, &["remember", "a", "alice", "city", "Lisbon"]);
    let second = ok_json(&store, &["remember", "a", "alice", "city", "Porto"]);
    assert_eq!(second["disposition"], "Contested");
    assert_eq!(second["contested_with"], serde_json::json!([first["claim_ref"]]));
    let b = ok_json(&store, &["recall", "a", "alice", "city"]);
    assert_eq!(b["status"], "Contested");
    assert_eq!(b["value"], Value::Null);
    assert_eq!(b["values"], serde_json::json!(["Lisbon", "Porto"]));
    assert_eq!(b["markers"], serde_json::json!(["Contested"]));
    let h = ok_json(&store, &["history", "a", "alice", "city"]);
    let entries = h["entries"].as_array().ok_or("entries")?;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["claim_ref"], first["claim_ref"]);
    assert_eq!(entries[0]["status"], "Current");
    assert_eq!(entries[1]["disposition"], "Contested");
    assert_eq!(entries[1]["seq"], 2);
    assert_eq!(entries[1]["value"], "Porto");
    Ok(())
}

#[test]
fn recall_as_of_and_valid_at_read_both_time_axes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(
        &store,
        &["remember", "a", "alice", "employer", "Acme", "--valid-from", "2019", "--valid-until", "2022-03"],
    );
    let g = ok_json(
        &store,
        &["remember", "a", "alice", "employer", "Globex", "--valid-from", "2022-03-01T00:00:00Z"],
    );
    assert_eq!(g["disposition"], "CommittedCheap");
    assert_eq!(g["rationale"], "succession");
    let then = ok_json(&store, &["recall", "a", "alice", "employer", "--valid-at", "2022-02-28"]);
    assert_eq!(then["value"], "Acme");
    let now = ok_json(&store, &["recall", "a", "alice", "employer", "--valid-at", "2022-03"]);
    assert_eq!(now["value"], "Globex");
    let past =
        ok_json(&store, &["recall", "a", "alice", "employer", "--as-of-seq", "1", "--valid-at", "2023"]);
    assert_eq!(past["status"], "NoBelief", "at seq 1 nothing was valid in 2023: {past}");
    let before = ok_json(&store, &["recall", "a", "alice", "employer", "--as-of", "2000"]);
    assert_eq!(before["status"], "NoBelief");
    assert_eq!(before["as_of_seq"], 0);
    // The window keeps its granularity for display.
    let h = ok(&store, &["history", "a", "alice", "employer"]);
    assert!(h.contains("[2019, 2022-03)"), "{h}");
    Ok(())
}

#[test]
fn audit_and_subject_and_agents_list_what_was_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    populate(&store);
    let audit = ok_json(&store, &["audit", "a1"]);
    let entries = audit["entries"].as_array().ok_or("entries")?;
    assert!(entries.len() >= 5, "{audit}");
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["event"], "ClaimCommitted");
    assert_eq!(entries[0]["disposition"], "CommittedCheap");
    assert!(entries[0]["claim_ref"].is_string());
    let limited = ok_json(&store, &["audit", "a1", "--limit", "2", "--newest-first"]);
    assert_eq!(limited["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(limited["entries"][0]["seq"], 5);
    let subject = ok_json(&store, &["subject", "a1", "alice"]);
    let preds: Vec<&str> =
        subject["predicates"].as_array().ok_or("predicates")?.iter().map(|p| s(&p["predicate"])).collect();
    assert_eq!(preds, ["city", "employer", "industry"]);
    let agents = ok_json(&store, &["agents"]);
    assert_eq!(
        agents["agents"],
        serde_json::json!([{"agent": "a1", "units": 5}, {"agent": "a2", "units": 2}])
    );
    Ok(())
}

/// `history` lists every claim of a line longer than one page of the engine's reads, in
/// canonical order; `--limit` keeps the first claims; a limit of 0 is a usage error.
#[test]
fn history_pages_through_a_long_line_and_limit_keeps_the_first_claims() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let total = credence::HISTORY_PAGE + 3;
    {
        let c = credence::open(&store)?;
        for i in 0..total {
            c.remember("a", "alice", "visited", i).set_valued().commit()?;
        }
    }
    let values = |h: &Value| -> Result<Vec<u64>, String> {
        let entries = h["entries"].as_array().ok_or("entries")?;
        entries.iter().map(|e| e["value"].as_u64().ok_or(format!("value of {e}"))).collect()
    };
    let all = ok_json(&store, &["history", "a", "alice", "visited"]);
    assert_eq!(values(&all)?, (0..total as u64).collect::<Vec<_>>());
    let first = ok_json(&store, &["history", "a", "alice", "visited", "--limit", "3"]);
    assert_eq!(values(&first)?, [0, 1, 2]);
    assert_eq!(first["belief"], all["belief"]);
    fails(&store, &["history", "a", "alice", "visited", "--limit", "0"], 2);
    Ok(())
}

/// `subjects` lists an agent's subjects with their counts (all of them, or a prefix, or the
/// first `--limit`); `search` finds lines by any word of their subject, predicate or live
/// value, newest first, and a text without words fails.
#[test]
fn subjects_and_search_find_what_an_agent_knows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(&store, &["remember", "a", "alice", "home city", "Lisbon"]);
    ok_json(&store, &["remember", "a", "alice", "employer", "Acme Lisbon"]);
    ok_json(&store, &["remember", "a", "bob", "home city", "Porto"]);
    let all = ok_json(&store, &["subjects", "a"]);
    assert_eq!(
        all["subjects"],
        serde_json::json!([{"subject": "alice", "lines": 2, "live": 2}, {"subject": "bob", "lines": 1, "live": 1}])
    );
    let b = ok_json(&store, &["subjects", "a", "--prefix", "b"]);
    assert_eq!(b["subjects"].as_array().map(Vec::len), Some(1));
    let first = ok_json(&store, &["subjects", "a", "--limit", "1"]);
    assert_eq!(first["subjects"][0]["subject"], "alice");
    let found = ok_json(&store, &["search", "a", "LISBON"]);
    let lines: Vec<(&str, &str)> = found["hits"]
        .as_array()
        .ok_or("hits")?
        .iter()
        .map(|h| (s(&h["subject"]), s(&h["predicate"])))
        .collect();
    assert_eq!(lines, [("alice", "employer"), ("alice", "home city")]);
    assert_eq!(found["hits"][0]["belief"]["value"], "Acme Lisbon");
    let city = ok(&store, &["search", "a", "home city porto"]);
    assert!(city.contains("bob · home city") && city.contains("Porto"), "{city}");
    let then = ok_json(&store, &["search", "a", "acme", "--as-of-seq", "1"]);
    assert_eq!(then["hits"], serde_json::json!([]));
    fails(&store, &["search", "a", "?!"], 1);
    Ok(())
}

#[test]
fn pending_and_adjudicate_affirm_settle_a_queued_contradiction() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let inc = ok_json(&store, &["remember", "a", "alice", "city", "Lisbon"]);
    let ch = ok_json(&store, &["remember", "a", "alice", "city", "Porto", "--queue"]);
    assert_eq!(ch["disposition"], "QueuedForAdjudication");
    let p = ok_json(&store, &["pending"]);
    let adj = &p["adjudications"][0];
    assert_eq!(adj["challenger"], ch["claim_ref"]);
    assert_eq!(adj["incumbent"], serde_json::json!([inc["claim_ref"]]));
    assert_eq!(adj["status"], "pending");
    let handle = s(&adj["handle"]).to_owned();
    assert_eq!(handle, s(&ch["handle"]));
    // Without --agent the handle is looked up.
    let out = ok_json(&store, &["adjudicate", &handle, "affirm"]);
    assert_eq!(out["verdict"], "Affirm");
    let b = ok_json(&store, &["recall", "a", "alice", "city"]);
    assert_eq!(b["value"], "Porto");
    assert_eq!(ok_json(&store, &["pending", "--agent", "a"])["adjudications"], serde_json::json!([]));
    // A closed handle is an error, and so is an unknown one.
    let err = fails(&store, &["adjudicate", &handle, "deny", "--agent", "a"], 1);
    assert!(err.contains("already closed"), "{err}");
    let err = fails(&store, &["adjudicate", "01890000-0000-7000-8000-000000000000", "deny"], 1);
    assert!(err.contains("no open adjudication"), "{err}");
    Ok(())
}

#[test]
fn sweep_expires_an_overdue_adjudication() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(&store, &["remember", "a", "alice", "city", "Lisbon"]);
    ok_json(&store, &["remember", "a", "alice", "city", "Porto", "--queue", "--ttl", "60"]);
    let early = ok_json(&store, &["sweep"]);
    assert_eq!(early["expired"], 0);
    let late = ok_json(&store, &["sweep", "--now", "2999"]);
    assert_eq!(late["expired"], 1);
    assert_eq!(ok_json(&store, &["recall", "a", "alice", "city"])["status"], "Contested");
    Ok(())
}

#[test]
fn sweep_carries_on_past_a_damaged_agent_file_and_exits_1() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    for agent in ["a", "b"] {
        ok_json(&store, &["remember", agent, "alice", "city", "Lisbon"]);
        ok_json(&store, &["remember", agent, "alice", "city", "Porto", "--queue", "--ttl", "60"]);
    }
    // Agent "a" lives in a-61.sqlite3 (hex of its id): make it unreadable.
    let file = dir.path().join("a-61.sqlite3");
    assert!(file.exists(), "agent a's file is where the naming scheme puts it");
    let mut bytes = std::fs::read(&file)?;
    bytes.iter_mut().take(100).for_each(|b| *b = 0x5A);
    std::fs::write(&file, bytes)?;
    let out = run(&store, &["--json", "sweep", "--now", "2999"], None);
    assert_eq!(out.status.code(), Some(1), "a sweep that could not finish an agent exits 1");
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["expired"], 1, "agent b was swept: {report}");
    let failed = report["failed"].as_array().ok_or("failed is a list")?;
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["agent"], "a");
    assert_eq!(ok_json(&store, &["recall", "b", "alice", "city"])["status"], "Contested");
    Ok(())
}

#[test]
fn resolve_invalidate_reinstate_and_lineage_work_through_the_binary() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let acme = populate(&store);
    let city = ok_json(&store, &["history", "a1", "alice", "city"]);
    let porto = s(&city["entries"][1]["claim_ref"]).to_owned();
    let r = ok_json(&store, &["resolve", "a1", "alice", "city", &porto]);
    assert_eq!(r["disposition"], "CommittedCheap");
    assert_eq!(ok_json(&store, &["recall", "a1", "alice", "city"])["value"], "Porto");
    let inv = ok_json(&store, &["invalidate", "a1", &porto, "--reason", "moved again"]);
    assert_eq!(inv["disposition"], "Invalidated");
    assert_eq!(ok_json(&store, &["recall", "a1", "alice", "city"])["status"], "NoBelief");
    let re = ok_json(&store, &["reinstate", "a1", &porto]);
    assert_eq!(re["disposition"], "Reinstated");
    assert_eq!(ok_json(&store, &["recall", "a1", "alice", "city"])["value"], "Porto");
    let industry = ok_json(&store, &["history", "a1", "alice", "industry"]);
    let child = s(&industry["entries"][0]["claim_ref"]).to_owned();
    let lineage = ok_json(&store, &["lineage", "a1", &child]);
    assert_eq!(lineage["ancestors"][0]["claim_ref"], acme.as_str());
    assert_eq!(lineage["ancestors"][0]["depth"], 1);
    Ok(())
}

#[test]
fn export_then_import_into_an_empty_store_gives_identical_answers() -> TestResult {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (from, to) = (sqlite_url(a.path()), sqlite_url(b.path()));
    populate(&from);
    let exported = run(&from, &["export"], None);
    assert_eq!(exported.status.code(), Some(0));
    let text = String::from_utf8(exported.stdout.clone())?;
    let first: Value = serde_json::from_str(text.lines().next().ok_or("no header")?)?;
    assert_eq!(first, serde_json::json!({"format": "credence-export", "version": 1}));
    assert_eq!(text.lines().count(), 1 + 5 + 2 + 1);
    let last: Value = serde_json::from_str(text.lines().last().ok_or("no trailer")?)?;
    assert_eq!(last, serde_json::json!({"end": {"agents": 2, "units": 7}}));
    let line: Value = serde_json::from_str(text.lines().nth(1).ok_or("no unit")?)?;
    assert_eq!(line["agent"], "a1");
    assert_eq!(line["unit"]["seq"], 1);
    let imported = run(&to, &["--json", "import"], Some(&exported.stdout));
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
    let stats: Value = serde_json::from_slice(&imported.stdout)?;
    assert_eq!(stats["units"], 7);
    assert_eq!(answers(&from), answers(&to));
    // One agent only.
    let only = ok(&from, &["export", "--agent", "a2"]);
    assert_eq!(only.lines().count(), 1 + 2 + 1);
    // A second import into the now non-empty store is refused, writing nothing.
    let again = run(&to, &["import"], Some(&exported.stdout));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has"));
    assert_eq!(answers(&from), answers(&to));
    Ok(())
}

#[test]
fn copy_sqlite_to_sqlite_gives_identical_answers() -> TestResult {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (from, to) = (sqlite_url(a.path()), sqlite_url(b.path()));
    populate(&from);
    let out = ok_json(&from, &["copy", "--to", &to]);
    assert_eq!(out["units"], 7);
    assert_eq!(out["agents"], 2);
    assert_eq!(answers(&from), answers(&to));
    // Copying again is refused: the target agents are no longer empty.
    let err = fails(&from, &["copy", "--to", &to], 1);
    assert!(err.contains("already has"), "{err}");
    Ok(())
}

fn write_file(dir: &Path, name: &str, text: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

#[test]
fn import_bad_files_fail_clearly_and_write_nothing() -> TestResult {
    let (a, b, files) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let (from, to) = (sqlite_url(a.path()), sqlite_url(b.path()));
    populate(&from);
    let export = ok(&from, &["export"]);
    let lines: Vec<&str> = export.lines().collect();

    // Truncated in the middle of a unit line (the trailer is gone too).
    let n = lines.len();
    let cut = lines[n - 2];
    let mut truncated = lines[..n - 2].join("\n");
    truncated.push('\n');
    truncated.push_str(&cut[..cut.len() / 2]);
    let path = write_file(files.path(), "truncated.jsonl", &truncated)?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains(&format!("line {}", n - 1)) && err.contains("truncated"), "{err}");

    // Truncated exactly at a line boundary: no trailer.
    let path = write_file(files.path(), "boundary.jsonl", &(lines[..n - 2].join("\n") + "\n"))?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("trailer") && err.contains("truncated"), "{err}");

    // A unit line dropped from the middle of an agent is a gap; one dropped from the end of an
    // agent disagrees with the trailer.
    let mut gap = lines.clone();
    gap.remove(2);
    let path = write_file(files.path(), "gap.jsonl", &gap.join("\n"))?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("missing"), "{err}");
    let mut short = lines.clone();
    short.remove(n - 2);
    let path = write_file(files.path(), "short.jsonl", &short.join("\n"))?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("trailer counts"), "{err}");

    // A line after the trailer.
    let mut after = lines.clone();
    after.push(lines[1]);
    let path = write_file(files.path(), "after.jsonl", &after.join("\n"))?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("follows the trailer"), "{err}");

    // Wrong version.
    let wrong = export.replacen("\"version\":1", "\"version\":2", 1);
    let path = write_file(files.path(), "v2.jsonl", &wrong)?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("version 2"), "{err}");

    // Missing header.
    let path = write_file(files.path(), "noheader.jsonl", &lines[1..].join("\n"))?;
    fails(&to, &["import", &path], 1);

    // A duplicated row.
    let mut dup: Vec<&str> = lines.clone();
    dup.insert(3, lines[2]);
    let path = write_file(files.path(), "dup.jsonl", &dup.join("\n"))?;
    let err = fails(&to, &["import", &path], 1);
    assert!(err.contains("line 4") && err.contains("duplicated"), "{err}");

    // Empty input, not JSON at all, and a missing file.
    let path = write_file(files.path(), "empty.jsonl", "")?;
    fails(&to, &["import", &path], 1);
    let path = write_file(files.path(), "junk.jsonl", "hello\n")?;
    fails(&to, &["import", &path], 1);
    fails(&to, &["import", "/nonexistent/credence.jsonl"], 2);

    // Nothing was written by any of them.
    assert_eq!(ok_json(&to, &["agents"])["agents"], serde_json::json!([]));
    Ok(())
}

#[test]
fn bad_input_gives_a_clear_error_and_a_nonzero_exit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(&store, &["remember", "a", "alice", "city", "Lisbon"]);
    let unknown_claim = "01890000-0000-7000-8000-000000000000";

    let err = fails(&store, &["recall", "nobody", "alice", "city"], 1);
    assert!(err.contains("unknown agent"), "{err}");
    fails(&store, &["history", "nobody", "alice", "city"], 1);
    fails(&store, &["audit", "nobody"], 1);
    fails(&store, &["export", "--agent", "nobody"], 1);
    let err = fails(&store, &["invalidate", "a", unknown_claim], 1);
    assert!(err.contains("rejected"), "{err}");
    fails(&store, &["reinstate", "a", unknown_claim], 1);
    fails(&store, &["resolve", "a", "alice", "city", unknown_claim], 1);
    fails(&store, &["remember", "a", "alice", "city", "x", "--derived-from", unknown_claim], 1);
    fails(&store, &["remember", "a", "alice", "city", "x", "--confidence", "1.5"], 1);
    fails(&store, &["remember", "", "alice", "city", "x"], 1);

    let err = fails(&store, &["remember", "a", "alice", "age", "{not json", "--json-value"], 2);
    assert!(err.contains("not valid JSON"), "{err}");
    let err = fails(&store, &["remember", "a", "alice", "city", "x", "--valid-from", "2021-02-30"], 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let err = fails(&store, &["remember", "a", "alice", "city", "x", "--valid-from", "last tuesday"], 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let err = fails(
        &store,
        &["remember", "a", "alice", "city", "x", "--valid-from", "2022", "--valid-until", "2020"],
        2,
    );
    assert!(err.contains("ends before"), "{err}");
    fails(&store, &["recall", "a", "alice", "city", "--valid-at", "2020-13"], 2);
    fails(&store, &["invalidate", "a", "not-a-uuid"], 2);
    fails(&store, &["recall", "a", "alice"], 2);
    fails(&store, &["recall", "a", "alice", "city", "--as-of", "2020", "--as-of-seq", "1"], 2);
    fails(&store, &["frobnicate"], 2);

    let err = fails("mysql://localhost/db", &["agents"], 2);
    assert!(err.contains("unknown scheme"), "{err}");
    fails("", &["agents"], 2);
    fails("sqlite:", &["agents"], 2);
    if cfg!(feature = "postgres") {
        // Nothing listens on port 1: unreachable is a store error.
        let err = fails("postgres://postgres@127.0.0.1:1/test?connect_timeout=2s", &["agents"], 1);
        assert!(err.contains("unavailable") || err.contains("connect"), "{err}");
        fails("postgres://postgres@127.0.0.1/test?no_such_option=1", &["agents"], 2);
    } else {
        let err = fails("postgres://postgres@127.0.0.1/test", &["agents"], 2);
        assert!(err.contains("--features postgres"), "{err}");
    }
    // Nothing was written by any of them.
    assert_eq!(ok_json(&store, &["agents"])["agents"], serde_json::json!([{"agent": "a", "units": 1}]));
    Ok(())
}

#[test]
fn json_failure_prints_one_error_document() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(&store, &["remember", "a", "alice", "city", "Lisbon"]);
    let out = run(&store, &["--json", "recall", "nobody", "alice", "city"], None);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["kind"], "store");
    assert!(s(&doc["error"]).contains("unknown agent"), "{doc}");
    let out = run(&store, &["--json", "recall", "a", "alice", "city", "--valid-at", "soon"], None);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["kind"], "usage");
    // A rejected write prints its receipt (with the reason) as the one document.
    let out = run(&store, &["--json", "remember", "a", "alice", "city", "x", "--confidence", "2"], None);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["disposition"], "Rejected");
    assert_eq!(doc["reason"]["code"], "confidence_out_of_range");
    Ok(())
}

#[test]
fn help_and_version_exit_zero() {
    let out = run("memory:", &["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("remember"));
    assert_eq!(run("memory:", &["--version"], None).status.code(), Some(0));
}

#[test]
fn demo_tells_the_story_on_a_temporary_store() -> TestResult {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credence"));
    let out = cmd.env_remove("CREDENCE_STORE").arg("demo").output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    for needle in [
        "CommittedCheap",
        "Contested between \"Lisbon\" and \"Porto\"",
        "TimingUncertain: \"Porto\"",
        "Resolved: \"Acme\"",
        "Resolved: \"Globex\"",
        "--as-of-seq 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // On a given store, with JSON, twice: the second run uses a fresh agent.
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let first = ok_json(&store, &["demo"]);
    let second = ok_json(&store, &["demo"]);
    assert_eq!(first["agent"], "demo");
    assert_eq!(second["agent"], "demo-2");
    assert_eq!(first["steps"][3]["result"]["status"], "Contested");
    Ok(())
}

#[test]
fn doctor_reports_a_healthy_sqlite_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    populate(&store);
    let report = ok_json(&store, &["doctor"]);
    assert_eq!(report["healthy"], true, "{report}");
    let findings = report["findings"].as_array().ok_or("findings")?;
    let find = |prefix: &str| findings.iter().find(|f| s(&f["check"]).starts_with(prefix)).cloned();
    let integrity = find("integrity_check a-6131.sqlite3").ok_or("no integrity_check finding")?;
    assert_eq!(integrity["level"], "ok");
    let pragmas = find("pragmas a1").ok_or("no pragma finding")?;
    assert!(s(&pragmas["detail"]).contains("synchronous=FULL"), "{pragmas}");
    assert!(s(&pragmas["detail"]).contains("journal_mode=wal"), "{pragmas}");
    let seqs = find("integrity a2").ok_or("no seq finding")?;
    assert!(s(&seqs["detail"]).contains("2 unit(s)"), "{seqs}");
    assert!(find("schema a-6131.sqlite3").is_some_and(|f| f["level"] == "ok"));
    Ok(())
}

#[test]
fn doctor_finds_a_damaged_sqlite_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    populate(&store);
    // Damage a1's file: overwrite the middle pages with garbage.
    let file = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sqlite3") && p.to_string_lossy().contains("a-6131."))
        .ok_or("no a1 file")?;
    let mut bytes = std::fs::read(&file)?;
    let len = bytes.len();
    for b in bytes.iter_mut().take(len - 1024).skip(4096) {
        *b = 0xA5;
    }
    std::fs::write(&file, bytes)?;
    let out = run(&store, &["--json", "doctor"], None);
    assert_eq!(out.status.code(), Some(1), "a damaged file must not be reported healthy");
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["healthy"], false);
    let named = report["findings"]
        .as_array()
        .ok_or("findings")?
        .iter()
        .any(|f| f["level"] == "error" && s(&f["check"]).contains("a-6131.sqlite3"));
    assert!(named, "the damaged file is named: {report}");
    Ok(())
}

#[test]
fn conformance_runs_in_scratch_space_and_reports_per_area() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    ok_json(&store, &["remember", "keep", "alice", "city", "Lisbon"]);
    let out = run(&store, &["--json", "conformance", "--filter", "storage::write_seq"], None);
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let failed = report["failed"].as_u64().ok_or("failed count")?;
    assert_eq!(out.status.code(), Some(if failed > 0 { 1 } else { 0 }), "{report}");
    assert_eq!(report["passed"].as_u64().ok_or("passed")? + failed, 2, "{report}");
    assert_eq!(report["areas"][0]["area"], "storage");
    assert!(
        report["cases"].as_array().is_some_and(|c| c.iter().all(|c| s(&c["case"]).starts_with("write_seq")))
    );
    // The existing data is untouched and the scratch directory is gone.
    assert_eq!(ok_json(&store, &["agents"])["agents"], serde_json::json!([{"agent": "keep", "units": 1}]));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".credence-conformance"))
        .collect();
    assert!(leftovers.is_empty(), "scratch directory left behind");
    // The table form on memory:.
    let text = ok("memory:", &["conformance", "--filter", "storage::write_seq"]);
    assert!(text.contains("storage") && text.contains("TOTAL"), "{text}");
    let err = fails("memory:", &["conformance", "--filter", "no-such-case"], 2);
    assert!(err.contains("no case"), "{err}");
    Ok(())
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// The test server, or `None` after a loud message (a failure under `CI=true`).
    fn base_url() -> Option<String> {
        match std::env::var("CREDENCE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                let msg =
                    "CREDENCE_TEST_POSTGRES_URL is unset: the credence CLI PostgreSQL tests did not run";
                assert!(
                    std::env::var("CI").map_or(true, |v| v != "true"),
                    "{msg} (CI=true makes this a failure)"
                );
                eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
                None
            }
        }
    }

    /// A fresh schema on the test server, dropped at the end.
    struct Schema {
        base: String,
        name: String,
    }

    impl Schema {
        fn new(base: &str, tag: &str) -> Schema {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            Schema {
                base: base.to_owned(),
                name: format!("credence_cli_{tag}_{}_{nanos}", std::process::id()),
            }
        }

        fn url(&self) -> String {
            let sep = if self.base.contains('?') { '&' } else { '?' };
            format!("{}{sep}schema={}", self.base, self.name)
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut client) =
                credence_postgres::postgres::Client::connect(&self.base, credence_postgres::postgres::NoTls)
            {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
            }
        }
    }

    #[test]
    fn copy_sqlite_to_postgres_gives_identical_answers() -> TestResult {
        let Some(base) = base_url() else { return Ok(()) };
        let schema = Schema::new(&base, "copy");
        let dir = tempfile::tempdir()?;
        let from = sqlite_url(dir.path());
        populate(&from);
        let out = ok_json(&from, &["copy", "--to", &schema.url()]);
        assert_eq!(out["units"], 7);
        assert_eq!(answers(&from), answers(&schema.url()));
        // And back: export from PostgreSQL, import into a fresh SQLite store.
        let back = tempfile::tempdir()?;
        let exported = run(&schema.url(), &["export"], None);
        assert_eq!(exported.status.code(), Some(0));
        let imported = run(&sqlite_url(back.path()), &["import"], Some(&exported.stdout));
        assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
        assert_eq!(answers(&from), answers(&sqlite_url(back.path())));
        let doctor = ok_json(&schema.url(), &["doctor"]);
        assert_eq!(doctor["healthy"], true, "{doctor}");
        Ok(())
    }

    #[test]
    fn conformance_on_postgres_uses_scratch_schemas() -> TestResult {
        let Some(base) = base_url() else { return Ok(()) };
        let schema = Schema::new(&base, "conf");
        let store = schema.url();
        ok_json(&store, &["remember", "keep", "alice", "city", "Lisbon"]);
        let child = Command::new(env!("CARGO_BIN_EXE_credence"))
            .env_remove("CREDENCE_STORE")
            .args(["--store", &store, "--json", "conformance", "--filter", "storage::write_seq"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let out = child.wait_with_output()?;
        let report: Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(report["failed"], 0, "{report}");
        assert_eq!(report["passed"], 2, "{report}");
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            ok_json(&store, &["agents"])["agents"],
            serde_json::json!([{"agent": "keep", "units": 1}])
        );
        let mut client =
            credence_postgres::postgres::Client::connect(&base, credence_postgres::postgres::NoTls)?;
        let left = client.query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
            &[&format!("credence_conformance_{pid}_%")],
        )?;
        assert!(left.is_empty(), "scratch schemas left behind");
        Ok(())
    }
}

/// `--log-level` (or `RUST_LOG`) logs every engine operation to stderr as its span, in text or
/// JSON lines; stdout keeps only the command's output; a bad filter is a usage error.
#[test]
fn log_level_logs_operation_spans_to_stderr_in_text_or_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = sqlite_url(dir.path());
    let out = run(
        &store,
        &["--json", "--log-level", "credence=debug", "remember", "a", "alice", "city", "Lisbon"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("credence.ingest") && stderr.contains("CommittedCheap"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["disposition"], "CommittedCheap");
    let json =
        run(&store, &["--log-level", "info", "--log-format", "json", "recall", "a", "alice", "city"], None);
    let first = String::from_utf8_lossy(&json.stderr).lines().next().map(str::to_owned).unwrap_or_default();
    let line: Value = serde_json::from_str(&first).map_err(|e| format!("{e}: {first:?}"))?;
    assert!(line.to_string().contains("credence.recall"), "{line}");
    let quiet = run(&store, &["recall", "a", "alice", "city"], None);
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
    fails(&store, &["--log-level", "credence=loud", "agents"], 2);
    Ok(())
}
