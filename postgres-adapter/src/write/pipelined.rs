//! The pipelined path: a batch's units back to back in one transaction on one connection.
//!
//! Each unit's rows are queued and ride in front of the next unit's first read; the last
//! unit's go with the `COMMIT`. So an uncontended lone write is two round trips — `BEGIN`, the
//! lock, the head and the unit's line read together; then its rows and `COMMIT` — and in a
//! batch a unit costs one. A unit of a batch that needs no read (see `ahead`) queues its guard
//! and rows without a round trip of its own.
//!
//! Units need no savepoint while all goes well. When a statement fails while earlier units
//! share the transaction (which is then aborted), the transaction is rolled back and its units
//! run again *carefully*: each in its own savepoint with its rows sent at once, so every
//! failure is its unit's alone. A unit failing alone in its transaction just ends it; the next
//! unit starts another.
//!
//! When the round trip carrying the `COMMIT` breaks, the transaction is looked up (see `lost`)
//! before anyone is answered; a transaction whose first round trip found its pooled connection
//! closed by the server (nothing of it ran) starts again once on a fresh one.

use credence_core::{Head, WriteUnit, telemetry};

use super::ahead::AheadInTxn;
use super::append::{self, Timing};
use super::lost::Found;
use super::{Conn, Member, Pool, Writer, view};
use crate::codec::UnitMark;
use crate::error::{BACKEND, Failure};
use crate::lock::{self, Lock};
use crate::pool::begin_fresh;
use crate::{session, sql};

/// What to do after a step of [`Writer::pipelined`].
enum Next {
    /// Run unit `i` next (then commit, after the last).
    At(usize),
    /// The batch is finished.
    Done,
}

/// The state of one [`Writer::pipelined`] call.
struct Run<'p> {
    pool: &'p Pool,
    agent: &'p str,
    lock_key: i64,
    conn: Option<Conn>,
    /// Units run in savepoints with their rows sent at once (after a shared failure).
    careful: bool,
    /// The units of the current transaction decided ahead.
    ahead: AheadInTxn,
    /// A transaction may still start again once after its connection turned out closed.
    stale_retry: bool,
    /// The first unit of the current transaction.
    txn_start: usize,
}

/// The connection in `slot`, checked out of `pool` (its session prepared for writing) if there
/// is none.
fn connection<'c>(slot: &'c mut Option<Conn>, pool: &Pool) -> Result<&'c mut Conn, Failure> {
    if slot.is_none() {
        let (c, ()) = begin_fresh(pool, session::ensure_writable).map_err(|e| Failure::of(&e))?;
        *slot = Some(c);
    }
    slot.as_mut().ok_or_else(|| Failure::Other("the write connection is missing".into()))
}

impl Run<'_> {
    fn conn(&mut self) -> Result<&mut Conn, Failure> {
        connection(&mut self.conn, self.pool)
    }

    /// Runs the current transaction's units again from its first, as `NotRun` until then,
    /// reporting the retry and its `cause` (see `credence_core::telemetry::retry`).
    fn restart(&mut self, members: &mut [Member], careful: bool, cause: &'static str, reason: &str) -> Next {
        let again = &mut members[self.txn_start..];
        telemetry::retry(BACKEND, cause, again.len(), 0, &reason);
        again.iter_mut().for_each(|m| *m = Member::NotRun);
        self.careful |= careful;
        self.ahead = AheadInTxn::default();
        Next::At(self.txn_start)
    }
}

