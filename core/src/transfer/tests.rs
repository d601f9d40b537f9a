//! Import files as untrusted input: a real export passes every rule, and a copy of it with one
//! field of one line changed is refused with that line and rule, writing nothing.

use std::io::{Cursor, Read};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::{
    Adjudication, ClaimEngine, Disposition, Engine, IngestRequest, ManualClock, MemoryLedger, Oracle,
    Provenance, SequentialIds, Timestamp, ValidTime, Verdict, WriteOptions,
};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// An oracle that takes every request.
struct Accepting;

impl Oracle for Accepting {
    fn request(&self, _: &Adjudication) -> Result<(), String> {
        Ok(())
    }
}

fn date(y: i32) -> TestResult<Timestamp> {
    Ok(Timestamp::from_ymd(y, 1, 1).ok_or("a valid date")?)
}

/// A real export of two agents holding every kind of row the engine writes, and the clock
/// that wrote it (standing at the last write).
struct Fixture {
    lines: Vec<String>,
    clock: Arc<ManualClock>,
}

fn fixture() -> TestResult<Fixture> {
    let clock = Arc::new(ManualClock::new(date(2026)?));
    let ledger = Arc::new(MemoryLedger::new());
    let config =
        EngineConfig { adjudication_ttl: Some(Duration::from_secs(3600)), ..EngineConfig::default() };
    let engine = Engine::builder(ledger.clone())
        .config(config)
        .clock(clock.clone())
        .ids(Arc::new(SequentialIds::new(7)))
        .oracle(Arc::new(Accepting))
        .build()?;
    let tick = || clock.advance_micros(1_000_000);
    let ingest = |r: IngestRequest| {
        tick();
        engine.ingest(r)
    };
    let key = WriteOptions::with_idempotency_key;

    // A dependency and a derivation, an invalidation (flagging the dependent) and a
    // reinstatement.
    let base = ingest(IngestRequest::new("a", "s", "base", 0))?.claim();
    ingest(IngestRequest::new("a", "s", "dep", "x").depends_on([base]))?;
    ingest(IngestRequest::new("a", "s", "derived", "y").derived_from([base]))?;
    engine.invalidate("a", base, "gone")?;
    engine.reinstate("a", base)?;

    // A contradiction queued for the oracle, affirmed with a key (the incumbent is Superseded,
    // its dependent flagged), the loser reinstated, a corroboration and a recall re-entry.
    let lisbon = ingest(IngestRequest::new("a", "alice", "city", "Lisbon"))?.claim();
    ingest(IngestRequest::new("a", "alice", "commute", "tram").depends_on([lisbon]))?;
    let porto = ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    assert_eq!(porto.disposition, Disposition::QueuedForAdjudication);
    let handle = porto.handle.ok_or("queued")?;
    engine.submit_adjudication_with(
        "a",
        handle,
        Verdict::Affirm,
        Provenance::FIRST_HAND,
        &key("verdict-1"),
    )?;
    engine.reinstate("a", lisbon)?;
    let again = ingest(IngestRequest::new("a", "alice", "city", "Porto"))?;
    assert_eq!(again.rationale.as_deref(), Some("corroboration"));
    let echo =
        ingest(IngestRequest::new("a", "alice", "city", "Porto").with_provenance(Provenance::RecallReEntry))?;
    assert_eq!(echo.rationale.as_deref(), Some("recall_identity"));

    // One adjudication expired by a sweep, one by a late keyed verdict; a keyed resolve.
    let faro = ingest(IngestRequest::new("a", "bob", "city", "Faro"))?.claim();
    ingest(IngestRequest::new("a", "bob", "city", "Braga"))?;
    ingest(IngestRequest::new("a", "carol", "city", "Evora"))?;
    let late = ingest(IngestRequest::new("a", "carol", "city", "Tomar"))?.handle.ok_or("queued")?;
    clock.advance_micros(2 * 3_600_000_000);
    let swept = engine.sweep(clock.now())?;
    assert_eq!(swept.expired, 2);
    ingest(IngestRequest::new("a", "dave", "city", "Beja"))?;
    let late2 = ingest(IngestRequest::new("a", "dave", "city", "Sines"))?.handle.ok_or("queued")?;
    assert_ne!(late, late2);
    clock.advance_micros(2 * 3_600_000_000);
    let expired =
        engine.submit_adjudication_with("a", late2, Verdict::Deny, Provenance::USER, &key("late-1"));
    assert!(matches!(expired, Err(crate::Error::HandleExpired { .. })), "{expired:?}");
    tick();
    engine.resolve_with("a", "bob", "city", faro, &key("resolve-1"))?;

    // Every other disposition a claim row is committed with, a keyed ingest, a set-valued
    // line and a fact about 1950.
    ingest(IngestRequest::new("a", "alice", "age", 30))?;
    ingest(IngestRequest::new("a", "alice", "age", 31).with_provenance(Provenance::ModelDerived))?;
    ingest(IngestRequest::new("a", "alice", "hobby", "chess").with_provenance(Provenance::ModelDerived))?;
    ingest(IngestRequest::new("a", "alice", "mood", "ok").with_confidence(0.1))?;
    ingest(
        IngestRequest::new("a", "alice", "job", "x")
            .with_valid_time(ValidTime::new(Some(date(2030)?), Some(date(2020)?))),
    )?;
    ingest(IngestRequest::new("a", "alice", "city", "Braga").with_provenance(Provenance::RecallReEntry))?;
    ingest(IngestRequest::new("a", "s", "keyed", 1).with_idempotency_key("k-1"))?;
    ingest(IngestRequest::new("a", "s", "langs", "pt").set_valued())?;
    ingest(IngestRequest::new("a", "s", "langs", "en").set_valued())?;
    ingest(
        IngestRequest::new("a", "acme", "founded", 1950)
            .with_valid_time(ValidTime::new(Some(date(1950)?), None)),
    )?;

    let source = ingest(IngestRequest::new("b", "t", "q", json!({"k": [1, 2.5, null]})))?.claim();
    ingest(IngestRequest::new("b", "t", "r", "derived").derived_from([source]))?;

    let mut out = Vec::new();
    export(&*ledger, None, &mut out)?;
    let lines = String::from_utf8(out)?.lines().map(str::to_owned).collect();
    Ok(Fixture { lines, clock })
}

