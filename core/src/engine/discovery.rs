//! Discovery (SPEC §3.4): an agent's subjects page by page, and search by terms.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::Engine;
use super::fold;
use super::read_agent;
use crate::api::{SearchHit, SearchQuery, SearchResults, SubjectsPage, SubjectsQuery};
use crate::error::{Error, Result};
use crate::ledger::{Ledger, LedgerRead, Span, SubjectRange, read_with};
use crate::terms;

impl<L: Ledger> Engine<L> {
    pub(super) fn subjects_page(&self, q: &SubjectsQuery) -> Result<SubjectsPage> {
        if q.limit == 0 {
            return Err(Error::InvalidQuery { reason: "subjects limit must be at least 1".into() });
        }
        let Some(agent) = read_agent(&q.agent) else {
            return Ok(SubjectsPage { subjects: Vec::new(), next: None });
        };
        read_with(&self.ledger, &agent, |view| {
            let range = SubjectRange {
                prefix: q.prefix.as_deref().unwrap_or(""),
                after: q.after.as_deref(),
                limit: q.limit.saturating_add(1),
            };
            let mut subjects = view.subjects(&range)?;
            let more = subjects.len() > q.limit;
            subjects.truncate(q.limit);
            let next = if more { subjects.last().map(|s| s.subject.clone()) } else { None };
            Ok(SubjectsPage { subjects, next })
        })
    }

    /// The lines of a rarest term are the candidates ([`rarest_lines`]); newest first, each is
    /// kept when its terms as of the point include every term asked.
    pub(super) fn search_lines(&self, q: &SearchQuery) -> Result<SearchResults> {
        if q.limit == 0 {
            return Err(Error::InvalidQuery { reason: "search limit must be at least 1".into() });
        }
        let wanted = terms::of_text(&q.text);
        if wanted.is_empty() {
            return Err(Error::InvalidQuery { reason: format!("the search text {:?} has no terms", q.text) });
        }
        if wanted.len() > terms::MAX_QUERY_TERMS {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "the search text has {} terms; at most {} are searched",
                    wanted.len(),
                    terms::MAX_QUERY_TERMS
                ),
            });
        }
        let Some(agent) = read_agent(&q.agent) else {
            return Ok(SearchResults { hits: Vec::new(), as_of_seq: 0 });
        };
        let threshold = self.config.valid_time_confidence_threshold;
        read_with(&self.ledger, &agent, |view| {
            let (max_seq, at, at_head) = self.pin(view, q.as_of)?;
            let rarest = rarest_lines(view, &wanted, max_seq)?;
            let mut candidates = Vec::new();
            for (subject, predicate) in rarest {
                if let Some(latest) = view.line_latest(&subject, &predicate, max_seq)? {
                    candidates.push((latest, subject, predicate));
                }
            }
            candidates.sort_by(|a, b| (Reverse(a.0), &a.1, &a.2).cmp(&(Reverse(b.0), &b.1, &b.2)));
            let mut hits = Vec::new();
            for (latest_seq, subject, predicate) in candidates {
                if hits.len() == q.limit {
                    break;
                }
                let live = if at_head {
                    view.live(&subject, &predicate)?
                } else {
                    view.live_at(&subject, &predicate, max_seq, Span::ALL, threshold)?
                };
                let mut held: BTreeSet<String> = terms::of_text(&subject).into_iter().collect();
                held.extend(terms::of_text(&predicate));
                for l in &live {
                    held.extend(terms::of_value(&l.claim.value));
                }
                if !wanted.iter().all(|t| held.contains(t)) {
                    continue;
                }
                let line = self.belief_line(view, (&subject, &predicate), (max_seq, at, at_head), None)?;
                let belief = fold::belief(&line, &self.config, &self.fold_point(max_seq, at, None));
                hits.push(SearchHit { subject, predicate, latest_seq, belief });
            }
            Ok(SearchResults { hits, as_of_seq: max_seq })
        })
    }
}

/// The lines of the term with the fewest as of `seq` (within a factor of 4): every term's lines
/// are read up to a cap that grows fourfold until one term's fit, so the reads cost O(terms ×
/// the postings of the rarest term), whatever the order of the terms.
fn rarest_lines(view: &dyn LedgerRead, wanted: &[String], seq: u64) -> Result<Vec<(String, String)>> {
    let mut cap: usize = 1;
    loop {
        for term in wanted {
            let lines = view.term_lines(term, seq, cap.saturating_add(1))?;
            if lines.len() <= cap {
                return Ok(lines);
            }
        }
        cap = cap.saturating_mul(4);
    }
}
