//! Capturing what a backend tells an operator (SPEC §10), for its tests: the `tracing` log of
//! spans and events and the `metrics` it records, on every thread that runs inside
//! [`Capture::run`].
//!
//! `tracing` caches per call site whether anyone listens; a test binary that runs code outside
//! a capture beside one that captures can race that cache, so each test binary using this
//! should hold one `#[test]`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing_subscriber::fmt::format::FmtSpan;

/// A log and a metrics recorder shared by every thread that runs inside [`Capture::run`].
pub struct Capture {
    log: Log,
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One metric's value: a counter's or gauge's, or a histogram's samples.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A counter.
    Counter(u64),
    /// A gauge.
    Gauge(f64),
    /// A histogram's samples.
    Histogram(Vec<f64>),
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Capture {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Capture { log: Log::default(), recorder, snapshotter }
    }

    /// Runs `f` on this thread with a DEBUG subscriber writing into the log (span closes
    /// included) and the recorder installed.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let log = self.log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || log.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || metrics::with_local_recorder(&self.recorder, f))
    }

    /// The log so far, one line per event or span close.
    pub fn log(&self) -> String {
        let bytes = self.log.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The log lines that contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.log().lines().filter(|l| parts.iter().all(|p| l.contains(p))).map(str::to_owned).collect()
    }

    /// The metrics so far, by `name{label=value,…}` (labels sorted; no braces without labels).
    /// Histograms keep their samples; taking the snapshot clears them.
    pub fn metrics(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let mut labels: Vec<String> =
                key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let name = if labels.is_empty() {
                key.key().name().to_owned()
            } else {
                format!("{}{{{}}}", key.key().name(), labels.join(","))
            };
            let value = match value {
                DebugValue::Counter(n) => Value::Counter(n),
                DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
                DebugValue::Histogram(samples) => {
                    Value::Histogram(samples.into_iter().map(|s| s.into_inner()).collect())
                }
            };
            out.insert(name, value);
        }
        out
    }
}

/// The first value of a line, then a contradicting one: what [`check_two_ingests`] expects.
pub fn two_ingests(engine: &dyn credence_core::ClaimEngine) -> credence_core::Result<()> {
    engine.ingest(credence_core::IngestRequest::new("agent-7", "alice", "city", "Lisbon"))?;
    engine.ingest(credence_core::IngestRequest::new("agent-7", "alice", "city", "Porto"))?;
    Ok(())
}

/// Checks what [`two_ingests`] left in `capture` (and its `metrics`, taken once: taking them
/// clears the histograms) on `backend`: two `credence.ingest` spans of agent `agent-7` naming
/// the backend (CommittedCheap at seq 1, then Contested at seq 2), two group commits of one
/// unit, and the operations counted by outcome.
///
/// # Errors
/// What is missing, with the log.
pub fn check_two_ingests(
    capture: &Capture,
    metrics: &BTreeMap<String, Value>,
    backend: &str,
) -> Result<(), String> {
    let backend_field = format!("db.system.name=\"{backend}\"");
    let ingests = capture.lines_with(&["credence.ingest", "close", &backend_field, "agent=\"agent-7\""]);
    let expected = [("CommittedCheap", "seq=1"), ("Contested", "seq=2")];
    let spans_right = ingests.len() == 2
        && ingests.iter().zip(expected).all(|(line, (outcome, seq))| {
            line.contains(&format!("outcome=\"{outcome}\"")) && line.contains(seq)
        });
    if !spans_right {
        return Err(format!(
            "expected the spans of a CommittedCheap then a Contested ingest:\n{}",
            capture.log()
        ));
    }
    if capture.lines_with(&["group commit", "units=1"]).len() != 2 {
        return Err(format!("expected two group commits of one unit:\n{}", capture.log()));
    }
    for outcome in ["CommittedCheap", "Contested"] {
        let series = format!("credence_operations_total{{operation=ingest,outcome={outcome}}}");
        if counter(metrics, &series) != 1 {
            return Err(format!("expected {series} = 1 in {metrics:?}"));
        }
    }
    if samples(metrics, "credence_group_commit_units") != [1.0, 1.0] {
        return Err(format!("expected two group commits of one unit in {metrics:?}"));
    }
    Ok(())
}

/// A counter's value in `metrics` (0 when it was never counted).
pub fn counter(metrics: &BTreeMap<String, Value>, series: &str) -> u64 {
    match metrics.get(series) {
        Some(Value::Counter(n)) => *n,
        _ => 0,
    }
}

/// A histogram's samples in `metrics` (none when it never recorded).
pub fn samples<'m>(metrics: &'m BTreeMap<String, Value>, series: &str) -> &'m [f64] {
    match metrics.get(series) {
        Some(Value::Histogram(s)) => s,
        _ => &[],
    }
}
