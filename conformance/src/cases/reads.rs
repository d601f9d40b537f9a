//! SPEC §3.1–§3.3 and §4: history, subject, lineage, agents, belief fields, reads with
//! invalid agent ids, and configuration validation.

use std::time::Duration;

use credence_core::serde_json::json;
use credence_core::{
    AsOf, AuditQuery, BeliefStatus, ClaimEngine, ClaimRef, ClaimStatus, Criticality, Disposition,
    EngineConfig, Error, IngestRequest, Marker, Provenance, RecallQuery, Timestamp, ValidTime,
};

use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

fn day(y: i32, m: u32, d: u32) -> Timestamp {
    Timestamp::from_ymd(y, m, d).expect("the case uses valid calendar dates")
}

fn since(y: i32) -> ValidTime {
    ValidTime::new(Some(day(y, 1, 1)), None)
}

/// History orders claims by `(key, tx_time, seq, claim_ref)` where key is the trusted valid
/// start, else tx_time: a trusted 2020 start written last comes first, an untrusted window
/// sorts by its tx_time.
pub fn history_orders_by_trusted_start_then_tx_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let late = fx.engine.ingest(IngestRequest::new("a", "s", "p", "2024").with_valid_time(since(2024)))?;
    let untrusted = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "untrusted").with_valid_time(since(2000).with_confidence(0.5)),
    )?;
    let plain = fx.engine.ingest(IngestRequest::new("a", "s", "p", "plain"))?;
    let early = fx.engine.ingest(IngestRequest::new("a", "s", "p", "2020").with_valid_time(since(2020)))?;
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    let order: Vec<ClaimRef> = h.entries.iter().map(|e| e.claim.claim_ref).collect();
    ensure_eq!(order, vec![early.claim(), late.claim(), untrusted.claim(), plain.claim()]);
    Ok(())
}

/// Claims with the same trusted start are ordered by tx_time.
pub fn history_equal_keys_order_by_tx_time(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut refs = Vec::new();
    for v in ["a", "b", "c"] {
        refs.push(
            fx.engine.ingest(IngestRequest::new("a", "s", "p", v).with_valid_time(since(2020)))?.claim(),
        );
        fx.clock.advance_micros(3);
    }
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    let order: Vec<ClaimRef> = h.entries.iter().map(|e| e.claim.claim_ref).collect();
    ensure_eq!(order, refs);
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.values, vec![json!("a"), json!("b"), json!("c")]);
    Ok(())
}

/// History pages continue strictly after their cursor and the last one has none: five claims
/// in pages of 2 are 2, 2 and 1 claims, together the whole history; a page of exactly the
/// remaining claims is the last; every page carries the belief `recall` gives; pinned to the
/// first page's seq, later pages ignore later writes; a limit of 0 is `InvalidQuery`.
pub fn history_pages_continue_after_their_cursor_until_none_is_left(f: &dyn Factory) -> CaseResult {
    use credence_core::HistoryQuery;
    let fx = Fixture::new(f)?;
    for (v, year) in [("c", 2022), ("a", 2020), ("e", 2024), ("b", 2021), ("d", 2023)] {
        fx.engine.ingest(
            IngestRequest::new("a", "s", "p", v)
                .with_valid_time(ValidTime::new(Some(day(year, 1, 1)), Some(day(year + 1, 1, 1)))),
        )?;
    }
    let whole = fx.engine.history("a", "s", "p", AsOf::Now)?;
    let recall = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    let mut query = HistoryQuery::new("a", "s", "p", 2);
    let first = fx.engine.history_page(&query)?;
    query.as_of = AsOf::Seq(first.as_of_seq);
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "later"))?;
    let (mut sizes, mut entries, mut next) = (vec![first.entries.len()], first.entries, first.next);
    ensure_eq!(first.belief, recall);
    while let Some(after) = next {
        query.after = Some(after);
        let page = fx.engine.history_page(&query)?;
        ensure_eq!(page.belief, recall);
        ensure_eq!(page.as_of_seq, first.as_of_seq);
        sizes.push(page.entries.len());
        entries.extend(page.entries);
        next = page.next;
    }
    ensure_eq!(sizes, vec![2, 2, 1]);
    ensure_eq!(entries, whole.entries);
    let values: Vec<_> = entries.iter().map(|e| e.claim.value.clone()).collect();
    ensure_eq!(values, vec![json!("a"), json!("b"), json!("c"), json!("d"), json!("e")]);
    let exact = HistoryQuery { as_of: AsOf::Seq(first.as_of_seq), ..HistoryQuery::new("a", "s", "p", 5) };
    let exact = fx.engine.history_page(&exact)?;
    ensure_eq!((exact.entries.len(), exact.next), (5, None));
    let now = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure_eq!(now.entries.len(), 6);
    let zero = fx.engine.history_page(&HistoryQuery::new("a", "s", "p", 0));
    ensure!(matches!(zero, Err(Error::InvalidQuery { .. })), "limit 0 gave {zero:?}");
    Ok(())
}

