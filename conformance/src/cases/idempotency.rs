//! SPEC §2.4: idempotency keys — a retried write with the same key writes nothing and gets the
//! first answer; the same key with another request is refused; keys hold across threads,
//! reopen and export/import.

use std::sync::{Arc, Barrier};

use credence_core::ledger::read_with;
use credence_core::serde_json::json;
use credence_core::transfer;
use credence_core::{
    Append, ClaimEngine, Disposition, Error, Field, IngestRequest, MemoryLedger, Provenance, RecallQuery,
    RejectReason, StoredAnswer, Verdict, WriteOptions,
};

use super::support::{agent_id, footprint};
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn keyed(key: &str) -> WriteOptions {
    WriteOptions::with_idempotency_key(key)
}

fn reused(r: &credence_core::WriteReceipt) -> bool {
    r.disposition == Disposition::Rejected
        && matches!(r.reason, Some(RejectReason::IdempotencyKeyReused { .. }))
}

fn units(fx: &Fixture, agent: &str) -> Result<Vec<Append>, CaseError> {
    let id = agent_id(agent)?;
    Ok(read_with(fx.store.ledger.as_ref(), &id, |view| view.units(0, usize::MAX))?)
}

/// An ingest retried with the same key and request returns the first receipt (same claim,
/// seq, tx_time and disposition) and writes nothing.
pub fn idempotency_ingest_retry_returns_first_receipt_and_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?;
    let request = IngestRequest::new("a", "alice", "city", "Porto").with_idempotency_key("k-1");
    let first = fx.engine.ingest(request.clone())?;
    ensure_eq!(first.disposition, Disposition::Contested);
    let before = footprint(&fx, "a")?;
    fx.clock.advance_micros(5_000_000);
    let again = fx.engine.ingest(request)?;
    ensure_eq!(again, first);
    ensure_eq!(footprint(&fx, "a")?, before, "the retry wrote rows");
    let belief = fx.engine.recall(&RecallQuery::new("a", "alice", "city"))?;
    ensure_eq!(belief.candidates.len(), 2, "the retry added a candidate: {belief:?}");
    Ok(())
}

/// The same key with a different request is `Rejected { IdempotencyKeyReused }` and writes
/// nothing; the first write stays as it was.
pub fn idempotency_key_reused_for_another_request_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k"))?;
    ensure_eq!(first.seq, Some(1));
    let before = footprint(&fx, "a")?;
    for other in [
        IngestRequest::new("a", "s", "p", 2).with_idempotency_key("k"),
        IngestRequest::new("a", "s", "q", 1).with_idempotency_key("k"),
        IngestRequest::new("a", "s", "p", 1).with_confidence(0.9).with_idempotency_key("k"),
        IngestRequest::new("a", "s", "p", 1).with_provenance(Provenance::USER).with_idempotency_key("k"),
    ] {
        let r = fx.engine.ingest(other)?;
        ensure!(reused(&r), "a reused key gave {r:?}");
        ensure_eq!(r.seq, None);
    }
    ensure_eq!(footprint(&fx, "a")?, before);
    // Another operation with the key is another request too.
    let r = fx.engine.invalidate_with("a", first.claim(), "wrong", &keyed("k"))?;
    ensure!(reused(&r), "invalidate with an ingest's key gave {r:?}");
    ensure_eq!(footprint(&fx, "a")?, before);
    Ok(())
}

/// Keys are per agent: the same key on another agent is a first use.
pub fn idempotency_keys_are_per_agent(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k"))?;
    let b = fx.engine.ingest(IngestRequest::new("b", "s", "p", 2).with_idempotency_key("k"))?;
    ensure_eq!(a.disposition, Disposition::CommittedCheap);
    ensure_eq!(b.disposition, Disposition::CommittedCheap);
    ensure!(a.claim_ref != b.claim_ref, "the second agent got the first agent's receipt");
    ensure_eq!(footprint(&fx, "b")?.0, 1);
    Ok(())
}

