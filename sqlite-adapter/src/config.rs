//! [`SqliteConfig`]: tuning of the SQLite backend.

use std::time::Duration;

use crate::error::{SqlResult, SqliteError};

/// Settings of a [`SqliteLedger`](crate::SqliteLedger). Every field has a sensible default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteConfig {
    /// How long a connection waits for a lock held by another connection or process
    /// (`PRAGMA busy_timeout`). A wait beyond it is `Error::Unavailable`. Default 5 s.
    pub busy_timeout: Duration,
    /// Read-only connections kept open per agent file. Default 4.
    pub read_pool_size: usize,
    /// Agent files kept open at once; the least recently used idle one is checkpointed and
    /// closed beyond it. Default 256. (Ignored by `sqlite::memory:`, whose databases live
    /// only while open.)
    pub max_open_agents: usize,
    /// `PRAGMA journal_size_limit` in bytes: the WAL is truncated to this after a checkpoint.
    /// Default 64 MiB.
    pub journal_size_limit: i64,
    /// A passive WAL checkpoint runs after this many commit units. Default 1000.
    pub checkpoint_every_n_commits: u64,
    /// `PRAGMA page_size` of agent files this store creates: a power of two from 512 to 65 536.
    /// A file keeps the page size it was made with. Default 4096.
    pub page_size: u32,
    /// Writers of different processes take turns on an agent file (two lock files beside it,
    /// see the crate docs), so a busy process cannot starve another. Default on; off leaves the
    /// turns to SQLite's busy handler (measured in `credence-bench` as the "before").
    pub fair_writers: bool,
}

impl Default for SqliteConfig {
    fn default() -> SqliteConfig {
        SqliteConfig {
            busy_timeout: Duration::from_secs(5),
            read_pool_size: 4,
            max_open_agents: 256,
            journal_size_limit: 64 * 1024 * 1024,
            checkpoint_every_n_commits: 1000,
            page_size: 4096,
            fair_writers: true,
        }
    }
}

impl SqliteConfig {
    /// Checks every value.
    pub(crate) fn validate(&self) -> SqlResult<()> {
        let bad = |reason: &str| Err(SqliteError::Config(format!("sqlite: {reason}")));
        if self.read_pool_size == 0 {
            return bad("read_pool_size must be at least 1");
        }
        if self.max_open_agents == 0 {
            return bad("max_open_agents must be at least 1");
        }
        if self.journal_size_limit < 0 {
            return bad("journal_size_limit must not be negative");
        }
        if self.checkpoint_every_n_commits == 0 {
            return bad("checkpoint_every_n_commits must be at least 1");
        }
        if !(512..=65_536).contains(&self.page_size) || !self.page_size.is_power_of_two() {
            return bad("page_size must be a power of two from 512 to 65536");
        }
        if i32::try_from(self.busy_timeout.as_millis()).is_err() {
            return bad("busy_timeout must be below 2^31 ms");
        }
        Ok(())
    }
}
