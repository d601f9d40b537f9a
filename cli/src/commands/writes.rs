//! Commands that write a commit unit and print its receipt: `remember`, `resolve`,
//! `invalidate`, `reinstate`.

use credence::{ClaimEngine, ClaimRef, Disposition, OpenOptions, WriteOptions, WriteReceipt, documents};
use serde_json::Value;

use super::adjudication::queue_options;
use super::{Globals, parse_ref};
use crate::Failure;
use crate::args::RememberArgs;
use crate::output;

/// `remember`: records a claim.
pub(super) fn remember(g: &Globals, a: RememberArgs) -> Result<(), Failure> {
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
    let c = g.open_with(if a.queue { queue_options(a.ttl) } else { OpenOptions::default() })?;
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
    receipt(g, builder.commit()?)
}

/// `resolve`: settles a line in favour of one claim.
pub(super) fn resolve(
    g: &Globals,
    agent: &str,
    subject: &str,
    predicate: &str,
    winner: &str,
    idempotency_key: Option<String>,
) -> Result<(), Failure> {
    let winner = parse_ref(winner)?;
    let c = g.open_for(agent)?;
    receipt(g, c.resolve_with(agent, subject, predicate, winner, &WriteOptions { idempotency_key })?)
}

/// `invalidate`: takes a live claim out of belief.
pub(super) fn invalidate(
    g: &Globals,
    agent: &str,
    claim: &str,
    reason: &str,
    idempotency_key: Option<String>,
) -> Result<(), Failure> {
    let claim = parse_ref(claim)?;
    let c = g.open_for(agent)?;
    receipt(g, c.invalidate_with(agent, claim, reason, &WriteOptions { idempotency_key })?)
}

/// `reinstate`: brings a superseded or invalidated claim back.
pub(super) fn reinstate(
    g: &Globals,
    agent: &str,
    claim: &str,
    idempotency_key: Option<String>,
) -> Result<(), Failure> {
    let claim = parse_ref(claim)?;
    let c = g.open_for(agent)?;
    receipt(g, c.reinstate_with(agent, claim, &WriteOptions { idempotency_key })?)
}

/// Prints a write's receipt; a `Rejected` one is a failure (exit 1) after printing.
fn receipt(g: &Globals, r: WriteReceipt) -> Result<(), Failure> {
    g.show(|| documents::receipt(&r), || output::receipt_text(&r))?;
    if r.disposition == Disposition::Rejected {
        let why = r.reason.as_ref().map_or_else(|| "no reason given".to_owned(), ToString::to_string);
        return Err(Failure::Store(format!("rejected: {why}; nothing was written")));
    }
    Ok(())
}
