//! Every engine operation by name: JSON arguments in, the operation's JSON document
//! ([`crate::documents`]) and a paragraph for a model out. The MCP server's tools and the
//! Python package both call [`run`], so every front door maps its inputs onto the engine and its
//! outputs onto the same shapes (SPEC §9).

pub mod args;
pub(crate) mod summary;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    AsOf, AuditCursor, AuditQuery, ClaimEngine, ClaimRef, Credence, EngineConfig, Handle, HistoryCursor,
    HistoryQuery, OpenOptions, Oracle, RecallQuery, SearchQuery, SubjectsQuery, Timestamp, WriteOptions,
    documents, parse_date,
};

/// The engines operations run on, over one store.
pub struct Stores {
    /// Contradictions between outside sources are Contested.
    pub plain: Credence,
    /// The same store with an oracle: `remember` with `queue` holds such a contradiction for
    /// `adjudicate`.
    pub queued: Credence,
}

/// The command line's oracle: a queued contradiction waits in the store for `adjudicate`.
struct QueueOracle;

impl Oracle for QueueOracle {
    fn request(&self, _adjudication: &crate::Adjudication) -> Result<(), String> {
        Ok(())
    }
}

impl Stores {
    /// Opens `url` with `config`; a queued contradiction is notified to `oracle` (the store
    /// itself holds it for `adjudicate` when `None`).
    ///
    /// # Errors
    /// What [`crate::open_with`] answers (an invalid `config` is `InvalidConfig`).
    pub fn open(
        url: &str,
        config: EngineConfig,
        oracle: Option<Arc<dyn Oracle>>,
    ) -> Result<Stores, crate::Error> {
        let plain = crate::open_with(url, OpenOptions { config: config.clone(), oracle: None, clock: None })?;
        let queue = OpenOptions {
            config,
            oracle: Some(oracle.unwrap_or_else(|| Arc::new(QueueOracle))),
            clock: None,
        };
        let queued = Credence::from_backend(plain.backend().clone(), plain.url().to_owned(), queue)?;
        Ok(Stores { plain, queued })
    }
}

/// One operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Record a claim.
    Remember,
    /// The belief of a line.
    Recall,
    /// A page of a line's claims.
    History,
    /// The beliefs of a subject's predicates.
    Subject,
    /// A page of subjects.
    Subjects,
    /// Lines by words.
    Search,
    /// A page of the audit trail.
    Audit,
    /// A claim's ancestry.
    Lineage,
    /// Open adjudications.
    Pending,
    /// A verdict on a queued contradiction.
    Adjudicate,
    /// Settle a line.
    Resolve,
    /// Stop believing a claim.
    Invalidate,
    /// Believe a claim again.
    Reinstate,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 13] = [
        Operation::Remember,
        Operation::Recall,
        Operation::History,
        Operation::Subject,
        Operation::Subjects,
        Operation::Search,
        Operation::Audit,
        Operation::Lineage,
        Operation::Pending,
        Operation::Adjudicate,
        Operation::Resolve,
        Operation::Invalidate,
        Operation::Reinstate,
    ];

    /// Its name (the MCP tool's, the Python method's).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Remember => "remember",
            Operation::Recall => "recall",
            Operation::History => "history",
            Operation::Subject => "subject",
            Operation::Subjects => "subjects",
            Operation::Search => "search",
            Operation::Audit => "audit",
            Operation::Lineage => "lineage",
            Operation::Pending => "pending",
            Operation::Adjudicate => "adjudicate",
            Operation::Resolve => "resolve",
            Operation::Invalidate => "invalidate",
            Operation::Reinstate => "reinstate",
        }
    }

    /// The operation called `name`.
    pub fn named(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == name)
    }

    /// True for the operations that only read.
    pub fn reads(self) -> bool {
        !matches!(
            self,
            Operation::Remember
                | Operation::Adjudicate
                | Operation::Resolve
                | Operation::Invalidate
                | Operation::Reinstate
        )
    }
}

/// What an operation answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// Its JSON document (what `credence --json` prints).
    pub document: Value,
    /// A paragraph saying what it means and what to do next.
    pub summary: String,
}

/// Why an operation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The arguments do not fit the operation.
    #[error("{0}")]
    Arguments(String),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] crate::Error),
}

/// What an operation answered, or why it could not be carried out.
type Done = Result<(Value, String), OpError>;

