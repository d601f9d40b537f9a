//! JSON documents and human-readable tables.

use std::io::Write;

use credence::{
    Adjudication, Belief, Candidate, HistoryEntry, LedgerEntry, Timestamp, ValidTime, WriteReceipt,
    format_date,
};
use serde_json::{Value, json};

use crate::Failure;

/// Set once a JSON document has been printed, so a failure afterwards does not print a second.
pub(crate) static PRINTED_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints one JSON document to stdout.
pub(crate) fn print_json(doc: &Value) -> Result<(), Failure> {
    PRINTED_JSON.store(true, std::sync::atomic::Ordering::SeqCst);
    let text =
        serde_json::to_string_pretty(doc).map_err(|e| Failure::Store(format!("encoding JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Failure::Store(format!("writing to stdout: {e}")))
}

/// Prints text to stdout.
pub(crate) fn print_text(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(|e| Failure::Store(format!("writing to stdout: {e}")))
}

/// A plain text table: a header row and left-aligned columns.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = String>| -> String {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(&cell);
            for _ in cell.chars().count()..w {
                s.push(' ');
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut headers.iter().map(|h| (*h).to_owned()));
    out.push_str(&line(&mut widths.iter().map(|w| "-".repeat(*w))));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
    out
}

/// A value shown compactly: strings unquoted only when unambiguous.
pub(crate) fn show_value(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 { format!("{}…", s.chars().take(59).collect::<String>()) } else { s }
}

pub(crate) fn show_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_string())
}

pub(crate) fn show_window(w: Option<&ValidTime>) -> String {
    match w {
        None => "-".into(),
        Some(w) => {
            let start = w.start.map_or("…".into(), |s| format_date(s, w.start_granularity));
            let end = w.end.map_or("…".into(), |e| format_date(e, w.end_granularity));
            let conf = if (w.confidence - 1.0).abs() > f32::EPSILON {
                format!(" (conf {})", w.confidence)
            } else {
                String::new()
            };
            format!("[{start}, {end}){conf}")
        }
    }
}

pub(crate) fn receipt_json(r: &WriteReceipt) -> Value {
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

pub(crate) fn receipt_text(r: &WriteReceipt) -> String {
    let mut s = r.disposition.as_str().to_owned();
    if let Some(c) = r.claim_ref {
        s.push_str(&format!("  claim {c}"));
    }
    if let Some(seq) = r.seq {
        s.push_str(&format!("  seq {seq}"));
    }
    if let Some(why) = &r.rationale {
        s.push_str(&format!("  ({why})"));
    }
    s.push('\n');
    if let Some(reason) = &r.reason {
        s.push_str(&format!("  rejected: {reason}\n"));
    }
    if !r.contested_with.is_empty() {
        let list: Vec<String> = r.contested_with.iter().map(ToString::to_string).collect();
        s.push_str(&format!("  contested with: {}\n", list.join(", ")));
    }
    if let Some(h) = r.handle {
        s.push_str(&format!("  adjudication handle: {h}\n"));
    }
    s
}

pub(crate) fn belief_json(b: &Belief) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("status".into(), json!(format!("{:?}", b.status)));
    }
    v
}

fn candidate_row(c: &Candidate) -> Vec<String> {
    vec![
        show_value(&c.value),
        c.claim_ref.to_string(),
        c.supporting.len().to_string(),
        c.provenance.as_str().to_owned(),
        format!("{}", c.confidence),
        show_window(c.valid_time.as_ref()),
    ]
}

pub(crate) fn belief_text(label: &str, b: &Belief) -> String {
    let mut s = format!("{label}: {:?}", b.status);
    if let Some(v) = &b.value {
        s.push_str(&format!("  {}", show_value(v)));
    }
    s.push_str(&format!("  (as of seq {})\n", b.as_of_seq));
    if !b.candidates.is_empty() {
        let rows: Vec<Vec<String>> = b.candidates.iter().map(candidate_row).collect();
        for line in
            table(&["value", "claim", "supporters", "provenance", "confidence", "valid"], &rows).lines()
        {
            s.push_str(&format!("  {line}\n"));
        }
    }
    if !b.markers.is_empty() {
        let m: Vec<String> = b.markers.iter().map(|m| format!("{m:?}")).collect();
        s.push_str(&format!("  markers: {}\n", m.join(", ")));
    }
    if let Some(c) = b.currency {
        s.push_str(&format!(
            "  currency: {c:?}, corroborations: {}, last confirmed {}\n",
            b.corroboration_count,
            show_time(b.last_confirmed_at)
        ));
    }
    s
}

pub(crate) fn history_entry_json(e: &HistoryEntry) -> Value {
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

pub(crate) fn history_rows(entries: &[HistoryEntry]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            vec![
                e.claim.seq.to_string(),
                e.claim.claim_ref.to_string(),
                show_value(&e.claim.value),
                format!("{:?}", e.status),
                e.disposition.as_str().to_owned(),
                e.claim.provenance.as_str().to_owned(),
                show_window(e.claim.valid_time.as_ref()),
            ]
        })
        .collect()
}

pub(crate) fn audit_rows(entries: &[LedgerEntry]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            let why = e.rationale.get("rationale").and_then(Value::as_str).unwrap_or("").to_owned();
            vec![
                format!("{}.{}", e.seq, e.index),
                e.claim_ref.to_string(),
                e.event.as_str().to_owned(),
                e.disposition.as_str().to_owned(),
                why,
                e.recorded_at.to_string(),
            ]
        })
        .collect()
}

pub(crate) fn audit_entry_json(e: &LedgerEntry) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

pub(crate) fn adjudication_json(a: &Adjudication) -> Value {
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
