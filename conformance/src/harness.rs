//! The factory a backend provides, the fixture every case builds on, and the case runner.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use credence_core::{
    Adjudication, ClaimEngine, Engine, EngineConfig, Error, ManualClock, Oracle, SequentialIds, Timestamp,
};

/// The ledger type every case runs against.
pub type DynLedger = Arc<dyn credence_core::Ledger>;

/// What a backend can do; cases needing a missing capability are skipped with a printed reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Data survives dropping and reopening the store ([`Store::reopen`] is provided).
    pub durable: bool,
    /// Two OS processes may write one agent at once.
    pub multi_process: bool,
}

impl Capabilities {
    /// An in-process, non-durable backend.
    pub const IN_MEMORY: Capabilities = Capabilities { durable: false, multi_process: false };
}

/// A fresh, isolated store handed to one case.
pub struct Store {
    /// The ledger.
    pub ledger: DynLedger,
    reopen: Option<Box<dyn Fn() -> Result<DynLedger, Error> + Send + Sync>>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Store {
    /// A store with no reopen support and nothing to clean up.
    pub fn new(ledger: DynLedger) -> Store {
        Store { ledger, reopen: None, _guard: None }
    }

    /// Adds a way to open the same data again (for durable backends).
    pub fn with_reopen(
        mut self,
        reopen: impl Fn() -> Result<DynLedger, Error> + Send + Sync + 'static,
    ) -> Store {
        self.reopen = Some(Box::new(reopen));
        self
    }

    /// Keeps `guard` alive as long as the store (a temp dir, a schema dropper, …).
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Store {
        self._guard = Some(Box::new(guard));
        self
    }

    /// Opens the same data again, if the backend supports it.
    pub fn reopen(&self) -> Option<Result<DynLedger, Error>> {
        self.reopen.as_ref().map(|f| f())
    }
}

/// Hands out fresh stores of one backend. Implement this and call
/// [`conformance_tests!`](crate::conformance_tests) to run the whole suite.
pub trait Factory: Send + Sync {
    /// The backend's name in reports, e.g. `"sqlite"`.
    fn name(&self) -> String;
    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;
    /// A fresh, empty, isolated store.
    fn store(&self) -> Result<Store, Error>;
    /// Why this backend cannot be tested here at all (say, no test server is reachable), or
    /// `None` (the default). When it says why, [`run_case`] skips every case with that reason
    /// instead of failing them one by one on [`Factory::store`].
    fn unavailable(&self) -> Option<String> {
        None
    }
}

/// Why a case did not pass.
#[derive(Debug)]
pub enum CaseError {
    /// An expectation failed.
    Failed(String),
    /// The backend cannot run this case.
    Skipped(String),
    /// The engine or backend returned an error.
    Error(Error),
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::Failed(m) => write!(f, "failed: {m}"),
            CaseError::Skipped(m) => write!(f, "skipped: {m}"),
            CaseError::Error(e) => write!(f, "error: {e}"),
        }
    }
}

impl From<Error> for CaseError {
    fn from(e: Error) -> Self {
        CaseError::Error(e)
    }
}

/// The result of a case.
pub type CaseResult = Result<(), CaseError>;

/// One case of the suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// Its area (module), e.g. `"ingest"`.
    pub area: &'static str,
    /// Its name.
    pub name: &'static str,
    /// The case itself.
    pub run: fn(&dyn Factory) -> CaseResult,
}

/// Fails the case with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::CaseError::Failed(format!($($msg)+)));
        }
    };
}

/// Fails the case unless the two values are equal, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        $crate::ensure_eq!($left, $right, "{} == {}", stringify!($left), stringify!($right))
    };
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::CaseError::Failed(format!("{}: left = {:?}, right = {:?}", format!($($msg)+), l, r)));
        }
    }};
}

/// Skips the case unless the backend has the capability.
pub fn require(f: &dyn Factory, has: bool, what: &str) -> CaseResult {
    if has { Ok(()) } else { Err(CaseError::Skipped(format!("backend {} is not {what}", f.name()))) }
}

/// Runs one case and panics with the case and backend names if it fails. Skips print why; a
/// backend that is [unavailable](Factory::unavailable) skips every case without running it.
pub fn run_case(factory: &dyn Factory, area: &str, name: &str, case: fn(&dyn Factory) -> CaseResult) {
    let outcome = match factory.unavailable() {
        Some(why) => Err(CaseError::Skipped(why)),
        None => case(factory),
    };
    match outcome {
        Ok(()) => {}
        Err(CaseError::Skipped(why)) => {
            // Written to the stderr handle, not through `eprintln!`, so the test harness's
            // output capture does not hide it: a skip is always visible in `cargo test` output.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {area}::{name} on {}: {why}", factory.name());
        }
        Err(e) => panic!("conformance case {area}::{name} on backend {}: {e}", factory.name()),
    }
}

