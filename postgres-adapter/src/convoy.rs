//! One-round-trip writes of different agents sharing a transaction.
//!
//! A lone unit decided ahead (see the `speculate` module) is finished SQL — its guard and its
//! rows — that needs only `BEGIN`, the agent's lock and `COMMIT` around it. When several
//! threads of this process hold such units for *different* agents at the same time, they go
//! to the server together: a sender leads when fewer than [`MAX_IN_FLIGHT`] groups are being
//! sent, taking every queued unit (at most one per agent, at most [`MAX_GROUP`]) into one
//! transaction sent in one round trip — every lock in one statement, every guard in one,
//! every row in one. Other senders queue; a leader hands the lead to the oldest queued unit
//! before it answers its group, so the next group forms while this one commits. One commit
//! (and one WAL flush) then covers many agents' writes, and the server runs three statements
//! for the group instead of three per unit.
//!
//! Locks are taken with `pg_try_advisory_xact_lock`, and one held elsewhere fails the
//! transaction at once: a group never waits for a lock, so a unit never waits for another
//! agent's lock, a leader is never stuck, and two processes cannot deadlock on each other's
//! groups. Any failure of a group (a lock held elsewhere, a guard that finds an agent changed,
//! a claim that already exists) rolls it back and every unit of it is sent again by its own
//! thread, alone, waiting for its own agent's lock (see `Groups::speculate`), where a failure
//! is the unit's own. Under contention for one agent from several processes that costs its
//! group's other units a round trip each; the rest of the time it costs nothing.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use credence_core::{ClaimRef, Head};

use crate::error::PgResult;
use crate::group::BatchFailure;
use crate::speculate::{LineKey, expect_many_sql, expect_sql};
use crate::write::{UnitRows, insert_many_sql};

/// Most units in one shared transaction.
pub(crate) const MAX_GROUP: usize = 64;
/// Most groups being sent at once. One is too few: the server runs a group's statements one
/// after another on one backend, so while a large group runs, another core would idle.
/// (Measured on 2 cores with 64 writers of 64 agents: 1 → ~8 800/s, 2 → ~9 600/s, 3 or 4 →
/// ~9 000/s.)
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// A unit decided ahead, ready to send.
#[derive(Clone)]
pub(crate) struct Ahead {
    /// The agent's id.
    pub(crate) agent: String,
    /// The agent's advisory-lock key.
    pub(crate) lock_key: i64,
    /// The head the unit was decided at, and the lines it took as empty (its guard).
    pub(crate) head: Option<Head>,
    pub(crate) assumed_empty: Vec<LineKey>,
    /// Its rows.
    pub(crate) rows: UnitRows,
    /// One of the unit's claims (its seq and ref), to find out whether a commit whose answer
    /// was lost went through.
    pub(crate) probe: Option<(u64, ClaimRef)>,
}

/// What sending a group came to (the same for every unit of it: it is one transaction).
#[derive(Clone, Debug)]
pub(crate) enum Sent {
    /// Committed.
    Committed,
    /// A statement failed (a lock held elsewhere, a guard, an insert) and the transaction
    /// was rolled back.
    Refused,
    /// The connection broke while committing and a lookup found nothing: not committed.
    NotCommitted,
    /// The server, the pool or the connection is unavailable (or the outcome is unknown).
    Failed(BatchFailure),
}

