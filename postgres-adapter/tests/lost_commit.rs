//! Writes whose `COMMIT`'s answer is lost (SPEC §2.4, second bullet): a write whose
//! transaction may have committed is never stored twice, and never answered with a plain error
//! when it committed.
//!
//! * One case per write path, through a proxy that loses the round trip carrying the `COMMIT`:
//!   its reply after the server ran it (`Lose::Reply`: the write is stored and must be answered
//!   as written), or the query before the server saw it (`Lose::Query`: nothing is stored; the
//!   answer is the plain retryable `Unavailable`, or the write is sent again and stored once).
//! * Chaos: writers of a few agents — engine ingests (combined into batches) and plain writes
//!   (batches of one) — while another thread terminates their server
//!   backends again and again, or while a throwaway server is restarted. Every call is then
//!   checked against the store: answered `Ok` → stored exactly once, as answered; failed →
//!   stored at most once, and stored only if the error says "outcome unknown".

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use credence_core::{
    AgentId, Append, Assertion, AssertionKind, AssertionRef, Claim, ClaimEngine, ClaimRef, Disposition,
    Engine, Error, Event, Head, IngestRequest, Ledger, LedgerEntry, LedgerRead, Timestamp, WriteUnit,
};
use credence_postgres::{PostgresConfig, PostgresLedger, WriteStats};
use support::proxy::{FaultProxy, Lose};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Written = credence_core::Result<Option<Head>>;

fn agent(id: &str) -> AgentId {
    AgentId::new(id).expect("valid test agent id")
}

/// A unit appending one claim (`claim_ref`, integer `value`, line `subject`/`p`) and its
/// committed entry at head + 1, after reading the head and the line as the engine does.
fn claim_unit(
    view: &dyn LedgerRead,
    id: &str,
    subject: &str,
    claim_ref: ClaimRef,
    value: i64,
) -> credence_core::Result<Option<Append>> {
    let head = view.head()?;
    view.line(subject, "p", credence_core::Upto::Head)?;
    let mut unit =
        Append::new(head.map_or(1, |h| h.seq + 1), head.map_or(Timestamp(1), |h| Timestamp(h.tx_time.0 + 1)));
    unit.claims.push(Claim {
        claim_ref,
        agent_id: agent(id),
        subject: subject.into(),
        predicate: "p".into(),
        value: serde_json::json!(value),
        provenance: credence_core::Provenance::FIRST_HAND,
        cardinality: credence_core::Cardinality::Functional,
        confidence: 0.7,
        criticality: credence_core::Criticality::Medium,
        valid_time: None,
        tx_time: unit.tx_time,
        seq: unit.seq,
        derived_from: Vec::new(),
        depends_on: Vec::new(),
    });
    unit.entries.push(LedgerEntry {
        seq: unit.seq,
        index: 0,
        claim_ref,
        event: Event::ClaimCommitted,
        disposition: Disposition::CommittedCheap,
        rationale: serde_json::json!({}),
        recorded_at: unit.tx_time,
    });
    Ok(Some(unit))
}

/// [`claim_unit`] after a read only a transaction can answer, so the unit never goes in one
/// round trip: its rows go with the `COMMIT` in a round trip of their own.
fn claim_unit_after_a_read(
    view: &dyn LedgerRead,
    id: &str,
    subject: &str,
    claim_ref: ClaimRef,
    value: i64,
) -> credence_core::Result<Option<Append>> {
    view.claim(ClaimRef(Uuid::nil()))?;
    claim_unit(view, id, subject, claim_ref, value)
}

/// A unit closing claim `target` (a Bound assertion and its entry) at head + 1: a unit with no
/// claim of its own, which reads only the head (so it can go in one round trip).
fn bound_unit(
    view: &dyn LedgerRead,
    target: ClaimRef,
    assertion: AssertionRef,
) -> credence_core::Result<Option<Append>> {
    let head = view.head()?.ok_or(Error::InvalidQuery { reason: "the agent has no unit yet".into() })?;
    let (seq, at) = (head.seq + 1, Timestamp(head.tx_time.0 + 1));
    let mut unit = Append::new(seq, at);
    unit.assertions.push(Assertion { assertion_ref: assertion, target, kind: AssertionKind::Bound, at, seq });
    unit.entries.push(LedgerEntry {
        seq,
        index: 0,
        claim_ref: target,
        event: Event::ValidityAsserted,
        disposition: Disposition::Invalidated,
        rationale: serde_json::json!({"rationale": "invalidated"}),
        recorded_at: at,
    });
    Ok(Some(unit))
}