/// Carries out `op` for `agent` with `arguments` (a JSON object; `null` is taken as `{}`).
///
/// # Errors
/// [`OpError::Arguments`] when the arguments do not fit the operation; [`OpError::Engine`]
/// when the engine refuses or fails. A rejected write is not an error: its receipt says so.
pub fn run(stores: &Stores, agent: &str, op: Operation, arguments: Value) -> Result<Answer, OpError> {
    let arguments = if arguments.is_null() { Value::Object(serde_json::Map::new()) } else { arguments };
    let on = On { stores, agent };
    let (document, summary) = match op {
        Operation::Remember => remember(on, parse(op, arguments)?),
        Operation::Recall => recall(on, parse(op, arguments)?),
        Operation::History => history(on, parse(op, arguments)?),
        Operation::Subject => subject(on, parse(op, arguments)?),
        Operation::Subjects => subjects(on, parse(op, arguments)?),
        Operation::Search => search(on, parse(op, arguments)?),
        Operation::Audit => audit(on, parse(op, arguments)?),
        Operation::Lineage => lineage(on, parse(op, arguments)?),
        Operation::Pending => parse::<args::Nothing>(op, arguments).and_then(|_| pending(on)),
        Operation::Adjudicate => adjudicate(on, parse(op, arguments)?),
        Operation::Resolve => resolve(on, parse(op, arguments)?),
        Operation::Invalidate => invalidate(on, parse(op, arguments)?),
        Operation::Reinstate => reinstate(on, parse(op, arguments)?),
    }?;
    Ok(Answer { document, summary })
}

/// The stores and agent one call works on.
#[derive(Clone, Copy)]
struct On<'a> {
    stores: &'a Stores,
    agent: &'a str,
}

fn parse<T: DeserializeOwned>(op: Operation, arguments: Value) -> Result<T, OpError> {
    serde_json::from_value(arguments)
        .map_err(|e| OpError::Arguments(format!("invalid arguments for {}: {e}", op.name())))
}

fn failed(e: crate::Error) -> OpError {
    OpError::Engine(e)
}

fn bad(why: String) -> OpError {
    OpError::Arguments(why)
}

fn claim_ref(what: &str, s: &str) -> Result<ClaimRef, OpError> {
    s.trim().parse().map_err(|e| bad(format!("{what} {s:?} is not a claim ref: {e}")))
}

fn date(what: &str, s: &str) -> Result<Timestamp, OpError> {
    parse_date(s).map(|d| d.0).map_err(|e| bad(format!("{what}: {e}")))
}

fn as_of(time: Option<&str>, seq: Option<u64>) -> Result<AsOf, OpError> {
    match (time, seq) {
        (Some(_), Some(_)) => Err(bad("give as_of or as_of_seq, not both".into())),
        (Some(t), None) => Ok(AsOf::Time(date("as_of", t)?)),
        (None, Some(n)) => Ok(AsOf::Seq(n)),
        (None, None) => Ok(AsOf::Now),
    }
}

fn limit(given: Option<usize>, default: usize) -> Result<usize, OpError> {
    match given.unwrap_or(default) {
        0 => Err(bad("limit must be at least 1".into())),
        n => Ok(n),
    }
}

fn remember(on: On<'_>, a: args::Remember) -> Done {
    if a.valid_confidence.is_some() && a.valid_from.is_none() && a.valid_until.is_none() {
        return Err(bad("valid_confidence needs valid_from or valid_until".into()));
    }
    let store = if a.queue { &on.stores.queued } else { &on.stores.plain };
    let mut builder = store.remember(on.agent, &a.subject, &a.predicate, a.value);
    if let Some(p) = a.provenance {
        builder = builder.provenance(p.into());
    }
    if let Some(c) = a.confidence {
        builder = builder.confidence(c);
    }
    if let Some(c) = a.criticality {
        builder = builder.criticality(c.into());
    }
    if a.set_valued {
        builder = builder.set_valued();
    }
    if let Some(d) = &a.valid_from {
        builder = builder.valid_from(d).map_err(|e| bad(format!("valid_from: {e}")))?;
    }
    if let Some(d) = &a.valid_until {
        builder = builder.valid_until(d).map_err(|e| bad(format!("valid_until: {e}")))?;
    }
    if let Some(c) = a.valid_confidence {
        builder = builder.valid_confidence(c);
    }
    for p in &a.derived_from {
        builder = builder.derived_from(claim_ref("derived_from", p)?);
    }
    for p in &a.depends_on {
        builder = builder.depends_on(claim_ref("depends_on", p)?);
    }
    if let Some(key) = a.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    let receipt = builder.commit().map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn recall(on: On<'_>, a: args::Recall) -> Done {
    let query = RecallQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        valid_at: a.valid_at.as_deref().map(|t| date("valid_at", t)).transpose()?,
        ..RecallQuery::new(on.agent, &a.subject, &a.predicate)
    };
    let belief = on.stores.plain.engine().recall(&query).map_err(failed)?;
    let label = format!("{} · {}", a.subject, a.predicate);
    Ok((documents::belief(&belief), summary::belief(&label, &belief)))
}

