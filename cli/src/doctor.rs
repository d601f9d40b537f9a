//! Health checks of a store: schema version, settings, integrity.
//!
//! Every backend: every agent's stored units pass the rules an import applies
//! (`transfer::check_agent`: `seq` gap-free from 1, `tx_time` strictly increasing and no later
//! than now + 1 day, every row as strict as a live write, every unit internally consistent),
//! and whatever the store could not list (`Ledger::survey`) is reported; the live claims a
//! backend indexes (`LedgerRead::live`) agree, line by line, with the fold of the rows, and so
//! do the subjects and search postings it keeps (`LedgerRead::subjects`, `term_lines`). SQLite adds, per
//! agent file, `PRAGMA integrity_check`, the schema version and that the agent id stored inside
//! fits the file's name (a renamed or copied file), notes empty files left by a creation cut
//! short, and checks the PRAGMAs of the live connections; PostgreSQL adds the server version,
//! relevant server settings and the schema version.

use credence_core::ledger::read_with;
use credence_core::transfer::{self, ImportOptions};
use credence_core::{AgentId, Ledger, SubjectRange, SubjectSummary, Upto, liveness};
use serde::Serialize;

use crate::Credence;
use crate::store::Backend;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// As expected.
    Ok,
    /// Informational.
    Info,
    /// Works, but not as recommended.
    Warn,
    /// Broken.
    Error,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: String,
    /// How serious.
    pub level: Level,
    /// What was found.
    pub detail: String,
}

fn finding(check: impl Into<String>, level: Level, detail: impl Into<String>) -> Finding {
    Finding { check: check.into(), level, detail: detail.into() }
}

/// Runs every check that applies to the store.
pub fn check(credence: &Credence) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(finding(
        "backend",
        Level::Info,
        format!("{} ({})", credence.ledger().backend(), credence.url()),
    ));
    match credence.backend() {
        Backend::Memory(_) => {}
        #[cfg(feature = "sqlite")]
        Backend::Sqlite(l) => sqlite_checks(l, &mut out),
        #[cfg(feature = "postgres")]
        Backend::Postgres(l) => postgres_checks(l, &mut out),
    }
    let ledger = credence.ledger().as_ref();
    match ledger.survey() {
        Ok(survey) => {
            for d in survey.damaged {
                out.push(finding(format!("damaged {}", d.name), Level::Error, d.reason));
            }
            out.push(finding("agents", Level::Info, format!("{} agent(s)", survey.agents.len())));
            for agent in survey.agents {
                out.push(agent_integrity(ledger, &agent));
                out.push(live_index(ledger, &agent));
                out.push(discovery_index(ledger, &agent));
            }
        }
        Err(e) => out.push(finding("agents", Level::Error, format!("cannot list agents: {e}"))),
    }
    out
}

/// Every stored unit of the agent passes the rules an import applies
/// ([`credence_core::transfer::check_agent`]): seq gap-free from 1, transaction times strictly
/// increasing and no later than now + 1 day, every row as strict as a live write, every unit
/// internally consistent.
fn agent_integrity(ledger: &dyn Ledger, agent: &AgentId) -> Finding {
    let name = format!("integrity {agent}");
    match transfer::check_agent(ledger, agent, &ImportOptions::default()) {
        Ok(stats) => finding(
            name,
            Level::Ok,
            format!("{} unit(s), {} claim(s); every unit passes the import rules", stats.units, stats.claims),
        ),
        Err(e) => finding(name, Level::Error, e.to_string()),
    }
}

/// The live claims a backend keeps as a derived index (`LedgerRead::live`) are, line by line,
/// what the fold of the line's rows finds live, and each line's summary
/// (`LedgerRead::line_summary`) is theirs; a backend without such an index passes trivially.
fn live_index(ledger: &dyn Ledger, agent: &AgentId) -> Finding {
    let name = format!("live index {agent}");
    let checked = read_with(ledger, agent, |view| {
        let mut lines = std::collections::BTreeSet::new();
        let mut after = 0;
        loop {
            let units = view.units(after, 512)?;
            let Some(last) = units.last() else { break };
            after = last.seq;
            lines.extend(
                units.iter().flat_map(|u| u.claims.iter().map(|c| (c.subject.clone(), c.predicate.clone()))),
            );
        }
        for (subject, predicate) in &lines {
            let folded = liveness::live_claims(view.line(subject, predicate, Upto::Head)?);
            if view.live(subject, predicate)? != folded {
                return Ok(Err(format!(
                    "the live claims of line {subject:?}/{predicate:?} disagree with its rows"
                )));
            }
            let claims: Vec<_> = folded.iter().map(|l| &l.claim).collect();
            let summary = view.line_summary(subject, predicate)?;
            if summary != liveness::LineSummary::of(&claims) {
                return Ok(Err(format!(
                    "the summary of line {subject:?}/{predicate:?} ({summary:?}) disagrees with its live claims"
                )));
            }
        }
        Ok(Ok(lines.len()))
    });
    match checked {
        Ok(Ok(lines)) => {
            finding(name, Level::Ok, format!("{lines} line(s); the live claims agree with the rows"))
        }
        Ok(Err(detail)) => finding(name, Level::Error, detail),
        Err(e) => finding(name, Level::Error, format!("cannot read the agent: {e}")),
    }
}

