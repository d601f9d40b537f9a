//! The conformance suite on `sqlite:<dir>` (a fresh temp dir per case) and `sqlite::memory:`.

use std::sync::Arc;

use credence_conformance::{Capabilities, DynLedger, Factory, Store};
use credence_core::Error;
use credence_sqlite::{SqliteConfig, SqliteLedger};

struct FileFactory;

impl Factory for FileFactory {
    fn name(&self) -> String {
        "sqlite".into()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { durable: true, multi_process: true }
    }

    fn store(&self) -> Result<Store, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Backend { backend: "sqlite", source: e.into() })?;
        let path = dir.path().to_path_buf();
        let ledger: DynLedger = Arc::new(SqliteLedger::open(&path, SqliteConfig::default())?);
        Ok(Store::new(ledger)
            .with_reopen(move || {
                Ok(Arc::new(SqliteLedger::open(&path, SqliteConfig::default())?) as DynLedger)
            })
            .with_guard(dir))
    }
}

struct MemoryFactory;

impl Factory for MemoryFactory {
    fn name(&self) -> String {
        "sqlite::memory:".into()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::IN_MEMORY
    }

    fn store(&self) -> Result<Store, Error> {
        Ok(Store::new(Arc::new(SqliteLedger::in_memory(SqliteConfig::default())?)))
    }
}

mod file {
    credence_conformance::conformance_tests!(super::FileFactory);
}

mod in_memory {
    credence_conformance::conformance_tests!(super::MemoryFactory);
}
