//! PostgreSQL-specific behaviour: migrations, the advisory lock, the pool, lost connections,
//! concurrency across agents and processes, and index use on the read path.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use credence_core::ledger::read_with;
use credence_core::{
    Append, AsOf, AuditQuery, ClaimEngine, Disposition, Engine, Error, IngestRequest, Ledger, RecallQuery,
    SequentialIds, Timestamp,
};
use credence_postgres::{PostgresLedger, agent_lock_key};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn agent(id: &str) -> credence_core::AgentId {
    credence_core::AgentId::new(id).expect("valid test agent id")
}

fn engine(ledger: Arc<PostgresLedger>, seed: u64) -> Result<Engine<Arc<PostgresLedger>>, Error> {
    Engine::builder(ledger).ids(Arc::new(SequentialIds::new(seed))).build()
}

/// The seq and tx_time of the next unit after the view's head.
fn next_unit_at(view: &dyn credence_core::LedgerRead) -> credence_core::Result<(u64, Timestamp)> {
    let head = view.head()?;
    Ok((head.map_or(1, |h| h.seq + 1), head.map_or(Timestamp(1), |h| Timestamp(h.tx_time.0 + 1))))
}

/// A unit appending the unit row and one informational ledger entry (a unit must hold a row):
/// the next seq, a later tx_time.
fn empty_unit(view: &dyn credence_core::LedgerRead) -> credence_core::Result<Option<Append>> {
    let (seq, tx) = next_unit_at(view)?;
    Ok(Some(marker_unit(seq, tx)))
}

/// Unit `seq` at `tx` holding one informational ledger entry.
fn marker_unit(seq: u64, tx: Timestamp) -> Append {
    let mut unit = Append::new(seq, tx);
    unit.entries.push(credence_core::LedgerEntry {
        seq,
        index: 0,
        claim_ref: credence_core::ClaimRef(uuid::Uuid::nil()),
        event: credence_core::Event::Corroborated,
        disposition: Disposition::CommittedCheap,
        rationale: credence_core::serde_json::json!({ "rationale": "test" }),
        recorded_at: tx,
    });
    unit
}

/// A ledger on `guard`'s schema whose sessions carry an application name of their own (so the
/// test can find them in `pg_stat_activity`); returns the name too.
fn named_ledger(
    guard: &support::SchemaGuard,
    prefix: &str,
    pool_max: u32,
) -> Result<(String, Arc<PostgresLedger>), Error> {
    let app = format!("{prefix}_{}", guard.schema);
    let url = guard.url(&format!("pool_max={pool_max}&application_name={app}"));
    Ok((app, Arc::new(PostgresLedger::from_url(&url)?)))
}

fn seqs(ledger: &PostgresLedger, id: &str) -> Result<Vec<u64>, Error> {
    read_with(ledger, &agent(id), |v| Ok(v.units(0, usize::MAX)?.iter().map(|u| u.seq).collect()))
}

#[test]
fn migrate_eight_threads_on_fresh_schema_all_succeed() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let url = guard.url("pool_max=1");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresLedger::from_url(&url).map(|l| l.schema_version())
            })
        })
        .collect();
    for h in handles {
        let version = h.join().map_err(|_| "migration thread panicked")???;
        assert_eq!(version, credence_postgres::schema::supported_version());
    }
    Ok(())
}

#[test]
fn connect_schema_newer_than_build_is_schema_too_new() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let url = guard.url("pool_max=1");
    drop(PostgresLedger::from_url(&url)?);
    let mut admin = support::admin_client(&base)?;
    admin.batch_execute(&format!(
        "INSERT INTO \"{}\".{} (version, name, applied_on, checksum) VALUES (999, 'future', '2030-01-01T00:00:00Z', '0')",
        guard.schema,
        credence_postgres::schema::HISTORY_TABLE
    ))?;
    let err = PostgresLedger::from_url(&url).expect_err("a newer schema must be refused");
    assert!(matches!(err, Error::SchemaTooNew { found: 999, .. }), "{err}");
    Ok(())
}

/// Schema versions 4–7 build the live-claims index and the discovery tables from the rows a
/// version-3 schema holds: they are dropped and their migrations forgotten, and opening the
/// schema again rebuilds them to what the fold of every line finds live and what the claims
/// written through the index answered.
#[test]
fn the_live_claims_migration_builds_the_index_from_the_rows() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let engine = Engine::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?);
    let base_claim = engine.ingest(IngestRequest::new("m", "base", "p", 1))?.claim();
    engine.ingest(IngestRequest::new("m", "dependent", "p", 2).depends_on([base_claim]))?;
    engine.invalidate("m", base_claim, "test")?;
    let first = engine.ingest(IngestRequest::new("m", "fixed", "p", "old"))?.claim();
    let second = engine.ingest(IngestRequest::new("m", "fixed", "p", "new"))?.claim();
    engine.resolve("m", "fixed", "p", second)?;
    engine.reinstate("m", first)?;
    engine.ingest(IngestRequest::new("m", "contested", "p", "a"))?;
    engine.ingest(IngestRequest::new("m", "contested", "p", "b"))?;
    // 0.0 and -0.0 are one value; windows of other values overlap or follow each other.
    engine.ingest(IngestRequest::new("m", "zero", "p", 0.0))?;
    engine.ingest(IngestRequest::new("m", "zero", "p", -0.0))?;
    let year = |y| credence_core::Timestamp::from_ymd(y, 1, 1).ok_or("valid date");
    for (value, from, to) in [("x", 2000, 2001), ("y", 2001, 2002), ("z", 2001, 2003)] {
        let window = credence_core::ValidTime::new(Some(year(from)?), Some(year(to)?));
        engine.ingest(IngestRequest::new("m", "windows", "p", value).with_valid_time(window))?;
    }
    let subjects = credence_core::SubjectsQuery::new("m", 100);
    let texts = ["p", "a", "b", "new", "old", "0.0", "x", "windows", "dependent 2"];
    let searches = |e: &dyn ClaimEngine| -> Result<Vec<_>, credence_core::Error> {
        texts.iter().map(|t| e.search(&credence_core::SearchQuery::new("m", *t, 100))).collect()
    };
    let (subjects_written, searches_written) = (engine.subjects(&subjects)?, searches(&engine)?);
    assert!(searches_written.iter().all(|r| !r.hits.is_empty()), "{searches_written:?}");
    drop(engine);
    // Back to schema version 3: no index, no value keys.
    let mut admin = support::admin_client(&base)?;
    admin.batch_execute(&format!(
        "SET search_path TO \"{s}\"; DROP TABLE live_claims, live_lines, live_spans, live_periods, live_stretches, credence_rebuild; \
         DROP FUNCTION credence_live_lines(); DROP INDEX claims_by_start; DROP TABLE lines, terms; \
         ALTER TABLE claims DROP COLUMN value_key; \
         DELETE FROM {h} WHERE version >= 4",
        s = guard.schema,
        h = credence_postgres::schema::HISTORY_TABLE
    ))?;
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?);
    assert_eq!(ledger.schema_version()?, credence_postgres::schema::supported_version());
    // The lines and search postings (schema version 7) answer as the ones written with the claims.
    let migrated = Engine::new(ledger.clone());
    assert_eq!(migrated.subjects(&subjects)?, subjects_written);
    assert_eq!(searches(&migrated)?, searches_written);
    for line in ["base", "dependent", "fixed", "contested", "zero", "windows"] {
        let (live, folded, summary) = read_with(&ledger, &agent("m"), |view| {
            let rows = view.line(line, "p", credence_core::Upto::Head)?;
            Ok((
                view.live(line, "p")?,
                credence_core::liveness::live_claims(rows),
                view.line_summary(line, "p")?,
            ))
        })?;
        assert_eq!(live, folded, "line {line}");
        let claims: Vec<_> = folded.iter().map(|l| &l.claim).collect();
        assert_eq!(summary, credence_core::LineSummary::of(&claims), "summary of line {line}");
        // And what was live as of every unit, from the stretches the rebuild derived.
        for seq in 0..=16 {
            let (at, then) = read_with(&ledger, &agent("m"), |view| {
                let rows = view.line(line, "p", credence_core::Upto::Seq(seq))?;
                let all = credence_core::Span::ALL;
                Ok((view.live_at(line, "p", seq, all, 0.7)?, credence_core::liveness::live_claims(rows)))
            })?;
            assert_eq!(at, then, "line {line} as of {seq}");
        }
    }
    Ok(())
}

