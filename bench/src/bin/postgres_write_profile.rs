//! Where an ingest's time goes: runs one ingest workload against a fresh schema and prints
//! the rate with the CPU time used by this process and by the PostgreSQL server per ingest.
//!
//! `cargo run --release -p credence-bench --bin postgres_write_profile -- <url> <seq|one|agents> [n]`
//! (`seq`: one caller, one agent; `one`: 64 callers on one agent; `agents`: 64 callers on 64
//! agents; `n` ingests in all). Linux only (reads `/proc`).
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::Instant;

use credence_bench::store::schema_url;
use credence_core::{ClaimEngine, Engine, IngestRequest};
use credence_postgres::PostgresLedger;

/// CPU ticks (utime + stime) of the processes whose `comm` is `name`, or of `self`.
fn cpu_ticks(name: Option<&str>) -> u64 {
    let parse = |stat: &str| -> u64 {
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    match name {
        None => std::fs::read_to_string("/proc/self/stat").map(|s| parse(&s)).unwrap_or(0),
        Some(name) => std::fs::read_dir("/proc")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                    .filter(|s| s.contains(&format!("({name})")))
                    .map(|s| parse(&s))
                    .sum()
            })
            .unwrap_or(0),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: postgres_write_profile <url> <seq|one|agents> [n]")?;
    let mode = args.get(2).map_or("seq", String::as_str);
    let n: usize = args.get(3).map_or(Ok(3000), |v| v.parse())?;
    let schema = format!("credence_profile_{}", std::process::id());
    let ledger = Arc::new(PostgresLedger::from_url(&format!("{}&pool_max=72", schema_url(url, &schema)))?);
    let engine = Engine::new(ledger.clone());
    // Warm up the connections and plans.
    for i in 0..50 {
        engine.ingest(IngestRequest::new("warm", format!("w{i}"), "p", i))?;
    }
    let failed = std::sync::atomic::AtomicU64::new(0);
    let (t0, s0, p0) = (Instant::now(), cpu_ticks(None), cpu_ticks(Some("postgres")));
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
                                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    let (s1, p1) = (cpu_ticks(None), cpu_ticks(Some("postgres")));
    let per = |ticks: u64| ticks as f64 * 10.0 / n as f64; // 100 Hz ticks -> ms per ingest
    println!(
        "{mode}: {:.0}/s  wall {:.3} ms/ingest  client cpu {:.3} ms  server cpu {:.3} ms  failed {}  stats {:?}",
        n as f64 / secs,
        secs * 1e3 / n as f64,
        per(s1 - s0),
        per(p1 - p0),
        failed.load(std::sync::atomic::Ordering::Relaxed),
        ledger.write_stats()
    );
    drop(engine);
    if std::env::var_os("KEEP").is_some() {
        println!("kept schema {schema}");
        return Ok(());
    }
    let mut conn = ledger.pool().get()?;
    conn.client().batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))?;
    Ok(())
}
