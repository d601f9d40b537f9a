//! The property checks can fail: a backend with a subtle bug is caught by them.

use std::sync::Arc;

use credence_conformance::model::{check_against_model_with, check_invariants_with, runner_config};
use credence_conformance::{Capabilities, Factory, Store};
use credence_core::{AgentId, Error, Handle, Head, Ledger, MemoryLedger, ReadUnit, WriteUnit};

/// How the broken ledger misbehaves.
#[derive(Clone, Copy)]
enum Bug {
    /// `mark_notified` does nothing: rows never become notified.
    ForgetsNotified,
    /// `agents` lists nobody: sweeps and `pending(None)` miss every agent.
    HidesAgents,
}

/// `memory:` with one bug.
struct Broken {
    inner: MemoryLedger,
    bug: Bug,
}

impl Ledger for Broken {
    fn backend(&self) -> &'static str {
        "broken"
    }
    fn write_batch(
        &self,
        agent: &AgentId,
        units: &mut [&mut WriteUnit<'_>],
    ) -> Vec<Result<Option<Head>, Error>> {
        self.inner.write_batch(agent, units)
    }
    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<(), Error> {
        self.inner.read(agent, f)
    }
    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<(), Error> {
        match self.bug {
            Bug::ForgetsNotified => Ok(()),
            Bug::HidesAgents => self.inner.mark_notified(agent, handle),
        }
    }
    fn agents(&self) -> Result<Vec<AgentId>, Error> {
        match self.bug {
            Bug::HidesAgents => Ok(Vec::new()),
            Bug::ForgetsNotified => self.inner.agents(),
        }
    }
}

struct BrokenFactory(Bug);

impl Factory for BrokenFactory {
    fn name(&self) -> String {
        "broken".into()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::IN_MEMORY
    }
    fn store(&self) -> Result<Store, Error> {
        Ok(Store::new(Arc::new(Broken { inner: MemoryLedger::new(), bug: self.0 })))
    }
}

#[test]
#[should_panic(expected = "differs from the memory: reference")]
fn model_check_on_backend_forgetting_notified_flag_panics() {
    check_against_model_with(&BrokenFactory(Bug::ForgetsNotified), runner_config(64, None));
}

#[test]
#[should_panic(expected = "breaks an invariant")]
fn invariant_check_on_backend_hiding_agents_panics() {
    check_invariants_with(&BrokenFactory(Bug::HidesAgents), runner_config(64, None));
}

/// A backend that cannot be tested here: no store at all.
struct NoServer;

impl Factory for NoServer {
    fn name(&self) -> String {
        "no-server".into()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::IN_MEMORY
    }
    fn store(&self) -> Result<Store, Error> {
        Err(Error::Unavailable { backend: "no-server", reason: "no server for the tests".into() })
    }
    fn unavailable(&self) -> Option<String> {
        Some("no server for the tests".into())
    }
}

#[test]
fn property_checks_skip_a_backend_that_is_unavailable() {
    // Without the skip, the first scenario's store request fails and the check panics.
    check_against_model_with(&NoServer, runner_config(4, None));
    check_invariants_with(&NoServer, runner_config(4, None));
}
