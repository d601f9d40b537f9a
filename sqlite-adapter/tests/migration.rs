//! A file written by a build with schema version 1 opens with this build: the migration to
//! version 2 rebuilds the commits and ledger_entries tables and keeps every row.
//!
//! The version 1 file is made the way that build made it: `migrations/V1__init.sql` applied
//! to a fresh file, then filled with the rows of a store this build wrote.

use std::path::Path;
use std::sync::Arc;

use credence_core::{
    Append, AuditQuery, Cardinality, Claim, ClaimEngine, ClaimRef, Criticality, Engine, Error, Head,
    IngestRequest, Ledger, Provenance, RecallQuery, Timestamp, ValidTime,
};
use credence_sqlite::{SqliteConfig, SqliteLedger};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const V1_SQL: &str = include_str!("../migrations/V1__init.sql");

fn agent(id: &str) -> credence_core::AgentId {
    credence_core::AgentId::new(id).expect("valid agent id")
}

/// Every unit of `id`, as the ledger reads it back.
fn all_units(ledger: &SqliteLedger, id: &str) -> Result<Vec<Append>, Error> {
    let mut units = Vec::new();
    ledger.read(&agent(id), &mut |view| {
        units = view.units(0, 100_000)?;
        Ok(())
    })?;
    Ok(units)
}

/// Writes a mix of units for agent `m`: ingests the engine decides (contested values, set
/// values, a valid-time window, a derived claim), an invalidation with a flagged dependent, a
/// resolve and a reinstatement, and one unit of three claims whose claim refs run against
/// their order in the unit.
fn write_sample(ledger: Arc<SqliteLedger>) -> TestResult {
    let engine = Engine::new(ledger.clone());
    for i in 0..40 {
        engine.ingest(IngestRequest::new("m", format!("s{}", i % 7), "p", i % 3))?;
    }
    engine.ingest(IngestRequest::new("m", "tags", "has", "a").set_valued())?;
    engine.ingest(IngestRequest::new("m", "tags", "has", "b").set_valued())?;
    let window = ValidTime {
        start: Some(Timestamp::from_ymd(2026, 1, 1).ok_or("date")?),
        end: Some(Timestamp::from_ymd(2026, 6, 1).ok_or("date")?),
        confidence: 0.5,
        start_granularity: None,
        end_granularity: None,
    };
    let parent = engine.ingest(IngestRequest::new("m", "when", "p", "spring").with_valid_time(window))?;
    engine.ingest(IngestRequest::new("m", "derived", "p", 1).derived_from([parent.claim()]))?;
    // Liveness the index must reproduce: an invalidated claim, a dependent flagged by it, a
    // resolved line and a claim reinstated.
    let base = engine.ingest(IngestRequest::new("m", "base", "p", 1))?.claim();
    engine.ingest(IngestRequest::new("m", "dependent", "p", 2).depends_on([base]))?;
    engine.invalidate("m", base, "sample")?;
    let first = engine.ingest(IngestRequest::new("m", "fixed", "p", "old"))?.claim();
    let second = engine.ingest(IngestRequest::new("m", "fixed", "p", "new"))?.claim();
    engine.resolve("m", "fixed", "p", second)?;
    engine.reinstate("m", first)?;

    let mut written = None;
    ledger.write(&agent("m"), &mut |view| {
        let Some(head) = view.head()? else { return Ok(None) };
        let (seq, t) = (head.seq + 1, Timestamp(head.tx_time.0 + 1));
        let mut unit = Append::new(seq, t);
        for pos in 0..3u128 {
            unit.claims.push(Claim {
                // Descending refs: only the unit order says which claim came first.
                claim_ref: ClaimRef(uuid::Uuid::from_u128(u128::MAX - pos)),
                agent_id: agent("m"),
                subject: format!("multi{pos}"),
                predicate: "p".into(),
                value: json!({ "pos": pos.to_string() }),
                provenance: Provenance::FIRST_HAND,
                cardinality: Cardinality::Functional,
                confidence: 0.75,
                criticality: Criticality::High,
                valid_time: None,
                tx_time: t,
                seq,
                derived_from: Vec::new(),
                depends_on: Vec::new(),
            });
        }
        written = Some(Head { seq, tx_time: t });
        Ok(Some(unit))
    })?;
    assert!(written.is_some());
    Ok(())
}

