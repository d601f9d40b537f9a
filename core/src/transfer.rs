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
//! * Line 1 is the header; [`import`] refuses a missing header, another `format` or another
//!   `version`.
//! * Every other line is one commit unit ([`Append`], serialised with serde) of one agent:
//!   every row the unit appended, with original ids, `seq` and `tx_time`. Times are integer
//!   microseconds since the Unix epoch. Agents appear in bytewise order, each agent's units in
//!   `seq` order (1, 2, 3, … with no gap).
//! * The last line is the trailer `{"end":{"agents":A,"units":N}}`. A file without it, with
//!   lines after it, or whose counts disagree with it is truncated or damaged and is refused
//!   (so a file cut exactly at a line boundary is caught too).
//! * Importing goes through [`Ledger::write`], one unit at a time, so each unit stays atomic
//!   and gets exactly its original `seq`.
//!
//! # Import safety
//! [`parse_import`] reads and checks the whole input before anything is written: the header,
//! that every line is a complete JSON unit (a truncated file fails), that each agent's units
//! run 1, 2, 3, … (a duplicated or missing row fails, naming the line), that every row of a
//! unit carries the unit's `seq`, `tx_time` and agent, and that `tx_time` strictly increases.
//! [`import`] then refuses agents that already have rows in the target store (import is for an
//! empty store) before writing anything. Only a store failure in the middle of the writes can
//! leave a partial import; the error says so.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::Arc;

use crate::ledger::read_with;
use crate::{
    AgentId, Append, AsOf, AuditQuery, ClaimEngine, Engine, Error, Ledger, ManualClock, RecallQuery,
    SystemClock,
};
use serde::{Deserialize, Serialize};

/// The `format` of the header line.
pub const FORMAT: &str = "credence-export";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// Units read per page when exporting or copying.
const PAGE: usize = 256;

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
    /// The input is not a valid export; nothing was written.
    #[error("line {line}: {reason}; nothing was imported")]
    Format {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
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

/// The agents to move: `only`, or every agent of the store.
fn agents_of(ledger: &dyn Ledger, only: Option<&AgentId>) -> Result<Vec<AgentId>, Error> {
    let all = ledger.agents()?;
    match only {
        Some(a) if all.contains(a) => Ok(vec![a.clone()]),
        Some(a) => Err(Error::NotFound {
            what: format!("agent {:?} (the store has {} agent(s))", a.as_str(), all.len()),
        }),
        None => Ok(all),
    }
}

/// The newest seq of an agent (0 when empty).
pub fn head_seq(ledger: &dyn Ledger, agent: &AgentId) -> Result<u64, Error> {
    Ok(read_with(ledger, agent, |view| view.head())?.map_or(0, |h| h.seq))
}

/// Calls `f` with every unit of `agent` up to its head when the call started, in seq order.
fn for_each_unit(
    ledger: &dyn Ledger,
    agent: &AgentId,
    mut f: impl FnMut(Append) -> Result<(), TransferError>,
) -> Result<u64, TransferError> {
    let head = head_seq(ledger, agent)?;
    let mut after = 0;
    while after < head {
        let page = read_with(ledger, agent, |view| view.units(after, PAGE))?;
        if page.is_empty() {
            return Err(Error::corrupt(
                ledger.backend(),
                format!("agent {agent}: units after seq {after} are missing"),
            )
            .into());
        }
        for unit in page {
            if unit.seq > head {
                return Ok(head);
            }
            if after.checked_add(1) != Some(unit.seq) {
                return Err(Error::corrupt(
                    ledger.backend(),
                    format!("agent {agent}: unit seq {} follows seq {after}", unit.seq),
                )
                .into());
            }
            after = unit.seq;
            f(unit)?;
        }
    }
    Ok(head)
}

/// Writes the export of `only` (or every agent) to `out`.
///
/// # Errors
/// Store and i/o errors.
pub fn export(
    ledger: &dyn Ledger,
    only: Option<&AgentId>,
    out: &mut dyn Write,
) -> Result<Stats, TransferError> {
    let agents = agents_of(ledger, only)?;
    let header = Header { format: FORMAT.into(), version: VERSION };
    serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    let mut stats = Stats::default();
    for agent in agents {
        stats.agents += 1;
        for_each_unit(ledger, &agent, |unit| {
            stats.add(&unit);
            let line = UnitLine { agent: agent.clone(), unit };
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
            Ok(())
        })?;
    }
    let trailer = Trailer { end: EndCounts { agents: stats.agents, units: stats.units } };
    serde_json::to_writer(&mut *out, &trailer).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(stats)
}

/// A checked export, ready to be written by [`import`].
#[derive(Clone, Debug, Default)]
pub struct ImportPlan {
    agents: BTreeMap<AgentId, Vec<Append>>,
}

impl ImportPlan {
    /// The agents in the input.
    pub fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.keys()
    }

    /// Units in the input.
    pub fn units(&self) -> u64 {
        self.agents.values().map(|u| u64::try_from(u.len()).unwrap_or(u64::MAX)).sum()
    }
}