fn claim_ref(n: u128) -> ClaimRef {
    ClaimRef(Uuid::from_u128(n))
}

/// Runs `units` through one `write_batch` call for agent `id`.
fn write_batch(ledger: &PostgresLedger, id: &str, mut units: Vec<Box<WriteUnit<'_>>>) -> Vec<Written> {
    let mut refs: Vec<&mut WriteUnit<'_>> = units.iter_mut().map(|u| &mut **u).collect();
    ledger.write_batch(&agent(id), &mut refs)
}

/// A ledger on a fresh schema whose connections go through a proxy that loses, once armed, the
/// first query `query_matches` (exactly `exact`, or containing `contains`) as `lose` says.
struct Proxied {
    proxy: FaultProxy,
    guard: support::SchemaGuard,
    ledger: Arc<PostgresLedger>,
    base: String,
}

/// The round trip of a unit's rows with the `COMMIT` ends so; so does a one-round-trip
/// transaction. (`BEGIN ISOLATION LEVEL READ COMMITTED` does not contain it.)
const ROWS_AND_COMMIT: &str = "); COMMIT";

impl Proxied {
    fn new(base: &str, lose: Lose, exact: bool, marker: &str) -> Result<Proxied, Box<dyn std::error::Error>> {
        Proxied::with_pool(base, lose, exact, marker, 4)
    }

    fn with_pool(
        base: &str,
        lose: Lose,
        exact: bool,
        marker: &str,
        pool_max: u32,
    ) -> Result<Proxied, Box<dyn std::error::Error>> {
        let config = PostgresConfig::from_url(base)?;
        let upstream = format!("{}:{}", config.host, config.port);
        let proxy = if exact {
            FaultProxy::start_exact(upstream, marker, lose)?
        } else {
            FaultProxy::start(upstream, marker, lose)?
        };
        let guard = support::SchemaGuard::new(base);
        let password = config.password.as_ref().map(|p| format!(":{}", p.0)).unwrap_or_default();
        let url = format!(
            "postgres://{}{password}@127.0.0.1:{}/{}?sslmode=disable&schema={}&pool_max={pool_max}",
            config.user,
            proxy.port(),
            config.dbname,
            guard.schema
        );
        let ledger = Arc::new(PostgresLedger::from_url(&url)?);
        Ok(Proxied { proxy, guard, ledger, base: base.to_owned() })
    }

    /// The stored units of `id` (their seqs), read around the proxy.
    fn seqs(&self, id: &str) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
        let mut admin = support::admin_client(&self.base)?;
        let rows = admin.query(
            &format!("SELECT stream_seq FROM \"{}\".units WHERE agent_id = $1 ORDER BY 1", self.guard.schema),
            &[&id],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// How many stored claims of `id` have `claim_ref`.
    fn claims_with_ref(&self, id: &str, claim_ref: ClaimRef) -> Result<i64, Box<dyn std::error::Error>> {
        let mut admin = support::admin_client(&self.base)?;
        let row = admin.query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".claims WHERE agent_id = $1 AND claim_ref = $2",
                self.guard.schema
            ),
            &[&id, &claim_ref.0],
        )?;
        Ok(row.get(0))
    }

    fn stats(&self) -> WriteStats {
        self.ledger.write_stats()
    }
}

/// `err` is the plain retryable `Unavailable` (nothing was stored), not "outcome unknown".
fn assert_plain_unavailable(result: &Written, what: &str) {
    match result {
        Err(err) => assert!(
            matches!(err, Error::Unavailable { .. }) && err.is_retryable() && !err.is_outcome_unknown(),
            "{what}: {err}"
        ),
        Ok(head) => panic!("{what}: answered {head:?}, but nothing was stored"),
    }
}

