//! One agent's database: its write connection, and its read pool.
//!
//! # Writes
//! The engine hands each agent's writes over in batches (`Ledger::write_batch`; concurrent
//! writes of one agent queue in the engine and their leader brings them all). A batch runs
//! under the state mutex — which also serialises callers that write the same agent outside an
//! engine — in one `BEGIN IMMEDIATE` transaction (this is where another process is waited
//! for, up to `busy_timeout`). In a batch of several, each unit runs inside its own
//! `SAVEPOINT`: a unit that fails or writes nothing is rolled back to its savepoint alone, a
//! unit that succeeds is `RELEASE`d. A unit alone in its batch runs without one (a savepoint
//! copies every page the unit changes into its journal): when it fails or writes nothing, its
//! transaction is rolled back. One `COMMIT` ends the batch (every [`MAX_BATCH`] units at most),
//! and nobody is answered before it returned: a failed `COMMIT` fails every unit that wrote in
//! it. Units of a batch run one after the other on the write connection, so each sees the rows
//! of the ones before.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use credence_core::{AgentId, ReadUnit, Result, telemetry};
use rusqlite::Connection;

use crate::config::SqliteConfig;
use crate::error::{BACKEND, SqlResult, SqliteError};
use crate::read::View;
use crate::schema::{self, Checkpoint, Pragmas, Role, Target};
use crate::turns::Turns;

/// A batch commits after this many units that wrote (the rest go in the next transaction).
const MAX_BATCH: usize = 512;

/// How long a process may keep the cross-process write turn for further batches of its own
/// (see `turns`): handing the turn over after every batch costs every process its page cache
/// (another process changed the file) and a wake-up, so a busy process keeps it this long; a
/// waiting process then waits about this long per busy process ahead of it.
const TURN_QUANTUM: Duration = Duration::from_millis(5);

/// A turn no transaction used for this long is ended by the turn reaper (a thread per agent
/// file that took a turn, waking this often).
const TURN_IDLE: Duration = Duration::from_millis(1);

/// How long an in-memory writer waits for waiting readers to start, at most.
const READER_YIELD: Duration = Duration::from_millis(20);

/// The polling interval of in-memory readers and of the writer yielding to them.
const POLL: Duration = Duration::from_micros(50);

/// Why the units of a transaction SQLite rolled back on its own failed.
fn aborted() -> SqliteError {
    SqliteError::Internal("the write transaction was aborted by SQLite".into())
}

/// Runs one statement without parameters through the statement cache (`execute_batch`
/// would parse it again on every call).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `f` again while it fails with BUSY/LOCKED, polling every [`POLL`], for at most `limit`.
/// Only the first re-run is reported (see `credence_core::telemetry::retry`): the polls after
/// it are one wait.
fn poll_busy<T>(limit: Duration, mut f: impl FnMut() -> SqlResult<T>) -> SqlResult<T> {
    let started = Instant::now();
    let mut polled = false;
    loop {
        match f() {
            Err(e) if e.is_busy() && started.elapsed() < limit => {
                if !std::mem::replace(&mut polled, true) {
                    telemetry::retry(BACKEND, "busy", 1, 0, &e);
                }
                std::thread::sleep(POLL);
            }
            other => return other,
        }
    }
}

/// Group-commit counters shared by every agent of one store.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Transactions committed (one per batch).
    pub(crate) transactions: AtomicU64,
    /// Writes acknowledged through those transactions.
    pub(crate) writes: AtomicU64,
}

