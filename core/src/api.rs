//! Requests and answers of the claim engine, and the [`ClaimEngine`] trait (SPEC §2–§3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::AgentId;
use crate::claim::Claim;
use crate::claim::{Cardinality, Criticality, Provenance, ValidTime};
use crate::error::Result;
use crate::ids::{ClaimRef, Handle};
use crate::ledger::{AuditCursor, HistoryCursor, SubjectSummary};
use crate::record::{Adjudication, Disposition, LedgerEntry};
use crate::time::Timestamp;
use crate::validate::RejectReason;

/// The page size [`ClaimEngine::history`] reads a whole history in.
pub const HISTORY_PAGE: usize = 1000;

/// One claim to record. Build with [`IngestRequest::new`] and the `with_*` methods.
///
/// Defaults: provenance `External(FirstHand)`, Functional, confidence 1.0, criticality
/// Medium, no valid time, no parents. Fields are checked by the engine, so any value here
/// yields an answer (a `Rejected` disposition for invalid ones), never a panic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// The agent (validated by the engine).
    pub agent: String,
    /// What the claim is about.
    pub subject: String,
    /// Which property.
    pub predicate: String,
    /// The value.
    pub value: Value,
    /// Where it came from.
    pub provenance: Provenance,
    /// Functional or SetValued.
    pub cardinality: Cardinality,
    /// Value confidence in [0, 1].
    pub confidence: f32,
    /// How much it matters.
    pub criticality: Criticality,
    /// Valid-time window.
    pub valid_time: Option<ValidTime>,
    /// Parents it was derived from (must exist for the agent, each once).
    pub derived_from: Vec<ClaimRef>,
    /// Parents it depends on (must exist for the agent, each once).
    pub depends_on: Vec<ClaimRef>,
    /// The idempotency key (1–128 bytes, no NUL; SPEC §2.4): a retry with the same key and
    /// request gets the first receipt and writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl IngestRequest {
    /// A first-hand, Functional claim with full confidence.
    pub fn new(
        agent: impl Into<String>,
        subject: impl Into<String>,
        predicate: impl Into<String>,
        value: impl Into<Value>,
    ) -> IngestRequest {
        IngestRequest {
            agent: agent.into(),
            subject: subject.into(),
            predicate: predicate.into(),
            value: value.into(),
            provenance: Provenance::FIRST_HAND,
            cardinality: Cardinality::Functional,
            confidence: 1.0,
            criticality: Criticality::Medium,
            valid_time: None,
            derived_from: Vec::new(),
            depends_on: Vec::new(),
            idempotency_key: None,
        }
    }

    /// Sets the idempotency key (SPEC §2.4): every later ingest of the agent with this key
    /// writes nothing and gets the first one's receipt (or `Rejected { IdempotencyKeyReused }`
    /// when its request differs).
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the provenance.
    pub fn with_provenance(mut self, provenance: Provenance) -> Self {
        self.provenance = provenance;
        self
    }

    /// Sets the value confidence.
    pub fn with_confidence(mut self, confidence: f32) -> Self {
        self.confidence = confidence;
        self
    }

    /// Sets the criticality.
    pub fn with_criticality(mut self, criticality: Criticality) -> Self {
        self.criticality = criticality;
        self
    }

    /// Makes the claim SetValued.
    pub fn set_valued(mut self) -> Self {
        self.cardinality = Cardinality::SetValued;
        self
    }

    /// Sets the valid-time window.
    pub fn with_valid_time(mut self, valid_time: ValidTime) -> Self {
        self.valid_time = Some(valid_time);
        self
    }

    /// Sets the `derived_from` parents.
    pub fn derived_from(mut self, parents: impl IntoIterator<Item = ClaimRef>) -> Self {
        self.derived_from = parents.into_iter().collect();
        self
    }

    /// Sets the `depends_on` parents.
    pub fn depends_on(mut self, parents: impl IntoIterator<Item = ClaimRef>) -> Self {
        self.depends_on = parents.into_iter().collect();
        self
    }
}

/// The answer to every write: exactly one disposition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteReceipt {
    /// The claim written or acted on (`None` only when rejected before a claim was known).
    pub claim_ref: Option<ClaimRef>,
    /// The outcome.
    pub disposition: Disposition,
    /// Why, when `Rejected`.
    pub reason: Option<RejectReason>,
    /// The live claims a contradiction was found against.
    pub contested_with: Vec<ClaimRef>,
    /// The commit unit's seq (`None` when nothing was written).
    pub seq: Option<u64>,
    /// The commit unit's tx_time (`None` when nothing was written).
    pub tx_time: Option<Timestamp>,
    /// The adjudication handle, when `QueuedForAdjudication`.
    pub handle: Option<Handle>,
    /// The engine's rationale code, e.g. `"cheap_path"`, `"corroboration"`, `"succession"`.
    pub rationale: Option<String>,
}

