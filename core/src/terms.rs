//! The terms `search` matches (SPEC §3.4), defined here rather than by a database so every
//! backend answers alike.
//!
//! A text's terms are its words by Unicode word segmentation (UAX #29), each case-folded with
//! full folding (`Straße` and `STRASSE` are one term); a term longer than [`MAX_TERM_BYTES`] is
//! cut at the last character boundary within it (the same cut applies to what is searched and
//! to what is stored, so such words still match). A JSON value contributes the terms of its
//! string leaves and of the text of its numbers and booleans; object keys and nulls contribute
//! none. A line's terms are those of its subject, its predicate and its live values.
//!
//! Backends store, per agent, which lines ever had a claim carrying each term
//! ([`of_claim`]), written in the claim's commit unit; the engine checks a candidate line's
//! terms against what is live as of the point asked.

use std::collections::BTreeSet;

use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

use crate::claim::Claim;

/// The longest term stored or searched, in bytes of UTF-8.
pub const MAX_TERM_BYTES: usize = 100;

/// The most terms one search may ask for.
pub const MAX_QUERY_TERMS: usize = 64;

/// The terms of a text, in order of first appearance, each once.
pub fn of_text(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    add_text(text, &mut seen, &mut out);
    out
}

/// The terms of a JSON value, in order of first appearance, each once.
pub fn of_value(value: &Value) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    add_value(value, &mut seen, &mut out);
    out
}

/// The terms a claim gives its line — its subject's, its predicate's and its value's — sorted,
/// each once.
pub fn of_claim(claim: &Claim) -> Vec<String> {
    of_parts(&claim.subject, &claim.predicate, &claim.value)
}

/// [`of_claim`] of a claim with this subject, predicate and value.
pub fn of_parts(subject: &str, predicate: &str, value: &Value) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    add_text(subject, &mut seen, &mut out);
    add_text(predicate, &mut seen, &mut out);
    add_value(value, &mut seen, &mut out);
    seen.into_iter().collect()
}

fn add_text(text: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
    for word in text.unicode_words() {
        let term = cut(caseless::default_case_fold_str(word));
        if !term.is_empty() && seen.insert(term.clone()) {
            out.push(term);
        }
    }
}

// Depth-first with an explicit stack: a deeply nested value must not exhaust the thread's stack.
fn add_value(value: &Value, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Null => {}
            Value::Bool(b) => add_text(if *b { "true" } else { "false" }, seen, out),
            Value::Number(n) => add_text(&n.to_string(), seen, out),
            Value::String(s) => add_text(s, seen, out),
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(map) => stack.extend(map.values().rev()),
        }
    }
}

fn cut(mut term: String) -> String {
    if term.len() > MAX_TERM_BYTES {
        let mut end = MAX_TERM_BYTES;
        while !term.is_char_boundary(end) {
            end -= 1;
        }
        term.truncate(end);
    }
    term
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn words_are_segmented_by_unicode_rules_and_fully_case_folded() {
        assert_eq!(of_text("Hello, WORLD! hello"), ["hello", "world"]);
        assert_eq!(of_text("Straße"), of_text("STRASSE"));
        assert_eq!(of_text("ΣΊΣΥΦΟΣ"), of_text("σίσυφος"));
        assert_eq!(of_text("can't stop 3.5 times"), ["can't", "stop", "3.5", "times"]);
        assert_eq!(of_text("東京都"), ["東", "京", "都"]);
        assert!(of_text(" ,.;- ").is_empty());
    }

    #[test]
    fn values_give_their_string_leaves_numbers_and_booleans_not_keys_or_nulls() {
        let v = json!({"City Name": "Lisbon", "pop": 545_000, "capital": true, "alt": null,
            "tags": ["Old Town", {"deep": -1.5}]});
        let mut terms = of_value(&v);
        terms.sort();
        assert_eq!(terms, ["1.5", "545000", "lisbon", "old", "town", "true"]);
    }

    #[test]
    fn a_long_word_is_cut_at_a_character_boundary_the_same_way_everywhere() {
        let word = "é".repeat(80);
        let terms = of_text(&word);
        assert_eq!(terms.len(), 1);
        assert!(terms[0].len() <= MAX_TERM_BYTES && terms[0].len() >= MAX_TERM_BYTES - 1);
        assert_eq!(of_value(&json!(word)), terms);
    }
}
