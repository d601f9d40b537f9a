//! SPEC §3.4: `subjects` (bytewise pages with counts) and `search` (engine-defined terms over
//! the subject, the predicate and the live values as of a point).

use credence_core::ledger::read_with;
use credence_core::serde_json::json;
use credence_core::{
    AgentId, AsOf, ClaimEngine, Error, IngestRequest, SearchQuery, SubjectRange, SubjectSummary,
    SubjectsQuery, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn agent(id: &str) -> Result<AgentId, CaseError> {
    AgentId::new(id).map_err(|r| CaseError::Failed(format!("{id:?} should be a valid agent id: {r}")))
}

fn summary(subject: &str, lines: u64, live: u64) -> SubjectSummary {
    SubjectSummary { subject: subject.to_owned(), lines, live }
}

/// Every subject of the agent, paged through `limit` at a time from `prefix`.
fn all_subjects(
    fx: &Fixture,
    prefix: Option<&str>,
    limit: usize,
) -> Result<Vec<Vec<SubjectSummary>>, CaseError> {
    let mut query = SubjectsQuery { prefix: prefix.map(str::to_owned), ..SubjectsQuery::new("a", limit) };
    let mut pages = Vec::new();
    loop {
        let page = fx.engine.subjects(&query)?;
        ensure!(page.subjects.len() <= limit, "a page of {} for limit {limit}", page.subjects.len());
        pages.push(page.subjects);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(pages),
        }
    }
}

/// The (subject, predicate) of each line a search finds, in order.
fn found(fx: &Fixture, text: &str, as_of: AsOf) -> Result<Vec<(String, String)>, CaseError> {
    let query = SearchQuery { as_of, ..SearchQuery::new("a", text, 100) };
    Ok(fx.engine.search(&query)?.hits.into_iter().map(|h| (h.subject, h.predicate)).collect())
}

fn line(subject: &str, predicate: &str) -> (String, String) {
    (subject.to_owned(), predicate.to_owned())
}

/// `subjects` lists every subject with a claim in bytewise order (uppercase before lowercase,
/// `é` after `z`), each with its lines and live claims — a line whose claim was invalidated
/// still counts as a line, with no live claim — and pages of one go through all of them, with
/// `next` only while more follow; a prefix (also a non-ASCII one) keeps only its subjects.
pub fn subjects_page_through_every_subject_bytewise_with_counts(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for (s, p, v) in [
        ("bob", "city", "x"),
        ("alice", "city", "y"),
        ("alice", "job", "z"),
        ("Zed", "city", "w"),
        ("éa", "x", "v"),
    ] {
        fx.engine.ingest(IngestRequest::new("a", s, p, v))?;
    }
    let gone = fx.engine.ingest(IngestRequest::new("a", "alicia", "pet", "cat"))?.claim();
    fx.engine.invalidate("a", gone, "test")?;
    fx.engine.ingest(IngestRequest::new("other", "zz", "p", 1))?;
    let want = vec![
        summary("Zed", 1, 1),
        summary("alice", 2, 2),
        summary("alicia", 1, 0),
        summary("bob", 1, 1),
        summary("éa", 1, 1),
    ];
    let one_page = all_subjects(&fx, None, 100)?;
    ensure_eq!(one_page, vec![want.clone()]);
    let pages = all_subjects(&fx, None, 1)?;
    ensure_eq!(pages.len(), want.len());
    ensure_eq!(pages.concat(), want);
    let exact = fx.engine.subjects(&SubjectsQuery::new("a", want.len()))?;
    ensure_eq!(exact.next, None);
    ensure_eq!(all_subjects(&fx, Some("ali"), 1)?.concat(), want[1..3].to_vec());
    ensure_eq!(all_subjects(&fx, Some("é"), 2)?.concat(), want[4..].to_vec());
    ensure_eq!(all_subjects(&fx, Some("nobody"), 2)?.concat(), Vec::new());
    ensure_eq!(fx.engine.subjects(&SubjectsQuery::new("unknown", 5))?.subjects, Vec::new());
    let zero = fx.engine.subjects(&SubjectsQuery::new("a", 0));
    ensure!(matches!(zero, Err(Error::InvalidQuery { .. })), "limit 0 gave {zero:?}");
    Ok(())
}