impl WriteReceipt {
    /// A `Rejected` receipt.
    pub fn rejected(claim_ref: Option<ClaimRef>, reason: RejectReason) -> WriteReceipt {
        WriteReceipt {
            claim_ref,
            disposition: Disposition::Rejected,
            reason: Some(reason),
            contested_with: Vec::new(),
            seq: None,
            tx_time: None,
            handle: None,
            rationale: None,
        }
    }

    /// The claim ref, for receipts known not to be rejected (tests, examples).
    ///
    /// # Panics
    /// If the receipt names no claim, which only a `Rejected` receipt can do: check
    /// `disposition` (or use the `claim_ref` field) when the write may have been rejected.
    pub fn claim(&self) -> ClaimRef {
        self.claim_ref.expect("a non-rejected receipt always names its claim")
    }
}

/// Options of the write operations besides ingest (whose options are fields of
/// [`IngestRequest`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// The idempotency key (1–128 bytes, no NUL; SPEC §2.4): a retry with the same key and
    /// arguments gets the first answer and writes nothing; the same key with other arguments is
    /// refused (`Rejected { IdempotencyKeyReused }`).
    pub idempotency_key: Option<String>,
}

impl WriteOptions {
    /// Options carrying an idempotency key.
    pub fn with_idempotency_key(key: impl Into<String>) -> WriteOptions {
        WriteOptions { idempotency_key: Some(key.into()) }
    }
}

/// Which transaction-time point a read is pinned to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsOf {
    /// Everything committed so far.
    #[default]
    Now,
    /// Units with `tx_time ≤ t` (inclusive).
    Time(Timestamp),
    /// Units with `seq ≤ n` (inclusive).
    Seq(u64),
}

/// A recall query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecallQuery {
    /// The agent.
    pub agent: String,
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// Transaction-time pin.
    pub as_of: AsOf,
    /// Valid-time point; `None` = the default of SPEC §3.2 step 3.
    pub valid_at: Option<Timestamp>,
}

impl RecallQuery {
    /// The current belief of a line.
    pub fn new(agent: impl Into<String>, subject: impl Into<String>, predicate: impl Into<String>) -> Self {
        RecallQuery {
            agent: agent.into(),
            subject: subject.into(),
            predicate: predicate.into(),
            as_of: AsOf::Now,
            valid_at: None,
        }
    }

    /// Pins the read to a transaction time (inclusive).
    pub fn as_of(mut self, t: Timestamp) -> Self {
        self.as_of = AsOf::Time(t);
        self
    }

    /// Pins the read to a sequence number (inclusive).
    pub fn as_of_seq(mut self, seq: u64) -> Self {
        self.as_of = AsOf::Seq(seq);
        self
    }

    /// Asks for the belief valid at `t`.
    pub fn valid_at(mut self, t: Timestamp) -> Self {
        self.valid_at = Some(t);
        self
    }
}

/// The status of a belief.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BeliefStatus {
    /// Nothing live.
    NoBelief,
    /// Two or more live values on a line that is not entirely SetValued.
    Contested,
    /// Exactly one value, with no valid-time data.
    TimingUncertain,
    /// Otherwise.
    Resolved,
}

/// How recently a belief was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    /// Confirmed less than `aging_days` ago.
    Fresh,
    /// Confirmed less than `decayed_days` ago.
    AgingUnconfirmed,
    /// Older.
    Decayed,
}

/// Whether a belief needs re-confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staleness {
    /// True unless the belief is `Fresh`.
    pub is_stale: bool,
    /// Why, when stale.
    pub reason: Option<String>,
}

/// A marker on a belief.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Marker {
    /// Two or more candidates.
    Contested,
    /// A live supporter was flagged because a `depends_on` parent stopped being live.
    PendingReview,
    /// A candidate is supported only by ModelDerived claims.
    Inferred,
    /// (History only) a stored recall re-entry.
    RecallTainted,
}

