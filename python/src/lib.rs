//! `credence._credence`: the native half of the `credence` Python package.
//!
//! It is deliberately narrow: a `NativeStore` runs any engine operation by name with JSON
//! arguments ([`credence::ops::run`], the MCP server's path too) and answers the operation's JSON
//! document as text, plus the few store-wide calls (agents, sweep, export, import) and the
//! conformance suite. The pure-Python layer turns documents into typed objects and errors into
//! the `credence.Error` hierarchy. Every storage call runs with the GIL released.

use std::io::{Cursor, Seek, SeekFrom};
use std::sync::Arc;

use credence::credence_core::transfer::{self, ImportOptions};
use credence::ops::{self, OpError, Operation, Stores};
use credence::{Adjudication, ClaimEngine, EngineConfig, Oracle, parse_date};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    _credence,
    NativeError,
    PyException,
    "A failed call: args are (kind, message, retryable); `credence.Error` wraps it."
);

/// The error a failed call raises: `kind` is a variant of SPEC §6 (`NotFound`, `Unavailable`,
/// …) or `InvalidArgument` for arguments that do not fit the operation.
fn raise(kind: &str, message: String, retryable: bool) -> PyErr {
    NativeError::new_err((kind.to_owned(), message, retryable))
}

fn engine_error(e: &credence::Error) -> PyErr {
    raise(e.kind(), e.to_string(), e.is_retryable())
}

fn op_error(e: OpError) -> PyErr {
    match e {
        OpError::Arguments(why) => raise("InvalidArgument", why, false),
        OpError::Engine(e) => engine_error(&e),
    }
}

fn json_text(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| raise("Corrupt", format!("encoding an answer: {e}"), false))
}

/// An oracle that is a Python callable: it gets the adjudication's JSON document; returning
/// means notified, raising means not (the engine retries on the next sweep).
struct PyOracle {
    callable: Py<PyAny>,
}

impl Oracle for PyOracle {
    fn request(&self, adjudication: &Adjudication) -> Result<(), String> {
        let doc = serde_json::to_string(&credence::documents::adjudication(adjudication))
            .map_err(|e| e.to_string())?;
        Python::attach(|py| self.callable.call1(py, (doc,)).map(|_| ()).map_err(|e| e.to_string()))
    }
}

/// One open store.
#[pyclass(frozen, module = "credence._credence")]
struct NativeStore {
    stores: Arc<Stores>,
}

#[pymethods]
impl NativeStore {
    /// Opens `url` with the engine configuration `config` (JSON, `EngineConfig`'s fields);
    /// `oracle` is called with each queued adjudication's JSON document.
    #[new]
    #[pyo3(signature = (url, config = "{}", oracle = None))]
    fn new(py: Python<'_>, url: &str, config: &str, oracle: Option<Py<PyAny>>) -> PyResult<NativeStore> {
        let config: EngineConfig = serde_json::from_str(config)
            .map_err(|e| raise("InvalidConfig", format!("the engine configuration: {e}"), false))?;
        let oracle = oracle.map(|callable| Arc::new(PyOracle { callable }) as Arc<dyn Oracle>);
        let stores = py.detach(|| Stores::open(url, config, oracle)).map_err(|e| engine_error(&e))?;
        Ok(NativeStore { stores: Arc::new(stores) })
    }

    /// The store's URL, its password redacted.
    fn url(&self) -> String {
        self.stores.plain.url().to_owned()
    }

    /// Runs operation `op` for `agent` with JSON `arguments`; answers `(document, summary)`.
    fn call(&self, py: Python<'_>, op: &str, agent: &str, arguments: &str) -> PyResult<(String, String)> {
        let op = Operation::named(op)
            .ok_or_else(|| raise("InvalidArgument", format!("no operation {op:?}"), false))?;
        let arguments: serde_json::Value = serde_json::from_str(arguments)
            .map_err(|e| raise("InvalidArgument", format!("arguments are not JSON: {e}"), false))?;
        let stores = self.stores.clone();
        let answer = py.detach(move || ops::run(&stores, agent, op, arguments)).map_err(op_error)?;
        Ok((json_text(&answer.document)?, answer.summary))
    }

    /// Every agent in the store, sorted.
    fn agents(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let agents = py.detach(|| self.stores.plain.engine().agents()).map_err(|e| engine_error(&e))?;
        Ok(agents.into_iter().map(|a| a.as_str().to_owned()).collect())
    }

    /// Expires overdue adjudications as of `now` (a date in the CLI's forms; the clock when
    /// `None`); answers the report's JSON.
    #[pyo3(signature = (now = None))]
    fn sweep(&self, py: Python<'_>, now: Option<&str>) -> PyResult<String> {
        let now = match now {
            Some(t) => parse_date(t).map_err(|e| raise("InvalidArgument", format!("now: {e}"), false))?.0,
            None => credence::credence_core::Clock::now(&credence::credence_core::SystemClock),
        };
        let report = py.detach(|| self.stores.queued.engine().sweep(now)).map_err(|e| engine_error(&e))?;
        json_text(&report)
    }

    /// The export of one agent or all, as text.
    #[pyo3(signature = (agent = None))]
    fn export(&self, py: Python<'_>, agent: Option<&str>) -> PyResult<String> {
        let only = agent
            .map(|a| {
                credence::AgentId::new(a)
                    .map_err(|e| raise("InvalidArgument", format!("agent {a:?}: {e}"), false))
            })
            .transpose()?;
        let mut out = Vec::new();
        py.detach(|| transfer::export(self.stores.plain.ledger().as_ref(), only.as_ref(), &mut out))
            .map_err(|e| raise("Conflict", e.to_string(), false))?;
        String::from_utf8(out).map_err(|e| raise("Corrupt", e.to_string(), false))
    }

    /// Imports an export's text into this store (every unit checked first); answers the
    /// counts' JSON.
    #[pyo3(name = "import_")]
    fn import_text(&self, py: Python<'_>, text: &str) -> PyResult<String> {
        let stats = py
            .detach(|| {
                let mut input = Cursor::new(text.as_bytes());
                let plan = transfer::check_import(&mut input, &ImportOptions::default())?;
                input.seek(SeekFrom::Start(0))?;
                transfer::import(self.stores.plain.ledger().as_ref(), &plan, input, &mut |_, _| {})
            })
            .map_err(|e| raise("Rejected", e.to_string(), false))?;
        json_text(&serde_json::json!({
            "agents": stats.agents, "units": stats.units, "claims": stats.claims, "entries": stats.entries
        }))
    }
}

/// Runs the conformance suite against a fresh store at `url`; answers the report's JSON.
#[pyfunction]
#[pyo3(signature = (url, filter = None))]
fn conformance(py: Python<'_>, url: &str, filter: Option<&str>) -> PyResult<String> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let report = py
        .detach(|| credence::run_conformance::run(url, filter, threads, 16, &|_| {}))
        .map_err(|e| engine_error(&e))?;
    json_text(&report)
}

#[pymodule]
fn _credence(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeStore>()?;
    m.add_function(wrap_pyfunction!(conformance, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
