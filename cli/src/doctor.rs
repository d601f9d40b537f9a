//! Health checks of a store: schema version, settings, integrity.
//!
//! Every backend: for every agent, `seq` is gap-free from 1, `tx_time` strictly increases,
//! every row carries its unit's `seq`, and every claim has its `ClaimCommitted` ledger entry in
//! the unit that wrote it. SQLite adds `PRAGMA integrity_check` per agent file, the PRAGMAs of
//! the live connections and the schema version of each file; PostgreSQL adds the server
//! version, relevant server settings and the schema version.

use credence_core::ledger::read_with;
use credence_core::{AgentId, Event, Ledger};
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
    match ledger.agents() {
        Ok(agents) => {
            out.push(finding("agents", Level::Info, format!("{} agent(s)", agents.len())));
            for agent in agents {
                out.push(agent_integrity(ledger, &agent));
            }
        }
        Err(e) => out.push(finding("agents", Level::Error, format!("cannot list agents: {e}"))),
    }
    out
}

/// Seq gap-free, tx_time increasing, rows carry their unit, each claim has its ClaimCommitted entry.
fn agent_integrity(ledger: &dyn Ledger, agent: &AgentId) -> Finding {
    let name = format!("integrity {agent}");
    let mut after = 0u64;
    let mut prev_tx = None;
    let mut claims = 0u64;
    loop {
        let page = match read_with(ledger, agent, |view| view.units(after, 512)) {
            Ok(p) => p,
            Err(e) => return finding(name, Level::Error, format!("reading units after seq {after}: {e}")),
        };
        if page.is_empty() {
            break;
        }
        for unit in page {
            if after.checked_add(1) != Some(unit.seq) {
                return finding(name, Level::Error, format!("seq gap: unit {} follows {after}", unit.seq));
            }
            if prev_tx.is_some_and(|t| unit.tx_time <= t) {
                return finding(name, Level::Error, format!("tx_time of seq {} does not increase", unit.seq));
            }
            let rows_ok = unit.claims.iter().all(|c| c.seq == unit.seq && &c.agent_id == agent)
                && unit.entries.iter().all(|e| e.seq == unit.seq)
                && unit.assertions.iter().all(|a| a.seq == unit.seq)
                && unit.edges.iter().all(|e| e.seq == unit.seq);
            if !rows_ok {
                return finding(
                    name,
                    Level::Error,
                    format!("a row of unit {} carries another seq or agent", unit.seq),
                );
            }
            for claim in &unit.claims {
                let committed = unit
                    .entries
                    .iter()
                    .any(|e| e.claim_ref == claim.claim_ref && e.event == Event::ClaimCommitted);
                if !committed {
                    return finding(
                        name,
                        Level::Error,
                        format!("claim {} (seq {}) has no ClaimCommitted entry", claim.claim_ref, unit.seq),
                    );
                }
            }
            claims += u64::try_from(unit.claims.len()).unwrap_or(u64::MAX);
            after = unit.seq;
            prev_tx = Some(unit.tx_time);
        }
    }
    finding(
        name,
        Level::Ok,
        format!("{after} unit(s), {claims} claim(s), seq gap-free, every claim committed"),
    )
}

#[cfg(feature = "sqlite")]
fn sqlite_checks(ledger: &credence_sqlite::SqliteLedger, out: &mut Vec<Finding>) {
    use credence_sqlite::rusqlite::{Connection, OpenFlags};

    let supported = credence_sqlite::schema_version();
    out.push(finding(
        "sqlite library",
        Level::Info,
        format!("SQLite {} (schema version supported: {supported})", credence_sqlite::rusqlite::version()),
    ));
    let agents = ledger.agents().unwrap_or_else(|e| {
        out.push(finding("sqlite agents", Level::Error, e.to_string()));
        Vec::new()
    });
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
        let conn = match Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
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
