//! Writers of different processes take turns (SPEC §5.2).
//!
//! SQLite's busy handler polls: a process that commits and begins again at once re-takes the
//! write lock before a waiting process wakes, so one busy process can starve another. Each agent
//! file therefore has two lock files beside it, locked with the operating system's blocking file
//! locks (`flock`):
//!
//! * `<file>-turn` is held from `BEGIN IMMEDIATE` to `COMMIT` (the writer's turn);
//! * `<file>-queue` is the line in front of it: a writer takes the queue, then the turn, then
//!   leaves the queue.
//!
//! The writer whose turn ends cannot take the next one at once: to get in line it needs the
//! queue, which the writer waiting for the turn holds until the turn is handed to it. So the turn
//! goes to a waiting process before it comes back. Within one process the group commit still
//! gathers every waiting thread's writes into one transaction.
//!
//! A process keeps its turn for further transactions of its own for up to 5 ms (`TURN_QUANTUM`
//! in `agent`): handing it over after every transaction costs every process its page cache and
//! a wake-up, which cost a third of the throughput of six busy processes. A turn no transaction
//! used for 1 ms is ended by a reaper thread, so an idle process never keeps others waiting.
//!
//! Waits are bounded by `busy_timeout`: the blocking lock is taken on a helper thread, and a
//! caller that gives up leaves the helper to release what it gets.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The two lock files of one agent file.
#[derive(Debug)]
pub(crate) struct Turns {
    queue: File,
    turn: File,
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock files of the agent file at `path` (they are never agent files themselves).
pub(crate) fn lock_files(path: &Path) -> [PathBuf; 2] {
    [beside(path, "-queue"), beside(path, "-turn")]
}

impl Turns {
    /// Opens (creating) the lock files of the agent file at `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<Turns> {
        let open = |p: &Path| {
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(p)
        };
        let [queue, turn] = lock_files(path);
        Ok(Turns { queue: open(&queue)?, turn: open(&turn)? })
    }

    /// Waits for this process's turn: the queue, then the turn, then leaves the queue.
    /// `Ok(false)` when `timeout` passed first (nothing is held then).
    pub(crate) fn take(&self, timeout: Duration) -> std::io::Result<bool> {
        let started = std::time::Instant::now();
        if !lock_within(&self.queue, timeout)? {
            return Ok(false);
        }
        let got = lock_within(&self.turn, timeout.saturating_sub(started.elapsed()));
        let left = self.queue.unlock();
        let got = got?;
        left?;
        Ok(got)
    }

    /// Ends the turn.
    pub(crate) fn end(&self) -> std::io::Result<()> {
        self.turn.unlock()
    }
}

/// Takes `file`'s exclusive lock, waiting at most `timeout`; `Ok(false)` when it did not get it.
fn lock_within(file: &File, timeout: Duration) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => return Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // The blocking wait runs on a helper thread holding a duplicate of the descriptor (the lock
    // belongs to the shared open file, so a lock it takes is this one's). Whether the caller
    // gave up is decided under one mutex with the helper's report: a lock the helper gets after
    // that is released again, never left held.
    #[derive(Default)]
    struct Wait {
        gave_up: bool,
        result: Option<std::io::Result<()>>,
    }
    let waiter = file.try_clone()?;
    let shared = Arc::new((Mutex::new(Wait::default()), Condvar::new()));
    let helper = shared.clone();
    std::thread::spawn(move || {
        let locked = waiter.lock();
        let (state, cv) = &*helper;
        let mut wait = state.lock().unwrap_or_else(PoisonError::into_inner);
        if wait.gave_up {
            if locked.is_ok() {
                let _ = waiter.unlock();
            }
        } else {
            wait.result = Some(locked);
            cv.notify_all();
        }
    });
    let (state, cv) = &*shared;
    let wait = state.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut wait, _) =
        cv.wait_timeout_while(wait, timeout, |w| w.result.is_none()).unwrap_or_else(PoisonError::into_inner);
    match wait.result.take() {
        Some(locked) => locked.map(|()| true),
        None => {
            wait.gave_up = true;
            Ok(false)
        }
    }
}