impl Fixture {
    fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn options(&self) -> ImportOptions<'_> {
        ImportOptions::with_clock(&*self.clock)
    }

    /// Line `n` (1-based) as JSON.
    fn line(&self, n: usize) -> TestResult<Value> {
        Ok(serde_json::from_str(self.lines.get(n - 1).ok_or("no such line")?)?)
    }

    /// The first unit line whose `unit` satisfies `pred`.
    fn find(&self, pred: impl Fn(&Value) -> bool) -> TestResult<usize> {
        for n in 2..self.lines.len() {
            if pred(&self.line(n)?["unit"]) {
                return Ok(n);
            }
        }
        Err("no unit line matches".into())
    }

    /// The first unit line with an entry of `event` (and `disposition`, when given).
    fn with_entry(&self, event: &str, disposition: Option<&str>) -> TestResult<usize> {
        self.find(|u| {
            rows(u, "entries")
                .iter()
                .any(|e| e["event"] == event && disposition.is_none_or(|d| e["disposition"] == d))
        })
    }

    /// The whole file with line `n` changed by `f`.
    fn with(&self, n: usize, f: impl FnOnce(&mut Value)) -> TestResult<String> {
        let mut v = self.line(n)?;
        f(&mut v);
        let mut lines = self.lines.clone();
        lines[n - 1] = serde_json::to_string(&v)?;
        Ok(lines.iter().map(|l| format!("{l}\n")).collect())
    }

    /// Imports `text` into an empty store: it must be refused, write nothing, and name a line
    /// and a rule, which are returned.
    fn refused(&self, text: &str) -> TestResult<(usize, Rule)> {
        self.refused_with(text, &self.options())
    }

    /// Runs each case — a name, a line and a change to that line's unit — and fails listing
    /// every case not refused at its line with `rule` (so each case is checked on its own).
    fn each_refused(&self, rule: Rule, cases: Vec<Case<'_>>) -> TestResult {
        let mut wrong = Vec::new();
        for (what, n, f) in cases {
            let text = self.with(n, |l| f(unit(l)))?;
            match self.refused(&text) {
                Ok(got) if got == (n, rule) => {}
                got => wrong.push(format!("{what}: {got:?}")),
            }
        }
        assert!(wrong.is_empty(), "not refused with ({rule}) at their line:\n{}", wrong.join("\n"));
        Ok(())
    }

    fn refused_with(&self, text: &str, options: &ImportOptions<'_>) -> TestResult<(usize, Rule)> {
        let target = MemoryLedger::new();
        let result = import_from(&target, Cursor::new(text.as_bytes()), options, &mut |_, _| {});
        if !target.agents()?.is_empty() {
            return Err(format!("the import wrote {:?} ({result:?})", target.agents()?).into());
        }
        match result {
            Err(TransferError::Format { line, rule, reason }) => {
                let message = TransferError::Format { line, rule, reason }.to_string();
                assert!(message.contains(&format!("line {line} [{rule}]")), "{message}");
                Ok((line, rule))
            }
            other => Err(format!("expected a refusal, got {other:?}").into()),
        }
    }
}

