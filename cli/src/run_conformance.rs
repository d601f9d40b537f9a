//! Runs the conformance suite against a store URL without touching existing data.
//!
//! * `memory:` and `sqlite::memory:` — a fresh instance per case.
//! * `sqlite:<dir>` — a fresh subdirectory per case under `<dir>/.credence-conformance-<pid>/`,
//!   removed afterwards (the agents of `<dir>` are never opened).
//! * `postgres://…` — a fresh schema per case (`credence_conformance_<pid>_<n>`), dropped
//!   afterwards; the URL's own schema is never touched.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use std::sync::atomic::AtomicU32;

use credence_conformance::model::{check_against_model_with, check_invariants_with, runner_config};
use credence_conformance::{Capabilities, Case, CaseError, CaseResult, Factory, Store, all_cases};
use credence_core::{Error, MemoryLedger, Result};
use serde::Serialize;

use crate::store::{Scheme, redact, scheme};

/// The outcome of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It passed.
    Passed,
    /// An expectation failed, the engine returned an error, or the case panicked.
    Failed,
    /// The backend cannot run it.
    Skipped,
}

/// One case's result.
#[derive(Clone, Debug, Serialize)]
pub struct CaseReport {
    /// Area (module).
    pub area: String,
    /// Case name.
    pub case: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Wall time in milliseconds.
    pub millis: u64,
}

/// Counts per area.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AreaSummary {
    /// Area.
    pub area: String,
    /// Passed cases.
    pub passed: u64,
    /// Failed cases.
    pub failed: u64,
    /// Skipped cases.
    pub skipped: u64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The URL (password redacted).
    pub store: String,
    /// The backend: `memory`, `sqlite` or `postgres`.
    pub backend: String,
    /// Per-area counts, in suite order.
    pub areas: Vec<AreaSummary>,
    /// Every case.
    pub cases: Vec<CaseReport>,
    /// Totals.
    pub passed: u64,
    /// Totals.
    pub failed: u64,
    /// Totals.
    pub skipped: u64,
}

/// A [`Factory`] over a store URL (see the module docs).
pub struct UrlFactory {
    url: String,
    kind: Scheme,
    scratch: Option<PathBuf>,
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    counter: AtomicU64,
}

impl UrlFactory {
    /// Checks the URL and, for `sqlite:<dir>`, creates the scratch directory.
    ///
    /// # Errors
    /// `InvalidStoreUrl`; `Backend` when the scratch directory cannot be created.
    pub fn new(url: &str) -> Result<UrlFactory> {
        let kind = scheme(url)?;
        let mut scratch = None;
        if kind == Scheme::Sqlite && url != "sqlite::memory:" {
            // Validate the URL the adapter's way first.
            let dir =
                url.strip_prefix("sqlite:").map(|r| r.strip_prefix("//").unwrap_or(r)).unwrap_or_default();
            if dir.is_empty() || dir.starts_with(':') {
                return Err(Error::InvalidStoreUrl {
                    url: url.into(),
                    reason: "expected sqlite:<dir>".into(),
                });
            }
            let path = PathBuf::from(dir).join(format!(".credence-conformance-{}", std::process::id()));
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::Backend { backend: "sqlite", source: e.into() })?;
            scratch = Some(path);
        }
        #[cfg(feature = "postgres")]
        if kind == Scheme::Postgres {
            // Parse now, so a bad URL fails before any case runs.
            credence_postgres::PostgresConfig::from_url(url)?;
        }
        Ok(UrlFactory { url: url.to_owned(), kind, scratch, counter: AtomicU64::new(0) })
    }
}

impl Drop for UrlFactory {
    fn drop(&mut self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Factory for UrlFactory {
    fn name(&self) -> String {
        redact(&self.url)
    }

    fn capabilities(&self) -> Capabilities {
        match (self.kind, self.scratch.is_some()) {
            (Scheme::Memory, _) | (Scheme::Sqlite, false) => Capabilities::IN_MEMORY,
            _ => Capabilities { durable: true, multi_process: true },
        }
    }

    fn store(&self) -> Result<Store> {
        match self.kind {
            Scheme::Memory => Ok(Store::new(Arc::new(MemoryLedger::new()))),
            #[cfg(feature = "sqlite")]
            Scheme::Sqlite => {
                use credence_conformance::DynLedger;
                use credence_sqlite::{SqliteConfig, SqliteLedger};
                let Some(scratch) = &self.scratch else {
                    return Ok(Store::new(Arc::new(SqliteLedger::in_memory(SqliteConfig::default())?)));
                };
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let dir = tempfile::Builder::new()
                    .prefix(&format!("case-{n}-"))
                    .tempdir_in(scratch)
                    .map_err(|e| Error::Backend { backend: "sqlite", source: e.into() })?;
                let path = dir.path().to_path_buf();
                let ledger: DynLedger = Arc::new(SqliteLedger::open(&path, SqliteConfig::default())?);
                Ok(Store::new(ledger)
                    .with_reopen(move || {
                        Ok(Arc::new(SqliteLedger::open(&path, SqliteConfig::default())?) as DynLedger)
                    })
                    .with_guard(dir))
            }
            #[cfg(feature = "postgres")]
            Scheme::Postgres => {
                use credence_conformance::DynLedger;
                use credence_postgres::{PostgresConfig, PostgresLedger};
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let mut config = PostgresConfig::from_url(&self.url)?;
                config.schema = format!("credence_conformance_{}_{n}", std::process::id());
                config.pool.max_size = config.pool.max_size.min(4);
                let ledger = Arc::new(PostgresLedger::connect(config.clone())?);
                let guard = SchemaDropper { ledger: ledger.clone(), schema: config.schema.clone() };
                Ok(Store::new(ledger)
                    .with_reopen(move || Ok(Arc::new(PostgresLedger::connect(config.clone())?) as DynLedger))
                    .with_guard(guard))
            }
            #[allow(unreachable_patterns)]
            _ => Err(Error::InvalidStoreUrl { url: self.name(), reason: "backend not compiled in".into() }),
        }
    }
}

/// Drops a per-case schema when the case's store goes away.
#[cfg(feature = "postgres")]
struct SchemaDropper {
    ledger: Arc<credence_postgres::PostgresLedger>,
    schema: String,
}

#[cfg(feature = "postgres")]
impl Drop for SchemaDropper {
    fn drop(&mut self) {
        if self.schema == "public" || !self.schema.starts_with("credence_conformance_") {
            return;
        }
        if let Ok(mut conn) = self.ledger.pool().get() {
            let _ =
                conn.client().batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema));
        }
    }
}

