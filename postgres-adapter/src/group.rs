//! Group commit: concurrent writes of one agent in this process share one transaction.
//!
//! The first writer of an agent becomes the batch *leader*: it checks out a connection,
//! begins a transaction, takes the agent's advisory lock and runs its own unit in a
//! savepoint. Writers of the same agent arriving meanwhile join the batch as *followers*;
//! the leader hands the connection to each in turn, and each runs its own unit (on its own
//! thread, so the closure never leaves it) in its own savepoint — a failing unit rolls back
//! to its savepoint without touching the others. When nobody is waiting (or the batch is
//! full) the leader closes the batch, commits once, and only then is every member answered.
//! Writers arriving after the batch closed form the next batch, which waits for this one's
//! commit on the advisory lock.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use credence_core::{Head, WriteUnit};
use r2d2::PooledConnection;

use crate::error::{PgError, is_connection_error, is_occ, is_unavailable};
use crate::lock::agent_lock_key;
use crate::pool::{PgManager, begin_fresh};
use crate::read::PgView;
use crate::write;

/// Most units in one batch; later arrivals start the next batch.
const MAX_BATCH: usize = 32;

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
    /// The unit panicked; the panic resumes on the caller's thread after the batch.
    Panic(Box<dyn Any + Send>),
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
    /// Anything else.
    Other(String),
}

impl BatchFailure {
    fn from_pg(e: &PgError) -> BatchFailure {
        if is_occ(e) {
            BatchFailure::Occ(e.to_string())
        } else if is_unavailable(e) {
            BatchFailure::Unavailable(e.to_string())
        } else {
            BatchFailure::Other(e.to_string())
        }
    }
}

#[derive(Default)]
struct BatchState {
    accepting: bool,
    waiting: VecDeque<u64>,
    members: usize,
    /// The connection while a follower is using it.
    conn: Option<Conn>,
    /// The follower whose turn it is.
    turn: Option<u64>,
    /// The last follower's unit broke the transaction.
    broken: Option<BatchFailure>,
    /// Set once: the commit's outcome.
    finished: Option<Result<(), BatchFailure>>,
}

/// One group of units sharing a transaction.
#[derive(Default)]
pub(crate) struct Batch {
    state: Mutex<BatchState>,
    cv: Condvar,
}

impl Batch {
    fn lock(&self) -> MutexGuard<'_, BatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, BatchState>) -> MutexGuard<'a, BatchState> {
        self.cv.wait(g).unwrap_or_else(PoisonError::into_inner)
    }
}

/// The open batch of each agent.
#[derive(Default)]
pub(crate) struct Groups {
    open: Mutex<HashMap<String, Arc<Batch>>>,
    next_id: Mutex<u64>,
    /// Transactions committed / units that ran in them (see `WriteStats`).
    pub(crate) committed_batches: AtomicU64,
    pub(crate) committed_members: AtomicU64,
}

/// Runs one unit in a savepoint on `conn` (opened here unless `savepoint_open`).
///
/// Savepoints are not released: a later `SAVEPOINT` of the same name nests, `ROLLBACK TO`
/// undoes only the latest one, and the final `COMMIT` keeps everything not rolled back. That
/// saves a round trip per unit.
///
/// When the unit returns rows and `close` (the leader's) closes the batch because nobody is
/// waiting, the `COMMIT` is sent with the inserts; the second value says it was.
fn run_member(
    conn: &mut Conn,
    agent: &str,
    unit: &mut WriteUnit<'_>,
    savepoint_open: bool,
    close: Option<&dyn Fn() -> bool>,
) -> Result<(Member, bool), PgError> {
    if !savepoint_open {
        conn.raw().batch_execute("SAVEPOINT credence_unit")?;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let view = PgView::new(conn, agent);
        unit(&view)
    }));
    let member = match outcome {
        Err(panic) => Member::Panic(panic),
        Ok(Err(e)) => Member::Unit(e),
        Ok(Ok(None)) => Member::Nothing,
        Ok(Ok(Some(append))) => {
            let commit = close.is_some_and(|close| close());
            match write::append(conn, agent, &append, commit) {
                Ok(committed) => {
                    return Ok((
                        Member::Written(Head { seq: append.seq, tx_time: append.tx_time }),
                        committed,
                    ));
                }
                Err(e) => Member::Append(e),
            }
        }
    };
    if !matches!(member, Member::Nothing) && !breaks_transaction(&member, conn) {
        conn.raw().batch_execute("ROLLBACK TO SAVEPOINT credence_unit")?;
    }
    Ok((member, false))
}