/// One crafted change: what it is, the line it changes and the change to that line's unit.
type Case<'a> = (&'a str, usize, Box<dyn Fn(&mut Value)>);

/// The rows of `unit[field]`.
fn rows<'v>(unit: &'v Value, field: &str) -> &'v [Value] {
    unit[field].as_array().map_or(&[], Vec::as_slice)
}

/// The unit of a line, mutably.
fn unit(line: &mut Value) -> &mut Value {
    &mut line["unit"]
}

/// Sets every transaction time of a unit line to `t`.
fn retime(line: &mut Value, t: i64) {
    let u = unit(line);
    u["tx_time"] = json!(t);
    for (rows, field) in [
        ("claims", "tx_time"),
        ("entries", "recorded_at"),
        ("assertions", "at"),
        ("adjudications", "queued_at"),
    ] {
        for row in u[rows].as_array_mut().into_iter().flatten() {
            row[field] = json!(t);
        }
    }
}

const NOBODY: &str = "01890000-0000-7000-8000-00000000dead";

#[test]
fn a_real_export_passes_every_rule_and_round_trips() -> TestResult {
    let fx = fixture()?;
    let target = MemoryLedger::new();
    let stats = import_from(&target, Cursor::new(fx.text().into_bytes()), &fx.options(), &mut |_, _| {})?;
    assert_eq!(stats.agents, 2);
    assert_eq!(stats.units, u64::try_from(fx.lines.len() - 2)?);
    let mut again = Vec::new();
    export(&target, None, &mut again)?;
    assert_eq!(String::from_utf8(again)?, fx.text());
    // Every disposition but PendingReview-as-commit and Rejected, every event, every answer
    // kind of an idempotency record is in the file.
    let text = fx.text();
    for needle in [
        "\"CommittedCheap\"",
        "\"CommittedInferred\"",
        "\"QueuedForAdjudication\"",
        "\"Contested\"",
        "\"PendingConflict\"",
        "\"PendingLowConfidence\"",
        "\"PendingReview\"",
        "\"Quarantined\"",
        "\"Superseded\"",
        "\"Invalidated\"",
        "\"Reinstated\"",
        "\"Corroborated\"",
        "\"RecallReEntryDetected\"",
        "\"AdjudicationResolved\"",
        "\"AdjudicationExpired\"",
        "\"Resolved\"",
        "\"DependentFlaggedPendingReview\"",
        "\"kind\":\"receipt\"",
        "\"kind\":\"adjudication\"",
        "\"kind\":\"handle_expired\"",
    ] {
        assert!(text.contains(needle), "the fixture has no {needle}");
    }
    Ok(())
}

#[test]
fn time_range_refuses_tx_times_at_i64_max() -> TestResult {
    let fx = fixture()?;
    // The last unit of agent a, every time in it at i64::MAX: the old reader took it (the
    // times still increase), and every later write to the agent would have failed.
    let n = fx.find(|u| !rows(u, "claims").is_empty() && rows(u, "claims")[0]["subject"] == "acme")?;
    let text = fx.with(n, |l| retime(l, i64::MAX))?;
    assert_eq!(fx.refused(&text)?, (n, Rule::TimeRange));
    Ok(())
}

