//! Commands that move a store's data: `export`, `import`, `copy`.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::Path;

use credence::transfer::{self, ImportOptions, ImportPlan, Stats};
use serde_json::json;

use super::{Globals, agent_id, damage_report, damage_result, damage_text, known_agent};
use crate::Failure;
use crate::output::{self, Progress};

/// `export`: the store, or one agent, as credence-export JSONL on stdout.
pub(super) fn export(g: &Globals, agent: Option<&str>) -> Result<(), Failure> {
    let c = g.open()?;
    let only = agent.map(agent_id).transpose()?;
    if let Some(a) = &only {
        known_agent(&c, a.as_str())?;
    }
    // Streamed: an export cut short by a failure has no trailer line, so `import` refuses it.
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
        // Every readable agent; a damaged one is left out and reported (the file is a complete
        // export of the others).
        None => {
            let done = transfer::export_readable(c.ledger().as_ref(), &mut out).map_err(incomplete)?;
            (done.stats, done.skipped, done.damaged)
        }
    };
    drop(out);
    if std::io::stderr().is_terminal() {
        eprintln!("exported {} agent(s), {} unit(s), {} claim(s)", stats.agents, stats.units, stats.claims);
    }
    let damaged = damage_report(failed, unlisted);
    eprint!("{}", damage_text(&damaged));
    damage_result("export", &damaged)
}

/// `import`: a credence-export file (or stdin) into the store, checked whole before anything
/// is written.
pub(super) fn import(g: &Globals, file: Option<&Path>) -> Result<(), Failure> {
    let (plan, input) = check_import_input(file)?;
    let c = g.open()?;
    let progress = Progress::new("importing", g.json);
    let stats = transfer::import(c.ledger().as_ref(), &plan, input, &mut |d, t| progress.update(d, t))?;
    progress.finish();
    stats_result(g, "imported", &stats)
}

/// `copy`: this store (or one agent) into another, then both are read back and compared.
pub(super) fn copy(g: &Globals, to: &str, agent: Option<&str>) -> Result<(), Failure> {
    let from = g.open()?;
    let only = agent.map(agent_id).transpose()?;
    let target = credence::open(to)?;
    let progress = Progress::new("copying", g.json);
    let (stats, agents) = transfer::copy_units(
        from.ledger().as_ref(),
        target.ledger().as_ref(),
        only.as_ref(),
        &ImportOptions::default(),
        &mut |d, t| progress.update(d, t),
    )?;
    progress.finish();
    if progress.is_live() {
        eprintln!("verifying: units, recall and history of every line, audit, pending …");
    }
    transfer::verify(from.ledger().as_ref(), target.ledger().as_ref(), &agents)?;
    stats_result(g, &format!("copied to {} and verified", target.url()), &stats)
}

fn stats_result(g: &Globals, what: &str, s: &Stats) -> Result<(), Failure> {
    g.show(
        || json!({"agents": s.agents, "units": s.units, "claims": s.claims, "entries": s.entries}),
        || {
            format!(
                "{what}: {} agent(s), {} unit(s), {} claim(s), {} ledger entries\n",
                s.agents, s.units, s.claims, s.entries
            )
        },
    )
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

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.copy.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}