/// Creates `target` as a version 1 file holding the rows of the (current version) file `source`.
fn make_version_1_copy(source: &Path, target: &Path) -> TestResult {
    let conn = rusqlite::Connection::open(target)?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch(V1_SQL)?;
    conn.execute_batch(
        "CREATE TABLE refinery_schema_history(version int4 PRIMARY KEY, name VARCHAR(255),
             applied_on VARCHAR(255), checksum VARCHAR(255));
         INSERT INTO refinery_schema_history VALUES (1, 'init', '2026-11-01T00:00:00Z', '0');",
    )?;
    conn.execute("ATTACH DATABASE ?1 AS src", [source.to_str().ok_or("path is not UTF-8")?])?;
    conn.execute_batch(
        "BEGIN;
         INSERT INTO agent SELECT * FROM src.agent;
         INSERT INTO commits (agent_id, stream_seq, tx_time)
             SELECT agent_id, stream_seq, tx_time FROM src.commits ORDER BY stream_seq;
         INSERT INTO claims SELECT * FROM src.claims;
         INSERT INTO ledger_entries (agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition,
                 rationale, recorded_at)
             SELECT agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition, rationale, recorded_at
             FROM src.ledger_entries;
         INSERT INTO assertions SELECT * FROM src.assertions;
         INSERT INTO edges SELECT * FROM src.edges;
         INSERT INTO adjudications SELECT * FROM src.adjudications;
         COMMIT;
         DETACH DATABASE src;",
    )?;
    // The copy really has the version 1 layout (commits is a rowid table).
    let v1_index: bool =
        conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'commits' AND sql NOT LIKE '%WITHOUT ROWID%')", [], |r| {
            r.get(0)
        })?;
    assert!(v1_index);
    Ok(())
}

fn store(dir: &Path) -> Result<Arc<SqliteLedger>, Error> {
    SqliteLedger::open(dir, SqliteConfig::default()).map(Arc::new)
}

/// A store written by this build (`written`, agent `m`, see [`write_sample`]) and, in `old`,
/// a version 1 copy of its agent file (`target`).
struct Version1 {
    written: tempfile::TempDir,
    old: tempfile::TempDir,
    target: std::path::PathBuf,
}

fn version_1_copy_of_a_sample() -> Result<Version1, Box<dyn std::error::Error>> {
    let (written, old) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let source = {
        let ledger = store(written.path())?;
        write_sample(ledger.clone())?;
        ledger.agent_file(&agent("m"))?.ok_or("file store")?
    };
    let target = store(old.path())?.agent_file(&agent("m"))?.ok_or("file store")?;
    make_version_1_copy(&source, &target)?;
    Ok(Version1 { written, old, target })
}

/// The newest migration recorded in `file`.
fn recorded_version(file: &Path) -> Result<i64, rusqlite::Error> {
    rusqlite::Connection::open(file)?
        .query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0))
}

#[test]
fn a_version_1_file_is_migrated_with_every_unit_and_answer_kept() -> TestResult {
    let fx = version_1_copy_of_a_sample()?;
    let reference = store(fx.written.path())?;
    let expected = all_units(&reference, "m")?;
    assert!(expected.iter().any(|u| u.claims.len() == 3) && expected.len() > 40);

    let migrated = store(fx.old.path())?;
    assert_eq!(all_units(&migrated, "m")?, expected);
    let (now, before) = (Engine::new(migrated.clone()), Engine::new(reference.clone()));
    for line in ["s0", "s3", "s6", "tags", "when", "derived", "multi0", "multi2"] {
        let (subject, predicate) = if line == "tags" { (line, "has") } else { (line, "p") };
        let q = RecallQuery::new("m", subject, predicate);
        assert_eq!(now.recall(&q)?, before.recall(&q)?, "recall of {line}");
    }
    let audit = AuditQuery { limit: 1_000, ..AuditQuery::default() };
    assert_eq!(now.audit("m", &audit)?, before.audit("m", &audit)?);
    // The live claims the migration indexed (schema versions 4 and 5) are what the fold of
    // each line finds live, and each line's summary is theirs.
    let lines: std::collections::BTreeSet<(String, String)> = expected
        .iter()
        .flat_map(|u| u.claims.iter().map(|c| (c.subject.clone(), c.predicate.clone())))
        .collect();
    for (subject, predicate) in &lines {
        let (live, folded, summary) = credence_core::ledger::read_with(&*migrated, &agent("m"), |view| {
            let rows = view.line(subject, predicate, credence_core::Upto::Head)?;
            Ok((
                view.live(subject, predicate)?,
                credence_core::liveness::live_claims(rows),
                view.line_summary(subject, predicate)?,
            ))
        })?;
        assert_eq!(live, folded, "live claims of {subject}/{predicate}");
        let claims: Vec<_> = folded.iter().map(|l| &l.claim).collect();
        assert_eq!(summary, credence_core::LineSummary::of(&claims), "summary of {subject}/{predicate}");
        // And what was live as of every unit, from the stretches the migration derived.
        for seq in 0..=expected.len() as u64 {
            let (at, then) = credence_core::ledger::read_with(&*migrated, &agent("m"), |view| {
                let rows = view.line(subject, predicate, credence_core::Upto::Seq(seq))?;
                let all = credence_core::Span::ALL;
                Ok((
                    view.live_at(subject, predicate, seq, all, 0.7)?,
                    credence_core::liveness::live_claims(rows),
                ))
            })?;
            assert_eq!(at, then, "live claims of {subject}/{predicate} as of {seq}");
        }
    }

    // The lines and postings the migration derived (schema version 7) answer discovery as the
    // ones written with the claims do.
    let subjects = credence_core::SubjectsQuery::new("m", 1_000);
    assert_eq!(now.subjects(&subjects)?, before.subjects(&subjects)?);
    assert_eq!(now.subjects(&subjects)?.subjects.len(), lines.len());
    for term in ["s0", "p", "tags", "has", "a", "spring", "0", "1", "2", "base", "new"] {
        for seq in [1, 20, 45, u64::MAX] {
            let (migrated_lines, written_lines) = (
                credence_core::ledger::read_with(&*migrated, &agent("m"), |v| v.term_lines(term, seq, 100))?,
                credence_core::ledger::read_with(&*reference, &agent("m"), |v| v.term_lines(term, seq, 100))?,
            );
            assert_eq!(migrated_lines, written_lines, "lines of {term:?} as of {seq}");
        }
        let q = credence_core::SearchQuery::new("m", term, 100);
        assert_eq!(now.search(&q)?, before.search(&q)?, "search {term:?}");
    }

    // The file is at the newest version, the store writes it with foreign keys on, and it
    // takes the next ingest at the next seq.
    assert_eq!(recorded_version(&fx.target)?, credence_sqlite::schema_version());
    let (writer, _) = migrated.connection_pragmas(&agent("m"))?.ok_or("agent exists")?;
    assert!(writer.foreign_keys);
    let r = now.ingest(IngestRequest::new("m", "after", "p", 1))?;
    assert_eq!(r.seq, Some(expected.len() as u64 + 1));
    Ok(())
}