/// True when a unit's append error means the transaction cannot go on.
fn breaks_transaction(member: &Member, conn: &mut Conn) -> bool {
    matches!(member, Member::Append(PgError::Db(db)) if is_connection_error(db)) || conn.raw().is_closed()
}

impl Groups {
    /// Runs `unit` for `agent` in a batch; returns what the unit did and whether its batch
    /// committed.
    pub(crate) fn run(
        &self,
        pool: &r2d2::Pool<PgManager>,
        schema: &str,
        agent: &str,
        unit: &mut WriteUnit<'_>,
    ) -> (Member, Result<(), BatchFailure>) {
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *n += 1;
            *n
        };
        let joined = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            match open.get(agent) {
                Some(batch) => {
                    let mut st = batch.lock();
                    if st.accepting && st.members < MAX_BATCH {
                        st.waiting.push_back(id);
                        st.members += 1;
                        Some(batch.clone())
                    } else {
                        None
                    }
                }
                None => None,
            }
            .map_or_else(
                || {
                    let batch = Arc::new(Batch::default());
                    {
                        let mut st = batch.lock();
                        st.accepting = true;
                        st.members = 1;
                    }
                    open.insert(agent.to_owned(), batch.clone());
                    (batch, true)
                },
                |b| (b, false),
            )
        };
        let (batch, leader) = joined;
        if leader { self.lead(pool, schema, agent, &batch, unit) } else { follow(&batch, id, agent, unit) }
    }

    fn close(&self, agent: &str, batch: &Arc<Batch>) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        batch.lock().accepting = false;
        if open.get(agent).is_some_and(|b| Arc::ptr_eq(b, batch)) {
            open.remove(agent);
        }
    }

    fn lead(
        &self,
        pool: &r2d2::Pool<PgManager>,
        schema: &str,
        agent: &str,
        batch: &Arc<Batch>,
        unit: &mut WriteUnit<'_>,
    ) -> (Member, Result<(), BatchFailure>) {
        let mut guard = LeaderGuard { groups: self, agent, batch, done: false };
        let (member, result) = match self.lead_inner(pool, schema, agent, batch, unit) {
            Ok((member, commit)) => (member, commit),
            Err((member, failure)) => (member, Err(failure)),
        };
        guard.finish(result.clone());
        (member, result)
    }

    fn lead_inner(
        &self,
        pool: &r2d2::Pool<PgManager>,
        schema: &str,
        agent: &str,
        batch: &Arc<Batch>,
        unit: &mut WriteUnit<'_>,
    ) -> Result<(Member, Result<(), BatchFailure>), (Member, BatchFailure)> {
        let fail = |e: PgError| BatchFailure::from_pg(&e);
        // One round trip: begin, take the agent's lock (first, before any read), open the
        // leader's savepoint, and read the agent's head (after the lock, so it is current and
        // stays so: the write path keeps it up to date while the lock is held). The key is an
        // integer computed here and the agent id is quoted as a literal, so inlining is safe.
        // Plans: generic (cached per connection, no planning per write) and never a sequential
        // scan chosen while the agent's tables were tiny (every query is an index lookup).
        let begin = format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({}); SAVEPOINT credence_unit; \
             SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; {}",
            agent_lock_key(schema, agent),
            write::head_sql(agent)
        );
        let (mut conn, ()) = begin_fresh(pool, |c| {
            write::ensure_prepared(c)?;
            let messages = c.begin_raw_query(&begin)?;
            let head = head_of(&messages)?;
            c.set_write_head(agent, head);
            Ok(())
        })
        .map_err(|e| (Member::NotRun, fail(e)))?;
        // Closes the batch if nobody is waiting (then the leader's COMMIT rides with its inserts).
        let close_if_alone = || {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let mut st = batch.lock();
            if !st.waiting.is_empty() {
                return false;
            }
            st.accepting = false;
            if open.get(agent).is_some_and(|b| Arc::ptr_eq(b, batch)) {
                open.remove(agent);
            }
            true
        };
        let (mine, committed) = run_member(&mut conn, agent, unit, true, Some(&close_if_alone))
            .map_err(|e| (Member::NotRun, fail(e)))?;
        if committed {
            self.committed_batches.fetch_add(1, Ordering::Relaxed);
            self.committed_members.fetch_add(1, Ordering::Relaxed);
            return Ok((mine, Ok(())));
        }
        if breaks_transaction(&mine, &mut conn) {
            let failure = match &mine {
                Member::Append(e) => BatchFailure::from_pg(e),
                _ => BatchFailure::Unavailable("the connection was lost".into()),
            };
            return Err((mine, failure));
        }
        // Serve the followers one at a time.
        loop {
            let next = {
                let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
                let mut st = batch.lock();
                match st.waiting.pop_front() {
                    Some(id) => Some(id),
                    None => {
                        st.accepting = false;
                        if open.get(agent).is_some_and(|b| Arc::ptr_eq(b, batch)) {
                            open.remove(agent);
                        }
                        None
                    }
                }
            };
            let Some(id) = next else { break };
            let mut st = batch.lock();
            st.conn = Some(conn);
            st.turn = Some(id);
            batch.cv.notify_all();
            while st.turn.is_some() {
                st = batch.wait(st);
            }
            conn = match st.conn.take() {
                Some(c) => c,
                None => {
                    drop(st);
                    return Err((mine, BatchFailure::Other("a batch member kept the connection".into())));
                }
            };
            if let Some(failure) = st.broken.take() {
                drop(st);
                return Err((mine, failure));
            }
        }
        let members = u64::try_from(batch.lock().members).unwrap_or(u64::MAX);
        let commit = conn.commit_raw().map_err(fail);
        if commit.is_ok() {
            self.committed_batches.fetch_add(1, Ordering::Relaxed);
            self.committed_members.fetch_add(members, Ordering::Relaxed);
        }
        Ok((mine, commit))
    }
}

