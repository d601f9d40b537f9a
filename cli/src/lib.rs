//! # credence
//!
//! The front door of credence: open any backend from a URL, record and recall claims through a
//! small ergonomic API, and move data between stores. The `credence` command-line tool is
//! built on this crate (see `docs/cli.md`).
//!
//! ```
//! use credence::{BeliefStatus, Disposition, Provenance};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credence = credence::open("memory:")?;
//! let first = credence
//!     .remember("agent-1", "alice", "employer", "Acme")
//!     .provenance(Provenance::USER)
//!     .valid_from("2019")?
//!     .valid_until("2022-03")?
//!     .commit()?;
//! assert_eq!(first.disposition, Disposition::CommittedCheap);
//!
//! // A trusted succession: a new employer from March 2022 on.
//! credence.remember("agent-1", "alice", "employer", "Globex").valid_from("2022-03")?.commit()?;
//! let now = credence.recall("agent-1", "alice", "employer")?;
//! assert_eq!(now.value(), Some(&"Globex".into()));
//! let then = credence.recall_at("agent-1", "alice", "employer").valid_at("2020-06")?.get()?;
//! assert_eq!(then.value(), Some(&"Acme".into()));
//!
//! // A contradiction nothing can settle is Contested, never a silent pick.
//! credence.remember("agent-1", "alice", "city", "Lisbon").commit()?;
//! credence.remember("agent-1", "alice", "city", "Porto").commit()?;
//! let city = credence.recall("agent-1", "alice", "city")?;
//! assert!(city.is_contested());
//! assert_eq!(city.values().len(), 2);
//! assert_eq!(city.status(), BeliefStatus::Contested);
//! # Ok(())
//! # }
//! ```
//!
//! ## Store URLs
//!
//! | URL | backend | feature |
//! |---|---|---|
//! | `memory:` | in-process reference backend, gone on exit | always |
//! | `sqlite:<dir>` | one SQLite file per agent under `<dir>` | `sqlite` (default) |
//! | `sqlite::memory:` | SQLite on in-memory databases | `sqlite` (default) |
//! | `postgres://user@host:port/db?schema=…` | shared PostgreSQL database | `postgres` |
//!
//! A URL for a backend that is not compiled in, or a malformed one, is
//! [`Error::InvalidStoreUrl`] saying why.
//!
//! ## Export format
//!
//! [`transfer`] reads and writes a line-delimited JSON format (SPEC §8): line 1 is the header
//! `{"format":"credence-export","version":1}`, then one line per commit unit,
//! `{"agent":"…","unit":{…}}`, agents in bytewise order and each agent's units in `seq`
//! order, and a last trailer line `{"end":{"agents":A,"units":N}}` so a file cut short anywhere
//! is refused. A unit carries every row it appended (claims, assertions, edges, ledger entries,
//! adjudication rows and status changes) with original ids, `seq` and `tx_time`.
#![deny(missing_docs)]

pub mod dates;
pub mod doctor;
pub mod documents;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod ops;
mod remember;
pub mod run_conformance;
pub mod store;
#[cfg(feature = "tokio")]
pub mod tokio;
pub use credence_core::transfer;

use std::sync::Arc;

pub use credence_core;
pub use credence_core::{
    Adjudication, AdjudicationOutcome, AdjudicationStatus, AgentId, AsOf, AuditCursor, AuditPage, AuditQuery,
    Belief, BeliefStatus, Candidate, Cardinality, Claim, ClaimEngine, ClaimRef, ClaimStatus, Clock,
    Criticality, Currency, Disposition, Engine, EngineConfig, Error, Event, Granularity, HISTORY_PAGE,
    Handle, History, HistoryCursor, HistoryEntry, HistoryPage, HistoryQuery, IngestRequest, Ledger,
    LedgerEntry, LineageStep, Marker, Oracle, Provenance, RecallQuery, RejectReason, Result, SearchHit,
    SearchQuery, SearchResults, SubjectSummary, SubjectsPage, SubjectsQuery, SweepReport, Timestamp,
    ValidTime, Verdict, WriteOptions, WriteReceipt,
};
pub use dates::{ACCEPTED_FORMS, DateError, format_date, parse_date};
pub use remember::{Recollection, Remember};
pub use store::{Backend, Scheme};

/// The engine type behind every [`Credence`], whatever the backend.
pub type DynEngine = Engine<Arc<dyn Ledger>>;

/// Opens the store a URL names with the default engine settings.
///
/// # Errors
/// [`Error::InvalidStoreUrl`] for a malformed URL or a backend not compiled in; the backend's
/// errors when it cannot be opened (an unreachable server is [`Error::Unavailable`]).
pub fn open(url: &str) -> Result<Credence> {
    open_with(url, OpenOptions::default())
}

/// Opens the store a URL names with other engine settings.
///
/// # Errors
/// As [`open`], plus [`Error::InvalidConfig`] for an invalid configuration.
pub fn open_with(url: &str, options: OpenOptions) -> Result<Credence> {
    let backend = store::open_backend(url)?;
    Credence::from_backend(backend, store::redact(url), options)
}

/// Engine settings for [`open_with`].
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// The engine configuration (validated when opening).
    pub config: EngineConfig,
    /// An oracle: External contradictions are then queued for adjudication.
    pub oracle: Option<Arc<dyn Oracle>>,
    /// Another clock than the system clock.
    pub clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("config", &self.config)
            .field("oracle", &self.oracle.is_some())
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// One engine over any backend: the full [`ClaimEngine`] API plus [`remember`](Credence::remember)
/// and [`recall`](Credence::recall). `Send + Sync`; share it in an `Arc`.
pub struct Credence {
    engine: DynEngine,
    backend: Backend,
    url: String,
}

