//! `history --store <url>`: what a long history costs on one backend (SPEC §3.5), printed as
//! two tables — the figures against their targets, and the ingest rate along each line.
//!
//! Workloads, each built while the same number of ingests on new lines runs alternately (one
//! chunk of each in turn), so the disk's drift hits both alike:
//! * (a) a **succession line**: claim `i` holds value `place-i` valid for hour `i` after
//!   2020-01-01, the hours arriving in a shuffled order (agents learn about the past too);
//!   every claim stays live;
//! * (b) a **corrected line**: each new value is ingested (Contested) and then resolved in its
//!   favour, so one claim is live and the history grows;
//! * (c) an agent holding `--agent-claims` claims over `--agent-lines` lines: ingest and recall
//!   on a fresh line of it against the same on an empty agent, alternating (recalls of a batch
//!   of fresh lines, and a recall right after each line's ingest); and a search for a
//!   word one line holds (alone, and with the predicate every line has) against the same on an
//!   agent of that one line.
//!
//! Recall is timed now and as of the line's midpoint seq, against a one-claim line; a history
//! page of `PAGE` claims from the middle of each line, against the whole of a line of `PAGE`
//! claims built the same way; the reads compared run in turn.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
// Rates and percentiles are floating-point summaries of counts; precision loss is irrelevant.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use credence_bench::baseline::{Baseline, PostgresBaseline, SqliteBaseline};
use credence_bench::rows::{PostgresRows, Rows, SqliteRows};
use credence_bench::store::Target;
use credence_bench::workloads::{BenchEngine, Latency};
use credence_core::{
    ClaimEngine, Disposition, Engine, HistoryCursor, HistoryQuery, IngestRequest, RecallQuery, SearchQuery,
    Timestamp, ValidTime, time::MICROS_PER_SECOND,
};

/// Chunks each line is built in (the rate is reported per chunk).
const CHUNKS: u64 = 10;
/// Samples per recall latency figure.
const RECALLS: usize = 3000;
/// Claims per history page timed.
const PAGE: usize = 100;
/// Ingests (and recalls) per round of workload (c), and its rounds.
const FRESH: u64 = 200;
const ROUNDS: u64 = 4;
/// Passes of recalls over each round's fresh lines: a p99 of a few tens of µs needs thousands
/// of samples, or the host's scheduling decides it.
const RECALL_PASSES: u64 = 5;

/// SPEC §3.5 on one backend: a succession line, a corrected line and a large agent against
/// their targets.
#[derive(clap::Parser)]
struct Args {
    /// The store: memory:, sqlite:DIR, sqlite::memory:, postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    store: String,
    /// Claims of lines (a) and (b).
    #[arg(long, default_value_t = 10_000)]
    claims: u64,
    /// Claims of the large agent (c).
    #[arg(long, default_value_t = 100_000)]
    agent_claims: u64,
    /// Lines they are spread over.
    #[arg(long, default_value_t = 1_000)]
    agent_lines: u64,
    /// `page_size` of the SQLite files the run makes (the raw baseline's stays SQLite's
    /// default); the backend's default when left out.
    #[arg(long)]
    page_size: Option<u32>,
}