/// The instant the fixture's clock starts at: 2026-01-01T00:00:00Z.
pub fn start_time() -> Timestamp {
    Timestamp::from_ymd(2026, 1, 1).expect("2026-01-01 is a valid date")
}

/// An oracle that records every request and can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingOracle {
    requests: Mutex<Vec<Adjudication>>,
    failing: Mutex<bool>,
}

impl RecordingOracle {
    /// Every adjudication the oracle was told about, in order (failed attempts excluded).
    pub fn requests(&self) -> Vec<Adjudication> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes the oracle fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = failing;
    }
}

impl Oracle for RecordingOracle {
    fn request(&self, adjudication: &Adjudication) -> Result<(), String> {
        if *self.failing.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err("oracle is down".into());
        }
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).push(adjudication.clone());
        Ok(())
    }
}

/// A fresh store with an engine on a manual clock (starting at [`start_time`]) and
/// deterministic ids.
pub struct Fixture {
    /// The store (keep it alive for the case).
    pub store: Store,
    /// The engine under test.
    pub engine: Engine<DynLedger>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Its id source.
    pub ids: Arc<SequentialIds>,
    /// Its oracle, when built with one.
    pub oracle: Option<Arc<RecordingOracle>>,
}

impl Fixture {
    /// Default configuration, no oracle.
    pub fn new(f: &dyn Factory) -> Result<Fixture, CaseError> {
        Fixture::build(f, EngineConfig::default(), false)
    }

    /// Default configuration with a [`RecordingOracle`].
    pub fn with_oracle(f: &dyn Factory) -> Result<Fixture, CaseError> {
        Fixture::build(f, EngineConfig::default(), true)
    }

    /// Any configuration, with or without an oracle.
    pub fn build(f: &dyn Factory, config: EngineConfig, oracle: bool) -> Result<Fixture, CaseError> {
        let store = f.store()?;
        let clock = Arc::new(ManualClock::new(start_time()));
        let ids = Arc::new(SequentialIds::new(1));
        let oracle = oracle.then(|| Arc::new(RecordingOracle::default()));
        let mut builder =
            Engine::builder(store.ledger.clone()).config(config).clock(clock.clone()).ids(ids.clone());
        if let Some(o) = &oracle {
            builder = builder.oracle(o.clone());
        }
        let engine = builder.build()?;
        Ok(Fixture { store, engine, clock, ids, oracle })
    }

    /// Another engine over `ledger` (e.g. a reopened store) sharing this fixture's clock, id
    /// source, oracle and configuration.
    pub fn engine_on(&self, ledger: DynLedger) -> Result<Engine<DynLedger>, Error> {
        let mut builder = Engine::builder(ledger)
            .config(self.engine.config().clone())
            .clock(self.clock.clone())
            .ids(self.ids.clone());
        if let Some(o) = &self.oracle {
            builder = builder.oracle(o.clone());
        }
        builder.build()
    }

    /// The engine as the trait hosts program against.
    pub fn api(&self) -> &dyn ClaimEngine {
        &self.engine
    }

    /// The oracle; fails the case if the fixture was built without one.
    pub fn oracle(&self) -> Result<&RecordingOracle, CaseError> {
        self.oracle.as_deref().ok_or_else(|| CaseError::Failed("fixture has no oracle".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend with no server: every store request fails.
    struct Unreachable;

    impl Factory for Unreachable {
        fn name(&self) -> String {
            "unreachable".into()
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::IN_MEMORY
        }

        fn store(&self) -> Result<Store, Error> {
            Err(Error::Unavailable { backend: "unreachable", reason: "no server".into() })
        }

        fn unavailable(&self) -> Option<String> {
            Some("no server".into())
        }
    }

    fn needs_a_store(f: &dyn Factory) -> CaseResult {
        Fixture::new(f).map(drop)
    }

    #[test]
    fn run_case_on_unavailable_backend_skips_instead_of_failing() {
        run_case(&Unreachable, "harness", "needs_a_store", needs_a_store);
    }

    #[test]
    #[should_panic(expected = "conformance case harness::needs_a_store on backend broken")]
    fn run_case_on_available_backend_whose_store_fails_panics() {
        struct Broken;
        impl Factory for Broken {
            fn name(&self) -> String {
                "broken".into()
            }
            fn capabilities(&self) -> Capabilities {
                Capabilities::IN_MEMORY
            }
            fn store(&self) -> Result<Store, Error> {
                Unreachable.store()
            }
        }
        run_case(&Broken, "harness", "needs_a_store", needs_a_store);
    }
}
