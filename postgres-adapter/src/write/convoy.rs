//! One-round-trip writes of different agents sharing a transaction.
//!
//! A lone unit decided ahead (see `ahead`) is finished SQL — its guard and its
//! rows — that needs only `BEGIN`, the agent's lock and `COMMIT` around it. A sender leads a
//! group at once while fewer than [`MAX_IN_FLIGHT`] groups are being sent; otherwise its unit
//! queues, and when a leader's round trip is done it hands the lead to the oldest queued unit,
//! which takes every queued unit (up to [`MAX_GROUP`]) into one transaction sent in one round
//! trip — every lock in one statement, every guard and row in another. So with many writers
//! of different agents, one commit (and one WAL flush) covers many agents' writes and the
//! server runs two statements per group instead of three per unit.
//!
//! Locks are taken with `pg_try_advisory_xact_lock`: a group never waits for a lock, so a
//! unit never waits for another agent's lock, and two processes cannot deadlock on each
//! other's groups. The first statement records which locks the transaction got; the insert
//! statement then writes only the units whose lock it got and whose guard passes, and names
//! them. So a unit whose agent's lock is held elsewhere, or whose knowledge is stale, is
//! refused alone while the rest of its group commits; it is then sent again by its own
//! thread, alone, waiting for its own agent's lock (see `Writer::send_alone`). Only a failure
//! of the whole statement (a claim that already exists) fails the group; after a connection
//! lost while committing — or a leader that stopped — each unit looks up its own outcome
//! (see `lost`).
//!
//! At most one unit per agent is queued or in flight: a unit of an agent that already has one
//! there was decided at the same head, so it cannot pass its guard; it is answered
//! [`Sent::Busy`] at once and takes the normal path (reads under the lock) instead.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use credence_core::{ClaimRef, Head, telemetry};

use super::{Pool, Writer};
use crate::codec::{LineKey, UnitMark, UnitRows};
use crate::error::{BACKEND, Failure};
use crate::lock::Lock;
use crate::pool::begin_fresh;
use crate::{session, sql};

/// Most units in one shared transaction.
pub(crate) const MAX_GROUP: usize = 64;
/// Most groups being sent at once. One is too few: the server runs a group's statements one
/// after another on one backend, so while a large group runs, another core would idle. (On 2
/// cores, 64 writers of 64 agents: 2 was about 5–10 % faster than 1, 3 or 4.)
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// A unit decided ahead (see `ahead`), ready to send.
#[derive(Clone)]
pub(crate) struct Ready {
    /// The agent's id.
    pub(crate) agent: String,
    /// The agent's advisory-lock key.
    pub(crate) lock_key: i64,
    /// The head the unit was decided at, and the lines it took as empty (its guard).
    pub(crate) head: Option<Head>,
    pub(crate) assumed_empty: Arc<[LineKey]>,
    /// Its rows. (Shared: a unit refused in its group is sent again from a copy.)
    pub(crate) rows: Arc<UnitRows>,
    /// The claims whose liveness it changes (`Append::touched_claims`), and its own index
    /// update (`sql::live_for_unit`, used when it is sent alone).
    pub(crate) touched: Arc<[ClaimRef]>,
    pub(crate) live: Option<Arc<str>>,
    /// The unit as it is recognised in the store, to find out whether a commit whose answer
    /// was lost went through.
    pub(crate) mark: UnitMark,
}

/// What sending a group came to.
#[derive(Clone, Debug)]
pub(crate) enum Sent {
    /// Committed, every unit of it written.
    Committed,
    /// Committed, but only the units of these agents were written; the others were refused
    /// (their agent's lock was held elsewhere, or their guard failed).
    Partly(Arc<HashSet<String>>),
    /// A statement failed (a lock held elsewhere, a guard, an insert) and the transaction
    /// was rolled back.
    Refused,
    /// The connection broke in the round trip that carried the `COMMIT` (why), or the leader
    /// stopped: the outcome is unknown until looked up.
    Lost(String),
    /// The server, the pool or the connection is unavailable.
    Failed(Failure),
    /// Not sent: a unit of the same agent is queued or in flight.
    Busy,
}

impl Sent {
    /// What the group's outcome means for the unit of `agent`.
    pub(crate) fn for_agent(&self, agent: &str) -> Sent {
        match self {
            Sent::Partly(written) if written.contains(agent) => Sent::Committed,
            Sent::Partly(_) => Sent::Refused,
            other => other.clone(),
        }
    }
}

enum SlotState {
    Waiting,
    /// Lead a group starting with this (the sender's own) unit.
    Lead(Ready),
    Done(Sent),
}

struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
}

impl Slot {
    fn set(&self, next: SlotState) {
        *lock(&self.state) = next;
        self.wake.notify_one();
    }
}

