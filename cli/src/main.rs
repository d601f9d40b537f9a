//! The `credence` command-line tool. See `docs/cli.md`.
//!
//! The binary's modules sit beside the library's in `src/` but are declared only here, and
//! reach the library through its public API (`credence::…`) like any other user: `args` (the
//! command line), `commands` (one function per command, grouped by what it does), `demo` (the
//! scripted story) and `output` (JSON documents, tables and the progress bar).

mod args;
mod commands;
mod demo;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

/// Why a command failed, deciding the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line could not be understood (exit 2).
    Usage(String),
    /// The store refused or failed (exit 1).
    Store(String),
    /// The input was refused (exit 1); `fields` (e.g. `line` and `rule`) join the `--json`
    /// error document.
    Refused {
        /// What happened.
        message: String,
        /// Extra fields of the `--json` error document.
        fields: serde_json::Map<String, serde_json::Value>,
    },
}

impl From<credence::Error> for Failure {
    fn from(e: credence::Error) -> Self {
        match e {
            credence::Error::InvalidStoreUrl { .. } => Failure::Usage(e.to_string()),
            other => {
                let retry = if other.is_outcome_unknown() {
                    " (the write may or may not be stored: retry it only with the same --idempotency-key)"
                } else if other.is_retryable() {
                    " (retryable: trying again may succeed)"
                } else {
                    ""
                };
                Failure::Store(format!("{other}{retry}{}", source_chain(&other)))
            }
        }
    }
}

impl From<credence::DateError> for Failure {
    fn from(e: credence::DateError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<credence::transfer::TransferError> for Failure {
    fn from(e: credence::transfer::TransferError) -> Self {
        use credence::transfer::TransferError;
        use serde_json::json;
        let fields = match &e {
            TransferError::Store(_) => None,
            TransferError::Format { line, rule, .. } => Some(json!({"line": line, "rule": rule})),
            TransferError::Changed { line, rule, written, .. } => {
                Some(json!({"line": line, "rule": rule, "written": written}))
            }
            TransferError::Source { agent, seq, rule, .. } => {
                Some(json!({"agent": agent, "seq": seq, "rule": rule}))
            }
            _ => None,
        };
        match (e, fields) {
            (TransferError::Store(inner), _) => inner.into(),
            (other, Some(serde_json::Value::Object(fields))) => {
                Failure::Refused { message: other.to_string(), fields }
            }
            (other, _) => Failure::Store(other.to_string()),
        }
    }
}

/// ": cause: cause" for errors with sources the message does not already show.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut next = e.source();
    let shown = e.to_string();
    while let Some(s) = next {
        let text = s.to_string();
        if !shown.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// True when `--json` is among the arguments (before a `--` that ends the options).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// Where log lines go: stderr, whose failures are dropped — a log line that cannot be written
/// (stderr closed by whoever started the process, a full pipe's error) must never fail or stop
/// the operation it describes (an MCP server's task would otherwise die mid-reply).
struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Logs to stderr (stdout carries only the command's output, or the MCP protocol), filtered by
/// `--log-level`, else `RUST_LOG`, else `warn`.
fn init_logging(level: Option<&str>, format: args::LogFormat) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("--log-level {l:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| LogSink).with_ansi(false);
    let installed = match format {
        args::LogFormat::Text => builder.try_init(),
        args::LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| format!("installing the log subscriber: {e}"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and exit 0; usage errors exit 2, and under
            // `--json` they print the error document too (the argument parser failed, so the
            // flag is looked for in the raw arguments). The parser quotes what was typed, which
            // may be a store URL with a password: its message is redacted.
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let msg = credence::credence_core::redact::text(&e.render().to_string());
            eprint!("{msg}");
            if json_requested(std::env::args_os().skip(1)) {
                let msg = msg.trim().strip_prefix("error: ").unwrap_or(msg.trim());
                let _ =
                    output::print_json(&serde_json::json!({"error": msg, "kind": "usage", "exit_code": 2}));
            }
            return ExitCode::from(2);
        }
    };
    let json = cli.json;
    if let Err(why) = init_logging(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("error: {why}");
        return ExitCode::from(2);
    }
    let (kind, msg, code, fields) = match commands::run(cli) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => ("usage", msg, 2, serde_json::Map::new()),
        Err(Failure::Store(msg)) => ("store", msg, 1, serde_json::Map::new()),
        Err(Failure::Refused { message, fields }) => ("store", message, 1, fields),
    };
    // Every message passes here: a store URL it quotes (a file name, an argument) loses its
    // secrets.
    let msg = credence::credence_core::redact::text(&msg);
    eprintln!("error: {msg}");
    // With --json, scripts get one document on stdout even on failure (unless the command
    // already printed its own, e.g. a rejected write's receipt).
    if json && !output::PRINTED_JSON.load(std::sync::atomic::Ordering::SeqCst) {
        let mut doc = serde_json::json!({"error": msg, "kind": kind, "exit_code": code});
        if let Some(obj) = doc.as_object_mut() {
            obj.extend(fields);
        }
        let _ = output::print_json(&doc);
    }
    ExitCode::from(code)
}
