//! The arguments of each operation: what a call's JSON arguments are parsed into and, for the
//! MCP server, what each tool's input schema says (derived from these types, their doc comments
//! the descriptions). Unknown fields are refused, so a misspelt option is an error rather than
//! silently ignored.

#[cfg(feature = "mcp")]
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::Value;

/// Who or what a claim comes from.
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ProvenanceArg {
    /// A person said so, first hand.
    User,
    /// A tool result or a system of record.
    FirstHand,
    /// Something read back from this memory (recall output coming back in).
    Recall,
    /// A model's own inference.
    Model,
}

impl From<ProvenanceArg> for crate::Provenance {
    fn from(p: ProvenanceArg) -> Self {
        match p {
            ProvenanceArg::User => crate::Provenance::USER,
            ProvenanceArg::FirstHand => crate::Provenance::FIRST_HAND,
            ProvenanceArg::Recall => crate::Provenance::RecallReEntry,
            ProvenanceArg::Model => crate::Provenance::ModelDerived,
        }
    }
}

/// How much harm a wrong value would do.
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CriticalityArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<CriticalityArg> for crate::Criticality {
    fn from(c: CriticalityArg) -> Self {
        match c {
            CriticalityArg::Low => crate::Criticality::Low,
            CriticalityArg::Medium => crate::Criticality::Medium,
            CriticalityArg::High => crate::Criticality::High,
            CriticalityArg::Critical => crate::Criticality::Critical,
        }
    }
}

/// A verdict on a queued contradiction.
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum VerdictArg {
    /// The challenger (the newer claim) is right.
    Affirm,
    /// The challenger is wrong.
    Deny,
    /// Nobody can tell: the line stays Contested.
    Unknown,
}

impl From<VerdictArg> for crate::Verdict {
    fn from(v: VerdictArg) -> Self {
        match v {
            VerdictArg::Affirm => crate::Verdict::Affirm,
            VerdictArg::Deny => crate::Verdict::Deny,
            VerdictArg::Unknown => crate::Verdict::Unknown,
        }
    }
}

/// Record a claim.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Remember {
    /// What the claim is about, e.g. "alice".
    pub subject: String,
    /// Which property of it, e.g. "home city".
    pub predicate: String,
    /// The value: any JSON (a string, a number, an object, …).
    pub value: Value,
    /// Where it comes from (default first-hand).
    pub provenance: Option<ProvenanceArg>,
    /// Confidence in the value, 0 to 1 (default 1).
    pub confidence: Option<f32>,
    /// How much harm a wrong value would do (default medium).
    pub criticality: Option<CriticalityArg>,
    /// The predicate holds several values at once (tags, visited places) instead of one.
    #[serde(default)]
    pub set_valued: bool,
    /// When the value became true: YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 time.
    pub valid_from: Option<String>,
    /// When it stopped being true (exclusive), in the same forms.
    pub valid_until: Option<String>,
    /// Confidence in the valid-time window, 0 to 1 (needs valid_from or valid_until).
    pub valid_confidence: Option<f32>,
    /// Claims this one was derived from (claim refs).
    #[serde(default)]
    pub derived_from: Vec<String>,
    /// Claims this one depends on: if one stops being believed, this one is flagged for review.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Queue a contradiction between outside sources for adjudication instead of recording it
    /// as Contested.
    #[serde(default)]
    pub queue: bool,
    /// A key naming this request: a retry with the same key and arguments writes nothing new.
    pub idempotency_key: Option<String>,
}

/// Read the belief of one line.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// Read as the memory stood at this time (YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339).
    pub as_of: Option<String>,
    /// Read as the memory stood after this commit (a seq from an earlier answer).
    pub as_of_seq: Option<u64>,
    /// The moment in the world the value should hold at (same date forms); default now.
    pub valid_at: Option<String>,
}

/// A position in a history, from a previous page's `next`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryCursorArg {
    /// Microseconds since the Unix epoch.
    pub key: i64,
    /// Microseconds since the Unix epoch.
    pub tx_time: i64,
    /// A commit's seq.
    pub seq: u64,
    /// A claim ref.
    pub claim_ref: String,
}

/// Every claim ever recorded on one line, a page at a time.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// Read as the memory stood at this time.
    pub as_of: Option<String>,
    /// Read as the memory stood after this commit.
    pub as_of_seq: Option<u64>,
    /// Continue after this cursor (the `next` of the previous page; pass its `as_of_seq` too).
    pub after: Option<HistoryCursorArg>,
    /// At most this many claims (default 100).
    pub limit: Option<usize>,
}

/// The beliefs of every predicate of one subject.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The subject.
    pub subject: String,
    /// Read as the memory stood at this time.
    pub as_of: Option<String>,
    /// Read as the memory stood after this commit.
    pub as_of_seq: Option<u64>,
    /// The moment in the world the values should hold at; default now.
    pub valid_at: Option<String>,
}

/// The subjects the memory holds, a page at a time.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Subjects {
    /// Only subjects starting with this text.
    pub prefix: Option<String>,
    /// Continue after this subject (the `next` of the previous page).
    pub after: Option<String>,
    /// At most this many subjects (default 100).
    pub limit: Option<usize>,
}

/// Find lines by words.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// The words to find; a line must hold all of them in its subject, predicate or current
    /// values. Case does not matter.
    pub text: String,
    /// Search the memory as it stood at this time.
    pub as_of: Option<String>,
    /// Search the memory as it stood after this commit.
    pub as_of_seq: Option<u64>,
    /// At most this many lines (default 20).
    pub limit: Option<usize>,
}

/// A position in the audit trail, from a previous page's `next`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditCursorArg {
    /// A commit's seq.
    pub seq: u64,
    /// The entry's index within its commit.
    pub index: u32,
}

/// The audit trail: every decision the memory recorded.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// Only entries about this claim.
    pub claim: Option<String>,
    /// Continue after this cursor (the `next` of the previous page).
    pub after: Option<AuditCursorArg>,
    /// At most this many entries (default 100).
    pub limit: Option<usize>,
    /// Newest entries first.
    #[serde(default)]
    pub newest_first: bool,
}

/// Where a claim came from.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// The claim ref.
    pub claim: String,
}

/// No arguments.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

/// Settle a queued contradiction.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Adjudicate {
    /// The adjudication handle (from `remember` or `pending`).
    pub handle: String,
    /// The verdict on the challenger.
    pub verdict: VerdictArg,
    /// Where the evidence for the verdict comes from (default user).
    pub evidence: Option<ProvenanceArg>,
    /// A key naming this request: a retry with the same key writes nothing new.
    pub idempotency_key: Option<String>,
}

/// Settle a line in favour of one of its claims.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// The claim ref that is right; the line's other live claims are superseded.
    pub winner: String,
    /// A key naming this request: a retry with the same key writes nothing new.
    pub idempotency_key: Option<String>,
}

/// Stop believing a claim (it stays in history).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Invalidate {
    /// The claim ref.
    pub claim: String,
    /// Why, in words (kept in the audit trail).
    pub reason: String,
    /// A key naming this request: a retry with the same key writes nothing new.
    pub idempotency_key: Option<String>,
}

/// Believe a superseded or invalidated claim again.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "mcp", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Reinstate {
    /// The claim ref.
    pub claim: String,
    /// A key naming this request: a retry with the same key writes nothing new.
    pub idempotency_key: Option<String>,
}