/// The arguments, checked.
fn parse_args() -> Result<Args, String> {
    let args = <Args as clap::Parser>::parse();
    if args.claims < CHUNKS || args.agent_lines == 0 {
        return Err(format!("--claims must be at least {CHUNKS} and --agent-lines at least 1"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    credence_bench::main_with("history", parse_args(), |a| a.store.as_str(), run)
}

fn ingest(engine: &BenchEngine, req: IngestRequest) -> Result<u64, String> {
    let r = engine.ingest(req).map_err(|e| e.to_string())?;
    if r.disposition == Disposition::Rejected {
        return Err(format!("rejected: {:?}", r.reason));
    }
    Ok(r.seq.unwrap_or(0))
}

/// A deterministic shuffle of `0..n` (a linear congruential permutation walk).
fn shuffled(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..v.len()).rev() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let j = (state >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

/// The hour `i` after 2020-01-01 as a trusted window.
fn hour(i: u64) -> ValidTime {
    let base = Timestamp::from_ymd(2020, 1, 1).unwrap_or(Timestamp(0));
    let start =
        base.plus_micros(i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(3_600 * MICROS_PER_SECOND));
    ValidTime::new(Some(start), Some(start.plus_micros(3_600 * MICROS_PER_SECOND)))
}

/// One claim of a line under construction, by workload.
enum Line {
    /// (a): the `i`-th hour of the shuffle.
    Succession(Vec<u64>),
    /// (b): a new value, then resolved in its favour.
    Corrected,
}

impl Line {
    fn add(&self, engine: &BenchEngine, agent: &str, i: u64) -> Result<u64, String> {
        match self {
            Line::Succession(hours) => {
                let h = hours[i as usize];
                let req =
                    IngestRequest::new(agent, "line", "p", format!("place-{h}")).with_valid_time(hour(h));
                ingest(engine, req)
            }
            Line::Corrected => {
                let r = engine
                    .ingest(IngestRequest::new(agent, "line", "p", format!("value-{i}")))
                    .map_err(|e| e.to_string())?;
                if i == 0 {
                    return Ok(r.seq.unwrap_or(0));
                }
                let done = engine.resolve(agent, "line", "p", r.claim()).map_err(|e| e.to_string())?;
                Ok(done.seq.unwrap_or(0))
            }
        }
    }
}

/// What building one line measured.
struct Built {
    /// `(claims so far, ingest/s over the chunk ending there)`, per chunk.
    curve: Vec<(u64, f64)>,
    /// The same for the ingests on new lines alternating with it.
    new_lines: Vec<f64>,
    /// Rate over the first `min(100, n)` claims, and over the last chunk.
    first: f64,
    last: f64,
    took: Duration,
    new_lines_took: Duration,
    /// The line's seq at half its claims.
    midpoint_seq: u64,
}

/// Builds `line` of `claims` claims on agent `agent`, alternating each chunk with as many
/// ingests on new lines of agent `new_agent`.
fn build(
    engine: &BenchEngine,
    line: &Line,
    agent: &str,
    new_agent: &str,
    claims: u64,
) -> Result<Built, String> {
    let chunk = claims / CHUNKS;
    let mut built = Built {
        curve: Vec::new(),
        new_lines: Vec::new(),
        first: 0.0,
        last: 0.0,
        took: Duration::ZERO,
        new_lines_took: Duration::ZERO,
        midpoint_seq: 0,
    };
    let mut next_new = 0;
    for c in 0..CHUNKS {
        let (from, to) = (c * chunk, if c + 1 == CHUNKS { claims } else { (c + 1) * chunk });
        let start = Instant::now();
        let mut first_took = None;
        for i in from..to {
            let seq = line.add(engine, agent, i)?;
            if i + 1 == claims.min(100) {
                first_took = Some(start.elapsed());
            }
            if i + 1 == claims / 2 {
                built.midpoint_seq = seq;
            }
        }
        let took = start.elapsed();
        if let Some(t) = first_took {
            built.first = claims.min(100) as f64 / t.as_secs_f64();
        }
        built.took += took;
        let rate = (to - from) as f64 / took.as_secs_f64();
        built.curve.push((to, rate));
        built.last = rate;
        let start = Instant::now();
        for _ in from..to {
            ingest(engine, IngestRequest::new(new_agent, format!("subject-{next_new}"), "p", next_new))?;
            next_new += 1;
        }
        let took = start.elapsed();
        built.new_lines_took += took;
        built.new_lines.push((to - from) as f64 / took.as_secs_f64());
    }
    Ok(built)
}

/// p50 and p99 of each of `reads`, run in turn [`RECALLS`] times each (so a disturbance of the
/// host hits them alike) after one untimed run each (the first read of rows just written also
/// sets their hint bits, a cost paid once).
fn alternating<const N: usize>(reads: [&dyn Fn() -> Result<(), String>; N]) -> Result<[Latency; N], String> {
    for read in reads {
        read()?;
    }
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(RECALLS));
    for _ in 0..RECALLS {
        for (read, samples) in reads.iter().zip(samples.iter_mut()) {
            let t = Instant::now();
            read()?;
            samples.push(t.elapsed());
        }
    }
    Ok(samples.map(Latency::of))
}

/// A recall of `query`, for [`alternating`].
fn recall<'a>(engine: &'a BenchEngine, query: RecallQuery) -> impl Fn() -> Result<(), String> + 'a {
    move || engine.recall(&query).map(drop).map_err(|e| e.to_string())
}

/// A read of the page of [`PAGE`] claims after `after` of `agent`'s line, for
/// [`alternating`].
fn page<'a>(
    engine: &'a BenchEngine,
    agent: &str,
    after: Option<HistoryCursor>,
) -> impl Fn() -> Result<(), String> + 'a {
    let query = HistoryQuery { after, ..HistoryQuery::new(agent, "line", "p", PAGE) };
    move || {
        let page = engine.history_page(&query).map_err(|e| e.to_string())?;
        if page.entries.len() != PAGE {
            return Err(format!("a history page of {} held {} claims", query.agent, page.entries.len()));
        }
        Ok(())
    }
}