/// The agent's database and its connections.
pub(crate) struct AgentDb {
    counters: Arc<Counters>,
    agent: AgentId,
    target: Target,
    config: SqliteConfig,
    schema_ready: AtomicBool,
    /// Serialises the first migration; in memory mode it keeps one connection open for the
    /// life of the store (an in-memory database vanishes with its last connection).
    keeper: Mutex<Option<Connection>>,
    /// The write connection and the turn; held for a whole batch (shared with the turn
    /// reaper, see [`AgentDb::take_turn`]).
    state: Arc<Mutex<WriteState>>,
    readers: Mutex<Vec<Connection>>,
    /// Readers waiting to start a read transaction (memory mode).
    readers_waiting: AtomicUsize,
    /// Why the agent's file cannot be written (a read-only directory, file or file system),
    /// found once: then reads open it frozen (`Role::Frozen`) and writes fail `ReadOnly`.
    read_only: std::sync::OnceLock<Option<String>>,
    /// This file's cross-process turns (see `turns`), opened with the first write; `None` in
    /// memory and with `fair_writers` off.
    turns: Mutex<Option<Arc<Turns>>>,
}

#[derive(Default)]
struct WriteState {
    conn: Option<Connection>,
    /// A write transaction is open on `conn`.
    in_transaction: bool,
    commits_since_checkpoint: u64,
    /// Since when this process holds the agent's cross-process write turn (see `turns`).
    turn_since: Option<Instant>,
    /// When the last transaction of the turn ended.
    turn_idle_since: Option<Instant>,
    /// A turn reaper thread runs (see [`AgentDb::start_reaper`]).
    reaping: bool,
    /// Set when a unit of the current batch waited `busy_timeout` for the turn in vain: its
    /// other units fail at once instead of each waiting again.
    turn_refused: Option<String>,
}

/// One unit's work on the write connection: `Some` to keep what it wrote. (Its body's panics
/// are caught inside it, by `credence_core::run_unit`.)
pub(crate) type MemberOp<'a, T> = dyn FnMut(&Connection) -> Result<Option<T>> + 'a;

/// What one unit came to before the commit.
enum Member<T> {
    /// It wrote; its value is answered once the transaction commits.
    Joined(T),
    /// It is finished: wrote nothing, failed, or could not start.
    Alone(Result<Option<T>>),
}

const SAVEPOINT: &str = "SAVEPOINT credence_unit";
const RELEASE: &str = "RELEASE credence_unit";
const ROLLBACK_UNIT: &str = "ROLLBACK TO credence_unit; RELEASE credence_unit";

impl AgentDb {
    pub(crate) fn new(
        agent: AgentId,
        target: Target,
        config: SqliteConfig,
        counters: Arc<Counters>,
    ) -> AgentDb {
        AgentDb {
            counters,
            agent,
            target,
            config,
            schema_ready: AtomicBool::new(false),
            keeper: Mutex::new(None),
            state: Arc::new(Mutex::new(WriteState::default())),
            readers: Mutex::new(Vec::new()),
            readers_waiting: AtomicUsize::new(0),
            read_only: std::sync::OnceLock::new(),
            turns: Mutex::new(None),
        }
    }

    /// The agent.
    pub(crate) fn agent(&self) -> &AgentId {
        &self.agent
    }