struct Queued {
    unit: Ready,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    /// Groups being sent (or senders told to lead one), at most [`MAX_IN_FLIGHT`].
    leaders: usize,
    /// The agents with a unit queued or in flight.
    agents: HashSet<String>,
}

/// The queue of units decided ahead waiting to be sent.
#[derive(Default)]
pub(crate) struct Convoy {
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Convoy {
    /// Sends `unit` in a group, leading one at once when fewer than [`MAX_IN_FLIGHT`] are
    /// being sent; `send` sends a group in one transaction. Returns what became of the group,
    /// or [`Sent::Busy`] when a unit of the same agent is queued or in flight.
    pub(crate) fn send(&self, unit: Ready, send: &dyn Fn(&[Ready]) -> Sent) -> Sent {
        let slot = {
            let mut st = lock(&self.state);
            if !st.agents.insert(unit.agent.clone()) {
                return Sent::Busy;
            }
            if st.leaders < MAX_IN_FLIGHT {
                st.leaders += 1;
                drop(st);
                return self.lead(unit, send);
            }
            let slot = Arc::new(Slot { state: Mutex::new(SlotState::Waiting), wake: Condvar::new() });
            st.queue.push_back(Queued { unit, slot: Arc::clone(&slot) });
            slot
        };
        let mut state = lock(&slot.state);
        loop {
            match std::mem::replace(&mut *state, SlotState::Waiting) {
                SlotState::Waiting => state = slot.wake.wait(state).unwrap_or_else(PoisonError::into_inner),
                SlotState::Lead(unit) => {
                    drop(state);
                    return self.lead(unit, send);
                }
                SlotState::Done(sent) => return sent,
            }
        }
    }

    /// Sends a group of `first` (the leader's own unit) and every queued unit (up to
    /// [`MAX_GROUP`]), then passes the lead on and answers the group.
    fn lead(&self, first: Ready, send: &dyn Fn(&[Ready]) -> Sent) -> Sent {
        let (units, slots) = self.take_group(first);
        let agents = units.iter().map(|u| u.agent.clone()).collect();
        let mut pass = PassOn { convoy: self, slots: &slots, agents, sent: None };
        let sent = send(&units);
        let own = sent.for_agent(&units[0].agent);
        pass.sent = Some(sent);
        own
    }

    /// `first` and the oldest queued units, up to [`MAX_GROUP`] in all; the rest stay queued
    /// in order. Returns the units and the slots of their senders (all but the leader's).
    fn take_group(&self, first: Ready) -> (Vec<Ready>, Vec<Arc<Slot>>) {
        let mut st = lock(&self.state);
        let more = st.queue.len().min(MAX_GROUP - 1);
        let (mut units, mut slots) = (Vec::with_capacity(more + 1), Vec::with_capacity(more));
        units.push(first);
        for q in st.queue.drain(..more) {
            units.push(q.unit);
            slots.push(q.slot);
        }
        (units, slots)
    }
}

/// Passes the lead to the oldest queued unit (or leaves one fewer group in flight), releases
/// the group's agents and answers every follower of the group — also when the leader unwinds
/// (then [`Sent::Lost`]: the transaction may have committed, each unit looks itself up).
struct PassOn<'a> {
    convoy: &'a Convoy,
    slots: &'a [Arc<Slot>],
    agents: Vec<String>,
    sent: Option<Sent>,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.convoy.state);
            for agent in &self.agents {
                st.agents.remove(agent);
            }
            match st.queue.pop_front() {
                Some(next) => next.slot.set(SlotState::Lead(next.unit)),
                None => st.leaders = st.leaders.saturating_sub(1),
            }
        }
        let sent = self
            .sent
            .take()
            .unwrap_or_else(|| Sent::Lost("the leader of a shared transaction stopped".into()));
        // The leader's agent is first; the slots are the other units', in order.
        for (slot, agent) in self.slots.iter().zip(self.agents.iter().skip(1)) {
            slot.set(SlotState::Done(sent.for_agent(agent)));
        }
    }
}

