//! Printing JSON documents, human-readable tables and the progress bar.

use std::io::{IsTerminal, Write};

use credence::{
    Belief, Candidate, HistoryEntry, LedgerEntry, Timestamp, ValidTime, WriteReceipt, format_date,
};
use serde_json::Value;

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

/// A table with a header row, drawn by comfy-table in one fixed style: plain UTF-8 box
/// drawing, no colour, no wrapping (the width of the terminal, if any, plays no part), so the
/// same rows always give the same text.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(headers.iter().copied())
        .add_rows(rows.iter().map(|r| r.iter().map(String::as_str)));
    t.trim_fmt() + "\n"
}

/// A progress bar on stderr counting units, drawn by indicatif; hidden (every call does
/// nothing) unless stderr is a terminal and the output is not JSON.
pub(crate) struct Progress(indicatif::ProgressBar);

impl Progress {
    /// A bar for `label` ("importing", "copying"), live only as said above.
    pub(crate) fn new(label: &'static str, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} units ({elapsed})")
            .map_or_else(|_| indicatif::ProgressStyle::default_bar(), |s| s.progress_chars("#>."));
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(label);
        Progress(bar)
    }

    /// Whether the bar is drawn at all.
    pub(crate) fn is_live(&self) -> bool {
        !self.0.is_hidden()
    }

    /// `done` of `total` units.
    pub(crate) fn update(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }

    /// Leaves the bar in its last state, or erases it when nothing was counted.
    pub(crate) fn finish(&self) {
        if self.0.length().is_some() { self.0.finish() } else { self.0.finish_and_clear() }
    }
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