fn seq_of(result: &Written) -> Option<u64> {
    result.as_ref().ok().copied().flatten().map(|h| h.seq)
}

// ---------------------------------------------------------------------------------------------
// One path at a time, through the proxy.

/// A plain write whose unit reads first: its rows go with the `COMMIT` (`Timing::NowCommit`).
fn rows_with_the_commit(lose: Lose) -> TestResult {
    let base = require_server!();
    let p = Proxied::new(&base, lose, false, ROWS_AND_COMMIT)?;
    p.ledger.write(&agent("a"), &mut |v| claim_unit_after_a_read(v, "a", "s", claim_ref(1), 1))?;
    p.proxy.arm();
    let result = p.ledger.write(&agent("a"), &mut |v| claim_unit_after_a_read(v, "a", "s", claim_ref(2), 2));
    assert_eq!(p.proxy.fired(), 1, "the round trip with the COMMIT was not lost");
    if lose == Lose::Reply {
        assert_eq!(seq_of(&result), Some(2), "{result:?}");
        assert_eq!(p.seqs("a")?, vec![1, 2]);
        assert_eq!(p.stats().lost_commits_committed, 1, "{:?}", p.stats());
    } else {
        assert_plain_unavailable(&result, "rows lost before the server saw them");
        assert_eq!(p.seqs("a")?, vec![1]);
        assert_eq!(p.stats().lost_commits_not_committed, 1, "{:?}", p.stats());
    }
    // The store goes on through the same pool.
    let next = p.ledger.write(&agent("a"), &mut |v| claim_unit_after_a_read(v, "a", "s", claim_ref(3), 3))?;
    assert_eq!(next.map(|h| h.seq), Some(if lose == Lose::Reply { 3 } else { 2 }));
    assert_eq!(p.claims_with_ref("a", claim_ref(2))?, i64::from(lose == Lose::Reply));
    Ok(())
}

#[test]
fn write_whose_rows_went_with_a_commit_whose_reply_was_lost_is_answered_written() -> TestResult {
    rows_with_the_commit(Lose::Reply)
}

#[test]
fn write_whose_rows_and_commit_never_reached_the_server_is_plain_unavailable_and_not_stored() -> TestResult {
    rows_with_the_commit(Lose::Query)
}

#[test]
fn write_whose_commit_reply_was_lost_while_the_server_stays_unreachable_is_outcome_unknown() -> TestResult {
    let base = require_server!();
    // One pooled connection: the lookup needs a new one, which the proxy refuses from the loss
    // on, for longer than the lookup keeps trying.
    let p = Proxied::with_pool(&base, Lose::Reply, false, ROWS_AND_COMMIT, 1)?;
    p.ledger.write(&agent("u"), &mut |v| claim_unit_after_a_read(v, "u", "s", claim_ref(1), 1))?;
    p.proxy.refuse_after_loss();
    p.proxy.arm();
    let started = Instant::now();
    let result = p.ledger.write(&agent("u"), &mut |v| claim_unit_after_a_read(v, "u", "s", claim_ref(2), 2));
    assert_eq!(p.proxy.fired(), 1, "the round trip with the COMMIT was not lost");
    let err = result.expect_err("the outcome cannot be found out");
    assert!(err.is_outcome_unknown() && err.is_retryable(), "{err}");
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(4), "the lookup gave up early: {:?}", started.elapsed());
    // The COMMIT did run: the write is stored, once, and nothing was sent again.
    assert_eq!(p.seqs("u")?, vec![1, 2]);
    assert_eq!(p.claims_with_ref("u", claim_ref(2))?, 1);
    assert_eq!(p.stats().lost_commits_unknown, 1, "{:?}", p.stats());
    Ok(())
}

