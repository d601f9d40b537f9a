//! Workloads, written once against the engine over any ledger.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use credence_core::{ClaimEngine, Disposition, Engine, IngestRequest, Ledger, RecallQuery};

/// The engine every workload drives.
pub type BenchEngine = Engine<Arc<dyn Ledger>>;

/// Latency percentiles of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() - 1) as f64 * q).round() as usize;
            samples[i.min(samples.len() - 1)]
        };
        Latency { p50: at(0.50), p99: at(0.99) }
    }
}

fn ingest_ok(engine: &BenchEngine, req: IngestRequest) -> Result<(), String> {
    let r = engine.ingest(req).map_err(|e| e.to_string())?;
    if r.disposition == Disposition::Rejected {
        return Err(format!("rejected: {:?}", r.reason));
    }
    Ok(())
}

/// One caller, one agent, one claim per line for each number in `lines`. Returns how long
/// that took.
pub fn sequential_ingest(engine: &BenchEngine, agent: &str, lines: Range<u64>) -> Result<Duration, String> {
    let start = Instant::now();
    for i in lines {
        ingest_ok(engine, IngestRequest::new(agent, format!("subject-{i}"), "p", i))?;
    }
    Ok(start.elapsed())
}

/// `callers` threads each ingesting `per_caller` claims; `agent_of(t)` picks each thread's
/// agent. Returns ingests per second over the whole run.
pub fn concurrent_ingest(
    engine: &BenchEngine,
    callers: usize,
    per_caller: u64,
    agent_of: impl Fn(usize) -> String + Sync,
) -> Result<f64, String> {
    let start = Instant::now();
    let results: Vec<Result<(), String>> = thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|t| {
                let agent = agent_of(t);
                s.spawn(move || {
                    for i in 0..per_caller {
                        ingest_ok(engine, IngestRequest::new(agent.as_str(), format!("t{t}-s{i}"), "p", i))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("writer thread panicked".into())))
            .collect()
    });
    results.into_iter().collect::<Result<(), String>>()?;
    Ok((callers as u64 * per_caller) as f64 / start.elapsed().as_secs_f64())
}

/// Recall latency on a line whose history holds `claims` claims already.
pub fn recall_latency(
    engine: &BenchEngine,
    agent: &str,
    subject: &str,
    reps: usize,
) -> Result<Latency, String> {
    let q = RecallQuery::new(agent, subject, "p");
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        engine.recall(&q).map_err(|e| e.to_string())?;
        samples.push(t.elapsed());
    }
    Ok(Latency::of(samples))
}

/// What a write storm measured.
pub struct StormResult {
    pub reader: Latency,
    pub reader_errors: u64,
    pub writes: u64,
    pub writer_errors: u64,
}

/// `writers` threads ingest on one agent for `duration` while `readers` threads recall lines
/// of the same agent continuously.
pub fn reader_storm(
    engine: &BenchEngine,
    agent: &str,
    writers: usize,
    readers: usize,
    duration: Duration,
) -> StormResult {
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let writer_errors = AtomicU64::new(0);
    let reader_errors = AtomicU64::new(0);
    let samples: Vec<Vec<Duration>> = thread::scope(|s| {
        for w in 0..writers {
            let (stop, writes, writer_errors) = (&stop, &writes, &writer_errors);
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let req =
                        IngestRequest::new(agent, format!("storm-{}", i % 50), "p", format!("w{w}-{i}"));
                    match engine.ingest(req) {
                        Ok(_) => writes.fetch_add(1, Ordering::Relaxed),
                        Err(_) => writer_errors.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                }
            });
        }
        let handles: Vec<_> = (0..readers)
            .map(|r| {
                let (stop, reader_errors) = (&stop, &reader_errors);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = r as u64;
                    while !stop.load(Ordering::Relaxed) {
                        let q = RecallQuery::new(agent, format!("storm-{}", i % 50), "p");
                        let t = Instant::now();
                        if engine.recall(&q).is_err() {
                            reader_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        lat.push(t.elapsed());
                        i += 7;
                    }
                    lat
                })
            })
            .collect();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    StormResult {
        reader: Latency::of(samples.into_iter().flatten().collect()),
        reader_errors: reader_errors.into_inner(),
        writes: writes.into_inner(),
        writer_errors: writer_errors.into_inner(),
    }
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