/// History gives every claim its status: Current, Superseded, Invalidated, Quarantined,
/// Pending (PendingConflict, PendingLowConfidence, stored re-entries, which are RecallTainted),
/// with its latest disposition and its own tx_time, seq, window, provenance and confidence.
pub fn history_lists_every_claim_with_its_status(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let ing = |v: &str| IngestRequest::new("a", "s", "p", v);
    let cur = fx.engine.ingest(ing("x"))?;
    let sup = fx.engine.ingest(ing("y"))?;
    fx.engine.resolve("a", "s", "p", cur.claim())?;
    let inv = fx.engine.ingest(ing("x").with_provenance(Provenance::USER).with_confidence(0.9))?;
    fx.engine.invalidate("a", inv.claim(), "dup")?;
    let quar = fx.engine.ingest(ing("q").with_valid_time(since(2099)))?;
    let conflict = fx.engine.ingest(ing("m").with_provenance(Provenance::ModelDerived))?;
    let low = fx.engine.ingest(ing("l").with_confidence(0.1))?;
    let reentry = fx.engine.ingest(ing("r").with_provenance(Provenance::RecallReEntry))?;
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    let want = [
        (&cur, ClaimStatus::Current, Disposition::CommittedCheap, vec![]),
        (&sup, ClaimStatus::Superseded, Disposition::Superseded, vec![]),
        (&inv, ClaimStatus::Invalidated, Disposition::Invalidated, vec![]),
        (&quar, ClaimStatus::Quarantined, Disposition::Quarantined, vec![]),
        (&conflict, ClaimStatus::Pending, Disposition::PendingConflict, vec![]),
        (&low, ClaimStatus::Pending, Disposition::PendingLowConfidence, vec![]),
        (&reentry, ClaimStatus::Pending, Disposition::PendingLowConfidence, vec![Marker::RecallTainted]),
    ];
    ensure_eq!(h.entries.len(), want.len());
    for (r, status, disposition, markers) in want {
        let e = h
            .entries
            .iter()
            .find(|e| Some(e.claim.claim_ref) == r.claim_ref)
            .ok_or_else(|| CaseError::Failed(format!("{r:?} missing from history")))?;
        ensure_eq!(e.status, status, "status of {r:?}");
        ensure_eq!(e.disposition, disposition, "disposition of {r:?}");
        ensure_eq!(e.markers, markers, "markers of {r:?}");
        ensure_eq!(Some(e.claim.seq), r.seq);
        ensure_eq!(Some(e.claim.tx_time), r.tx_time);
    }
    let e = h.entries.iter().find(|e| Some(e.claim.claim_ref) == inv.claim_ref);
    ensure!(
        e.is_some_and(
            |e| e.claim.provenance == Provenance::USER && e.claim.confidence.to_bits() == 0.9f32.to_bits()
        ),
        "provenance and confidence kept: {e:?}"
    );
    let e = h.entries.iter().find(|e| Some(e.claim.claim_ref) == quar.claim_ref);
    ensure_eq!(e.and_then(|e| e.claim.valid_time), Some(since(2099)));
    Ok(())
}

/// `history.current()` always equals `recall` at the same as-of point.
pub fn history_current_equals_recall(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(since(2020)))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y").with_provenance(Provenance::ModelDerived))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "z"))?;
    fx.engine.resolve("a", "s", "p", x.claim())?;
    fx.clock.advance_days(45);
    for n in 0..=6 {
        let h = fx.engine.history("a", "s", "p", AsOf::Seq(n))?;
        let r = fx.engine.recall(&RecallQuery::new("a", "s", "p").as_of_seq(n))?;
        ensure_eq!(*h.current(), r, "as of seq {n}");
        ensure_eq!(h.as_of_seq, r.as_of_seq, "as of seq {n}");
    }
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure_eq!(*h.current(), fx.engine.recall(&RecallQuery::new("a", "s", "p"))?);
    Ok(())
}