/// The subjects and search postings a backend keeps (`LedgerRead::subjects`, `term_lines`) are
/// what the claims give: every subject with its lines and live claims, and for every term the
/// lines whose claims carried it, none before the first unit that did.
fn discovery_index(ledger: &dyn Ledger, agent: &AgentId) -> Finding {
    use std::collections::{BTreeMap, BTreeSet};
    let name = format!("discovery index {agent}");
    let checked = read_with(ledger, agent, |view| {
        let mut lines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut postings: BTreeMap<String, BTreeMap<(String, String), u64>> = BTreeMap::new();
        let mut after = 0;
        loop {
            let units = view.units(after, 512)?;
            let Some(last) = units.last() else { break };
            after = last.seq;
            for c in units.iter().flat_map(|u| &u.claims) {
                lines.entry(c.subject.clone()).or_default().insert(c.predicate.clone());
                for term in credence_core::terms::of_claim(c) {
                    let line = (c.subject.clone(), c.predicate.clone());
                    postings.entry(term).or_default().entry(line).or_insert(c.seq);
                }
            }
        }
        let range = SubjectRange { prefix: "", after: None, limit: usize::MAX };
        let listed = view.subjects(&range)?;
        let mut expected = Vec::new();
        for (subject, predicates) in &lines {
            let mut live = 0;
            for p in predicates {
                live += view.live(subject, p)?.len() as u64;
            }
            expected.push(SubjectSummary { subject: subject.clone(), lines: predicates.len() as u64, live });
        }
        if listed != expected {
            return Ok(Err(format!(
                "the subjects listed ({} of them) disagree with the claims",
                listed.len()
            )));
        }
        for (term, found) in &postings {
            let want: Vec<(String, String)> = found.keys().cloned().collect();
            if view.term_lines(term, u64::MAX, usize::MAX)? != want {
                return Ok(Err(format!("the lines of term {term:?} disagree with the claims")));
            }
            let first = found.values().min().copied().unwrap_or(1);
            if !view.term_lines(term, first - 1, usize::MAX)?.is_empty() {
                return Ok(Err(format!("term {term:?} reaches a line before unit {first}, its first")));
            }
        }
        Ok(Ok((lines.len(), postings.len())))
    });
    match checked {
        Ok(Ok((subjects, terms))) => finding(
            name,
            Level::Ok,
            format!(
                "{subjects} subject(s), {terms} term(s); the subjects and search postings agree with the claims"
            ),
        ),
        Ok(Err(detail)) => finding(name, Level::Error, detail),
        Err(e) => finding(name, Level::Error, format!("cannot read the agent: {e}")),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_checks(ledger: &credence_sqlite::SqliteLedger, out: &mut Vec<Finding>) {
    let supported = credence_sqlite::schema_version();
    out.push(finding(
        "sqlite library",
        Level::Info,
        format!("SQLite {} (schema version supported: {supported})", credence_sqlite::rusqlite::version()),
    ));
    let read_only = ledger.read_only();
    if let Some(reason) = &read_only {
        out.push(finding("read-only", Level::Info, format!("{reason}: reads work, writes fail")));
    }
    let agents = match read_only {
        // A read-only store opens no write connection: there are no live PRAGMAs to check.
        Some(_) => Vec::new(),
        None => ledger.agents().unwrap_or_else(|e| {
            out.push(finding("sqlite agents", Level::Error, e.to_string()));
            Vec::new()
        }),
    };
    for agent in agents {
        // PRAGMAs as set on the live connections.
        match ledger.connection_pragmas(&agent) {
            Ok(Some((write, read))) => {
                let good = write.journal_mode.eq_ignore_ascii_case("wal")
                    && write.synchronous == 2
                    && write.foreign_keys
                    && write.busy_timeout_ms > 0
                    && read.query_only;
                let level = if good { Level::Ok } else { Level::Warn };
                out.push(finding(
                    format!("pragmas {agent}"),
                    level,
                    format!(
                        "journal_mode={} synchronous={} foreign_keys={} busy_timeout={}ms journal_size_limit={} reader query_only={}",
                        write.journal_mode,
                        synchronous_name(write.synchronous),
                        write.foreign_keys,
                        write.busy_timeout_ms,
                        write.journal_size_limit,
                        read.query_only
                    ),
                ));
            }
            Ok(None) => out.push(finding(format!("pragmas {agent}"), Level::Warn, "agent has no database")),
            Err(e) => out.push(finding(format!("pragmas {agent}"), Level::Error, e.to_string())),
        }
    }
    // integrity_check and schema version of every agent file, on read-only connections, even
    // when the store cannot list its agents.
    let Some(dir) = ledger.dir() else { return };
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sqlite3"))
            .collect(),
        Err(e) => {
            out.push(finding("sqlite directory", Level::Error, format!("{}: {e}", dir.display())));
            return;
        }
    };
    files.sort();
    for path in files {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            // What a creation cut short (a full disk) leaves behind; harmless (it holds no rows
            // and is made into the agent's database by its next write).
            out.push(finding(
                format!("file {name}"),
                Level::Info,
                "empty file: a creation that did not finish",
            ));
            continue;
        }
        let conn = match credence_sqlite::open_for_inspection(&path) {
            Ok(c) => c,
            Err(e) => {
                out.push(finding(format!("file {name}"), Level::Error, e.to_string()));
                continue;
            }
        };
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
        let integrity: Result<Vec<String>, _> = conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0)).and_then(Iterator::collect));
        match integrity {
            Ok(rows) if rows == ["ok"] => {
                out.push(finding(format!("integrity_check {name}"), Level::Ok, "ok"))
            }
            Ok(rows) => out.push(finding(format!("integrity_check {name}"), Level::Error, rows.join("; "))),
            Err(e) => out.push(finding(format!("integrity_check {name}"), Level::Error, e.to_string())),
        }
        // The id stored inside must be the one the file's name stands for: a renamed or copied
        // file would be read as another agent, and its own agent started again from seq 1.
        let stored: Result<String, _> =
            conn.query_row("SELECT agent_id FROM agent WHERE singleton = 1", [], |r| r.get(0));
        match stored {
            Ok(id) if credence_sqlite::file_belongs_to(&name, &id) => {
                out.push(finding(format!("agent id {name}"), Level::Ok, format!("holds agent {id:?}")))
            }
            Ok(id) => out.push(finding(
                format!("agent id {name}"),
                Level::Error,
                format!("holds agent {id:?}, whose file has another name: renamed, copied or edited"),
            )),
            Err(e) => out.push(finding(
                format!("agent id {name}"),
                Level::Error,
                format!("no stored agent id: {e}"),
            )),
        }
        let version: Result<i64, _> =
            conn.query_row("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history", [], |r| r.get(0));
        let check = format!("schema {name}");
        match version {
            Ok(v) if v == supported => out.push(finding(check, Level::Ok, format!("version {v}"))),
            Ok(v) if v > supported => out.push(finding(
                check,
                Level::Error,
                format!("version {v} is newer than this build's {supported}"),
            )),
            Ok(v) => out.push(finding(check, Level::Warn, format!("version {v}, older than {supported}"))),
            Err(e) => out.push(finding(check, Level::Error, format!("cannot read the schema version: {e}"))),
        }
    }
}