#[test]
fn time_range_refuses_times_before_the_epoch_and_after_tomorrow() -> TestResult {
    let fx = fixture()?;
    let n = fx.find(|u| rows(u, "claims").first().is_some_and(|c| c["agent_id"] == "b"))?;
    let text = fx.with(n, |l| retime(l, -1))?;
    assert_eq!(fx.refused(&text)?, (n, Rule::TimeRange));

    // The last unit of a at exactly now + 1 day passes; one microsecond later does not.
    let last_a = n - 1;
    let at = |t: i64| fx.with(last_a, |l| retime(l, t));
    let latest = fx.clock.now().plus_micros(crate::time::MICROS_PER_DAY).0;
    check_import(at(latest)?.as_bytes(), &fx.options())?;
    assert_eq!(fx.refused(&at(latest + 1)?)?, (last_a, Rule::TimeRange));
    Ok(())
}

#[test]
fn time_range_refuses_an_adjudication_expiring_before_it_was_queued() -> TestResult {
    let fx = fixture()?;
    let n = fx.find(|u| !rows(u, "adjudications").is_empty())?;
    let text = fx.with(n, |l| {
        let j = &mut unit(l)["adjudications"][0];
        j["expires_at"] = j["queued_at"].clone();
    })?;
    assert_eq!(fx.refused(&text)?, (n, Rule::TimeRange));
    Ok(())
}

#[test]
fn valid_time_is_not_limited_to_the_epoch() -> TestResult {
    let fx = fixture()?;
    // The fixture holds a fact valid from 1950 (a negative timestamp), and passes.
    assert!(fx.text().contains(&format!("\"start\":{}", date(1950)?.0)));
    check_import(fx.text().as_bytes(), &fx.options())?;
    Ok(())
}

/// A change to the first claim of a unit.
fn on_claim(f: impl Fn(&mut Value) + 'static) -> Box<dyn Fn(&mut Value)> {
    Box::new(move |u| f(&mut u["claims"][0]))
}

/// The file with the first claim of agent b changed by `f`, and that claim's line.
fn claim_of_b(fx: &Fixture, f: impl FnOnce(&mut Value)) -> TestResult<(String, usize)> {
    let n = fx.find(|u| rows(u, "claims").first().is_some_and(|c| c["agent_id"] == "b"))?;
    Ok((fx.with(n, |l| f(&mut unit(l)["claims"][0]))?, n))
}

#[test]
fn claim_limits_refuse_what_a_live_write_rejects() -> TestResult {
    let fx = fixture()?;
    let deep = (0..101).fold(json!(1), |v, _| json!([v]));
    let b = fx.find(|u| rows(u, "claims").first().is_some_and(|c| c["agent_id"] == "b"))?;
    let cases: Vec<Case> = vec![
        ("a 10 MB value", b, on_claim(|c| c["value"] = json!("x".repeat(10_000_000)))),
        ("a value nested 101 deep", b, on_claim(move |c| c["value"] = deep.clone())),
        ("a NUL in the subject", b, on_claim(|c| c["subject"] = json!("t\u{0}"))),
        ("an empty subject", b, on_claim(|c| c["subject"] = json!(""))),
        ("an empty predicate", b, on_claim(|c| c["predicate"] = json!(""))),
        ("a 1025-byte predicate", b, on_claim(|c| c["predicate"] = json!("p".repeat(1025)))),
        ("confidence 5", b, on_claim(|c| c["confidence"] = json!(5))),
        ("confidence -1", b, on_claim(|c| c["confidence"] = json!(-1))),
        ("confidence beyond f32", b, on_claim(|c| c["confidence"] = json!(1e300))),
        (
            "valid-time confidence 2",
            b,
            on_claim(|c| {
                c["valid_time"] = json!({"start": 0, "end": null, "confidence": 2.0,
                "start_granularity": null, "end_granularity": null})
            }),
        ),
    ];
    fx.each_refused(Rule::ClaimLimits, cases)?;
    // A parent listed twice (its edge twice too).
    let n = fx.find(|u| rows(u, "claims").first().is_some_and(|c| !rows(c, "derived_from").is_empty()))?;
    let text = fx.with(n, |l| {
        let u = unit(l);
        let p = u["claims"][0]["derived_from"][0].clone();
        u["claims"][0]["derived_from"] = json!([p, p]);
        let edge = u["edges"][0].clone();
        u["edges"] = json!([edge, edge]);
    })?;
    assert_eq!(fx.refused(&text)?, (n, Rule::ClaimLimits));
    Ok(())
}

