//! The conformance suite against PostgreSQL: every case in its own schema, in parallel.

mod support;

use std::sync::Arc;

use credence_conformance::{Capabilities, DynLedger, Factory, Store};
use credence_core::Error;
use credence_postgres::PostgresLedger;

struct PgFactory;

impl Factory for PgFactory {
    fn name(&self) -> String {
        "postgres".into()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { durable: true, multi_process: true }
    }

    /// No server (and not under `CI=true`, where `base_url` fails instead): every case is
    /// skipped, after `base_url`'s loud message.
    fn unavailable(&self) -> Option<String> {
        support::base_url().is_none().then(|| {
            "no PostgreSQL server for the tests: set CREDENCE_TEST_POSTGRES_URL or install PostgreSQL".into()
        })
    }

    fn store(&self) -> Result<Store, Error> {
        let Some(base) = support::base_url() else {
            return Err(Error::Unavailable {
                backend: "postgres",
                reason: "no PostgreSQL server for the tests (see the message above)".into(),
            });
        };
        let guard = support::SchemaGuard::new(&base);
        let url = guard.url("pool_max=4&application_name=credence_conformance");
        let ledger: DynLedger = Arc::new(PostgresLedger::from_url(&url)?);
        Ok(Store::new(ledger)
            .with_reopen(move || Ok(Arc::new(PostgresLedger::from_url(&url)?) as DynLedger))
            .with_guard(guard))
    }
}

credence_conformance::conformance_tests!(PgFactory);
