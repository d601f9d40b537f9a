//! Read-only stores read (SPEC §5.0): a role with SELECT privileges only opens an existing
//! schema, serves every read, and gets `Error::ReadOnly` for every write.

mod support;

use credence_core::{ClaimEngine, Engine, Error, IngestRequest, Provenance, RecallQuery, Verdict};
use credence_postgres::PostgresLedger;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A role that can log in and read `schema`, dropped at the end.
struct ReaderRole {
    base: String,
    name: String,
}

impl ReaderRole {
    fn new(base: &str, schema: &str) -> Result<ReaderRole, Box<dyn std::error::Error>> {
        let name = format!("credence_reader_{}", std::process::id());
        let mut admin = postgres::Client::connect(base, postgres::NoTls)?;
        admin.batch_execute(&format!(
            "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN; \
             GRANT USAGE ON SCHEMA \"{schema}\" TO {name}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA \"{schema}\" TO {name};"
        ))?;
        Ok(ReaderRole { base: base.to_owned(), name })
    }

    /// `url` with this role as its user.
    fn url(&self, url: &str) -> String {
        url.replacen("postgres://postgres@", &format!("postgres://{}@", self.name), 1)
    }
}

impl Drop for ReaderRole {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}", self.name));
        }
    }
}

#[test]
fn a_select_only_role_reads_everything_and_every_write_is_read_only() -> TestResult {
    let base = require_server!();
    assert!(base.starts_with("postgres://postgres@"), "the test server's URL names user postgres: {base}");
    let guard = support::SchemaGuard::new(&base);
    let url = guard.url("");
    let writer =
        Engine::builder(PostgresLedger::from_url(&url)?).oracle(std::sync::Arc::new(Quiet)).build()?;
    writer.ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?;
    let queued = writer.ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    let handle = queued.handle.ok_or("the contradiction was queued")?;
    writer.ingest(IngestRequest::new("b", "bob", "city", "Rome"))?;
    let role = ReaderRole::new(&base, &guard.schema)?;

    let reader = Engine::new(PostgresLedger::from_url(&role.url(&url))?);
    assert_eq!(reader.recall(&RecallQuery::new("b", "bob", "city"))?.value, Some("Rome".into()));
    assert!(reader.recall(&RecallQuery::new("a", "alice", "city"))?.is_contested());
    assert_eq!(reader.agents()?.len(), 2);
    assert_eq!(reader.pending(None)?.len(), 1);
    assert_eq!(reader.history("a", "alice", "city", credence_core::AsOf::Now)?.entries.len(), 2);

    let writes: Vec<(&str, Result<(), Error>)> = vec![
        ("ingest", reader.ingest(IngestRequest::new("a", "alice", "city", "Faro")).map(|_| ())),
        ("ingest of a new agent", reader.ingest(IngestRequest::new("c", "s", "p", 1)).map(|_| ())),
        ("verdict", reader.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER).map(|_| ())),
        (
            "invalidate",
            reader
                .invalidate(
                    "b",
                    reader.recall(&RecallQuery::new("b", "bob", "city"))?.primary_claim.ok_or("a claim")?,
                    "x",
                )
                .map(|_| ()),
        ),
    ];
    for (what, result) in writes {
        assert!(matches!(result, Err(Error::ReadOnly { .. })), "{what}: {result:?}");
    }
    // Nothing changed.
    assert_eq!(writer.pending(None)?.len(), 1);
    assert_eq!(writer.agents()?.len(), 2);
    Ok(())
}

/// An oracle that accepts every request (the verdict comes from the test).
struct Quiet;

impl credence_core::Oracle for Quiet {
    fn request(&self, _: &credence_core::Adjudication) -> Result<(), String> {
        Ok(())
    }
}