/// One distinct live value and the claims that support it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The value.
    pub value: Value,
    /// The earliest supporting claim (canonical order).
    pub claim_ref: ClaimRef,
    /// Every supporting claim, canonical order.
    pub supporting: Vec<ClaimRef>,
    /// The earliest supporter's provenance.
    pub provenance: Provenance,
    /// The highest supporter confidence.
    pub confidence: f32,
    /// The earliest supporter's valid-time window.
    pub valid_time: Option<ValidTime>,
}

/// What the agent should hold true for a line, derived at read time (SPEC §3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Belief {
    /// The status.
    pub status: BeliefStatus,
    /// The single value when Resolved/TimingUncertain on a Functional line.
    pub value: Option<Value>,
    /// Every distinct live value, in canonical order of first supporter.
    pub values: Vec<Value>,
    /// The candidates, in the same order as `values`.
    pub candidates: Vec<Candidate>,
    /// The earliest supporter of the single value.
    pub primary_claim: Option<ClaimRef>,
    /// The highest criticality among live claims.
    pub criticality: Option<Criticality>,
    /// Supporters − 1 of the single value (0 otherwise).
    pub corroboration_count: u32,
    /// The newest live supporter's tx_time.
    pub last_confirmed_at: Option<Timestamp>,
    /// Currency against the real clock.
    pub currency: Option<Currency>,
    /// Staleness.
    pub staleness: Option<Staleness>,
    /// Markers, in order, each at most once.
    pub markers: Vec<Marker>,
    /// The seq the read was pinned to (0 for an empty agent).
    pub as_of_seq: u64,
}

impl Belief {
    /// True when the status is Contested.
    pub fn is_contested(&self) -> bool {
        self.status == BeliefStatus::Contested
    }

    /// True when nothing is live.
    pub fn is_empty(&self) -> bool {
        self.status == BeliefStatus::NoBelief
    }
}

/// A claim's status in a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClaimStatus {
    /// Live.
    Current,
    /// Lost an adjudication or a resolution.
    Superseded,
    /// Invalidated.
    Invalidated,
    /// Quarantined.
    Quarantined,
    /// PendingConflict or PendingLowConfidence.
    Pending,
}

/// One claim in a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The claim.
    pub claim: Claim,
    /// Its latest state disposition at the as-of point.
    pub disposition: Disposition,
    /// Its status.
    pub status: ClaimStatus,
    /// `RecallTainted` for stored re-entries, `PendingReview` for flagged claims.
    pub markers: Vec<Marker>,
}

/// Every claim of a line in canonical order, plus the belief the same fold derives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The claims, canonical order.
    pub entries: Vec<HistoryEntry>,
    /// The belief at the same as-of point (identical to `recall`).
    pub belief: Belief,
    /// The seq the read was pinned to.
    pub as_of_seq: u64,
}

impl History {
    /// The current belief: always equal to `recall` at the same as-of point.
    pub fn current(&self) -> &Belief {
        &self.belief
    }
}

/// A history query: one page of a line's claims in canonical order (SPEC §3.3). `limit` must be
/// at least 1; there is no upper cap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// The agent.
    pub agent: String,
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// Transaction-time pin. Pages of one listing should share it: pass the first page's
    /// `as_of_seq` as [`AsOf::Seq`] to the following ones.
    pub as_of: AsOf,
    /// Continue after this cursor (from a previous page's `next`).
    pub after: Option<HistoryCursor>,
    /// Page size.
    pub limit: usize,
}

impl HistoryQuery {
    /// The first page of a line's history now, `limit` claims long.
    pub fn new(
        agent: impl Into<String>,
        subject: impl Into<String>,
        predicate: impl Into<String>,
        limit: usize,
    ) -> Self {
        HistoryQuery {
            agent: agent.into(),
            subject: subject.into(),
            predicate: predicate.into(),
            as_of: AsOf::Now,
            after: None,
            limit,
        }
    }
}

/// One page of a line's history, plus the belief of the whole line at the same as-of point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The claims, canonical order.
    pub entries: Vec<HistoryEntry>,
    /// The belief at the same as-of point (identical to `recall`).
    pub belief: Belief,
    /// The seq the read was pinned to.
    pub as_of_seq: u64,
    /// The cursor for the next page; `None` when this was the last.
    pub next: Option<HistoryCursor>,
}

/// A subjects query (SPEC §3.4): subjects with at least one claim, sorted bytewise. `limit`
/// must be at least 1; there is no upper cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectsQuery {
    /// The agent.
    pub agent: String,
    /// Only subjects starting with this text.
    pub prefix: Option<String>,
    /// Continue after this subject (from a previous page's `next`).
    pub after: Option<String>,
    /// Page size.
    pub limit: usize,
}

