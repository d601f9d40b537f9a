//! One function per command.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credence::credence_core::DamagedAgent;
use credence::transfer::{self, ImportOptions, ImportPlan, Stats};
use credence::{
    Adjudication, AgentId, AsOf, AuditQuery, ClaimEngine, ClaimRef, Clock, Credence, Disposition,
    EngineConfig, Handle, OpenOptions, Oracle, RecallQuery, WriteOptions, WriteReceipt, parse_date,
};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::{AsOfArgs, Cli, Command, DEFAULT_STORE, RememberArgs};
use crate::output::{self, print_json, print_text, table};

/// The oracle of the command line: a queued adjudication waits in the store until someone
/// runs `credence pending` and `credence adjudicate`, so "notifying" always succeeds.
struct QueueOracle;

impl Oracle for QueueOracle {
    fn request(&self, _adjudication: &Adjudication) -> Result<(), String> {
        Ok(())
    }
}

pub(crate) fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    let url = cli.store.clone().unwrap_or_else(|| DEFAULT_STORE.to_owned());
    match cli.command {
        Command::Remember(args) => remember(&url, json, args),
        Command::Recall { agent, subject, predicate, as_of, valid_at } => {
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let mut query = RecallQuery::new(agent.as_str(), subject.as_str(), predicate.as_str());
            query.as_of = as_of_point(&as_of)?;
            query.valid_at = valid_at.as_deref().map(parse_date).transpose()?.map(|p| p.0);
            let belief = ClaimEngine::recall(&c, &query)?;
            if json {
                print_json(&output::belief_json(&belief))
            } else {
                print_text(&output::belief_text(&format!("{subject} · {predicate}"), &belief))
            }
        }
        Command::History { agent, subject, predicate, as_of } => {
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let h = c.history(&agent, &subject, &predicate, as_of_point(&as_of)?)?;
            if json {
                let entries: Vec<Value> = h.entries.iter().map(output::history_entry_json).collect();
                print_json(&json!({
                    "agent": agent, "subject": subject, "predicate": predicate,
                    "entries": entries, "belief": output::belief_json(&h.belief), "as_of_seq": h.as_of_seq,
                }))
            } else {
                let mut s = table(
                    &["seq", "claim", "value", "status", "disposition", "provenance", "valid"],
                    &output::history_rows(&h.entries),
                );
                s.push('\n');
                s.push_str(&output::belief_text("belief", &h.belief));
                print_text(&s)
            }
        }
        Command::Subject { agent, subject, as_of, valid_at } => {
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let valid_at = valid_at.as_deref().map(parse_date).transpose()?.map(|p| p.0);
            let beliefs = c.subject(&agent, &subject, as_of_point(&as_of)?, valid_at)?;
            if json {
                let preds: Vec<Value> = beliefs
                    .iter()
                    .map(|(p, b)| json!({"predicate": p, "belief": output::belief_json(b)}))
                    .collect();
                print_json(&json!({"agent": agent, "subject": subject, "predicates": preds}))
            } else {
                let s: String = beliefs.iter().map(|(p, b)| output::belief_text(p, b)).collect();
                print_text(if s.is_empty() { "no claims about this subject\n" } else { &s })
            }
        }
        Command::Audit { agent, claim, limit, newest_first } => {
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let claim_ref = claim.as_deref().map(parse_ref).transpose()?;
            if limit == Some(0) {
                return Err(Failure::Usage("--limit must be at least 1".into()));
            }
            let mut entries = Vec::new();
            let mut query =
                AuditQuery { claim_ref, after: None, limit: limit.unwrap_or(1000).min(1000), newest_first };
            loop {
                let page = c.audit(&agent, &query)?;
                entries.extend(page.entries);
                if let Some(l) = limit
                    && entries.len() >= l
                {
                    entries.truncate(l);
                    break;
                }
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
            if json {
                let list: Vec<Value> = entries.iter().map(output::audit_entry_json).collect();
                print_json(&json!({"agent": agent, "entries": list}))
            } else {
                print_text(&table(
                    &["seq", "claim", "event", "disposition", "rationale", "recorded_at"],
                    &output::audit_rows(&entries),
                ))
            }
        }
        Command::Pending { agent } => {
            let c = open(&url)?;
            if let Some(a) = &agent {
                known_agent(&c, a)?;
            }
            let (list, damaged) = match &agent {
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
            let printed = if json {
                let adj: Vec<Value> = list.iter().map(output::adjudication_json).collect();
                print_json(&json!({"adjudications": adj, "damaged": damaged}))
            } else if list.is_empty() {
                print_text(&format!("no open adjudications\n{}", damage_text(&damaged)))
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|a| {
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
                    })
                    .collect();
                print_text(
                    &(table(
                        &["handle", "agent", "line", "challenger", "incumbent", "status", "expires"],
                        &rows,
                    ) + &damage_text(&damaged)),
                )
            };
            printed?;
            damage_result("pending", &damaged)
        }
        Command::Adjudicate { handle, verdict, agent, evidence, idempotency_key } => {
            let handle: Handle = handle
                .trim()
                .parse()
                .map_err(|e| Failure::Usage(format!("invalid adjudication handle {handle:?}: {e}")))?;
            let c = open(&url)?;
            let agent = match agent {
                Some(a) => {
                    known_agent(&c, &a)?;
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
            let outcome =
                c.submit_adjudication_with(&agent, handle, verdict.into(), evidence.into(), &options)?;
            if json {
                print_json(&serde_json::to_value(&outcome).unwrap_or(Value::Null))
            } else {
                let mut s =
                    format!("{:?} applied to {} (seq {})\n", outcome.verdict, outcome.handle, outcome.seq);
                for (claim, d) in &outcome.dispositions {
                    s.push_str(&format!("  {claim}  {}\n", d.as_str()));
                }
                print_text(&s)
            }
        }
        Command::Sweep { now } => {
            let now = match now.as_deref() {
                Some(t) => parse_date(t)?.0,
                None => credence::credence_core::SystemClock.now(),
            };
            let c = open_with(&url, queue_options(None))?;
            let report = c.sweep(now)?;
            let damaged = damage_report(Vec::new(), c.ledger().survey()?.damaged);
            if json {
                let mut doc = serde_json::to_value(&report).unwrap_or(Value::Null);
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert("damaged".into(), Value::Array(damaged.clone()));
                }
                print_json(&doc)?;
            } else {
                let mut text = format!(
                    "expired {}, notified {}, still un-notified {}\n",
                    report.expired, report.renotified, report.still_unnotified
                );
                for f in &report.failed {
                    text += &format!("failed: agent {}: {}\n", f.agent, f.error);
                }
                print_text(&(text + &damage_text(&damaged)))?;
            }
            damage_result("sweep", &damaged)?;
            match report.failed.len() {
                0 => Ok(()),
                n => {
                    Err(Failure::Store(format!("sweep could not finish {n} agent(s); run it again to retry")))
                }
            }
        }
        Command::Resolve { agent, subject, predicate, winner, idempotency_key } => {
            let winner = parse_ref(&winner)?;
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let options = WriteOptions { idempotency_key };
            write_result(json, c.resolve_with(&agent, &subject, &predicate, winner, &options)?)
        }
        Command::Invalidate { agent, claim, reason, idempotency_key } => {
            let claim = parse_ref(&claim)?;
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            write_result(json, c.invalidate_with(&agent, claim, &reason, &WriteOptions { idempotency_key })?)
        }
        Command::Reinstate { agent, claim, idempotency_key } => {
            let claim = parse_ref(&claim)?;
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            write_result(json, c.reinstate_with(&agent, claim, &WriteOptions { idempotency_key })?)
        }
        Command::Lineage { agent, claim } => {
            let claim = parse_ref(&claim)?;
            let c = open(&url)?;
            known_agent(&c, &agent)?;
            let steps = c.lineage(&agent, claim)?;
            if json {
                let list: Vec<Value> = steps
                    .iter()
                    .map(|s| {
                        json!({"depth": s.depth, "claim_ref": s.claim.claim_ref, "subject": s.claim.subject,
                               "predicate": s.claim.predicate, "value": s.claim.value,
                               "provenance": s.claim.provenance, "seq": s.claim.seq})
                    })
                    .collect();
                print_json(&json!({"claim_ref": claim, "ancestors": list}))
            } else if steps.is_empty() {
                print_text("no ancestors\n")
            } else {
                let rows: Vec<Vec<String>> = steps
                    .iter()
                    .map(|s| {
                        vec![
                            s.depth.to_string(),
                            s.claim.claim_ref.to_string(),
                            format!("{} · {}", s.claim.subject, s.claim.predicate),
                            output::show_value(&s.claim.value),
                            s.claim.provenance.as_str().to_owned(),
                        ]
                    })
                    .collect();
                print_text(&table(&["depth", "claim", "line", "value", "provenance"], &rows))
            }
        }
        Command::Agents => {
            let c = open(&url)?;
            let survey = c.ledger().survey()?;
            let (mut rows, mut failed) = (Vec::new(), Vec::new());
            for agent in survey.agents {
                match transfer::head_seq(c.ledger().as_ref(), &agent) {
                    Ok(units) => rows.push((agent, units)),
                    Err(e) => failed.push((agent, e)),
                }
            }
            let damaged = damage_report(failed, survey.damaged);
            if json {
                let list: Vec<Value> = rows.iter().map(|(a, n)| json!({"agent": a, "units": n})).collect();
                print_json(&json!({"agents": list, "damaged": damaged}))?;
            } else {
                let rows: Vec<Vec<String>> =
                    rows.iter().map(|(a, n)| vec![a.to_string(), n.to_string()]).collect();
                print_text(&(table(&["agent", "units"], &rows) + &damage_text(&damaged)))?;
            }
            damage_result("listing agents", &damaged)
        }
        Command::Export { agent } => {
            let c = open(&url)?;
            let only = agent.as_deref().map(agent_id).transpose()?;
            if let Some(a) = &only {
                known_agent(&c, a.as_str())?;
            }
            // Streamed: an export cut short by a failure has no trailer line, so `import`
            // refuses it.
            // Stdout carries the export itself, even under --json: no error document follows it.
            output::PRINTED_JSON.store(true, std::sync::atomic::Ordering::SeqCst);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let incomplete = |e: transfer::TransferError| {
                Failure::Store(format!(
                    "{e}; the output is incomplete (it has no trailer line, so import refuses it)"
                ))
            };
            let (stats, failed, unlisted) = match &only {
                Some(_) => (
                    transfer::export(c.ledger().as_ref(), only.as_ref(), &mut out).map_err(incomplete)?,
                    Vec::new(),
                    Vec::new(),
                ),
                // Every readable agent; a damaged one is left out and reported (the file is a
                // complete export of the others).
                None => {
                    let done =
                        transfer::export_readable(c.ledger().as_ref(), &mut out).map_err(incomplete)?;
                    (done.stats, done.skipped, done.damaged)
                }
            };
            drop(out);
            if std::io::stderr().is_terminal() {
                eprintln!(
                    "exported {} agent(s), {} unit(s), {} claim(s)",
                    stats.agents, stats.units, stats.claims
                );
            }
            let damaged = damage_report(failed, unlisted);
            eprint!("{}", damage_text(&damaged));
            damage_result("export", &damaged)
        }
        Command::Import { file } => {
            let (plan, input) = check_import_input(file.as_deref())?;
            let c = open(&url)?;
            let mut bar = Progress::new("importing", json);
            let stats = transfer::import(c.ledger().as_ref(), &plan, input, &mut |d, t| bar.update(d, t))?;
            bar.finish();
            stats_result(json, "imported", &stats)
        }
        Command::Copy { to, agent } => {
            let from = open(&url)?;
            let only = agent.as_deref().map(agent_id).transpose()?;
            let target = open(&to)?;
            let mut bar = Progress::new("copying", json);
            let (stats, agents) = transfer::copy_units(
                from.ledger().as_ref(),
                target.ledger().as_ref(),
                only.as_ref(),
                &ImportOptions::default(),
                &mut |d, t| {
                    bar.update(d, t);
                },
            )?;
            bar.finish();
            if bar.live {
                eprintln!("verifying: units, recall and history of every line, audit, pending …");
            }
            transfer::verify(from.ledger().as_ref(), target.ledger().as_ref(), &agents)?;
            stats_result(json, &format!("copied to {} and verified", target.url()), &stats)
        }
        Command::Conformance { filter, threads, model_cases } => {
            conformance(&url, json, filter.as_deref(), threads, model_cases)
        }
        Command::Doctor => {
            let c = open(&url)?;
            let findings = credence::doctor::check(&c);
            let broken = findings.iter().any(|f| f.level == credence::doctor::Level::Error);
            if json {
                print_json(&json!({"store": c.url(), "healthy": !broken, "findings": findings}))?;
            } else {
                let rows: Vec<Vec<String>> = findings
                    .iter()
                    .map(|f| vec![format!("{:?}", f.level).to_uppercase(), f.check.clone(), f.detail.clone()])
                    .collect();
                print_text(&table(&["level", "check", "detail"], &rows))?;
            }
            if broken {
                Err(Failure::Store("the store has problems (see the findings above)".into()))
            } else {
                Ok(())
            }
        }
        Command::Demo => crate::demo::run(cli.store.as_deref(), json),
    }
}

/// Checks an import's input (FILE, or stdin for none or `-`) against every rule before the
/// store is opened, and returns the plan with a file to read again for the writes. A regular
/// file is read twice; anything else (stdin, a pipe, a device) is copied to a temporary file
/// while it is checked, so what is written is exactly what was checked. Memory stays bounded
/// either way.
fn check_import_input(file: Option<&Path>) -> Result<(ImportPlan, File), Failure> {
    let options = ImportOptions::default();
    let input: Box<dyn Read> = match file {
        Some(p) if p != Path::new("-") => {
            let mut f =
                File::open(p).map_err(|e| Failure::Usage(format!("cannot open {}: {e}", p.display())))?;
            if f.metadata().is_ok_and(|m| m.is_file()) {
                let plan = transfer::check_import(&mut f, &options)?;
                f.rewind().map_err(|e| Failure::Store(format!("reading {} again: {e}", p.display())))?;
                return Ok((plan, f));
            }
            Box::new(f)
        }
        _ => Box::new(std::io::stdin().lock()),
    };
    let mut spool = tempfile::tempfile()
        .map_err(|e| Failure::Store(format!("cannot create a temporary file for the input: {e}")))?;
    let plan = transfer::check_import(Tee { input, copy: &mut spool }, &options)?;
    spool.rewind().map_err(|e| Failure::Store(format!("reading the input's copy again: {e}")))?;
    Ok((plan, spool))
}

/// A reader that copies everything it reads into `copy`.
struct Tee<R, W> {
    input: R,
    copy: W,
}

impl<R: Read, W: std::io::Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.copy.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

fn open(url: &str) -> Result<Credence, Failure> {
    Ok(credence::open(url)?)
}

fn open_with(url: &str, options: OpenOptions) -> Result<Credence, Failure> {
    Ok(credence::open_with(url, options)?)
}

fn queue_options(ttl: Option<u64>) -> OpenOptions {
    let config = EngineConfig { adjudication_ttl: ttl.map(Duration::from_secs), ..EngineConfig::default() };
    OpenOptions { config, oracle: Some(Arc::new(QueueOracle)), clock: None }
}

fn agent_id(s: &str) -> Result<AgentId, Failure> {
    AgentId::new(s).map_err(|e| Failure::Usage(format!("invalid agent id {s:?}: {e}")))
}

/// Refuses an agent the store has no rows for.
/// Fails unless `agent` has rows. Reads that agent alone (its head): the cost does not grow
/// with the store, and a damaged other agent cannot fail it.
fn known_agent(c: &Credence, agent: &str) -> Result<(), Failure> {
    let id = agent_id(agent)?;
    if transfer::head_seq(c.ledger().as_ref(), &id)? > 0 {
        return Ok(());
    }
    Err(Failure::Store(format!(
        "unknown agent {agent:?}: the store {} has no rows for it (`credence agents` lists them)",
        c.url()
    )))
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

/// After a store-wide command printed what it could: exit 1 naming the damaged agents, if any.
fn damage_result(what: &str, damaged: &[Value]) -> Result<(), Failure> {
    if damaged.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = damaged
        .iter()
        .map(|d| d["agent"].as_str().or_else(|| d["file"].as_str()).unwrap_or("?").to_owned())
        .collect();
    Err(Failure::Store(format!(
        "{what} skipped {} damaged agent(s): {}; every other agent was served (run `credence doctor`)",
        names.len(),
        names.join(", ")
    )))
}

/// The damage entries as text lines for the table output.
fn damage_text(damaged: &[Value]) -> String {
    damaged
        .iter()
        .map(|d| {
            let name = d["agent"].as_str().or_else(|| d["file"].as_str()).unwrap_or("?");
            format!("damaged: {name}: {}\n", d["error"].as_str().unwrap_or(""))
        })
        .collect()
}

fn parse_ref(s: &str) -> Result<ClaimRef, Failure> {
    s.trim().parse::<ClaimRef>().map_err(|e| Failure::Usage(format!("invalid claim ref {s:?}: {e}")))
}

fn as_of_point(a: &AsOfArgs) -> Result<AsOf, Failure> {
    Ok(match (&a.as_of, a.as_of_seq) {
        (Some(t), _) => AsOf::Time(parse_date(t)?.0),
        (None, Some(n)) => AsOf::Seq(n),
        (None, None) => AsOf::Now,
    })
}

fn remember(url: &str, json: bool, a: RememberArgs) -> Result<(), Failure> {
    let value: Value = if a.json_value {
        serde_json::from_str(&a.value).map_err(|e| {
            Failure::Usage(format!(
                "VALUE is not valid JSON ({e}); without --json-value it is taken as a string"
            ))
        })?
    } else {
        Value::String(a.value.clone())
    };
    let derived: Vec<ClaimRef> = a.derived_from.iter().map(|s| parse_ref(s)).collect::<Result<_, _>>()?;
    let depends: Vec<ClaimRef> = a.depends_on.iter().map(|s| parse_ref(s)).collect::<Result<_, _>>()?;
    if a.valid_confidence.is_some() && a.valid_from.is_none() && a.valid_until.is_none() {
        return Err(Failure::Usage("--valid-confidence needs --valid-from or --valid-until".into()));
    }
    let options = if a.queue { queue_options(a.ttl) } else { OpenOptions::default() };
    let c = open_with(url, options)?;
    let mut builder = c
        .remember(&a.agent, &a.subject, &a.predicate, value)
        .provenance(a.provenance.into())
        .confidence(a.confidence)
        .criticality(a.criticality.into());
    if a.set_valued {
        builder = builder.set_valued();
    }
    if let Some(d) = &a.valid_from {
        builder = builder.valid_from(d)?;
    }
    if let Some(d) = &a.valid_until {
        builder = builder.valid_until(d)?;
    }
    if let Some(conf) = a.valid_confidence {
        builder = builder.valid_confidence(conf);
    }
    for p in derived {
        builder = builder.derived_from(p);
    }
    for p in depends {
        builder = builder.depends_on(p);
    }
    if let Some(key) = a.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    write_result(json, builder.commit()?)
}

/// Prints a write's receipt; a `Rejected` one is a failure (exit 1) after printing.
fn write_result(json: bool, r: WriteReceipt) -> Result<(), Failure> {
    if json {
        print_json(&output::receipt_json(&r))?;
    } else {
        print_text(&output::receipt_text(&r))?;
    }
    if r.disposition == Disposition::Rejected {
        let why = r.reason.as_ref().map_or_else(|| "no reason given".to_owned(), ToString::to_string);
        return Err(Failure::Store(format!("rejected: {why}; nothing was written")));
    }
    Ok(())
}

fn stats_result(json: bool, what: &str, s: &Stats) -> Result<(), Failure> {
    if json {
        print_json(&json!({"agents": s.agents, "units": s.units, "claims": s.claims, "entries": s.entries}))
    } else {
        print_text(&format!(
            "{what}: {} agent(s), {} unit(s), {} claim(s), {} ledger entries\n",
            s.agents, s.units, s.claims, s.entries
        ))
    }
}

fn conformance(
    url: &str,
    json: bool,
    filter: Option<&str>,
    threads: Option<usize>,
    model_cases: u32,
) -> Result<(), Failure> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let live = !json && std::io::stderr().is_terminal();
    let on_case = |c: &credence::run_conformance::CaseReport| {
        if live && c.outcome == credence::run_conformance::Outcome::Failed {
            eprintln!("FAILED {}::{}", c.area, c.case);
        }
    };
    let report = credence::run_conformance::run(url, filter, threads, model_cases, &on_case)?;
    if report.cases.is_empty() {
        return Err(Failure::Usage(format!("no case matches the filter {:?}", filter.unwrap_or(""))));
    }
    if json {
        print_json(&serde_json::to_value(&report).unwrap_or(Value::Null))?;
    } else {
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
        for c in report.cases.iter().filter(|c| c.outcome != credence::run_conformance::Outcome::Passed) {
            s.push_str(&format!(
                "\n{:?} {}::{}: {}",
                c.outcome,
                c.area,
                c.case,
                c.message.as_deref().unwrap_or("")
            ));
        }
        s.push('\n');
        print_text(&s)?;
    }
    if report.failed > 0 {
        return Err(Failure::Store(format!("{} conformance case(s) failed", report.failed)));
    }
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal (and not with --json).
struct Progress {
    label: &'static str,
    live: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new(label: &'static str, json: bool) -> Progress {
        Progress { label, live: !json && std::io::stderr().is_terminal(), last: None, drawn: false }
    }

    fn update(&mut self, done: u64, total: u64) {
        if !self.live {
            return;
        }
        let now = Instant::now();
        if done != total && self.last.is_some_and(|l| now.duration_since(l) < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(now);
        let width = 30u64;
        let filled = done.saturating_mul(width).checked_div(total).unwrap_or(width);
        let bar: String = (0..width).map(|i| if i < filled { '#' } else { '.' }).collect();
        eprint!("\r{} [{bar}] {done}/{total} units", self.label);
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}
