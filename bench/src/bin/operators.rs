//! `operators --dir <empty dir>`: the figures operators of a SQLite store care about, in one
//! run, printed as tables.
//!
//! 1. **Many agents.** A command-line `recall` and an in-process `recall`/`ingest` on one agent
//!    of a store holding `--agents` agents (default 10 000), against the same on a store holding
//!    that agent alone; rounds alternate between the two stores.
//! 2. **Fair writers.** One lone process writing an agent (one write every 20 ms) beside N busy
//!    processes writing the same agent as fast as they can (each with 4 threads, so group
//!    commit batches inside each process): the lone process's write wait p50/p99/max, its
//!    busy-timeout errors, and the total writes per second — with the cross-process turns
//!    (`fair_writers`, the default) and without them, for N = 2 and 6, alternating.
//!
//! The command-line figure runs the `credence` binary found next to this one (build it with
//! `cargo build --release -p credence`). Busy processes are this binary started again with
//! `--busy-writer`.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Rates and percentiles are floating-point summaries of counts; precision loss is irrelevant.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use credence_core::{AgentId, ClaimEngine, Engine, IngestRequest, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

const USAGE: &str = "usage: operators --dir <empty dir> [--agents N] [--rounds N] [--fair-secs N]
  --agents N     agents in the large store (default 10000)
  --rounds N     alternating rounds of the many-agents figures (default 4)
  --fair-secs N  length of each fair-writers run (default 8)";

const AGENT: &str = "agent-7";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--busy-writer") => busy_writer(&args[1..]),
        _ => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    dir: PathBuf,
    agents: u64,
    rounds: u64,
    fair_secs: u64,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args { dir: PathBuf::new(), agents: 10_000, rounds: 4, fair_secs: 8 };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag} takes a whole number"));
        match flag.as_str() {
            "--dir" => out.dir = PathBuf::from(value),
            "--agents" => out.agents = number()?,
            "--rounds" => out.rounds = number()?.max(1),
            "--fair-secs" => out.fair_secs = number()?.max(1),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if out.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(out)
}

fn engine(dir: &Path, config: SqliteConfig) -> Result<Engine<SqliteLedger>, String> {
    Ok(Engine::new(SqliteLedger::open(dir, config).map_err(|e| e.to_string())?))
}

fn run(args: &[String]) -> Result<(), String> {
    let args = parse(args)?;
    std::fs::create_dir_all(&args.dir).map_err(|e| e.to_string())?;
    if std::fs::read_dir(&args.dir).map_err(|e| e.to_string())?.next().is_some() {
        return Err(format!("{} is not empty", args.dir.display()));
    }
    many_agents(&args)?;
    fair_writers(&args)?;
    Ok(())
}

/// p50 and p99 of `samples`.
fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------------------------------
// Many agents

fn many_agents(args: &Args) -> Result<(), String> {
    let (one, many) = (args.dir.join("one-agent"), args.dir.join("many-agents"));
    let started = Instant::now();
    fill(&one, 1)?;
    fill(&many, args.agents)?;
    eprintln!("stores built in {:.1} s", started.elapsed().as_secs_f64());
    let cli = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("credence");
    let mut rows: Vec<[Vec<Duration>; 3]> =
        vec![[Vec::new(), Vec::new(), Vec::new()], [Vec::new(), Vec::new(), Vec::new()]];
    let mut next_line = 0u64;
    for round in 0..args.rounds {
        // Alternate which store goes first.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let dir = if which == 0 { &one } else { &many };
            let e = engine(dir, SqliteConfig::default())?;
            let [cli_t, recall_t, ingest_t] = &mut rows[which];
            for _ in 0..50 {
                let t = Instant::now();
                e.recall(&RecallQuery::new(AGENT, "s", "p")).map_err(|x| x.to_string())?;
                recall_t.push(t.elapsed());
            }
            for _ in 0..50 {
                next_line += 1;
                let t = Instant::now();
                e.ingest(IngestRequest::new(AGENT, format!("line-{next_line}"), "p", 1))
                    .map_err(|x| x.to_string())?;
                ingest_t.push(t.elapsed());
            }
            drop(e);
            if cli.exists() {
                let url = format!("sqlite:{}", dir.display());
                for _ in 0..10 {
                    let t = Instant::now();
                    let out = Command::new(&cli)
                        .args(["--store", &url, "recall", AGENT, "s", "p"])
                        .stdout(Stdio::null())
                        .status()
                        .map_err(|e| e.to_string())?;
                    if !out.success() {
                        return Err(format!("credence recall failed on {url}"));
                    }
                    cli_t.push(t.elapsed());
                }
            }
        }
    }
    println!("\n## One agent among many (SQLite, {} rounds, alternating)\n", args.rounds);
    println!("| figure | 1 agent p50 (ms) | {} agents p50 (ms) | ratio |", args.agents);
    println!("|---|---|---|---|");
    let names = ["CLI `recall` (process start to exit)", "in-process `recall`", "in-process `ingest`"];
    for (i, name) in names.iter().enumerate() {
        let (a, _, _) = percentiles(rows[0][i].clone());
        let (b, _, _) = percentiles(rows[1][i].clone());
        if rows[0][i].is_empty() {
            println!("| {name} | (build `credence` first) | | |");
            continue;
        }
        println!("| {name} | {} | {} | {:.2} |", ms(a), ms(b), b.as_secs_f64() / a.as_secs_f64().max(1e-9));
    }
    Ok(())
}

