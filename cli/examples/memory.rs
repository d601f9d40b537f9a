//! credence on the in-process `memory:` backend (nothing is kept after exit).
//!
//! ```text
//! cargo run -p credence --example memory
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let credence = credence::open("memory:")?;
    credence
        .remember("agent-1", "alice", "employer", "Acme")
        .valid_from("2019")?
        .valid_until("2022-03")?
        .commit()?;
    credence.remember("agent-1", "alice", "employer", "Globex").valid_from("2022-03")?.commit()?;
    for date in ["2020-06", "2023"] {
        let belief = credence.recall_at("agent-1", "alice", "employer").valid_at(date)?.get()?;
        println!("employer at {date}: {:?}", belief.value());
    }
    Ok(())
}
