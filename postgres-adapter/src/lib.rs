//! credence-postgres: PostgreSQL backend: shared database, advisory locks.
#![deny(missing_docs)]