/// Fills agent `agent` with `claims` claims over `lines` lines (16 writers, so the engine
/// combines them), each line a run of corroborations of one value.
fn fill_agent(engine: &BenchEngine, agent: &str, claims: u64, lines: u64) -> Result<(), String> {
    const WRITERS: u64 = 16;
    let results: Vec<Result<(), String>> = thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    let mut i = w;
                    while i < claims {
                        let line = i % lines;
                        ingest(engine, IngestRequest::new(agent, format!("line-{line}"), "p", line))?;
                        i += WRITERS;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a writer panicked".into()))).collect()
    });
    results.into_iter().collect()
}

/// Ingests `FRESH` claims on new lines of `agent` (round `round`); returns ingest/s.
fn fresh_lines(engine: &BenchEngine, agent: &str, round: u64) -> Result<f64, String> {
    let start = Instant::now();
    for i in 0..FRESH {
        ingest(engine, IngestRequest::new(agent, format!("fresh-{round}-{i}"), "p", i))?;
    }
    Ok(FRESH as f64 / start.elapsed().as_secs_f64())
}

/// Recalls of the new lines of round `round` of each of `agents`, in turn, `RECALL_PASSES`
/// times over: their samples.
fn fresh_recalls(engine: &BenchEngine, agents: [&str; 2], round: u64) -> Result<[Vec<Duration>; 2], String> {
    let mut samples = [Vec::new(), Vec::new()];
    for i in (0..FRESH).cycle().take((FRESH * RECALL_PASSES) as usize) {
        for (agent, samples) in agents.iter().zip(samples.iter_mut()) {
            let q = RecallQuery::new(*agent, format!("fresh-{round}-{i}"), "p");
            let t = Instant::now();
            engine.recall(&q).map_err(|e| e.to_string())?;
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

/// Each of `agents` in turn ingests on a new line (round `round`) and recalls it at once: the
/// recalls' samples. (On SQLite the first read after a write reloads the pages it touches.)
fn recalls_after_ingest(
    engine: &BenchEngine,
    agents: [&str; 2],
    round: u64,
) -> Result<[Vec<Duration>; 2], String> {
    let mut samples = [Vec::new(), Vec::new()];
    for i in 0..FRESH {
        for (agent, samples) in agents.iter().zip(samples.iter_mut()) {
            let line = format!("after-{round}-{i}");
            ingest(engine, IngestRequest::new(*agent, line.as_str(), "p", i))?;
            let t = Instant::now();
            engine.recall(&RecallQuery::new(*agent, line, "p")).map_err(|e| e.to_string())?;
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

/// A search of `text` on `agent` that must find exactly one line, for [`alternating`].
fn search<'a>(engine: &'a BenchEngine, agent: &str, text: &str) -> impl Fn() -> Result<(), String> + 'a {
    let query = SearchQuery::new(agent, text, 10);
    move || {
        let found = engine.search(&query).map_err(|e| e.to_string())?;
        if found.hits.len() != 1 {
            return Err(format!(
                "search {:?} on {} found {} lines",
                query.text,
                query.agent,
                found.hits.len()
            ));
        }
        Ok(())
    }
}

/// `a`'s p99 against `b`'s, with both p50s beside.
fn p99_ratio(a: Latency, b: Latency) -> String {
    format!(
        "{} / {} = {:.2}× (p50 {} / {})",
        ms(a.p99),
        ms(b.p99),
        a.p99.as_secs_f64() / b.p99.as_secs_f64(),
        ms(a.p50),
        ms(b.p50)
    )
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn run(args: &Args, target: &Target) -> Result<String, String> {
    let progress = |what: &str| eprintln!("[history] {what}");
    let config = credence_bench::store::sqlite_config(args.page_size);
    let (ledger, _probe) = target.open_with(&config)?;
    let engine: BenchEngine = Engine::new(ledger.clone());
    let mut rows: Vec<(String, String, &str)> = Vec::new();

    progress("raw baseline, an ingest's rows by hand and sequential ingest on new lines, alternating");
    let (mut baseline, mut by_hand) = match target {
        Target::SqliteDir(dir) => {
            let (base, rows) = (dir.join("baseline"), dir.join("rows"));
            std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
            (
                Some(Baseline::Sqlite(SqliteBaseline::open(&base)?)),
                Some(Rows::Sqlite(SqliteRows::open(&rows, &config)?)),
            )
        }
        Target::Postgres { url, schema } => (
            Some(Baseline::Postgres(Box::new(PostgresBaseline::open(url, schema)?))),
            Some(Rows::Postgres(Box::new(PostgresRows::open(url, &format!("{schema}_rows"))?))),
        ),
        _ => (None, None),
    };
    if let (Some(b), Some(r)) = (baseline.as_mut(), by_hand.as_mut()) {
        let (mut seq_took, mut base_took, mut n) = (Duration::ZERO, Duration::ZERO, 0);
        let (mut rows_took, mut bare_took) = (Duration::ZERO, Duration::ZERO);
        for round in 0..ROUNDS {
            let start = Instant::now();
            for i in 0..500 {
                ingest(&engine, IngestRequest::new("baseline", format!("s-{round}-{i}"), "p", i))?;
            }
            seq_took += start.elapsed();
            base_took += b.insert(500, 1)?;
            rows_took += r.insert(500, true)?;
            bare_took += r.insert(500, false)?;
            n += 500;
        }
        let rate = |took: Duration| n as f64 / took.as_secs_f64();
        let (seq, base, by_hand, bare) = (rate(seq_took), rate(base_took), rate(rows_took), rate(bare_took));
        let share = |rate: f64| format!("{rate:.0} / {base:.0} = {:.0} %", 100.0 * rate / base);
        for (label, rate, target) in [
            ("sequential ingest on new lines / raw single-row baseline", seq, "≥ 65 %"),
            ("  an ingest's rows by hand (raw driver, credence's schema) / the baseline", by_hand, "(bound)"),
            ("  the same rows without the search postings / the baseline", bare, ""),
        ] {
            rows.push((label.into(), share(rate), target));
        }
        rows.push((
            "  sequential ingest / its rows by hand".into(),
            format!("{:.0} %", 100.0 * seq / by_hand),
            "",
        ));
    }
    if let Some(b) = baseline {
        b.finish()?;
    }
    if let Some(r) = by_hand {
        r.finish()?;
    }

    ingest(&engine, IngestRequest::new("one", "line", "p", "only"))?;

    let mut curves = Vec::new();
    for (name, line, agent) in [
        ("(a) succession", Line::Succession(shuffled(args.claims)), "succession"),
        ("(b) corrected", Line::Corrected, "corrected"),
    ] {
        progress(&format!("building line {name} of {} claims", args.claims));
        let built = build(&engine, &line, agent, &format!("{agent}-new-lines"), args.claims)?;
        rows.push((
            format!("{name}: ingest/s at history ≤ 100 → at {}", args.claims),
            format!("{:.0} → {:.0} = {:.0} %", built.first, built.last, 100.0 * built.last / built.first),
            "≥ 70 %",
        ));
        let [now, mid, one] = alternating([
            &recall(&engine, RecallQuery::new(agent, "line", "p")),
            &recall(&engine, RecallQuery::new(agent, "line", "p").as_of_seq(built.midpoint_seq)),
            &recall(&engine, RecallQuery::new("one", "line", "p")),
        ])?;
        rows.push((format!("{name}: recall p99 now / at history 1"), p99_ratio(now, one), "≤ 2×"));
        rows.push((
            format!("{name}: recall p99 as of the midpoint / at history 1"),
            p99_ratio(mid, one),
            "≤ 3×",
        ));
        rows.push((
            format!("{name}: building it / as many ingests on new lines"),
            format!(
                "{:.2} s / {:.2} s = {:.1}×",
                built.took.as_secs_f64(),
                built.new_lines_took.as_secs_f64(),
                built.took.as_secs_f64() / built.new_lines_took.as_secs_f64()
            ),
            if name.starts_with("(a)") { "≤ 1.5×" } else { "" },
        ));
        let short = format!("{agent}-{PAGE}");
        for i in 0..PAGE as u64 {
            line.add(&engine, &short, i)?;
        }
        let half = usize::try_from(args.claims / 2).map_err(|e| e.to_string())?;
        let middle = engine
            .history_page(&HistoryQuery::new(agent, "line", "p", half))
            .map_err(|e| e.to_string())?
            .next;
        let [page, whole] = alternating([&page(&engine, agent, middle), &page(&engine, &short, None)])?;
        rows.push((
            format!("{name}: history page of {PAGE} p99 from the middle / a {PAGE}-claim line"),
            p99_ratio(page, whole),
            "≤ 2×",
        ));
        curves.push((name, built));
    }

    progress(&format!("filling an agent with {} claims over {} lines", args.agent_claims, args.agent_lines));
    fill_agent(&engine, "large", args.agent_claims, args.agent_lines)?;
    progress("fresh lines: large agent and empty agents, alternating");
    let (mut large, mut empty) = (0.0, 0.0);
    let mut recalls = [Vec::new(), Vec::new()];
    let mut after_ingest = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        // Each empty agent exists (one claim) before it is timed: creating it is not measured.
        ingest(&engine, IngestRequest::new(format!("empty-{round}"), "first", "p", 0))?;
    }
    for round in 0..ROUNDS {
        let empty_agent = format!("empty-{round}");
        large += fresh_lines(&engine, "large", round)? / ROUNDS as f64;
        empty += fresh_lines(&engine, &empty_agent, round)? / ROUNDS as f64;
        let [l, e] = fresh_recalls(&engine, ["large", &empty_agent], round)?;
        recalls[0].extend(l);
        recalls[1].extend(e);
        let [l, e] = recalls_after_ingest(&engine, ["large", &empty_agent], round)?;
        after_ingest[0].extend(l);
        after_ingest[1].extend(e);
    }
    let [large_recall, empty_recall] = recalls.map(Latency::of);
    let [large_after, empty_after] = after_ingest.map(Latency::of);
    progress("search: large agent and a one-line agent, alternating");
    for agent in ["large", "one-line"] {
        ingest(&engine, IngestRequest::new(agent, "needle", "p", "a rare word"))?;
    }
    for text in ["rare", "p rare"] {
        let [large, small] =
            alternating([&search(&engine, "large", text), &search(&engine, "one-line", text)])?;
        rows.push((
            format!("(c) {} claims: search {text:?} p99 / one-line agent", args.agent_claims),
            p99_ratio(large, small),
            // SPEC §3.5 sets no ratio: O(log n + the postings of the rarest term).
            "",
        ));
    }
    rows.push((
        format!("(c) {} claims: fresh-line ingest/s / empty agent", args.agent_claims),
        format!("{large:.0} / {empty:.0} = {:.0} %", 100.0 * large / empty),
        "≥ 80 %",
    ));
    rows.push((
        format!("(c) {} claims: fresh-line recall p99 / empty agent", args.agent_claims),
        p99_ratio(large_recall, empty_recall),
        "≤ 1.2×",
    ));
    rows.push((
        format!("(c) {} claims: recall right after its ingest p99 / empty agent", args.agent_claims),
        p99_ratio(large_after, empty_after),
        "",
    ));

    let mut out = format!(
        "history — store: {} ({})\n\n| figure | measured | target |\n|---|---|---|\n",
        target.name(),
        args.store
    );
    for (k, v, t) in &rows {
        out += &format!("| {k} | {v} | {t} |\n");
    }
    out += "\n| claims so far | (a) ingest/s | new lines ingest/s | (b) ingest/s | new lines ingest/s |\n|---|---|---|---|---|\n";
    if let [(_, a), (_, b)] = &curves[..] {
        for (i, ((n, ra), nla)) in a.curve.iter().zip(&a.new_lines).enumerate() {
            let (rb, nlb) = (b.curve.get(i).map_or(0.0, |c| c.1), b.new_lines.get(i).copied().unwrap_or(0.0));
            out += &format!("| {n} | {ra:.0} | {nla:.0} | {rb:.0} | {nlb:.0} |\n");
        }
    }
    Ok(out)
}