/// The history of a line with no claims is empty with a NoBelief belief.
pub fn history_of_empty_line_is_empty(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "other", 1))?;
    let h = fx.engine.history("a", "s", "p", AsOf::Now)?;
    ensure!(h.entries.is_empty(), "{:?}", h.entries);
    ensure_eq!(h.current().status, BeliefStatus::NoBelief);
    Ok(())
}

/// `subject` answers one belief per predicate of the subject, sorted bytewise by predicate,
/// each equal to `recall` of that line; other subjects are not included.
pub fn subject_lists_one_belief_per_predicate_sorted(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    for (p, v) in [("zeta", "1"), ("alpha", "2"), ("Beta", "3"), ("mid", "4"), ("alpha", "5"), ("é", "6")] {
        fx.engine.ingest(IngestRequest::new("a", "alice", p, v))?;
    }
    fx.engine.ingest(IngestRequest::new("a", "bob", "aaa", 0))?;
    fx.engine.ingest(IngestRequest::new("a", "Alice", "aaa", 0))?;
    let all = fx.engine.subject("a", "alice", AsOf::Now, None)?;
    let preds: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
    ensure_eq!(preds, vec!["Beta", "alpha", "mid", "zeta", "é"]);
    for (p, belief) in &all {
        ensure_eq!(*belief, fx.engine.recall(&RecallQuery::new("a", "alice", p.as_str()))?, "line {p}");
    }
    ensure_eq!(all[1].1.status, BeliefStatus::Contested);
    Ok(())
}

/// `subject` passes `valid_at` to every line.
pub fn subject_applies_valid_at_to_every_line(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let w = |a: i32, b: Option<i32>| ValidTime::new(Some(day(a, 1, 1)), b.map(|y| day(y, 1, 1)));
    fx.engine.ingest(IngestRequest::new("a", "acme", "ceo", "Alice").with_valid_time(w(2020, Some(2022))))?;
    fx.engine.ingest(IngestRequest::new("a", "acme", "ceo", "Bob").with_valid_time(w(2022, None)))?;
    fx.engine.ingest(IngestRequest::new("a", "acme", "hq", "Berlin").with_valid_time(w(2019, Some(2023))))?;
    fx.engine.ingest(IngestRequest::new("a", "acme", "hq", "Paris").with_valid_time(w(2023, None)))?;
    let then = fx.engine.subject("a", "acme", AsOf::Now, Some(day(2021, 1, 1)))?;
    let values: Vec<_> = then.iter().map(|(p, b)| (p.clone(), b.value.clone())).collect();
    ensure_eq!(
        values,
        vec![("ceo".to_owned(), Some(json!("Alice"))), ("hq".to_owned(), Some(json!("Berlin")))]
    );
    Ok(())
}

/// `subject` of an unknown subject is empty.
pub fn subject_unknown_is_empty(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "alice", "p", 1))?;
    ensure!(fx.engine.subject("a", "nobody", AsOf::Now, None)?.is_empty(), "unknown subject");
    Ok(())
}

/// `lineage` lists the DerivedFrom ancestry in depth order with depths 1, 2, …, and ignores
/// DependsOn edges.
pub fn lineage_lists_derived_from_ancestry_in_depth_order(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let root = fx.engine.ingest(IngestRequest::new("a", "s", "root", 0))?.claim();
    let other = fx.engine.ingest(IngestRequest::new("a", "s", "other", 0))?.claim();
    let dep = fx.engine.ingest(IngestRequest::new("a", "s", "dep", 0))?.claim();
    let mid = fx.engine.ingest(IngestRequest::new("a", "s", "mid", 1).derived_from([root]))?.claim();
    let leaf = fx
        .engine
        .ingest(IngestRequest::new("a", "s", "leaf", 2).derived_from([mid, other]).depends_on([dep]))?
        .claim();
    let steps = fx.engine.lineage("a", leaf)?;
    let got: Vec<(u32, ClaimRef)> = steps.iter().map(|s| (s.depth, s.claim.claim_ref)).collect();
    ensure_eq!(got.len(), 3);
    ensure!(got.windows(2).all(|w| w[0].0 <= w[1].0), "depth order: {got:?}");
    let mut depth1: Vec<ClaimRef> = got.iter().filter(|(d, _)| *d == 1).map(|(_, c)| *c).collect();
    depth1.sort();
    let mut want1 = vec![mid, other];
    want1.sort();
    ensure_eq!(depth1, want1);
    ensure_eq!(got[2], (2, root));
    ensure!(fx.engine.lineage("a", root)?.is_empty(), "a root has no ancestry");
    Ok(())
}