enum SlotState {
    Waiting,
    /// Lead a group starting with this (the sender's own) unit.
    Lead(Ahead),
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
    unit: Ahead,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    /// Groups being sent (or senders told to lead one), at most [`MAX_IN_FLIGHT`].
    leaders: usize,
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
    /// being sent; `send` sends a group in one transaction. Returns what became of the group.
    pub(crate) fn send(&self, unit: Ahead, send: &dyn Fn(&[Ahead]) -> Sent) -> Sent {
        let slot = {
            let mut st = lock(&self.state);
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

    /// Sends a group of `first` (the leader's own unit) and what [`Convoy::take_group`] adds,
    /// passes the lead on and answers the group.
    fn lead(&self, first: Ahead, send: &dyn Fn(&[Ahead]) -> Sent) -> Sent {
        let (units, slots) = self.take_group(first);
        let mut pass = PassOn { convoy: self, slots: &slots, sent: None };
        let sent = send(&units);
        pass.sent = Some(sent.clone());
        sent
    }

    /// `first` and the queued units of other agents, oldest first, up to [`MAX_GROUP`]; the
    /// rest stay queued in order. Returns the units and the slots of their senders (all but
    /// the leader's).
    fn take_group(&self, first: Ahead) -> (Vec<Ahead>, Vec<Arc<Slot>>) {
        let mut st = lock(&self.state);
        let mut agents: HashSet<String> = HashSet::from([first.agent.clone()]);
        let (mut units, mut slots) = (vec![first], Vec::new());
        let mut kept = VecDeque::new();
        while let Some(q) = st.queue.pop_front() {
            if units.len() < MAX_GROUP && agents.insert(q.unit.agent.clone()) {
                units.push(q.unit);
                slots.push(q.slot);
            } else {
                kept.push_back(q);
            }
        }
        st.queue = kept;
        (units, slots)
    }
}

/// Passes the lead to the oldest queued unit (or leaves one fewer group in flight), then
/// answers every follower of the group — also when the leader unwinds.
struct PassOn<'a> {
    convoy: &'a Convoy,
    slots: &'a [Arc<Slot>],
    sent: Option<Sent>,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.convoy.state);
            match st.queue.pop_front() {
                Some(next) => next.slot.set(SlotState::Lead(next.unit)),
                None => st.leaders = st.leaders.saturating_sub(1),
            }
        }
        let sent = self.sent.take().unwrap_or_else(|| {
            Sent::Failed(BatchFailure::Other("the group's leader stopped unexpectedly".into()))
        });
        for slot in self.slots {
            slot.set(SlotState::Done(sent.clone()));
        }
    }
}