#[test]
fn claim_limits_take_the_callers_max_value_bytes() -> TestResult {
    let fx = fixture()?;
    let (text, n) = claim_of_b(&fx, |c| c["value"] = json!("x".repeat(70_000)))?;
    assert_eq!(fx.refused(&text)?, (n, Rule::ClaimLimits));
    let roomy = ImportOptions { max_value_bytes: 100_000, ..fx.options() };
    check_import(text.as_bytes(), &roomy)?;
    Ok(())
}

#[test]
fn seq_gap_refuses_a_repeated_unit() -> TestResult {
    let fx = fixture()?;
    let mut lines = fx.lines.clone();
    lines.insert(3, lines[2].clone());
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(fx.refused(&text)?, (4, Rule::SeqGap));
    Ok(())
}

#[test]
fn tx_time_order_refuses_a_unit_no_later_than_the_one_before() -> TestResult {
    let fx = fixture()?;
    let before = fx.line(2)?["unit"]["tx_time"].as_i64().ok_or("a time")?;
    let text = fx.with(3, |l| retime(l, before))?;
    assert_eq!(fx.refused(&text)?, (3, Rule::TxTimeOrder));
    Ok(())
}

#[test]
fn unit_consistency_refuses_a_claim_committed_entry_naming_nothing() -> TestResult {
    let fx = fixture()?;
    let n = fx.with_entry("ClaimCommitted", None)?;
    let text = fx.with(n, |l| unit(l)["entries"][0]["claim_ref"] = json!(NOBODY))?;
    assert_eq!(fx.refused(&text)?, (n, Rule::UnitConsistency));
    Ok(())
}

#[test]
fn unit_consistency_refuses_units_the_engine_cannot_write() -> TestResult {
    let fx = fixture()?;
    let with_claim = fx.find(|u| !rows(u, "claims").is_empty())?;
    let cases: Vec<Case> = vec![
        (
            "a unit with no rows",
            2,
            Box::new(|u| {
                for f in ["claims", "assertions", "edges", "entries", "adjudications", "status_changes"] {
                    u[f] = json!([]);
                }
            }),
        ),
        ("a claim without its ClaimCommitted entry", with_claim, Box::new(|u| u["entries"] = json!([]))),
        (
            "a claim with two ClaimCommitted entries",
            with_claim,
            Box::new(|u| {
                let e = u["entries"][0].clone();
                let mut second = e.clone();
                second["index"] = json!(1);
                u["entries"] = json!([e, second]);
            }),
        ),
        ("a claim of another agent", with_claim, Box::new(|u| u["claims"][0]["agent_id"] = json!("b"))),
        ("an entry index out of order", with_claim, Box::new(|u| u["entries"][0]["index"] = json!(3))),
    ];
    fx.each_refused(Rule::UnitConsistency, cases)?;
    // A claim whose depends_on list and DependsOn edges differ.
    let n = fx.find(|u| rows(u, "edges").iter().any(|e| e["kind"] == "DependsOn"))?;
    let text = fx.with(n, |l| unit(l)["edges"] = json!([]))?;
    assert_eq!(fx.refused(&text)?, (n, Rule::UnitConsistency));
    // An adjudication row queued at another time than its unit.
    let n = fx.find(|u| !rows(u, "adjudications").is_empty())?;
    let text = fx.with(n, |l| {
        let j = &mut unit(l)["adjudications"][0];
        j["queued_at"] = json!(j["queued_at"].as_i64().unwrap_or(0) - 1);
    })?;
    assert_eq!(fx.refused(&text)?, (n, Rule::UnitConsistency));
    Ok(())
}

