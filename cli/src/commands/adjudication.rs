//! Commands of the adjudication queue: `pending`, `adjudicate`, `sweep`.
//!
//! The command line's oracle is the store itself: `remember --queue` leaves an adjudication
//! there for `pending` to list and `adjudicate` to settle; `sweep` expires the overdue ones.

use std::sync::Arc;
use std::time::Duration;

use credence::{
    Adjudication, ClaimEngine, Clock, EngineConfig, Handle, OpenOptions, Oracle, WriteOptions, parse_date,
};
use serde_json::Value;

use super::{Globals, damage_report, damage_result, damage_text};
use crate::Failure;
use crate::args::{ProvenanceArg, VerdictArg};
use crate::output::{self, table};

/// The oracle of the command line: a queued adjudication waits in the store until someone
/// runs `credence pending` and `credence adjudicate`, so "notifying" always succeeds.
struct QueueOracle;

impl Oracle for QueueOracle {
    fn request(&self, _adjudication: &Adjudication) -> Result<(), String> {
        Ok(())
    }
}

/// Engine settings that queue External contradictions, each expiring after `ttl` seconds
/// (the engine's default when `None`).
pub(super) fn queue_options(ttl: Option<u64>) -> OpenOptions {
    let config = EngineConfig { adjudication_ttl: ttl.map(Duration::from_secs), ..EngineConfig::default() };
    OpenOptions { config, oracle: Some(Arc::new(QueueOracle)), clock: None }
}

/// `pending`: open adjudications, oldest first, of one agent or of every agent (a damaged
/// agent is reported after the others are listed).
pub(super) fn pending(g: &Globals, agent: Option<&str>) -> Result<(), Failure> {
    let c = match agent {
        Some(a) => g.open_for(a)?,
        None => g.open()?,
    };
    let (list, damaged) = match agent {
        Some(a) => (c.pending(Some(a))?, Vec::new()),
        None => {
            // Agent by agent, so one damaged agent is reported and the rest still listed.
            let survey = c.ledger().survey()?;
            let (mut list, mut failed) = (Vec::new(), Vec::new());
            for a in survey.agents {
                match c.pending(Some(a.as_str())) {
                    Ok(open) => list.extend(open),
                    Err(e) => failed.push((a, e)),
                }
            }
            list.sort_by_key(|j: &Adjudication| (j.queued_at, j.handle));
            (list, damage_report(failed, survey.damaged))
        }
    };
    g.show(
        || credence::documents::pending(&list, &damaged),
        || {
            if list.is_empty() {
                return format!("no open adjudications\n{}", damage_text(&damaged));
            }
            let rows: Vec<Vec<String>> = list.iter().map(pending_row).collect();
            table(&["handle", "agent", "line", "challenger", "incumbent", "status", "expires"], &rows)
                + &damage_text(&damaged)
        },
    )?;
    damage_result("pending", &damaged)
}

fn pending_row(a: &Adjudication) -> Vec<String> {
    let inc: Vec<String> = a.incumbents.iter().map(ToString::to_string).collect();
    vec![
        a.handle.to_string(),
        a.agent_id.to_string(),
        format!("{} · {}", a.subject, a.predicate),
        a.challenger.to_string(),
        inc.join(", "),
        a.status.as_str().to_owned(),
        output::show_time(a.expires_at),
    ]
}

/// `adjudicate`: applies a verdict to an adjudication, found by its handle among the open
/// ones of every agent unless `agent` names where to look.
pub(super) fn adjudicate(
    g: &Globals,
    handle: &str,
    verdict: VerdictArg,
    agent: Option<String>,
    evidence: ProvenanceArg,
    idempotency_key: Option<String>,
) -> Result<(), Failure> {
    let handle: Handle = handle
        .trim()
        .parse()
        .map_err(|e| Failure::Usage(format!("invalid adjudication handle {handle:?}: {e}")))?;
    let c = g.open()?;
    let agent = match agent {
        Some(a) => {
            super::known_agent(&c, &a)?;
            a
        }
        // Agent by agent: a damaged agent elsewhere in the store does not stop the search.
        None => match c
            .agents()?
            .iter()
            .filter_map(|a| c.pending(Some(a.as_str())).ok())
            .flatten()
            .find(|a| a.handle == handle)
        {
            Some(a) => a.agent_id.as_str().to_owned(),
            None => {
                return Err(Failure::Store(format!(
                    "no open adjudication with handle {handle} (give --agent to look up a closed one)"
                )));
            }
        },
    };
    let options = WriteOptions { idempotency_key };
    let outcome = c.submit_adjudication_with(&agent, handle, verdict.into(), evidence.into(), &options)?;
    g.show(
        || credence::documents::adjudication_outcome(&outcome),
        || {
            let mut s =
                format!("{:?} applied to {} (seq {})\n", outcome.verdict, outcome.handle, outcome.seq);
            for (claim, d) in &outcome.dispositions {
                s.push_str(&format!("  {claim}  {}\n", d.as_str()));
            }
            s
        },
    )
}

/// `sweep`: expires overdue adjudications and notifies again; exits 1 when an agent could not
/// be swept or the store's listing found damage.
pub(super) fn sweep(g: &Globals, now: Option<&str>) -> Result<(), Failure> {
    let now = match now {
        Some(t) => parse_date(t)?.0,
        None => credence::credence_core::SystemClock.now(),
    };
    let c = g.open_with(queue_options(None))?;
    let report = c.sweep(now)?;
    let damaged = damage_report(Vec::new(), c.ledger().survey()?.damaged);
    g.show(
        || {
            let mut doc = serde_json::to_value(&report).unwrap_or(Value::Null);
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("damaged".into(), Value::Array(damaged.clone()));
            }
            doc
        },
        || {
            let mut text = format!(
                "expired {}, notified {}, still un-notified {}\n",
                report.expired, report.renotified, report.still_unnotified
            );
            for f in &report.failed {
                text += &format!("failed: agent {}: {}\n", f.agent, f.error);
            }
            text + &damage_text(&damaged)
        },
    )?;
    damage_result("sweep", &damaged)?;
    match report.failed.len() {
        0 => Ok(()),
        n => Err(Failure::Store(format!("sweep could not finish {n} agent(s); run it again to retry"))),
    }
}
