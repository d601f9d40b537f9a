//! Group commit: the writes of one agent in this process share transactions.
//!
//! A batch has a *leader*, which runs its own units back to back on its own thread in one
//! transaction: one unit for a plain [`Ledger::write`](credence_core::Ledger::write), all of
//! them for [`Ledger::write_batch`](credence_core::Ledger::write_batch) (the engine hands
//! concurrent ingests of an agent over that way). The transaction's `BEGIN` and the agent's
//! advisory lock are sent with the first unit's first read, and each unit's rows with the next
//! unit's first read or the `COMMIT` (see [`Groups::lead_inner`] for how a failure is kept
//! to its unit). Plain writes of the same agent arriving meanwhile join the batch as
//! *followers*; after its own units the leader hands the connection to each in turn, and
//! each runs its own unit (on its own thread, so the closure never leaves it) in its own
//! savepoint — a failing unit rolls back to its savepoint without touching the others. When
//! nobody is waiting (or the batch is full) the leader closes the batch, commits once, and
//! only then is every member answered. Writers arriving after the batch closed form the next
//! batch, which waits for this one's commit on the advisory lock.
//!
//! A leader with one unit first tries to write it in a single round trip (see the
//! `speculate` module); when that is not possible the unit runs as described above.
//!
//! Whenever the round trip carrying a transaction's `COMMIT` breaks — the leader's `COMMIT`
//! after its followers, a unit's rows sent with the `COMMIT`, a one-round-trip transaction —
//! the leader looks up whether the transaction committed before anyone is answered (see the
//! `outcome` module): every member is then answered as if the `COMMIT` had answered, or with
//! the retryable `Unavailable` when nothing was stored, or with "outcome unknown" when that
//! could not be found out. Such a transaction is never run again unless the lookup found it
//! not stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use credence_core::{Head, WriteUnit};
use r2d2::PooledConnection;

use crate::convoy::{self, Convoy, Sent};
use crate::error::{BACKEND, PgError, is_occ, is_read_only, is_unavailable};
use crate::lock::agent_lock_key;
use crate::outcome::{self, Found, UnitMark};
use crate::pool::{PgManager, begin_fresh};
use crate::read::PgView;
use crate::speculate::{Knowledge, SpecView, expect_sql};
use crate::write::{self, Timing};

/// Most times a unit decided ahead is sent alone after its group did not commit, while each
/// try's connection breaks as it commits (and each is looked up and found not stored).
const ALONE_TRIES: u32 = 3;

type Conn = PooledConnection<PgManager>;

/// What one member's unit did inside the (not yet committed) transaction.
pub(crate) enum Member {
    /// Rows appended; answered after the commit.
    Written(Head),
    /// The unit chose to write nothing.
    Nothing,
    /// The unit itself returned this error (nothing of it was kept).
    Unit(credence_core::Error),
    /// Appending failed and was rolled back to the savepoint (OCC errors are retried).
    Append(PgError),
    /// The unit never ran: the batch failed before its turn.
    NotRun,
}

/// Why a whole batch did not commit.
#[derive(Clone, Debug)]
pub(crate) enum BatchFailure {
    /// Serialisation failure / deadlock / unique violation: the batch may be retried.
    Occ(String),
    /// The connection, the pool or the server is unavailable.
    Unavailable(String),
    /// The role or server may not write (see `error::is_read_only`).
    ReadOnly(String),
    /// Anything else.
    Other(String),
    /// The connection broke while committing and whether the transaction committed could not
    /// be found out (see the `outcome` module).
    OutcomeUnknown(String),
}

impl BatchFailure {
    /// What went wrong, in words.
    pub(crate) fn reason(&self) -> &str {
        match self {
            BatchFailure::Occ(r) | BatchFailure::Unavailable(r) | BatchFailure::Other(r) => r,
            BatchFailure::ReadOnly(r) => r,
            BatchFailure::OutcomeUnknown(r) => r,
        }
    }