/// The round trip of a group: `BEGIN`, the locks, the guard, the rows, `COMMIT`. Returns the
/// `BEGIN` part and the rest, for a connection that sends the `BEGIN` in front of the rest
/// (see `PgConnection::begin_deferred`). With `wait` and one unit (sent alone) the lock is
/// waited for; otherwise every lock is tried in one statement, and one held elsewhere divides by
/// zero. The locks go in a statement of their own, before the guard, so the guard sees every
/// commit made before its agent's lock was granted. One unit is checked and inserted by the
/// statements of a lone write; several by one guard and one insert for all.
pub(crate) fn group_sql(group: &[Ahead], wait: bool) -> PgResult<(String, String)> {
    const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
    let locks = match (wait, group) {
        (true, [one]) => format!("SELECT pg_advisory_xact_lock({})", one.lock_key),
        (false, [one]) => format!("SELECT 1 / pg_try_advisory_xact_lock({})::int", one.lock_key),
        _ => {
            let keys: Vec<String> = group.iter().map(|u| u.lock_key.to_string()).collect();
            format!(
                "SELECT 1 / min(pg_try_advisory_xact_lock(k)::int) FROM unnest(ARRAY[{}]::bigint[]) AS k",
                keys.join(", ")
            )
        }
    };
    let body = if let [one] = group {
        format!(
            "{}; {}; COMMIT",
            expect_sql(&one.agent, one.head, &one.assumed_empty)?,
            one.rows.insert_sql(&one.agent)?
        )
    } else {
        let guards: Vec<(&str, Option<Head>, &[LineKey])> =
            group.iter().map(|u| (u.agent.as_str(), u.head, u.assumed_empty.as_slice())).collect();
        let rows: Vec<(&str, &UnitRows)> = group.iter().map(|u| (u.agent.as_str(), &u.rows)).collect();
        format!("{}; {}; COMMIT", expect_many_sql(&guards)?, insert_many_sql(&rows)?)
    };
    Ok((format!("{BEGIN}; {locks}"), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn unit(agent: &str) -> Ahead {
        let rows =
            crate::write::unit_rows(&credence_core::Append::new(3, credence_core::Timestamp(30)), false);
        Ahead {
            agent: agent.into(),
            lock_key: 7,
            head: Some(Head { seq: 2, tx_time: credence_core::Timestamp(20) }),
            assumed_empty: vec![("s".into(), "p".into())],
            rows: rows.unwrap_or_else(|e| panic!("rows: {e}")),
            probe: None,
        }
    }

    #[test]
    fn a_group_takes_one_unit_per_agent_and_leaves_the_rest_queued_in_order() {
        let convoy = Convoy::default();
        {
            let mut st = lock(&convoy.state);
            for agent in ["b", "a", "c", "d", "b"] {
                let slot = Arc::new(Slot { state: Mutex::new(SlotState::Waiting), wake: Condvar::new() });
                st.queue.push_back(Queued { unit: unit(agent), slot });
            }
        }
        let agents = |(g, slots): (Vec<Ahead>, Vec<Arc<Slot>>)| {
            assert_eq!(slots.len() + 1, g.len(), "a slot for every unit but the leader's");
            g.into_iter().map(|u| u.agent).collect::<Vec<_>>()
        };
        assert_eq!(agents(convoy.take_group(unit("a"))), ["a", "b", "c", "d"]);
        let queued: Vec<String> = lock(&convoy.state).queue.iter().map(|q| q.unit.agent.clone()).collect();
        assert_eq!(queued, ["a", "b"], "the second unit of an agent waits for the next group");
        assert_eq!(agents(convoy.take_group(unit("e"))), ["e", "a", "b"]);
        assert!(lock(&convoy.state).queue.is_empty());
    }

    #[test]
    fn a_lone_sender_leads_at_once_and_gets_its_own_outcome() {
        let convoy = Convoy::default();
        let sent = convoy.send(unit("a"), &|g| {
            assert_eq!(g.len(), 1);
            Sent::Refused
        });
        assert!(matches!(sent, Sent::Refused), "{sent:?}");
        assert_eq!(lock(&convoy.state).leaders, 0, "the convoy goes idle after the last group");
    }

    #[test]
    fn concurrent_senders_of_different_agents_share_groups_and_all_get_answers() {
        let convoy = Convoy::default();
        let groups = AtomicUsize::new(0);
        let units = AtomicUsize::new(0);
        let send = |g: &[Ahead]| {
            groups.fetch_add(1, Ordering::Relaxed);
            units.fetch_add(g.len(), Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(2));
            if g.len() > 1 && g.iter().any(|u| u.agent == "refuses") {
                Sent::Refused
            } else {
                Sent::Committed
            }
        };
        let answers: Vec<Sent> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (convoy, send) = (&convoy, &send);
                    s.spawn(move || {
                        let agent = if i == 5 { "refuses".to_owned() } else { format!("agent-{i}") };
                        (0..20).map(|_| convoy.send(unit(&agent), send)).collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        assert_eq!(answers.len(), 16 * 20, "every sender is answered");
        assert_eq!(units.load(Ordering::Relaxed), 16 * 20, "every unit is sent exactly once");
        assert!(groups.load(Ordering::Relaxed) < 16 * 20, "some units shared a transaction");
        for a in &answers {
            assert!(matches!(a, Sent::Committed | Sent::Refused), "{a:?}");
        }
    }

    #[test]
    fn only_a_unit_sent_alone_waits_for_its_lock_and_a_group_tries_every_lock_first() -> PgResult<()> {
        let (begin, rest) = group_sql(&[unit("a")], true)?;
        assert!(begin.ends_with("; SELECT pg_advisory_xact_lock(7)"), "{begin}");
        assert!(rest.starts_with("EXECUTE credence_expect(E'a', 2, "), "{rest}");
        assert!(rest.contains("EXECUTE credence_append(E'a', 3, 30, FALSE"), "{rest}");
        assert!(rest.ends_with("; COMMIT"), "{rest}");
        let (begin, _) = group_sql(&[unit("a")], false)?;
        assert!(begin.ends_with("; SELECT 1 / pg_try_advisory_xact_lock(7)::int"), "{begin}");
        for wait in [false, true] {
            let (begin, rest) = group_sql(&[unit("a"), unit("b")], wait)?;
            assert!(
                begin.ends_with(
                    "; SELECT 1 / min(pg_try_advisory_xact_lock(k)::int) FROM unnest(ARRAY[7, 7]::bigint[]) AS k"
                ),
                "{begin}"
            );
            assert_eq!(
                rest,
                "EXECUTE credence_expect_many(ARRAY[E'a', E'b']::text[], ARRAY[2, 2]::bigint[], \
                 ARRAY[E'a', E'b']::text[], ARRAY[E's', E's']::text[], ARRAY[E'p', E'p']::text[]); \
                 EXECUTE credence_append_many(E'[{\"ag\":\"a\",\"f\":false,\"s\":3,\"tx\":30},\
                 {\"ag\":\"b\",\"f\":false,\"s\":3,\"tx\":30}]', E'[]', E'[]', E'[]', E'[]', 0); COMMIT"
            );
        }
        Ok(())
    }
}