/// `rebuild_indexes` derives one agent's live claims and line summaries from its rows again,
/// and leaves other agents' alone.
#[test]
fn rebuild_indexes_repairs_one_agents_index() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?);
    let engine = Engine::new(ledger.clone());
    let year = |y| credence_core::Timestamp::from_ymd(y, 1, 1).ok_or("valid date");
    for (value, from, to) in [("x", 2000, 2001), ("y", 2001, 2002), ("z", 2001, 2003)] {
        let window = credence_core::ValidTime::new(Some(year(from)?), Some(year(to)?));
        for agent in ["m", "n"] {
            engine.ingest(IngestRequest::new(agent, "windows", "p", value).with_valid_time(window))?;
        }
    }
    let mut admin = support::admin_client(&base)?;
    admin.batch_execute(&format!(
        "SET search_path TO \"{s}\"; ALTER TABLE live_claims DISABLE TRIGGER live_claims_lines; \
         DELETE FROM live_claims WHERE agent_id IN ('m', 'n') AND value_key = (SELECT value_key FROM live_claims \
         WHERE agent_id = 'm' LIMIT 1); ALTER TABLE live_claims ENABLE TRIGGER live_claims_lines; \
         UPDATE live_lines SET clashes = 5",
        s = guard.schema
    ))?;
    let check = |agent: &str| -> Result<bool, Box<dyn std::error::Error>> {
        Ok(read_with(&*ledger, &credence_core::AgentId::new(agent)?, |view| {
            let folded =
                credence_core::liveness::live_claims(view.line("windows", "p", credence_core::Upto::Head)?);
            let claims: Vec<_> = folded.iter().map(|l| &l.claim).collect();
            Ok(view.live("windows", "p")? == folded
                && view.line_summary("windows", "p")? == credence_core::LineSummary::of(&claims))
        })?)
    };
    assert!(!check("m")? && !check("n")?);
    assert_eq!(ledger.rebuild_indexes(&agent("m"))?, Some(3));
    assert!(check("m")?, "m's index rebuilt");
    assert!(!check("n")?, "n's index untouched");
    Ok(())
}

/// The schema's `credence_check` raises the SQLSTATE it is given (each refusal of the write
/// path has its own, told apart by code) and answers 1 when the condition holds.
#[test]
fn schema_check_function_raises_the_given_sqlstate() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=1"))?;
    let mut conn = ledger.pool().get()?;
    let ok: i32 = conn.client().query_one("SELECT credence_check(true, 'KR001', 'unused')", &[])?.get(0);
    assert_eq!(ok, 1);
    for code in ["KR001", "KR002", "KR003"] {
        let err = conn
            .client()
            .query_one("SELECT credence_check(false, $1, 'refused on purpose')", &[&code])
            .expect_err("a false condition must raise");
        let db = err.as_db_error().ok_or("no server error")?;
        assert_eq!(db.code().code(), code);
        assert_eq!(db.message(), "refused on purpose");
    }
    Ok(())
}

#[test]
fn write_takes_the_agent_advisory_lock_with_the_rust_computed_key() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2"))?;
    let mut admin = support::admin_client(&base)?;
    let key = agent_lock_key(&guard.schema, "lock-probe");
    // pg_locks shows a bigint advisory key as classid = high 32 bits, objid = low 32 bits.
    let bits = u64::from_ne_bytes(key.to_ne_bytes());
    let (hi, lo) = (i64::try_from(bits >> 32)?, i64::try_from(bits & 0xffff_ffff)?);
    let mut seen = None;
    ledger.write(&agent("lock-probe"), &mut |view| {
        // The lock is taken with the unit's first read (in the same round trip, before it).
        let head = view.head()?;
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                &[&hi, &lo],
            )
            .map_err(|e| Error::Backend { backend: "test", source: e.into() })?;
        seen = Some(row.get::<_, i64>(0));
        assert_eq!(view.head()?, head);
        empty_unit(view)
    })?;
    assert_eq!(seen, Some(1), "the write must hold pg_advisory_xact_lock({key}) from its unit's first read");
    Ok(())
}

#[test]
fn pool_failed_writes_never_hand_out_a_dirty_connection() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let (app, ledger) = named_ledger(&guard, "dirty", 3)?;
    ledger.write(&agent("a"), &mut empty_unit)?;
    // 1. The unit fails after reading (transaction open).
    let err = ledger.write(&agent("a"), &mut |view| {
        view.head()?;
        Err(Error::InvalidQuery { reason: "injected".into() })
    });
    assert!(matches!(err, Err(Error::InvalidQuery { .. })), "{err:?}");
    // 2. The append is refused (a seq that is not the next one). The refusal is made in Rust
    // before any insert is sent, but after BEGIN, the lock and the head read went out (the
    // unit cannot be decided ahead, so it takes the normal path): the connection goes back
    // with a healthy transaction open, which must be rolled back.
    let err = ledger.write(&agent("a"), &mut |_| Ok(Some(marker_unit(1, Timestamp(99)))));
    assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    // 3. The unit panics mid-write: an error for the caller, the transaction rolled back.
    let panicked = ledger.write(&agent("a"), &mut |view| {
        view.head()?;
        panic!("injected panic");
    });
    assert!(matches!(panicked, Err(Error::Backend { .. })), "{panicked:?}");
    // 4. A raw checkout returned with a transaction open and aborted.
    {
        let mut conn = ledger.pool().get()?;
        let failed = conn.client().batch_execute("BEGIN; SELECT 1/0");
        assert!(failed.is_err());
    }
    // Now hold every pooled connection at once and check each is clean.
    let conns: Vec<_> = (0..3).map(|_| ledger.pool().get()).collect::<Result<_, _>>()?;
    let mut admin = support::admin_client(&base)?;
    let dirty: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
            &[&app],
        )?
        .get(0);
    assert_eq!(dirty, 0, "a pooled connection is idle in a transaction");
    for mut conn in conns {
        assert!(!conn.in_transaction());
        let n: i32 = conn.client().query_one("SELECT 1", &[])?.get(0);
        assert_eq!(n, 1);
    }
    ledger.write(&agent("a"), &mut empty_unit)?;
    assert_eq!(seqs(&ledger, "a")?, vec![1, 2]);
    Ok(())
}

#[test]
fn write_connection_killed_mid_write_is_retryable_and_stores_nothing() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let (app, ledger) = named_ledger(&guard, "kill", 2)?;
    let engine = engine(ledger.clone(), 1)?;
    engine.ingest(IngestRequest::new("victim", "s", "p", 1))?;
    let mut admin = support::admin_client(&base)?;
    let killed = AtomicBool::new(false);
    let err = ledger.write(&agent("victim"), &mut |view| {
        // A read the one-round-trip path cannot answer: the unit then runs inside an open
        // transaction, whose connection the test kills.
        view.claim(credence_core::ClaimRef(uuid::Uuid::nil()))?;
        let unit = empty_unit(view)?;
        if !killed.swap(true, Ordering::SeqCst) {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
                    &[&app],
                )
                .map_err(|e| Error::Backend { backend: "test", source: e.into() })?;
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(unit)
    });
    let err = err.expect_err("the write's connection was killed");
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(seqs(&ledger, "victim")?, vec![1], "nothing of the killed unit may be stored");
    let receipt = engine.ingest(IngestRequest::new("victim", "s2", "p", 2))?;
    assert_eq!(receipt.seq, Some(2));
    assert_eq!(seqs(&ledger, "victim")?, vec![1, 2]);
    Ok(())
}

/// As above, but the connection dies after the batch's first unit's rows went in (in the
/// open transaction): none of them may be stored.
#[test]
fn write_connection_killed_after_a_batch_units_rows_went_in_stores_none_of_them() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let (app, ledger) = named_ledger(&guard, "killbatch", 2)?;
    ledger.write(&agent("victim"), &mut |v| claim_unit(v, "victim", 100))?;
    let mut admin = support::admin_client(&base)?;
    let sql_err = |e: postgres::Error| Error::Backend { backend: "test", source: e.into() };
    let killed = AtomicBool::new(false);
    let rows_went_in = AtomicBool::new(false);
    let first = |v: &dyn credence_core::LedgerRead| claim_unit(v, "victim", 1);
    let second = |view: &dyn credence_core::LedgerRead| {
        // A read that needs a round trip: the first unit's rows ride with it.
        view.claim(credence_core::ClaimRef(uuid::Uuid::nil()))?;
        let unit = claim_unit(view, "victim", 2)?;
        if !killed.swap(true, Ordering::SeqCst) {
            // The open transaction holds the lock an INSERT into claims takes: the first
            // unit's claim is in it, uncommitted.
            let inserted: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                     JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE a.application_name = $1 AND c.relname = 'claims' AND l.mode = 'RowExclusiveLock'",
                    &[&app],
                )
                .map_err(sql_err)?
                .get(0);
            rows_went_in.store(inserted > 0, Ordering::SeqCst);
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
                    &[&app],
                )
                .map_err(sql_err)?;
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(unit)
    };
    let results = write_boxed_batch(&ledger, "victim", vec![Box::new(first), Box::new(second)]);
    assert!(rows_went_in.load(Ordering::SeqCst), "the first unit's rows were not in the transaction yet");
    for r in &results {
        let err = r.as_ref().expect_err("the batch's connection was killed");
        assert!(err.is_retryable() && matches!(err, Error::Unavailable { .. }), "{err}");
    }
    assert_eq!(seqs(&ledger, "victim")?, vec![1], "nothing of the killed batch may be stored");
    assert_eq!(claim_refs(&ledger, "victim")?, vec![100]);
    let next = ledger.write(&agent("victim"), &mut |v| claim_unit(v, "victim", 3))?;
    assert_eq!(next.map(|h| h.seq), Some(2));
    Ok(())
}

#[test]
fn writes_of_two_agents_overlap_in_time() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=4"))?);
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|id| {
            let (ledger, inside, max_inside, barrier) =
                (ledger.clone(), inside.clone(), max_inside.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..3 {
                    ledger.write(&agent(id), &mut |view| {
                        // Read first: the agent's lock is taken with the first read, and a
                        // claim lookup cannot be answered ahead, so from here on the unit
                        // holds its agent's lock (a speculative run gives up right here).
                        view.claim(credence_core::ClaimRef(uuid::Uuid::nil()))?;
                        let unit = empty_unit(view)?;
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_inside.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        Ok(unit)
                    })?;
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "writer panicked")??;
    }
    assert_eq!(max_inside.load(Ordering::SeqCst), 2, "the two agents' units never ran at the same time");
    assert_eq!(seqs(&ledger, "left")?, vec![1, 2, 3]);
    assert_eq!(seqs(&ledger, "right")?, vec![1, 2, 3]);
    Ok(())
}