    pub(crate) fn from_pg(e: &PgError) -> BatchFailure {
        if is_occ(e) {
            BatchFailure::Occ(e.to_string())
        } else if is_read_only(e) {
            BatchFailure::ReadOnly(e.to_string())
        } else if is_unavailable(e) {
            BatchFailure::Unavailable(e.to_string())
        } else {
            BatchFailure::Other(e.to_string())
        }
    }
}

/// The write path's shared state: what this process knows, the convoy, the counters.
#[derive(Default)]
pub(crate) struct Groups {
    /// Transactions committed / units that ran in them (see `WriteStats`).
    pub(crate) committed_batches: AtomicU64,
    pub(crate) committed_members: AtomicU64,
    /// Units decided ahead of their transaction that committed (see the `speculate` module).
    pub(crate) speculated: AtomicU64,
    /// Transactions with units decided ahead that failed (their guard, most likely).
    pub(crate) failed_guards: AtomicU64,
    /// Units refused inside transactions shared by several agents' units (see `convoy`).
    pub(crate) refused_in_groups: AtomicU64,
    /// Lookups after a `COMMIT`'s answer was lost, by what they found (see `outcome`).
    pub(crate) lost_committed: AtomicU64,
    pub(crate) lost_not_committed: AtomicU64,
    pub(crate) lost_unknown: AtomicU64,
    /// What this process knows of its agents' heads and lines.
    known: Knowledge,
    /// Units decided ahead waiting to share a transaction.
    convoy: Convoy,
}

/// The units of the current transaction decided ahead (see [`Groups::defer_speculative`]).
#[derive(Default)]
struct AheadInTxn {
    /// How many (counted in `speculated` when the transaction commits).
    units: u64,
    /// The lines they took as empty.
    assumed_empty: Vec<(String, String)>,
}

/// What running a unit ahead of its transaction came to.
enum Ahead {
    /// Its rows, and the lines it took as empty.
    Decided(Box<credence_core::Append>, Vec<(String, String)>),
    /// Its view reported a storage failure.
    Failed(Member),
    /// It needs reads (or wrote nothing, or failed): it must run the normal way.
    NeedsReads,
}

/// What a one-round-trip attempt came to.
enum Speculation {
    /// The unit committed.
    Done(Member),
    /// Its view reported a storage failure: that is the unit's outcome; nothing was sent.
    UnitFailed(Member),
    /// The transaction failed as the normal path would report it.
    Failed(BatchFailure),
    /// Not possible, or the guard failed: the unit runs the normal way.
    NormalPath,
}

/// How a transaction whose `COMMIT`'s answer was lost (`cause`) is answered when the lookup
/// found `found` — anything but stored, which is answered as written (see the `outcome`
/// module).
fn lost_failure(found: Found, cause: &str) -> BatchFailure {
    match found {
        Found::Unknown(why) => BatchFailure::OutcomeUnknown(format!(
            "the connection broke while committing ({cause}) and whether the write is stored could not be \
             found out: {why}"
        )),
        Found::NotStored | Found::Stored => BatchFailure::Unavailable(format!(
            "the connection broke while committing ({cause}); the write was looked up and is not stored"
        )),
    }
}

