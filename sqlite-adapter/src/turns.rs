//! Writers of different processes take turns (SPEC §5.2).
//!
//! SQLite's busy handler polls: a process that commits and begins again at once re-takes the
//! write lock before a waiting process wakes, so one busy process can starve another. Each agent
//! file therefore has two lock files beside it, locked with the operating system's blocking file
//! locks (`flock`):
//!
//! * `<file>-turn` is held while the process writes (its turn);
//! * `<file>-queue` is the line in front of it: a writer takes the queue, then the turn, then
//!   leaves the queue.
//!
//! The process ending its turn cannot take the next one while another process waits in the
//! queue for it: to get in line it needs the queue, which that waiting process holds until the
//! turn is handed to it. (Among several processes waiting for the queue itself the operating
//! system picks; none of them waits behind more than one turn of each other process.)
//!
//! A turn nobody waits for ends with its transaction (two cheap lock calls per transaction).
//! While another process waits, a process keeps its turn for further transactions of its own
//! for up to 5 ms (`TURN_QUANTUM` in `agent`): handing it over after every transaction costs
//! every process its page cache and a wake-up, which cost a third of the throughput of six busy
//! processes. A kept turn no transaction used for 1 ms is ended by a reaper thread, so an idle
//! process never keeps others waiting.
//!
//! A lock free at once is taken on a descriptor kept open; a lock that must be waited for is
//! taken on a descriptor opened for that one wait: a wait given up (after `busy_timeout`) is
//! finished by a helper thread that releases what it gets, without touching any lock this
//! process holds or takes later. The lock files are opened read-only when they exist (a lock
//! needs no write access), so users who share a store can all lock them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The two lock files of one agent file, and the turn while this process holds it.
#[derive(Debug)]
pub(crate) struct Turns {
    queue: Lock,
    turn: Lock,
    held: Mutex<Option<Held>>,
}

/// One lock file: its path and a descriptor kept open for locks taken without waiting.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    kept: Mutex<Option<Arc<File>>>,
}

/// A lock this process holds: on the kept descriptor, or on one opened for a wait.
#[derive(Debug)]
enum Held {
    Kept(Arc<File>),
    Waited(File),
}

impl Held {
    /// Releases the lock.
    fn release(self) {
        match self {
            Held::Kept(f) => {
                let _ = f.unlock();
            }
            // Closing the descriptor releases its lock.
            Held::Waited(f) => drop(f),
        }
    }
}

impl Lock {
    fn new(path: PathBuf) -> Lock {
        Lock { path, kept: Mutex::new(None) }
    }

    /// The kept descriptor, opened on first use.
    fn kept(&self) -> std::io::Result<Arc<File>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = &*kept {
            return Ok(f.clone());
        }
        let f = Arc::new(open_lock(&self.path)?);
        *kept = Some(f.clone());
        Ok(f)
    }

    /// Takes the lock at once on the kept descriptor, else waits at most `timeout` on a
    /// descriptor of its own (a wait given up is finished and released by a helper thread,
    /// never touching the kept descriptor). `None` when the wait was given up.
    fn take(&self, timeout: Duration) -> std::io::Result<Option<Held>> {
        let kept = self.kept()?;
        match kept.try_lock() {
            Ok(()) => return Ok(Some(Held::Kept(kept))),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        Ok(lock_within(open_lock(&self.path)?, timeout)?.map(Held::Waited))
    }

    /// True when another holds the lock (a process waits in the queue, say).
    fn taken_elsewhere(&self) -> bool {
        let Ok(kept) = self.kept() else { return false };
        match kept.try_lock() {
            Ok(()) => {
                let _ = kept.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens a lock file: read-only when it exists, else creating it.
fn open_lock(path: &Path) -> std::io::Result<File> {
    match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)
        }
        other => other,
    }
}

impl Turns {
    /// The turns of the agent file at `path` (its lock files are opened when first needed).
    pub(crate) fn new(path: &Path) -> Turns {
        Turns {
            queue: Lock::new(beside(path, "-queue")),
            turn: Lock::new(beside(path, "-turn")),
            held: Mutex::new(None),
        }
    }

    /// Waits for this process's turn: the queue, then the turn, then leaves the queue.
    /// `Ok(false)` when `timeout` passed first (nothing is held then).
    pub(crate) fn take(&self, timeout: Duration) -> std::io::Result<bool> {
        let started = Instant::now();
        let Some(queue) = self.queue.take(timeout)? else { return Ok(false) };
        let turn = self.turn.take(timeout.saturating_sub(started.elapsed()));
        queue.release();
        match turn? {
            Some(turn) => {
                *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(turn);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// True when another process waits for the turn (it holds the queue).
    pub(crate) fn contended(&self) -> bool {
        self.queue.taken_elsewhere()
    }

    /// Ends the turn (nothing when none is held).
    pub(crate) fn end(&self) {
        if let Some(held) = self.held.lock().unwrap_or_else(PoisonError::into_inner).take() {
            held.release();
        }
    }
}

/// Takes `file`'s exclusive lock, waiting at most `timeout`: the file, locked, or `None` when
/// the wait was given up.
fn lock_within(file: File, timeout: Duration) -> std::io::Result<Option<File>> {
    match file.try_lock() {
        Ok(()) => return Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // The blocking wait runs on a helper thread that owns the descriptor. Whether the caller
    // gave up is decided under one mutex with the helper's report: a lock the helper gets after
    // that is released with its descriptor, which nothing else uses.
    #[derive(Default)]
    struct Wait {
        gave_up: bool,
        result: Option<std::io::Result<File>>,
    }
    let shared = Arc::new((Mutex::new(Wait::default()), Condvar::new()));
    let helper = shared.clone();
    std::thread::Builder::new().name("credence-turn-wait".into()).spawn(move || {
        let locked = file.lock().map(|()| file);
        let (state, cv) = &*helper;
        let mut wait = state.lock().unwrap_or_else(PoisonError::into_inner);
        if !wait.gave_up {
            wait.result = Some(locked);
            cv.notify_all();
        }
    })?;
    let (state, cv) = &*shared;
    let wait = state.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut wait, _) =
        cv.wait_timeout_while(wait, timeout, |w| w.result.is_none()).unwrap_or_else(PoisonError::into_inner);
    match wait.result.take() {
        Some(locked) => locked.map(Some),
        None => {
            wait.gave_up = true;
            Ok(None)
        }
    }
}
