//! Commits whose answer was lost (SPEC §2.4: retries never duplicate).
//!
//! When the round trip that carries a write transaction's `COMMIT` fails because the
//! connection broke — the server was restarted, the backend terminated
//! (`pg_terminate_backend`: "terminating connection due to administrator command"), the network
//! cut, the reply lost — the transaction may have committed or not. Running its units again
//! could store them twice, and a plain error would tell the caller nothing was stored when it
//! may have been. Every round trip whose last statement is the `COMMIT` is such a case — the
//! `COMMIT` alone (after a batch whose last unit wrote nothing), a unit's rows with the `COMMIT`, a
//! whole transaction decided ahead, alone or shared by several agents' units (each of which is
//! then looked up under its own agent's lock). So before answering, the writer finds out,
//! with [`look_up`]:
//!
//! * on a fresh connection, in one round trip: `BEGIN`, the agent's `pg_advisory_xact_lock`,
//!   then whether one unit of the broken transaction is stored ([`UnitMark`]: its seq, its
//!   tx_time and one row only it has). The broken transaction held that lock, or asked for it
//!   before the lookup did (lock waiters are served in order), so when the lookup holds the
//!   lock that transaction has ended, one way or the other, and its commit is visible;
//! * a lookup that fails (a restarting server refuses connections for a while) is repeated
//!   with backoff while [`LOOK_UP_BUDGET`] lasts; each try waits for a pooled connection no
//!   longer than the time left, and for the lock no longer than the statement timeout.
//!
//! The units of one transaction commit together, so any unit kept in it (not rolled back to
//! its savepoint) stands for all of them; the connection remembers one
//! (`PgConnection::keep`, a `codec::UnitMark`). The answer:
//!
//! * **stored** — the write succeeded: every unit the transaction kept is answered with its
//!   head, as if the `COMMIT` had answered;
//! * **not stored** — the plain retryable `Error::Unavailable`: nothing was stored, a retry is
//!   safe. (A transaction sent whole in one round trip — every unit decided ahead, see
//!   `ahead` — is instead sent again at once, as one is whose pooled connection
//!   turns out closed before anything ran.)
//! * **not found out** — `Error::outcome_unknown` ("outcome unknown…"): the write may be
//!   stored; never a silent second copy and never a plain error.
//!
//! Errors before any `COMMIT` was sent, and errors the server reports for the transaction
//! (its `COMMIT` then did not happen), are not ambiguous: nothing was committed. The
//! write retries of the ledger (OCC failures) never re-run a unit whose transaction may have
//! committed: an ambiguous commit is settled here, never retried.

use std::time::{Duration, Instant};

use super::{Pool, Writer};
use crate::codec::UnitMark;
use crate::error::{Failure, PgError, PgResult, is_connection_error, is_unavailable};
use crate::sql;

/// How long a lookup keeps trying (long enough for a server restart to finish).
pub(crate) const LOOK_UP_BUDGET: Duration = Duration::from_secs(5);
/// The first pause between tries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The unit is stored: its transaction committed.
    Stored,
    /// The unit is not stored: its transaction did not commit and never will.
    NotStored,
    /// It could not be found out (why).
    Unknown(String),
}

/// Whether the unit `mark` of `agent` (lock key `lock_key`) is stored, found out as the module
/// documentation says; `mark` is `None` when the transaction kept no unit.
fn look_up(pool: &Pool, agent: &str, lock_key: i64, mark: Option<&UnitMark>) -> Found {
    let Some(mark) = mark else { return Found::Unknown("the transaction kept no unit to look up".into()) };
    let sql = match sql::unit_stored(agent, lock_key, mark) {
        Ok(sql) => sql,
        Err(e) => return Found::Unknown(e.to_string()),
    };
    let deadline = Instant::now() + LOOK_UP_BUDGET;
    let mut pause = FIRST_PAUSE;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let left = deadline.saturating_duration_since(Instant::now()).max(FIRST_PAUSE);
        let err = match look_up_once(pool, &sql, left) {
            Ok(true) => return Found::Stored,
            Ok(false) => return Found::NotStored,
            Err(e) => e,
        };
        let transient = is_unavailable(&err) || matches!(&err, PgError::Db(db) if is_connection_error(db));
        if !transient || Instant::now() + pause >= deadline {
            return Found::Unknown(format!("looking the write up failed ({tries} tries): {err}"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// One try of [`look_up`], waiting at most `wait` for a pooled connection.
fn look_up_once(pool: &Pool, sql: &str, wait: Duration) -> PgResult<bool> {
    let mut conn = pool.get_timeout(wait)?;
    // Marks the connection as in a transaction until the COMMIT at the end has answered, so a
    // failure part-way leaves it to be rolled back or discarded by the pool.
    let messages = conn.begin_raw_query(sql)?;
    conn.committed();
    let answer = messages.iter().rev().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
        _ => None,
    });
    match answer.flatten().as_deref() {
        Some("t") => Ok(true),
        Some("f") => Ok(false),
        other => Err(PgError::Corrupt(format!("looking a unit up answered {other:?}"))),
    }
}

/// How a transaction whose `COMMIT`'s answer was lost (`cause`) is answered when the lookup
/// found `found` — anything but stored, which is answered as written.
pub(super) fn failure(found: Found, cause: &str) -> Failure {
    match found {
        Found::Unknown(why) => Failure::OutcomeUnknown(format!(
            "the connection broke while committing ({cause}) and whether the write is stored could not be \
             found out: {why}"
        )),
        Found::NotStored | Found::Stored => Failure::Unavailable(format!(
            "the connection broke while committing ({cause}); the write was looked up and is not stored"
        )),
    }
}

impl Writer {
    /// Whether the transaction of `agent` (lock key `lock_key`) holding unit `mark` committed,
    /// after the round trip carrying its `COMMIT` broke; counted in the lost-commit statistics.
    pub(super) fn look_up(&self, pool: &Pool, agent: &str, lock_key: i64, mark: Option<&UnitMark>) -> Found {
        let found = look_up(pool, agent, lock_key, mark);
        let (counter, name) = match found {
            Found::Stored => (&self.counters.lost_committed, "stored"),
            Found::NotStored => (&self.counters.lost_not_committed, "not_stored"),
            Found::Unknown(_) => (&self.counters.lost_unknown, "unknown"),
        };
        super::add(counter, 1);
        credence_core::telemetry::lost_commit(crate::error::BACKEND, name);
        found
    }

    /// Answers a transaction of `agent` whose `COMMIT`'s answer was lost (`cause`) from a
    /// lookup of the unit `mark` it holds: `Ok` when it committed, else the failure every
    /// unit is answered with.
    pub(super) fn settle_lost_commit(
        &self,
        pool: &Pool,
        agent: &str,
        lock_key: i64,
        mark: Option<&UnitMark>,
        cause: &str,
    ) -> Result<(), Failure> {
        match self.look_up(pool, agent, lock_key, mark) {
            Found::Stored => Ok(()),
            found => Err(failure(found, cause)),
        }
    }
}
