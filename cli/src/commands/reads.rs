//! Commands that read an agent's claims or list the store: `recall`, `history`, `subject`,
//! `subjects`, `search`, `audit`, `lineage`, `agents`.

use credence::transfer;
use credence::{
    AsOf, AuditQuery, ClaimEngine, HISTORY_PAGE, History, HistoryQuery, RecallQuery, SearchQuery,
    SubjectsQuery, documents,
};
use serde_json::{Value, json};

use super::{Globals, as_of_point, damage_report, damage_result, damage_text, parse_ref, valid_at_point};
use crate::Failure;
use crate::args::AsOfArgs;
use crate::output::{self, table};

/// `recall`: the belief of a line.
pub(super) fn recall(
    g: &Globals,
    agent: &str,
    subject: &str,
    predicate: &str,
    as_of: &AsOfArgs,
    valid_at: Option<&str>,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    let mut query = RecallQuery::new(agent, subject, predicate);
    query.as_of = as_of_point(as_of)?;
    query.valid_at = valid_at_point(valid_at)?;
    let belief = ClaimEngine::recall(&c, &query)?;
    g.show(
        || documents::belief(&belief),
        || output::belief_text(&format!("{subject} · {predicate}"), &belief),
    )
}

/// `history`: the claims of a line, read page by page up to `limit` (all by default), every
/// page pinned to the first one's seq; then its belief.
pub(super) fn history(
    g: &Globals,
    agent: &str,
    (subject, predicate): (&str, &str),
    as_of: &AsOfArgs,
    limit: Option<usize>,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    if limit == Some(0) {
        return Err(Failure::Usage("--limit must be at least 1".into()));
    }
    let page_size = limit.unwrap_or(HISTORY_PAGE).min(HISTORY_PAGE);
    let mut query = HistoryQuery {
        as_of: as_of_point(as_of)?,
        ..HistoryQuery::new(agent, subject, predicate, page_size)
    };
    let first = c.history_page(&query)?;
    let (belief, as_of_seq) = (first.belief, first.as_of_seq);
    let (mut entries, mut next) = (first.entries, first.next);
    query.as_of = AsOf::Seq(as_of_seq);
    while let Some(after) = next.filter(|_| limit.is_none_or(|l| entries.len() < l)) {
        query.after = Some(after);
        let page = c.history_page(&query)?;
        entries.extend(page.entries);
        next = page.next;
    }
    if let Some(l) = limit {
        entries.truncate(l);
    }
    let h = History { entries, belief, as_of_seq };
    g.show(
        || documents::history(agent, (subject, predicate), &h),
        || {
            let mut s = table(
                &["seq", "claim", "value", "status", "disposition", "provenance", "valid"],
                &output::history_rows(&h.entries),
            );
            s.push('\n');
            s.push_str(&output::belief_text("belief", &h.belief));
            s
        },
    )
}

/// `subject`: the belief of every predicate of a subject.
pub(super) fn subject(
    g: &Globals,
    agent: &str,
    subject: &str,
    as_of: &AsOfArgs,
    valid_at: Option<&str>,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    let valid_at = valid_at_point(valid_at)?;
    let beliefs = c.subject(agent, subject, as_of_point(as_of)?, valid_at)?;
    g.show(
        || documents::subject(agent, subject, &beliefs),
        || {
            let s: String = beliefs.iter().map(|(p, b)| output::belief_text(p, b)).collect();
            if s.is_empty() { "no claims about this subject\n".to_owned() } else { s }
        },
    )
}

