//! Moving units between stores and files: export, writing checked units, copy and verify.

use std::io::Write;
use std::sync::Arc;

use super::rules::{Checker, Limits};
use super::{EndCounts, FORMAT, Header, ImportOptions, Stats, Trailer, TransferError, UnitLine, VERSION};
use crate::ledger::read_with;
use crate::time::Clock;
use crate::{
    AgentId, Append, AsOf, AuditQuery, ClaimEngine, Engine, Error, Ledger, ManualClock, RecallQuery,
    SystemClock,
};

/// Units read per page when exporting or copying.
const PAGE: usize = 256;

/// The agents to move: `only`, or every agent of the store.
fn agents_of(ledger: &dyn Ledger, only: Option<&AgentId>) -> Result<Vec<AgentId>, Error> {
    match only {
        // That agent alone is read: the store is not listed.
        Some(a) if head_seq(ledger, a)? > 0 => Ok(vec![a.clone()]),
        Some(a) => {
            Err(Error::NotFound { what: format!("agent {:?} (it has no rows in the store)", a.as_str()) })
        }
        None => ledger.agents(),
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
    f: impl FnMut(Append) -> Result<(), TransferError>,
) -> Result<u64, TransferError> {
    let head = head_seq(ledger, agent)?;
    for_each_unit_upto(ledger, agent, head, f)
}

/// Calls `f` with the units 1 to `head` of `agent`, in seq order.
fn for_each_unit_upto(
    ledger: &dyn Ledger,
    agent: &AgentId,
    head: u64,
    mut f: impl FnMut(Append) -> Result<(), TransferError>,
) -> Result<u64, TransferError> {
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
    export_agents(ledger, agents_of(ledger, only)?, out)
}

/// Checks every stored unit of `agent` with the rules an import applies (gap-free seq,
/// increasing transaction times within the clock's now + 1 day, every row as strict as a live
/// write, every unit consistent): what `doctor` runs on each agent. Returns the agent's counts.
///
/// # Errors
/// [`TransferError::Source`] naming the first unit that breaks a rule; store errors.
pub fn check_agent(
    ledger: &dyn Ledger,
    agent: &AgentId,
    options: &ImportOptions<'_>,
) -> Result<Stats, TransferError> {
    let mut checker = Checker::new(Limits::new(options.clock.now(), options.max_value_bytes));
    let mut stats = Stats { agents: 1, ..Stats::default() };
    for_each_unit(ledger, agent, |unit| {
        check_stored(&mut checker, agent, &unit)?;
        stats.add(&unit);
        Ok(())
    })?;
    Ok(stats)
}

/// Checks one unit read from a store; a violation is [`TransferError::Source`].
fn check_stored(checker: &mut Checker, agent: &AgentId, unit: &Append) -> Result<(), TransferError> {
    checker.check(agent, unit).map_err(|v| TransferError::Source {
        agent: agent.as_str().to_owned(),
        seq: unit.seq,
        rule: v.rule,
        reason: v.reason,
    })
}

/// Writes the export of every agent that can be read, from one listing of the store
/// ([`Ledger::survey`]): an agent whose head cannot be read is skipped and returned with its
/// error, and what the listing could not name an agent for is returned too — damage stays
/// local (SPEC §5.0). The file is a complete, valid export of the agents it holds.
///
/// # Errors
/// Store errors of the listing, or of an agent that fails after its first unit was written
/// (the output then has no trailer, so import refuses it); i/o errors.
pub fn export_readable(ledger: &dyn Ledger, out: &mut dyn Write) -> Result<ReadableExport, TransferError> {
    let survey = ledger.survey()?;
    let (mut readable, mut skipped) = (Vec::new(), Vec::new());
    for agent in survey.agents {
        match head_seq(ledger, &agent) {
            Ok(_) => readable.push(agent),
            Err(e) => skipped.push((agent, e)),
        }
    }
    let stats = export_agents(ledger, readable, out)?;
    Ok(ReadableExport { stats, skipped, damaged: survey.damaged })
}

/// What [`export_readable`] wrote and what it left out.
#[derive(Debug)]
pub struct ReadableExport {
    /// The counts of what was written.
    pub stats: Stats,
    /// Listed agents whose rows could not be read, with the error.
    pub skipped: Vec<(AgentId, Error)>,
    /// What the listing could not name an agent for.
    pub damaged: Vec<crate::ledger::DamagedAgent>,
}

fn export_agents(
    ledger: &dyn Ledger,
    agents: Vec<AgentId>,
    out: &mut dyn Write,
) -> Result<Stats, TransferError> {
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

/// Refuses agents that already have rows in `ledger`.
pub(super) fn ensure_empty<'a>(
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
pub(super) fn write_counted(
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
/// Copies every unit of `only` (or every agent) from `from` into `to`, whose agents must be
/// empty, then checks that both stores answer identically ([`verify`]).
/// `progress(done, total)` is called after each unit.
///
/// # Errors
/// As [`copy_units`], plus [`TransferError::Mismatch`] when verification fails.
pub fn copy(
    from: &dyn Ledger,
    to: &dyn Ledger,
    only: Option<&AgentId>,
    options: &ImportOptions<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, TransferError> {
    let (stats, agents) = copy_units(from, to, only, options, progress)?;
    verify(from, to, &agents)?;
    Ok(stats)
}

/// [`copy`] without the verification: returns the counts and the agents copied (to pass to
/// [`verify`]).
///
/// Two passes over the source: the first checks every unit up to each agent's head against
/// the same rules as an import file (see [`Rule`](super::Rule)), keeping only per-agent state; the
/// second writes those units. A source unit that breaks a rule is refused before anything is
/// written.
///
/// # Errors
/// [`TransferError::NotEmpty`] or [`TransferError::Source`] before anything is written;
/// [`TransferError::Partial`] when the target fails midway.
pub fn copy_units(
    from: &dyn Ledger,
    to: &dyn Ledger,
    only: Option<&AgentId>,
    options: &ImportOptions<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Stats, Vec<AgentId>), TransferError> {
    let agents = agents_of(from, only)?;
    ensure_empty(to, &agents)?;
    let mut checker = Checker::new(Limits::new(options.clock.now(), options.max_value_bytes));
    let mut heads = Vec::with_capacity(agents.len());
    for agent in &agents {
        let head = head_seq(from, agent)?;
        for_each_unit_upto(from, agent, head, |unit| check_stored(&mut checker, agent, &unit))?;
        heads.push(head);
    }
    drop(checker);
    let total = heads.iter().sum();
    let mut stats = Stats::default();
    // The units up to each head were checked above; a store only ever appends, so they are
    // the units written now.
    for (agent, &head) in agents.iter().zip(&heads) {
        stats.agents += 1;
        for_each_unit_upto(from, agent, head, |unit| {
            write_counted(to, agent, &unit, total, &mut stats, progress)
        })?;
    }
    Ok((stats, agents))
}

/// Checks that two stores hold the same units for `agents` and give identical recall (every
/// line), history (every line) and audit (every entry) answers.
///
/// # Errors
/// [`TransferError::Mismatch`] naming the first difference; store errors.
pub fn verify(a: &dyn Ledger, b: &dyn Ledger, agents: &[AgentId]) -> Result<(), TransferError> {
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