/// A batch whose last unit writes nothing: the earlier unit's rows went in with that unit's
/// read, and the `COMMIT` goes alone, in a round trip that is not the transaction's first.
fn commit_alone(lose: Lose) -> TestResult {
    let base = require_server!();
    let p = Proxied::new(&base, lose, true, "COMMIT")?;
    p.proxy.arm();
    let results = write_batch(
        &p.ledger,
        "b",
        vec![
            Box::new(|v: &dyn LedgerRead| claim_unit_after_a_read(v, "b", "s", claim_ref(1), 1)),
            Box::new(|v: &dyn LedgerRead| {
                v.line("t", "p", credence_core::Upto::Head)?;
                Ok(None)
            }),
        ],
    );
    assert_eq!(p.proxy.fired(), 1, "the COMMIT was not lost");
    assert!(matches!(results[1], Ok(None)), "{:?}", results[1]);
    if lose == Lose::Reply {
        assert_eq!(seq_of(&results[0]), Some(1), "{:?}", results[0]);
        assert_eq!(p.seqs("b")?, vec![1]);
    } else {
        assert_plain_unavailable(&results[0], "a batch whose COMMIT never reached the server");
        assert_eq!(p.seqs("b")?, Vec::<i64>::new());
    }
    Ok(())
}

#[test]
fn batch_whose_lone_commit_reply_was_lost_is_answered_written() -> TestResult {
    commit_alone(Lose::Reply)
}

#[test]
fn batch_whose_lone_commit_never_reached_the_server_is_plain_unavailable() -> TestResult {
    commit_alone(Lose::Query)
}

/// A batch of several units, one of which fails alone after a read: the last unit's rows go
/// with the `COMMIT`, that round trip is lost, and every unit that wrote is answered from the
/// lookup.
fn batch_rows_and_commit_lost(lose: Lose) -> TestResult {
    let base = require_server!();
    let p = Proxied::new(&base, lose, false, ROWS_AND_COMMIT)?;
    p.proxy.arm();
    let results = write_batch(
        &p.ledger,
        "c",
        vec![
            Box::new(|v: &dyn LedgerRead| claim_unit_after_a_read(v, "c", "s0", claim_ref(100), 100)),
            Box::new(|v: &dyn LedgerRead| claim_unit(v, "c", "s1", claim_ref(101), 101)),
            Box::new(|v: &dyn LedgerRead| {
                v.line("x", "p", credence_core::Upto::Head)?;
                Err(Error::InvalidQuery { reason: "this unit fails alone".into() })
            }),
            Box::new(|v: &dyn LedgerRead| claim_unit_after_a_read(v, "c", "s3", claim_ref(103), 103)),
        ],
    );
    assert_eq!(p.proxy.fired(), 1, "the round trip with the COMMIT was not lost");
    assert!(matches!(&results[2], Err(Error::InvalidQuery { .. })), "{:?}", results[2]);
    let written = [&results[0], &results[1], &results[3]];
    if lose == Lose::Reply {
        let seqs: Vec<Option<u64>> = written.iter().map(|r| seq_of(r)).collect();
        assert_eq!(seqs, vec![Some(1), Some(2), Some(3)], "{written:?}");
        assert_eq!(p.seqs("c")?, vec![1, 2, 3]);
        let stats = p.stats();
        assert_eq!(
            (stats.transactions, stats.lost_commits_committed),
            (1, 1),
            "one shared transaction: {stats:?}"
        );
    } else {
        for r in written {
            assert_plain_unavailable(r, "a unit of a batch whose COMMIT never reached the server");
        }
        assert_eq!(p.seqs("c")?, Vec::<i64>::new());
    }
    Ok(())
}

#[test]
fn batch_whose_rows_and_commit_reply_were_lost_is_answered_written() -> TestResult {
    batch_rows_and_commit_lost(Lose::Reply)
}

#[test]
fn batch_whose_rows_and_commit_never_reached_the_server_is_plain_unavailable() -> TestResult {
    batch_rows_and_commit_lost(Lose::Query)
}