impl Writer {
    /// Runs `units` of `agent` (lock key `lock_key`) as the module documentation says; each
    /// unit's outcome goes into `members`, the transaction's into the result.
    pub(super) fn pipelined(
        &self,
        pool: &Pool,
        agent: &str,
        lock_key: i64,
        units: &mut [&mut WriteUnit<'_>],
        members: &mut [Member],
    ) -> Result<(), Failure> {
        let mut run = Run {
            pool,
            agent,
            lock_key,
            conn: None,
            careful: false,
            ahead: AheadInTxn::default(),
            stale_retry: true,
            txn_start: 0,
        };
        let mut i = 0;
        loop {
            let next = if i < units.len() {
                self.run_one(&mut run, units, members, i)?
            } else {
                self.commit(&mut run, members, units.len())?
            };
            match next {
                Next::At(j) => i = j,
                Next::Done => return Ok(()),
            }
        }
    }

    /// Runs unit `i`: in the open transaction (begun here, lazily, if none is), decided ahead
    /// when it can be, else through its view and [`append::append`].
    fn run_one(
        &self,
        run: &mut Run<'_>,
        units: &mut [&mut WriteUnit<'_>],
        members: &mut [Member],
        i: usize,
    ) -> Result<Next, Failure> {
        let n = units.len();
        let (careful, agent, lock_key) = (run.careful, run.agent, run.lock_key);
        let c = run.conn()?;
        let begun = !c.in_transaction();
        if begun {
            c.begin_deferred(&lock::begin_locked(lock_key, Lock::Wait));
        }
        c.clear_failure();
        if careful {
            c.defer(sql::SAVEPOINT);
        }
        if begun {
            run.txn_start = i;
            run.ahead = AheadInTxn::default();
        }
        let txn_start = run.txn_start;
        let c = connection(&mut run.conn, run.pool)?;
        // In a batch, a unit that reads only the (tracked) head and lines taken as empty is
        // decided here and its guard and rows queued: no round trip of its own.
        if !careful && n > 1 {
            let head = match c.tracked_head(agent) {
                Some(head) => Some(head),
                None if i == txn_start => self.known.head(agent),
                None => None,
            };
            if let Some(member) =
                head.and_then(|h| self.queue_ahead(c, agent, &mut *units[i], h, &mut run.ahead))
            {
                members[i] = member;
                return Ok(Next::At(i + 1));
            }
        }
        let timing = if careful {
            Timing::Now
        } else if i + 1 == n {
            Timing::NowCommit
        } else {
            Timing::Defer
        };
        let (member, committed) = self.run_unit(c, agent, &mut *units[i], timing);
        members[i] = member;
        if committed {
            self.count_commit(n - txn_start, run.ahead.units);
            return Ok(Next::Done);
        }
        match c.failure().cloned() {
            None => Ok(Next::At(i + 1)),
            Some(failure) => self.after_unit_failed(run, members, i, failure),
        }
    }

    /// After a statement of unit `i` failed: settles a lost commit, starts a transaction whose
    /// connection was stale again, gives up on a broken connection, else keeps the failure to
    /// the unit (rolled back to its savepoint, or its transaction rolled back and the units
    /// before it in that transaction run again carefully).
    fn after_unit_failed(
        &self,
        run: &mut Run<'_>,
        members: &mut [Member],
        i: usize,
        failure: crate::pool::RoundTrip,
    ) -> Result<Next, Failure> {
        if failure.commit_lost {
            // The unit's rows went with the COMMIT, whose answer was lost: look the transaction
            // up. (The broken connection goes back first: the pool may hold no other.)
            let mark = run.conn.take().and_then(|c| c.kept().cloned());
            self.settle_lost_commit(
                run.pool,
                run.agent,
                run.lock_key,
                mark.as_ref(),
                failure.class.reason(),
            )?;
            self.count_commit(members.len() - run.txn_start, run.ahead.units);
            return Ok(Next::Done);
        }
        if failure.stale_connection && run.stale_retry {
            // A pooled connection the server had closed at the transaction's first round trip:
            // nothing of it ran; again on a new one.
            run.stale_retry = false;
            run.conn = None;
            return Ok(run.restart(members, false, "stale_connection", failure.class.reason()));
        }
        let careful = run.careful;
        let c = run.conn()?;
        if c.raw().is_closed() || matches!(failure.class, Failure::Unavailable(_)) {
            return Err(failure.class);
        }
        if careful {
            c.raw().batch_execute(sql::ROLLBACK_TO_SAVEPOINT).map_err(|e| Failure::of(&e.into()))?;
            c.clear_failure();
            return Ok(Next::At(i + 1));
        }
        c.rollback_raw().map_err(|e| Failure::of(&e))?;
        if i > run.txn_start {
            // Earlier units shared the aborted transaction: again, carefully.
            self.unlearn(run.agent, &mut run.ahead);
            return Ok(run.restart(members, true, "shared_failure", failure.class.reason()));
        }
        Ok(Next::At(i + 1))
    }

    /// After the last unit: commits the open transaction (its last rows may still be queued).
    /// A lost `COMMIT` is looked up; a failed queued statement makes the units run again
    /// carefully.
    fn commit(&self, run: &mut Run<'_>, members: &mut [Member], n: usize) -> Result<Next, Failure> {
        let c = run.conn()?;
        if !c.in_transaction() {
            // The last unit failed alone and ended its transaction: done.
            return Ok(Next::Done);
        }
        let first_round_trip = c.begin_pending();
        let Err(e) = c.commit_raw() else {
            self.count_commit(n - run.txn_start, run.ahead.units);
            return Ok(Next::Done);
        };
        let failure = c.failure().cloned();
        let lost = failure.as_ref().filter(|f| f.commit_lost).cloned();
        let stale = failure.as_ref().is_some_and(|f| f.stale_connection) && run.stale_retry;
        if lost.is_some() || stale {
            // The connection broke in the round trip carrying the COMMIT, or in the
            // transaction's first round trip before anything of it ran. (The broken connection
            // goes back first: the pool may hold no other.)
            let mark = run.conn.take().and_then(|c| c.kept().cloned());
            if let Some(lost) = lost {
                match self.look_up(run.pool, run.agent, run.lock_key, mark.as_ref()) {
                    Found::Stored => {
                        self.count_commit(n - run.txn_start, run.ahead.units);
                        return Ok(Next::Done);
                    }
                    // Every unit was decided without a read and the whole transaction went in
                    // that one round trip: again on a new connection, once.
                    Found::NotStored if first_round_trip && run.stale_retry => {}
                    found => return Err(super::lost::failure(found, lost.class.reason())),
                }
            }
            run.stale_retry = false;
            let (cause, reason) = match &failure {
                Some(f) if f.commit_lost => ("lost_commit", f.class.reason()),
                Some(f) => ("stale_connection", f.class.reason()),
                None => ("stale_connection", ""),
            };
            return Ok(run.restart(members, false, cause, reason));
        }
        let failure = Failure::of(&e);
        let careful = run.careful;
        let c = run.conn()?;
        let recoverable = !careful && !c.raw().is_closed() && !matches!(failure, Failure::Unavailable(_));
        if !recoverable {
            return Err(failure);
        }
        // A queued insert failed: the units run again, each in its own savepoint.
        if c.in_transaction() {
            c.rollback_raw().map_err(|e| Failure::of(&e))?;
        }
        self.unlearn(run.agent, &mut run.ahead);
        Ok(run.restart(members, true, "shared_failure", failure.reason()))
    }

    /// Runs one unit's body against its view of `conn`, then appends its rows as `timing`
    /// says (at once when a statement of the unit failed). Rolls nothing back; the second
    /// value says the append committed. A unit whose rows went with a `COMMIT` whose answer was
    /// lost is `Written` (if the transaction committed; the connection's failure says the
    /// commit was lost, and it keeps the unit's mark for the lookup).
    fn run_unit(
        &self,
        conn: &mut Conn,
        agent: &str,
        unit: &mut WriteUnit<'_>,
        timing: Timing,
    ) -> (Member, bool) {
        let append = match credence_core::run_unit(BACKEND, unit, &view::for_unit(conn, agent)) {
            Err(e) => return (Member::Unit(e), false),
            Ok(None) => return (Member::Nothing, false),
            Ok(Some(append)) => append,
        };
        // A unit that went on after a failed read appends at once, so the failure is its own.
        let timing = if conn.failure().is_some() { Timing::Now } else { timing };
        // Learnt before the commit: a line wrongly thought non-empty costs only speed.
        self.known.non_empty(agent, append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())));
        let head = Head { seq: append.seq, tx_time: append.tx_time };
        let mark = UnitMark::of(&append);
        match append::append(conn, agent, &append, timing) {
            Ok(committed) => {
                if !committed {
                    conn.keep(mark);
                }
                (Member::Written(head), committed)
            }
            Err(_) if conn.failure().is_some_and(|f| f.commit_lost) => {
                conn.keep(mark);
                (Member::Written(head), false)
            }
            Err(e) => (Member::Append(e), false),
        }
    }
}
