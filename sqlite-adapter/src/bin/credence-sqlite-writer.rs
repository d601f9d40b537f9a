//! Test helper for the multi-process tests of credence-sqlite: writes one agent of a
//! `sqlite:<dir>` store from its own OS process and prints every acknowledged write.
//!
//! ```text
//! credence-sqlite-writer <dir> <agent> ingest <count> <tag> [<ms>]  # claims on distinct lines
//! credence-sqlite-writer <dir> <agent> loop <tag>                    # ingest until killed
//! credence-sqlite-writer <dir> <agent> one <subject> <predicate> <json-value>
//! ```
//! `ingest` sleeps `<ms>` milliseconds between two writes (default 0), so that another
//! process can take the lock in between.
//! It prints `READY` (flushed) once the store is open, right before its first write. Each
//! acknowledged write prints `ACK <claim_ref> <seq> <disposition>` (flushed) only after the
//! engine returned, i.e. after the commit was durable. Errors print `ERR <message>`.

use std::io::Write;
use std::process::ExitCode;

use credence_core::{ClaimEngine, Engine, IngestRequest, WriteReceipt};
use credence_sqlite::{SqliteConfig, SqliteLedger};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERR {e}");
            ExitCode::FAILURE
        }
    }
}

fn ack(out: &mut impl Write, r: &WriteReceipt) -> Result<(), String> {
    let claim = r.claim_ref.map(|c| c.to_string()).unwrap_or_default();
    let seq = r.seq.unwrap_or(0);
    writeln!(out, "ACK {claim} {seq} {}", r.disposition.as_str())
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

fn run(args: &[String]) -> Result<(), String> {
    let [dir, agent, mode, rest @ ..] = args else {
        return Err("usage: credence-sqlite-writer <dir> <agent> <ingest|loop|one> ...".into());
    };
    let config = SqliteConfig { busy_timeout: std::time::Duration::from_secs(30), ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir, config).map_err(|e| e.to_string())?);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "READY").and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    let ingest = |subject: String, value: serde_json::Value| {
        engine.ingest(IngestRequest::new(agent.as_str(), subject, "p", value)).map_err(|e| e.to_string())
    };
    match (mode.as_str(), rest) {
        ("ingest", [count, tag, pause @ ..]) if pause.len() <= 1 => {
            let count: u64 = count.parse().map_err(|e| format!("count: {e}"))?;
            let pause = match pause {
                [ms] => std::time::Duration::from_millis(ms.parse().map_err(|e| format!("pause-ms: {e}"))?),
                _ => std::time::Duration::ZERO,
            };
            for i in 0..count {
                if i > 0 && !pause.is_zero() {
                    std::thread::sleep(pause);
                }
                let r = ingest(format!("{tag}-{i}"), serde_json::json!(i))?;
                ack(&mut out, &r)?;
            }
            Ok(())
        }
        ("loop", [tag]) => {
            for i in 0u64.. {
                let r = ingest(format!("{tag}-{i}"), serde_json::json!(i))?;
                ack(&mut out, &r)?;
            }
            Ok(())
        }
        ("one", [subject, predicate, value]) => {
            let value: serde_json::Value = serde_json::from_str(value).map_err(|e| format!("value: {e}"))?;
            let r = engine
                .ingest(IngestRequest::new(agent.as_str(), subject.as_str(), predicate.as_str(), value))
                .map_err(|e| e.to_string())?;
            ack(&mut out, &r)
        }
        _ => Err(format!("unknown mode {mode:?} or wrong arguments")),
    }
}