/// `LedgerRead::subjects` honours a prefix ending in the last code point and an `after` inside
/// the prefix, orders bytewise (`ab` before `a` followed by U+10FFFF), and answers exactly
/// `limit` subjects when that many exist.
pub fn read_subjects_honour_prefix_after_and_limit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for s in ["a", "a\u{10FFFF}", "a\u{10FFFF}b", "ab", "b"] {
        fx.engine.ingest(IngestRequest::new("a", s, "p", 1))?;
    }
    let names = |range: SubjectRange<'_>| -> Result<Vec<String>, CaseError> {
        let got = read_with(&*fx.store.ledger, &agent("a")?, |view| view.subjects(&range))?;
        Ok(got.into_iter().map(|s| s.subject).collect())
    };
    let range = |prefix, after, limit| SubjectRange { prefix, after, limit };
    ensure_eq!(names(range("a\u{10FFFF}", None, 10))?, ["a\u{10FFFF}", "a\u{10FFFF}b"]);
    ensure_eq!(names(range("a", Some("a\u{10FFFF}"), 10))?, ["a\u{10FFFF}b"]);
    ensure_eq!(names(range("a", Some("a"), 2))?, ["ab", "a\u{10FFFF}"]);
    ensure_eq!(names(range("", Some("ab"), 10))?, ["a\u{10FFFF}", "a\u{10FFFF}b", "b"]);
    ensure_eq!(names(range("", None, 3))?, ["a", "ab", "a\u{10FFFF}"]);
    Ok(())
}

/// A search finds the lines whose subject, predicate and live values together hold every term:
/// terms from different parts combine, a missing term excludes the line, the order of the words
/// does not matter, and a line found by a term of another line's value is not.
pub fn search_matches_every_term_across_subject_predicate_and_live_values(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice smith", "home city", "Lisbon"))?;
    fx.engine.ingest(IngestRequest::new("a", "bob", "home city", "Porto"))?;
    fx.engine.ingest(IngestRequest::new("a", "carol", "employer", "Lisbon Tech"))?;
    ensure_eq!(
        found(&fx, "lisbon", AsOf::Now)?,
        vec![line("carol", "employer"), line("alice smith", "home city")]
    );
    ensure_eq!(found(&fx, "Smith LISBON city", AsOf::Now)?, vec![line("alice smith", "home city")]);
    ensure_eq!(found(&fx, "city smith lisbon", AsOf::Now)?, vec![line("alice smith", "home city")]);
    ensure_eq!(found(&fx, "bob lisbon", AsOf::Now)?, Vec::new());
    ensure_eq!(found(&fx, "tech", AsOf::Now)?, vec![line("carol", "employer")]);
    ensure_eq!(found(&fx, "nowhere", AsOf::Now)?, Vec::new());
    ensure_eq!(fx.engine.search(&SearchQuery::new("unknown", "lisbon", 5))?.hits, Vec::new());
    Ok(())
}

/// Terms are Unicode words, fully case-folded: `STRASSE` finds `Straße`, Greek matches across
/// case (final sigma included), each CJK ideograph is a word, punctuation is no term.
pub fn search_segments_unicode_words_and_folds_case(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "berlin", "street", "Hauptstraße"))?;
    fx.engine.ingest(IngestRequest::new("a", "athens", "myth", "ΣΊΣΥΦΟΣ"))?;
    fx.engine.ingest(IngestRequest::new("a", "tokyo", "ward", "東京都, Shinjuku-ku"))?;
    ensure_eq!(found(&fx, "HAUPTSTRASSE", AsOf::Now)?, vec![line("berlin", "street")]);
    ensure_eq!(found(&fx, "σίσυφος", AsOf::Now)?, vec![line("athens", "myth")]);
    ensure_eq!(found(&fx, "京", AsOf::Now)?, vec![line("tokyo", "ward")]);
    ensure_eq!(found(&fx, "shinjuku KU", AsOf::Now)?, vec![line("tokyo", "ward")]);
    ensure_eq!(found(&fx, "hauptstrasse, berlin!", AsOf::Now)?, vec![line("berlin", "street")]);
    Ok(())
}

/// A JSON value contributes its string leaves and the text of its numbers and booleans, not
/// its object keys and not null.
pub fn search_reads_string_leaves_numbers_and_booleans_of_values(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let value = json!({"street": "Rua Augusta", "number": 274, "ratio": 2.5, "open": true,
        "note": null, "tags": ["Baixa", {"deep": "pombaline"}]});
    fx.engine.ingest(IngestRequest::new("a", "shop", "address", value))?;
    for text in ["augusta", "274", "2.5", "true", "baixa", "pombaline"] {
        ensure_eq!(found(&fx, text, AsOf::Now)?, vec![line("shop", "address")], "{text}");
    }
    for text in ["street", "number", "note", "null", "deep"] {
        ensure_eq!(found(&fx, text, AsOf::Now)?, Vec::new(), "{text}");
    }
    Ok(())
}