/// `subjects`: an agent's subjects, read page by page up to `limit` (all by default).
pub(super) fn subjects(
    g: &Globals,
    agent: &str,
    prefix: Option<String>,
    limit: Option<usize>,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    if limit == Some(0) {
        return Err(Failure::Usage("--limit must be at least 1".into()));
    }
    let mut query = SubjectsQuery { prefix, ..SubjectsQuery::new(agent, limit.unwrap_or(1000).min(1000)) };
    let mut subjects = Vec::new();
    loop {
        let page = c.subjects(&query)?;
        subjects.extend(page.subjects);
        if let Some(l) = limit
            && subjects.len() >= l
        {
            subjects.truncate(l);
            break;
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    g.show(
        || documents::subjects(agent, &subjects, None),
        || {
            let rows: Vec<Vec<String>> = subjects
                .iter()
                .map(|s| vec![s.subject.clone(), s.lines.to_string(), s.live.to_string()])
                .collect();
            table(&["subject", "lines", "live claims"], &rows)
        },
    )
}

/// `search`: the lines holding every word of a text, newest first, with their beliefs.
pub(super) fn search(
    g: &Globals,
    agent: &str,
    text: &str,
    as_of: &AsOfArgs,
    limit: usize,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    let query = SearchQuery { as_of: as_of_point(as_of)?, ..SearchQuery::new(agent, text, limit) };
    let results = c.search(&query)?;
    g.show(
        || documents::search(agent, text, &results),
        || {
            if results.hits.is_empty() {
                return "no line holds every word\n".to_owned();
            }
            results
                .hits
                .iter()
                .map(|h| output::belief_text(&format!("{} · {}", h.subject, h.predicate), &h.belief))
                .collect()
        },
    )
}

/// `audit`: an agent's ledger entries, read page by page up to `limit` (all by default).
pub(super) fn audit(
    g: &Globals,
    agent: &str,
    claim: Option<&str>,
    limit: Option<usize>,
    newest_first: bool,
) -> Result<(), Failure> {
    let c = g.open_for(agent)?;
    let claim_ref = claim.map(parse_ref).transpose()?;
    if limit == Some(0) {
        return Err(Failure::Usage("--limit must be at least 1".into()));
    }
    let mut entries = Vec::new();
    let mut query =
        AuditQuery { claim_ref, after: None, limit: limit.unwrap_or(1000).min(1000), newest_first };
    loop {
        let page = c.audit(agent, &query)?;
        entries.extend(page.entries);
        if let Some(l) = limit
            && entries.len() >= l
        {
            entries.truncate(l);
            break;
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    g.show(
        || documents::audit(agent, &entries, None),
        || {
            table(
                &["seq", "claim", "event", "disposition", "rationale", "recorded_at"],
                &output::audit_rows(&entries),
            )
        },
    )
}

/// `lineage`: the `derived_from` ancestry of a claim.
pub(super) fn lineage(g: &Globals, agent: &str, claim: &str) -> Result<(), Failure> {
    let claim = parse_ref(claim)?;
    let c = g.open_for(agent)?;
    let steps = c.lineage(agent, claim)?;
    g.show(
        || documents::lineage(claim, &steps),
        || {
            if steps.is_empty() {
                return "no ancestors\n".to_owned();
            }
            let rows: Vec<Vec<String>> = steps
                .iter()
                .map(|s| {
                    vec![
                        s.depth.to_string(),
                        s.claim.claim_ref.to_string(),
                        format!("{} · {}", s.claim.subject, s.claim.predicate),
                        output::show_value(&s.claim.value),
                        s.claim.provenance.as_str().to_owned(),
                    ]
                })
                .collect();
            table(&["depth", "claim", "line", "value", "provenance"], &rows)
        },
    )
}

/// `agents`: every agent with its number of commit units; damaged ones are reported after the
/// others are listed.
pub(super) fn agents(g: &Globals) -> Result<(), Failure> {
    let c = g.open()?;
    let survey = c.ledger().survey()?;
    let (mut rows, mut failed) = (Vec::new(), Vec::new());
    for agent in survey.agents {
        match transfer::head_seq(c.ledger().as_ref(), &agent) {
            Ok(units) => rows.push((agent, units)),
            Err(e) => failed.push((agent, e)),
        }
    }
    let damaged = damage_report(failed, survey.damaged);
    g.show(
        || {
            let list: Vec<Value> = rows.iter().map(|(a, n)| json!({"agent": a, "units": n})).collect();
            json!({"agents": list, "damaged": damaged})
        },
        || {
            let rows: Vec<Vec<String>> =
                rows.iter().map(|(a, n)| vec![a.to_string(), n.to_string()]).collect();
            table(&["agent", "units"], &rows) + &damage_text(&damaged)
        },
    )?;
    damage_result("listing agents", &damaged)
}