/// A store under `dir` holding `n` agents (`agent-0`…), each with one claim on (s, p).
fn fill(dir: &Path, n: u64) -> Result<(), String> {
    let e = Arc::new(engine(dir, SqliteConfig::default())?);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (e, next) = (e.clone(), next.clone());
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n.max(8) {
                        return Ok(());
                    }
                    // A store of one agent still holds `agent-7`.
                    let agent = if n == 1 { AGENT.to_owned() } else { format!("agent-{i}") };
                    if n == 1 && i > 0 {
                        continue;
                    }
                    e.ingest(IngestRequest::new(agent, "s", "p", i)).map_err(|x| x.to_string())?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "a filler thread panicked".to_owned())??;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Fair writers

/// `--busy-writer <dir> <fair 0|1> <secs>`: four threads ingesting into `AGENT` as fast as
/// they can for `secs`; prints how many writes succeeded and how many failed.
fn busy_writer(args: &[String]) -> Result<(), String> {
    let [dir, fair, secs] = args else { return Err("--busy-writer <dir> <fair> <secs>".into()) };
    let fair = fair == "1";
    let secs: u64 = secs.parse().map_err(|_| "secs")?;
    let e = Arc::new(engine(Path::new(dir), SqliteConfig { fair_writers: fair, ..SqliteConfig::default() })?);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (e, stop, ok, failed) = (e.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let req =
                        IngestRequest::new(AGENT, format!("busy-{}-{t}-{i}", std::process::id()), "p", i);
                    match e.ingest(req) {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    println!("{} {}", ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    Ok(())
}

struct FairRun {
    busy: usize,
    fair: bool,
    waits: Vec<Duration>,
    lone_errors: u64,
    busy_errors: u64,
    writes_per_sec: f64,
}

fn fair_writers(args: &Args) -> Result<(), String> {
    let mut runs = Vec::new();
    for busy in [2usize, 6] {
        for fair in [false, true, false, true] {
            runs.push(fair_run(&args.dir, busy, fair, args.fair_secs, runs.len())?);
        }
    }
    println!(
        "\n## A lone writer beside busy writer processes (SQLite, one agent, {} s per run)\n",
        args.fair_secs
    );
    println!(
        "| busy processes | turns | lone write p50 (ms) | p99 (ms) | max (ms) | lone errors | busy errors | writes/s (all) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for busy in [2usize, 6] {
        for fair in [false, true] {
            let mut waits = Vec::new();
            let (mut lone, mut busy_err, mut rate, mut n) = (0, 0, 0.0, 0.0);
            for r in runs.iter().filter(|r| r.busy == busy && r.fair == fair) {
                waits.extend(r.waits.iter().copied());
                lone += r.lone_errors;
                busy_err += r.busy_errors;
                rate += r.writes_per_sec;
                n += 1.0;
            }
            let (p50, p99, max) = percentiles(waits);
            let turns = if fair { "on (fair_writers)" } else { "off (busy handler)" };
            println!(
                "| {busy} | {turns} | {} | {} | {} | {lone} | {busy_err} | {:.0} |",
                ms(p50),
                ms(p99),
                ms(max),
                rate / n
            );
        }
    }
    Ok(())
}

fn fair_run(root: &Path, busy: usize, fair: bool, secs: u64, n: usize) -> Result<FairRun, String> {
    let dir = root.join(format!("fair-{n}"));
    let lone = engine(&dir, SqliteConfig { fair_writers: fair, ..SqliteConfig::default() })?;
    lone.ingest(IngestRequest::new(AGENT, "start", "p", 0)).map_err(|e| e.to_string())?;
    let head = |e: &Engine<SqliteLedger>| -> Result<u64, String> {
        let agent = AgentId::new(AGENT).map_err(|e| e.to_string())?;
        credence_core::transfer::head_seq(e.ledger(), &agent).map_err(|e| e.to_string())
    };
    let before = head(&lone)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<Child> = (0..busy)
        .map(|_| {
            Command::new(&me)
                .args([
                    "--busy-writer",
                    &dir.display().to_string(),
                    if fair { "1" } else { "0" },
                    &secs.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    // Let the busy processes get going, then write every 20 ms until they stop.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (mut waits, mut lone_errors, mut i) = (Vec::new(), 0, 0u64);
    while started.elapsed() < Duration::from_secs(secs).saturating_sub(Duration::from_millis(800)) {
        i += 1;
        let t = Instant::now();
        match lone.ingest(IngestRequest::new(AGENT, format!("lone-{i}"), "p", i)) {
            Ok(_) => waits.push(t.elapsed()),
            Err(_) => lone_errors += 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut busy_errors = 0;
    for c in children {
        let out = c.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let failed: u64 = text.split_whitespace().nth(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        busy_errors += failed;
    }
    // Everything written while the busy processes ran (for `secs` each).
    let writes = head(&lone)? - before;
    let elapsed = secs as f64;
    drop(lone);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(FairRun { busy, fair, waits, lone_errors, busy_errors, writes_per_sec: writes as f64 / elapsed })
}
