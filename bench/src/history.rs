//! Building a line with a long history: the engine writes it on `memory:`, then its commit
//! units are copied verbatim into the store under test (the way an import would).

use std::sync::Arc;

use credence_core::{
    ClaimEngine, Engine, IngestRequest, Ledger, MemoryLedger, SequentialIds, ledger::read_with,
};

/// Writes `claims` claims on line `(subject, "p")` of `agent` into `target`.
///
/// The history is realistic: the value changes every ten claims; each change is Contested
/// and then resolved in favour of the newcomer, so earlier claims end up Superseded and the
/// live set stays small while the history grows.
pub fn build_line(target: &Arc<dyn Ledger>, agent: &str, subject: &str, claims: u64) -> Result<(), String> {
    let source = Arc::new(MemoryLedger::new());
    let engine = Engine::builder(source.clone())
        .ids(Arc::new(SequentialIds::new(claims)))
        .build()
        .map_err(|e| e.to_string())?;
    for i in 0..claims {
        let r = engine
            .ingest(IngestRequest::new(agent, subject, "p", format!("v{}", i / 10)))
            .map_err(|e| e.to_string())?;
        if i % 10 == 0 && i > 0 {
            engine.resolve(agent, subject, "p", r.claim()).map_err(|e| e.to_string())?;
        }
    }
    copy_agent(source.as_ref(), target.as_ref(), agent)
}

/// Copies every commit unit of `agent` from `source` into `target`, in order.
pub fn copy_agent(source: &dyn Ledger, target: &dyn Ledger, agent: &str) -> Result<(), String> {
    let id = credence_core::AgentId::new(agent).map_err(|e| e.to_string())?;
    let mut after = 0;
    loop {
        let units = read_with(source, &id, |view| view.units(after, 500)).map_err(|e| e.to_string())?;
        let Some(last) = units.last() else { return Ok(()) };
        after = last.seq;
        for unit in units {
            let mut pending = Some(unit);
            target.write(&id, &mut |_| Ok(pending.take())).map_err(|e| format!("copying unit: {e}"))?;
        }
    }
}
