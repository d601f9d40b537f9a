//! `seq_at` bisects the units' seqs (schema version 2 has no tx_time index): it must answer
//! the newest unit at or before any time, at every boundary, on a long stream.

use credence_core::serde_json;
use credence_core::{
    AgentId, Append, ClaimRef, Disposition, Event, Ledger, LedgerEntry, MemoryLedger, Timestamp,
};
use credence_sqlite::{SqliteConfig, SqliteLedger};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Unit `s` (1-based) at tx_time 10·s + s² (uneven gaps).
fn tx_of(seq: u64) -> i64 {
    let s = i64::try_from(seq).unwrap_or(i64::MAX);
    10 * s + s * s
}

/// Unit `seq` with one informational ledger entry (a unit must hold a row).
fn unit(seq: u64) -> Append {
    let tx_time = Timestamp(tx_of(seq));
    let mut unit = Append::new(seq, tx_time);
    unit.entries.push(LedgerEntry {
        seq,
        index: 0,
        claim_ref: ClaimRef(uuid::Uuid::nil()),
        event: Event::Corroborated,
        disposition: Disposition::CommittedCheap,
        rationale: serde_json::json!({ "rationale": "test" }),
        recorded_at: tx_time,
    });
    unit
}

fn write_units(ledger: &dyn Ledger, agent: &AgentId, n: u64) -> credence_core::Result<()> {
    for seq in 1..=n {
        ledger.write(agent, &mut |_| Ok(Some(unit(seq))))?;
    }
    Ok(())
}

#[test]
fn seq_at_answers_as_the_reference_at_every_boundary_of_a_long_stream() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteLedger::open(dir.path(), SqliteConfig::default())?;
    let memory = MemoryLedger::new();
    let agent = AgentId::new("a")?;
    let n = 300;
    write_units(&sqlite, &agent, n)?;
    write_units(&memory, &agent, n)?;
    let mut times = vec![i64::MIN, 0, i64::MAX];
    for seq in 1..=n {
        let t = tx_of(seq);
        times.extend([t - 1, t, t + 1]);
    }
    let answers = |ledger: &dyn Ledger| -> credence_core::Result<Vec<u64>> {
        let mut out = Vec::new();
        ledger.read(&agent, &mut |view| {
            out = times.iter().map(|&t| view.seq_at(Timestamp(t))).collect::<credence_core::Result<_>>()?;
            Ok(())
        })?;
        Ok(out)
    };
    let got = answers(&sqlite)?;
    assert_eq!(got, answers(&memory)?);
    // Spot checks against the definition.
    assert_eq!(&got[..3], &[0, 0, n]);
    assert_eq!(&got[3..6], &[0, 1, 1]);
    assert_eq!(&got[3 + 3 * 149..3 + 3 * 150], &[149, 150, 150]);
    Ok(())
}