#[test]
fn reference_refuses_rows_naming_claims_or_adjudications_that_do_not_exist() -> TestResult {
    let fx = fixture()?;
    let invalidated = fx.with_entry("Invalidated", None)?;
    let derived = fx.find(|u| rows(u, "edges").iter().any(|e| e["kind"] == "DerivedFrom"))?;
    let queued = fx.find(|u| !rows(u, "adjudications").is_empty())?;
    let closing = fx.find(|u| !rows(u, "status_changes").is_empty())?;
    let cases: Vec<Case> = vec![
        (
            "an entry about no claim",
            invalidated,
            Box::new(|u| {
                for e in u["entries"].as_array_mut().into_iter().flatten() {
                    if e["event"] == "Invalidated" {
                        e["claim_ref"] = json!(NOBODY);
                    }
                }
            }),
        ),
        (
            "an assertion about no claim",
            invalidated,
            Box::new(|u| u["assertions"][0]["target"] = json!(NOBODY)),
        ),
        (
            "a parent that does not exist",
            derived,
            Box::new(|u| {
                u["claims"][0]["derived_from"] = json!([NOBODY]);
                u["edges"][0]["to"] = json!(NOBODY);
            }),
        ),
        (
            "an incumbent that does not exist",
            queued,
            Box::new(|u| {
                u["adjudications"][0]["incumbents"] = json!([NOBODY]);
            }),
        ),
        (
            "closing an adjudication never queued",
            closing,
            Box::new(|u| {
                u["status_changes"][0]["handle"] = json!(NOBODY);
            }),
        ),
    ];
    fx.each_refused(Rule::Reference, cases)?;
    Ok(())
}

#[test]
fn duplicate_refuses_an_id_used_twice() -> TestResult {
    let fx = fixture()?;
    let first = fx.find(|u| !rows(u, "assertions").is_empty())?;
    let used = fx.line(first)?["unit"]["assertions"][0]["assertion_ref"].clone();
    let second = fx.find(|u| rows(u, "assertions").iter().any(|a| a["kind"] == "Reopen"))?;
    let text = fx.with(second, |l| unit(l)["assertions"][0]["assertion_ref"] = used.clone())?;
    assert_eq!(fx.refused(&text)?, (second, Rule::Duplicate));
    // A claim id reused by a later unit.
    let reused = fx.line(2)?["unit"]["claims"][0]["claim_ref"].clone();
    let text = fx.with(3, |l| {
        let u = unit(l);
        u["claims"][0]["claim_ref"] = reused.clone();
        u["entries"][0]["claim_ref"] = reused.clone();
        u["edges"][0]["from"] = reused.clone();
    })?;
    assert_eq!(fx.refused(&text)?, (3, Rule::Duplicate));
    Ok(())
}

#[test]
fn adjudication_refuses_rows_and_status_changes_the_engine_cannot_write() -> TestResult {
    let fx = fixture()?;
    let queued = fx.find(|u| !rows(u, "adjudications").is_empty())?;
    let text = fx.with(queued, |l| unit(l)["adjudications"][0]["status"] = json!("resolved"))?;
    assert_eq!(fx.refused(&text)?, (queued, Rule::Adjudication));
    let text = fx.with(queued, |l| unit(l)["adjudications"][0]["subject"] = json!("someone else"))?;
    assert_eq!(fx.refused(&text)?, (queued, Rule::Adjudication));
    // Closing again an adjudication an earlier unit closed: the affirmed one, closed again by
    // the keyed resolve.
    let affirmed = fx.with_entry("AdjudicationResolved", None)?;
    let handle = fx.line(affirmed)?["unit"]["status_changes"][0]["handle"].clone();
    let resolve = fx.with_entry("Resolved", None)?;
    assert!(resolve > affirmed);
    let text = fx.with(resolve, |l| {
        unit(l)["status_changes"] = json!([{"handle": handle.clone(), "status": "resolved"}]);
    })?;
    assert_eq!(fx.refused(&text)?, (resolve, Rule::Adjudication));
    Ok(())
}

