//! The claim engine: the decision logic of SPEC §2 and the fold of §3, generic over a
//! [`Ledger`].

mod cascade;
mod combine;
mod discovery;
mod fold;
mod ingest;
mod observe;
mod ops;
mod reads;
mod replay;
mod unit;

use std::sync::Arc;

use crate::agent::AgentId;
use crate::api::{
    AdjudicationOutcome, AsOf, AuditPage, AuditQuery, Belief, ClaimEngine, HistoryPage, HistoryQuery,
    IngestRequest, LineageStep, Oracle, RecallQuery, SearchQuery, SearchResults, SubjectsPage, SubjectsQuery,
    SweepReport, Verdict, WriteOptions, WriteReceipt,
};
use crate::claim::Provenance;
use crate::config::EngineConfig;
use crate::error::Result;
use crate::ids::{ClaimRef, Handle, IdSource, V7Ids};
use crate::ledger::Ledger;
use crate::record::Adjudication;
use crate::time::{Clock, SystemClock, Timestamp};

/// The claim engine over a ledger `L`. `Send + Sync`: share it across threads (e.g. in an
/// `Arc`). One agent's writes are serialised by the ledger; different agents' are not.
/// Concurrent ingests of one agent are handed to the ledger together
/// ([`Ledger::write_batch`]), so a backend can commit them as one group.
///
/// ```
/// use credence_core::{ClaimEngine, Disposition, Engine, IngestRequest, MemoryLedger, RecallQuery};
///
/// let engine = Engine::new(MemoryLedger::new());
/// let receipt = engine.ingest(IngestRequest::new("agent-1", "alice", "employer", "Acme")).unwrap();
/// assert_eq!(receipt.disposition, Disposition::CommittedCheap);
/// let belief = engine.recall(&RecallQuery::new("agent-1", "alice", "employer")).unwrap();
/// assert_eq!(belief.value, Some("Acme".into()));
/// ```
pub struct Engine<L> {
    ledger: L,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    oracle: Option<Arc<dyn Oracle>>,
    combiner: combine::Combiner<L>,
}

impl<L: std::fmt::Debug> std::fmt::Debug for Engine<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("ledger", &self.ledger)
            .field("config", &self.config)
            .field("oracle", &self.oracle.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`]: configuration, clock, id source and oracle.
pub struct EngineBuilder<L> {
    ledger: L,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    oracle: Option<Arc<dyn Oracle>>,
}

impl<L: Ledger> EngineBuilder<L> {
    /// Sets the configuration (validated by [`build`](Self::build)).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the id source.
    pub fn ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// Configures an oracle: External contradictions are queued for adjudication.
    pub fn oracle(mut self, oracle: Arc<dyn Oracle>) -> Self {
        self.oracle = Some(oracle);
        self
    }

    /// Validates the configuration and builds the engine.
    pub fn build(self) -> Result<Engine<L>> {
        self.config.validate()?;
        Ok(Engine {
            ledger: self.ledger,
            config: self.config,
            clock: self.clock,
            ids: self.ids,
            oracle: self.oracle,
            combiner: combine::Combiner::default(),
        })
    }
}

impl<L: Ledger> Engine<L> {
    /// An engine with the default configuration, the system clock and v7 ids.
    pub fn new(ledger: L) -> Engine<L> {
        Engine {
            ledger,
            config: EngineConfig::default(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(V7Ids::default()),
            oracle: None,
            combiner: combine::Combiner::default(),
        }
    }

    /// A builder for an engine with other settings.
    pub fn builder(ledger: L) -> EngineBuilder<L> {
        EngineBuilder {
            ledger,
            config: EngineConfig::default(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(V7Ids::default()),
            oracle: None,
        }
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
}

/// Parses an agent id given to a read; an invalid id simply has no rows.
fn read_agent(agent: &str) -> Option<AgentId> {
    AgentId::new(agent).ok()
}

impl<L: Ledger> ClaimEngine for Engine<L> {
    fn ingest(&self, request: IngestRequest) -> Result<WriteReceipt> {
        let agent = request.agent.clone();
        observe::observed!(ingest, agent.as_str(), self.ledger.backend(), self.ingest_request(request))
    }

    fn submit_adjudication_with(
        &self,
        agent: &str,
        handle: Handle,
        verdict: Verdict,
        evidence: Provenance,
        options: &WriteOptions,
    ) -> Result<AdjudicationOutcome> {
        observe::observed!(
            adjudicate,
            agent,
            self.ledger.backend(),
            self.apply_verdict(agent, handle, verdict, evidence, options)
        )
    }

    fn sweep(&self, now: Timestamp) -> Result<SweepReport> {
        observe::observed!(read sweep, "*", self.ledger.backend(), self.sweep_all(now))
    }

    fn resolve_with(
        &self,
        agent: &str,
        subject: &str,
        predicate: &str,
        winner: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        observe::observed!(
            resolve,
            agent,
            self.ledger.backend(),
            self.resolve_line(agent, subject, predicate, winner, options)
        )
    }

    fn invalidate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        reason: &str,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        observe::observed!(
            invalidate,
            agent,
            self.ledger.backend(),
            self.invalidate_claim(agent, claim_ref, reason, options)
        )
    }

    fn reinstate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        observe::observed!(
            reinstate,
            agent,
            self.ledger.backend(),
            self.reinstate_claim(agent, claim_ref, options)
        )
    }

    fn recall(&self, query: &RecallQuery) -> Result<Belief> {
        observe::observed!(read recall, query.agent.as_str(), self.ledger.backend(), self.recall_line(query))
    }

    fn history_page(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        observe::observed!(read history, query.agent.as_str(), self.ledger.backend(), self.line_history_page(query))
    }

    fn subjects(&self, query: &SubjectsQuery) -> Result<SubjectsPage> {
        observe::observed!(read subjects, query.agent.as_str(), self.ledger.backend(), self.subjects_page(query))
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchResults> {
        observe::observed!(read search, query.agent.as_str(), self.ledger.backend(), self.search_lines(query))
    }

    fn subject(
        &self,
        agent: &str,
        subject: &str,
        as_of: AsOf,
        valid_at: Option<Timestamp>,
    ) -> Result<Vec<(String, Belief)>> {
        observe::observed!(read subject, agent, self.ledger.backend(), self.subject_beliefs(agent, subject, as_of, valid_at))
    }

    fn audit(&self, agent: &str, query: &AuditQuery) -> Result<AuditPage> {
        observe::observed!(read audit, agent, self.ledger.backend(), self.audit_page(agent, query))
    }

    fn lineage(&self, agent: &str, claim_ref: ClaimRef) -> Result<Vec<LineageStep>> {
        observe::observed!(read lineage, agent, self.ledger.backend(), self.claim_lineage(agent, claim_ref))
    }

    fn pending(&self, agent: Option<&str>) -> Result<Vec<Adjudication>> {
        observe::observed!(read pending, agent.unwrap_or("*"), self.ledger.backend(), self.open_adjudications(agent))
    }

    fn agents(&self) -> Result<Vec<AgentId>> {
        self.ledger.agents()
    }
}
