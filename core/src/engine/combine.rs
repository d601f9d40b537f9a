//! Combining concurrent writes of one agent into batches for [`Ledger::write_batch`].
//!
//! Every engine write (ingest, verdict, resolve, invalidate, reinstate, sweep) queues a
//! [`Ticket`] holding its unit body in its agent's lane. If the lane has no leader, the writer
//! becomes the leader: it takes every queued ticket (its own first), runs their bodies back
//! to back through one `write_batch` call on its own thread, passes leadership to the oldest
//! ticket that arrived meanwhile, and only then hands each ticket its outcome. The other
//! writers sleep on their ticket until they get an outcome or are told to lead.
//!
//! The point is that a backend with group commit runs the whole batch in one transaction
//! without switching threads between units; the decisions are unchanged (each unit reads
//! the rows of the units before it, exactly as with one write per call). This is the only
//! batching layer: backends run what they are handed and batch nothing of their own.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::Engine;
use crate::agent::AgentId;
use crate::error::{Error, Result};
use crate::ledger::{Append, Head, Ledger, LedgerRead, WriteUnit};

/// A leader takes at most this many tickets into one batch.
const MAX_BATCH: usize = 256;

/// The result of a unit body that writes rows and answers with `T`.
pub(super) type Unit<T> = Result<(T, Option<Append>)>;

/// A queued write's unit body, run by whichever thread leads its batch (so it owns what it
/// uses and gets the engine as an argument).
type Body<L> = Box<dyn FnMut(&Engine<L>, &dyn LedgerRead) -> Result<Option<Append>> + Send>;

/// One queued write.
struct Ticket<L> {
    body: Mutex<Option<Body<L>>>,
    state: Mutex<TicketState>,
    wake: Condvar,
}