#[test]
fn disposition_event_refuses_entries_the_engine_never_writes() -> TestResult {
    let fx = fixture()?;
    let committed = fx.with_entry("ClaimCommitted", None)?;
    let set = |event: &'static str, field: &'static str, to: Value| -> Box<dyn Fn(&mut Value)> {
        Box::new(move |u| {
            for e in u["entries"].as_array_mut().into_iter().flatten() {
                if e["event"] == event {
                    e[field] = to.clone();
                }
            }
        })
    };
    let corroborated = fx.with_entry("Corroborated", None)?;
    let invalidated = fx.with_entry("Invalidated", None)?;
    let recall_claim =
        fx.find(|u| rows(u, "claims").first().is_some_and(|c| c["provenance"] == "RecallReEntry"))?;
    let cases: Vec<Case> = vec![
        ("a Rejected entry", committed, set("ClaimCommitted", "disposition", json!("Rejected"))),
        (
            "ClaimCommitted as Superseded",
            committed,
            set("ClaimCommitted", "disposition", json!("Superseded")),
        ),
        ("Corroborated as Contested", corroborated, set("Corroborated", "disposition", json!("Contested"))),
        ("a rationale that is a string", committed, set("ClaimCommitted", "rationale", json!("cheap_path"))),
        ("a rationale without its code", committed, set("ClaimCommitted", "rationale", json!({"why": 1}))),
        (
            "a recall re-entry committed as first-hand truth",
            recall_claim,
            set("ClaimCommitted", "disposition", json!("CommittedCheap")),
        ),
        (
            "a ValidityAsserted entry without its assertion",
            invalidated,
            Box::new(|u| u["assertions"] = json!([])),
        ),
        (
            "a Corroborated entry without its edge",
            corroborated,
            Box::new(|u| {
                let kept: Vec<Value> =
                    rows(u, "edges").iter().filter(|e| e["kind"] != "Corroborates").cloned().collect();
                u["edges"] = json!(kept);
            }),
        ),
    ];
    fx.each_refused(Rule::DispositionEvent, cases)?;
    Ok(())
}

#[test]
fn idempotency_refuses_bad_keys_reused_keys_and_foreign_answers() -> TestResult {
    let fx = fixture()?;
    let keyed = |key: &'static str| fx.find(move |u| u["idempotency"]["key"] == key);
    let ingest = keyed("k-1")?;
    let resolve = keyed("resolve-1")?;
    let (first, later) = (ingest.min(resolve), ingest.max(resolve));
    let first_key = fx.line(first)?["unit"]["idempotency"]["key"].clone();
    let cases: Vec<Case> = vec![
        ("an empty key", ingest, Box::new(|u| u["idempotency"]["key"] = json!(""))),
        ("a key with a NUL", ingest, Box::new(|u| u["idempotency"]["key"] = json!("k\u{0}"))),
        ("a key stored twice", later, Box::new(move |u| u["idempotency"]["key"] = first_key.clone())),
        (
            "a request that is no fingerprint",
            ingest,
            Box::new(|u| u["idempotency"]["request"] = json!("abc")),
        ),
        ("an answer about another seq", ingest, Box::new(|u| u["idempotency"]["answer"]["seq"] = json!(1))),
        (
            "a Rejected answer",
            ingest,
            Box::new(|u| u["idempotency"]["answer"]["disposition"] = json!("Rejected")),
        ),
        (
            "an expiry the unit does not record",
            keyed("late-1")?,
            Box::new(|u| u["idempotency"]["answer"]["handle"] = json!(NOBODY)),
        ),
        ("an answer without its seq", ingest, Box::new(|u| u["idempotency"]["answer"]["seq"] = json!(null))),
        (
            "an answer about a claim nobody holds",
            ingest,
            Box::new(|u| u["idempotency"]["answer"]["claim_ref"] = json!(NOBODY)),
        ),
        (
            "an answer whose disposition its unit does not record",
            ingest,
            Box::new(|u| u["idempotency"]["answer"]["disposition"] = json!("Superseded")),
        ),
    ];
    fx.each_refused(Rule::Idempotency, cases)?;
    Ok(())
}

/// An endless stream of zero bytes, counting what was read.
struct Zeros {
    read: usize,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.read += buf.len();
        Ok(buf.len())
    }
}