impl std::fmt::Debug for Credence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credence")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Credence {
    /// An engine over an opened backend. `url` is only used in messages.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid configuration.
    pub fn from_backend(backend: Backend, url: String, options: OpenOptions) -> Result<Credence> {
        let mut builder = Engine::builder(backend.ledger()).config(options.config);
        if let Some(oracle) = options.oracle {
            builder = builder.oracle(oracle);
        }
        if let Some(clock) = options.clock {
            builder = builder.clock(clock);
        }
        Ok(Credence { engine: builder.build()?, backend, url })
    }

    /// Starts a claim; finish with [`Remember::commit`].
    pub fn remember(
        &self,
        agent: &str,
        subject: &str,
        predicate: &str,
        value: impl Into<serde_json::Value>,
    ) -> Remember<'_> {
        Remember::new(self, IngestRequest::new(agent, subject, predicate, value))
    }

    /// The current belief of a line.
    ///
    /// # Errors
    /// Store errors.
    pub fn recall(&self, agent: &str, subject: &str, predicate: &str) -> Result<Recollection> {
        self.engine.recall(&RecallQuery::new(agent, subject, predicate)).map(Recollection)
    }

    /// A belief at another point on either time axis; finish with [`RecallAt::get`].
    pub fn recall_at(&self, agent: &str, subject: &str, predicate: &str) -> RecallAt<'_> {
        RecallAt { credence: self, query: RecallQuery::new(agent, subject, predicate) }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &DynEngine {
        &self.engine
    }

    /// The ledger underneath, behind the storage trait.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        self.engine.ledger()
    }

    /// The backend by its concrete type.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The URL it was opened with (password redacted).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A recall pinned in time, built by [`Credence::recall_at`].
#[must_use = "nothing is read until `get` is called"]
pub struct RecallAt<'c> {
    credence: &'c Credence,
    query: RecallQuery,
}

impl RecallAt<'_> {
    /// What was believed at transaction time `date` (inclusive; a lenient date).
    ///
    /// # Errors
    /// [`DateError`] for a bad date.
    pub fn as_of(mut self, date: &str) -> std::result::Result<Self, DateError> {
        self.query.as_of = AsOf::Time(parse_date(date)?.0);
        Ok(self)
    }

    /// What was believed after commit unit `seq` (inclusive).
    pub fn as_of_seq(mut self, seq: u64) -> Self {
        self.query.as_of = AsOf::Seq(seq);
        self
    }

    /// What holds at valid time `date` (a lenient date: the start of that period).
    ///
    /// # Errors
    /// [`DateError`] for a bad date.
    pub fn valid_at(mut self, date: &str) -> std::result::Result<Self, DateError> {
        self.query.valid_at = Some(parse_date(date)?.0);
        Ok(self)
    }

    /// Reads the belief.
    ///
    /// # Errors
    /// Store errors.
    pub fn get(self) -> Result<Recollection> {
        self.credence.engine.recall(&self.query).map(Recollection)
    }
}

impl ClaimEngine for Credence {
    fn ingest(&self, request: IngestRequest) -> Result<WriteReceipt> {
        self.engine.ingest(request)
    }
    fn submit_adjudication_with(
        &self,
        agent: &str,
        handle: Handle,
        verdict: Verdict,
        evidence: Provenance,
        options: &WriteOptions,
    ) -> Result<AdjudicationOutcome> {
        self.engine.submit_adjudication_with(agent, handle, verdict, evidence, options)
    }
    fn sweep(&self, now: Timestamp) -> Result<SweepReport> {
        self.engine.sweep(now)
    }
    fn resolve_with(
        &self,
        agent: &str,
        subject: &str,
        predicate: &str,
        winner: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        self.engine.resolve_with(agent, subject, predicate, winner, options)
    }
    fn invalidate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        reason: &str,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        self.engine.invalidate_with(agent, claim_ref, reason, options)
    }
    fn reinstate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        self.engine.reinstate_with(agent, claim_ref, options)
    }
    fn recall(&self, query: &RecallQuery) -> Result<Belief> {
        self.engine.recall(query)
    }
    fn history_page(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        self.engine.history_page(query)
    }
    fn subjects(&self, query: &SubjectsQuery) -> Result<SubjectsPage> {
        self.engine.subjects(query)
    }
    fn search(&self, query: &SearchQuery) -> Result<SearchResults> {
        self.engine.search(query)
    }
    fn subject(
        &self,
        agent: &str,
        subject: &str,
        as_of: AsOf,
        valid_at: Option<Timestamp>,
    ) -> Result<Vec<(String, Belief)>> {
        self.engine.subject(agent, subject, as_of, valid_at)
    }
    fn audit(&self, agent: &str, query: &AuditQuery) -> Result<AuditPage> {
        self.engine.audit(agent, query)
    }
    fn lineage(&self, agent: &str, claim_ref: ClaimRef) -> Result<Vec<LineageStep>> {
        self.engine.lineage(agent, claim_ref)
    }
    fn pending(&self, agent: Option<&str>) -> Result<Vec<Adjudication>> {
        self.engine.pending(agent)
    }
    fn agents(&self) -> Result<Vec<AgentId>> {
        self.engine.agents()
    }
}