/// A request equal up to the order of object keys in its value is the same request.
pub fn idempotency_value_key_order_is_the_same_request(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let v1 = credence_core::serde_json::from_str::<credence_core::serde_json::Value>(r#"{"x":1,"y":[2,3]}"#)
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    let v2 = credence_core::serde_json::from_str::<credence_core::serde_json::Value>(r#"{"y":[2,3],"x":1}"#)
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", v1).with_idempotency_key("k"))?;
    let again = fx.engine.ingest(IngestRequest::new("a", "s", "p", v2).with_idempotency_key("k"))?;
    ensure_eq!(again, first);
    ensure_eq!(footprint(&fx, "a")?.0, 1);
    Ok(())
}

/// A key is 1–128 bytes without NUL; another key is `Rejected` naming the field, and nothing is
/// written.
pub fn idempotency_invalid_key_is_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let long = "k".repeat(129);
    for key in ["", long.as_str(), "a\0b"] {
        let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key(key))?;
        ensure_eq!(r.disposition, Disposition::Rejected);
        let field = match &r.reason {
            Some(
                RejectReason::Empty { field }
                | RejectReason::TooLong { field, .. }
                | RejectReason::ContainsNul { field },
            ) => Some(*field),
            _ => None,
        };
        ensure_eq!(field, Some(Field::IdempotencyKey), "key {key:?} gave {r:?}");
    }
    ensure_eq!(footprint(&fx, "a")?, (0, 0));
    let at_limit =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k".repeat(128)))?;
    ensure_eq!(at_limit.disposition, Disposition::CommittedCheap);
    Ok(())
}

/// A keyed write that is `Rejected` stores no key: the key stays free for a later request.
pub fn idempotency_rejected_write_stores_no_key(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let bad = IngestRequest::new("a", "", "p", 1).with_idempotency_key("k");
    ensure_eq!(fx.engine.ingest(bad)?.disposition, Disposition::Rejected);
    let good = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k"))?;
    ensure_eq!(good.disposition, Disposition::CommittedCheap);
    ensure_eq!(good.seq, Some(1));
    Ok(())
}

/// Resolve, invalidate and reinstate retried with their key return the first receipt and
/// write nothing.
pub fn idempotency_resolve_invalidate_reinstate_retries_write_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let resolved = fx.engine.resolve_with("a", "s", "p", y.claim(), &keyed("r"))?;
    ensure_eq!(resolved.disposition, Disposition::CommittedCheap);
    let before = footprint(&fx, "a")?;
    ensure_eq!(fx.engine.resolve_with("a", "s", "p", y.claim(), &keyed("r"))?, resolved);
    ensure_eq!(footprint(&fx, "a")?, before);

    let reinstated = fx.engine.reinstate_with("a", x.claim(), &keyed("re"))?;
    ensure_eq!(reinstated.disposition, Disposition::Reinstated);
    let before = footprint(&fx, "a")?;
    ensure_eq!(fx.engine.reinstate_with("a", x.claim(), &keyed("re"))?, reinstated);
    ensure_eq!(footprint(&fx, "a")?, before);

    let invalidated = fx.engine.invalidate_with("a", x.claim(), "wrong", &keyed("i"))?;
    ensure_eq!(invalidated.disposition, Disposition::Invalidated);
    let before = footprint(&fx, "a")?;
    // Without the key the same call is refused (x is no longer live); with it, the first answer.
    ensure_eq!(fx.engine.invalidate_with("a", x.claim(), "wrong", &keyed("i"))?, invalidated);
    ensure_eq!(fx.engine.invalidate("a", x.claim(), "wrong")?.disposition, Disposition::Rejected);
    ensure_eq!(footprint(&fx, "a")?, before);
    let other_reason = fx.engine.invalidate_with("a", x.claim(), "other", &keyed("i"))?;
    ensure!(reused(&other_reason), "another reason with the key gave {other_reason:?}");
    Ok(())
}

/// A verdict retried with its key returns the first outcome (not `HandleAlreadyClosed`) and
/// writes nothing; the key with another verdict is `Error::Rejected`.
pub fn idempotency_verdict_retry_returns_first_outcome(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let queued = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let handle = queued.handle.ok_or_else(|| CaseError::Failed(format!("no handle in {queued:?}")))?;
    let first =
        fx.engine.submit_adjudication_with("a", handle, Verdict::Affirm, Provenance::USER, &keyed("v"))?;
    let before = footprint(&fx, "a")?;
    let again =
        fx.engine.submit_adjudication_with("a", handle, Verdict::Affirm, Provenance::USER, &keyed("v"))?;
    ensure_eq!(again, first);
    ensure_eq!(footprint(&fx, "a")?, before);
    let other = fx.engine.submit_adjudication_with("a", handle, Verdict::Deny, Provenance::USER, &keyed("v"));
    ensure!(
        matches!(other, Err(Error::Rejected { reason: RejectReason::IdempotencyKeyReused { .. } })),
        "another verdict with the key gave {other:?}"
    );
    let unkeyed = fx.engine.submit_adjudication("a", handle, Verdict::Affirm, Provenance::USER);
    ensure!(matches!(unkeyed, Err(Error::HandleAlreadyClosed { .. })), "without the key: {unkeyed:?}");
    ensure_eq!(footprint(&fx, "a")?, before);
    Ok(())
}

