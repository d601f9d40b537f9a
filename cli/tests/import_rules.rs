//! `credence import` treats its input as untrusted (SPEC §8): a real export with one field of
//! one line changed is refused with exit 1, an error naming the line and the rule (also in the
//! `--json` error document), and nothing written to the target store.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs the binary against `store` with `args`, stdin from `stdin` (or nothing).
mod support;

fn run(store: &str, args: &[&str], stdin: Stdio) -> Output {
    support::credence_on(store, args, stdin)
}

fn ok(store: &str, args: &[&str]) -> String {
    let out = run(store, args, Stdio::null());
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.display())
}

/// A store with a few claims — a contradiction, a derivation, a valid-time window — and its
/// export as lines.
fn exported(store: &str) -> Vec<String> {
    ok(store, &["remember", "a", "alice", "city", "Lisbon", "--provenance", "user"]);
    ok(store, &["remember", "a", "alice", "city", "Porto"]);
    let first: Value = serde_json::from_str(&ok(store, &["--json", "remember", "a", "acme", "ceo", "Alice"]))
        .expect("a JSON receipt");
    let parent = first["claim_ref"].as_str().expect("a claim ref").to_owned();
    ok(store, &["remember", "a", "acme", "boss", "Alice", "--derived-from", &parent]);
    ok(store, &["remember", "b", "bob", "age", "41", "--json-value", "--valid-from", "2020"]);
    ok(store, &["export"]).lines().map(str::to_owned).collect()
}

/// The export with line `n` (1-based) changed by `change`, written to `dir/name`.
fn crafted(
    dir: &Path,
    name: &str,
    lines: &[String],
    n: usize,
    change: impl FnOnce(&mut Value),
) -> Result<String, Box<dyn std::error::Error>> {
    let mut lines = lines.to_vec();
    let mut v: Value = serde_json::from_str(&lines[n - 1])?;
    change(&mut v["unit"]);
    lines[n - 1] = v.to_string();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(path.display().to_string())
}

/// Runs `import` with `--json` and checks it was refused at `line` for `rule`, on stderr and in
/// the JSON error document, and that the target store has no agent.
fn refused(to: &str, args: &[&str], stdin: Stdio, line: usize, rule: &str) {
    let mut all = vec!["--json", "import"];
    all.extend_from_slice(args);
    let out = run(to, &all, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(&format!("line {line} [{rule}]")), "{args:?}: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON error document");
    assert_eq!(
        (&doc["line"], &doc["rule"], &doc["kind"]),
        (&json!(line), &json!(rule), &json!("store")),
        "{doc}"
    );
    assert!(doc["error"].as_str().is_some_and(|e| e.contains("nothing was imported")), "{doc}");
    let agents: Value = serde_json::from_str(&ok(to, &["--json", "agents"])).expect("a JSON document");
    assert_eq!(agents["agents"], json!([]), "{args:?} wrote to the target store");
}

#[test]
fn import_refuses_broken_files_naming_line_and_rule_and_writes_nothing() -> TestResult {
    let (from, to, files) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let (from, to) = (sqlite_url(from.path()), sqlite_url(to.path()));
    let lines = exported(&from);
    let dir = files.path();
    let times = |u: &mut Value, t: i64| {
        u["tx_time"] = json!(t);
        for c in u["claims"].as_array_mut().into_iter().flatten() {
            c["tx_time"] = json!(t);
        }
        for e in u["entries"].as_array_mut().into_iter().flatten() {
            e["recorded_at"] = json!(t);
        }
    };

    // The last unit of agent a with every time at i64::MAX: still increasing, so the old
    // reader took it, and every later write to the agent would have failed.
    let path = crafted(dir, "max.jsonl", &lines, 5, |u| times(u, i64::MAX))?;
    refused(&to, &[&path], Stdio::null(), 5, "time_range");
    // Claims a live write would reject.
    let path =
        crafted(dir, "big.jsonl", &lines, 6, |u| u["claims"][0]["value"] = json!("x".repeat(10_000_000)))?;
    refused(&to, &[&path], Stdio::null(), 6, "claim_limits");
    let path = crafted(dir, "nul.jsonl", &lines, 2, |u| u["claims"][0]["subject"] = json!("al\u{0}ice"))?;
    refused(&to, &[&path], Stdio::null(), 2, "claim_limits");
    let path = crafted(dir, "conf.jsonl", &lines, 3, |u| u["claims"][0]["confidence"] = json!(5))?;
    refused(&to, &[&path], Stdio::null(), 3, "claim_limits");
    // A ClaimCommitted entry naming no claim, and a derivation from a claim that does not exist.
    let nobody = "01890000-0000-7000-8000-00000000dead";
    let path = crafted(dir, "commit.jsonl", &lines, 4, |u| u["entries"][0]["claim_ref"] = json!(nobody))?;
    refused(&to, &[&path], Stdio::null(), 4, "unit_consistency");
    let path = crafted(dir, "parent.jsonl", &lines, 5, |u| {
        u["claims"][0]["derived_from"] = json!([nobody]);
        u["edges"][0]["to"] = json!(nobody);
    })?;
    refused(&to, &[&path], Stdio::null(), 5, "reference");
    // The same refusal when the file comes on stdin (copied aside while it is checked).
    refused(&to, &[], Stdio::from(std::fs::File::open(&path)?), 5, "reference");
    Ok(())
}

#[cfg(unix)]
#[test]
fn import_of_an_endless_line_is_refused_after_a_few_kib() -> TestResult {
    let to = tempfile::tempdir()?;
    let to = sqlite_url(to.path());
    refused(&to, &["/dev/zero"], Stdio::null(), 1, "line_too_long");
    refused(&to, &["-"], Stdio::from(std::fs::File::open("/dev/zero")?), 1, "line_too_long");
    Ok(())
}

#[test]
fn import_of_a_valid_export_from_stdin_round_trips() -> TestResult {
    let (from, to, files) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
    let (from, to) = (sqlite_url(from.path()), sqlite_url(to.path()));
    let lines = exported(&from);
    let path = files.path().join("export.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n")?;
    let out = run(&to, &["--json", "import"], Stdio::from(std::fs::File::open(&path)?));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!((&stats["agents"], &stats["units"]), (&json!(2), &json!(lines.len() - 2)));
    assert_eq!(ok(&to, &["export"]), ok(&from, &["export"]));
    Ok(())
}
