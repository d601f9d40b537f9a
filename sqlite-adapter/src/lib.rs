//! credence-sqlite: embedded SQLite backend: one file per agent.
#![deny(missing_docs)]