#[test]
fn threads_writing_one_agent_group_commit_gap_free_with_one_winner_per_pair() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=4"))?);
    let engine = Arc::new(engine(ledger.clone(), 7)?);
    let threads = 8;
    let per_thread = 10;
    let barrier = Arc::new(Barrier::new(threads));
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (engine, barrier, receipts) = (engine.clone(), barrier.clone(), receipts.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    // Threads t and t^1 fight over the same line.
                    let line = format!("line-{}-{i}", t / 2);
                    let r = engine.ingest(IngestRequest::new("shared", line, "p", t))?;
                    receipts.lock().map_err(|_| "poisoned")?.push(r);
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "writer panicked")?.map_err(|e| e.to_string())?;
    }
    let n = threads * per_thread;
    let expected: Vec<u64> = (1..=u64::try_from(n)?).collect();
    assert_eq!(seqs(&ledger, "shared")?, expected);
    let receipts = receipts.lock().map_err(|_| "poisoned")?;
    let cheap = receipts.iter().filter(|r| r.disposition == Disposition::CommittedCheap).count();
    let contested = receipts.iter().filter(|r| r.disposition == Disposition::Contested).count();
    assert_eq!((cheap, contested), (n / 2, n / 2));
    Ok(())
}

/// The live-claims read finds each claim by its full primary key even when planned while the
/// tables are nearly empty (as a connection's cached generic plan is): not by `agent_id` alone,
/// which would scan every claim of the agent for each live claim.
#[test]
fn live_claims_read_looks_claims_up_by_their_key_in_a_plan_made_on_tiny_tables() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = Engine::new(ledger.clone());
    engine.ingest(IngestRequest::new("tiny", "s", "p", 1))?;
    ledger.capture_plans(true);
    engine.recall(&RecallQuery::new("tiny", "s", "p"))?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    let live =
        plans.iter().find(|p| p.sql.contains("FROM live_claims")).ok_or("recall did not read live_claims")?;
    let claims_scan = live
        .plan
        .lines()
        .skip_while(|l| !l.contains("on claims"))
        .nth(1)
        .ok_or_else(|| format!("no scan of claims in:\n{}", live.plan))?;
    assert!(
        claims_scan.contains("Index Cond") && claims_scan.contains("claim_ref"),
        "claims are not looked up by their key:\n{}",
        live.plan
    );
    Ok(())
}

/// The reads of the live claims a span reaches, now and as of an earlier unit, planned while
/// the tables are tiny (a generic plan a connection keeps), still find each row's state and
/// claim by key: a plan that scans the line's live claims to match them costs as much as the
/// line holds.
#[test]
fn live_reach_looks_rows_up_by_their_key_in_a_plan_made_on_tiny_tables() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = Engine::new(ledger.clone());
    let year = |y| credence_core::Timestamp::from_ymd(y, 1, 1).ok_or("valid date");
    let window = credence_core::ValidTime::new(Some(year(2020)?), Some(year(2021)?));
    engine.ingest(IngestRequest::new("tiny", "s", "p", 1).with_valid_time(window))?;
    engine.ingest(IngestRequest::new("tiny", "s", "p", 2).with_valid_time(window))?;
    ledger.capture_plans(true);
    let mut q = RecallQuery::new("tiny", "s", "p");
    q.valid_at = Some(year(2020)?);
    engine.recall(&q)?;
    engine.recall(&q.clone().as_of_seq(1))?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    for read in ["FROM reach l LEFT JOIN", "live_periods"] {
        let plan = plans.iter().find(|p| p.sql.contains(read)).ok_or(format!("recall did not run {read}"))?;
        let lines: Vec<&str> = plan.plan.lines().collect();
        let mut lookups = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.contains("using live_claims_pkey") || line.contains("using claims_pkey") {
                lookups += 1;
                let cond = lines.get(i + 1).copied().unwrap_or_default();
                assert!(cond.contains("claim_ref"), "a scan of a whole line:\n{}", plan.plan);
            }
        }
        assert!(lookups >= 2, "no lookups by key in:\n{}", plan.plan);
    }
    Ok(())
}

/// Every captured plan of a statement containing `read` (at least one) scans `index` with a
/// condition containing `bound` (the line after the scan's): a range, not the whole index.
fn assert_range_of(
    plans: &[credence_postgres::QueryPlan],
    read: &str,
    index: &str,
    bound: &str,
) -> TestResult {
    let found: Vec<_> = plans.iter().filter(|p| p.sql.contains(read)).collect();
    assert!(!found.is_empty(), "no statement with {read} ran");
    for plan in found {
        let lines: Vec<&str> = plan.plan.lines().collect();
        let at =
            lines.iter().position(|l| l.contains(index)).ok_or(format!("{index} unused:\n{}", plan.plan))?;
        let cond = lines.get(at + 1).copied().unwrap_or_default();
        assert!(cond.contains(bound), "no range of {index}:\n{}", plan.plan);
    }
    Ok(())
}

/// A history page, planned while the tables are tiny, reads a range of claims by window start
/// and a range of the line's units — not the whole line — and its claims' states by claim,
/// not the agent's entries.
#[test]
fn history_pages_read_ranges_of_their_indexes_in_a_plan_made_on_tiny_tables() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = Engine::new(ledger.clone());
    let year = |y| credence_core::Timestamp::from_ymd(y, 1, 1).ok_or("valid date");
    for (value, from) in [(1, 2020), (2, 2019), (3, 2021)] {
        let window = credence_core::ValidTime::new(Some(year(from)?), None);
        engine.ingest(IngestRequest::new("tiny", "s", "p", value).with_valid_time(window).set_valued())?;
        engine.ingest(IngestRequest::new("tiny", "s", "p", value + 10).set_valued())?;
    }
    ledger.capture_plans(true);
    let mut query = credence_core::HistoryQuery::new("tiny", "s", "p", 2);
    let first = engine.history_page(&query)?;
    query.after = first.next;
    engine.history_page(&query)?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    for (read, index, bound) in [
        ("vt_start >= $4", "claims_by_start", "vt_start >="),
        ("LEAST($9", "claims_by_line", "stream_seq >="),
    ] {
        assert_range_of(&plans, read, index, bound)?;
    }
    // The states of the page's claims: each claim's entries and assertions by claim.
    for (read, index) in
        [("FROM entries x", "entries_by_claim"), ("FROM assertions x", "assertions_by_target")]
    {
        let plan =
            plans.iter().find(|p| p.sql.contains(read)).ok_or(format!("history_page did not run {read}"))?;
        assert!(plan.plan.contains(index), "{read} not by claim:\n{}", plan.plan);
    }
    Ok(())
}

/// Discovery, planned while the tables are tiny, reads a range of subjects in key order (a page
/// stops after its last subject), one term's postings and a line's newest claim by index.
#[test]
fn discovery_reads_ranges_of_their_indexes_in_a_plan_made_on_tiny_tables() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = Engine::new(ledger.clone());
    for (s, p) in [("alice", "city"), ("alice", "job"), ("bob", "city"), ("carol", "pet")] {
        engine.ingest(IngestRequest::new("tiny", s, p, "lisbon"))?;
    }
    ledger.capture_plans(true);
    let query = credence_core::SubjectsQuery {
        after: Some("alice".into()),
        ..credence_core::SubjectsQuery::new("tiny", 1)
    };
    engine.subjects(&query)?;
    engine.subjects(&credence_core::SubjectsQuery { prefix: Some("b".into()), ..query })?;
    engine.search(&credence_core::SearchQuery::new("tiny", "lisbon city", 5))?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    for (read, index, cond) in [
        ("FROM lines l", "lines_pkey", "subject >"),
        ("FROM terms", "terms_pkey", "term ="),
        ("ORDER BY stream_seq DESC, claim_ref DESC", "claims_by_line", "stream_seq <="),
    ] {
        assert_range_of(&plans, read, index, cond)?;
        for plan in plans.iter().filter(|p| p.sql.contains(read)) {
            assert!(!plan.plan.contains("Sort") && !plan.plan.contains("HashAggregate"), "{}", plan.plan);
        }
    }
    Ok(())
}