#[cfg(feature = "sqlite")]
fn synchronous_name(v: i64) -> String {
    match v {
        0 => "OFF".into(),
        1 => "NORMAL".into(),
        2 => "FULL".into(),
        3 => "EXTRA".into(),
        other => other.to_string(),
    }
}

#[cfg(feature = "postgres")]
fn postgres_checks(ledger: &credence_postgres::PostgresLedger, out: &mut Vec<Finding>) {
    let supported = credence_postgres::schema::supported_version();
    match ledger.schema_version() {
        Ok(v) if v == supported => out.push(finding(
            "schema",
            Level::Ok,
            format!("version {v} in schema {:?}", ledger.config().schema),
        )),
        Ok(v) => {
            out.push(finding("schema", Level::Warn, format!("version {v}, this build knows {supported}")))
        }
        Err(e) => out.push(finding("schema", Level::Error, e.to_string())),
    }
    let mut conn = match ledger.pool().get() {
        Ok(c) => c,
        Err(e) => {
            out.push(finding("server", Level::Error, format!("no connection: {e}")));
            return;
        }
    };
    let client = conn.client();
    for (name, want) in [
        ("server_version", None),
        ("fsync", Some("on")),
        ("synchronous_commit", Some("on")),
        ("full_page_writes", Some("on")),
        ("default_transaction_isolation", None),
        ("max_connections", None),
    ] {
        let row = client.query_one(&format!("SHOW {name}"), &[]);
        match row.and_then(|r| r.try_get::<_, String>(0)) {
            Ok(v) => {
                let level = match want {
                    Some(w) if v != w => Level::Warn,
                    Some(_) => Level::Ok,
                    None => Level::Info,
                };
                out.push(finding(format!("setting {name}"), level, v));
            }
            Err(e) => out.push(finding(format!("setting {name}"), Level::Error, e.to_string())),
        }
    }
}
