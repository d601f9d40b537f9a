//! Where an ingest's time goes: runs one ingest workload against a fresh store directory and
//! prints the rate, the CPU time of this process per ingest and the group-commit counters.
//!
//! `cargo run --release -p credence-bench --bin sqlite_write_profile -- <dir> <seq|one|agents> [n]`
//! (`seq`: one caller, one agent; `one`: 64 callers on one agent; `agents`: 64 callers on 64
//! agents; `n` ingests in all). `<dir>` must not exist yet (it is created and kept). Linux
//! only (reads `/proc`).
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use credence_core::{ClaimEngine, Engine, IngestRequest};
use credence_sqlite::{SqliteConfig, SqliteLedger};

/// CPU ticks (utime + stime) of this process.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: sqlite_write_profile <dir> <seq|one|agents> [n]")?;
    if std::path::Path::new(dir).exists() {
        return Err(format!("{dir} exists; give a fresh directory").into());
    }
    let mode = args.get(2).map_or("seq", String::as_str);
    let n: u64 = args.get(3).map_or(Ok(3000), |v| v.parse())?;
    let ledger = Arc::new(SqliteLedger::open(dir, SqliteConfig::default())?);
    let engine = Engine::new(ledger.clone());
    let failed = AtomicU64::new(0);
    let (t0, c0, stats0) = (Instant::now(), cpu_ticks(), ledger.commit_stats());
    match mode {
        "seq" => {
            for i in 0..n {
                engine.ingest(IngestRequest::new("seq", format!("subject-{i}"), "p", i))?;
            }
        }
        "one" | "agents" => {
            let per = n / 64;
            let failed = &failed;
            std::thread::scope(|s| {
                for t in 0..64 {
                    let engine = &engine;
                    let agent = if mode == "one" { "one".to_owned() } else { format!("a{t}") };
                    s.spawn(move || {
                        for i in 0..per {
                            let req = IngestRequest::new(agent.as_str(), format!("t{t}-{i}"), "p", i);
                            if let Err(e) = engine.ingest(req) {
                                failed.fetch_add(1, Ordering::Relaxed);
                                eprintln!("ingest failed: {e}");
                            }
                        }
                    });
                }
            });
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    let secs = t0.elapsed().as_secs_f64();
    let ticks = cpu_ticks().saturating_sub(c0);
    let stats = ledger.commit_stats();
    let txns = stats.transactions.saturating_sub(stats0.transactions);
    let writes = stats.writes.saturating_sub(stats0.writes);
    let hz = 100.0; // USER_HZ on Linux
    println!(
        "{mode}: {writes} ingests in {secs:.2} s = {:.0}/s; process CPU {:.3} ms/ingest; \
         {txns} transactions ({:.1} writes each); {} failed",
        writes as f64 / secs,
        ticks as f64 / hz * 1000.0 / writes.max(1) as f64,
        writes as f64 / txns.max(1) as f64,
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}
