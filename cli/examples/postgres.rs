//! credence on PostgreSQL. The URL comes from the environment:
//!
//! ```text
//! CREDENCE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?schema=credence_example \
//!     cargo run -p credence --features postgres --example postgres
//! ```

use credence::Provenance;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CREDENCE_POSTGRES_URL").map_err(
        |_| "set CREDENCE_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/test?schema=credence_example",
    )?;
    let credence = credence::open(&url)?;
    let agent = format!("example-{}", std::process::id());
    let receipt =
        credence.remember(&agent, "alice", "city", "Lisbon").provenance(Provenance::USER).commit()?;
    println!("remember → {} (seq {:?})", receipt.disposition.as_str(), receipt.seq);
    let belief = credence.recall(&agent, "alice", "city")?;
    println!("recall → {:?} {:?}", belief.status(), belief.value());
    Ok(())
}