#[test]
fn line_too_long_refuses_an_endless_line_after_reading_the_cap() -> TestResult {
    let fx = fixture()?;
    // From the first byte: the header line's cap.
    let mut zeros = Zeros { read: 0 };
    match check_import(&mut zeros, &fx.options()) {
        Err(TransferError::Format { line: 1, rule: Rule::LineTooLong, .. }) => {}
        other => return Err(format!("expected line_too_long, got {other:?}").into()),
    }
    assert!(zeros.read <= MAX_HEADER_BYTES + 16 * 1024, "read {} bytes", zeros.read);
    // After a valid header: the unit line's cap (64 MiB), then no more.
    let header = format!("{}\n", fx.lines[0]);
    let mut zeros = Zeros { read: 0 };
    match check_import(header.as_bytes().chain(&mut zeros), &fx.options()) {
        Err(TransferError::Format { line: 2, rule: Rule::LineTooLong, .. }) => {}
        other => return Err(format!("expected line_too_long, got {other:?}").into()),
    }
    assert!(zeros.read <= MAX_LINE_BYTES + 16 * 1024, "read {} bytes", zeros.read);
    // A smaller cap refuses the first unit line longer than it.
    let tight = ImportOptions { max_line_bytes: 64, ..fx.options() };
    assert_eq!(fx.refused_with(&fx.text(), &tight)?, (2, Rule::LineTooLong));
    Ok(())
}

#[test]
fn file_shape_rules_name_their_line() -> TestResult {
    let fx = fixture()?;
    assert_eq!(fx.refused("")?, (1, Rule::Header));
    assert_eq!(fx.refused("{\"format\":\"credence-export\",\"version\":9}\n")?, (1, Rule::Header));
    let mut bytes = fx.text().into_bytes();
    let at = fx.lines[0].len() + 10;
    bytes[at] = 0xff;
    let target = MemoryLedger::new();
    let refused = import_from(&target, Cursor::new(bytes), &fx.options(), &mut |_, _| {});
    assert!(matches!(refused, Err(TransferError::Format { line: 2, rule: Rule::Syntax, .. })), "{refused:?}");
    let cut: String = fx.lines[..fx.lines.len() - 1].iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(fx.refused(&cut)?, (fx.lines.len(), Rule::Trailer));
    Ok(())
}

#[test]
fn an_input_changed_between_check_and_write_is_reported_as_partial() -> TestResult {
    let fx = fixture()?;
    let plan = check_import(fx.text().as_bytes(), &fx.options())?;
    let last = fx.lines.len() - 1;
    let changed = fx.with(last, |l| unit(l)["claims"][0]["confidence"] = json!(5))?;
    let target = MemoryLedger::new();
    match import(&target, &plan, changed.as_bytes(), &mut |_, _| {}) {
        Err(TransferError::Changed { line, rule: Rule::ClaimLimits, written, total, .. }) => {
            assert_eq!(line, last);
            assert_eq!((written, total), (plan.units() - 1, plan.units()));
        }
        other => return Err(format!("expected Changed, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn copy_refuses_a_source_unit_that_breaks_a_rule_and_writes_nothing() -> TestResult {
    let clock = ManualClock::new(date(2026)?);
    let source = MemoryLedger::new();
    let engine = Engine::builder(&source).clock(Arc::new(ManualClock::new(date(2026)?))).build()?;
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    engine.ingest(IngestRequest::new("b", "s", "p", 1))?;
    // A unit the engine would never write: a claim with confidence 5, stored directly.
    let mut bad = None;
    crate::ledger::read_with(&source, &AgentId::new("b")?, |view| {
        bad = view.units(0, 1)?.pop();
        Ok(())
    })?;
    let mut bad = bad.ok_or("b has a unit")?;
    bad.seq = 2;
    bad.tx_time = bad.tx_time.plus_micros(1);
    for c in &mut bad.claims {
        c.seq = 2;
        c.tx_time = bad.tx_time;
        c.confidence = 5.0;
        c.claim_ref = crate::ClaimRef(uuid::Uuid::from_u128(0xdead));
    }
    for e in &mut bad.entries {
        e.seq = 2;
        e.recorded_at = bad.tx_time;
        e.claim_ref = crate::ClaimRef(uuid::Uuid::from_u128(0xdead));
    }
    source.write(&AgentId::new("b")?, &mut |_| Ok(Some(bad.clone())))?;
    let target = MemoryLedger::new();
    let options = ImportOptions::with_clock(&clock);
    match copy(&source, &target, None, &options, &mut |_, _| {}) {
        Err(TransferError::Source { agent, seq: 2, rule: Rule::ClaimLimits, .. }) if agent == "b" => {}
        other => return Err(format!("expected a refused source, got {other:?}").into()),
    }
    assert!(target.agents()?.is_empty());
    Ok(())
}
