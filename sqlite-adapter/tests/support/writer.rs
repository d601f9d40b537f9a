//! The writer process of the multi-process tests: writes one agent of a `sqlite:<dir>` store
//! from its own OS process and prints every acknowledged write.
//!
//! A test binary that uses it declares an ignored test named [`CHILD_TEST`] whose body is
//! [`child`], and starts itself again as the writer with [`command`]:
//!
//! ```text
//! <dir> <agent> ingest <count> <tag> [<ms>]  # claims on distinct lines
//! <dir> <agent> loop <tag>                    # ingest until killed
//! <dir> <agent> one <subject> <predicate> <json-value>
//! ```
//! `ingest` sleeps `<ms>` milliseconds between two writes (default 0), so that another process
//! can take the lock in between. It prints `READY` (flushed) once the store is open, right
//! before its first write. Each acknowledged write prints `ACK <claim_ref> <seq> <disposition>`
//! (flushed) only after the engine returned, i.e. after the commit was durable. Errors print
//! `ERR <message>`. Lines of the test harness itself may surround them; readers skip lines that
//! start with none of these words.

use std::io::Write;
use std::process::Command;

use credence_core::{ClaimEngine, Engine, IngestRequest, WriteReceipt};
use credence_sqlite::{SqliteConfig, SqliteLedger};

/// The environment variable that carries the child's arguments (one per line).
const ARGS: &str = "CREDENCE_SQLITE_WRITER_ARGS";

/// The name of the ignored test the child runs in.
pub const CHILD_TEST: &str = "writer_child";

/// This test binary started again as a writer process with `args`.
pub fn command(args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut cmd = Command::new(exe);
    cmd.args([CHILD_TEST, "--exact", "--ignored", "--nocapture", "--quiet", "--test-threads", "1"]);
    cmd.env(ARGS, args.join("\n"));
    cmd
}

/// The body of the ignored child test: runs the writer when started by [`command`], else does
/// nothing. A failure prints `ERR …` and exits 1.
pub fn child() {
    let Ok(args) = std::env::var(ARGS) else { return };
    let args: Vec<String> = args.split('\n').map(str::to_owned).collect();
    if let Err(e) = run(&args) {
        println!("ERR {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
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
        return Err("usage: writer <dir> <agent> <ingest|loop|one> ...".into());
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
