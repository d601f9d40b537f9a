//! The JSON documents the engine's answers are given as — what `credence --json` prints and
//! what the MCP server returns as structured content (SPEC §9: one shape per operation,
//! whatever the front door).

use serde_json::{Value, json};

use crate::{
    Adjudication, AdjudicationOutcome, AuditCursor, Belief, ClaimRef, History, HistoryEntry, HistoryPage,
    LedgerEntry, LineageStep, SearchResults, SubjectSummary, WriteReceipt,
};

/// A write's receipt: its fields, the disposition by name, and a rejection's reason in words
/// (`reason_message`).
pub fn receipt(r: &WriteReceipt) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        // The variant name, e.g. "CommittedCheap" (the serde form already is; made explicit).
        obj.insert("disposition".into(), json!(r.disposition.as_str()));
        if let Some(reason) = &r.reason {
            obj.insert("reason_message".into(), json!(reason.to_string()));
        }
    }
    v
}

/// A belief, its status by name.
pub fn belief(b: &Belief) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("status".into(), json!(format!("{:?}", b.status)));
    }
    v
}

/// One claim of a history.
pub fn history_entry(e: &HistoryEntry) -> Value {
    json!({
        "claim_ref": e.claim.claim_ref,
        "value": e.claim.value,
        "status": format!("{:?}", e.status),
        "disposition": e.disposition.as_str(),
        "seq": e.claim.seq,
        "tx_time": e.claim.tx_time,
        "provenance": e.claim.provenance,
        "confidence": e.claim.confidence,
        "criticality": e.claim.criticality,
        "cardinality": e.claim.cardinality,
        "valid_time": e.claim.valid_time,
        "markers": e.markers,
        "derived_from": e.claim.derived_from,
        "depends_on": e.claim.depends_on,
    })
}

/// A line's whole history (`credence history`).
pub fn history(agent: &str, (subject, predicate): (&str, &str), h: &History) -> Value {
    let entries: Vec<Value> = h.entries.iter().map(history_entry).collect();
    json!({
        "agent": agent, "subject": subject, "predicate": predicate,
        "entries": entries, "belief": belief(&h.belief), "as_of_seq": h.as_of_seq,
    })
}

/// One page of a line's history: [`history`]'s fields and `next`, the cursor of the next page
/// (null on the last).
pub fn history_page(agent: &str, line: (&str, &str), page: &HistoryPage) -> Value {
    let whole =
        History { entries: page.entries.clone(), belief: page.belief.clone(), as_of_seq: page.as_of_seq };
    let mut doc = history(agent, line, &whole);
    doc["next"] = serde_json::to_value(page.next).unwrap_or(Value::Null);
    doc
}

/// The beliefs of a subject's predicates.
pub fn subject(agent: &str, subject: &str, beliefs: &[(String, Belief)]) -> Value {
    let preds: Vec<Value> =
        beliefs.iter().map(|(p, b)| json!({"predicate": p, "belief": belief(b)})).collect();
    json!({"agent": agent, "subject": subject, "predicates": preds})
}

/// An agent's subjects, and `next` when more follow.
pub fn subjects(agent: &str, subjects: &[SubjectSummary], next: Option<&str>) -> Value {
    json!({"agent": agent, "subjects": subjects, "next": next})
}

/// What a search found.
pub fn search(agent: &str, text: &str, results: &SearchResults) -> Value {
    let hits: Vec<Value> = results
        .hits
        .iter()
        .map(|h| {
            json!({"subject": h.subject, "predicate": h.predicate, "latest_seq": h.latest_seq,
                "belief": belief(&h.belief)})
        })
        .collect();
    json!({"agent": agent, "text": text, "hits": hits, "as_of_seq": results.as_of_seq})
}

/// One ledger entry.
pub fn audit_entry(e: &LedgerEntry) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// Ledger entries, and `next` (the cursor of the next page) when more follow.
pub fn audit(agent: &str, entries: &[LedgerEntry], next: Option<AuditCursor>) -> Value {
    let list: Vec<Value> = entries.iter().map(audit_entry).collect();
    json!({"agent": agent, "entries": list, "next": next})
}

/// A claim's DerivedFrom ancestry.
pub fn lineage(claim: ClaimRef, steps: &[LineageStep]) -> Value {
    let list: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({"depth": s.depth, "claim_ref": s.claim.claim_ref, "subject": s.claim.subject,
                   "predicate": s.claim.predicate, "value": s.claim.value,
                   "provenance": s.claim.provenance, "seq": s.claim.seq})
        })
        .collect();
    json!({"claim_ref": claim, "ancestors": list})
}

/// One adjudication.
pub fn adjudication(a: &Adjudication) -> Value {
    json!({
        "handle": a.handle,
        "agent": a.agent_id,
        "subject": a.subject,
        "predicate": a.predicate,
        "challenger": a.challenger,
        "incumbent": a.incumbents,
        "incumbents": a.incumbents,
        "status": a.status.as_str(),
        "queued_at": a.queued_at,
        "expires_at": a.expires_at,
        "notified": a.notified,
        "seq": a.seq,
    })
}

/// Open adjudications, and what could not be listed.
pub fn pending(list: &[Adjudication], damaged: &[Value]) -> Value {
    let adj: Vec<Value> = list.iter().map(adjudication).collect();
    json!({"adjudications": adj, "damaged": damaged})
}

/// A verdict's outcome.
pub fn adjudication_outcome(outcome: &AdjudicationOutcome) -> Value {
    serde_json::to_value(outcome).unwrap_or(Value::Null)
}