/// `lineage` follows at most 64 levels of ancestry.
pub fn lineage_is_limited_to_depth_64(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let mut prev = fx.engine.ingest(IngestRequest::new("a", "s", "p", 0))?.claim();
    for i in 1..=70 {
        prev = fx.engine.ingest(IngestRequest::new("a", "s", "p", i).derived_from([prev]))?.claim();
    }
    let steps = fx.engine.lineage("a", prev)?;
    ensure_eq!(steps.len(), 64);
    let depths: Vec<u32> = steps.iter().map(|s| s.depth).collect();
    ensure_eq!(depths, (1..=64).collect::<Vec<u32>>());
    ensure_eq!(steps[0].claim.value, json!(69));
    ensure_eq!(steps[63].claim.value, json!(6));
    Ok(())
}

/// `lineage` of a claim the agent does not have is `Error::NotFound`, never a panic.
pub fn lineage_of_unknown_claim_is_not_found(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let foreign = fx.engine.ingest(IngestRequest::new("other", "s", "p", 0))?.claim();
    fx.engine.ingest(IngestRequest::new("a", "s", "p", 0))?;
    let r = fx.engine.lineage("a", foreign);
    ensure!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    Ok(())
}

/// A belief's criticality is the highest among live claims only.
pub fn recall_criticality_is_max_over_live_claims(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_criticality(Criticality::Low))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_criticality(Criticality::High))?;
    let crit =
        fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_criticality(Criticality::Critical))?;
    fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "y").with_criticality(Criticality::Critical).with_confidence(0.1),
    )?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.criticality, Some(Criticality::Critical));
    fx.engine.invalidate("a", crit.claim(), "wrong")?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.criticality, Some(Criticality::High), "non-live claims do not count");
    let empty = fx.engine.recall(&RecallQuery::new("a", "s", "none"))?;
    ensure_eq!(empty.criticality, None);
    Ok(())
}

/// Markers come in the order Contested, PendingReview, Inferred, each at most once.
pub fn recall_markers_are_ordered_and_unique(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let parent = fx.engine.ingest(IngestRequest::new("a", "s", "base", 0))?.claim();
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "m").with_provenance(Provenance::ModelDerived))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "n").with_provenance(Provenance::ModelDerived))?;
    for v in ["x", "y"] {
        let r = fx.engine.ingest(IngestRequest::new("a", "s", "p", v).depends_on([parent]))?;
        ensure_eq!(r.disposition, Disposition::Contested, "{v}");
    }
    fx.engine.invalidate("a", parent, "gone")?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.values, vec![json!("m"), json!("x"), json!("y")]);
    ensure_eq!(b.markers, vec![Marker::Contested, Marker::PendingReview, Marker::Inferred]);
    Ok(())
}

/// A candidate reports its earliest supporter and provenance and the highest supporter
/// confidence.
pub fn recall_candidate_reports_supporters_and_confidence(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let a = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_confidence(0.5))?;
    let b = fx.engine.ingest(
        IngestRequest::new("a", "s", "p", "x").with_confidence(0.9).with_provenance(Provenance::USER),
    )?;
    let belief = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(belief.candidates.len(), 1);
    let c = &belief.candidates[0];
    ensure_eq!(c.claim_ref, a.claim());
    ensure_eq!(c.supporting, vec![a.claim(), b.claim()]);
    ensure_eq!(c.provenance, Provenance::FIRST_HAND);
    ensure_eq!(c.confidence.to_bits(), 0.9f32.to_bits());
    Ok(())
}

