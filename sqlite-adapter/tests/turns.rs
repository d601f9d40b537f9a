//! Writers of different processes take turns (SPEC §5.2): a process that ends its write turn
//! cannot take the next one while another process waits for it.
//!
//! The test plays the busy process itself, with the lock files the store keeps beside an agent
//! file (`<file>-queue`, `<file>-turn`), and a real second process writes through the store.

use std::fs::{File, TryLockError};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use credence_core::{ClaimEngine, Engine, IngestRequest, RecallQuery};
use credence_sqlite::{SqliteConfig, SqliteLedger};

mod support;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The writer process these tests start (this binary again; see `support::writer`).
#[test]
#[ignore = "the writer process of the multi-process tests (they start it)"]
fn writer_child() {
    support::writer::child();
}

fn lock_file(path: &std::path::Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

#[test]
fn a_process_waiting_for_the_turn_gets_it_before_the_one_that_ended_it_takes_it_again() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = {
        let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
        engine.ingest(IngestRequest::new("a", "s", "p", "first"))?;
        engine.ledger().agent_file(&credence_core::AgentId::new("a")?)?.ok_or("file store")?
    };
    let with = |suffix: &str| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let (queue, turn) = (lock_file(&with("-queue"))?, lock_file(&with("-turn"))?);
    // This process is in its turn.
    turn.lock()?;
    let mut child = support::writer::command(&[
        dir.path().to_str().ok_or("utf-8 path")?,
        "a",
        "one",
        "t",
        "p",
        "\"second process\"",
    ])
    .stdout(Stdio::piped())
    .spawn()?;
    // The other process gets in line: it holds the queue while it waits for the turn.
    let started = Instant::now();
    loop {
        match queue.try_lock() {
            Err(TryLockError::WouldBlock) => break,
            Ok(()) => queue.unlock()?,
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            return Err("the second process never waited in line for the turn".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // End the turn and at once try to take the next one, as a busy writer does: the queue is
    // only ours once the waiting process has the turn, and the turn once its commit is done.
    turn.unlock()?;
    queue.lock()?;
    turn.lock()?;
    queue.unlock()?;
    let engine = Engine::new(SqliteLedger::open(
        dir.path(),
        SqliteConfig { fair_writers: false, ..SqliteConfig::default() },
    )?);
    let belief = engine.recall(&RecallQuery::new("a", "t", "p"))?;
    turn.unlock()?;
    assert_eq!(belief.value, Some("second process".into()), "the waiting process wrote in its turn");
    let out = child.stdout.take().ok_or("piped stdout")?;
    let lines: Vec<String> = BufReader::new(out).lines().collect::<Result<_, _>>()?;
    assert!(child.wait()?.success(), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("ACK ")), "{lines:?}");
    Ok(())
}

/// The lock files of agent `a`'s file under `dir`.
fn turn_files(dir: &std::path::Path) -> Result<(File, File), Box<dyn std::error::Error>> {
    let engine = Engine::new(SqliteLedger::open(dir, SqliteConfig::default())?);
    let file = engine.ledger().agent_file(&credence_core::AgentId::new("a")?)?.ok_or("file store")?;
    let with = |suffix: &str| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    Ok((lock_file(&with("-queue"))?, lock_file(&with("-turn"))?))
}

/// Takes `lock` once the engine's turn on it ended (within 10 s), as another process would.
fn take_when_free(lock: &File) -> TestResult {
    let started = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("the engine kept its turn: {e:?}").into()),
        }
    }
}

#[test]
fn a_turn_no_write_uses_is_released_soon_after_the_last_commit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::new(SqliteLedger::open(dir.path(), SqliteConfig::default())?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let (_, turn) = turn_files(dir.path())?;
    // The engine stays open and idle: its turn must not keep other processes out.
    take_when_free(&turn)?;
    turn.unlock()?;
    drop(engine);
    Ok(())
}

#[test]
fn a_write_waiting_longer_than_busy_timeout_for_its_turn_is_unavailable_and_writes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { busy_timeout: Duration::from_millis(200), ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let (_, turn) = turn_files(dir.path())?;
    // Another process is in its turn (the engine's own turn ends within a few ms).
    take_when_free(&turn)?;
    let err = engine.ingest(IngestRequest::new("a", "s", "p", 2)).err();
    assert!(
        matches!(&err, Some(credence_core::Error::Unavailable { reason, .. }) if reason.contains("turn")),
        "{err:?}"
    );
    assert!(err.is_some_and(|e| e.is_retryable()));
    turn.unlock()?;
    let r = engine.ingest(IngestRequest::new("a", "s", "p", 3))?;
    assert_eq!(r.seq, Some(2), "the refused write used no seq");
    Ok(())
}

#[test]
fn a_batch_whose_turn_never_comes_fails_every_unit_after_one_wait() -> TestResult {
    use credence_core::{Append, Ledger, LedgerEntry, WriteUnit};
    let dir = tempfile::tempdir()?;
    let config = SqliteConfig { busy_timeout: Duration::from_millis(300), ..SqliteConfig::default() };
    let engine = Engine::new(SqliteLedger::open(dir.path(), config)?);
    engine.ingest(IngestRequest::new("a", "s", "p", 1))?;
    let (_, turn) = turn_files(dir.path())?;
    take_when_free(&turn)?;
    let unit = |view: &dyn credence_core::LedgerRead| -> credence_core::Result<Option<Append>> {
        let head = view.head()?.ok_or(credence_core::Error::InvalidQuery { reason: "no head".into() })?;
        let (seq, tx) = (head.seq + 1, head.tx_time.plus_micros(1));
        let mut append = Append::new(seq, tx);
        append.entries.push(LedgerEntry {
            seq,
            index: 0,
            claim_ref: credence_core::ClaimRef(uuid::Uuid::nil()),
            event: credence_core::Event::Corroborated,
            disposition: credence_core::Disposition::CommittedCheap,
            rationale: credence_core::serde_json::json!({ "rationale": "test" }),
            recorded_at: tx,
        });
        Ok(Some(append))
    };
    let (mut u1, mut u2, mut u3) = (unit, unit, unit);
    let mut units: Vec<&mut WriteUnit<'_>> = vec![&mut u1, &mut u2, &mut u3];
    let agent = credence_core::AgentId::new("a")?;
    let waited = Instant::now();
    let results = engine.ledger().write_batch(&agent, &mut units);
    let elapsed = waited.elapsed();
    turn.unlock()?;
    assert!(
        results.iter().all(|r| matches!(r, Err(credence_core::Error::Unavailable { .. }))),
        "{results:?}"
    );
    // One wait of busy_timeout for the whole batch, not one per unit (three would be 900 ms).
    assert!(elapsed < Duration::from_millis(750), "the batch waited {elapsed:?}");
    Ok(())
}