enum TicketState {
    Waiting,
    Lead,
    Done(Result<Option<Head>>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<L> Ticket<L> {
    fn new(body: Body<L>) -> Arc<Ticket<L>> {
        Arc::new(Ticket {
            body: Mutex::new(Some(body)),
            state: Mutex::new(TicketState::Waiting),
            wake: Condvar::new(),
        })
    }

    /// Sleeps until the ticket has an outcome (`Some`) or is told to lead (`None`).
    fn wait(&self) -> Option<Result<Option<Head>>> {
        let mut state = lock(&self.state);
        loop {
            match std::mem::replace(&mut *state, TicketState::Waiting) {
                TicketState::Waiting => {
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                TicketState::Lead => return None,
                TicketState::Done(outcome) => return Some(outcome),
            }
        }
    }

    fn set(&self, next: TicketState) {
        *lock(&self.state) = next;
        self.wake.notify_one();
    }
}

struct Lane<L> {
    queue: Vec<Arc<Ticket<L>>>,
    /// Someone is leading a batch of this agent, or has been told to.
    led: bool,
}

/// The lanes of every agent with writes in flight.
pub(super) struct Combiner<L> {
    lanes: Mutex<HashMap<AgentId, Lane<L>>>,
}

impl<L> Default for Combiner<L> {
    fn default() -> Self {
        Combiner { lanes: Mutex::new(HashMap::new()) }
    }
}

impl<L> Combiner<L> {
    /// Queues `ticket`; true when the caller must lead (nobody leads this agent's lane).
    fn join(&self, agent: &AgentId, ticket: &Arc<Ticket<L>>) -> bool {
        let mut lanes = lock(&self.lanes);
        let lane = lanes.entry(agent.clone()).or_insert_with(|| Lane { queue: Vec::new(), led: false });
        lane.queue.push(Arc::clone(ticket));
        !std::mem::replace(&mut lane.led, true)
    }

    /// The leader's batch: the oldest queued tickets, at most [`MAX_BATCH`].
    fn take_batch(&self, agent: &AgentId) -> Vec<Arc<Ticket<L>>> {
        let mut lanes = lock(&self.lanes);
        let Some(lane) = lanes.get_mut(agent) else { return Vec::new() };
        let n = lane.queue.len().min(MAX_BATCH);
        lane.queue.drain(..n).collect()
    }

    /// Ends a leader's turn: the oldest queued ticket leads next, or the lane goes idle.
    fn pass_on(&self, agent: &AgentId) {
        let mut lanes = lock(&self.lanes);
        let Some(lane) = lanes.get_mut(agent) else { return };
        match lane.queue.first() {
            Some(next) => next.set(TicketState::Lead),
            None => {
                lanes.remove(agent);
            }
        }
    }
}

impl<L: Ledger> Engine<L> {
    /// Runs `body` as one commit unit of `agent`, batched with the agent's concurrent writes,
    /// and returns its answer. The body may run more than once (a backend retrying after a
    /// conflict); the answer of its last run counts.
    pub(super) fn run_unit<T: Send + 'static>(
        &self,
        agent: &AgentId,
        mut body: impl FnMut(&Engine<L>, &dyn LedgerRead) -> Unit<T> + Send + 'static,
    ) -> Result<T> {
        let answer = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&answer);
        let ticket = Ticket::new(Box::new(move |engine: &Engine<L>, view: &dyn LedgerRead| {
            let (a, append) = body(engine, view)?;
            *lock(&slot) = Some(a);
            Ok(append)
        }));
        let mut lead = self.combiner.join(agent, &ticket);
        loop {
            if lead {
                self.lead_batch(agent);
            }
            match ticket.wait() {
                None => lead = true,
                Some(outcome) => {
                    outcome?;
                    break;
                }
            }
        }
        let answer = lock(&answer).take();
        answer.ok_or_else(|| Error::Backend {
            backend: self.ledger.backend(),
            source: "the backend returned without running the unit".into(),
        })
    }

    /// Runs the agent's queued tickets as one [`Ledger::write_batch`], passes leadership
    /// on, then gives every ticket its outcome.
    fn lead_batch(&self, agent: &AgentId) {
        let tickets = self.combiner.take_batch(agent);
        let mut bodies: Vec<Option<Body<L>>> = tickets.iter().map(|t| lock(&t.body).take()).collect();
        // A backend that panics itself (units' panics are its to catch) must not leave the
        // waiting writers asleep: every ticket of the batch gets an error instead.
        let outcomes = catch_unwind(AssertUnwindSafe(|| self.run_bodies(agent, &mut bodies)));
        self.combiner.pass_on(agent);
        match outcomes {
            Ok(outcomes) => {
                for (ticket, outcome) in tickets.iter().zip(outcomes) {
                    ticket.set(TicketState::Done(outcome));
                }
            }
            Err(payload) => {
                for ticket in &tickets {
                    let e = Error::unit_panicked(self.ledger.backend(), &*payload);
                    ticket.set(TicketState::Done(Err(e)));
                }
            }
        }
    }

    /// One `write_batch` call over `bodies` (a body missing, taken twice, gets an error).
    fn run_bodies(&self, agent: &AgentId, bodies: &mut [Option<Body<L>>]) -> Vec<Result<Option<Head>>> {
        let mut units: Vec<Box<WriteUnit<'_>>> = bodies
            .iter_mut()
            .filter_map(|body| {
                let body = body.as_mut()?;
                Some(Box::new(move |view: &dyn LedgerRead| body(self, view)) as Box<WriteUnit<'_>>)
            })
            .collect();
        let mut refs: Vec<&mut WriteUnit<'_>> = units.iter_mut().map(|u| &mut **u).collect();
        // What an operator tunes (SPEC §10): how many writes a group commit carries.
        tracing::debug!(agent = agent.as_str(), units = refs.len(), "group commit");
        metrics::histogram!("credence_group_commit_units").record(refs.len() as f64);
        let mut results = self.ledger.write_batch(agent, &mut refs).into_iter();
        drop(refs);
        drop(units);
        let backend = self.ledger.backend();
        let missing = |what: &str| Error::Backend { backend, source: what.to_owned().into() };
        bodies
            .iter()
            .map(|body| match body {
                None => Err(missing("the write was taken twice")),
                Some(_) => results
                    .next()
                    .unwrap_or_else(|| Err(missing("the backend returned fewer results than units"))),
            })
            .collect()
    }
}
