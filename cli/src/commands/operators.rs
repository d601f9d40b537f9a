//! Commands for whoever runs a store: `doctor`, `reindex`, `conformance`.

use std::io::IsTerminal;

use credence::doctor::{self, Level};
use credence::run_conformance::{self, CaseReport, Outcome, Report};
use serde_json::{Value, json};

use super::Globals;
use crate::Failure;
use crate::output::table;

/// `doctor`: the store's schema, settings and integrity; exits 1 when a finding is an error.
pub(super) fn doctor(g: &Globals) -> Result<(), Failure> {
    let c = g.open()?;
    let findings = doctor::check(&c);
    let broken = findings.iter().any(|f| f.level == Level::Error);
    g.show(
        || json!({"store": c.url(), "healthy": !broken, "findings": findings}),
        || {
            let rows: Vec<Vec<String>> = findings
                .iter()
                .map(|f| vec![format!("{:?}", f.level).to_uppercase(), f.check.clone(), f.detail.clone()])
                .collect();
            table(&["level", "check", "detail"], &rows)
        },
    )?;
    if broken {
        return Err(Failure::Store("the store has problems (see the findings above)".into()));
    }
    Ok(())
}

/// `reindex`: every agent's (or one agent's) indexes derived from its rows again, each agent
/// in one commit; reports how many claims each holds live.
pub(super) fn reindex(g: &Globals, only: Option<&str>) -> Result<(), Failure> {
    let c = g.open()?;
    let ledger = c.ledger();
    let agents = match only {
        Some(a) => {
            vec![credence_core::AgentId::new(a).map_err(|r| Failure::Usage(format!("agent {a:?}: {r}")))?]
        }
        None => ledger.agents()?,
    };
    let mut rebuilt = Vec::with_capacity(agents.len());
    for agent in agents {
        let live = ledger.rebuild_indexes(&agent)?;
        rebuilt.push((agent, live));
    }
    g.show(
        || {
            let agents: Vec<Value> =
                rebuilt.iter().map(|(a, live)| json!({"agent": a.as_str(), "live_claims": live})).collect();
            json!({"store": c.url(), "agents": agents})
        },
        || {
            let rows: Vec<Vec<String>> = rebuilt
                .iter()
                .map(|(a, live)| {
                    let live = live.map_or_else(|| "no index kept".to_owned(), |n| n.to_string());
                    vec![a.as_str().to_owned(), live]
                })
                .collect();
            table(&["agent", "live claims"], &rows)
        },
    )?;
    Ok(())
}

/// `conformance`: the conformance suite against the store, in scratch space; exits 1 when a
/// case failed. A failed case is named on stderr as it happens when stderr is a terminal.
pub(super) fn conformance(
    g: &Globals,
    filter: Option<&str>,
    threads: Option<usize>,
    model_cases: u32,
) -> Result<(), Failure> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let live = !g.json && std::io::stderr().is_terminal();
    let on_case = |c: &CaseReport| {
        if live && c.outcome == Outcome::Failed {
            eprintln!("FAILED {}::{}", c.area, c.case);
        }
    };
    let report = run_conformance::run(&g.url, filter, threads, model_cases, &on_case)?;
    if report.cases.is_empty() {
        return Err(Failure::Usage(format!("no case matches the filter {:?}", filter.unwrap_or(""))));
    }
    g.show(|| serde_json::to_value(&report).unwrap_or(Value::Null), || conformance_text(&report))?;
    if report.failed > 0 {
        return Err(Failure::Store(format!("{} conformance case(s) failed", report.failed)));
    }
    Ok(())
}

/// The per-area table with a total, then every case that did not pass.
fn conformance_text(report: &Report) -> String {
    let mut rows: Vec<Vec<String>> = report
        .areas
        .iter()
        .map(|a| vec![a.area.clone(), a.passed.to_string(), a.failed.to_string(), a.skipped.to_string()])
        .collect();
    rows.push(vec![
        "TOTAL".into(),
        report.passed.to_string(),
        report.failed.to_string(),
        report.skipped.to_string(),
    ]);
    let mut s = format!("conformance suite on {}\n\n", report.store);
    s.push_str(&table(&["area", "passed", "failed", "skipped"], &rows));
    for c in report.cases.iter().filter(|c| c.outcome != Outcome::Passed) {
        s.push_str(&format!(
            "\n{:?} {}::{}: {}",
            c.outcome,
            c.area,
            c.case,
            c.message.as_deref().unwrap_or("")
        ));
    }
    s.push('\n');
    s
}

#[cfg(feature = "mcp")]
/// `mcp`: serves `agent`'s memory over the Model Context Protocol until the client leaves (stdio)
/// or a shutdown signal (HTTP).
pub(super) fn mcp(
    g: &Globals,
    agent: &str,
    read_only: bool,
    (http, token, metrics): (Option<std::net::SocketAddr>, Option<String>, bool),
    ttl: Option<u64>,
) -> Result<(), Failure> {
    let agent = credence::AgentId::new(agent)
        .map_err(|e| Failure::Usage(format!("invalid --agent {agent:?}: {e}")))?;
    if token.as_deref() == Some("") {
        return Err(Failure::Usage("--token must not be empty".into()));
    }
    let options = credence::mcp::McpOptions {
        agent,
        read_only,
        http,
        token,
        adjudication_ttl: ttl.map(std::time::Duration::from_secs),
        metrics,
    };
    credence::mcp::serve(&g.url, options).map_err(|e| match e {
        credence::mcp::McpError::Usage(why) => Failure::Usage(why),
        credence::mcp::McpError::Store(e) => Failure::from(e),
        other => Failure::Store(other.to_string()),
    })
}
