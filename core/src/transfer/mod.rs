//! Export, import and copy: the backend-neutral line-delimited JSON format of SPEC §8.
//!
//! # Format (version 1)
//!
//! ```text
//! {"format":"credence-export","version":1}
//! {"agent":"agent-1","unit":{"seq":1,"tx_time":1767225600000000,"claims":[…],"assertions":[],"edges":[],"entries":[…],"adjudications":[],"status_changes":[]}}
//! {"agent":"agent-1","unit":{"seq":2,…}}
//! {"agent":"agent-2","unit":{"seq":1,…}}
//! {"end":{"agents":2,"units":3}}
//! ```
//!
//! * Line 1 is the header; an import refuses a missing header, another `format` or another
//!   `version`.
//! * Every other line is one commit unit ([`Append`], serialised with serde) of one agent:
//!   every row the unit appended, with original ids, `seq` and `tx_time` (and its
//!   `idempotency` record when the write carried a key). Times are integer microseconds since
//!   the Unix epoch. [`export`] writes agents in bytewise order, each agent's units in `seq`
//!   order (1, 2, 3, … with no gap).
//! * The last line is the trailer `{"end":{"agents":A,"units":N}}`. A file without it, with
//!   lines after it, or whose counts disagree with it is truncated or damaged and is refused
//!   (so a file cut exactly at a line boundary is caught too).
//! * Importing goes through [`Ledger::write`], one unit at a time, so each unit stays atomic
//!   and gets exactly its original `seq`.
//!
//! # Import files are untrusted input
//!
//! Before anything is written the whole input is checked as strictly as live writes: every
//! unit must be one the engine could have written. The rules, each with a stable code that
//! errors carry, are listed on [`Rule`] and live in one place (the private `rules` module);
//! [`check_import`], [`import`] and [`copy_units`] all go through them:
//!
//! * `header`, `syntax`, `line_too_long`, `trailer` — the file's shape;
//! * `seq_gap`, `tx_time_order` — each agent's units run 1, 2, 3, … with strictly increasing
//!   `tx_time`;
//! * `time_range` — every transaction time between the Unix epoch and the importing clock's
//!   now plus one day (valid-time bounds are not limited);
//! * `claim_limits` — the SPEC §1.1 limits on every claim;
//! * `duplicate`, `unit_consistency`, `reference`, `adjudication`, `disposition_event`,
//!   `idempotency` — every unit internally consistent and every id it names existing for the
//!   same agent by then.
//!
//! A refused input writes nothing: the error is [`TransferError::Format`] with the 1-based
//! line, the [`Rule`] and a reason (for a copy, [`TransferError::Source`] with the agent and
//! seq).
//!
//! ```
//! use std::io::Cursor;
//!
//! use credence_core::transfer::{self, ImportOptions, Rule, TransferError};
//! use credence_core::{ClaimEngine, Engine, IngestRequest, Ledger, MemoryLedger};
//!
//! let engine = Engine::new(MemoryLedger::new());
//! engine.ingest(IngestRequest::new("agent-1", "alice", "city", "Lisbon")).unwrap();
//! let mut file = Vec::new();
//! transfer::export(engine.ledger(), None, &mut file).unwrap();
//!
//! let target = MemoryLedger::new();
//! let options = ImportOptions::default();
//! transfer::import_from(&target, Cursor::new(&file), &options, &mut |_, _| {}).unwrap();
//! assert_eq!(target.agents().unwrap().len(), 1);
//!
//! // The same file with an empty subject is refused, naming the line and the rule.
//! let bad = String::from_utf8(file).unwrap().replace(r#""subject":"alice""#, r#""subject":"""#);
//! let err = transfer::check_import(bad.as_bytes(), &options).unwrap_err();
//! assert!(matches!(err, TransferError::Format { line: 2, rule: Rule::ClaimLimits, .. }), "{err}");
//! ```
//!
//! # Memory stays bounded
//!
//! No line is read whole if it is longer than [`MAX_LINE_BYTES`] (the header line: longer
//! than [`MAX_HEADER_BYTES`]), and the units are never all held: [`check_import`] reads the
//! input once, keeping only the per-agent state the rules need (ids, open adjudications,
//! idempotency keys), and returns an [`ImportPlan`]; [`import`] refuses agents that already
//! have rows in the target, then reads the input a second time, checking every unit again
//! and writing it. [`import_from`] does both over one seekable input. A copy checks the
//! source store's units in a first pass and writes them in a second.
//!
//! Only a store failure in the middle of the writes ([`TransferError::Partial`]), or an
//! input that changed between the two passes ([`TransferError::Changed`]), can leave a
//! partial import; the error says so.