/// Random scenarios per model check (see [`run`]).
static MODEL_CASES: AtomicU32 = AtomicU32::new(credence_conformance::model::DEFAULT_CASES);

/// The backend gives the same observable answers as the `memory:` reference on random
/// operation sequences.
fn model_matches_reference(f: &dyn Factory) -> CaseResult {
    check_against_model_with(f, runner_config(MODEL_CASES.load(Ordering::Relaxed), None));
    Ok(())
}

/// Storage invariants (gap-free seq, monotonic tx_time, history agrees with recall, …) hold on
/// random operation sequences.
fn invariants_hold_on_random_operation_sequences(f: &dyn Factory) -> CaseResult {
    check_invariants_with(f, runner_config(MODEL_CASES.load(Ordering::Relaxed), None));
    Ok(())
}

/// Every case of the suite: [`all_cases`] plus the two model-based property checks (area
/// `model`, `model_cases` random scenarios each; `0` leaves them out).
pub fn suite(model_cases: u32) -> Vec<Case> {
    let mut cases = all_cases();
    if model_cases > 0 {
        MODEL_CASES.store(model_cases, Ordering::Relaxed);
        cases.push(Case { area: "model", name: "model_matches_reference", run: model_matches_reference });
        cases.push(Case {
            area: "model",
            name: "invariants_hold_on_random_operation_sequences",
            run: invariants_hold_on_random_operation_sequences,
        });
    }
    cases
}

/// Runs every case of [`suite`] whose `area::name` contains `filter` (all when `None`), on
/// `threads` threads, catching panics per case. `on_case` is called as each case finishes.
///
/// While it runs, the process's panic hook is replaced by a silent one (a panicking case is
/// reported as failed with its message); the previous hook is restored afterwards.
///
/// # Errors
/// As [`UrlFactory::new`].
pub fn run(
    url: &str,
    filter: Option<&str>,
    threads: usize,
    model_cases: u32,
    on_case: &(dyn Fn(&CaseReport) + Sync),
) -> Result<Report> {
    let factory = UrlFactory::new(url)?;
    let store = factory.name();
    let backend = format!("{:?}", factory.kind).to_lowercase();
    let cases: Vec<_> = suite(model_cases)
        .into_iter()
        .filter(|c| filter.is_none_or(|f| format!("{}::{}", c.area, c.name).contains(f)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseReport>>> = Mutex::new(vec![None; cases.len()]);
    // Panics inside cases are reported as failures; keep the default hook from printing them.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let started = Instant::now();
                    let result = catch_unwind(AssertUnwindSafe(|| (case.run)(&factory)));
                    let (outcome, message) = match result {
                        Ok(Ok(())) => (Outcome::Passed, None),
                        Ok(Err(CaseError::Skipped(why))) => (Outcome::Skipped, Some(why)),
                        Ok(Err(e)) => (Outcome::Failed, Some(e.to_string())),
                        Err(panic) => (Outcome::Failed, Some(format!("panicked: {}", panic_message(&panic)))),
                    };
                    let report = CaseReport {
                        area: case.area.to_owned(),
                        case: case.name.to_owned(),
                        outcome,
                        message,
                        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    };
                    on_case(&report);
                    if let Some(slot) = results.lock().unwrap_or_else(PoisonError::into_inner).get_mut(i) {
                        *slot = Some(report);
                    }
                }
            });
        }
    });
    std::panic::set_hook(previous_hook);
    let cases: Vec<CaseReport> =
        results.into_inner().unwrap_or_else(PoisonError::into_inner).into_iter().flatten().collect();
    let mut areas: Vec<AreaSummary> = Vec::new();
    for c in &cases {
        if areas.last().is_none_or(|a| a.area != c.area) {
            areas.push(AreaSummary { area: c.area.clone(), ..AreaSummary::default() });
        }
        if let Some(a) = areas.last_mut() {
            match c.outcome {
                Outcome::Passed => a.passed += 1,
                Outcome::Failed => a.failed += 1,
                Outcome::Skipped => a.skipped += 1,
            }
        }
    }
    let sum = |f: fn(&AreaSummary) -> u64| areas.iter().map(f).sum();
    Ok(Report {
        store,
        backend,
        passed: sum(|a| a.passed),
        failed: sum(|a| a.failed),
        skipped: sum(|a| a.skipped),
        areas,
        cases,
    })
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".into()
    }
}
