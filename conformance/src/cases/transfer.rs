//! SPEC §8 and the §7 area "export → import round-trips across backends": a store's export,
//! imported into an empty store of the same backend or of the `memory:` reference, answers
//! recall, history, audit and pending identically and exports to the same bytes; an import
//! into a store that already holds one of the agents writes nothing; a file that breaks one of
//! the import rules writes nothing either.

use std::io::Cursor;

use credence_core::serde_json::{self, Value, json};
use credence_core::transfer::{self, ImportOptions, Rule, TransferError};
use credence_core::{ClaimEngine, IngestRequest, Ledger, MemoryLedger, Timestamp, ValidTime};

use super::support::agent_id;
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn failed(e: TransferError) -> CaseError {
    match e {
        TransferError::Store(e) => CaseError::Error(e),
        other => CaseError::Failed(other.to_string()),
    }
}

fn export(ledger: &dyn Ledger) -> Result<Vec<u8>, CaseError> {
    let mut out = Vec::new();
    transfer::export(ledger, None, &mut out).map_err(failed)?;
    Ok(out)
}

/// Two agents with every kind of row: a derived claim with a dependency, a contested line with
/// a pending adjudication (the fixture has an oracle), an invalidation, a set-valued line, a
/// trusted valid-time window and a structured value.
fn fill(fx: &Fixture) -> CaseResult {
    let year = |y| Timestamp::from_ymd(y, 1, 1);
    let base = fx.engine.ingest(IngestRequest::new("a", "s", "base", 0))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").depends_on([base.claim()]))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    fx.engine.invalidate("a", base.claim(), "gone")?;
    fx.engine.ingest(IngestRequest::new("a", "s", "langs", "pt").set_valued())?;
    fx.engine.ingest(IngestRequest::new("a", "s", "langs", "en").set_valued())?;
    fx.engine.ingest(
        IngestRequest::new("a", "acme", "ceo", "Alice")
            .with_valid_time(ValidTime::new(year(2020), year(2022))),
    )?;
    let source = fx.engine.ingest(IngestRequest::new("b", "t", "q", json!({"k": [1, 2.5, null]})))?;
    fx.engine.ingest(IngestRequest::new("b", "t", "r", "derived").derived_from([source.claim()]))?;
    Ok(())
}

/// A store's export imported into an empty store of the same backend, and into `memory:`,
/// gives identical units and identical recall, history, audit and pending answers, and exports
/// to the same bytes.
pub fn transfer_export_imported_into_empty_stores_answers_identically(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fill(&fx)?;
    ensure!(!fx.engine.pending(None)?.is_empty(), "the fixture queued no adjudication");
    let agents = fx.store.ledger.agents()?;
    ensure_eq!(agents, vec![agent_id("a")?, agent_id("b")?]);
    let exported = export(&*fx.store.ledger)?;
    let options = ImportOptions::with_clock(&*fx.clock);
    let plan = transfer::check_import(exported.as_slice(), &options).map_err(failed)?;
    ensure_eq!(plan.units(), 9);

    let same_backend = f.store()?;
    let memory = MemoryLedger::new();
    for (name, target) in [(f.name(), &*same_backend.ledger), ("memory:".to_owned(), &memory as &dyn Ledger)]
    {
        let stats = transfer::import(target, &plan, exported.as_slice(), &mut |_, _| {}).map_err(failed)?;
        ensure_eq!((stats.agents, stats.units), (2, 9), "imported into {name}");
        transfer::verify(&*fx.store.ledger, target, &agents).map_err(failed)?;
        ensure!(export(target)? == exported, "the export of the {name} copy differs from the original");
    }
    Ok(())
}

/// An import into a store that already holds one of the file's agents is refused before
/// anything is written: that agent keeps its one unit and the other agent is not created.
pub fn transfer_import_into_a_store_holding_one_of_the_agents_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fill(&fx)?;
    let exported = export(&*fx.store.ledger)?;
    let plan = transfer::check_import(exported.as_slice(), &ImportOptions::with_clock(&*fx.clock))
        .map_err(failed)?;
    let target = f.store()?;
    let engine = fx.engine_on(target.ledger.clone())?;
    engine.ingest(IngestRequest::new("b", "other", "p", 1))?;
    let before = export(&*target.ledger)?;
    match transfer::import(&*target.ledger, &plan, exported.as_slice(), &mut |_, _| {}) {
        Err(TransferError::NotEmpty { agent, units }) => {
            ensure_eq!((agent.as_str(), units), ("b", 1));
        }
        other => return Err(CaseError::Failed(format!("import into a non-empty agent gave {other:?}"))),
    }
    ensure_eq!(target.ledger.agents()?, vec![agent_id("b")?], "an agent was created");
    ensure!(export(&*target.ledger)? == before, "the refused import changed the target store");
    Ok(())
}

/// The export with unit line `n` (1-based) changed by `change`.
fn with_line(exported: &[u8], n: usize, mut change: impl FnMut(&mut Value)) -> Result<Vec<u8>, CaseError> {
    let text = String::from_utf8(exported.to_vec()).map_err(|e| CaseError::Failed(e.to_string()))?;
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i + 1 == n {
            let mut v: Value = serde_json::from_str(line).map_err(|e| CaseError::Failed(e.to_string()))?;
            change(&mut v["unit"]);
            out.push_str(&v.to_string());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A file breaking one import rule — on its last unit line, where an importer writing as it
/// reads would already have written everything else — is refused naming that line and rule,
/// and writes nothing: the target keeps exactly the agent it held and no agent is created.
pub fn transfer_refused_import_file_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fill(&fx)?;
    let exported = export(&*fx.store.ledger)?;
    let last = String::from_utf8_lossy(&exported).lines().count() - 1;
    let last_of_a = last - 2;
    let options = ImportOptions::with_clock(&*fx.clock);
    let files: Vec<(Vec<u8>, usize, Rule)> = vec![
        (with_line(&exported, last, |u| u["claims"][0]["confidence"] = json!(5))?, last, Rule::ClaimLimits),
        (with_line(&exported, last, |u| u["claims"][0]["subject"] = json!(""))?, last, Rule::ClaimLimits),
        (
            with_line(&exported, last_of_a, |u| {
                u["tx_time"] = json!(i64::MAX);
                for c in u["claims"].as_array_mut().into_iter().flatten() {
                    c["tx_time"] = json!(i64::MAX);
                }
                for e in u["entries"].as_array_mut().into_iter().flatten() {
                    e["recorded_at"] = json!(i64::MAX);
                }
            })?,
            last_of_a,
            Rule::TimeRange,
        ),
        (
            with_line(&exported, last, |u| {
                u["entries"][0]["claim_ref"] = json!("01890000-0000-7000-8000-00000000dead")
            })?,
            last,
            Rule::UnitConsistency,
        ),
    ];
    let target = f.store()?;
    let engine = fx.engine_on(target.ledger.clone())?;
    engine.ingest(IngestRequest::new("c", "other", "p", 1))?;
    let before = export(&*target.ledger)?;
    for (file, line, rule) in files {
        match transfer::import_from(&*target.ledger, Cursor::new(file), &options, &mut |_, _| {}) {
            Err(TransferError::Format { line: l, rule: r, .. }) => {
                ensure_eq!((l, r), (line, rule), "the refusal names another line or rule");
            }
            other => return Err(CaseError::Failed(format!("a file breaking {rule} gave {other:?}"))),
        }
        ensure_eq!(target.ledger.agents()?, vec![agent_id("c")?], "a refused import created an agent");
        ensure!(export(&*target.ledger)? == before, "a refused import changed the target store");
    }
    Ok(())
}
