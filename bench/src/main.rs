//! `credence-bench --store <url>`: measures one backend and prints a table.
//!
//! Figures: the raw-driver baseline (single-row inserts, one transaction each), sequential
//! ingest and its ratio to the baseline, ingest with 64 concurrent callers on one agent and on
//! 64 agents, recall p50/p99 on lines with 1, 100 and 10 000 claims of history, reader
//! p50/p99 and errors under a writer storm, peak RSS and bytes on disk per claim.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Rates and percentiles are floating-point summaries of counts; precision loss is irrelevant.

use std::process::ExitCode;
use std::time::Duration;

use credence_core::Engine;

use credence_bench::baseline::{Baseline, PostgresBaseline, SqliteBaseline};
use credence_bench::history;
use credence_bench::store::Target;
use credence_bench::workloads::{
    Latency, concurrent_ingest, peak_rss_bytes, reader_storm, recall_latency, sequential_ingest,
};

/// Rounds of baseline inserts and sequential ingests, alternating.
const ROUNDS: u64 = 4;

/// Rows per transaction in the batched baseline (about the batch size of 64 callers on one
/// agent, whose group commits take half of them at a time).
const GROUP_ROWS: u64 = 32;

/// One backend against its raw driver: sequential and concurrent ingest, recall latency,
/// readers during a writer storm, memory and disk.
#[derive(clap::Parser)]
struct Args {
    /// The store: memory:, sqlite:DIR, sqlite::memory:, postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    store: String,
    /// Sequential ingests and baseline rows.
    #[arg(long, default_value_t = 2000)]
    ingests: u64,
    /// Ingests per caller in the 64-caller runs.
    #[arg(long, default_value_t = 50)]
    per_caller: u64,
    /// Length of the reader/writer storm, in seconds.
    #[arg(long, default_value_t = 10)]
    storm_secs: u64,
    /// Longest line history for recall latency.
    #[arg(long, default_value_t = 10_000)]
    max_history: u64,
    /// Also time sequential ingest with a `tracing` subscriber at this level or filter (e.g.
    /// `info`), formatting every span and event into a sink, alternating with none: the cost per
    /// ingest of logging.
    #[arg(long)]
    subscriber: Option<String>,
    /// `page_size` of the SQLite files the run makes (the raw baseline's stays SQLite's
    /// default); the backend's default when left out.
    #[arg(long)]
    page_size: Option<u32>,
}

