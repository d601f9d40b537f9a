//! What the CLI's integration tests share: running the real `credence` binary.
// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

/// Runs `credence args…` (without `CREDENCE_STORE` from the environment) with `stdin`, and
/// fails the test if it panicked.
pub fn credence(args: &[&str], stdin: Stdio) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_credence"))
        .env_remove("CREDENCE_STORE")
        .env_remove("RUST_LOG")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the credence binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "credence panicked on {args:?}: {stderr}");
    out
}

/// [`credence`] with `--store store` before `args`.
pub fn credence_on(store: &str, args: &[&str], stdin: Stdio) -> Output {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    credence(&all, stdin)
}