/// Runs one unit's body against a write view of `conn`, then appends its rows with the
/// timing `timing` picks (asked only when there are rows to append and no statement of the
/// unit failed). Rolls nothing back; the second value says the append committed. A unit
/// whose rows went with a `COMMIT` whose answer was lost is `Written` (if the transaction
/// committed; the connection's failure says the commit was lost, and it keeps the unit's
/// mark for the lookup).
fn run_unit(
    conn: &mut Conn,
    known: &Knowledge,
    agent: &str,
    unit: &mut WriteUnit<'_>,
    timing: &dyn Fn() -> Timing,
) -> (Member, bool) {
    let outcome = credence_core::run_unit(BACKEND, unit, &PgView::for_write(conn, agent));
    match outcome {
        Err(e) => (Member::Unit(e), false),
        Ok(None) => (Member::Nothing, false),
        Ok(Some(append)) => {
            // A unit that went on after a failed read appends at once, so the failure is its own.
            let timing = if conn.failure().is_some() { Timing::Now } else { timing() };
            // Learnt before the commit: a line wrongly thought non-empty costs only speed.
            known.non_empty(agent, append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())));
            let head = Head { seq: append.seq, tx_time: append.tx_time };
            let mark = UnitMark::of(&append);
            match write::append(conn, agent, &append, timing) {
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
}

impl Groups {
    /// Records the heads of units that committed; after a failed append or transaction the
    /// agent's head is forgotten (a retry then reads it instead of speculating again).
    fn learn(&self, agent: &str, members: &[Member], result: &Result<(), BatchFailure>) {
        if result.is_err() || members.iter().any(|m| matches!(m, Member::Append(_))) {
            self.known.forget_head(agent);
            return;
        }
        for member in members {
            if let Member::Written(head) = member {
                self.known.committed(agent, *head);
            }
        }
    }

    /// Runs `units` for `agent` back to back on this thread in one transaction (as the leader
    /// of a new batch, which plain writes arriving meanwhile join); one member per unit.
    pub(crate) fn run_batch(
        &self,
        pool: &r2d2::Pool<PgManager>,
        schema: &str,
        agent: &str,
        units: &mut [&mut WriteUnit<'_>],
    ) -> (Vec<Member>, Result<(), BatchFailure>) {
        if units.is_empty() {
            return (Vec::new(), Ok(()));
        }
        let mut members: Vec<Member> = units.iter().map(|_| Member::NotRun).collect();
        let result = self.lead(pool, schema, agent, units, &mut members);
        self.learn(agent, &members, &result);
        (members, result)
    }

    /// Runs `unit` against what this process knows (head `head`), and if it needs nothing
    /// more, queues its guard and rows on `c` (see the `speculate` module); `None` when it
    /// needs a real read (the unit then runs the normal way).
    fn defer_speculative(
        &self,
        c: &mut Conn,
        agent: &str,
        unit: &mut WriteUnit<'_>,
        head: Option<Head>,
        txn: &mut AheadInTxn,
    ) -> Option<Member> {
        let (append, assumed) = match self.decide_ahead(agent, unit, head) {
            Ahead::Decided(append, assumed) => (append, assumed),
            Ahead::Failed(member) => return Some(member),
            Ahead::NeedsReads => return None,
        };
        let expect = expect_sql(agent, head, &assumed).ok()?;
        let insert = write::insert_sql(agent, &append, head.is_none()).ok()?;
        c.defer(&expect);
        c.defer(&insert);
        c.keep(UnitMark::of(&append));
        let new_head = Head { seq: append.seq, tx_time: append.tx_time };
        c.set_write_head(agent, Some(new_head));
        self.known.non_empty(agent, append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())));
        txn.units += 1;
        txn.assumed_empty.extend(assumed);
        Some(Member::Written(new_head))
    }

    /// After a transaction with units decided ahead failed (a guard, most likely): the head
    /// is forgotten and the lines those units took as empty are no longer taken so.
    fn unlearn(&self, agent: &str, txn: &mut AheadInTxn) {
        if txn.units > 0 {
            self.known.forget_head(agent);
            self.known.non_empty(agent, txn.assumed_empty.iter().map(|(s, p)| (s.as_str(), p.as_str())));
            self.failed_guards.fetch_add(1, Ordering::Relaxed);
        }
        *txn = AheadInTxn::default();
    }

    /// Whether the transaction of `agent` (lock key `lock_key`) holding unit `mark` committed,
    /// after the round trip carrying its `COMMIT` broke (see the `outcome` module); counted in
    /// the lost-commit statistics.
    fn look_up(
        &self,
        pool: &r2d2::Pool<PgManager>,
        agent: &str,
        lock_key: i64,
        mark: Option<&UnitMark>,
    ) -> Found {
        let found = outcome::look_up(pool, agent, lock_key, mark);
        let counter = match found {
            Found::Stored => &self.lost_committed,
            Found::NotStored => &self.lost_not_committed,
            Found::Unknown(_) => &self.lost_unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Answers a transaction of `agent` whose `COMMIT`'s answer was lost (`cause`) from a
    /// lookup of the unit `mark` it holds: `Ok` when it committed, else the failure every
    /// member is answered with.
    fn settle_lost_commit(
        &self,
        pool: &r2d2::Pool<PgManager>,
        agent: &str,
        lock_key: i64,
        mark: Option<&UnitMark>,
        cause: &str,
    ) -> Result<(), BatchFailure> {
        match self.look_up(pool, agent, lock_key, mark) {
            Found::Stored => Ok(()),
            found => Err(lost_failure(found, cause)),
        }
    }

    /// Runs `unit` against a [`SpecView`] at `head`.
    fn decide_ahead(&self, agent: &str, unit: &mut WriteUnit<'_>, head: Option<Head>) -> Ahead {
        let view = SpecView::new(&self.known, agent, head);
        let append = match credence_core::run_unit(BACKEND, unit, &view) {
            Ok(Some(append)) if !view.gave_up() => append,
            // A storage failure reported through the view (by a wrapper of it: the view itself
            // never fails but to give up) is the write's failure, as on the normal path.
            Err(e @ (credence_core::Error::Corrupt { .. } | credence_core::Error::Unavailable { .. }))
                if !view.gave_up() =>
            {
                return Ahead::Failed(Member::Unit(e));
            }
            // Nothing to write, another error or a panic was decided on unchecked knowledge.
            _ => return Ahead::NeedsReads,
        };
        let plain = write::is_plain(&append) && append.shape_problem().is_none();
        let in_order =
            append.seq == head.map_or(1, |h| h.seq + 1) && head.is_none_or(|h| append.tx_time > h.tx_time);
        if !plain || !in_order {
            return Ahead::NeedsReads;
        }
        Ahead::Decided(Box::new(append), view.assumed_empty())
    }

    /// Tries to write `unit` in one round trip (see the `speculate` module): runs it against
    /// what this process knows of `agent`, then sends the lock (key `lock_key`), the guard,
    /// the inserts and `COMMIT` together, possibly with other agents' units (see the `convoy`
    /// module) — only if the batch can close (nobody waits to join it).
    fn speculate(
        &self,
        pool: &r2d2::Pool<PgManager>,
        agent: &str,
        lock_key: i64,
        unit: &mut WriteUnit<'_>,
    ) -> Speculation {
        let Some(head) = self.known.head(agent) else { return Speculation::NormalPath };
        let (append, assumed) = match self.decide_ahead(agent, unit, head) {
            Ahead::Decided(append, assumed) => (append, assumed),
            Ahead::Failed(member) => return Speculation::UnitFailed(member),
            Ahead::NeedsReads => return Speculation::NormalPath,
        };
        let Ok(rows) = write::unit_rows(&append, head.is_none()) else { return Speculation::NormalPath };
        let ahead = convoy::Ahead {
            agent: agent.to_owned(),
            lock_key,
            head,
            assumed_empty: Arc::from(assumed),
            rows: Arc::new(rows),
            mark: UnitMark::of(&append),
        };
        let mut sent = self.convoy.send(ahead.clone(), &|group| self.send_group(pool, group, false));
        // Refused in its group (its lock held elsewhere, its guard, or the group's statement):
        // again, alone, waiting for its agent's lock, where a refusal is its own. After a try
        // whose connection broke while committing (looked up under the lock: not stored), the
        // unit is only ever sent again with the same rows and guard — never run the normal way,
        // which would mint new claims — so at most one try can commit.
        let look_up = || self.look_up(pool, agent, lock_key, Some(&ahead.mark));
        let mut lost = None;
        let mut tries = 0;
        let committed = loop {
            match sent {
                Sent::Committed => break true,
                Sent::Partly(_) => {
                    sent = sent.for_agent(agent);
                    continue;
                }
                Sent::Busy => return Speculation::NormalPath,
                Sent::Failed(failure) => return Speculation::Failed(failure),
                Sent::Lost(cause) => match look_up() {
                    Found::Stored => break true,
                    Found::NotStored => lost = Some(cause),
                    found => return Speculation::Failed(lost_failure(found, &cause)),
                },
                Sent::Refused if tries > 0 => {
                    let Some(cause) = &lost else { break false };
                    // An earlier try may have committed after all (its guard then refused this
                    // one): look again, now that the lock was ours.
                    match look_up() {
                        Found::Stored => break true,
                        Found::NotStored => break false,
                        found => return Speculation::Failed(lost_failure(found, cause)),
                    }
                }
                Sent::Refused => {}
            }
            if tries == ALONE_TRIES {
                // Every try was lost, and looked up as not stored.
                let cause = lost.as_deref().unwrap_or("no answer");
                return Speculation::Failed(lost_failure(Found::NotStored, cause));
            }
            tries += 1;
            sent = self.send_group(pool, std::slice::from_ref(&ahead), true);
        };
        if committed {
            self.speculated.fetch_add(1, Ordering::Relaxed);
            self.known
                .non_empty(agent, append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())));
            return Speculation::Done(Member::Written(Head { seq: append.seq, tx_time: append.tx_time }));
        }
        // The guard (or an insert) refused: someone else wrote, or a line was not empty.
        self.known.forget_head(agent);
        self.known.non_empty(agent, ahead.assumed_empty.iter().map(|(s, p)| (s.as_str(), p.as_str())));
        self.failed_guards.fetch_add(1, Ordering::Relaxed);
        Speculation::NormalPath
    }

    /// Sends a group of units decided ahead in one transaction and one round trip (see the
    /// `convoy` module), waiting for the lock if `wait` and the group is one unit.
    fn send_group(&self, pool: &r2d2::Pool<PgManager>, group: &[convoy::Ahead], wait: bool) -> Sent {
        let (begin, body) = match convoy::group_sql(group, wait) {
            Ok(sql) => sql,
            // (A unit's seq out of range.) Alone, the unit meets the error on its own path.
            Err(_) if group.len() > 1 => return Sent::Refused,
            Err(e) => return Sent::Failed(BatchFailure::from_pg(&e)),
        };
        let mut c = match begin_fresh(pool, write::ensure_writable) {
            Ok((c, ())) => c,
            Err(e) => return Sent::Failed(BatchFailure::from_pg(&e)),
        };
        c.begin_deferred(&begin);
        if let Ok(messages) = c.send(&body) {
            c.committed();
            if group.len() == 1 {
                self.count_commit(1);
                return Sent::Committed;
            }
            let written = convoy::written_agents(&messages);
            self.count_commit(written.len());
            let refused = group.len().saturating_sub(written.len());
            self.refused_in_groups.fetch_add(u64::try_from(refused).unwrap_or(u64::MAX), Ordering::Relaxed);
            return if refused == 0 { Sent::Committed } else { Sent::Partly(Arc::new(written)) };
        }
        let Some(failure) = c.failure().cloned() else {
            return Sent::Failed(BatchFailure::Other("a failed round trip left no failure".into()));
        };
        if failure.commit_lost {
            // The connection broke in the one round trip, which carried the COMMIT: each unit
            // looks up its own outcome.
            return Sent::Lost(failure.class.reason().to_owned());
        }
        if c.raw().is_closed() || matches!(failure.class, BatchFailure::Unavailable(_)) {
            return Sent::Failed(failure.class);
        }
        if group.len() > 1 {
            self.refused_in_groups
                .fetch_add(u64::try_from(group.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        match c.rollback_raw() {
            Ok(()) => Sent::Refused,
            Err(e) => Sent::Failed(BatchFailure::from_pg(&e)),
        }
    }

    /// The leader's work. Its own units run first, without savepoints: each unit's rows are
    /// queued and ride in front of the next unit's first read (the last unit's go with the
    /// `COMMIT` when nobody waits), so an uncontended write is two round trips — `BEGIN`, the
    /// lock, the head and the unit's line read together; then the inserts and `COMMIT`. A unit
    /// that needs no read (see the `speculate` module) is decided here and queues its guard and
    /// rows instead; a lone such unit goes in one round trip ([`Groups::speculate`]).
    ///
    /// If a statement fails while earlier units share the transaction (which is then
    /// aborted), the transaction is rolled back and those units run again, this time each in
    /// its own savepoint with its rows sent at once, so every failure is its unit's alone. A
    /// failing unit alone in its transaction just ends it. Followers (plain writes that joined
    /// meanwhile) then run in savepoints on their own threads, and one `COMMIT` ends it all.
    fn lead(
        &self,
        pool: &r2d2::Pool<PgManager>,
        schema: &str,
        agent: &str,
        units: &mut [&mut WriteUnit<'_>],
        members: &mut [Member],
    ) -> Result<(), BatchFailure> {
        // The lock first, before any read. The key is an integer computed here.
        let lock_key = agent_lock_key(schema, agent);
        let begin = format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({lock_key})");
        let n = units.len();
        let mut conn: Option<Conn> = None;
        let mut i = 0;
        if let [unit] = units {
            match self.speculate(pool, agent, lock_key, &mut **unit) {
                Speculation::Done(member) | Speculation::UnitFailed(member) => {
                    members[0] = member;
                    return Ok(());
                }
                Speculation::Failed(failure) => return Err(failure),
                Speculation::NormalPath => {}
            }
        }
        let mut careful = false;
        // Units of the current transaction decided without a read.
        let mut ahead = AheadInTxn::default();
        let mut stale_retry = true;
        let mut txn_start = 0;
        'attempt: loop {
            while i < n {
                let c = match conn {
                    Some(ref mut c) => c,
                    None => {
                        let (c, ()) = begin_fresh(pool, write::ensure_writable)
                            .map_err(|e| BatchFailure::from_pg(&e))?;
                        conn.insert(c)
                    }
                };
                if !c.in_transaction() {
                    c.begin_deferred(&begin);
                    txn_start = i;
                    ahead = AheadInTxn::default();
                }
                c.clear_failure();
                if careful {
                    c.defer("SAVEPOINT credence_unit");
                }
                // In a batch, a unit that reads only the (tracked) head and lines taken as empty
                // is decided here and its guard and rows queued: no round trip of its own.
                if !careful && n > 1 {
                    let head = match c.write_head(agent) {
                        Some(head) => Some(head),
                        None if i == txn_start => self.known.head(agent),
                        None => None,
                    };
                    if let Some(member) =
                        head.and_then(|h| self.defer_speculative(c, agent, &mut *units[i], h, &mut ahead))
                    {
                        members[i] = member;
                        i += 1;
                        continue;
                    }
                }
                let last = i + 1 == n;
                let timing = || {
                    if careful {
                        Timing::Now
                    } else if last {
                        Timing::NowCommit
                    } else {
                        Timing::Defer
                    }
                };
                let (member, committed) = run_unit(c, &self.known, agent, &mut *units[i], &timing);
                members[i] = member;
                if committed {
                    self.count_commit(n - txn_start);
                    self.speculated.fetch_add(ahead.units, Ordering::Relaxed);
                    return Ok(());
                }
                let Some(failure) = c.failure().cloned() else {
                    i += 1;
                    continue;
                };
                if failure.commit_lost {
                    // The unit's rows went with the COMMIT, whose answer was lost: look the
                    // transaction up. (The broken connection goes back first: the pool may hold
                    // no other.)
                    let mark = c.kept().cloned();
                    drop(conn.take());
                    let settled =
                        self.settle_lost_commit(pool, agent, lock_key, mark.as_ref(), failure.class.reason());
                    if settled.is_ok() {
                        self.count_commit(n - txn_start);
                        self.speculated.fetch_add(ahead.units, Ordering::Relaxed);
                    }
                    return settled;
                }
                if failure.stale_connection && stale_retry {
                    // A pooled connection the server had closed at the transaction's first round
                    // trip: nothing of it ran; again on a new one.
                    stale_retry = false;
                    conn = None;
                    members[txn_start..=i].iter_mut().for_each(|m| *m = Member::NotRun);
                    i = txn_start;
                    ahead = AheadInTxn::default();
                    continue;
                }
                if c.raw().is_closed() || matches!(failure.class, BatchFailure::Unavailable(_)) {
                    return Err(failure.class);
                }
                if careful {
                    c.raw()
                        .batch_execute("ROLLBACK TO SAVEPOINT credence_unit")
                        .map_err(|e| BatchFailure::from_pg(&e.into()))?;
                    c.clear_failure();
                } else {
                    c.rollback_raw().map_err(|e| BatchFailure::from_pg(&e))?;
                    if i > txn_start {
                        // Earlier units shared the aborted transaction: again, carefully.
                        members[txn_start..=i].iter_mut().for_each(|m| *m = Member::NotRun);
                        careful = true;
                        self.unlearn(agent, &mut ahead);
                        i = txn_start;
                        continue;
                    }
                }
                i += 1;
            }
            let c = match conn {
                Some(ref mut c) => c,
                None => {
                    let (c, ()) =
                        begin_fresh(pool, write::ensure_writable).map_err(|e| BatchFailure::from_pg(&e))?;
                    conn.insert(c)
                }
            };
            if !c.in_transaction() {
                // The last unit failed alone and ended its transaction: done.
                return Ok(());
            }
            let first_round_trip = c.begin_pending();
            let sent = c.commit_raw();
            if let Err(e) = sent {
                let failure = c.failure().cloned();
                let lost = failure.as_ref().filter(|f| f.commit_lost);
                let stale = failure.as_ref().is_some_and(|f| f.stale_connection) && stale_retry;
                if lost.is_some() || stale {
                    // The connection broke in the round trip carrying the COMMIT, or in
                    // the transaction's first round trip before anything of it ran. (The broken
                    // connection goes back first: the pool may hold no other.)
                    let mark = c.kept().cloned();
                    drop(conn.take());
                    if let Some(lost) = lost {
                        match self.look_up(pool, agent, lock_key, mark.as_ref()) {
                            Found::Stored => {
                                self.count_commit(n - txn_start);
                                self.speculated.fetch_add(ahead.units, Ordering::Relaxed);
                                return Ok(());
                            }
                            // Every unit was decided without a read and the whole transaction
                            // went in that one round trip: again on a new connection, once.
                            Found::NotStored if first_round_trip && stale_retry => {}
                            found => return Err(lost_failure(found, lost.class.reason())),
                        }
                    }
                    stale_retry = false;
                    members[txn_start..].iter_mut().for_each(|m| *m = Member::NotRun);
                    i = txn_start;
                    ahead = AheadInTxn::default();
                    continue 'attempt;
                }
                let failure = BatchFailure::from_pg(&e);
                let recoverable =
                    !careful && !c.raw().is_closed() && !matches!(failure, BatchFailure::Unavailable(_));
                if !recoverable {
                    return Err(failure);
                }
                // A queued insert failed: the units run again, each in its own savepoint.
                if c.in_transaction() {
                    c.rollback_raw().map_err(|e| BatchFailure::from_pg(&e))?;
                }
                members[txn_start..].iter_mut().for_each(|m| *m = Member::NotRun);
                careful = true;
                self.unlearn(agent, &mut ahead);
                i = txn_start;
                continue 'attempt;
            }
            self.count_commit(n - txn_start);
            self.speculated.fetch_add(ahead.units, Ordering::Relaxed);
            return Ok(());
        }
    }

    fn count_commit(&self, units: usize) {
        self.committed_batches.fetch_add(1, Ordering::Relaxed);
        self.committed_members.fetch_add(u64::try_from(units).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use crate::write::quote_literal;

    #[test]
    fn quote_literal_doubles_quotes_and_backslashes() {
        assert_eq!(quote_literal("alice"), "E'alice'");
        assert_eq!(quote_literal("o'brien\\x"), "E'o''brien\\\\x'");
    }
}