#[test]
fn a_version_1_file_whose_rows_name_a_missing_unit_is_corrupt_and_stays_as_it_was() -> TestResult {
    let fx = version_1_copy_of_a_sample()?;
    {
        // A unit row lost while its claims stayed (foreign keys off, as a broken tool would).
        let conn = rusqlite::Connection::open(&fx.target)?;
        conn.execute_batch("PRAGMA foreign_keys=OFF; DELETE FROM commits WHERE stream_seq = 3;")?;
    }

    let ledger = store(fx.old.path())?;
    let err = all_units(&ledger, "m").err().ok_or("reading a broken file succeeded")?;
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(recorded_version(&fx.target)?, 1, "the failed migration was rolled back");
    // Other agents of the store are unaffected.
    let engine = Engine::new(ledger);
    engine.ingest(IngestRequest::new("other", "s", "p", 1))?;
    assert_eq!(engine.recall(&RecallQuery::new("other", "s", "p"))?.value, Some(1.into()));
    Ok(())
}

#[test]
fn eight_threads_opening_a_version_1_file_at_once_all_read_it_migrated() -> TestResult {
    let fx = version_1_copy_of_a_sample()?;
    let expected = all_units(&*store(fx.written.path())?, "m")?;

    // Each thread has its own store (its own connections), as separate processes would.
    let barrier = std::sync::Barrier::new(8);
    let results: Vec<std::thread::Result<Result<Vec<Append>, Error>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    all_units(&*store(fx.old.path())?, "m")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for result in results {
        assert_eq!(result.map_err(|_| "a thread panicked")??, expected);
    }
    let conn = rusqlite::Connection::open(&fx.target)?;
    let applied: i64 = conn.query_row("SELECT count(*) FROM refinery_schema_history", [], |r| r.get(0))?;
    assert_eq!(applied, credence_sqlite::schema_version(), "each migration recorded once");
    Ok(())
}

#[test]
fn a_version_1_file_whose_unit_claims_are_not_stored_together_is_corrupt_and_stays_as_it_was() -> TestResult {
    let fx = version_1_copy_of_a_sample()?;
    {
        // The middle claim of the three-claim unit moved past the last claim.
        let conn = rusqlite::Connection::open(&fx.target)?;
        let moved = conn.execute(
            "UPDATE claims SET id = (SELECT max(id) FROM claims) + 10 WHERE subject = 'multi1'",
            [],
        )?;
        assert_eq!(moved, 1);
    }

    let ledger = store(fx.old.path())?;
    let err = all_units(&ledger, "m").err().ok_or("reading a broken file succeeded")?;
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(recorded_version(&fx.target)?, 1, "the failed migration was rolled back");
    Ok(())
}
