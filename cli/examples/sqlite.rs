//! credence on SQLite: one database file per agent under a directory.
//!
//! ```text
//! cargo run -p credence --example sqlite [DIR]
//! ```

use credence::Provenance;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).unwrap_or_else(|| temp.path().display().to_string());
    let credence = credence::open(&format!("sqlite:{dir}"))?;
    credence.remember("agent-1", "alice", "city", "Lisbon").provenance(Provenance::USER).commit()?;
    let contradiction = credence.remember("agent-1", "alice", "city", "Porto").commit()?;
    println!("a contradiction → {}", contradiction.disposition.as_str());
    let belief = credence.recall("agent-1", "alice", "city")?;
    println!("recall → {:?}, candidates {:?}", belief.status(), belief.values());
    Ok(())
}