/// Makes sure followers are answered and the batch is unlisted even if the leader unwinds.
struct LeaderGuard<'a> {
    groups: &'a Groups,
    agent: &'a str,
    batch: &'a Arc<Batch>,
    done: bool,
}

impl LeaderGuard<'_> {
    fn finish(&mut self, result: Result<(), BatchFailure>) {
        self.groups.close(self.agent, self.batch);
        let mut st = self.batch.lock();
        st.finished = Some(result);
        self.batch.cv.notify_all();
        self.done = true;
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Err(BatchFailure::Other("the batch leader stopped unexpectedly".into())));
        }
    }
}

fn follow(
    batch: &Batch,
    id: u64,
    agent: &str,
    unit: &mut WriteUnit<'_>,
) -> (Member, Result<(), BatchFailure>) {
    let mut st = batch.lock();
    loop {
        if let Some(result) = &st.finished {
            return (Member::NotRun, result.clone());
        }
        if st.turn == Some(id) {
            break;
        }
        st = batch.wait(st);
    }
    let Some(mut conn) = st.conn.take() else {
        st.turn = None;
        st.broken = Some(BatchFailure::Other("the batch connection was missing".into()));
        batch.cv.notify_all();
        return (Member::NotRun, Err(BatchFailure::Other("the batch connection was missing".into())));
    };
    drop(st);
    let member = run_member(&mut conn, agent, unit, false, None);
    let mut st = batch.lock();
    let member = match member {
        Ok((m, _)) => {
            if breaks_transaction(&m, &mut conn) {
                st.broken = Some(match &m {
                    Member::Append(e) => BatchFailure::from_pg(e),
                    _ => BatchFailure::Unavailable("the connection was lost".into()),
                });
            }
            m
        }
        Err(e) => {
            st.broken = Some(BatchFailure::from_pg(&e));
            Member::NotRun
        }
    };
    st.conn = Some(conn);
    st.turn = None;
    batch.cv.notify_all();
    while st.finished.is_none() {
        st = batch.wait(st);
    }
    let result =
        st.finished.clone().unwrap_or(Err(BatchFailure::Other("batch ended without a result".into())));
    (member, result)
}

/// The head from the `(stream_seq, tx_time)` row of a simple-query batch (the only
/// two-column row in it), `None` if the agent has no unit.
fn head_of(messages: &[postgres::SimpleQueryMessage]) -> Result<Option<Head>, PgError> {
    let corrupt = |why: &str| PgError::Corrupt(format!("units row: {why}"));
    for m in messages {
        if let postgres::SimpleQueryMessage::Row(row) = m
            && row.len() == 2
        {
            let seq = row
                .get(0)
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| corrupt("bad stream_seq"))?;
            let tx = row.get(1).and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| corrupt("bad tx_time"))?;
            return Ok(Some(Head { seq, tx_time: credence_core::Timestamp(tx) }));
        }
    }
    Ok(None)
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
