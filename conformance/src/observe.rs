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
