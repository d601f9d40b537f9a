//! credence-sqlite: the embedded SQLite backend of credence — one database file per agent.
//!
//! ```
//! use credence_core::{ClaimEngine, Disposition, Engine, IngestRequest, RecallQuery};
//! use credence_sqlite::{SqliteConfig, SqliteLedger};
//!
//! # fn main() -> credence_core::Result<()> {
//! let ledger = SqliteLedger::in_memory(SqliteConfig::default())?; // or SqliteLedger::open(dir, ..)
//! let engine = Engine::new(ledger);
//! let receipt = engine.ingest(IngestRequest::new("agent-1", "user:42", "city", "Lisbon"))?;
//! assert_eq!(receipt.disposition, Disposition::CommittedCheap);
//! let belief = engine.recall(&RecallQuery::new("agent-1", "user:42", "city"))?;
//! assert_eq!(belief.value, Some("Lisbon".into()));
//! # Ok(())
//! # }
//! ```
//!
//! # Store URLs
//! `sqlite:<dir>` (file-backed; [`SqliteLedger::from_url`]) and `sqlite::memory:` (in-memory
//! databases, nothing on disk).
//!
//! # Layout and guarantees
//! * One database file per agent under `<dir>`, named by an injective, path-safe,
//!   case-safe encoding of the agent id (`a-<hex>.sqlite3`, or `h-<hash>.sqlite3` for ids
//!   longer than 100 bytes; the id is also stored inside the file). Listing agents returns
//!   the original ids.
//! * Every connection: `journal_mode=WAL`, `synchronous=FULL`, `foreign_keys=ON`, an
//!   explicit `busy_timeout`, `journal_size_limit` (and `fullfsync=ON` on macOS). A new agent
//!   file gets `SqliteConfig::page_size` (default 4096, SQLite's); a file keeps the page size
//!   it was made with.
//! * Per agent: one write connection (`BEGIN IMMEDIATE`) with **group commit** — the units of
//!   a batch (concurrent engine writes, handed over together) share one transaction, each in
//!   its own savepoint (a unit alone in its batch needs none: its failure rolls the
//!   transaction back), and nobody is answered before `COMMIT` — and a small pool of
//!   `query_only` read connections, each read in one read transaction. Agents never wait for
//!   each other.
//! * A bounded LRU of open agents (default 256); an idle agent leaving it is checkpointed
//!   and closed. A passive checkpoint runs every `checkpoint_every_n_commits` units.
//! * Schema by refinery migrations (`migrations/`), applied inside `BEGIN IMMEDIATE` so
//!   concurrent openers converge; a newer schema than this build is `Error::SchemaTooNew`.
//!   Version 2 writes six b-trees per ingest instead of ten (each is one WAL frame at commit
//!   and one page copy in the unit's savepoint): commits and ledger entries are keyed by their
//!   real keys (`WITHOUT ROWID`), a unit's claims are the rowid range its commits row names,
//!   and the unit current at a time is found by bisecting the seqs instead of through a
//!   tx_time index. Opening a version 1 file copies its rows into the new tables once (foreign
//!   keys and claim ranges are checked before that migration commits; a file that fails them
//!   is `Error::Corrupt` and stays at version 1). Version 4 adds `live_claims`, each line's
//!   claims live at the head: a derived index every unit updates for the claims it touches
//!   (module `live`), which deciding a write and recall "now" read instead of the line's
//!   history (`LedgerRead::live`); `credence doctor` checks it against the rows.
//! * Another process writing the same file is serialised by SQLite's write lock, and writers
//!   of different processes **take turns**: two lock files beside the agent file
//!   (`<file>-queue`, `<file>-turn`, blocking OS file locks) hand the write turn to a waiting
//!   process before the process that ends it can take it again, so a busy process cannot starve
//!   another (SQLite's busy handler polls and is unfair). Group commit still gathers one
//!   process's concurrent writes into one transaction; a process keeps its turn for up to 5 ms
//!   of transactions and an idle turn ends after 1 ms. Each wait (for the turn, then for SQLite's
//!   lock) is bounded by `busy_timeout`; a wait beyond it is the retryable `Error::Unavailable`.
//!   `SqliteConfig::fair_writers = false` turns the turns off.
//! * Store paths are paths: the directory is made absolute at open and no file is opened as
//!   a SQLite URI; `sqlite:file:…` and `?options` are `InvalidStoreUrl`.
//! * Agent files are created whole (built under a temporary name, then linked into place): a
//!   failed creation (a full disk) leaves no half-made file.
//! * A store that cannot be written (a read-only directory, file or file system; a backup)
//!   serves every read — its files are opened read-only, `immutable` when SQLite cannot create
//!   the `-shm` file — and every write fails with `Error::ReadOnly`.
//!
//! `sqlite::memory:` uses SQLite's `memdb` VFS: the same schema, queries and group commit, but
//! a rollback journal instead of WAL — a read that arrives during a write transaction waits for
//! it to end (the writer lets waiting readers in before its next transaction, so reads never
//! starve and never error) — and no LRU (an in-memory database lives only while open).
//!
//! Listing agents (`Ledger::agents`) reads every agent file and returns the agents with at
//! least one committed unit. A file that cannot be read is handled by its name: one named by
//! a valid agent id (`a-<hex>`) is still listed under that id, whether or not it has units
//! (its own reads and writes report the damage); one with a hashed name (`h-<hash>`), whose
//! id is stored only inside it, is left out of the listing and reported by `Ledger::survey`
//! (its path and the error). Either way the listing, and reads and writes of other agents, go
//! on.
#![deny(missing_docs)]

mod agent;
mod codec;
mod config;
mod error;
#[cfg(test)]
mod explain;
mod ledger;
mod live;
mod naming;
mod read;
mod schema;
mod terms;
mod turns;
mod url;
mod write;

pub use config::SqliteConfig;
pub use ledger::{CommitStats, SqliteLedger};
pub use naming::file_belongs_to;
pub use schema::{MIN_SQLITE_VERSION, Pragmas, latest_version as schema_version, open_for_inspection};

pub use refinery;
pub use rusqlite;