/// A unit with no claim, decided ahead and sent in one round trip (the convoy path), whose
/// round trip is lost: it is looked up by its assertion.
fn one_round_trip_without_claims(lose: Lose) -> TestResult {
    let base = require_server!();
    let p = Proxied::new(&base, lose, false, ROWS_AND_COMMIT)?;
    // The first write teaches the process the head (the normal path: nothing known yet).
    p.ledger.write(&agent("d"), &mut |v| claim_unit(v, "d", "s", claim_ref(1), 1))?;
    let before = p.stats();
    p.proxy.arm();
    let result =
        p.ledger.write(&agent("d"), &mut |v| bound_unit(v, claim_ref(1), AssertionRef(Uuid::from_u128(7))));
    assert_eq!(p.proxy.fired(), 1, "the one round trip was not lost");
    // Stored either way: found stored, or (lost before the server saw it) found not stored and
    // sent again with the same rows.
    assert_eq!(seq_of(&result), Some(2), "{result:?}");
    assert_eq!(p.seqs("d")?, vec![1, 2]);
    let stats = p.stats();
    assert_eq!(stats.speculative_units, before.speculative_units + 1, "{stats:?}");
    if lose == Lose::Reply {
        assert_eq!(stats.lost_commits_committed, 1, "{stats:?}");
    } else {
        assert_eq!(stats.lost_commits_not_committed, 1, "{stats:?}");
    }
    Ok(())
}

#[test]
fn one_round_trip_unit_without_claims_whose_reply_was_lost_is_looked_up_and_answered_written() -> TestResult {
    one_round_trip_without_claims(Lose::Reply)
}

#[test]
fn one_round_trip_unit_without_claims_lost_before_the_server_saw_it_is_sent_again_once() -> TestResult {
    one_round_trip_without_claims(Lose::Query)
}

/// A batch whose every unit was decided ahead, so the whole transaction — `BEGIN`, lock,
/// guards, rows, `COMMIT` — goes in one round trip, which is lost.
fn whole_batch_in_one_round_trip(lose: Lose) -> TestResult {
    let base = require_server!();
    let p = Proxied::new(&base, lose, false, ROWS_AND_COMMIT)?;
    p.ledger.write(&agent("e"), &mut |v| claim_unit(v, "e", "s0", claim_ref(1), 1))?;
    p.proxy.arm();
    let results = write_batch(
        &p.ledger,
        "e",
        vec![
            Box::new(|v: &dyn LedgerRead| claim_unit(v, "e", "s1", claim_ref(2), 2)),
            Box::new(|v: &dyn LedgerRead| claim_unit(v, "e", "s2", claim_ref(3), 3)),
        ],
    );
    assert_eq!(p.proxy.fired(), 1, "the one round trip was not lost");
    assert_eq!(results.iter().map(seq_of).collect::<Vec<_>>(), vec![Some(2), Some(3)], "{results:?}");
    assert_eq!(p.seqs("e")?, vec![1, 2, 3]);
    let stats = p.stats();
    if lose == Lose::Reply {
        assert_eq!(stats.speculative_units, 2, "{stats:?}");
        assert_eq!(stats.lost_commits_committed, 1, "{stats:?}");
    } else {
        // Found not stored, and run again once on a new connection (with reads: the lines the
        // lost try wrote into are no longer taken as empty).
        assert_eq!(stats.lost_commits_not_committed, 1, "{stats:?}");
    }
    Ok(())
}

#[test]
fn batch_sent_whole_in_one_round_trip_whose_reply_was_lost_is_answered_written() -> TestResult {
    whole_batch_in_one_round_trip(Lose::Reply)
}

#[test]
fn batch_sent_whole_in_one_round_trip_lost_before_the_server_saw_it_is_sent_again_once() -> TestResult {
    whole_batch_in_one_round_trip(Lose::Query)
}

// ---------------------------------------------------------------------------------------------
// Chaos: backends terminated, servers restarted, while writers run.

/// What one write call asked for and got: its agent, the unique value its claim carries, and
/// the claim and seq it was answered with (or the error).
struct Call {
    agent: String,
    value: i64,
    answer: Result<(ClaimRef, u64), Error>,
}

