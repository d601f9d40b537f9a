//! Two OS processes writing one agent file at once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use credence_core::{AgentId, ClaimEngine, ClaimRef, Engine, IngestRequest, Ledger};
use credence_sqlite::{SqliteConfig, SqliteLedger, rusqlite};

type TestResult = Result<(), Box<dyn std::error::Error>>;

mod support;

/// The writer process these tests start (this binary again; see `support::writer`).
#[test]
#[ignore = "the writer process of the multi-process tests (they start it)"]
fn writer_child() {
    support::writer::child();
}

/// One acknowledged write: claim, seq, disposition.
type Ack = (ClaimRef, u64, String);

/// Parses `ACK <claim_ref> <seq> <disposition>` lines.
fn acks(
    lines: impl Iterator<Item = std::io::Result<String>>,
) -> Result<Vec<Ack>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for line in lines {
        let line = line?;
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["ACK", claim, seq, disposition] => {
                out.push((claim.parse()?, seq.parse()?, (*disposition).to_owned()))
            }
            ["ACK", ..] | ["ERR", ..] | ["READY"] => {
                return Err(format!("unexpected helper output: {line}").into());
            }
            // The test harness's own lines around the writer's.
            _ => {}
        }
    }
    Ok(out)
}

/// A helper process that has printed `READY`: it is about to make its first write.
struct Writer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Writer {
    fn spawn(args: &[&str]) -> Result<Writer, Box<dyn std::error::Error>> {
        let mut child = support::writer::command(args).stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // The test harness prints its own lines before the writer's `READY`.
        loop {
            match lines.next().transpose()? {
                Some(line) if line == "READY" => return Ok(Writer { child, lines }),
                Some(line) if !line.starts_with("ACK") && !line.starts_with("ERR") => {}
                other => return Err(format!("helper did not start: {other:?}").into()),
            }
        }
    }

    /// Its acknowledgements, once it exited successfully.
    fn finish(mut self) -> Result<Vec<Ack>, Box<dyn std::error::Error>> {
        let acked = acks(&mut self.lines);
        let status = self.child.wait()?;
        assert!(status.success(), "helper failed ({status}): {acked:?}");
        acked
    }
}

/// Creates agent `agent` under `dir` (one unit, seq 1) and takes its write lock on a foreign
/// connection, so that writers started now all queue behind it and start together.
fn locked_agent(dir: &Path, agent: &str) -> Result<rusqlite::Connection, Box<dyn std::error::Error>> {
    let engine = Engine::new(SqliteLedger::open(dir, SqliteConfig::default())?);
    engine.ingest(IngestRequest::new(agent, "setup", "p", 0))?;
    let file = engine.ledger().agent_file(&AgentId::new(agent)?)?.ok_or("file store")?;
    drop(engine);
    let foreign = rusqlite::Connection::open(file)?;
    foreign.execute_batch("BEGIN IMMEDIATE")?;
    Ok(foreign)
}

/// Lets both helpers (each past `READY`) reach the lock wait, then releases the lock.
fn release_together(foreign: &rusqlite::Connection) -> rusqlite::Result<()> {
    std::thread::sleep(Duration::from_millis(200));
    foreign.execute_batch("ROLLBACK")
}

#[test]
fn two_processes_writing_one_agent_get_gap_free_seq_and_lose_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_str().ok_or("utf-8 temp dir")?;
    let n = 150;
    let foreign = locked_agent(dir.path(), "shared")?;
    // Each pauses 5 ms between writes: the lock is free most of the time, so the other
    // process's busy handler (which polls every 100 ms at most) gets in many times over the
    // run. Without a pause one process takes the lock back after each commit and the other
    // waits out the whole run (the writes do not interleave, nothing contends).
    let writers: Vec<(&str, Writer)> = ["left", "right"]
        .into_iter()
        .map(|tag| Ok((tag, Writer::spawn(&[dir_arg, "shared", "ingest", &n.to_string(), tag, "5"])?)))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    release_together(&foreign)?;
    let mut acked = Vec::new();
    let mut writer_of_seq = std::collections::BTreeMap::new();
    for (tag, writer) in writers {
        for ack in writer.finish()? {
            writer_of_seq.insert(ack.1, tag);
            acked.push(ack);
        }
    }
    assert_eq!(acked.len(), 2 * n);
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let agent = AgentId::new("shared")?;
    let units = credence_core::ledger::read_with(&ledger, &agent, |v| v.units(0, usize::MAX))?;
    let seqs: Vec<u64> = units.iter().map(|u| u.seq).collect();
    let expected: Vec<u64> = (1..=u64::try_from(2 * n)? + 1).collect();
    assert_eq!(seqs, expected, "seq must be exactly 1..=N (1 is the setup unit)");
    let stored: BTreeSet<ClaimRef> =
        units.iter().flat_map(|u| u.claims.iter().map(|c| c.claim_ref)).collect();
    for (claim, seq, _) in &acked {
        assert!(stored.contains(claim), "acknowledged claim {claim} (seq {seq}) is missing");
    }
    let acked_seqs: BTreeSet<u64> = acked.iter().map(|a| a.1).collect();
    assert_eq!(acked_seqs.len(), 2 * n, "two acknowledgements share a seq");
    // In seq order the writer changes more than once: the processes really took turns.
    let mut runs: Vec<(&str, usize)> = Vec::new();
    for &tag in writer_of_seq.values() {
        match runs.last_mut() {
            Some((last, len)) if *last == tag => *len += 1,
            _ => runs.push((tag, 1)),
        }
    }
    assert!(runs.len() > 2, "the two processes never interleaved (runs in seq order: {runs:?})");
    Ok(())
}

#[test]
fn conflicting_pair_from_two_processes_is_one_committed_cheap_and_one_contested() -> TestResult {
    for round in 0..3 {
        let dir = tempfile::tempdir()?;
        let dir_arg = dir.path().to_str().ok_or("utf-8 temp dir")?;
        // Both processes are started and queued on the lock before either can write.
        let foreign = locked_agent(dir.path(), "pair")?;
        let writers: Vec<Writer> = ["\"red\"", "\"blue\""]
            .into_iter()
            .map(|value| Writer::spawn(&[dir_arg, "pair", "one", "car", "colour", value]))
            .collect::<Result<_, _>>()?;
        release_together(&foreign)?;
        let mut dispositions = Vec::new();
        for writer in writers {
            dispositions.extend(writer.finish()?.into_iter().map(|a| a.2));
        }
        dispositions.sort();
        assert_eq!(dispositions, vec!["CommittedCheap".to_owned(), "Contested".to_owned()], "round {round}");
        let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
        assert_eq!(ledger.agents()?, vec![AgentId::new("pair")?]);
    }
    Ok(())
}