/// Status comes from the live set alone: a claim labelled Contested that is left alone (its
/// rival invalidated) is TimingUncertain, not Contested.
pub fn recall_status_ignores_contested_label_of_lone_survivor(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    ensure_eq!(y.disposition, Disposition::Contested);
    fx.engine.invalidate("a", x.claim(), "wrong")?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(b.value, Some(json!("y")));
    ensure!(b.markers.is_empty(), "{:?}", b.markers);
    Ok(())
}

/// A queued challenger whose incumbent stopped being live is the belief on its own
/// (TimingUncertain), while the adjudication stays pending.
pub fn recall_status_ignores_queued_label_of_lone_challenger(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let x = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let y = fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    ensure_eq!(y.disposition, Disposition::QueuedForAdjudication);
    fx.engine.invalidate("a", x.claim(), "wrong")?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.status, BeliefStatus::TimingUncertain);
    ensure_eq!(b.primary_claim, y.claim_ref);
    Ok(())
}

/// A Contested belief has no single value, no primary claim and a corroboration count of 0.
pub fn recall_contested_has_no_single_value(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "y"))?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.status, BeliefStatus::Contested);
    ensure_eq!(b.value, None);
    ensure_eq!(b.primary_claim, None);
    ensure_eq!(b.corroboration_count, 0);
    ensure_eq!(b.candidates.iter().map(|c| c.supporting.len()).collect::<Vec<_>>(), vec![2, 1]);
    Ok(())
}

/// The primary claim is the earliest supporter in canonical order: a supporter with a trusted
/// 2020 start precedes an earlier-written supporter without a window.
pub fn recall_primary_claim_is_earliest_in_canonical_order(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let plain = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    let dated = fx.engine.ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(since(2020)))?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.primary_claim, dated.claim_ref);
    ensure_eq!(b.candidates[0].supporting, vec![dated.claim(), plain.claim()]);
    ensure_eq!(b.candidates[0].valid_time, Some(since(2020)));
    Ok(())
}

/// A single value is TimingUncertain only when no supporter has valid-time data; one supporter
/// with a window (even untrusted) makes it Resolved.
pub fn recall_single_value_with_any_window_is_resolved(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "p", "x"))?;
    ensure_eq!(fx.engine.recall(&RecallQuery::new("a", "s", "p"))?.status, BeliefStatus::TimingUncertain);
    fx.engine
        .ingest(IngestRequest::new("a", "s", "p", "x").with_valid_time(since(2020).with_confidence(0.1)))?;
    let b = fx.engine.recall(&RecallQuery::new("a", "s", "p"))?;
    ensure_eq!(b.status, BeliefStatus::Resolved);
    ensure_eq!(b.value, Some(json!("x")));
    Ok(())
}

/// `subject` lists a predicate whose claims are all non-live, with a NoBelief belief
/// (interpretation: "every predicate of the subject" means every predicate with a stored claim).
pub fn subject_lists_predicates_without_live_claims_as_no_belief(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    fx.engine.ingest(IngestRequest::new("a", "s", "live", 1))?;
    let gone = fx.engine.ingest(IngestRequest::new("a", "s", "gone", 1))?;
    fx.engine.invalidate("a", gone.claim(), "wrong")?;
    fx.engine.ingest(IngestRequest::new("a", "s", "low", 1).with_confidence(0.1))?;
    let all = fx.engine.subject("a", "s", AsOf::Now, None)?;
    let got: Vec<(&str, BeliefStatus)> = all.iter().map(|(p, b)| (p.as_str(), b.status)).collect();
    ensure_eq!(
        got,
        vec![
            ("gone", BeliefStatus::NoBelief),
            ("live", BeliefStatus::TimingUncertain),
            ("low", BeliefStatus::NoBelief)
        ]
    );
    Ok(())
}

/// Reads with an invalid agent id (empty, NUL, control character, too long) answer empty —
/// never an error, never a panic — and create nothing.
pub fn reads_with_invalid_agent_id_answer_empty(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let long = "x".repeat(300);
    for id in ["", "a\0b", "a\nb", long.as_str()] {
        let b = fx.engine.recall(&RecallQuery::new(id, "s", "p"))?;
        ensure_eq!(b.status, BeliefStatus::NoBelief, "recall {id:?}");
        let h = fx.engine.history(id, "s", "p", AsOf::Now)?;
        ensure!(h.entries.is_empty(), "history {id:?}");
        ensure!(fx.engine.subject(id, "s", AsOf::Now, None)?.is_empty(), "subject {id:?}");
        ensure!(fx.engine.audit(id, &AuditQuery::default())?.entries.is_empty(), "audit {id:?}");
        ensure!(fx.engine.pending(Some(id))?.is_empty(), "pending {id:?}");
    }
    ensure!(fx.engine.agents()?.is_empty(), "nothing created");
    Ok(())
}