fn history(on: On<'_>, a: args::History) -> Done {
    let after = match a.after {
        Some(c) => Some(HistoryCursor {
            key: Timestamp(c.key),
            tx_time: Timestamp(c.tx_time),
            seq: c.seq,
            claim_ref: claim_ref("after.claim_ref", &c.claim_ref)?,
        }),
        None => None,
    };
    let query = HistoryQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        after,
        ..HistoryQuery::new(on.agent, &a.subject, &a.predicate, limit(a.limit, 100)?)
    };
    let page = on.stores.plain.engine().history_page(&query).map_err(failed)?;
    let line = (a.subject.as_str(), a.predicate.as_str());
    Ok((documents::history_page(on.agent, line, &page), summary::history(line, &page)))
}

fn subject(on: On<'_>, a: args::Subject) -> Done {
    let at = as_of(a.as_of.as_deref(), a.as_of_seq)?;
    let valid_at = a.valid_at.as_deref().map(|t| date("valid_at", t)).transpose()?;
    let beliefs = on.stores.plain.engine().subject(on.agent, &a.subject, at, valid_at).map_err(failed)?;
    Ok((documents::subject(on.agent, &a.subject, &beliefs), summary::subject(&a.subject, &beliefs)))
}

fn subjects(on: On<'_>, a: args::Subjects) -> Done {
    let query = SubjectsQuery {
        prefix: a.prefix,
        after: a.after,
        ..SubjectsQuery::new(on.agent, limit(a.limit, 100)?)
    };
    let page = on.stores.plain.engine().subjects(&query).map_err(failed)?;
    Ok((documents::subjects(on.agent, &page.subjects, page.next.as_deref()), summary::subjects(&page)))
}

fn search(on: On<'_>, a: args::Search) -> Done {
    let query = SearchQuery {
        as_of: as_of(a.as_of.as_deref(), a.as_of_seq)?,
        ..SearchQuery::new(on.agent, &a.text, limit(a.limit, 20)?)
    };
    let results = on.stores.plain.engine().search(&query).map_err(failed)?;
    Ok((documents::search(on.agent, &a.text, &results), summary::search(&a.text, &results)))
}

fn audit(on: On<'_>, a: args::Audit) -> Done {
    let query = AuditQuery {
        claim_ref: a.claim.as_deref().map(|c| claim_ref("claim", c)).transpose()?,
        after: a.after.map(|c| AuditCursor { seq: c.seq, index: c.index }),
        limit: limit(a.limit, 100)?,
        newest_first: a.newest_first,
    };
    let page = on.stores.plain.engine().audit(on.agent, &query).map_err(failed)?;
    Ok((documents::audit(on.agent, &page.entries, page.next), summary::audit(&page)))
}

fn lineage(on: On<'_>, a: args::Lineage) -> Done {
    let claim = claim_ref("claim", &a.claim)?;
    let steps = on.stores.plain.engine().lineage(on.agent, claim).map_err(failed)?;
    Ok((documents::lineage(claim, &steps), summary::lineage(claim, &steps)))
}

fn pending(on: On<'_>) -> Done {
    let open = on.stores.plain.engine().pending(Some(on.agent)).map_err(failed)?;
    Ok((documents::pending(&open, &[]), summary::pending(&open)))
}

fn adjudicate(on: On<'_>, a: args::Adjudicate) -> Done {
    let handle: Handle = a
        .handle
        .trim()
        .parse()
        .map_err(|e| bad(format!("handle {:?} is not an adjudication handle: {e}", a.handle)))?;
    let evidence = a.evidence.unwrap_or(args::ProvenanceArg::User).into();
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let outcome = on
        .stores
        .queued
        .engine()
        .submit_adjudication_with(on.agent, handle, a.verdict.into(), evidence, &options)
        .map_err(failed)?;
    Ok((documents::adjudication_outcome(&outcome), summary::adjudication(&outcome)))
}

fn resolve(on: On<'_>, a: args::Resolve) -> Done {
    let winner = claim_ref("winner", &a.winner)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt = on
        .stores
        .plain
        .engine()
        .resolve_with(on.agent, &a.subject, &a.predicate, winner, &options)
        .map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn invalidate(on: On<'_>, a: args::Invalidate) -> Done {
    let claim = claim_ref("claim", &a.claim)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt =
        on.stores.plain.engine().invalidate_with(on.agent, claim, &a.reason, &options).map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}

fn reinstate(on: On<'_>, a: args::Reinstate) -> Done {
    let claim = claim_ref("claim", &a.claim)?;
    let options = WriteOptions { idempotency_key: a.idempotency_key };
    let receipt = on.stores.plain.engine().reinstate_with(on.agent, claim, &options).map_err(failed)?;
    Ok((documents::receipt(&receipt), summary::receipt(&receipt)))
}