/// Only live values count, as of the point searched: an invalidated value is not found now but
/// is as of a unit when it was live, a superseded one likewise; a claim written after the point
/// is not found as of it.
pub fn search_sees_the_values_live_as_of_the_point(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let seq_of = |r: &credence_core::WriteReceipt| r.seq.ok_or_else(|| CaseError::Failed("no seq".into()));
    let old = fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?;
    let new = fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    let both = seq_of(&new)?;
    fx.engine.resolve("a", "alice", "city", new.claim())?;
    let tokyo = fx.engine.ingest(IngestRequest::new("a", "bob", "city", "Tokyo"))?;
    fx.engine.invalidate("a", tokyo.claim(), "test")?;
    ensure_eq!(found(&fx, "lisbon", AsOf::Now)?, Vec::new());
    ensure_eq!(found(&fx, "porto", AsOf::Now)?, vec![line("alice", "city")]);
    ensure_eq!(found(&fx, "lisbon", AsOf::Seq(both))?, vec![line("alice", "city")]);
    ensure_eq!(found(&fx, "porto", AsOf::Seq(seq_of(&old)?))?, Vec::new());
    ensure_eq!(found(&fx, "tokyo", AsOf::Now)?, Vec::new());
    ensure_eq!(found(&fx, "tokyo", AsOf::Seq(seq_of(&tokyo)?))?, vec![line("bob", "city")]);
    ensure_eq!(found(&fx, "bob", AsOf::Seq(both))?, Vec::new());
    // The line itself is still found by its subject and predicate, with nothing live.
    ensure_eq!(found(&fx, "bob city", AsOf::Now)?, vec![line("bob", "city")]);
    Ok(())
}

/// A Contested line and a SetValued line are found by any of their live values, each hit
/// carrying the belief `recall` gives; hits come newest line first (by the line's latest seq)
/// and stop at the limit.
pub fn search_lists_newest_lines_first_with_their_beliefs(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "visited", "Porto").set_valued())?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "visited", "Rome").set_valued())?;
    fx.engine.ingest(
        IngestRequest::new("a", "bob", "city", "Lisbon")
            .with_valid_time(ValidTime::new(credence_core::Timestamp::from_ymd(2020, 1, 1), None)),
    )?;
    let results = fx.engine.search(&SearchQuery::new("a", "lisbon", 10))?;
    let lines: Vec<_> = results.hits.iter().map(|h| line(&h.subject, &h.predicate)).collect();
    ensure_eq!(lines, vec![line("bob", "city"), line("alice", "city")]);
    for hit in &results.hits {
        let belief = fx.engine.recall(&credence_core::RecallQuery::new("a", &hit.subject, &hit.predicate))?;
        ensure_eq!(&hit.belief, &belief);
    }
    ensure!(results.hits[1].belief.is_contested(), "alice's city should be Contested");
    ensure_eq!(results.hits.iter().map(|h| h.latest_seq).collect::<Vec<_>>(), vec![5, 2]);
    ensure_eq!(found(&fx, "porto", AsOf::Now)?, vec![line("alice", "visited"), line("alice", "city")]);
    ensure_eq!(found(&fx, "rome", AsOf::Now)?, vec![line("alice", "visited")]);
    let first = fx.engine.search(&SearchQuery::new("a", "alice", 2))?;
    let first: Vec<_> = first.hits.into_iter().map(|h| line(&h.subject, &h.predicate)).collect();
    ensure_eq!(first, vec![line("alice", "visited"), line("alice", "city")]);
    Ok(())
}

/// A text with no terms, too many terms, or a limit of 0 is `InvalidQuery`.
pub fn search_without_terms_or_limit_is_invalid_query(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?;
    let too_many: String = (0..=credence_core::terms::MAX_QUERY_TERMS).map(|i| format!("w{i} ")).collect();
    for (text, limit) in [("", 5), (" ,.;!? ", 5), (too_many.as_str(), 5), ("lisbon", 0)] {
        let got = fx.engine.search(&SearchQuery::new("a", text, limit));
        ensure!(matches!(got, Err(Error::InvalidQuery { .. })), "{text:?}, limit {limit}: {got:?}");
    }
    Ok(())
}

/// `LedgerRead::term_lines` finds each line a term reached by a claim of `seq ≤ seq` — in its
/// subject, predicate or value, whether or not that claim is still live — ordered by line, at
/// most `limit`; `line_latest` is the newest claim of a line as of a unit.
pub fn read_term_lines_and_line_latest_follow_the_claims(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let gone = fx.engine.ingest(IngestRequest::new("a", "bob", "city", "Lisbon"))?.claim();
    fx.engine.invalidate("a", gone, "test")?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "lisbon trips", 3))?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    let id = agent("a")?;
    let (all, first, early, none, city, city_early, missing) = read_with(&*fx.store.ledger, &id, |view| {
        Ok((
            view.term_lines("lisbon", u64::MAX, 10)?,
            view.term_lines("lisbon", u64::MAX, 1)?,
            view.term_lines("lisbon", 3, 10)?,
            view.term_lines("madrid", u64::MAX, 10)?,
            view.line_latest("alice", "city", u64::MAX)?,
            view.line_latest("alice", "city", 4)?,
            view.line_latest("alice", "city", 2)?,
        ))
    })?;
    ensure_eq!(all, vec![line("alice", "lisbon trips"), line("bob", "city")]);
    ensure_eq!(first, vec![line("alice", "lisbon trips")]);
    ensure_eq!(early, vec![line("bob", "city")]);
    ensure_eq!(none, Vec::new());
    ensure_eq!((city, city_early, missing), (Some(5), Some(3), None));
    Ok(())
}