/// The arguments, checked.
fn parse_args() -> Result<Args, String> {
    let args = <Args as clap::Parser>::parse();
    if args.ingests == 0 || args.per_caller == 0 {
        return Err("--ingests and --per-caller must be at least 1".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    credence_bench::main_with("credence-bench", parse_args(), |a| a.store.as_str(), run)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn latency_row(rows: &mut Vec<(String, String)>, label: &str, l: Latency) {
    rows.push((format!("{label} p50"), ms(l.p50)));
    rows.push((format!("{label} p99"), ms(l.p99)));
}

fn run(args: &Args, target: &Target) -> Result<String, String> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let progress = |what: &str| eprintln!("[bench] {what}");

    // The baseline and sequential ingest alternate in rounds, so a drift in the host's disk
    // speed during the run affects both alike; the spread of the per-round ratios is shown.
    progress("baseline and sequential ingest, alternating");
    let mut baseline = match target {
        Target::SqliteDir(dir) => {
            let base = dir.join("baseline");
            std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
            Some(Baseline::Sqlite(SqliteBaseline::open(&base)?))
        }
        Target::Postgres { url, schema } => {
            Some(Baseline::Postgres(Box::new(PostgresBaseline::open(url, schema)?)))
        }
        _ => None,
    };

    let config = credence_bench::store::sqlite_config(args.page_size);
    let (ledger, probe) = target.open_with(&config)?;
    let engine = Engine::new(ledger.clone());
    let mut claims: u64 = 0;

    let (mut seq_time, mut base_time, mut ratios) = (Duration::ZERO, Duration::ZERO, Vec::new());
    for round in 0..ROUNDS {
        let n = args.ingests / ROUNDS + u64::from(round < args.ingests % ROUNDS);
        if n == 0 {
            continue;
        }
        let took = sequential_ingest(&engine, "bench-seq", claims..claims + n)?;
        seq_time += took;
        claims += n;
        if let Some(b) = baseline.as_mut() {
            let base = b.insert(n, 1)?;
            base_time += base;
            ratios.push(base.as_secs_f64() / took.as_secs_f64());
        }
    }
    let sequential = args.ingests as f64 / seq_time.as_secs_f64();
    if let Some(mut b) = baseline {
        let rate = args.ingests as f64 / base_time.as_secs_f64();
        rows.push((b.label().into(), format!("{rate:.0}")));
        rows.push(("sequential ingest/s (1 caller, 1 agent)".into(), format!("{sequential:.0}")));
        let (lo, hi) = ratios.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        rows.push((
            format!("  ratio to baseline (min–max of {} rounds)", ratios.len()),
            format!("{:.0} % ({:.0}–{:.0} %)", 100.0 * sequential / rate, 100.0 * lo, 100.0 * hi),
        ));
        // The most a group commit can gain here for the lightest row: the same inserts,
        // GROUP_ROWS to a transaction, against the single-row rate above.
        let n = args.ingests * 8;
        let batched = n as f64 / b.insert(n, GROUP_ROWS)?.as_secs_f64();
        rows.push((format!("  same, {GROUP_ROWS} rows per txn (savepoint each)"), format!("{batched:.0}")));
        rows.push((
            "    ratio to 1 row per txn (group-commit ceiling)".into(),
            format!("{:.1}x", batched / rate),
        ));
        b.finish()?;
    } else {
        rows.push(("sequential ingest/s (1 caller, 1 agent)".into(), format!("{sequential:.0}")));
    }

    if let Some(filter) = &args.subscriber {
        progress(&format!("sequential ingest with a subscriber at {filter}, alternating with none"));
        let per = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n as f64;
        let (mut plain, mut logged, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2 * ROUNDS {
            let n = args.ingests / ROUNDS;
            let without = sequential_ingest(&engine, "bench-log", claims..claims + n)?;
            claims += n;
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?)
                .with_writer(std::io::sink)
                .with_ansi(false)
                .finish();
            let with = tracing::subscriber::with_default(subscriber, || {
                sequential_ingest(&engine, "bench-log", claims..claims + n)
            })?;
            claims += n;
            plain.push(per(without, n));
            logged.push(per(with, n));
            diffs.push(per(with, n) - per(without, n));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        rows.push((
            "sequential ingest, µs each (median of rounds)".into(),
            format!("{:.1}", median(&mut plain)),
        ));
        rows.push((format!("  same, subscriber at {filter}"), format!("{:.1}", median(&mut logged))));
        rows.push((
            format!("  cost per ingest ({} rounds' median)", diffs.len()),
            format!("{:+.1} µs", median(&mut diffs)),
        ));
    }

    progress("64 callers, one agent");
    let before = probe();
    let one_agent = concurrent_ingest(&engine, 64, args.per_caller, |_| "bench-c1".into())?;
    claims += 64 * args.per_caller;
    rows.push(("ingest/s, 64 callers on 1 agent".into(), format!("{one_agent:.0}")));
    rows.push(("  ratio to sequential".into(), format!("{:.1}x", one_agent / sequential)));
    if let (Some((t0, w0)), Some((t1, w1))) = (before, probe()) {
        let per_txn = w1.saturating_sub(w0) as f64 / t1.saturating_sub(t0).max(1) as f64;
        rows.push(("  writes per transaction (group commit)".into(), format!("{per_txn:.1}")));
    }

    progress("64 callers, 64 agents");
    let many_agents = concurrent_ingest(&engine, 64, args.per_caller, |t| format!("bench-m{t}"))?;
    claims += 64 * args.per_caller;
    rows.push(("ingest/s, 64 callers on 64 agents".into(), format!("{many_agents:.0}")));
    rows.push(("  ratio to sequential".into(), format!("{:.1}x", many_agents / sequential)));

    for size in [1u64, 100, 10_000].into_iter().filter(|&n| n <= args.max_history) {
        progress(&format!("recall latency, history of {size}"));
        // Each history lives on its own agent: its commit units are copied in from seq 1.
        let (agent, subject) = (format!("bench-recall-{size}"), format!("history-{size}"));
        history::build_line(&ledger, &agent, &subject, size)?;
        claims += size;
        let reps = if size >= 10_000 { 100 } else { 500 };
        latency_row(
            &mut rows,
            &format!("recall, {size}-claim history,"),
            recall_latency(&engine, &agent, &subject, reps)?,
        );
    }

    progress("reader storm");
    let storm = reader_storm(&engine, "bench-storm", 4, 4, Duration::from_secs(args.storm_secs));
    claims += storm.writes;
    latency_row(&mut rows, &format!("reader recall under {}s writer storm,", args.storm_secs), storm.reader);
    rows.push(("  reader errors".into(), storm.reader_errors.to_string()));
    rows.push((
        "  storm writes (writer errors)".into(),
        format!("{} ({})", storm.writes, storm.writer_errors),
    ));

    drop(engine);
    drop(probe);
    drop(ledger);
    if let Some(rss) = peak_rss_bytes() {
        rows.push(("peak RSS".into(), format!("{:.1} MiB", rss as f64 / (1024.0 * 1024.0))));
    }
    if let Some(bytes) = target.bytes_on_disk()? {
        rows.push((
            "bytes on disk per claim".into(),
            format!("{:.0} ({claims} claims)", bytes as f64 / claims as f64),
        ));
    }

    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(10);
    let mut out = format!("credence-bench — store: {} ({})\n\n", target.name(), args.store);
    out += &format!(
        "| {:width$} | {:>16} |\n|{}|{}|\n",
        "figure",
        "value",
        "-".repeat(width + 2),
        "-".repeat(18)
    );
    for (k, v) in rows {
        out += &format!("| {k:width$} | {v:>16} |\n");
    }
    Ok(out)
}
