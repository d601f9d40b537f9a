//! The write path: [`Writer::write_batch`] runs the units the engine hands over for one agent.
//!
//! A batch takes one of two paths:
//!
//! * **ahead** (`ahead`, `convoy`) — a lone unit that reads nothing but the agent's head and
//!   lines it may take as empty, when this process knows the head, is decided before any
//!   round trip and sent whole — `BEGIN`, the lock, a guard re-checking what it took for
//!   granted, its rows, `COMMIT` — in one round trip, shared with other agents' such units;
//! * **pipelined** (`pipelined`) — otherwise the units run back to back in one transaction:
//!   `BEGIN` and the agent's lock ride with the first unit's first read, each unit's rows with
//!   the next unit's first read, the last unit's with the `COMMIT` (`view`, `append`).
//!
//! When the round trip carrying a `COMMIT` breaks, the transaction is looked up before anyone
//! is answered (`lost`). Units whose append hit an OCC failure (or whose transaction did) run
//! again, together, up to `write_retries` times.
//!
//! Modules depend one way: `mod` → `pipelined` → `ahead`, `convoy` → `lost`, `append`, `view`,
//! and all of them on the crate's leaves (`session`, `read`, `sql`, `pool`, `codec`, `error`,
//! `lock`).

mod ahead;
mod append;
mod convoy;
mod lost;
mod pipelined;
mod view;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use credence_core::{Error, Head, Result, WriteUnit, telemetry};
use r2d2::PooledConnection;

use crate::error::{BACKEND, Failure, PgError, is_occ};
use crate::lock::agent_lock_key;
use crate::pool::PgManager;

pub(crate) use ahead::Knowledge;

type Pool = r2d2::Pool<PgManager>;
type Conn = PooledConnection<PgManager>;

/// Counters of committed write transactions (see [`WriteStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Write transactions committed.
    pub transactions: u64,
    /// Units (write calls) that ran inside them, including ones that wrote nothing.
    pub units: u64,
    /// Units decided before any read, on what this process knew of the agent (its head and
    /// lines taken as empty), whose transaction committed after a guard under the lock
    /// confirmed that knowledge (see `docs/semantics.md`). Alone, such a unit is written in
    /// one round trip.
    pub speculative_units: u64,
    /// Transactions with such units that failed, their guard finding the knowledge stale
    /// (another process wrote the agent, or a line was not empty); their units ran again with
    /// reads.
    pub failed_guards: u64,
    /// Units refused inside transactions shared by units of several agents (decided ahead, see
    /// `docs/semantics.md`) — their agent's lock held elsewhere, their guard failing, or the
    /// whole shared statement failing — each of which was then sent again alone.
    pub refused_in_groups: u64,
    /// Transactions (or units of a shared one) whose `COMMIT`'s answer was lost — the
    /// connection broke in the round trip that carried it — and that a lookup under the agent's
    /// lock then found committed: their units were answered as written.
    pub lost_commits_committed: u64,
    /// Such lookups that found the transaction not committed (answered `Unavailable`, or sent
    /// again when nothing but the one round trip had been sent).
    pub lost_commits_not_committed: u64,
    /// Such lookups that could not find out (answered `Unavailable` "outcome unknown").
    pub lost_commits_unknown: u64,
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    units: AtomicU64,
    speculative_units: AtomicU64,
    failed_guards: AtomicU64,
    refused_in_groups: AtomicU64,
    lost_committed: AtomicU64,
    lost_not_committed: AtomicU64,
    lost_unknown: AtomicU64,
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The write path's state shared by every write of one ledger.
#[derive(Default)]
pub(crate) struct Writer {
    counters: Counters,
    /// What this process knows of its agents' heads and lines.
    known: Knowledge,
    /// Units decided ahead waiting to share a transaction.
    convoy: convoy::Convoy,
}

/// What one unit did inside the (not yet committed) transaction.
enum Member {
    /// Rows appended; answered after the commit.
    Written(Head),
    /// The unit chose to write nothing.
    Nothing,
    /// The unit itself returned this error (nothing of it was kept).
    Unit(Error),
    /// Appending failed and was rolled back (OCC errors are retried).
    Append(PgError),
    /// The unit never ran: the transaction failed before its turn.
    NotRun,
}

/// What one unit's attempt came to, from what it did and how its transaction ended.
enum Attempt {
    Done(Result<Option<Head>>),
    Retry(String),
}

/// Only OCC failures are retried, and those come with a transaction that did not commit: a
/// transaction whose commit may have happened is settled before this (see `lost`), and one
/// that could not be settled is answered "outcome unknown", never retried.
fn attempt(member: Member, commit: &std::result::Result<(), Failure>) -> Attempt {
    match (member, commit) {
        (Member::Unit(e), _) => Attempt::Done(Err(e)),
        (Member::Nothing, _) => Attempt::Done(Ok(None)),
        (Member::Written(head), Ok(())) => Attempt::Done(Ok(Some(head))),
        (Member::Append(e), _) if is_occ(&e) => Attempt::Retry(e.to_string()),
        (Member::Append(e), _) => Attempt::Done(Err(e.into())),
        (Member::NotRun, Ok(())) => {
            Attempt::Done(Err(Error::Backend { backend: BACKEND, source: "a write unit was skipped".into() }))
        }
        (_, Err(Failure::Occ(reason))) => Attempt::Retry(reason.clone()),
        (_, Err(failure)) => Attempt::Done(Err(failure.clone().into_error())),
    }
}