/// Writers of `agents`, each with two engine threads (concurrent ingests of an agent are
/// combined into `write_batch` calls) and one thread of plain `Ledger::write` calls (batches
/// of one, racing the engine's for the agent's lock); every call writes one claim with a value no other
/// call uses, on the thread's own line (read first, so the unit needs a transaction's reads)
/// or, every other call, on a new line (decided ahead, one round trip). They run until `stop`.
fn run_writers(ledger: &Arc<PostgresLedger>, agents: &[String], stop: &AtomicBool) -> Vec<Call> {
    let engine = match Engine::builder(ledger.clone()).build() {
        Ok(engine) => Arc::new(engine),
        Err(e) => panic!("engine: {e}"),
    };
    let calls = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (a, id) in agents.iter().enumerate() {
            for kind in 0..3 {
                let (engine, calls, ledger) = (engine.clone(), &calls, ledger.clone());
                let thread = i64::try_from(a * 3 + kind).unwrap_or(i64::MAX);
                s.spawn(move || {
                    let mut i = 0i64;
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let value = thread * 1_000_000 + i;
                        let subject =
                            if i % 2 == 0 { format!("own{thread}") } else { format!("new{thread}_{i}") };
                        let answer = if kind < 2 {
                            engine
                                .ingest(IngestRequest::new(id.as_str(), subject.as_str(), "p", value))
                                .and_then(|r| match (r.claim_ref, r.seq) {
                                    (Some(c), Some(seq)) => Ok((c, seq)),
                                    _ => Err(Error::InvalidQuery {
                                        reason: format!("a receipt without a write: {r:?}"),
                                    }),
                                })
                        } else {
                            let claim = ClaimRef(Uuid::from_u128(u128::try_from(value).unwrap_or(0) << 32));
                            ledger
                                .write(&agent(id), &mut |v| {
                                    if i % 2 == 0 {
                                        claim_unit_after_a_read(v, id, &subject, claim, value)
                                    } else {
                                        claim_unit(v, id, &subject, claim, value)
                                    }
                                })
                                .and_then(|h| {
                                    h.map(|h| (claim, h.seq))
                                        .ok_or(Error::InvalidQuery { reason: "a write answered None".into() })
                                })
                        };
                        let failed = answer.is_err();
                        mine.push(Call { agent: id.clone(), value, answer });
                        if failed {
                            // Do not spin while the server is away.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(mine);
                });
            }
        }
    });
    calls.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks every call against the store of `schema` on the server at `base` (see the module
/// documentation) and prints the tally; returns how many calls failed.
fn check_calls(
    base: &str,
    schema: &str,
    calls: &[Call],
    stats: WriteStats,
    what: &str,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut admin = support::admin_client(base)?;
    let mut stored: HashMap<(String, i64), Vec<(Uuid, i64)>> = HashMap::new();
    for row in admin
        .query(&format!("SELECT agent_id, value, claim_ref, stream_seq FROM \"{schema}\".claims"), &[])?
    {
        let value: String = row.get(1);
        stored.entry((row.get(0), value.parse()?)).or_default().push((row.get(2), row.get(3)));
    }
    let (mut acked, mut failed, mut unknown, mut unknown_stored) = (0, 0, 0, 0);
    for call in calls {
        let rows = stored.get(&(call.agent.clone(), call.value)).map_or(&[][..], Vec::as_slice);
        match &call.answer {
            Ok((claim, seq)) => {
                acked += 1;
                assert_eq!(
                    rows.len(),
                    1,
                    "{what}: acknowledged {} of {} stored {} times",
                    call.value,
                    call.agent,
                    rows.len()
                );
                assert_eq!(
                    rows[0],
                    (claim.0, i64::try_from(*seq)?),
                    "{what}: {} stored as answered",
                    call.value
                );
            }
            Err(err) => {
                failed += 1;
                assert!(rows.len() <= 1, "{what}: failed {} stored {} times ({err})", call.value, rows.len());
                if err.is_outcome_unknown() {
                    unknown += 1;
                    unknown_stored += rows.len();
                } else {
                    assert!(
                        rows.is_empty(),
                        "{what}: {} is stored, but its call failed with a plain error: {err}",
                        call.value
                    );
                }
            }
        }
    }
    // No gaps, no unit twice: each agent's units are 1..=n.
    for row in admin.query(
        &format!("SELECT agent_id, count(*), max(stream_seq), count(DISTINCT stream_seq) FROM \"{schema}\".units GROUP BY 1"),
        &[],
    )? {
        let (id, n, max, distinct): (String, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!((n, distinct), (max, max), "{what}: the units of {id} are not 1..={max}");
    }
    let stored_calls: usize = stored.values().map(Vec::len).sum();
    assert!(stored_calls <= calls.len(), "{what}: claims stored that no call wrote");
    println!(
        "{what}: {} calls, {acked} acknowledged, {failed} failed ({unknown} outcome unknown, {unknown_stored} of \
         those stored); lost commits looked up: {} committed, {} not committed, {} unknown",
        calls.len(),
        stats.lost_commits_committed,
        stats.lost_commits_not_committed,
        stats.lost_commits_unknown
    );
    Ok(failed)
}

/// A small pseudo-random sequence (xorshift), seeded from the clock.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Jitter((now.as_secs() << 30) ^ u64::from(now.subsec_nanos()) | 1)
    }

    /// A duration between `lo` and `hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo + 1))
    }
}