impl Writer {
    /// Sends a group of units decided ahead in one transaction and one round trip, taking the
    /// lock of a group of one as `how` says (several agents' locks are always only tried).
    pub(super) fn send_group(&self, pool: &Pool, group: &[Ready], how: Lock) -> Sent {
        let units: Vec<sql::GroupUnit<'_>> = group
            .iter()
            .map(|u| sql::GroupUnit {
                agent: &u.agent,
                lock_key: u.lock_key,
                head: u.head,
                assumed_empty: &u.assumed_empty,
                rows: &u.rows,
                touched: &u.touched,
                live: u.live.as_deref(),
            })
            .collect();
        let (begin, body) = match sql::group(&units, how) {
            Ok(sql) => sql,
            // (A unit's seq out of range.) Alone, the unit meets the error on its own path.
            Err(_) if group.len() > 1 => return Sent::Refused,
            Err(e) => return Sent::Failed(Failure::of(&e)),
        };
        let mut c = match begin_fresh(pool, session::ensure_writable) {
            Ok((c, ())) => c,
            Err(e) => return Sent::Failed(Failure::of(&e)),
        };
        c.begin_deferred(&begin);
        if let Ok(messages) = c.send(&body) {
            c.committed();
            if group.len() == 1 {
                self.count_commit(1, 0);
                return Sent::Committed;
            }
            let written = written_agents(&messages);
            self.count_commit(written.len(), 0);
            let refused = group.len().saturating_sub(written.len());
            super::add(&self.counters.refused_in_groups, refused);
            if refused > 0 {
                telemetry::retry(
                    BACKEND,
                    "refused_in_group",
                    refused,
                    0,
                    &"lock held elsewhere or guard failed",
                );
            }
            return if refused == 0 { Sent::Committed } else { Sent::Partly(Arc::new(written)) };
        }
        let Some(failure) = c.failure().cloned() else {
            return Sent::Failed(Failure::Other("a failed round trip left no failure".into()));
        };
        if failure.commit_lost {
            // The connection broke in the one round trip, which carried the COMMIT: each unit
            // looks up its own outcome.
            return Sent::Lost(failure.class.reason().to_owned());
        }
        if c.raw().is_closed() || matches!(failure.class, Failure::Unavailable(_)) {
            return Sent::Failed(failure.class);
        }
        if group.len() > 1 {
            super::add(&self.counters.refused_in_groups, group.len());
            telemetry::retry(BACKEND, "refused_in_group", group.len(), 0, &failure.class.reason());
        }
        match c.rollback_raw() {
            Ok(()) => Sent::Refused,
            Err(e) => Sent::Failed(Failure::of(&e)),
        }
    }
}