/// A line's reads in seq order — a history page's claims keyed by transaction time and a
/// line's newest claim — planned on a large table that was never analysed (no statistics, as
/// before PostgreSQL's first `ANALYZE` of it) and wide subjects (a deep `claims_by_line`), walk
/// the line in `claims_by_line` order: not the agent's claims by unit, sorted, which costs as
/// many rows as the agent wrote after the cursor.
#[test]
fn line_reads_walk_the_line_in_a_plan_made_on_a_large_unanalysed_table() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = engine(ledger.clone(), 5)?;
    let mut admin = support::admin_client(&base)?;
    let s = &guard.schema;
    // 20 000 units of one line for `big`, then 20 000 claims of 20 other agents on lines with
    // 400-byte subjects; nothing analysed.
    admin.batch_execute(&format!(
        "INSERT INTO {s}.units SELECT 'big', g, g FROM generate_series(1, 20000) g;
         INSERT INTO {s}.claims SELECT 'big', gen_random_uuid(), g, 0, 's', 'p', '1', 'FirstHand',
             'Functional', 1.0, 'Medium', false, NULL, NULL, NULL, NULL, NULL, g, '{{}}', '{{}}'
             FROM generate_series(1, 20000) g;
         INSERT INTO {s}.units SELECT 'other-' || (g % 20), g, g FROM generate_series(1, 20000) g;
         INSERT INTO {s}.claims SELECT 'other-' || (g % 20), gen_random_uuid(), g, 0,
             'subj-' || repeat('x', 400) || g, 'p', '1', 'FirstHand', 'Functional', 1.0, 'Medium', false,
             NULL, NULL, NULL, NULL, NULL, g, '{{}}', '{{}}' FROM generate_series(1, 20000) g;"
    ))?;
    engine.ingest(IngestRequest::new("big", "alice", "city", "lisbon"))?;
    ledger.capture_plans(true);
    let mut page = credence_core::HistoryQuery::new("big", "s", "p", 100);
    page.after = Some(credence_core::HistoryCursor {
        key: Timestamp(10_000),
        tx_time: Timestamp(10_000),
        seq: 10_000,
        claim_ref: credence_core::ClaimRef(uuid::Uuid::nil()),
    });
    engine.history_page(&page)?;
    engine.search(&credence_core::SearchQuery::new("big", "lisbon", 5))?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    for (read, bound) in [("LEAST($9", "stream_seq >="), ("ORDER BY stream_seq DESC", "stream_seq <=")] {
        assert_range_of(&plans, read, "claims_by_line", bound)?;
        for plan in plans.iter().filter(|p| p.sql.contains(read)) {
            assert!(!plan.plan.contains("claims_by_unit"), "the agent's claims by unit:\n{}", plan.plan);
            assert!(!plan.plan.contains("Sort"), "a sort:\n{}", plan.plan);
        }
    }
    Ok(())
}

#[test]
fn read_path_on_large_table_uses_indexes_not_sequential_scans() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?);
    let engine = engine(ledger.clone(), 3)?;
    let first = engine.ingest(IngestRequest::new("big", "s", "p", 0))?;
    engine.ingest(IngestRequest::new("big", "s", "q", 0))?;
    // Bulk-load many agents' rows straight into the tables so the planner sees a large table.
    let mut admin = support::admin_client(&base)?;
    let s = &guard.schema;
    admin.batch_execute(&format!(
        "INSERT INTO {s}.units SELECT 'bulk-' || (g % 50), g, g FROM generate_series(1, 60000) g;
         INSERT INTO {s}.claims SELECT 'bulk-' || (g % 50), gen_random_uuid(), g, 0, 'subj-' || (g % 500),
             'pred', '1', 'FirstHand', 'Functional', 1.0, 'Medium', false, NULL, NULL, NULL, NULL, NULL, g,
             '{{}}', '{{}}' FROM generate_series(1, 60000) g;
         INSERT INTO {s}.entries SELECT agent_id, stream_seq, 0, 0, claim_ref, 'ClaimCommitted',
             'CommittedCheap', '{{}}', tx_time FROM {s}.claims WHERE agent_id LIKE 'bulk-%';
         INSERT INTO {s}.assertions SELECT agent_id, stream_seq, 0, gen_random_uuid(), claim_ref, 'Bound',
             tx_time FROM {s}.claims WHERE agent_id LIKE 'bulk-%';
         INSERT INTO {s}.edges SELECT agent_id, claim_ref, gen_random_uuid(), 'DependsOn', stream_seq, 0
             FROM {s}.claims WHERE agent_id LIKE 'bulk-%';
         INSERT INTO {s}.adjudications SELECT agent_id, gen_random_uuid(), stream_seq, 0, subject, predicate,
             claim_ref, '{{}}', tx_time, NULL, CASE WHEN stream_seq % 10 = 0 THEN 'pending' ELSE 'resolved' END,
             true, NULL FROM {s}.claims WHERE agent_id LIKE 'bulk-%';
         ANALYZE {s}.units; ANALYZE {s}.claims; ANALYZE {s}.entries; ANALYZE {s}.assertions;
         ANALYZE {s}.edges; ANALYZE {s}.adjudications; ANALYZE {s}.agents;"
    ))?;
    ledger.capture_plans(true);
    engine.recall(&RecallQuery::new("big", "s", "p"))?;
    engine.history("big", "s", "p", AsOf::Now)?;
    engine.audit("big", &AuditQuery::default())?;
    engine.audit(
        "big",
        &AuditQuery { claim_ref: Some(first.claim()), newest_first: true, ..AuditQuery::default() },
    )?;
    ledger.capture_plans(false);
    let plans = ledger.take_plans();
    assert!(plans.len() >= 4, "expected the read path's statements, got {plans:?}");
    for p in &plans {
        assert!(!p.plan.contains("Seq Scan"), "sequential scan for {}:\n{}", p.sql, p.plan);
        assert!(p.plan.contains("Index"), "no index used for {}:\n{}", p.sql, p.plan);
    }
    Ok(())
}

#[test]
fn units_of_a_batch_share_one_transaction() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=4"))?;
    let before = ledger.write_stats();
    let (mut u1, mut u2, mut u3) = (empty_unit, empty_unit, empty_unit);
    let mut units: [&mut credence_core::WriteUnit<'_>; 3] = [&mut u1, &mut u2, &mut u3];
    let heads = ledger.write_batch(&agent("grouped"), &mut units);
    let heads: Vec<Option<u64>> =
        heads.into_iter().map(|h| h.map(|h| h.map(|h| h.seq))).collect::<Result<_, _>>()?;
    assert_eq!(heads, vec![Some(1), Some(2), Some(3)]);
    let after = ledger.write_stats();
    assert_eq!(after.units - before.units, 3);
    assert_eq!(after.transactions - before.transactions, 1, "the three units shared one transaction");
    assert_eq!(seqs(&ledger, "grouped")?, vec![1, 2, 3]);
    Ok(())
}

#[test]
fn failing_unit_in_a_batch_rolls_back_alone() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=4"))?;
    // The middle unit appends a wrong seq: refused, and only it.
    let mut bad = |_: &dyn credence_core::LedgerRead| Ok(Some(marker_unit(7, Timestamp(7))));
    let (mut ok1, mut ok2) = (empty_unit, empty_unit);
    let mut units: [&mut credence_core::WriteUnit<'_>; 3] = [&mut ok1, &mut bad, &mut ok2];
    let results = ledger.write_batch(&agent("g"), &mut units);
    assert!(matches!(results[1], Err(Error::Conflict { .. })), "{results:?}");
    let seqs_of: Vec<Option<u64>> =
        results.iter().map(|r| r.as_ref().ok().and_then(|h| h.map(|h| h.seq))).collect();
    assert_eq!(seqs_of, vec![Some(1), None, Some(2)]);
    assert_eq!(seqs(&ledger, "g")?, vec![1, 2]);
    Ok(())
}

/// A unit that queues an adjudication row with `handle` (a unique violation if it exists).
fn unit_with_adjudication(
    view: &dyn credence_core::LedgerRead,
    handle: uuid::Uuid,
) -> credence_core::Result<Option<Append>> {
    let mut unit = empty_unit(view)?.ok_or(Error::InvalidQuery { reason: "no unit".into() })?;
    unit.adjudications.push(credence_core::Adjudication {
        handle: credence_core::Handle(handle),
        agent_id: agent("occ"),
        subject: "s".into(),
        predicate: "p".into(),
        challenger: credence_core::ClaimRef(uuid::Uuid::from_u128(1)),
        incumbents: Vec::new(),
        queued_at: unit.tx_time,
        expires_at: None,
        status: credence_core::AdjudicationStatus::Pending,
        notified: false,
        seq: unit.seq,
    });
    Ok(Some(unit))
}

#[test]
fn unique_violation_is_retried_by_rerunning_the_unit() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2&write_retries=3"))?;
    let taken = uuid::Uuid::from_u128(42);
    ledger.write(&agent("occ"), &mut |view| unit_with_adjudication(view, taken))?;
    let mut calls = 0;
    let head = ledger.write(&agent("occ"), &mut |view| {
        calls += 1;
        // The first attempt collides with the existing row; the re-run picks a fresh handle.
        let handle = if calls == 1 { taken } else { uuid::Uuid::from_u128(43) };
        unit_with_adjudication(view, handle)
    })?;
    assert_eq!(calls, 2);
    assert_eq!(head.map(|h| h.seq), Some(2));
    assert_eq!(seqs(&ledger, "occ")?, vec![1, 2]);
    Ok(())
}

#[test]
fn unique_violation_that_persists_becomes_conflict_after_bounded_retries() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2&write_retries=3"))?;
    let taken = uuid::Uuid::from_u128(42);
    ledger.write(&agent("occ"), &mut |view| unit_with_adjudication(view, taken))?;
    let mut calls = 0;
    let err = ledger.write(&agent("occ"), &mut |view| {
        calls += 1;
        unit_with_adjudication(view, taken)
    });
    assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    assert!(err.as_ref().is_err_and(Error::is_retryable));
    // The unit first runs once before any transaction (its adjudication row keeps it off the
    // one-round-trip path), then in one attempt plus write_retries=3 retries.
    assert_eq!(calls, 5, "one attempt plus write_retries=3 retries");
    assert_eq!(seqs(&ledger, "occ")?, vec![1], "nothing of the failed unit is stored");
    Ok(())
}