fn exhausted(attempts: u32, reason: &str) -> Error {
    Error::Conflict {
        backend: BACKEND,
        reason: format!("still conflicting after {attempts} attempts: {reason}"),
    }
}

/// Sleeps before retry `attempt` (0-based): exponential from 2 ms, capped at 200 ms, with
/// jitter so competing writers spread out.
fn backoff(attempt: u32) {
    let base = 2u64.saturating_mul(1u64 << attempt.min(7)).min(200);
    let jitter = RandomState::new().build_hasher().finish() % (base + 1);
    std::thread::sleep(Duration::from_millis(base / 2 + jitter / 2 + 1));
}

impl Writer {
    /// Runs `units` of `agent` (see the module documentation), retrying those whose append
    /// or transaction hit an OCC failure up to `retries` times; one result per unit.
    pub(crate) fn write_batch(
        &self,
        pool: &Pool,
        schema: &str,
        retries: u32,
        agent: &str,
        units: &mut [&mut WriteUnit<'_>],
    ) -> Vec<Result<Option<Head>>> {
        let mut results: Vec<Option<Result<Option<Head>>>> = units.iter().map(|_| None).collect();
        let mut todo: Vec<usize> = (0..units.len()).collect();
        let mut tries = 0;
        while !todo.is_empty() {
            let mut round: Vec<&mut WriteUnit<'_>> = units
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| todo.binary_search(i).is_ok())
                .map(|(_, u)| &mut **u)
                .collect();
            let (members, commit) = self.run(pool, schema, agent, &mut round);
            drop(round);
            let mut retry = Vec::new();
            for (&i, member) in todo.iter().zip(members) {
                match attempt(member, &commit) {
                    Attempt::Done(r) => results[i] = Some(r),
                    Attempt::Retry(reason) => retry.push((i, reason)),
                }
            }
            if !retry.is_empty() {
                if tries >= retries {
                    for (i, reason) in retry.drain(..) {
                        results[i] = Some(Err(exhausted(tries + 1, &reason)));
                    }
                } else {
                    let reason = retry.first().map_or("", |(_, reason)| reason.as_str());
                    telemetry::retry(BACKEND, "conflict", retry.len(), tries, &reason);
                    backoff(tries);
                    tries += 1;
                }
            }
            todo = retry.into_iter().map(|(i, _)| i).collect();
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Backend {
                        backend: BACKEND,
                        source: "the batch returned no result for a unit".into(),
                    })
                })
            })
            .collect()
    }

    /// One attempt at `units`: ahead when that is possible, else pipelined; what each unit did
    /// and how the transaction ended. What committed is learnt, a failure forgets the head.
    fn run(
        &self,
        pool: &Pool,
        schema: &str,
        agent: &str,
        units: &mut [&mut WriteUnit<'_>],
    ) -> (Vec<Member>, std::result::Result<(), Failure>) {
        let mut members: Vec<Member> = units.iter().map(|_| Member::NotRun).collect();
        if units.is_empty() {
            return (members, Ok(()));
        }
        let lock_key = agent_lock_key(schema, agent);
        let result = match units {
            [unit] => match self.send_alone(pool, agent, lock_key, &mut **unit) {
                ahead::Alone::Done(member) => {
                    members[0] = member;
                    Ok(())
                }
                ahead::Alone::Failed(failure) => Err(failure),
                ahead::Alone::NotAhead => self.pipelined(pool, agent, lock_key, units, &mut members),
            },
            _ => self.pipelined(pool, agent, lock_key, units, &mut members),
        };
        self.learn(agent, &members, &result);
        (members, result)
    }

    /// Records the heads of units that committed; after a failed append or transaction the
    /// agent's head is forgotten (a retry then reads it instead of deciding ahead again).
    fn learn(&self, agent: &str, members: &[Member], result: &std::result::Result<(), Failure>) {
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

    /// Counts a committed transaction of `units` units, `ahead` of them decided ahead.
    fn count_commit(&self, units: usize, ahead: usize) {
        add(&self.counters.transactions, 1);
        add(&self.counters.units, units);
        add(&self.counters.speculative_units, ahead);
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> WriteStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriteStats {
            transactions: get(&c.transactions),
            units: get(&c.units),
            speculative_units: get(&c.speculative_units),
            failed_guards: get(&c.failed_guards),
            refused_in_groups: get(&c.refused_in_groups),
            lost_commits_committed: get(&c.lost_committed),
            lost_commits_not_committed: get(&c.lost_not_committed),
            lost_commits_unknown: get(&c.lost_unknown),
        }
    }
}