mod read;
mod rules;
mod stores;

use std::io::{Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};

use crate::{AgentId, Append, Clock, EngineConfig, Error, Ledger, SystemClock};

pub use read::{MAX_HEADER_BYTES, MAX_LINE_BYTES};
pub use rules::Rule;
use rules::{Checker, Limits};
pub use stores::{ReadableExport, check_agent, copy, copy_units, export, export_readable, head_seq, verify};
use stores::{ensure_empty, write_counted};

/// The `format` of the header line.
pub const FORMAT: &str = "credence-export";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// The header line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version.
    pub version: u64,
}

/// The last line: how much the file holds, so a file cut short anywhere is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// The counts.
    pub end: EndCounts,
}

/// The counts in the [`Trailer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndCounts {
    /// Agents in the file.
    pub agents: u64,
    /// Unit lines in the file.
    pub units: u64,
}

/// One unit line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitLine {
    /// The agent the unit belongs to.
    pub agent: AgentId,
    /// The unit.
    pub unit: Append,
}

/// What can go wrong moving data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
    /// Reading the input or writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The input breaks a rule; nothing was written.
    #[error("line {line} [{rule}]: {reason}; nothing was imported")]
    Format {
        /// 1-based line number.
        line: usize,
        /// The rule the line breaks.
        rule: Rule,
        /// What is wrong.
        reason: String,
    },
    /// A unit of a copy's source store breaks a rule; nothing was written.
    #[error("source agent {agent:?} seq {seq} [{rule}]: {reason}; nothing was copied")]
    Source {
        /// The agent.
        agent: String,
        /// The unit's seq.
        seq: u64,
        /// The rule the unit breaks.
        rule: Rule,
        /// What is wrong.
        reason: String,
    },
    /// The input read for writing is not the one that was checked (it changed between the
    /// two passes, or another input was passed to [`import`]); the units before `line` were
    /// written.
    #[error(
        "the input changed after it was checked: line {line} [{rule}]: {reason}; {written} of {total} unit(s) had been written, so the import is partial"
    )]
    Changed {
        /// 1-based line number.
        line: usize,
        /// The rule the line breaks.
        rule: Rule,
        /// What is wrong.
        reason: String,
        /// Units written before it.
        written: u64,
        /// Units the checked input held.
        total: u64,
    },
    /// The target store already holds rows of an agent being imported; nothing was written.
    #[error(
        "agent {agent:?} already has {units} commit unit(s) in the target store; import and copy only fill agents that are empty there; nothing was written"
    )]
    NotEmpty {
        /// The agent.
        agent: String,
        /// Its head seq in the target.
        units: u64,
    },
    /// The store failed after some units were written.
    #[error(
        "store failed after {written} of {total} unit(s) were written (agent {agent:?}, seq {seq}): {source}"
    )]
    Partial {
        /// Units written before the failure.
        written: u64,
        /// Units planned.
        total: u64,
        /// The agent being written.
        agent: String,
        /// The seq that failed.
        seq: u64,
        /// The store's error.
        source: Error,
    },
    /// After a copy, the two stores answer differently.
    #[error("verification failed: {0}")]
    Mismatch(String),
}

impl TransferError {
    /// The rule a refused input broke, for the errors that name one.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            TransferError::Format { rule, .. }
            | TransferError::Source { rule, .. }
            | TransferError::Changed { rule, .. } => Some(*rule),
            _ => None,
        }
    }
}

/// Counts of a transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Agents moved.
    pub agents: u64,
    /// Commit units moved.
    pub units: u64,
    /// Claims moved.
    pub claims: u64,
    /// Ledger entries moved.
    pub entries: u64,
}

impl Stats {
    fn add(&mut self, unit: &Append) {
        self.units += 1;
        self.claims += u64::try_from(unit.claims.len()).unwrap_or(u64::MAX);
        self.entries += u64::try_from(unit.entries.len()).unwrap_or(u64::MAX);
    }
}

/// How an import or copy checks what it reads.
#[derive(Clone, Copy)]
pub struct ImportOptions<'a> {
    /// The importing clock: transaction times later than its now plus one day are refused.
    pub clock: &'a dyn Clock,
    /// The largest serialised claim value accepted, in bytes (the target engine's
    /// `max_value_bytes`).
    pub max_value_bytes: usize,
    /// The longest unit line read, in bytes.
    pub max_line_bytes: usize,
}

