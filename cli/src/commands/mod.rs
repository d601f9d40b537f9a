//! The commands: [`run`] hands each one to its function, grouped by what it does.
//!
//! * [`reads`]: `recall`, `history`, `subject`, `audit`, `lineage`, `agents`.
//! * [`writes`]: `remember`, `resolve`, `invalidate`, `reinstate`.
//! * [`adjudication`]: `pending`, `adjudicate`, `sweep`.
//! * [`transfer`]: `export`, `import`, `copy`.
//! * [`operators`]: `doctor`, `conformance`.
//!
//! The steps every command shares live here: opening the store (and refusing an agent it has
//! no rows for), printing a result as JSON or as text, parsing the arguments the engine takes,
//! and reporting the damaged agents a store-wide command skipped.

mod adjudication;
mod operators;
mod reads;
mod transfer;
mod writes;

use credence::credence_core::DamagedAgent;
use credence::{AgentId, AsOf, ClaimRef, Credence, OpenOptions, Timestamp, parse_date};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::{AsOfArgs, Cli, Command, DEFAULT_STORE};
use crate::output::{print_json, print_text};

pub(crate) fn run(cli: Cli) -> Result<(), Failure> {
    let g = Globals { url: cli.store.clone().unwrap_or_else(|| DEFAULT_STORE.to_owned()), json: cli.json };
    match cli.command {
        Command::Remember(args) => writes::remember(&g, args),
        Command::Recall { agent, subject, predicate, as_of, valid_at } => {
            reads::recall(&g, &agent, &subject, &predicate, &as_of, valid_at.as_deref())
        }
        Command::History { agent, subject, predicate, as_of, limit } => {
            reads::history(&g, &agent, (&subject, &predicate), &as_of, limit)
        }
        Command::Subject { agent, subject, as_of, valid_at } => {
            reads::subject(&g, &agent, &subject, &as_of, valid_at.as_deref())
        }
        #[cfg(feature = "mcp")]
        Command::Mcp { agent, read_only, http, token, ttl, metrics } => {
            operators::mcp(&g, &agent, read_only, (http, token, metrics), ttl)
        }
        Command::Subjects { agent, prefix, limit } => reads::subjects(&g, &agent, prefix, limit),
        Command::Search { agent, text, as_of, limit } => reads::search(&g, &agent, &text, &as_of, limit),
        Command::Audit { agent, claim, limit, newest_first } => {
            reads::audit(&g, &agent, claim.as_deref(), limit, newest_first)
        }
        Command::Lineage { agent, claim } => reads::lineage(&g, &agent, &claim),
        Command::Agents => reads::agents(&g),
        Command::Resolve { agent, subject, predicate, winner, idempotency_key } => {
            writes::resolve(&g, &agent, &subject, &predicate, &winner, idempotency_key)
        }
        Command::Invalidate { agent, claim, reason, idempotency_key } => {
            writes::invalidate(&g, &agent, &claim, &reason, idempotency_key)
        }
        Command::Reinstate { agent, claim, idempotency_key } => {
            writes::reinstate(&g, &agent, &claim, idempotency_key)
        }
        Command::Pending { agent } => adjudication::pending(&g, agent.as_deref()),
        Command::Adjudicate { handle, verdict, agent, evidence, idempotency_key } => {
            adjudication::adjudicate(&g, &handle, verdict, agent, evidence, idempotency_key)
        }
        Command::Sweep { now } => adjudication::sweep(&g, now.as_deref()),
        Command::Export { agent } => transfer::export(&g, agent.as_deref()),
        Command::Import { file } => transfer::import(&g, file.as_deref()),
        Command::Copy { to, agent } => transfer::copy(&g, &to, agent.as_deref()),
        Command::Doctor => operators::doctor(&g),
        Command::Reindex { agent } => operators::reindex(&g, agent.as_deref()),
        Command::Conformance { filter, threads, model_cases } => {
            operators::conformance(&g, filter.as_deref(), threads, model_cases)
        }
        Command::Demo => crate::demo::run(cli.store.as_deref(), cli.json),
    }
}

