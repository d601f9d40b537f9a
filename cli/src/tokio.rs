//! An async wrapper (feature `tokio`): every engine call runs on tokio's blocking threads, so
//! a store's synchronous I/O never stalls the async executor.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use credence::IngestRequest;
//! use credence::tokio::AsyncCredence;
//!
//! let credence = AsyncCredence::new(credence::open("memory:")?);
//! credence.ingest(IngestRequest::new("agent-1", "alice", "city", "Lisbon")).await?;
//! let belief = credence.recall("agent-1", "alice", "city").await?;
//! assert_eq!(belief.value(), Some(&"Lisbon".into()));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use credence_core::{
    Adjudication, AdjudicationOutcome, AgentId, AsOf, AuditPage, AuditQuery, Belief, ClaimEngine, ClaimRef,
    Error, Handle, History, IngestRequest, LineageStep, Provenance, RecallQuery, Result, SweepReport,
    Timestamp, Verdict, WriteReceipt,
};

use crate::{Credence, Recollection};

/// A [`Credence`] whose calls are `async` (each runs in `tokio::task::spawn_blocking`).
/// Cheap to clone. Must be used inside a tokio runtime.
#[derive(Clone, Debug)]
pub struct AsyncCredence {
    inner: Arc<Credence>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match ::tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Backend { backend: "tokio", source: Box::new(e) }),
    }
}

macro_rules! forward {
    ($(#[$doc:meta] $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => |$c:ident| $body:expr;)*) => {$(
        #[$doc]
        ///
        /// # Errors
        /// As the synchronous call; a panic on the blocking thread is `Error::Backend`.
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
            let $c = self.inner.clone();
            blocking(move || $body).await
        }
    )*};
}

impl AsyncCredence {
    /// Wraps an opened store.
    pub fn new(credence: Credence) -> AsyncCredence {
        AsyncCredence { inner: Arc::new(credence) }
    }

    /// Opens a store URL on a blocking thread.
    ///
    /// # Errors
    /// As [`crate::open`].
    pub async fn open(url: &str) -> Result<AsyncCredence> {
        let url = url.to_owned();
        blocking(move || crate::open(&url)).await.map(AsyncCredence::new)
    }

    /// The synchronous store underneath.
    pub fn sync(&self) -> &Arc<Credence> {
        &self.inner
    }

    /// The current belief of a line ([`Credence::recall`]).
    ///
    /// # Errors
    /// As the synchronous call; a panic on the blocking thread is `Error::Backend`.
    pub async fn recall(&self, agent: &str, subject: &str, predicate: &str) -> Result<Recollection> {
        let c = self.inner.clone();
        let (a, s, p) = (agent.to_owned(), subject.to_owned(), predicate.to_owned());
        blocking(move || c.recall(&a, &s, &p)).await
    }

    forward! {
        /// Records a claim ([`ClaimEngine::ingest`]).
        ingest(request: IngestRequest) -> WriteReceipt => |c| c.ingest(request);
        /// A belief at any point ([`ClaimEngine::recall`]).
        recall_query(query: RecallQuery) -> Belief => |c| ClaimEngine::recall(&*c, &query);
        /// Every claim of a line ([`ClaimEngine::history`]).
        history(agent: String, subject: String, predicate: String, as_of: AsOf) -> History =>
            |c| c.history(&agent, &subject, &predicate, as_of);
        /// Every predicate of a subject ([`ClaimEngine::subject`]).
        subject(agent: String, subject: String, as_of: AsOf, valid_at: Option<Timestamp>) -> Vec<(String, Belief)> =>
            |c| c.subject(&agent, &subject, as_of, valid_at);
        /// A page of the audit trail ([`ClaimEngine::audit`]).
        audit(agent: String, query: AuditQuery) -> AuditPage => |c| c.audit(&agent, &query);
        /// DerivedFrom ancestry ([`ClaimEngine::lineage`]).
        lineage(agent: String, claim_ref: ClaimRef) -> Vec<LineageStep> => |c| c.lineage(&agent, claim_ref);
        /// Open adjudications ([`ClaimEngine::pending`]).
        pending(agent: Option<String>) -> Vec<Adjudication> => |c| c.pending(agent.as_deref());
        /// Every agent ([`ClaimEngine::agents`]).
        agents() -> Vec<AgentId> => |c| c.agents();
        /// Applies a verdict ([`ClaimEngine::submit_adjudication`]).
        submit_adjudication(agent: String, handle: Handle, verdict: Verdict, evidence: Provenance) -> AdjudicationOutcome =>
            |c| c.submit_adjudication(&agent, handle, verdict, evidence);
        /// Expires and re-notifies adjudications ([`ClaimEngine::sweep`]).
        sweep(now: Timestamp) -> SweepReport => |c| c.sweep(now);
        /// Human resolution ([`ClaimEngine::resolve`]).
        resolve(agent: String, subject: String, predicate: String, winner: ClaimRef) -> WriteReceipt =>
            |c| c.resolve(&agent, &subject, &predicate, winner);
        /// Invalidation ([`ClaimEngine::invalidate`]).
        invalidate(agent: String, claim_ref: ClaimRef, reason: String) -> WriteReceipt =>
            |c| c.invalidate(&agent, claim_ref, &reason);
        /// Reinstatement ([`ClaimEngine::reinstate`]).
        reinstate(agent: String, claim_ref: ClaimRef) -> WriteReceipt => |c| c.reinstate(&agent, claim_ref);
    }
}