/// Reads and checks a whole export (see the module docs). Nothing is written.
///
/// # Errors
/// [`TransferError::Format`] naming the first bad line; i/o errors.
pub fn parse_import(input: impl BufRead) -> Result<ImportPlan, TransferError> {
    let bad = |line: usize, reason: String| TransferError::Format { line, reason };
    let mut plan = ImportPlan::default();
    let mut last: BTreeMap<AgentId, (u64, crate::Timestamp)> = BTreeMap::new();
    let mut claim_refs = HashSet::new();
    let mut saw_header = false;
    let mut trailer: Option<Trailer> = None;
    let mut trailer_line = 0;
    let mut last_line = 0;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => bad(n, "not UTF-8 text".into()),
            _ => TransferError::Io(e),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        if !saw_header {
            let header: Header = serde_json::from_str(&line).map_err(|e| {
                bad(n, format!("expected the header {{\"format\":\"{FORMAT}\",\"version\":{VERSION}}} ({e})"))
            })?;
            if header.format != FORMAT {
                return Err(bad(n, format!("format {:?} is not {FORMAT:?}", header.format)));
            }
            if header.version != VERSION {
                return Err(bad(
                    n,
                    format!(
                        "export version {} is not supported (this build reads version {VERSION})",
                        header.version
                    ),
                ));
            }
            saw_header = true;
            continue;
        }
        if let Some(end) = trailer {
            return Err(bad(n, format!("a line follows the trailer {}", json_of(&end))));
        }
        let parsed: UnitLine = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                if let Ok(t) = serde_json::from_str::<Trailer>(&line) {
                    trailer = Some(t);
                    trailer_line = n;
                    continue;
                }
                let hint = if e.is_eof() { " (the line is cut short: is the file truncated?)" } else { "" };
                return Err(bad(n, format!("not a valid unit line: {e}{hint}")));
            }
        };
        let UnitLine { agent, unit } = parsed;
        let (prev_seq, prev_tx) = last.get(&agent).copied().unwrap_or((0, crate::Timestamp(i64::MIN)));
        if prev_seq.checked_add(1) != Some(unit.seq) {
            let what =
                if unit.seq <= prev_seq { "a duplicated or out-of-order row" } else { "units are missing" };
            return Err(bad(
                n,
                format!(
                    "agent {:?}: unit seq {} does not follow seq {prev_seq} ({what})",
                    agent.as_str(),
                    unit.seq
                ),
            ));
        }
        if unit.tx_time <= prev_tx {
            return Err(bad(
                n,
                format!("agent {:?}: tx_time of seq {} does not increase", agent.as_str(), unit.seq),
            ));
        }
        check_unit(&agent, &unit).map_err(|reason| bad(n, reason))?;
        for claim in &unit.claims {
            if !claim_refs.insert((agent.clone(), claim.claim_ref)) {
                return Err(bad(n, format!("claim {} appears twice", claim.claim_ref)));
            }
        }
        last.insert(agent.clone(), (unit.seq, unit.tx_time));
        plan.agents.entry(agent).or_default().push(unit);
    }
    if !saw_header {
        return Err(bad(
            1,
            format!(
                "the input is empty: expected the header {{\"format\":\"{FORMAT}\",\"version\":{VERSION}}}"
            ),
        ));
    }
    let Some(end) = trailer else {
        return Err(bad(
            last_line + 1,
            "the file ends without its trailer line {\"end\":{…}}: it is truncated".to_owned(),
        ));
    };
    let agents = u64::try_from(plan.agents.len()).unwrap_or(u64::MAX);
    if end.end.units != plan.units() || end.end.agents != agents {
        return Err(bad(
            trailer_line,
            format!(
                "the trailer counts {} agent(s) and {} unit(s) but the file holds {agents} and {}: lines are missing",
                end.end.agents,
                end.end.units,
                plan.units()
            ),
        ));
    }
    Ok(plan)
}