#[test]
fn write_waiting_past_statement_timeout_is_unavailable_while_reads_proceed() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2&statement_timeout=300ms"))?;
    ledger.write(&agent("busy"), &mut empty_unit)?;
    // Another session (as another process would) holds the agent's write lock.
    let mut other = support::admin_client(&base)?;
    let key = agent_lock_key(&guard.schema, "busy");
    other.execute("SELECT pg_advisory_lock($1)", &[&key])?;
    let started = Instant::now();
    let err = ledger.write(&agent("busy"), &mut empty_unit).expect_err("the lock is held elsewhere");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5), "the wait was bounded by statement_timeout");
    // Reads never wait for the write lock.
    assert_eq!(seqs(&ledger, "busy")?, vec![1]);
    other.execute("SELECT pg_advisory_unlock($1)", &[&key])?;
    assert_eq!(ledger.write(&agent("busy"), &mut empty_unit)?.map(|h| h.seq), Some(2));
    Ok(())
}

/// A unit appending one claim with `claim_ref` (and its committed entry) at head + 1.
fn claim_unit(
    view: &dyn credence_core::LedgerRead,
    id: &str,
    claim_ref: u128,
) -> credence_core::Result<Option<Append>> {
    claim_unit_on(view, id, "s", claim_ref)
}

/// [`claim_unit`] on the line (`subject`, `p`).
fn claim_unit_on(
    view: &dyn credence_core::LedgerRead,
    id: &str,
    subject: &str,
    claim_ref: u128,
) -> credence_core::Result<Option<Append>> {
    let (seq, tx) = next_unit_at(view)?;
    let mut unit = Append::new(seq, tx);
    let claim_ref = credence_core::ClaimRef(uuid::Uuid::from_u128(claim_ref));
    // The line is read first, as the engine does (this is what rides with BEGIN and the lock).
    view.line(subject, "p", credence_core::Upto::Head)?;
    unit.claims.push(credence_core::Claim {
        claim_ref,
        agent_id: agent(id),
        subject: subject.into(),
        predicate: "p".into(),
        value: serde_json::json!("v"),
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
    unit.entries.push(credence_core::LedgerEntry {
        seq: unit.seq,
        index: 0,
        claim_ref,
        event: credence_core::Event::ClaimCommitted,
        disposition: Disposition::CommittedCheap,
        rationale: serde_json::json!({}),
        recorded_at: unit.tx_time,
    });
    Ok(Some(unit))
}

/// Runs `units` through one `write_batch` call for agent `id`.
fn write_boxed_batch(
    ledger: &PostgresLedger,
    id: &str,
    mut units: Vec<Box<credence_core::WriteUnit<'_>>>,
) -> Vec<credence_core::Result<Option<credence_core::Head>>> {
    let mut refs: Vec<&mut credence_core::WriteUnit<'_>> = units.iter_mut().map(|u| &mut **u).collect();
    ledger.write_batch(&agent(id), &mut refs)
}

fn claim_refs(ledger: &PostgresLedger, id: &str) -> Result<Vec<u128>, Error> {
    read_with(ledger, &agent(id), |v| {
        Ok(v.line("s", "p", credence_core::Upto::Head)?
            .claims
            .iter()
            .map(|c| c.claim_ref.0.as_u128())
            .collect())
    })
}

#[test]
fn write_batch_runs_its_units_in_one_transaction_with_results_in_order() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2"))?;
    let before = ledger.write_stats();
    let units = (1..=5u128)
        .map(|r| Box::new(move |v: &dyn credence_core::LedgerRead| claim_unit(v, "b", r)) as Box<_>)
        .collect();
    let results = write_boxed_batch(&ledger, "b", units);
    let heads: Vec<Option<u64>> =
        results.iter().map(|r| r.as_ref().ok().and_then(|h| h.map(|h| h.seq))).collect();
    assert_eq!(heads, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let after = ledger.write_stats();
    assert_eq!(after.transactions - before.transactions, 1, "one transaction for the batch");
    assert_eq!(after.units - before.units, 5);
    assert_eq!(seqs(&ledger, "b")?, vec![1, 2, 3, 4, 5]);
    assert_eq!(claim_refs(&ledger, "b")?, vec![1, 2, 3, 4, 5]);
    Ok(())
}

/// A unit whose insert the database refuses (its claim exists) after earlier units of the
/// batch ran in the same transaction: it alone fails, the others are run again and commit.
#[test]
fn write_batch_unit_refused_by_the_database_fails_alone_wherever_it_is() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2"))?;
    ledger.write(&agent("r"), &mut |v| claim_unit(v, "r", 100))?;
    // The duplicate in the middle (its insert rides with the next unit's read) and last (its
    // insert rides with the COMMIT).
    for (round, dup_at) in [(0u128, 1usize), (1, 2)] {
        let calls = Mutex::new(vec![0u32; 3]);
        let units: Vec<Box<credence_core::WriteUnit<'_>>> = (0..3usize)
            .map(|k| {
                let calls = &calls;
                let claim = if k == dup_at { 100 } else { 1000 + round * 10 + k as u128 };
                Box::new(move |v: &dyn credence_core::LedgerRead| {
                    calls.lock().map_err(|_| Error::InvalidQuery { reason: "poisoned".into() })?[k] += 1;
                    claim_unit(v, "r", claim)
                }) as Box<_>
            })
            .collect();
        let results = write_boxed_batch(&ledger, "r", units);
        assert_eq!(results.len(), 3);
        for (k, r) in results.iter().enumerate() {
            if k == dup_at {
                assert!(matches!(r, Err(Error::Conflict { .. })), "unit {k}: {r:?}");
            } else {
                assert!(matches!(r, Ok(Some(_))), "unit {k}: {r:?}");
            }
        }
        let calls = calls.into_inner().map_err(|_| "poisoned")?;
        // At most: once ahead of the transaction (giving up at the read of its line, which
        // this process knows holds claims), once in the failed transaction, once again.
        assert!(calls.iter().all(|&n| n <= 3), "each unit ran at most three times: {calls:?}");
    }
    assert_eq!(seqs(&ledger, "r")?, vec![1, 2, 3, 4, 5]);
    assert_eq!(claim_refs(&ledger, "r")?, vec![100, 1000, 1002, 1010, 1011]);
    Ok(())
}

/// Batches and plain writes of one agent from many threads at once: every unit commits
/// exactly once and the seqs stay gap-free.
#[test]
fn write_batch_and_concurrent_single_writes_keep_seq_gap_free() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=8"))?);
    let (threads, rounds, per_batch) = (4usize, 5usize, 4usize);
    let barrier = Arc::new(Barrier::new(threads * 2));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (batch_ledger, batch_barrier) = (ledger.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            let (ledger, barrier) = (batch_ledger, batch_barrier);
            barrier.wait();
            let mut written = 0;
            for _ in 0..rounds {
                let units = (0..per_batch).map(|_| Box::new(empty_unit) as Box<_>).collect();
                for r in write_boxed_batch(&ledger, "mixed", units) {
                    written += usize::from(r.map_err(|e| e.to_string())?.is_some());
                }
            }
            Ok::<_, String>(written)
        }));
        let (ledger, barrier) = (ledger.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            let mut written = 0;
            for _ in 0..rounds * 2 {
                written += usize::from(
                    ledger.write(&agent("mixed"), &mut empty_unit).map_err(|e| e.to_string())?.is_some(),
                );
            }
            Ok::<_, String>(written)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| "writer panicked")??;
    }
    assert_eq!(total, threads * rounds * (per_batch + 2));
    let expected: Vec<u64> = (1..=u64::try_from(total)?).collect();
    assert_eq!(seqs(&ledger, "mixed")?, expected);
    Ok(())
}

/// A unit the database refuses (its adjudication handle exists: the transaction is aborted)
/// fails alone; the unit after it in the batch still commits.
#[test]
fn unit_refused_by_the_database_fails_alone_and_the_rest_of_its_batch_commits() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=4&write_retries=0"))?;
    let taken = uuid::Uuid::from_u128(7);
    ledger.write(&agent("occ"), &mut |view| unit_with_adjudication(view, taken))?;
    let mut refused = move |view: &dyn credence_core::LedgerRead| unit_with_adjudication(view, taken);
    let mut after = empty_unit;
    let mut units: [&mut credence_core::WriteUnit<'_>; 2] = [&mut refused, &mut after];
    let results = ledger.write_batch(&agent("occ"), &mut units);
    assert!(matches!(results[0], Err(Error::Conflict { .. })), "{results:?}");
    assert_eq!(results[1].as_ref().ok().and_then(|h| h.map(|h| h.seq)), Some(2), "{results:?}");
    assert_eq!(seqs(&ledger, "occ")?, vec![1, 2]);
    Ok(())
}

#[test]
fn writes_on_new_lines_go_in_one_round_trip_once_the_head_is_known() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?);
    let engine = engine(ledger.clone(), 1)?;
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    let lines: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    for (i, line) in lines.iter().enumerate() {
        let req = IngestRequest::new("fast", line.as_str(), "p", i64::try_from(i)?);
        engine.ingest(req.clone())?;
        reference.ingest(req)?;
    }
    // The first write learns the head; every later one on a new line needs no read.
    assert_eq!(ledger.write_stats().speculative_units, 19);
    // A line this process wrote is never assumed empty: the update reads it and is decided
    // on what is there (a different value of a functional line).
    let before = ledger.write_stats().speculative_units;
    let update = IngestRequest::new("fast", "s3", "p", 99);
    let receipt = engine.ingest(update.clone())?;
    assert_eq!(ledger.write_stats().speculative_units, before);
    assert_eq!(receipt.disposition, reference.ingest(update)?.disposition);
    assert_eq!(seqs(&ledger, "fast")?, (1..=21).collect::<Vec<u64>>());
    Ok(())
}