impl SubjectsQuery {
    /// The first page of an agent's subjects, `limit` long.
    pub fn new(agent: impl Into<String>, limit: usize) -> Self {
        SubjectsQuery { agent: agent.into(), prefix: None, after: None, limit }
    }
}

/// One page of an agent's subjects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectsPage {
    /// The subjects, bytewise order.
    pub subjects: Vec<SubjectSummary>,
    /// The cursor for the next page (the last subject); `None` when this was the last.
    pub next: Option<String>,
}

/// A search (SPEC §3.4): the lines whose terms include every term of `text`. `limit` must be
/// at least 1; there is no upper cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The agent.
    pub agent: String,
    /// The words to find (see [`crate::terms`]).
    pub text: String,
    /// Transaction-time pin: the live values as of this point are searched.
    pub as_of: AsOf,
    /// At most this many lines.
    pub limit: usize,
}

impl SearchQuery {
    /// A search of what the agent holds now, at most `limit` lines.
    pub fn new(agent: impl Into<String>, text: impl Into<String>, limit: usize) -> Self {
        SearchQuery { agent: agent.into(), text: text.into(), as_of: AsOf::Now, limit }
    }
}

/// One line a search found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// The seq of the line's newest claim as of the point searched.
    pub latest_seq: u64,
    /// The line's belief as of that point (as `recall`).
    pub belief: Belief,
}

/// What a search found, newest line first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The lines, by `latest_seq` descending, then subject and predicate.
    pub hits: Vec<SearchHit>,
    /// The seq the search was pinned to.
    pub as_of_seq: u64,
}

/// An audit query. `limit` must be at least 1; there is no upper cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only entries about this claim.
    pub claim_ref: Option<ClaimRef>,
    /// Continue after this cursor (from a previous page's `next`).
    pub after: Option<AuditCursor>,
    /// Page size.
    pub limit: usize,
    /// Newest entries first.
    pub newest_first: bool,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery { claim_ref: None, after: None, limit: 100, newest_first: false }
    }
}

/// One page of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<LedgerEntry>,
    /// The cursor for the next page; `None` when this was the last.
    pub next: Option<AuditCursor>,
}

/// One ancestor in a lineage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineageStep {
    /// 1 for a direct parent, 2 for a grandparent, …
    pub depth: u32,
    /// The ancestor.
    pub claim: Claim,
}

/// The oracle's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// The challenger is right: incumbents are superseded.
    Affirm,
    /// The challenger is wrong: it is superseded.
    Deny,
    /// Nobody can tell: the line stays contested.
    Unknown,
}

/// The result of applying a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdjudicationOutcome {
    /// The handle.
    pub handle: Handle,
    /// The verdict applied.
    pub verdict: Verdict,
    /// The commit unit.
    pub seq: u64,
    /// The disposition given to each claim the verdict touched.
    pub dispositions: Vec<(ClaimRef, Disposition)>,
}

/// What `sweep` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Rows expired now.
    pub expired: u64,
    /// Rows whose oracle notification succeeded now.
    pub renotified: u64,
    /// Rows whose notification failed again.
    pub still_unnotified: u64,
    /// Agents whose sweep stopped at a storage error (an expiry unit that had already
    /// committed stays, and is counted above); the other agents were swept anyway. Sweeping
    /// again retries them.
    #[serde(default)]
    pub failed: Vec<SweepFailure>,
}

/// One agent `sweep` could not finish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepFailure {
    /// The agent.
    pub agent: AgentId,
    /// The error, as text.
    pub error: String,
    /// Whether retrying may succeed (see [`Error::is_retryable`](crate::Error::is_retryable)).
    pub retryable: bool,
}

/// The oracle the engine asks about External contradictions. Called after commit.
pub trait Oracle: Send + Sync {
    /// Tells the oracle about a new adjudication. An error leaves the row un-notified;
    /// `sweep` retries it.
    fn request(&self, adjudication: &Adjudication) -> std::result::Result<(), String>;
}