fn json_of<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Every row of a unit must carry its seq, tx_time and agent.
fn check_unit(agent: &AgentId, unit: &Append) -> Result<(), String> {
    let seq = unit.seq;
    let wrong =
        |what: &str| Err(format!("agent {:?} seq {seq}: {what} does not match its unit", agent.as_str()));
    if unit.claims.iter().any(|c| c.seq != seq || c.tx_time != unit.tx_time) {
        return wrong("a claim's seq or tx_time");
    }
    if unit.claims.iter().any(|c| &c.agent_id != agent) {
        return wrong("a claim's agent");
    }
    if unit.assertions.iter().any(|a| a.seq != seq || a.at != unit.tx_time) {
        return wrong("an assertion's seq or time");
    }
    if unit.edges.iter().any(|e| e.seq != seq) {
        return wrong("an edge's seq");
    }
    if unit.entries.iter().any(|e| e.seq != seq || e.recorded_at != unit.tx_time) {
        return wrong("a ledger entry's seq or time");
    }
    if unit.entries.iter().enumerate().any(|(i, e)| usize::try_from(e.index).ok() != Some(i)) {
        return wrong("a ledger entry's index");
    }
    if unit.adjudications.iter().any(|a| a.seq != seq || &a.agent_id != agent) {
        return wrong("an adjudication row's seq or agent");
    }
    Ok(())
}

/// Refuses agents that already have rows in `ledger`.
fn ensure_empty<'a>(
    ledger: &dyn Ledger,
    agents: impl IntoIterator<Item = &'a AgentId>,
) -> Result<(), TransferError> {
    for agent in agents {
        let units = head_seq(ledger, agent)?;
        if units > 0 {
            return Err(TransferError::NotEmpty { agent: agent.as_str().to_owned(), units });
        }
    }
    Ok(())
}

/// Writes one unit with exactly its seq.
fn write_unit(ledger: &dyn Ledger, agent: &AgentId, unit: &Append) -> Result<(), Error> {
    let head = ledger.write(agent, &mut |view| {
        let head = view.head()?.map_or(0, |h| h.seq);
        if head.checked_add(1) != Some(unit.seq) {
            return Err(Error::Conflict {
                backend: "import",
                reason: format!(
                    "agent {agent}: unit seq {} does not follow the store's head {head}",
                    unit.seq
                ),
            });
        }
        Ok(Some(unit.clone()))
    })?;
    match head {
        Some(h) if h.seq == unit.seq => Ok(()),
        other => Err(Error::Conflict {
            backend: "import",
            reason: format!("agent {agent}: writing seq {} returned head {other:?}", unit.seq),
        }),
    }
}

/// [`write_unit`], then counts the unit in `stats` and reports `progress`; a store failure is
/// [`TransferError::Partial`] with the units written so far out of `total`.
fn write_counted(
    ledger: &dyn Ledger,
    agent: &AgentId,
    unit: &Append,
    total: u64,
    stats: &mut Stats,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), TransferError> {
    write_unit(ledger, agent, unit).map_err(|source| TransferError::Partial {
        written: stats.units,
        total,
        agent: agent.as_str().to_owned(),
        seq: unit.seq,
        source,
    })?;
    stats.add(unit);
    progress(stats.units, total);
    Ok(())
}

