//! Combining concurrent ingests of one agent into batches for [`Ledger::write_batch`].
//!
//! Each ingest queues a [`Ticket`] in its agent's lane. If the lane has no leader, the
//! ingest becomes the leader: it takes every queued ticket (its own first), runs their units
//! back to back through one `write_batch` call on its own thread, passes leadership to the
//! oldest ticket that arrived meanwhile, and only then hands each ticket its outcome. The
//! other ingests sleep on their ticket until they get an outcome or are told to lead.
//!
//! The point is that a backend with group commit runs the whole batch in one transaction
//! without switching threads between units; the decisions are unchanged (each unit reads
//! the rows of the units before it, exactly as with one `write` per ingest).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::agent::AgentId;
use crate::api::IngestRequest;
use crate::error::Result;
use crate::record::Adjudication;

/// A leader takes at most this many tickets into one batch.
pub(super) const MAX_BATCH: usize = 256;

/// What one ingest ended with: its receipt and the adjudication it queued, if any.
pub(super) type Outcome = Result<(crate::api::WriteReceipt, Option<Adjudication>)>;

/// One queued ingest.
pub(super) struct Ticket {
    request: Mutex<Option<IngestRequest>>,
    state: Mutex<TicketState>,
    wake: Condvar,
}

enum TicketState {
    Waiting,
    Lead,
    Done(Box<Outcome>),
}

/// What a waiting ingest is told to do next.
pub(super) enum Turn {
    /// Lead the next batch (this ticket is first in it).
    Lead,
    /// The ingest is finished.
    Done(Box<Outcome>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ticket {
    pub(super) fn new(request: IngestRequest) -> Arc<Ticket> {
        Arc::new(Ticket {
            request: Mutex::new(Some(request)),
            state: Mutex::new(TicketState::Waiting),
            wake: Condvar::new(),
        })
    }

    /// The request, for the leader that runs it (once).
    pub(super) fn take_request(&self) -> Option<IngestRequest> {
        lock(&self.request).take()
    }

    /// Sleeps until the ticket has an outcome or is told to lead.
    pub(super) fn wait(&self) -> Turn {
        let mut state = lock(&self.state);
        loop {
            match std::mem::replace(&mut *state, TicketState::Waiting) {
                TicketState::Waiting => {
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                TicketState::Lead => return Turn::Lead,
                TicketState::Done(outcome) => return Turn::Done(outcome),
            }
        }
    }

    fn set(&self, next: TicketState) {
        *lock(&self.state) = next;
        self.wake.notify_one();
    }

    pub(super) fn finish(&self, outcome: Outcome) {
        self.set(TicketState::Done(Box::new(outcome)));
    }
}

#[derive(Default)]
struct Lane {
    queue: Vec<Arc<Ticket>>,
    /// Someone is leading a batch of this agent, or has been told to.
    led: bool,
}

/// The lanes of every agent with ingests in flight.
#[derive(Default)]
pub(super) struct Combiner {
    lanes: Mutex<HashMap<AgentId, Lane>>,
}

impl std::fmt::Debug for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner").finish_non_exhaustive()
    }
}

impl Combiner {
    /// Queues `ticket`; true when the caller must lead (nobody leads this agent's lane).
    pub(super) fn join(&self, agent: &AgentId, ticket: &Arc<Ticket>) -> bool {
        let mut lanes = lock(&self.lanes);
        let lane = lanes.entry(agent.clone()).or_default();
        lane.queue.push(Arc::clone(ticket));
        !std::mem::replace(&mut lane.led, true)
    }

    /// The leader's batch: the oldest queued tickets, at most [`MAX_BATCH`].
    pub(super) fn take_batch(&self, agent: &AgentId) -> Vec<Arc<Ticket>> {
        let mut lanes = lock(&self.lanes);
        let Some(lane) = lanes.get_mut(agent) else { return Vec::new() };
        let n = lane.queue.len().min(MAX_BATCH);
        lane.queue.drain(..n).collect()
    }

    /// Ends a leader's turn: the oldest queued ticket leads next, or the lane goes idle.
    pub(super) fn pass_on(&self, agent: &AgentId) {
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
