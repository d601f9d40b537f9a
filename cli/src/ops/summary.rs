//! The paragraph an operation's answer carries beside its JSON document (an MCP tool result's
//! text): what a model needs to read to act — a Contested belief names its candidates and how to settle it, a queued
//! contradiction how to give the verdict, a page how to get the next.

use serde_json::Value;

use crate::{
    Adjudication, AdjudicationOutcome, AuditPage, Belief, BeliefStatus, ClaimRef, Disposition, HistoryPage,
    LineageStep, SearchResults, SubjectsPage, WriteReceipt,
};

/// A value as JSON text, cut to a readable length.
fn show(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(77).collect();
    format!("{cut}...")
}

/// A write's receipt.
pub(crate) fn receipt(r: &WriteReceipt) -> String {
    let claim = r.claim_ref.map(|c| format!(" claim {c}")).unwrap_or_default();
    let seq = r.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
    match r.disposition {
        Disposition::Rejected => {
            let why = r.reason.as_ref().map_or_else(|| "no reason given".to_owned(), ToString::to_string);
            format!("Rejected: {why}. Nothing was written.")
        }
        Disposition::Contested => {
            let others: Vec<String> = r.contested_with.iter().map(ToString::to_string).collect();
            format!(
                "Recorded{claim}{seq}, but it contradicts what was believed ({}): the line is now Contested. \
                 Recall it to see every candidate; settle it with resolve (naming the right claim) or \
                 invalidate the wrong one.",
                others.join(", ")
            )
        }
        Disposition::QueuedForAdjudication => {
            let handle = r.handle.map(|h| h.to_string()).unwrap_or_default();
            format!(
                "Recorded{claim}{seq}; it contradicts what was believed, so it waits for a verdict as \
                 adjudication {handle}. Once the truth is known, call adjudicate with handle {handle} and \
                 verdict affirm (this claim is right), deny, or unknown."
            )
        }
        d => {
            let why = r.rationale.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
            format!("{}{claim}{seq}{why}.", d.as_str())
        }
    }
}

/// A belief, labelled with its line.
pub(crate) fn belief(label: &str, b: &Belief) -> String {
    let seq = b.as_of_seq;
    match b.status {
        BeliefStatus::NoBelief => format!("{label}: nothing is believed (as of seq {seq})."),
        BeliefStatus::Contested => {
            let candidates: Vec<String> = b
                .candidates
                .iter()
                .map(|c| {
                    format!(
                        "{} (claim {}, {}, confidence {})",
                        show(&c.value),
                        c.claim_ref,
                        c.provenance.as_str(),
                        c.confidence
                    )
                })
                .collect();
            format!(
                "{label} is Contested (as of seq {seq}): {} candidates — {}. Do not pick one silently: \
                 settle it with resolve (naming the right claim) or invalidate the wrong one.",
                b.candidates.len(),
                candidates.join("; ")
            )
        }
        status => {
            let value = match &b.value {
                Some(v) => show(v),
                None => b.values.iter().map(show).collect::<Vec<_>>().join(", "),
            };
            let mut s = format!("{label}: {value} ({status:?}, as of seq {seq}");
            if let Some(c) = b.currency {
                s.push_str(&format!(", {c:?}"));
            }
            if b.corroboration_count > 0 {
                s.push_str(&format!(", corroborated {} time(s)", b.corroboration_count));
            }
            s.push(')');
            if !b.markers.is_empty() {
                let markers: Vec<String> = b.markers.iter().map(|m| format!("{m:?}")).collect();
                s.push_str(&format!("; markers: {}", markers.join(", ")));
            }
            s.push('.');
            s
        }
    }
}

/// A page of a line's history.
pub(crate) fn history((subject, predicate): (&str, &str), page: &HistoryPage) -> String {
    let label = format!("{subject} · {predicate}");
    let mut s = format!("{} claim(s) of {label} on this page", page.entries.len());
    for e in &page.entries {
        s.push_str(&format!("; seq {} {} {:?}", e.claim.seq, show(&e.claim.value), e.status));
    }
    s.push_str(". ");
    s.push_str(&belief("Belief", &page.belief));
    if page.next.is_some() {
        s.push_str(&format!(
            " More claims follow: call history again with after = this result's next and as_of_seq = {}.",
            page.as_of_seq
        ));
    }
    s
}