#[test]
fn one_round_trip_guard_catches_another_process_writing_the_agent_or_the_line() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    // Two ledgers on one schema stand for two processes; the reference backend replays the
    // same ingests in the same order.
    let (a, b) = (
        Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?),
        Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?),
    );
    let (ea, eb) = (engine(a.clone(), 1)?, engine(b.clone(), 2)?);
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    let steps: [(&Engine<Arc<PostgresLedger>>, &str, i64); 5] = [
        // b writes line L before a knows anything of the agent.
        (&eb, "L", 1),
        // a's first write reads the head (seq 1) and learns it.
        (&ea, "x", 2),
        // a speculates on L, which it has not seen: the guard finds the line non-empty.
        (&ea, "L", 3),
        // b writes, so a's known head is stale ...
        (&eb, "y", 4),
        // ... and the guard finds the head moved.
        (&ea, "z", 5),
    ];
    for (engine, subject, value) in steps {
        let got = engine.ingest(IngestRequest::new("shared", subject, "p", value))?;
        let want = reference.ingest(IngestRequest::new("shared", subject, "p", value))?;
        assert_eq!(got.disposition, want.disposition, "{subject}={value}");
        assert_eq!(got.seq, want.seq, "{subject}={value}");
    }
    assert_eq!(a.write_stats().speculative_units, 0, "both guards must have failed");
    assert_eq!(a.write_stats().failed_guards, 2, "both writes were tried ahead");
    assert_eq!(seqs(&a, "shared")?, vec![1, 2, 3, 4, 5]);
    // With nobody else writing, a's next write on a new line goes in one round trip again.
    ea.ingest(IngestRequest::new("shared", "w", "p", 6))?;
    assert_eq!(a.write_stats().speculative_units, 1);
    Ok(())
}

#[test]
fn one_round_trip_guard_uses_the_line_index() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    // One connection: the guard is prepared (with a generic plan) on the session used below.
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?);
    let engine = engine(ledger.clone(), 1)?;
    for i in 0..300 {
        engine.ingest(IngestRequest::new("big", format!("s{i}"), "p", i))?;
    }
    let mut conn = ledger.pool().get()?;
    // Planned again with statistics, as after autovacuum analyses the table. (The plan made
    // when the session was prepared, tables empty, avoids sorts and so takes claims_by_line
    // too, but the server may plan again at any time — e.g. when it resets its plan cache
    // under heavy catalog traffic, as this test suite makes — so that one is not asserted.)
    conn.client().batch_execute("ANALYZE claims; ANALYZE units")?;
    // The guard of a lone unit, and the insert that checks units of several agents sharing a
    // transaction.
    for guard in [
        "credence_expect(E'big', 300, ARRAY[E's1', E'new']::text[], ARRAY[E'p', E'p']::text[])",
        "credence_append_many(ARRAY[E'big', E'other']::text[], ARRAY[300, 0]::bigint[], ARRAY[1, 2]::bigint[], \
         ARRAY[E'big', E'other']::text[], ARRAY[E's1', E'new']::text[], ARRAY[E'p', E'p']::text[], \
         '[]', '[]', '[]', '[]', '[]')",
    ] {
        let plan = explain(&mut conn, guard)?;
        assert!(plan.contains("claims_by_line"), "{plan}");
        assert!(plan.contains("units_agent_seq_unique"), "{plan}");
        assert!(!plan.contains("Seq Scan") && !plan.contains("claims_by_unit"), "{plan}");
    }
    Ok(())
}

/// The plan of `EXECUTE {statement}`.
fn explain(
    conn: &mut credence_postgres::r2d2::PooledConnection<credence_postgres::pool::PgManager>,
    statement: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let plan: Vec<String> = conn
        .client()
        .simple_query(&format!("EXPLAIN EXECUTE {statement}"))?
        .iter()
        .filter_map(|m| match m {
            credence_postgres::postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    Ok(plan.join("\n"))
}

/// `count` units of agent `id`, unit `k` claiming `first + k` on the line `line{first + k}`.
fn units_on_new_lines(
    id: &'static str,
    first: u128,
    count: u128,
) -> Vec<Box<credence_core::WriteUnit<'static>>> {
    (first..first + count)
        .map(|r| {
            Box::new(move |v: &dyn credence_core::LedgerRead| claim_unit_on(v, id, &format!("line{r}"), r))
                as Box<credence_core::WriteUnit<'static>>
        })
        .collect()
}

#[test]
fn write_batch_on_new_lines_is_decided_ahead_and_a_stale_guard_reruns_it_with_reads() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = PostgresLedger::from_url(&guard.url("pool_max=2"))?;
    // Another ledger on the same schema stands for another process.
    let other = PostgresLedger::from_url(&guard.url("pool_max=2"))?;
    ledger.write(&agent("b"), &mut |v| claim_unit_on(v, "b", "first", 1))?;

    let before = ledger.write_stats();
    let results = write_boxed_batch(&ledger, "b", units_on_new_lines("b", 10, 4));
    let heads: Vec<Option<u64>> =
        results.iter().map(|r| r.as_ref().ok().and_then(|h| h.map(|h| h.seq))).collect();
    assert_eq!(heads, vec![Some(2), Some(3), Some(4), Some(5)]);
    let after = ledger.write_stats();
    assert_eq!(after.speculative_units - before.speculative_units, 4, "no unit needed a read");
    assert_eq!(after.transactions - before.transactions, 1);

    // The other process writes: what `ledger` knows is stale, the guard fails, and the batch
    // runs again with reads, on top of the other process's unit.
    other.write(&agent("b"), &mut |v| claim_unit_on(v, "b", "elsewhere", 50))?;
    let before = ledger.write_stats();
    let results = write_boxed_batch(&ledger, "b", units_on_new_lines("b", 20, 3));
    let heads: Vec<Option<u64>> =
        results.iter().map(|r| r.as_ref().ok().and_then(|h| h.map(|h| h.seq))).collect();
    assert_eq!(heads, vec![Some(7), Some(8), Some(9)]);
    assert_eq!(ledger.write_stats().speculative_units, before.speculative_units);
    assert_eq!(ledger.write_stats().failed_guards, before.failed_guards + 1, "the batch was tried ahead");
    assert_eq!(seqs(&ledger, "b")?, (1..=9).collect::<Vec<u64>>());

    // A unit on a line an earlier unit of the same batch wrote is not decided ahead (that
    // line is known to hold a claim): it reads the line, and sees that claim.
    let seen = Mutex::new(Vec::new());
    let units: Vec<Box<credence_core::WriteUnit<'_>>> = vec![
        Box::new(|v: &dyn credence_core::LedgerRead| claim_unit_on(v, "b", "shared", 30)),
        Box::new(|v: &dyn credence_core::LedgerRead| {
            let line = v.line("shared", "p", credence_core::Upto::Head)?.claims;
            *seen.lock().map_err(|_| Error::InvalidQuery { reason: "poisoned".into() })? =
                line.iter().map(|c| c.claim_ref.0.as_u128()).collect::<Vec<u128>>();
            claim_unit_on(v, "b", "shared", 31)
        }),
    ];
    let before = ledger.write_stats();
    let results = write_boxed_batch(&ledger, "b", units);
    assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))), "{results:?}");
    assert_eq!(*seen.lock().map_err(|_| "poisoned")?, vec![30]);
    let after = ledger.write_stats();
    assert_eq!(after.speculative_units, before.speculative_units + 1, "only the first unit went ahead");
    assert_eq!(after.failed_guards, before.failed_guards, "no guard had to catch the shared line");
    assert_eq!(seqs(&ledger, "b")?, (1..=11).collect::<Vec<u64>>());
    Ok(())
}

#[test]
fn write_ahead_on_a_connection_the_server_closed_while_idle_is_written_once() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let (app, ledger) = named_ledger(&guard, "idle", 1)?;
    let engine = engine(ledger.clone(), 1)?;
    engine.ingest(IngestRequest::new("idle", "a", "p", 1))?;
    engine.ingest(IngestRequest::new("idle", "b", "p", 2))?;
    assert_eq!(ledger.write_stats().speculative_units, 1);
    // The server ends the pooled session while it sits idle (as a restart would).
    let mut admin = support::admin_client(&base)?;
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) t",
            &[&app],
        )?
        .get(0);
    assert_eq!(ended, 1);
    std::thread::sleep(Duration::from_millis(200));
    // The next write is decided ahead and its one round trip (with the COMMIT) meets the
    // closed connection: it is found not committed and written once, on a fresh connection.
    let receipt = engine.ingest(IngestRequest::new("idle", "c", "p", 3))?;
    assert_eq!(receipt.seq, Some(3));
    assert_eq!(seqs(&ledger, "idle")?, vec![1, 2, 3]);
    Ok(())
}

