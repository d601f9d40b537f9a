//! Two OS processes writing one agent through PostgreSQL: the advisory lock serialises them.
//!
//! The parent test re-runs this test binary twice as children (the ignored `child_writer`
//! test, told what to do through environment variables) and checks the combined result.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credence_core::ledger::read_with;
use credence_core::{ClaimEngine, Disposition, Engine, IngestRequest, SequentialIds};
use credence_postgres::PostgresLedger;

const WRITES_PER_PROCESS: u64 = 60;
const URL_VAR: &str = "CREDENCE_PG_CHILD_URL";
const TAG_VAR: &str = "CREDENCE_PG_CHILD_TAG";
const START_VAR: &str = "CREDENCE_PG_CHILD_START_MS";

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Runs only as a child of `two_processes_writing_one_agent_...`: writes one claim per line
/// `s0..sN` and prints `RECEIPT <line> <disposition> <seq> <claim_ref>` for each.
#[test]
#[ignore = "run by the two-process test as a child process"]
fn child_writer() -> Result<(), Box<dyn std::error::Error>> {
    let (Ok(url), Ok(tag), Ok(start)) =
        (std::env::var(URL_VAR), std::env::var(TAG_VAR), std::env::var(START_VAR))
    else {
        return Ok(());
    };
    let seed: u64 = tag.parse()?;
    let ledger = Arc::new(PostgresLedger::from_url(&url)?);
    let engine = Engine::builder(ledger).ids(Arc::new(SequentialIds::new(seed))).build()?;
    let start: u128 = start.parse()?;
    while now_ms() < start {
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 0..WRITES_PER_PROCESS {
        let r = engine.ingest(IngestRequest::new("shared", format!("s{i}"), "p", format!("from-{tag}")))?;
        let seq = r.seq.ok_or("a committed write has a seq")?;
        println!("RECEIPT s{i} {} {seq} {}", r.disposition.as_str(), r.claim());
    }
    Ok(())
}

#[test]
fn two_processes_writing_one_agent_are_gap_free_lose_nothing_and_have_one_winner_per_pair()
-> Result<(), Box<dyn std::error::Error>> {
    let base = require_server!();
    let guard = support::SchemaGuard::new(&base);
    let url = guard.url("pool_max=2");
    drop(PostgresLedger::from_url(&url)?); // migrate once up front
    let exe = std::env::current_exe()?;
    let start = now_ms() + 1_500;
    let children: Vec<_> = [1u64, 2]
        .into_iter()
        .map(|tag| {
            Command::new(&exe)
                .args(["child_writer", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
                .env(URL_VAR, &url)
                .env(TAG_VAR, tag.to_string())
                .env(START_VAR, start.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut lines: BTreeMap<String, Vec<(Disposition, u64, String)>> = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let mut n = 0;
        for line in stdout.lines().filter_map(|l| l.find("RECEIPT ").map(|at| &l[at + 8..])) {
            let parts: Vec<&str> = line.split(' ').collect();
            let [subject, disposition, seq, claim] = parts[..] else { panic!("bad receipt line {line:?}") };
            let disposition = Disposition::parse(disposition).ok_or("unknown disposition")?;
            lines.entry(subject.to_owned()).or_default().push((disposition, seq.parse()?, claim.to_owned()));
            n += 1;
        }
        assert_eq!(n, WRITES_PER_PROCESS, "every write of the child was answered:\n{stdout}");
    }

    let ledger = PostgresLedger::from_url(&url)?;
    let agent = credence_core::AgentId::new("shared")?;
    let units = read_with(&ledger, &agent, |v| v.units(0, usize::MAX))?;
    let seqs: Vec<u64> = units.iter().map(|u| u.seq).collect();
    let expected: Vec<u64> = (1..=2 * WRITES_PER_PROCESS).collect();
    assert_eq!(seqs, expected, "seq is 1..2N without gaps");
    for (subject, receipts) in &lines {
        assert_eq!(receipts.len(), 2, "{subject}: both processes wrote it");
        let cheap = receipts.iter().filter(|r| r.0 == Disposition::CommittedCheap).count();
        let contested = receipts.iter().filter(|r| r.0 == Disposition::Contested).count();
        assert_eq!((cheap, contested), (1, 1), "{subject}: exactly one winner, {receipts:?}");
        for (_, seq, claim) in receipts {
            let unit = &units[usize::try_from(*seq - 1)?];
            assert!(
                unit.claims.iter().any(|c| c.claim_ref.to_string() == *claim && c.subject == *subject),
                "{subject}: acknowledged claim {claim} is stored in unit {seq}"
            );
        }
    }
    assert_eq!(lines.len(), usize::try_from(WRITES_PER_PROCESS)?);
    Ok(())
}