/// The beliefs of a subject.
pub(crate) fn subject(subject: &str, beliefs: &[(String, Belief)]) -> String {
    if beliefs.is_empty() {
        return format!("Nothing is recorded about {subject}.");
    }
    beliefs.iter().map(|(p, b)| belief(&format!("{subject} · {p}"), b)).collect::<Vec<_>>().join(" ")
}

/// A page of subjects.
pub(crate) fn subjects(page: &SubjectsPage) -> String {
    if page.subjects.is_empty() {
        return "No subjects.".into();
    }
    let list: Vec<String> = page
        .subjects
        .iter()
        .map(|s| format!("{} ({} line(s), {} believed claim(s))", s.subject, s.lines, s.live))
        .collect();
    let mut text = format!("{} subject(s): {}.", list.len(), list.join(", "));
    if let Some(next) = &page.next {
        text.push_str(&format!(" More follow: call subjects again with after = {next:?}."));
    }
    text
}

/// What a search found.
pub(crate) fn search(text: &str, results: &SearchResults) -> String {
    if results.hits.is_empty() {
        return format!("No line holds every word of {text:?}.");
    }
    let lines: Vec<String> =
        results.hits.iter().map(|h| belief(&format!("{} · {}", h.subject, h.predicate), &h.belief)).collect();
    format!("{} line(s) hold every word of {text:?}, newest first: {}", results.hits.len(), lines.join(" "))
}

/// A page of the audit trail.
pub(crate) fn audit(page: &AuditPage) -> String {
    let mut s =
        format!("{} ledger entr{}", page.entries.len(), if page.entries.len() == 1 { "y" } else { "ies" });
    for e in page.entries.iter().take(20) {
        s.push_str(&format!(
            "; {}.{} {} {} {}",
            e.seq,
            e.index,
            e.event.as_str(),
            e.claim_ref,
            e.disposition.as_str()
        ));
    }
    if page.entries.len() > 20 {
        s.push_str("; …");
    }
    s.push('.');
    if page.next.is_some() {
        s.push_str(" More follow: call audit again with after = this result's next.");
    }
    s
}

/// A claim's ancestry.
pub(crate) fn lineage(claim: ClaimRef, steps: &[LineageStep]) -> String {
    if steps.is_empty() {
        return format!("Claim {claim} was derived from no other claim.");
    }
    let list: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "depth {}: {} · {} = {} (claim {})",
                s.depth,
                s.claim.subject,
                s.claim.predicate,
                show(&s.claim.value),
                s.claim.claim_ref
            )
        })
        .collect();
    format!("Claim {claim} was derived from: {}.", list.join("; "))
}

/// Open adjudications.
pub(crate) fn pending(open: &[Adjudication]) -> String {
    if open.is_empty() {
        return "No contradiction waits for a verdict.".into();
    }
    let list: Vec<String> = open
        .iter()
        .map(|a| {
            let incumbents: Vec<String> = a.incumbents.iter().map(ToString::to_string).collect();
            format!(
                "handle {} on {} · {}: challenger {} against {}",
                a.handle,
                a.subject,
                a.predicate,
                a.challenger,
                incumbents.join(", ")
            )
        })
        .collect();
    format!(
        "{} contradiction(s) wait for a verdict: {}. Give one with adjudicate (handle, verdict affirm, deny or unknown).",
        open.len(),
        list.join("; ")
    )
}

/// A verdict applied.
pub(crate) fn adjudication(outcome: &AdjudicationOutcome) -> String {
    let list: Vec<String> = outcome.dispositions.iter().map(|(c, d)| format!("{c} {}", d.as_str())).collect();
    format!(
        "{:?} applied to {} at seq {}: {}.",
        outcome.verdict,
        outcome.handle,
        outcome.seq,
        list.join(", ")
    )
}