/// Waits (up to 20 s, else fails) until `count` sessions wait for a lock of `locktype` — on
/// `table` (a qualified name) when given, so other tests' sessions on the server do not count.
fn wait_for_lock_waiters(
    client: &mut postgres::Client,
    locktype: &str,
    table: Option<&str>,
    count: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = $1 AND NOT granted \
                   AND ($2::text IS NULL OR relation = to_regclass($2::text))";
    while client.query_one(waiting, &[&locktype, &table])?.get::<_, i64>(0) < count {
        assert!(Instant::now() < deadline, "{count} sessions never waited for a {locktype} lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// An agent's id and the receipts of its writes, in order.
type AgentReceipts = (String, Vec<credence_core::WriteReceipt>);

/// `threads` writers, each ingesting one claim per round on a new line of its own agent
/// (`{prefix}{t}`, line `s{i}` with value `i` in round `i`), all writers starting each round
/// together; returns each agent's receipts. A failed ingest is reported after the last round
/// (its writer keeps meeting the others at each round, so nobody waits forever).
fn ingest_rounds_on_own_agents(
    engine: &Engine<Arc<PostgresLedger>>,
    prefix: &str,
    threads: usize,
    rounds: std::ops::Range<i64>,
) -> Result<Vec<AgentReceipts>, Box<dyn std::error::Error>> {
    let barrier = Barrier::new(threads);
    let results: Vec<Result<AgentReceipts, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, id, rounds) = (&barrier, format!("{prefix}{t}"), rounds.clone());
                s.spawn(move || {
                    let (mut receipts, mut failed) = (Vec::new(), None);
                    for i in rounds {
                        barrier.wait();
                        if failed.is_some() {
                            continue;
                        }
                        match engine.ingest(IngestRequest::new(id.as_str(), format!("s{i}"), "p", i)) {
                            Ok(receipt) => receipts.push(receipt),
                            Err(e) => failed = Some(format!("{id} s{i}: {e}")),
                        }
                    }
                    failed.map_or(Ok((id, receipts)), Err)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("writer panicked".to_owned()))).collect()
    });
    Ok(results.into_iter().collect::<Result<Vec<_>, String>>()?)
}

#[test]
fn one_round_trip_writes_of_different_agents_share_transactions_and_decide_as_the_reference() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=8"))?);
    let engine = engine(ledger.clone(), 1)?;
    let (threads, rounds) = (8, 30);
    let written = ingest_rounds_on_own_agents(&engine, "c", threads, 0..rounds)?;
    let stats = ledger.write_stats();
    assert_eq!(stats.units, 8 * 30);
    // Every write but each agent's first (which learns the head) was decided ahead, and
    // writes of different agents arriving together shared transactions.
    assert_eq!(stats.speculative_units, 8 * 29, "{stats:?}");
    assert!(stats.transactions < stats.units, "no transaction was shared: {stats:?}");
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    for (id, receipts) in written {
        assert_eq!(seqs(&ledger, &id)?, (1..=30).collect::<Vec<u64>>(), "{id}");
        for (i, got) in (0..rounds).zip(receipts) {
            let want = reference.ingest(IngestRequest::new(id.as_str(), format!("s{i}"), "p", i))?;
            assert_eq!((got.disposition, got.seq), (want.disposition, want.seq), "{id} s{i}");
        }
    }
    Ok(())
}

#[test]
fn a_write_never_waits_for_another_agents_lock_held_elsewhere() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=8&statement_timeout=60s"))?);
    let engine = Arc::new(engine(ledger.clone(), 1)?);
    // Every agent's head is known, so every write below is decided ahead and goes through the
    // shared transactions first.
    let _ = ingest_rounds_on_own_agents(&engine, "held", 2, 0..1)?;
    let _ = ingest_rounds_on_own_agents(&engine, "free", 6, 0..1)?;
    // Another session (as another process would) holds the write locks of two agents — as
    // many as groups may be in flight at once, so groups that waited for a lock would stop all.
    let mut other = support::admin_client(&base)?;
    let keys = [agent_lock_key(&guard.schema, "held0"), agent_lock_key(&guard.schema, "held1")];
    for key in keys {
        other.execute("SELECT pg_advisory_lock($1)", &[&key])?;
    }
    let held: Vec<_> = (0..2)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || engine.ingest(IngestRequest::new(format!("held{t}"), "s1", "p", 1)))
        })
        .collect();
    // Both held writes end up waiting for their own locks (their one-round-trip attempt is
    // refused the lock at once, and then they wait, alone) ...
    wait_for_lock_waiters(&mut other, "advisory", None, 2)?;
    // ... while the other agents' writes all commit, in shared transactions or alone.
    let started = Instant::now();
    for round in 0..5 {
        let _ = ingest_rounds_on_own_agents(&engine, "free", 6, 1 + 4 * round..5 + 4 * round)?;
    }
    assert!(started.elapsed() < Duration::from_secs(30), "writes of free agents waited");
    assert!(held.iter().all(|h| !h.is_finished()), "the held agents' writes did not wait for their locks");
    // No free agent's unit was refused with a held one: at most the two held units were.
    assert!(ledger.write_stats().refused_in_groups <= 2, "{:?}", ledger.write_stats());
    for key in keys {
        other.execute("SELECT pg_advisory_unlock($1)", &[&key])?;
    }
    for (t, h) in held.into_iter().enumerate() {
        let receipt = h.join().map_err(|_| "writer panicked")??;
        assert_eq!(receipt.seq, Some(2));
        assert_eq!(seqs(&ledger, &format!("held{t}"))?, vec![1, 2]);
    }
    for t in 0..6 {
        assert_eq!(seqs(&ledger, &format!("free{t}"))?, (1..=21).collect::<Vec<u64>>());
    }
    Ok(())
}

