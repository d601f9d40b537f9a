//! What operators rely on (SPEC §5.0, docs/cli.md): secrets in store URLs never reach any
//! output, and `--json` prints its one document on every exit, usage errors included.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod support;

fn run(args: &[&str]) -> Output {
    support::credence(args, Stdio::null())
}

/// Store URLs carrying the secret `s3cr3t` (or a piece of it) in every place a user may put
/// one, well-formed and malformed.
const SECRET_URLS: &[&str] = &[
    "postgres://u:s3cr3t@127.0.0.1:1/test?connect_timeout=2s",
    "postgres://u:s3cr3t/x@127.0.0.1:5432/test",
    "postgres://u:s3cr?et@127.0.0.1:5432/test",
    "postgres://u:s3cr#et@127.0.0.1:5432/test",
    "postgres://u:s3c@r3t@127.0.0.1:1/test?connect_timeout=2s",
    "postgres://u@127.0.0.1:1/test?password=s3cr3t&connect_timeout=2s",
    "postgres://u@127.0.0.1:1/test?connect_timeout=2s&sslpassword=s3cr3t",
    "postgres://u:s3cr3t@[::1/test",
    "postgres://u:s3cr3t@h:99999/test",
    "postgres://:s3cr3t@/test",
    "postgres://u:s3cr3t",
    "postgresql://u:s3cr3t@127.0.0.1:1/test?sslmode=bogus",
    "postgres://u:s3cr3t@127.0.0.1:1/test?connect_timeout=2s&schema=Bad-Name",
    "postgres://u:999999/test",
];

/// Every piece of the secret that would betray it.
fn leaks(text: &str) -> bool {
    ["s3cr3t", "s3cr?et", "s3cr#et", "s3c@r3t", "r3t@", "cr3t", "999999"].iter().any(|s| text.contains(s))
}

#[test]
fn no_command_prints_a_password_from_its_store_url() {
    let commands: &[&[&str]] = &[
        &["agents"],
        &["recall", "a", "s", "p"],
        &["remember", "a", "s", "p", "v"],
        &["export"],
        &["pending"],
        &["doctor"],
    ];
    let memory = "memory:";
    for url in SECRET_URLS {
        // The URL where a store URL is expected other than `--store`, or typed by mistake as a
        // command (the argument parser quotes it).
        let elsewhere: [&[&str]; 3] =
            [&["--store", memory, "copy", "--to", url], &[url, "agents"], &["--store", url, "import", url]];
        for args in elsewhere {
            for json in [false, true] {
                let mut all = args.to_vec();
                if json {
                    all.insert(0, "--json");
                }
                let out = run(&all);
                let (stdout, stderr) =
                    (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                assert!(!leaks(&stdout) && !leaks(&stderr), "{all:?} leaked: {stdout}{stderr}");
            }
        }
        for command in commands {
            for json in [false, true] {
                let mut args = vec!["--store", url];
                if json {
                    args.push("--json");
                }
                args.extend_from_slice(command);
                let out = run(&args);
                assert_ne!(out.status.code(), Some(0), "{args:?} succeeded against a bogus store");
                let (stdout, stderr) =
                    (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                assert!(!leaks(&stdout) && !leaks(&stderr), "{args:?} leaked: {stdout}{stderr}");
            }
        }
    }
}

#[test]
fn json_usage_errors_print_one_error_document() {
    let cases: &[&[&str]] = &[
        &["--json", "--no-such-option", "agents"],
        &["--json", "remember", "a"],
        &["--json", "recall", "a", "s", "p", "--as-of-seq", "x"],
        &["--json", "no-such-command"],
        &["--json", "audit", "a", "--limit", "-3"],
        &["agents", "--json", "--bogus"],
        &["--json", "remember", "a", "s", "p", "v", "--confidence", "high"],
        &["--json"],
    ];
    for args in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{args:?} printed no JSON document ({e}): {}", String::from_utf8_lossy(&out.stdout))
        });
        assert_eq!(doc["kind"], "usage", "{args:?}: {doc}");
        assert_eq!(doc["exit_code"], 2, "{args:?}: {doc}");
        assert!(doc["error"].as_str().is_some_and(|e| !e.is_empty()), "{args:?}: {doc}");
    }
    // Without --json a usage error prints no document.
    let out = run(&["remember", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON document ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A store with agents `good` (one open adjudication) and `other`, a damaged agent file named
/// for agent `bad`, and a junk file named like a hashed agent file.
fn damaged_store(dir: &std::path::Path) -> String {
    let store = format!("sqlite:{}", dir.display());
    for args in [
        &["remember", "good", "alice", "city", "Lisbon"][..],
        &["remember", "good", "alice", "city", "Porto", "--queue"],
        &["remember", "other", "bob", "city", "Rome"],
        &["remember", "bad", "carol", "city", "Oslo"],
    ] {
        let mut all = vec!["--store", store.as_str()];
        all.extend_from_slice(args);
        assert_eq!(run(&all).status.code(), Some(0), "{args:?}");
    }
    // "bad" is a-626164.sqlite3 (the hex of its id): overwrite it with junk.
    let bad = dir.join("a-626164.sqlite3");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("a-626164.sqlite3{suffix}")));
    }
    std::fs::write(&bad, vec![0x5a; 8192]).expect("the agent file is writable");
    std::fs::write(dir.join("h-0123456789abcdef0123456789abcdef.sqlite3"), b"not a database at all")
        .expect("the store directory is writable");
    store
}