/// Writes other than ingest with an invalid agent id are Rejected with a typed reason, never
/// an error or a panic.
pub fn writes_with_invalid_agent_id_are_rejected(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let c = fx.engine.ingest(IngestRequest::new("a", "s", "p", 1))?.claim();
    for r in [
        fx.engine.invalidate("", c, "x")?,
        fx.engine.reinstate("a\0", c)?,
        fx.engine.resolve("a\n", "s", "p", c)?,
    ] {
        ensure_eq!(r.disposition, Disposition::Rejected);
        ensure!(r.reason.is_some() && r.seq.is_none(), "{r:?}");
    }
    ensure_eq!(fx.engine.agents()?.len(), 1);
    Ok(())
}

fn invalid(f: &dyn Factory, config: EngineConfig, what: &str) -> CaseResult {
    match Fixture::build(f, config, false) {
        Err(CaseError::Error(Error::InvalidConfig { .. })) => Ok(()),
        Err(e) => Err(CaseError::Failed(format!("{what}: expected InvalidConfig, got {e}"))),
        Ok(_) => Err(CaseError::Failed(format!("{what}: the engine accepted an invalid configuration"))),
    }
}

/// A confidence threshold or floor outside [0, 1], NaN or infinite is `Error::InvalidConfig`.
pub fn config_confidence_out_of_range_is_invalid_config(f: &dyn Factory) -> CaseResult {
    for v in [f32::NAN, f32::INFINITY, -0.1, 1.1] {
        let c = EngineConfig { valid_time_confidence_threshold: v, ..EngineConfig::default() };
        invalid(f, c, &format!("threshold {v}"))?;
        let c = EngineConfig { low_confidence_floor: v, ..EngineConfig::default() };
        invalid(f, c, &format!("floor {v}"))?;
    }
    Ok(())
}

/// `aging_days > decayed_days` is `Error::InvalidConfig`.
pub fn config_aging_after_decayed_is_invalid_config(f: &dyn Factory) -> CaseResult {
    invalid(
        f,
        EngineConfig { aging_days: 31, decayed_days: 30, ..EngineConfig::default() },
        "aging > decayed",
    )
}

/// A zero burst window, burst threshold, TTL or value limit is `Error::InvalidConfig`.
pub fn config_zero_limits_are_invalid_config(f: &dyn Factory) -> CaseResult {
    invalid(f, EngineConfig { burst_window: Duration::ZERO, ..EngineConfig::default() }, "burst_window 0")?;
    invalid(
        f,
        EngineConfig { quarantine_burst_threshold: 0, ..EngineConfig::default() },
        "burst threshold 0",
    )?;
    invalid(f, EngineConfig { adjudication_ttl: Some(Duration::ZERO), ..EngineConfig::default() }, "ttl 0")?;
    invalid(f, EngineConfig { max_value_bytes: 0, ..EngineConfig::default() }, "max_value_bytes 0")
}

/// Boundary configurations are valid: thresholds 0 and 1, `aging_days == decayed_days`.
pub fn config_boundary_values_are_accepted(f: &dyn Factory) -> CaseResult {
    for c in [
        EngineConfig {
            valid_time_confidence_threshold: 0.0,
            low_confidence_floor: 1.0,
            ..EngineConfig::default()
        },
        EngineConfig {
            valid_time_confidence_threshold: 1.0,
            low_confidence_floor: 0.0,
            ..EngineConfig::default()
        },
        EngineConfig { aging_days: 0, decayed_days: 0, ..EngineConfig::default() },
        EngineConfig { adjudication_ttl: Some(Duration::from_micros(1)), ..EngineConfig::default() },
    ] {
        Fixture::build(f, c.clone(), false).map_err(|e| CaseError::Failed(format!("{c:?} refused: {e}")))?;
    }
    Ok(())
}
