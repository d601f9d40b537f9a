//! What operators rely on (SPEC §5.0, docs/cli.md): secrets in store URLs never reach any
//! output, and `--json` prints its one document on every exit, usage errors included.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_credence"))
        .env_remove("CREDENCE_STORE")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the credence binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "credence panicked on {args:?}: {stderr}");
    out
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
];

/// Every piece of the secret that would betray it.
fn leaks(text: &str) -> bool {
    ["s3cr3t", "s3cr?et", "s3cr#et", "s3c@r3t", "r3t@", "cr3t"].iter().any(|s| text.contains(s))
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
    for url in SECRET_URLS {
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