#[test]
fn a_damaged_agent_file_fails_only_that_agent_and_store_wide_commands_report_it_and_go_on() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = damaged_store(dir.path());
    let cmd = |args: &[&str]| {
        let mut all = vec!["--store", store.as_str(), "--json"];
        all.extend_from_slice(args);
        run(&all)
    };
    // Reads and writes of the other agents work; the damaged agent's fail naming it.
    let out = cmd(&["recall", "other", "bob", "city"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of(&out)["value"], "Rome");
    assert_eq!(cmd(&["remember", "other", "bob", "job", "chef"]).status.code(), Some(0));
    let out = cmd(&["recall", "bad", "carol", "city"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let names = |doc: &Value, key: &str| -> Vec<String> {
        doc["damaged"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d[key].as_str().map(str::to_owned))
            .collect()
    };
    let out = cmd(&["agents"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let listed: Vec<&str> =
        doc["agents"].as_array().into_iter().flatten().filter_map(|a| a["agent"].as_str()).collect();
    assert_eq!(listed, ["good", "other"], "{doc}");
    assert_eq!(names(&doc, "agent"), ["bad"], "{doc}");
    assert!(names(&doc, "file")[0].ends_with("h-0123456789abcdef0123456789abcdef.sqlite3"), "{doc}");

    let out = cmd(&["pending"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["adjudications"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(names(&doc, "agent"), ["bad"], "{doc}");

    // A verdict found by its handle alone (no --agent) is not stopped by the damaged agent.
    let handle =
        doc["adjudications"][0]["handle"].as_str().expect("the open adjudication's handle").to_owned();
    let out = cmd(&["adjudicate", &handle, "affirm"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let out = cmd(&["sweep"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["damaged"].as_array().map(Vec::len), Some(1), "the junk file is reported");

    // The export holds every readable agent and imports into a fresh store.
    let out = run(&["--store", store.as_str(), "export"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad"), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = tempfile::tempdir().expect("a temp dir");
    let target = format!("sqlite:{}", copy.path().display());
    let mut import = Command::new(env!("CARGO_BIN_EXE_credence"))
        .args(["--store", target.as_str(), "import"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the credence binary starts");
    {
        use std::io::Write;
        let mut pipe = import.stdin.take().expect("stdin is piped");
        pipe.write_all(&out.stdout).expect("the import reads the export");
    }
    let imported = import.wait_with_output().expect("the import finishes");
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
    let agents = json_of(&run(&["--store", target.as_str(), "--json", "agents"]));
    assert_eq!(agents["agents"].as_array().map(Vec::len), Some(2), "{agents}");
}

/// Runs the binary as a user who can read `dir` but not write it: `nobody` when the tests run as
/// root (root writes anywhere), else the current user after taking the write bits off `dir`.
fn run_read_only(dir: &std::path::Path, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(if root { 0o755 } else { 0o555 }))
        .expect("the test owns the store directory");
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_credence")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_credence"))
    };
    let out = cmd
        .env_remove("CREDENCE_STORE")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the credence binary runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{args:?}");
    out
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("the store directory lists")
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

#[test]
fn a_read_only_sqlite_store_serves_every_read_and_refuses_writes_as_read_only() {
    let parent = tempfile::tempdir().expect("a temp dir");
    let dir = parent.path().join("backup");
    let store = format!("sqlite:{}", dir.display());
    for args in [
        &["remember", "a", "alice", "city", "Lisbon"][..],
        &["remember", "a", "alice", "city", "Porto", "--queue"],
        &["remember", "b", "bob", "city", "Rome"],
    ] {
        let mut all = vec!["--store", store.as_str()];
        all.extend_from_slice(args);
        assert_eq!(run(&all).status.code(), Some(0), "{args:?}");
    }
    // The tempdir itself is private; the store's reader must be able to reach it.
    std::fs::set_permissions(parent.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("the test owns its temp dir");
    let before = snapshot(&dir);
    let ro = |args: &[&str]| {
        let mut all = vec!["--store", store.as_str(), "--json"];
        all.extend_from_slice(args);
        run_read_only(&dir, &all)
    };
    for args in [
        &["recall", "a", "alice", "city"][..],
        &["history", "b", "bob", "city"],
        &["agents"],
        &["pending"],
        &["audit", "a"],
        &["doctor"],
    ] {
        let out = ro(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(json_of(&ro(&["recall", "b", "bob", "city"]))["value"], "Rome");
    assert_eq!(json_of(&ro(&["agents"]))["agents"].as_array().map(Vec::len), Some(2));
    let export = run_read_only(&dir, &["--store", store.as_str(), "export"]);
    assert_eq!(export.status.code(), Some(0), "{}", String::from_utf8_lossy(&export.stderr));
    assert!(String::from_utf8_lossy(&export.stdout).contains("\"end\""));
    for args in [&["remember", "a", "alice", "city", "Faro"][..], &["remember", "new", "s", "p", "v"]] {
        let out = ro(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let doc = json_of(&out);
        assert!(doc["error"].as_str().is_some_and(|e| e.contains("read-only")), "{args:?}: {doc}");
    }
    assert_eq!(snapshot(&dir), before, "reading a read-only store changed it");
}