#[test]
fn writers_whose_backends_are_terminated_again_and_again_never_store_a_write_twice_or_hide_one() -> TestResult
{
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let app = format!("lost_{}", guard.schema);
    let url = guard.url(&format!("pool_max=6&application_name={app}&pool_timeout=10s"));
    let ledger = Arc::new(PostgresLedger::from_url(&url)?);
    let agents: Vec<String> = (0..3).map(|i| format!("k{i}")).collect();
    let stop = AtomicBool::new(false);
    let kills = AtomicU64::new(0);
    let calls = std::thread::scope(|s| -> Result<Vec<Call>, Box<dyn std::error::Error + Send + Sync>> {
        let killer = s.spawn(|| -> Result<(), String> {
            let mut admin = support::admin_client(&base)?;
            let mut jitter = Jitter::new();
            let until = Instant::now() + Duration::from_secs(6);
            while Instant::now() < until {
                std::thread::sleep(jitter.millis(5, 40));
                let ended: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1) t",
                        &[&app],
                    )
                    .map_err(|e| e.to_string())?
                    .get(0);
                kills.fetch_add(u64::try_from(ended).unwrap_or(0), Ordering::Relaxed);
            }
            stop.store(true, Ordering::SeqCst);
            Ok(())
        });
        let calls = run_writers(&ledger, &agents, &stop);
        killer.join().map_err(|_| "killer panicked")??;
        Ok(calls)
    })
    .map_err(|e| e.to_string())?;
    println!("terminate: {} backends terminated", kills.load(Ordering::Relaxed));
    let failed = check_calls(&base, &guard.schema, &calls, ledger.write_stats(), "terminate")?;
    assert!(failed > 0, "no write failed: the terminations never landed");
    assert!(calls.len() > failed, "no write succeeded");
    Ok(())
}

#[test]
fn writers_across_server_restarts_never_store_a_write_twice_or_hide_one() -> TestResult {
    // Always a throwaway server of its own: the shared one must never be restarted.
    let server = match support::LocalServer::start(&[]) {
        Ok(server) => server,
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                return Err(format!("no throwaway PostgreSQL server: {why}").into());
            }
            eprintln!("SKIPPING: no throwaway PostgreSQL server could be started ({why})");
            return Ok(());
        }
    };
    let base = server.url("postgres");
    let guard = support::SchemaGuard::new(&base);
    let url = guard.url("pool_max=6&pool_timeout=4s&connect_timeout=2s");
    let ledger = Arc::new(PostgresLedger::from_url(&url)?);
    let agents: Vec<String> = (0..2).map(|i| format!("r{i}")).collect();
    let stop = AtomicBool::new(false);
    let calls = std::thread::scope(|s| -> Result<Vec<Call>, String> {
        let restarter = s.spawn(|| -> Result<(), String> {
            let mut jitter = Jitter::new();
            let result = (|| {
                for mode in ["immediate", "fast", "immediate", "fast", "immediate", "fast"] {
                    std::thread::sleep(jitter.millis(300, 900));
                    server.restart(mode)?;
                }
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            })();
            stop.store(true, Ordering::SeqCst);
            result
        });
        let calls = run_writers(&ledger, &agents, &stop);
        restarter.join().map_err(|_| "restarter panicked")??;
        Ok(calls)
    })?;
    let failed = check_calls(&base, &guard.schema, &calls, ledger.write_stats(), "restart")?;
    assert!(failed > 0, "no write failed: the restarts never hit a writer");
    assert!(calls.len() > failed, "no write succeeded");
    Ok(())
}