impl Default for ImportOptions<'static> {
    /// The system clock, [`EngineConfig::default`]'s `max_value_bytes` (65 536) and
    /// [`MAX_LINE_BYTES`].
    fn default() -> Self {
        ImportOptions {
            clock: &SystemClock,
            max_value_bytes: EngineConfig::default().max_value_bytes,
            max_line_bytes: MAX_LINE_BYTES,
        }
    }
}

impl<'a> ImportOptions<'a> {
    /// The defaults with another clock.
    pub fn with_clock(clock: &'a dyn Clock) -> ImportOptions<'a> {
        ImportOptions { clock, ..ImportOptions::default() }
    }
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("now", &self.clock.now())
            .field("max_value_bytes", &self.max_value_bytes)
            .field("max_line_bytes", &self.max_line_bytes)
            .finish()
    }
}

/// What [`check_import`] found in an input that keeps every rule: its agents and unit count,
/// and the limits it was checked against. It holds no units: [`import`] reads the input again.
#[derive(Clone, Debug)]
pub struct ImportPlan {
    limits: Limits,
    max_line_bytes: usize,
    agents: Vec<AgentId>,
    units: u64,
}

impl ImportPlan {
    /// The agents in the input, sorted bytewise.
    pub fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.iter()
    }

    /// Units in the input.
    pub fn units(&self) -> u64 {
        self.units
    }
}

/// Reads a whole export once and checks it against every rule (see the module docs).
/// Nothing is written; memory stays bounded whatever the input.
///
/// # Errors
/// [`TransferError::Format`] naming the first bad line and its rule; i/o errors.
pub fn check_import(input: impl Read, options: &ImportOptions<'_>) -> Result<ImportPlan, TransferError> {
    let limits = Limits::new(options.clock.now(), options.max_value_bytes);
    let mut checker = Checker::new(limits);
    read::scan(input, &mut checker, options.max_line_bytes, &mut |_, _, _| Ok(()))?;
    Ok(ImportPlan {
        limits,
        max_line_bytes: options.max_line_bytes,
        agents: checker.agents().cloned().collect(),
        units: checker.units(),
    })
}

/// Writes a checked export into `ledger` (every agent of the plan must be empty there),
/// reading `input` — the same input [`check_import`] read — a second time. Every unit is
/// checked again before it is written, against the same limits.
/// `progress(done, total)` is called after each unit.
///
/// # Errors
/// [`TransferError::NotEmpty`] before anything is written; [`TransferError::Partial`] when the
/// store fails midway; [`TransferError::Changed`] when `input` is not what was checked (then
/// [`TransferError::Format`] if nothing was written yet).
pub fn import(
    ledger: &dyn Ledger,
    plan: &ImportPlan,
    input: impl Read,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, TransferError> {
    ensure_empty(ledger, &plan.agents)?;
    let total = plan.units;
    let mut stats = Stats::default();
    let mut checker = Checker::new(plan.limits);
    let scanned = read::scan(input, &mut checker, plan.max_line_bytes, &mut |line, agent, unit| {
        if plan.agents.binary_search(&agent).is_err() || stats.units >= total {
            return Err(TransferError::Changed {
                line,
                rule: Rule::Trailer,
                reason: format!("agent {:?} seq {} is not in the checked input", agent.as_str(), unit.seq),
                written: stats.units,
                total,
            });
        }
        write_counted(ledger, &agent, &unit, total, &mut stats, progress)
    });
    match scanned {
        Ok(lines) if stats.units != total => Err(TransferError::Changed {
            line: lines,
            rule: Rule::Trailer,
            reason: format!("it holds {} unit(s), the checked input {total}", stats.units),
            written: stats.units,
            total,
        }),
        Ok(_) => {
            stats.agents = u64::try_from(plan.agents.len()).unwrap_or(u64::MAX);
            Ok(stats)
        }
        Err(TransferError::Format { line, rule, reason }) if stats.units > 0 => {
            Err(TransferError::Changed { line, rule, reason, written: stats.units, total })
        }
        Err(e) => Err(e),
    }
}

/// [`check_import`] then [`import`] over one seekable input (a file): the input is read
/// twice, never held in memory.
///
/// # Errors
/// As [`check_import`] and [`import`].
pub fn import_from<R: Read + Seek>(
    ledger: &dyn Ledger,
    mut input: R,
    options: &ImportOptions<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, TransferError> {
    let plan = check_import(&mut input, options)?;
    input.seek(SeekFrom::Start(0))?;
    import(ledger, &plan, input, progress)
}

#[cfg(test)]
mod tests;