/// The key is stored with its unit: `units` returns the record with the first answer.
pub fn idempotency_record_is_stored_with_its_unit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 0))?;
    let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k"))?;
    let units = units(&fx, "a")?;
    ensure_eq!(units.len(), 2);
    ensure!(units[0].idempotency.is_none(), "an unkeyed unit carries a key");
    let record = units[1].idempotency.clone().ok_or_else(|| CaseError::Failed("no key stored".into()))?;
    ensure_eq!(record.key.as_str(), "k");
    ensure!(credence_core::idempotency::is_fingerprint(&record.request), "request {:?}", record.request);
    ensure_eq!(record.answer, StoredAnswer::Receipt(r));
    Ok(())
}

/// Eight threads sending the same keyed ingest at once store one claim and all get its receipt.
pub fn idempotency_concurrent_retries_store_one_claim(f: &dyn Factory) -> CaseResult {
    let fx = Arc::new(Fixture::new(f)?);
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (fx, barrier) = (fx.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                fx.engine
                    .ingest(IngestRequest::new("a", "s", "p", json!({"n": 1})).with_idempotency_key("same"))
            })
        })
        .collect();
    let mut receipts = Vec::new();
    for t in threads {
        let r = t.join().map_err(|_| CaseError::Failed("a writer thread panicked".into()))??;
        receipts.push(r);
    }
    ensure!(receipts.iter().all(|r| *r == receipts[0]), "receipts differ: {receipts:?}");
    ensure_eq!(receipts[0].disposition, Disposition::CommittedCheap);
    ensure_eq!(footprint(&fx, "a")?, (1, 1));
    Ok(())
}

/// A key survives closing and reopening the store.
pub fn idempotency_key_survives_reopen(f: &dyn Factory) -> CaseResult {
    crate::require(f, f.capabilities().durable, "durable")?;
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_idempotency_key("k"))?;
    let Some(reopened) = fx.store.reopen() else {
        return Err(CaseError::Failed("a durable backend must provide Store::reopen".into()));
    };
    let engine = fx.engine_on(reopened?)?;
    fx.clock.advance_micros(1_000_000);
    ensure_eq!(engine.ingest(IngestRequest::new("a", "s", "p", "x").with_idempotency_key("k"))?, first);
    let other = engine.ingest(IngestRequest::new("a", "s", "p", "y").with_idempotency_key("k"))?;
    ensure!(reused(&other), "a reused key after reopen gave {other:?}");
    ensure_eq!(footprint(&fx, "a")?.0, 1);
    Ok(())
}

/// Keys travel in an export: after importing into `memory:`, a retry there gets the first
/// receipt and writes nothing.
pub fn idempotency_key_survives_export_and_import(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let first = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_idempotency_key("k"))?;
    let mut out = Vec::new();
    transfer::export(fx.store.ledger.as_ref(), None, &mut out)
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    let target: crate::DynLedger = Arc::new(MemoryLedger::new());
    let options = transfer::ImportOptions::with_clock(&*fx.clock);
    transfer::import_from(target.as_ref(), std::io::Cursor::new(out), &options, &mut |_, _| {})
        .map_err(|e| CaseError::Failed(e.to_string()))?;
    let engine = fx.engine_on(target.clone())?;
    ensure_eq!(engine.ingest(IngestRequest::new("a", "s", "p", "x").with_idempotency_key("k"))?, first);
    let head = read_with(target.as_ref(), &agent_id("a")?, |v| v.head())?.map(|h| h.seq);
    ensure_eq!(head, Some(1));
    Ok(())
}

/// The ledger refuses a unit whose key is already stored (`UNIQUE(agent_id, key)`) with
/// `Conflict`, writes nothing and uses no seq.
pub fn write_unit_with_a_stored_idempotency_key_is_conflict(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 1).with_idempotency_key("k"))?;
    let id = agent_id("a")?;
    let stored = units(&fx, "a")?.pop().ok_or_else(|| CaseError::Failed("no unit".into()))?;
    let record = stored.idempotency.clone();
    let t = stored.tx_time.plus_micros(10);
    let mut append = Append::new(2, t);
    let mut entry = stored.entries[0].clone();
    (entry.seq, entry.recorded_at, entry.event) = (2, t, credence_core::Event::Corroborated);
    append.entries.push(entry);
    append.idempotency = record;
    let result = fx.store.ledger.write(&id, &mut |_| Ok(Some(append.clone())));
    ensure!(matches!(result, Err(Error::Conflict { .. })), "a stored key gave {result:?}");
    ensure_eq!(footprint(&fx, "a")?.0, 1);
    ensure_eq!(fx.engine.ingest(IngestRequest::new("a", "s", "p", 2))?.seq, Some(2));
    Ok(())
}
