//! The conformance suite on the `memory:` reference backend.

use std::sync::Arc;

use credence_conformance::{Capabilities, Factory, Store};
use credence_core::{Error, MemoryLedger};

struct MemoryFactory;

impl Factory for MemoryFactory {
    fn name(&self) -> String {
        "memory".into()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::IN_MEMORY
    }

    fn store(&self) -> Result<Store, Error> {
        Ok(Store::new(Arc::new(MemoryLedger::new())))
    }
}

credence_conformance::conformance_tests!(MemoryFactory);
