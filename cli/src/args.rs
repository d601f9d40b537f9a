//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// credence: a bi-temporal, append-only claim store for AI-agent memory.
#[derive(Debug, Parser)]
#[command(name = "credence", version, about, long_about = None, max_term_width = 100)]
pub(crate) struct Cli {
    /// Store URL: memory:, sqlite:<dir>, sqlite::memory: or postgres://user@host/db?options
    /// [default: sqlite:./credence-data; `demo` defaults to a temporary directory]
    #[arg(long, global = true, env = "CREDENCE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log to stderr at this level or filter (`info`, `credence=debug`, …; default `$RUST_LOG`,
    /// else `warn`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// How log lines are written: `text` or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// The default store when neither `--store` nor `CREDENCE_STORE` is given.
pub(crate) const DEFAULT_STORE: &str = "sqlite:./credence-data";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Record a claim: AGENT SUBJECT PREDICATE VALUE.
    Remember(RememberArgs),
    /// The belief of a line, now or at another point in time.
    Recall {
        /// Agent id.
        agent: String,
        /// Subject.
        subject: String,
        /// Predicate.
        predicate: String,
        #[command(flatten)]
        as_of: AsOfArgs,
        /// Valid-time point (YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "TIME")]
        valid_at: Option<String>,
    },
    /// Every claim of a line with its status, in canonical order.
    History {
        /// Agent id.
        agent: String,
        /// Subject.
        subject: String,
        /// Predicate.
        predicate: String,
        #[command(flatten)]
        as_of: AsOfArgs,
        /// At most this many claims, the first in canonical order (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// The belief of every predicate of a subject.
    Subject {
        /// Agent id.
        agent: String,
        /// Subject.
        subject: String,
        #[command(flatten)]
        as_of: AsOfArgs,
        /// Valid-time point.
        #[arg(long, value_name = "TIME")]
        valid_at: Option<String>,
    },
    /// An agent's subjects, bytewise, each with its lines and live claims.
    Subjects {
        /// Agent id.
        agent: String,
        /// Only subjects starting with this text.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many subjects (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// The lines whose subject, predicate and live values hold every word of TEXT, newest first.
    Search {
        /// Agent id.
        agent: String,
        /// The words to find (case does not matter).
        text: String,
        #[command(flatten)]
        as_of: AsOfArgs,
        /// At most this many lines.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// The audit trail of an agent (every ledger entry).
    Audit {
        /// Agent id.
        agent: String,
        /// Only entries about this claim.
        #[arg(long, value_name = "CLAIM_REF")]
        claim: Option<String>,
        /// At most this many entries (default: all).
        #[arg(long)]
        limit: Option<usize>,
        /// Newest entries first.
        #[arg(long)]
        newest_first: bool,
    },
    /// Open adjudications, oldest first.
    Pending {
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Apply a verdict to a pending adjudication.
    Adjudicate {
        /// The adjudication handle (from `pending`).
        handle: String,
        /// The verdict.
        verdict: VerdictArg,
        /// The agent (found from the handle when omitted).
        #[arg(long)]
        agent: Option<String>,
        /// Provenance of the evidence behind the verdict.
        #[arg(long, value_enum, default_value = "user")]
        evidence: ProvenanceArg,
        /// Idempotency key: a retry with the same key writes nothing and answers the first
        /// result (1–128 bytes).
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Expire overdue adjudications and mark un-notified ones as notified.
    Sweep {
        /// The time to sweep at (default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Resolve a line in favour of one claim (every other live claim is superseded).
    Resolve {
        /// Agent id.
        agent: String,
        /// Subject.
        subject: String,
        /// Predicate.
        predicate: String,
        /// The winning claim.
        winner: String,
        /// Idempotency key: a retry with the same key writes nothing and answers the first
        /// result (1–128 bytes).
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Invalidate a live claim.
    Invalidate {
        /// Agent id.
        agent: String,
        /// The claim.
        claim: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "invalidated from the command line")]
        reason: String,
        /// Idempotency key: a retry with the same key writes nothing and answers the first
        /// result (1–128 bytes).
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Reinstate a superseded or invalidated claim.
    Reinstate {
        /// Agent id.
        agent: String,
        /// The claim.
        claim: String,
        /// Idempotency key: a retry with the same key writes nothing and answers the first
        /// result (1–128 bytes).
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// The derived_from ancestry of a claim.
    Lineage {
        /// Agent id.
        agent: String,
        /// The claim.
        claim: String,
    },
    /// Every agent in the store.
    Agents,
    /// Write the store (or one agent) as credence-export JSONL to stdout.
    Export {
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Read a credence-export JSONL file into the store (its agents must be empty there).
    Import {
        /// The file (default: stdin; `-` also means stdin).
        file: Option<PathBuf>,
    },
    /// Copy this store into another (whose agents must be empty), then verify both agree.
    Copy {
        /// The target store URL.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Run the conformance suite against the store, in scratch space.
    Conformance {
        /// Only cases whose `area::name` contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Cases run at once (default: available cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Random scenarios per model-based property check (area `model`); 0 leaves them out.
        #[arg(long, default_value_t = 64)]
        model_cases: u32,
    },
    /// Check the store's schema, settings and integrity.
    Doctor,
    /// Derive the store's indexes (the live claims and line summaries) from the ledger rows
    /// again, one agent per commit; what `doctor` reports as a live-index error is repaired.
    Reindex {
        /// Only this agent (default: every agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// A short scripted story showing what credence does.
    Demo,
    /// Serve one agent's memory to MCP hosts (Model Context Protocol): stdio by default.
    #[cfg(feature = "mcp")]
    Mcp {
        /// The agent every tool reads and writes.
        #[arg(long)]
        agent: String,
        /// Serve only the tools that read.
        #[arg(long)]
        read_only: bool,
        /// Serve streamable HTTP at http://ADDR/mcp (e.g. 127.0.0.1:8080) instead of stdio.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// The bearer token HTTP requests must carry; required to bind beyond loopback.
        #[arg(long, env = "CREDENCE_MCP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        token: Option<String>,
        /// Seconds a contradiction queued by `remember` with `queue` waits for a verdict.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
        /// With --http: serve the operations' metrics at /metrics (Prometheus text format).
        #[arg(long)]
        metrics: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RememberArgs {
    /// Agent id.
    pub agent: String,
    /// Subject.
    pub subject: String,
    /// Predicate.
    pub predicate: String,
    /// The value (a string, or JSON with --json-value).
    pub value: String,
    /// Parse VALUE as JSON.
    #[arg(long)]
    pub json_value: bool,
    /// Where the claim came from.
    #[arg(long, value_enum, default_value = "first-hand")]
    pub provenance: ProvenanceArg,
    /// Value confidence in [0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub confidence: f32,
    /// How much it matters.
    #[arg(long, value_enum, default_value = "medium")]
    pub criticality: CriticalityArg,
    /// The line is set-valued: values coexist.
    #[arg(long = "set")]
    pub set_valued: bool,
    /// Valid from (YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub valid_from: Option<String>,
    /// Valid until, exclusive (a partial date is the start of that period).
    #[arg(long, value_name = "TIME")]
    pub valid_until: Option<String>,
    /// Confidence in the valid-time window [default: 1.0].
    #[arg(long, value_name = "CONFIDENCE")]
    pub valid_confidence: Option<f32>,
    /// A claim it was derived from (repeatable).
    #[arg(long, value_name = "REF")]
    pub derived_from: Vec<String>,
    /// A claim it depends on (repeatable).
    #[arg(long, value_name = "REF")]
    pub depends_on: Vec<String>,
    /// Queue an External contradiction for adjudication (see `pending`, `adjudicate`)
    /// instead of marking it Contested.
    #[arg(long)]
    pub queue: bool,
    /// With --queue: the adjudication expires after this many seconds (see `sweep`).
    #[arg(long, value_name = "SECONDS", requires = "queue")]
    pub ttl: Option<u64>,
    /// Idempotency key: a retry with the same key writes nothing and answers the first
    /// receipt (1–128 bytes).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AsOfArgs {
    /// Read as of this transaction time (inclusive).
    #[arg(long, value_name = "TIME", conflicts_with = "as_of_seq")]
    pub as_of: Option<String>,
    /// Read as of this commit unit (inclusive).
    #[arg(long, value_name = "N")]
    pub as_of_seq: Option<u64>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ProvenanceArg {
    /// A first-hand human assertion.
    User,
    /// A tool result or system of record.
    FirstHand,
    /// Engine output coming back in.
    Recall,
    /// A model inference.
    Model,
}

impl From<ProvenanceArg> for credence::Provenance {
    fn from(p: ProvenanceArg) -> Self {
        match p {
            ProvenanceArg::User => credence::Provenance::USER,
            ProvenanceArg::FirstHand => credence::Provenance::FIRST_HAND,
            ProvenanceArg::Recall => credence::Provenance::RecallReEntry,
            ProvenanceArg::Model => credence::Provenance::ModelDerived,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum CriticalityArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<CriticalityArg> for credence::Criticality {
    fn from(c: CriticalityArg) -> Self {
        match c {
            CriticalityArg::Low => credence::Criticality::Low,
            CriticalityArg::Medium => credence::Criticality::Medium,
            CriticalityArg::High => credence::Criticality::High,
            CriticalityArg::Critical => credence::Criticality::Critical,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum VerdictArg {
    /// The challenger is right.
    Affirm,
    /// The challenger is wrong.
    Deny,
    /// Nobody can tell: the line stays contested.
    Unknown,
}

impl From<VerdictArg> for credence::Verdict {
    fn from(v: VerdictArg) -> Self {
        match v {
            VerdictArg::Affirm => credence::Verdict::Affirm,
            VerdictArg::Deny => credence::Verdict::Deny,
            VerdictArg::Unknown => credence::Verdict::Unknown,
        }
    }
}