/// The options every command shares: the store and the output form.
struct Globals {
    /// The store URL (`--store`, `CREDENCE_STORE`, or the default).
    url: String,
    /// `--json`: one JSON document on stdout instead of text.
    json: bool,
}

impl Globals {
    /// Opens the store with the default engine settings.
    fn open(&self) -> Result<Credence, Failure> {
        Ok(credence::open(&self.url)?)
    }

    /// Opens the store with other engine settings.
    fn open_with(&self, options: OpenOptions) -> Result<Credence, Failure> {
        Ok(credence::open_with(&self.url, options)?)
    }

    /// Opens the store for a command about `agent`, refusing an agent it has no rows for.
    fn open_for(&self, agent: &str) -> Result<Credence, Failure> {
        let c = self.open()?;
        known_agent(&c, agent)?;
        Ok(c)
    }

    /// Prints a result: the document under `--json`, else the text. Only the one printed is
    /// built.
    fn show(&self, doc: impl FnOnce() -> Value, text: impl FnOnce() -> String) -> Result<(), Failure> {
        if self.json { print_json(&doc()) } else { print_text(&text()) }
    }
}

/// Fails unless `agent` has rows. Reads that agent alone (its head): the cost does not grow
/// with the store, and a damaged other agent cannot fail it.
fn known_agent(c: &Credence, agent: &str) -> Result<(), Failure> {
    let id = agent_id(agent)?;
    if credence::transfer::head_seq(c.ledger().as_ref(), &id)? > 0 {
        return Ok(());
    }
    Err(Failure::Store(format!(
        "unknown agent {agent:?}: the store {} has no rows for it (`credence agents` lists them)",
        c.url()
    )))
}

fn agent_id(s: &str) -> Result<AgentId, Failure> {
    AgentId::new(s).map_err(|e| Failure::Usage(format!("invalid agent id {s:?}: {e}")))
}

fn parse_ref(s: &str) -> Result<ClaimRef, Failure> {
    s.trim().parse::<ClaimRef>().map_err(|e| Failure::Usage(format!("invalid claim ref {s:?}: {e}")))
}

/// The transaction-time point `--as-of` / `--as-of-seq` name (now when neither is given).
fn as_of_point(a: &AsOfArgs) -> Result<AsOf, Failure> {
    Ok(match (&a.as_of, a.as_of_seq) {
        (Some(t), _) => AsOf::Time(parse_date(t)?.0),
        (None, Some(n)) => AsOf::Seq(n),
        (None, None) => AsOf::Now,
    })
}

/// The valid-time point `--valid-at` names, if given.
fn valid_at_point(valid_at: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    Ok(valid_at.map(parse_date).transpose()?.map(|p| p.0))
}

/// One store-wide command's damaged agents, as a report entry each: the listed agents that
/// `failed`, then what the store's listing could not name an agent for (`Ledger::survey`).
fn damage_report(failed: Vec<(AgentId, credence::Error)>, unlisted: Vec<DamagedAgent>) -> Vec<Value> {
    let mut out: Vec<Value> = failed
        .into_iter()
        .map(|(a, e)| json!({"agent": a, "error": e.to_string(), "retryable": e.is_retryable()}))
        .collect();
    out.extend(unlisted.into_iter().map(|d| json!({"file": d.name, "error": d.reason, "retryable": false})));
    out
}

/// The name a damage entry goes by: its agent, else its file.
fn damaged_name(d: &Value) -> &str {
    d["agent"].as_str().or_else(|| d["file"].as_str()).unwrap_or("?")
}

/// After a store-wide command printed what it could: exit 1 naming the damaged agents, if any.
fn damage_result(what: &str, damaged: &[Value]) -> Result<(), Failure> {
    if damaged.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = damaged.iter().map(damaged_name).collect();
    Err(Failure::Store(format!(
        "{what} skipped {} damaged agent(s): {}; every other agent was served (run `credence doctor`)",
        names.len(),
        names.join(", ")
    )))
}

/// The damage entries as text lines, printed after a command's table.
fn damage_text(damaged: &[Value]) -> String {
    damaged
        .iter()
        .map(|d| format!("damaged: {}: {}\n", damaged_name(d), d["error"].as_str().unwrap_or("")))
        .collect()
}