/// Writes a checked export into `ledger` (every agent must be empty there).
/// `progress(done, total)` is called after each unit.
///
/// # Errors
/// [`TransferError::NotEmpty`] before anything is written; [`TransferError::Partial`] when the
/// store fails midway.
pub fn import(
    ledger: &dyn Ledger,
    plan: &ImportPlan,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, TransferError> {
    ensure_empty(ledger, plan.agents.keys())?;
    let total = plan.units();
    let mut stats = Stats::default();
    for (agent, units) in &plan.agents {
        stats.agents += 1;
        for unit in units {
            write_counted(ledger, agent, unit, total, &mut stats, progress)?;
        }
    }
    Ok(stats)
}

/// Streams every unit of `only` (or every agent) from `from` into `to`, whose agents must be
/// empty, then checks that both stores answer identically ([`verify`]).
/// `progress(done, total)` is called after each unit.
///
/// # Errors
/// As [`import`], plus [`TransferError::Mismatch`] when verification fails.
pub fn copy(
    from: &dyn Ledger,
    to: &dyn Ledger,
    only: Option<&AgentId>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, TransferError> {
    let (stats, agents) = copy_units(from, to, only, progress)?;
    verify(from, to, &agents)?;
    Ok(stats)
}

/// [`copy`] without the verification: returns the counts and the agents copied (to pass to
/// [`verify`]).
///
/// # Errors
/// As [`import`].
pub fn copy_units(
    from: &dyn Ledger,
    to: &dyn Ledger,
    only: Option<&AgentId>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Stats, Vec<AgentId>), TransferError> {
    let agents = agents_of(from, only)?;
    ensure_empty(to, &agents)?;
    let mut total = 0;
    for agent in &agents {
        total += head_seq(from, agent)?;
    }
    let mut stats = Stats::default();
    for agent in &agents {
        stats.agents += 1;
        for_each_unit(from, agent, |unit| write_counted(to, agent, &unit, total, &mut stats, progress))?;
    }
    Ok((stats, agents))
}

/// Checks that two stores hold the same units for `agents` and give identical recall (every
/// line), history (every line) and audit (every entry) answers.
///
/// # Errors
/// [`TransferError::Mismatch`] naming the first difference; store errors.
pub fn verify(a: &dyn Ledger, b: &dyn Ledger, agents: &[AgentId]) -> Result<(), TransferError> {
    use crate::Clock;
    // One frozen clock for both, so currency is computed against the same instant.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let ea = Engine::builder(a).clock(clock.clone()).build()?;
    let eb = Engine::builder(b).clock(clock).build()?;
    let mismatch = |what: String| Err(TransferError::Mismatch(what));
    for agent in agents {
        let (mut ua, mut ub) = (Vec::new(), Vec::new());
        for_each_unit(a, agent, |u| {
            ua.push(u);
            Ok(())
        })?;
        for_each_unit(b, agent, |u| {
            ub.push(u);
            Ok(())
        })?;
        if ua != ub {
            return mismatch(format!("agent {agent}: the stored units differ"));
        }
        let mut lines: Vec<(String, String)> = ua
            .iter()
            .flat_map(|u| u.claims.iter().map(|c| (c.subject.clone(), c.predicate.clone())))
            .collect();
        lines.sort();
        lines.dedup();
        for (subject, predicate) in &lines {
            let q = RecallQuery::new(agent.as_str(), subject.as_str(), predicate.as_str());
            if ea.recall(&q)? != eb.recall(&q)? {
                return mismatch(format!("agent {agent}: recall of ({subject}, {predicate}) differs"));
            }
            let (ha, hb) = (
                ea.history(agent.as_str(), subject, predicate, AsOf::Now)?,
                eb.history(agent.as_str(), subject, predicate, AsOf::Now)?,
            );
            if ha != hb {
                return mismatch(format!("agent {agent}: history of ({subject}, {predicate}) differs"));
            }
        }
        let mut query = AuditQuery { limit: 1000, ..AuditQuery::default() };
        loop {
            let (pa, pb) = (ea.audit(agent.as_str(), &query)?, eb.audit(agent.as_str(), &query)?);
            if pa != pb {
                return mismatch(format!("agent {agent}: the audit trail differs"));
            }
            match pa.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        if ea.pending(Some(agent.as_str()))? != eb.pending(Some(agent.as_str()))? {
            return mismatch(format!("agent {agent}: pending adjudications differ"));
        }
    }
    Ok(())
}
