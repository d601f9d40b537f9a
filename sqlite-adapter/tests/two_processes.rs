//! Two OS processes writing one agent file at once.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use credence_core::{AgentId, ClaimRef, Ledger};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const WRITER: &str = env!("CARGO_BIN_EXE_credence-sqlite-writer");

/// One acknowledged write: claim, seq, disposition.
type Ack = (ClaimRef, u64, String);

/// Parses `ACK <claim_ref> <seq> <disposition>` lines.
fn acks(stdout: &[u8]) -> Result<Vec<Ack>, Box<dyn std::error::Error>> {
    let text = String::from_utf8(stdout.to_vec())?;
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["ACK", claim, seq, disposition] => {
                out.push((claim.parse()?, seq.parse()?, (*disposition).to_owned()))
            }
            _ => return Err(format!("unexpected helper output: {line}").into()),
        }
    }
    Ok(out)
}

#[test]
fn two_processes_writing_one_agent_get_gap_free_seq_and_lose_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let n = 150;
    let children: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|tag| {
            Command::new(WRITER)
                .args([dir.path().to_str().unwrap_or_default(), "shared", "ingest", &n.to_string(), tag])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut acked = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        assert!(out.status.success(), "helper failed: {}", String::from_utf8_lossy(&out.stdout));
        acked.extend(acks(&out.stdout)?);
    }
    assert_eq!(acked.len(), 2 * n);
    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let agent = AgentId::new("shared")?;
    let units = credence_core::ledger::read_with(&ledger, &agent, |v| v.units(0, usize::MAX))?;
    let seqs: Vec<u64> = units.iter().map(|u| u.seq).collect();
    let expected: Vec<u64> = (1..=u64::try_from(2 * n)?).collect();
    assert_eq!(seqs, expected, "seq must be exactly 1..=N");
    let stored: BTreeSet<ClaimRef> =
        units.iter().flat_map(|u| u.claims.iter().map(|c| c.claim_ref)).collect();
    for (claim, seq, _) in &acked {
        assert!(stored.contains(claim), "acknowledged claim {claim} (seq {seq}) is missing");
    }
    let acked_seqs: BTreeSet<u64> = acked.iter().map(|a| a.1).collect();
    assert_eq!(acked_seqs.len(), 2 * n, "two acknowledgements share a seq");
    Ok(())
}

#[test]
fn conflicting_pair_from_two_processes_is_one_committed_cheap_and_one_contested() -> TestResult {
    for round in 0..3 {
        let dir = tempfile::tempdir()?;
        let dir_arg = dir.path().to_str().unwrap_or_default().to_owned();
        let children: Vec<_> = ["\"red\"", "\"blue\""]
            .into_iter()
            .map(|value| {
                Command::new(WRITER)
                    .args([dir_arg.as_str(), "pair", "one", "car", "colour", value])
                    .stdout(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        let mut dispositions = Vec::new();
        for child in children {
            let out = child.wait_with_output()?;
            assert!(out.status.success(), "helper failed: {}", String::from_utf8_lossy(&out.stdout));
            dispositions.extend(acks(&out.stdout)?.into_iter().map(|a| a.2));
        }
        dispositions.sort();
        assert_eq!(dispositions, vec!["CommittedCheap".to_owned(), "Contested".to_owned()], "round {round}");
        let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
        assert_eq!(ledger.agents()?, vec![AgentId::new("pair")?]);
    }
    Ok(())
}