/// The operations of SPEC §2–§3. [`Engine`](crate::Engine) implements it for every ledger,
/// so hosts can program against the trait and substitute their own implementation in tests.
pub trait ClaimEngine: Send + Sync {
    /// Records a claim; returns its disposition (SPEC §2.2).
    fn ingest(&self, request: IngestRequest) -> Result<WriteReceipt>;
    /// Applies an oracle verdict (SPEC §2.3).
    fn submit_adjudication(
        &self,
        agent: &str,
        handle: Handle,
        verdict: Verdict,
        evidence: Provenance,
    ) -> Result<AdjudicationOutcome> {
        self.submit_adjudication_with(agent, handle, verdict, evidence, &WriteOptions::default())
    }
    /// [`submit_adjudication`](Self::submit_adjudication) with options (an idempotency key).
    /// An invalid or reused key is `Error::Rejected`; nothing is written then.
    fn submit_adjudication_with(
        &self,
        agent: &str,
        handle: Handle,
        verdict: Verdict,
        evidence: Provenance,
        options: &WriteOptions,
    ) -> Result<AdjudicationOutcome>;
    /// Expires overdue adjudications of every agent and re-notifies un-notified ones.
    fn sweep(&self, now: Timestamp) -> Result<SweepReport>;
    /// Human resolution of a line in favour of `winner`.
    fn resolve(&self, agent: &str, subject: &str, predicate: &str, winner: ClaimRef) -> Result<WriteReceipt> {
        self.resolve_with(agent, subject, predicate, winner, &WriteOptions::default())
    }
    /// [`resolve`](Self::resolve) with options (an idempotency key).
    fn resolve_with(
        &self,
        agent: &str,
        subject: &str,
        predicate: &str,
        winner: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt>;
    /// Invalidates a live claim.
    fn invalidate(&self, agent: &str, claim_ref: ClaimRef, reason: &str) -> Result<WriteReceipt> {
        self.invalidate_with(agent, claim_ref, reason, &WriteOptions::default())
    }
    /// [`invalidate`](Self::invalidate) with options (an idempotency key).
    fn invalidate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        reason: &str,
        options: &WriteOptions,
    ) -> Result<WriteReceipt>;
    /// Reinstates a Superseded or Invalidated claim.
    fn reinstate(&self, agent: &str, claim_ref: ClaimRef) -> Result<WriteReceipt> {
        self.reinstate_with(agent, claim_ref, &WriteOptions::default())
    }
    /// [`reinstate`](Self::reinstate) with options (an idempotency key).
    fn reinstate_with(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt>;
    /// The belief of a line (SPEC §3.2).
    fn recall(&self, query: &RecallQuery) -> Result<Belief>;
    /// One page of a line's claims in canonical order (SPEC §3.3).
    fn history_page(&self, query: &HistoryQuery) -> Result<HistoryPage>;
    /// Every claim of a line (SPEC §3.3): [`history_page`](Self::history_page) paged through,
    /// every page pinned to the first one's `as_of_seq`.
    fn history(&self, agent: &str, subject: &str, predicate: &str, as_of: AsOf) -> Result<History> {
        let mut query = HistoryQuery { as_of, ..HistoryQuery::new(agent, subject, predicate, HISTORY_PAGE) };
        let first = self.history_page(&query)?;
        let (mut entries, mut next) = (first.entries, first.next);
        query.as_of = AsOf::Seq(first.as_of_seq);
        while let Some(after) = next {
            query.after = Some(after);
            let page = self.history_page(&query)?;
            entries.extend(page.entries);
            next = page.next;
        }
        Ok(History { entries, belief: first.belief, as_of_seq: first.as_of_seq })
    }
    /// A page of the agent's subjects (SPEC §3.4).
    fn subjects(&self, query: &SubjectsQuery) -> Result<SubjectsPage>;
    /// The lines whose terms include every term of a text (SPEC §3.4).
    fn search(&self, query: &SearchQuery) -> Result<SearchResults>;
    /// The belief of every predicate of a subject, sorted by predicate.
    fn subject(
        &self,
        agent: &str,
        subject: &str,
        as_of: AsOf,
        valid_at: Option<Timestamp>,
    ) -> Result<Vec<(String, Belief)>>;
    /// A page of the audit trail.
    fn audit(&self, agent: &str, query: &AuditQuery) -> Result<AuditPage>;
    /// The DerivedFrom ancestry of a claim, depth order, depth ≤ 64.
    fn lineage(&self, agent: &str, claim_ref: ClaimRef) -> Result<Vec<LineageStep>>;
    /// Open adjudications of one agent or all, oldest first.
    fn pending(&self, agent: Option<&str>) -> Result<Vec<Adjudication>>;
    /// Every agent in the store, sorted.
    fn agents(&self) -> Result<Vec<AgentId>>;
}
