//! A writer process killed with SIGKILL at random moments loses no acknowledged write and
//! leaves no partial commit unit.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use credence_core::{AgentId, ClaimRef, Event};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

mod support;

/// The writer process these tests start (this binary again; see `support::writer`).
#[test]
#[ignore = "the writer process of the multi-process tests (they start it)"]
fn writer_child() {
    support::writer::child();
}

/// A small xorshift generator seeded from the clock: the kill moments differ per run.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(12_345);
        Rng(u64::from(nanos) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `CREDENCE_CRASH_ROUNDS` (default 20).
fn rounds() -> u32 {
    std::env::var("CREDENCE_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
}

#[test]
fn sigkill_mid_stream_keeps_every_acknowledged_write_and_whole_units() -> TestResult {
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_str().ok_or("utf-8 temp dir")?.to_owned();
    let mut rng = Rng::seeded();
    let mut acked: Vec<ClaimRef> = Vec::new();
    for round in 0..rounds() {
        let mut child = support::writer::command(&[dir_arg.as_str(), "crashy", "loop", &format!("r{round}")])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdout = child.stdout.take().ok_or("piped stdout")?;
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        child.kill()?; // SIGKILL on Unix
        child.wait()?;
        let out = reader.join().map_err(|_| "reader panicked")?;
        let text = String::from_utf8_lossy(&out);
        // Only complete lines are acknowledgements; a line cut by the kill is not.
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        for line in complete.lines() {
            let mut parts = line.split(' ');
            match (parts.next(), parts.next()) {
                (Some("ACK"), Some(claim)) => acked.push(claim.parse()?),
                (Some("READY"), None) => {}
                (Some("ACK" | "ERR" | "READY"), _) => {
                    return Err(format!("round {round}: unexpected helper output {line:?}").into());
                }
                // The test harness's own lines around the writer's.
                _ => {}
            }
        }
    }
    assert!(!acked.is_empty(), "the writer never acknowledged anything");

    let ledger = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let agent = AgentId::new("crashy")?;
    let units = credence_core::ledger::read_with(&ledger, &agent, |v| v.units(0, usize::MAX))?;
    let mut stored = BTreeSet::new();
    for (i, unit) in units.iter().enumerate() {
        assert_eq!(unit.seq, u64::try_from(i)? + 1, "seq gap before unit {}", unit.seq);
        assert!(!unit.claims.is_empty(), "unit {} has no claim", unit.seq);
        for claim in &unit.claims {
            let committed = unit
                .entries
                .iter()
                .any(|e| e.claim_ref == claim.claim_ref && e.event == Event::ClaimCommitted);
            assert!(committed, "claim {} of unit {} has no ClaimCommitted entry", claim.claim_ref, unit.seq);
            assert_eq!(claim.seq, unit.seq);
            stored.insert(claim.claim_ref);
        }
    }
    for claim in &acked {
        assert!(stored.contains(claim), "acknowledged claim {claim} is missing after SIGKILL");
    }
    println!("{} rounds, {} acknowledged, {} units stored", rounds(), acked.len(), units.len());
    Ok(())
}