    /// Waits for this process's turn to write the file (see `turns`), at most `busy_timeout`.
    /// Holds nothing in memory or with `fair_writers` off.
    fn take_turn(&self) -> SqlResult<Option<Arc<Turns>>> {
        let Target::File(path) = &self.target else { return Ok(None) };
        if !self.config.fair_writers {
            return Ok(None);
        }
        let turns = {
            let mut slot = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(t) => t.clone(),
                None => {
                    let t = Arc::new(Turns::new(path));
                    *slot = Some(t.clone());
                    t
                }
            }
        };
        match turns.take(self.config.busy_timeout) {
            Ok(true) => Ok(Some(turns)),
            Ok(false) => Err(SqliteError::TurnTimeout(format!(
                "another process kept the write turn of {} for longer than busy_timeout ({:?})",
                path.display(),
                self.config.busy_timeout
            ))),
            Err(e) => Err(SqliteError::io(format!("waiting for the write turn of {}", path.display()))(e)),
        }
    }

    /// Takes the write turn before a transaction, unless this process still holds it; a turn
    /// held longer than [`TURN_QUANTUM`] is handed on first (another process waiting gets it).
    fn begin_turn(&self, st: &mut WriteState) -> SqlResult<()> {
        if st.turn_since.is_some_and(|t| t.elapsed() >= TURN_QUANTUM) {
            self.end_turn(st);
        }
        if st.turn_since.is_none() && self.take_turn()?.is_some() {
            st.turn_since = Some(Instant::now());
        }
        st.turn_idle_since = None;
        Ok(())
    }

    /// Ends this process's turn; nothing when none is held.
    fn end_turn(&self, st: &mut WriteState) {
        if st.turn_since.take().is_none() {
            return;
        }
        st.turn_idle_since = None;
        let turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(t) = turns {
            t.end();
        }
    }

    /// After a transaction ended: a turn another process waits for is kept for this process's
    /// next transactions while it is younger than [`TURN_QUANTUM`] (the turn reaper ends it if
    /// none comes within [`TURN_IDLE`]); any other turn ends now.
    fn rest_turn(&self, st: &mut WriteState) {
        let Some(since) = st.turn_since else { return };
        let turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let keep = since.elapsed() < TURN_QUANTUM && turns.as_ref().is_some_and(|t| t.contended());
        if keep && let Some(turns) = turns {
            if !st.reaping {
                st.reaping = self.start_reaper(turns);
            }
            if st.reaping {
                st.turn_idle_since = Some(Instant::now());
                return;
            }
        }
        self.end_turn(st);
    }

    /// Starts the thread that ends this process's turn once no transaction used it for
    /// [`TURN_IDLE`]. It stops with the turn (a later turn starts another) or when the agent is
    /// closed, so an idle process runs no thread.
    fn start_reaper(&self, turns: Arc<Turns>) -> bool {
        let state = Arc::downgrade(&self.state);
        let spawned = std::thread::Builder::new().name("credence-turn-reaper".into()).spawn(move || {
            loop {
                std::thread::sleep(TURN_IDLE);
                let Some(state) = state.upgrade() else { return };
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                let idle = !st.in_transaction && st.turn_idle_since.is_some_and(|t| t.elapsed() >= TURN_IDLE);
                if idle && st.turn_since.take().is_some() {
                    st.turn_idle_since = None;
                    turns.end();
                }
                if st.turn_since.is_none() {
                    st.reaping = false;
                    return;
                }
            }
        });
        spawned.is_ok()
    }

    /// Why the agent's file cannot be written, if it cannot (always `None` in memory).
    fn read_only(&self) -> Option<&str> {
        let reason = self.read_only.get_or_init(|| match &self.target {
            Target::File(path) => schema::read_only_reason(path),
            Target::Memory(_) => None,
        });
        reason.as_deref()
    }

    /// The role of read connections: frozen on a store that cannot be written.
    fn reader_role(&self) -> Role {
        if self.read_only().is_some() { Role::Frozen } else { Role::Reader }
    }

    /// Makes the schema current before a write; `ReadOnly` on a store that cannot be written.
    fn ensure_writable(&self) -> SqlResult<()> {
        if let Some(reason) = self.read_only() {
            return Err(SqliteError::ReadOnly(reason.to_owned()));
        }
        self.ensure_schema()
    }

    /// Makes the schema current before a read; on a store that cannot be written, checks
    /// instead that the file needs no migration.
    fn ensure_readable(&self) -> SqlResult<()> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.read_only() {
            Some(reason) => {
                let conn = schema::open(&self.target, Role::Frozen, &self.config)?;
                schema::check_frozen(&conn, self.agent.as_str(), reason)?;
                self.schema_ready.store(true, Ordering::Release);
                Ok(())
            }
            None => self.ensure_schema(),
        }
    }

    fn ensure_schema(&self) -> SqlResult<()> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut keeper = self.keeper.lock().unwrap_or_else(PoisonError::into_inner);
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Target::File(path) = &self.target
            && !path.exists()
        {
            schema::create_file(path, self.agent.as_str(), &self.config)?;
        }
        let mut conn = schema::open(&self.target, Role::Writer, &self.config)?;
        schema::migrate(&mut conn, self.agent.as_str(), self.config.busy_timeout)?;
        if matches!(self.target, Target::Memory(_)) {
            *keeper = Some(conn);
        }
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    fn lock_state(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` as a batch of one.
    pub(crate) fn write<T>(&self, op: &mut MemberOp<'_, T>) -> Result<Option<T>> {
        self.write_many(&mut [op])
            .pop()
            .unwrap_or_else(|| Err(SqliteError::Internal("a write produced no result".into()).into()))
    }

    /// Runs `ops` one after the other in one transaction on the write connection (a new one
    /// every [`MAX_BATCH`] units that wrote), each in its own savepoint, and returns each
    /// one's result in order once its transaction committed.
    pub(crate) fn write_many<T>(&self, ops: &mut [&mut MemberOp<'_, T>]) -> Vec<Result<Option<T>>> {
        if let Err(e) = self.ensure_writable() {
            let e = credence_core::Error::from(e);
            return ops.iter().map(|_| Err(e.replicate())).collect();
        }
        // The lock wait of the batch's first transaction counts from asking for the state mutex.
        let mut asked = Some(Instant::now());
        let mut st = self.lock_state();
        st.turn_refused = None;
        let mut out: Vec<Option<Result<Option<T>>>> = ops.iter().map(|_| None).collect();
        // The units that wrote in the open transaction, answered when it ends.
        let mut joined: Vec<(usize, T)> = Vec::new();
        // A unit alone in its batch needs no savepoint: when it fails, its whole transaction
        // is rolled back (a savepoint copies every page the unit changes into its journal).
        let alone = ops.len() == 1;
        for (i, op) in ops.iter_mut().enumerate() {
            match self.run_member(&mut st, &mut **op, &mut asked, alone) {
                Member::Joined(value) => joined.push((i, value)),
                Member::Alone(result) => out[i] = Some(result),
            }
            if !st.in_transaction {
                // SQLite rolled the whole transaction back (I/O error, full disk, …): every
                // unit that had written in it fails.
                for (j, _) in joined.drain(..) {
                    out[j] = Some(Err(aborted().into()));
                }
            }
            if joined.len() >= MAX_BATCH {
                self.commit(&mut st, &mut joined, &mut out);
            }
        }
        self.commit(&mut st, &mut joined, &mut out);
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(SqliteError::Internal("a unit produced no result".into()).into()))
            })
            .collect()
    }

    /// Runs `op`, in a new transaction if none is open, in its own savepoint unless it is
    /// `alone` in the transaction; `asked` is when the lock was asked for (taken by the first
    /// transaction; later ones count from their own start).
    fn run_member<T>(
        &self,
        st: &mut WriteState,
        op: &mut MemberOp<'_, T>,
        asked: &mut Option<Instant>,
        alone: bool,
    ) -> Member<T> {
        if st.conn.is_none() {
            match schema::open(&self.target, Role::Writer, &self.config) {
                Ok(conn) => st.conn = Some(conn),
                Err(e) => return Member::Alone(Err(e.into())),
            }
        }
        if !st.in_transaction {
            if matches!(self.target, Target::Memory(_)) {
                self.yield_to_readers();
            }
            self.checkpoint_if_due(st);
            // The wait for the agent's lock: this process's other writers (the state mutex), the
            // cross-process turn and `BEGIN IMMEDIATE`.
            let asked = asked.take().unwrap_or_else(Instant::now);
            // Within one batch, a turn waited for in vain is not waited for again per unit.
            if let Some(reason) = &st.turn_refused {
                return Member::Alone(Err(SqliteError::TurnTimeout(reason.clone()).into()));
            }
            if let Err(e) = self.begin_turn(st) {
                if let SqliteError::TurnTimeout(reason) = &e {
                    st.turn_refused = Some(reason.clone());
                }
                return Member::Alone(Err(e.into()));
            }
            let begun = st.conn.as_ref().map(|c| run_cached(c, "BEGIN IMMEDIATE"));
            if let Some(Err(e)) = begun {
                self.end_turn(st);
                return Member::Alone(Err(SqliteError::sqlite("starting the write transaction")(e).into()));
            }
            telemetry::lock_wait(BACKEND, asked.elapsed());
            st.in_transaction = true;
        }
        let Some(conn) = st.conn.as_ref() else {
            return Member::Alone(Err(SqliteError::Internal("write connection missing".into()).into()));
        };
        if alone {
            // Nothing else is in the transaction: when the unit fails or writes nothing,
            // `commit` rolls all of it back.
            let member = match op(conn) {
                Ok(Some(value)) => Member::Joined(value),
                other => Member::Alone(other),
            };
            return self.after_member(st, member);
        }
        let result = match run_cached(conn, SAVEPOINT) {
            Ok(()) => op(conn),
            Err(e) => Err(SqliteError::sqlite("opening the unit's savepoint")(e).into()),
        };
        let member = match result {
            Ok(Some(value)) => match run_cached(conn, RELEASE) {
                Ok(()) => Member::Joined(value),
                Err(e) => {
                    let _ = conn.execute_batch(ROLLBACK_UNIT);
                    Member::Alone(Err(SqliteError::sqlite("releasing the unit's savepoint")(e).into()))
                }
            },
            other => {
                let _ = conn.execute_batch(ROLLBACK_UNIT);
                Member::Alone(other)
            }
        };
        self.after_member(st, member)
    }

    /// A unit ran: when SQLite rolled the transaction back meanwhile (see `write_many`), the
    /// turn ends with it and a unit that wrote fails, its writes gone.
    fn after_member<T>(&self, st: &mut WriteState, member: Member<T>) -> Member<T> {
        if st.conn.as_ref().is_some_and(Connection::is_autocommit) {
            // SQLite ended the transaction itself (see `write_many`).
            st.in_transaction = false;
            self.end_turn(st);
            if let Member::Joined(_) = member {
                return Member::Alone(Err(aborted().into()));
            }
        }
        member
    }

    /// In memory mode, lets readers that are waiting start before the next write
    /// transaction (bounded, so a stream of readers cannot starve the writer).
    fn yield_to_readers(&self) {
        let started = Instant::now();
        while self.readers_waiting.load(Ordering::SeqCst) > 0 && started.elapsed() < READER_YIELD {
            std::thread::sleep(POLL);
        }
    }

    /// Ends the open transaction: commits it when units wrote in it (answering each of them
    /// in `out`), rolls it back when none did.
    fn commit<T>(
        &self,
        st: &mut WriteState,
        joined: &mut Vec<(usize, T)>,
        out: &mut [Option<Result<Option<T>>>],
    ) {
        if !st.in_transaction {
            return;
        }
        st.in_transaction = false;
        let Some(conn) = st.conn.as_ref() else {
            for (i, _) in joined.drain(..) {
                out[i] = Some(Err(SqliteError::Internal("write connection missing at commit".into()).into()));
            }
            self.end_turn(st);
            return;
        };
        if joined.is_empty() {
            let _ = conn.execute_batch("ROLLBACK");
            self.rest_turn(st);
            return;
        }
        // BUSY leaves the transaction open (rolled back below): nothing was committed. After any
        // other failure SQLite does not tell whether the frames it wrote will count.
        let outcome = run_cached(conn, "COMMIT").map_err(|e| {
            let e = SqliteError::sqlite("committing")(e);
            if e.is_busy() { e } else { SqliteError::CommitUnknown(Box::new(e)) }
        });
        if outcome.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        // The turn rests: the next batch of this process may use it (see `rest_turn`).
        self.rest_turn(st);
        let members = u64::try_from(joined.len()).unwrap_or(u64::MAX);
        match outcome {
            Ok(()) => {
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
                self.counters.writes.fetch_add(members, Ordering::Relaxed);
                for (i, value) in joined.drain(..) {
                    out[i] = Some(Ok(Some(value)));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (i, _) in joined.drain(..) {
                    out[i] = Some(Err(SqliteError::Batch(e.clone()).into()));
                }
            }
        }
        st.commits_since_checkpoint += members;
    }

    /// Folds the WAL back into the database every `checkpoint_every_n_commits` units, before
    /// the next transaction (so a batch's callers are not kept waiting for it). Passive: never
    /// waits for readers; keeps the WAL from growing without bound.
    fn checkpoint_if_due(&self, st: &mut WriteState) {
        if matches!(self.target, Target::File(_))
            && st.commits_since_checkpoint >= self.config.checkpoint_every_n_commits
        {
            st.commits_since_checkpoint = 0;
            if let Some(conn) = st.conn.as_ref() {
                let _ = schema::checkpoint(conn, Checkpoint::Passive);
            }
        }
    }

    /// The PRAGMAs of the write connection and of one read connection.
    pub(crate) fn pragmas(&self) -> Result<(Pragmas, Pragmas)> {
        self.ensure_schema()?;
        let writer = {
            let mut st = self.lock_state();
            if st.conn.is_none() {
                st.conn = Some(schema::open(&self.target, Role::Writer, &self.config)?);
            }
            match st.conn.as_ref() {
                Some(conn) => schema::read_pragmas(conn)?,
                None => return Err(SqliteError::Internal("write connection missing".into()).into()),
            }
        };
        let conn = self.take_reader()?;
        let reader = schema::read_pragmas(&conn)?;
        self.return_reader(conn);
        Ok((writer, reader))
    }

    fn take_reader(&self) -> SqlResult<Connection> {
        let pooled = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => schema::open(&self.target, self.reader_role(), &self.config),
        }
    }

    fn return_reader(&self, conn: Connection) {
        // A frozen reader may be `immutable` (blind to later writes): it serves one read only.
        if conn.is_autocommit() && self.reader_role() != Role::Frozen {
            let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < self.config.read_pool_size {
                pool.push(conn);
            }
        }
    }

    /// Runs `f` in one read transaction on a pooled read-only connection.
    pub(crate) fn read(&self, f: &mut ReadUnit<'_>) -> Result<()> {
        self.ensure_readable()?;
        // BEGIN + a first read pins one snapshot for every query `f` makes.
        let begin = |conn: &Connection| {
            conn.execute_batch("BEGIN DEFERRED")
                .and_then(|()| conn.query_row("SELECT count(*) FROM agent", [], |_| Ok(())))
                .map_err(|e| {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    SqliteError::sqlite("starting a read transaction")(e)
                })
        };
        let conn = if matches!(self.target, Target::Memory(_)) {
            // `memdb` has no WAL: an open write transaction keeps new readers out (even a new
            // connection reading the schema). Readers poll finely (their busy_timeout is 0)
            // and the writer yields to waiting readers before its next transaction, so a
            // reader waits for at most about one batch.
            self.readers_waiting.fetch_add(1, Ordering::SeqCst);
            let limit = self.config.busy_timeout;
            let started = poll_busy(limit, || self.take_reader())
                .and_then(|conn| poll_busy(limit, || begin(&conn)).map(|()| conn));
            self.readers_waiting.fetch_sub(1, Ordering::SeqCst);
            started?
        } else {
            let conn = self.take_reader()?;
            schema::retry_busy(self.config.busy_timeout, || begin(&conn))?;
            conn
        };
        let result = f(&View::new(&conn, &self.agent));
        let _ = conn.execute_batch("COMMIT");
        self.return_reader(conn);
        result
    }
}

impl Drop for AgentDb {
    fn drop(&mut self) {
        // Closing an idle agent: fold the WAL back into the database first, and end a turn it
        // still holds (the reaper stops once the state is gone).
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(self.target, Target::File(_))
            && let Some(conn) = st.conn.as_ref()
        {
            let _ = schema::checkpoint(conn, Checkpoint::Truncate);
        }
        self.end_turn(&mut st);
    }
}