/// The agents a shared transaction wrote, from its messages (the rows `ok:<agent>`).
pub(crate) fn written_agents(messages: &[postgres::SimpleQueryMessage]) -> HashSet<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0)?.strip_prefix("ok:").map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn unit(agent: &str) -> Ready {
        let rows =
            crate::codec::unit_rows(&credence_core::Append::new(3, credence_core::Timestamp(30)), false);
        Ready {
            agent: agent.into(),
            lock_key: 7,
            head: Some(Head { seq: 2, tx_time: credence_core::Timestamp(20) }),
            assumed_empty: Arc::from([("s".to_owned(), "p".to_owned())]),
            rows: Arc::new(rows.unwrap_or_else(|e| panic!("rows: {e}"))),
            touched: Arc::from([]),
            live: None,
            mark: UnitMark::of(&credence_core::Append::new(3, credence_core::Timestamp(30))),
        }
    }

    #[test]
    fn a_group_takes_the_oldest_queued_units_up_to_its_size() {
        let convoy = Convoy::default();
        {
            let mut st = lock(&convoy.state);
            for i in 0..70 {
                let slot = Arc::new(Slot { state: Mutex::new(SlotState::Waiting), wake: Condvar::new() });
                st.queue.push_back(Queued { unit: unit(&format!("q{i}")), slot });
            }
        }
        let (units, slots) = convoy.take_group(unit("leader"));
        assert_eq!(units.len(), MAX_GROUP);
        assert_eq!(slots.len(), MAX_GROUP - 1, "a slot for every unit but the leader's");
        assert_eq!(units[0].agent, "leader");
        assert_eq!(units[1].agent, "q0");
        assert_eq!(units[MAX_GROUP - 1].agent, format!("q{}", MAX_GROUP - 2));
        let queued: Vec<String> = lock(&convoy.state).queue.iter().map(|q| q.unit.agent.clone()).collect();
        assert_eq!(queued, (MAX_GROUP - 1..70).map(|i| format!("q{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_second_unit_of_an_agent_in_flight_is_busy_and_the_agent_is_free_afterwards() {
        let convoy = Convoy::default();
        let inner = std::cell::RefCell::new(None);
        let sent = convoy.send(unit("a"), &|_| {
            // While "a" is in flight, another unit of "a" is not sent; one of "b" is.
            let again = convoy.send(unit("a"), &|_| Sent::Committed);
            let other = convoy.send(unit("b"), &|_| Sent::Committed);
            *inner.borrow_mut() = Some((again, other));
            Sent::Committed
        });
        assert!(matches!(sent, Sent::Committed), "{sent:?}");
        assert!(
            matches!(inner.borrow().as_ref(), Some((Sent::Busy, Sent::Committed))),
            "{:?}",
            inner.borrow()
        );
        assert!(matches!(convoy.send(unit("a"), &|_| Sent::Refused), Sent::Refused));
        assert!(lock(&convoy.state).agents.is_empty());
    }

    #[test]
    fn followers_of_a_leader_that_panics_are_told_to_look_their_outcome_up_and_the_convoy_recovers() {
        let convoy = Convoy::default();
        // The two first senders lead groups of one; the second finishes long after the first,
        // so the three queued meanwhile all go in the group the first hands its lead to.
        let send = |g: &[Ready]| {
            assert!(g.len() == 1, "a shared transaction's leader stops");
            let ms = if g[0].agent == "lead2" { 800 } else { 200 };
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Sent::Committed
        };
        let outcomes: Vec<std::thread::Result<Sent>> = std::thread::scope(|s| {
            let mut handles = Vec::new();
            for agent in ["lead1", "lead2"] {
                let (convoy, send) = (&convoy, &send);
                handles.push(s.spawn(move || convoy.send(unit(agent), send)));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            for agent in ["f1", "f2", "f3"] {
                let (convoy, send) = (&convoy, &send);
                handles.push(s.spawn(move || convoy.send(unit(agent), send)));
            }
            handles.into_iter().map(|h| h.join()).collect()
        });
        assert!(outcomes[..2].iter().all(|o| matches!(o, Ok(Sent::Committed))));
        let panicked = outcomes[2..].iter().filter(|o| o.is_err()).count();
        let lost = outcomes[2..].iter().filter(|o| matches!(o, Ok(Sent::Lost(_)))).count();
        assert_eq!((panicked, lost), (1, 2), "the three followers went in one group whose leader panicked");
        let st = lock(&convoy.state);
        assert_eq!((st.leaders, st.agents.len(), st.queue.len()), (0, 0, 0));
    }

    #[test]
    fn a_partly_written_group_commits_for_its_written_agents_only() {
        let written = Sent::Partly(Arc::new(HashSet::from(["a".to_owned()])));
        assert!(matches!(written.for_agent("a"), Sent::Committed));
        assert!(matches!(written.for_agent("b"), Sent::Refused));
        assert!(matches!(Sent::Lost("x".into()).for_agent("a"), Sent::Lost(_)));
    }

    #[test]
    fn a_lone_sender_leads_at_once_and_gets_its_groups_outcome() {
        let convoy = Convoy::default();
        let sent = convoy.send(unit("a"), &|g| {
            assert_eq!(g.len(), 1);
            Sent::Refused
        });
        assert!(matches!(sent, Sent::Refused), "{sent:?}");
        assert_eq!(lock(&convoy.state).leaders, 0, "the convoy goes idle after the last group");
    }

    #[test]
    fn concurrent_senders_share_groups_get_their_own_groups_outcome_and_stay_within_limits() {
        let convoy = Convoy::default();
        let [groups, units, in_flight, most_in_flight, largest] =
            std::array::from_fn(|_| AtomicUsize::new(0));
        // Each group answers with its members' names, so a sender can tell whose outcome it got.
        let send = |g: &[Ready]| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most_in_flight.fetch_max(now, Ordering::SeqCst);
            largest.fetch_max(g.len(), Ordering::SeqCst);
            groups.fetch_add(1, Ordering::SeqCst);
            units.fetch_add(g.len(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let names: Vec<&str> = g.iter().map(|u| u.agent.as_str()).collect();
            Sent::Failed(Failure::Other(format!(",{},", names.join(","))))
        };
        let wrong: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (convoy, send) = (&convoy, &send);
                    s.spawn(move || {
                        let agent = format!("agent-{i}");
                        let mine = |sent: &Sent| {
                            matches!(sent, Sent::Failed(Failure::Other(m)) if m.contains(&format!(",{agent},")))
                        };
                        (0..20)
                            .map(|_| convoy.send(unit(&agent), send))
                            .filter(|sent| !mine(sent))
                            .map(|sent| format!("{agent}: {sent:?}"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|_| vec!["sender panicked".into()]))
                .collect()
        });
        assert!(wrong.is_empty(), "answers of other groups: {wrong:?}");
        assert_eq!(units.load(Ordering::SeqCst), 16 * 20, "every unit is sent exactly once");
        assert!(groups.load(Ordering::SeqCst) < 16 * 20, "some units shared a transaction");
        assert!(most_in_flight.load(Ordering::SeqCst) <= MAX_IN_FLIGHT);
        assert!(largest.load(Ordering::SeqCst) <= MAX_GROUP);
        let st = lock(&convoy.state);
        assert_eq!((st.leaders, st.agents.len(), st.queue.len()), (0, 0, 0));
    }
}
