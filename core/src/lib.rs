//! # credence-core
//!
//! A bi-temporal, append-only claim store for AI-agent memory: the domain types, the claim
//! engine, the [`Ledger`] storage trait every backend implements, the pure-Rust
//! [`MemoryLedger`] reference backend, and the backend-neutral export format ([`transfer`]).
#![deny(missing_docs)]

pub mod agent;
pub mod api;
pub mod claim;
pub mod config;
pub mod disposition;
mod engine;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod liveness;
pub mod memory;
pub mod record;
pub mod redact;
pub mod telemetry;
pub mod terms;
pub mod time;
pub mod transfer;
pub mod validate;

pub use agent::AgentId;
pub use api::{
    AdjudicationOutcome, AsOf, AuditPage, AuditQuery, Belief, BeliefStatus, Candidate, ClaimEngine,
    ClaimStatus, Currency, HISTORY_PAGE, History, HistoryEntry, HistoryPage, HistoryQuery, IngestRequest,
    LineageStep, Marker, Oracle, RecallQuery, SearchHit, SearchQuery, SearchResults, Staleness, SubjectsPage,
    SubjectsQuery, SweepFailure, SweepReport, Verdict, WriteOptions, WriteReceipt,
};
pub use claim::{Cardinality, Claim, Criticality, ExternalSource, Granularity, Provenance, ValidTime};
pub use config::EngineConfig;
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, Result};
pub use idempotency::{Idempotency, StoredAnswer};
pub use ids::{AssertionRef, ClaimRef, Handle, IdSource, SequentialIds, V7Ids};
pub use ledger::{
    AgentSurvey, Append, AuditCursor, AuditRange, DamagedAgent, Head, HistoryCursor, Ledger, LedgerRead,
    LinePage, LineRows, LineSummary, LiveClaim, ReadUnit, Span, StateMark, SubjectRange, SubjectSummary,
    Upto, WriteUnit, run_unit,
};
pub use memory::MemoryLedger;
pub use record::{
    Adjudication, AdjudicationStatus, Assertion, AssertionKind, Disposition, Edge, EdgeKind, Event,
    LedgerEntry, StatusChange,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use validate::{Field, RejectReason, Relation};

pub use serde_json;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