#[test]
fn a_shared_transaction_with_a_stale_unit_is_resent_unit_by_unit_and_decides_as_the_reference() -> TestResult
{
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=8"))?);
    // Another ledger on the same schema stands for another process.
    let other = engine(Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2"))?), 2)?;
    let engine = engine(ledger.clone(), 1)?;
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    let mut written: Vec<AgentReceipts> = (0..8).map(|t| (format!("m{t}"), Vec::new())).collect();
    let mut want: Vec<Vec<(Disposition, Option<u64>)>> = vec![Vec::new(); 8];
    let record = |want: &mut Vec<Vec<(Disposition, Option<u64>)>>, t: usize, i: i64| -> Result<(), Error> {
        let r = reference.ingest(IngestRequest::new(format!("m{t}"), format!("s{i}"), "p", i))?;
        want[t].push((r.disposition, r.seq));
        Ok(())
    };
    for block in 0..4 {
        let rounds = 5 * block..5 * block + 5;
        for (t, (_, receipts)) in
            ingest_rounds_on_own_agents(&engine, "m", 8, rounds.clone())?.into_iter().enumerate()
        {
            written[t].1.extend(receipts);
            for i in rounds.clone() {
                record(&mut want, t, i)?;
            }
        }
        // Between blocks the other process writes agent m0: a line this process has not
        // seen, one it has, and the line m0 writes in the second round of the next block. So
        // m0's next unit is decided on a stale head, and the one after it (decided on the head
        // its predecessor read) takes a written line as empty: both guards — in whichever
        // transaction the units go — fail, and both units run again with reads.
        let next = 5 * block + 6;
        for (subject, value) in
            [(format!("x{block}"), 100), ("s0".to_owned(), 200 + block), (format!("s{next}"), 300)]
        {
            other.ingest(IngestRequest::new("m0", subject.as_str(), "p", value))?;
            reference.ingest(IngestRequest::new("m0", subject.as_str(), "p", value))?;
        }
    }
    for (t, (id, receipts)) in written.iter().enumerate() {
        let got: Vec<(Disposition, Option<u64>)> = receipts.iter().map(|r| (r.disposition, r.seq)).collect();
        assert_eq!(got, want[t], "{id}");
    }
    let extra = 12; // the other process's writes to m0
    assert_eq!(seqs(&ledger, "m0")?, (1..=20 + extra).collect::<Vec<u64>>());
    for t in 1..8 {
        assert_eq!(seqs(&ledger, &format!("m{t}"))?, (1..=20).collect::<Vec<u64>>());
    }
    let stats = ledger.write_stats();
    assert!(stats.failed_guards >= 6, "m0's stale units were caught by their guards: {stats:?}");
    // Only those units were refused: the others in their shared transactions were written.
    assert!(stats.refused_in_groups <= 6, "{stats:?}");
    Ok(())
}

/// Second ingests (line `second`, value 1) of `waves` of agents while every insert into the
/// schema's `units` table is held back by another session's SHARE lock: the first wave (two
/// agents) fills both in-flight places of the shared-transaction convoy and waits on the
/// table; then `before_queueing` runs; each later wave is started and given 200 ms to queue
/// behind them; then the lock is released. Every receipt must be `reference`'s for the same
/// ingest.
fn second_ingests_behind_a_held_table(
    base: &str,
    guard: &support::SchemaGuard,
    engine: &Arc<Engine<Arc<PostgresLedger>>>,
    reference: &Engine<Arc<credence_core::MemoryLedger>>,
    waves: &[&[&'static str]],
    before_queueing: impl FnOnce(),
) -> TestResult {
    let mut admin = support::admin_client(base)?;
    let mut blocker = admin.transaction()?;
    let units_table = format!("\"{}\".units", guard.schema);
    blocker.batch_execute(&format!("LOCK TABLE {units_table} IN SHARE MODE"))?;
    let spawn = |id: &'static str| {
        let engine = engine.clone();
        (id, std::thread::spawn(move || engine.ingest(IngestRequest::new(id, "second", "p", 1))))
    };
    let (first, later) = waves.split_first().ok_or("no writers")?;
    let mut writers: Vec<_> = first.iter().map(|&id| spawn(id)).collect();
    wait_for_lock_waiters(&mut support::admin_client(base)?, "relation", Some(&units_table), 2)?;
    before_queueing();
    for wave in later {
        writers.extend(wave.iter().map(|&id| spawn(id)));
        std::thread::sleep(Duration::from_millis(200));
    }
    blocker.commit()?;
    for (id, writer) in writers {
        let got = writer.join().map_err(|_| "writer panicked")??;
        let want = reference.ingest(IngestRequest::new(id, "second", "p", 1))?;
        assert_eq!((got.disposition, got.seq), (want.disposition, want.seq), "{id}");
    }
    Ok(())
}

#[test]
fn a_stale_unit_in_a_shared_transaction_is_refused_alone_while_the_others_are_written() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=8&statement_timeout=60s"))?);
    let engine = Arc::new(engine(ledger.clone(), 1)?);
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    let agents = ["p0", "p1", "p2", "p3", "p4", "p5", "m0"];
    for id in agents {
        engine.ingest(IngestRequest::new(id, "first", "p", 0))?;
        reference.ingest(IngestRequest::new(id, "first", "p", 0))?;
    }
    // Another process writes m0, so this process's knowledge of it is stale.
    let other = self::engine(Arc::new(PostgresLedger::from_url(&guard.url("pool_max=1"))?), 2)?;
    other.ingest(IngestRequest::new("m0", "elsewhere", "p", 9))?;
    reference.ingest(IngestRequest::new("m0", "elsewhere", "p", 9))?;
    // p0 and p1 go alone; p2–p5, then m0, queue: m0 is never first, so it goes in a group
    // with others.
    let waves: [&[&'static str]; 3] = [&["p0", "p1"], &["p2", "p3", "p4", "p5"], &["m0"]];
    second_ingests_behind_a_held_table(&base, &guard, &engine, &reference, &waves, || {})?;
    let stats = ledger.write_stats();
    // m0's unit was refused in its shared transaction (then sent alone, refused by its guard
    // again, and written the normal way); the others in that transaction were written.
    assert_eq!(stats.refused_in_groups, 1, "{stats:?}");
    assert_eq!(stats.failed_guards, 1, "{stats:?}");
    assert_eq!(seqs(&ledger, "m0")?, vec![1, 2, 3]);
    for id in &agents[..6] {
        assert_eq!(seqs(&ledger, id)?, vec![1, 2], "{id}");
    }
    Ok(())
}

/// Six agents' second ingests, four of which share one transaction (their inserts are held
/// back with a table lock until they have queued behind the other two), written through a
/// proxy that loses that shared transaction's round trip as `lose` says. Every ingest must be
/// answered as the reference answers it, and every unit stored exactly once.
fn shared_round_trip_lost(lose: support::proxy::Lose) -> TestResult {
    let base = require_server!();
    let config = credence_postgres::PostgresConfig::from_url(&base)?;
    // Only a real shared insert says `credence_append_many(ARRAY[E'…` (its PREPARE and the
    // EXPLAIN that plans it name no agent).
    let marker = "EXECUTE credence_append_many(ARRAY[E'";
    let proxy = support::proxy::FaultProxy::start(format!("{}:{}", config.host, config.port), marker, lose)?;
    let guard = support::SchemaGuard::new(&base);
    let password = config.password.as_ref().map(|p| format!(":{}", p.0)).unwrap_or_default();
    let url = format!(
        "postgres://{}{password}@127.0.0.1:{}/{}?sslmode=disable&schema={}&pool_max=8&statement_timeout=60s",
        config.user,
        proxy.port(),
        config.dbname,
        guard.schema
    );
    let ledger = Arc::new(PostgresLedger::from_url(&url)?);
    let engine = Arc::new(engine(ledger.clone(), 1)?);
    let reference = Engine::builder(Arc::new(credence_core::MemoryLedger::new())).build()?;
    let agents = ["q0", "q1", "q2", "q3", "q4", "q5"];
    for id in agents {
        engine.ingest(IngestRequest::new(id, "first", "p", 0))?;
        reference.ingest(IngestRequest::new(id, "first", "p", 0))?;
    }
    // q0 and q1 go alone (no shared statement); q2–q5 queue and go together, in the round
    // trip the proxy loses.
    let waves: [&[&'static str]; 2] = [&["q0", "q1"], &["q2", "q3", "q4", "q5"]];
    second_ingests_behind_a_held_table(&base, &guard, &engine, &reference, &waves, || proxy.arm())?;
    assert_eq!(proxy.fired(), 1, "the shared round trip was never lost");
    for id in agents {
        assert_eq!(seqs(&ledger, id)?, vec![1, 2], "{id}");
    }
    // The store goes on working through the same pool.
    engine.ingest(IngestRequest::new("q2", "third", "p", 2))?;
    assert_eq!(seqs(&ledger, "q2")?, vec![1, 2, 3]);
    Ok(())
}

#[test]
fn a_shared_transaction_whose_reply_is_lost_after_its_commit_is_answered_from_the_store() -> TestResult {
    shared_round_trip_lost(support::proxy::Lose::Reply)
}

#[test]
fn a_shared_transaction_lost_before_the_server_saw_it_is_sent_again_and_written_once() -> TestResult {
    shared_round_trip_lost(support::proxy::Lose::Query)
}

/// Makes the first `times` inserts into `guard`'s `units` table fail with SQLSTATE `code`
/// (a trigger counting with a sequence, which rollbacks do not reset); returns a client to
/// read the count with [`injected_attempts`].
fn fail_unit_inserts(
    base: &str,
    guard: &support::SchemaGuard,
    code: &str,
    times: i64,
) -> Result<postgres::Client, Box<dyn std::error::Error>> {
    let mut admin = support::admin_client(base)?;
    let schema = &guard.schema;
    admin.batch_execute(&format!(
        "CREATE SEQUENCE {schema}.unit_inserts;
         CREATE FUNCTION {schema}.fail_unit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('{schema}.unit_inserts') <= {times} THEN
                 RAISE EXCEPTION 'injected failure {code}' USING ERRCODE = '{code}';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER fail_unit_insert BEFORE INSERT ON {schema}.units
             FOR EACH ROW EXECUTE FUNCTION {schema}.fail_unit_insert();"
    ))?;
    Ok(admin)
}

/// How many unit inserts the trigger of [`fail_unit_inserts`] has seen.
fn injected_attempts(
    admin: &mut postgres::Client,
    guard: &support::SchemaGuard,
) -> Result<i64, postgres::Error> {
    let row = admin.query_one(
        &format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {}.unit_inserts", guard.schema),
        &[],
    )?;
    row.try_get(0)
}

#[test]
fn serialization_failure_and_deadlock_are_retried_and_the_unit_stored_once() -> TestResult {
    let base = require_server!();
    for code in ["40001", "40P01"] {
        let guard = support::SchemaGuard::new(&base);
        let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2&write_retries=3"))?);
        let mut admin = fail_unit_inserts(&base, &guard, code, 1)?;
        let receipt = engine(ledger.clone(), 1)?.ingest(IngestRequest::new("occ", "s", "p", 1))?;
        assert_eq!(receipt.seq, Some(1), "{code}");
        assert_eq!(injected_attempts(&mut admin, &guard)?, 2, "{code}: one failed attempt, one retry");
        assert_eq!(seqs(&ledger, "occ")?, vec![1], "{code}: the unit is stored exactly once");
    }
    Ok(())
}

#[test]
fn serialization_failure_or_deadlock_that_persists_becomes_retryable_conflict() -> TestResult {
    let base = require_server!();
    for code in ["40001", "40P01"] {
        let guard = support::SchemaGuard::new(&base);
        let ledger = Arc::new(PostgresLedger::from_url(&guard.url("pool_max=2&write_retries=2"))?);
        let mut admin = fail_unit_inserts(&base, &guard, code, i64::MAX)?;
        let err = engine(ledger.clone(), 1)?
            .ingest(IngestRequest::new("occ", "s", "p", 1))
            .expect_err("every insert fails");
        assert!(matches!(err, Error::Conflict { .. }), "{code}: {err}");
        assert!(err.is_retryable(), "{code}: {err}");
        assert!(err.to_string().contains(&format!("injected failure {code}")), "{code}: {err}");
        assert_eq!(injected_attempts(&mut admin, &guard)?, 3, "{code}: one attempt plus write_retries=2");
        assert_eq!(seqs(&ledger, "occ")?, Vec::<u64>::new(), "{code}: nothing is stored");
    }
    Ok(())
}

#[test]
fn pool_settings_from_the_url_reach_the_pool() -> TestResult {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let url =
        guard.url("pool_max=3&pool_min_idle=2&pool_timeout=7s&pool_max_lifetime=11m&pool_idle_timeout=13m");
    let ledger = PostgresLedger::from_url(&url)?;
    let pool = ledger.pool();
    assert_eq!(pool.max_size(), 3);
    assert_eq!(pool.min_idle(), Some(2));
    assert_eq!(pool.connection_timeout(), Duration::from_secs(7));
    assert_eq!(pool.max_lifetime(), Some(Duration::from_secs(11 * 60)));
    assert_eq!(pool.idle_timeout(), Some(Duration::from_secs(13 * 60)));
    // `0` means never.
    let ledger = PostgresLedger::from_url(&guard.url("pool_max_lifetime=0&pool_idle_timeout=0"))?;
    assert_eq!((ledger.pool().max_lifetime(), ledger.pool().idle_timeout()), (None, None));
    Ok(())
}
