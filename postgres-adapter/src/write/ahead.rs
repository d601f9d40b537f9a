//! Deciding units ahead: running a unit before talking to the server, and checking its
//! assumptions under the lock.
//!
//! A write normally needs two round trips: `BEGIN` + the agent's lock + the unit's reads,
//! then the inserts + `COMMIT`. When this process knows the agent's head (from its own last
//! commit), a unit whose reads are only that head and lines it may assume empty can run
//! first, against a [`SpecView`] that answers from that knowledge. The whole transaction then
//! goes in one round trip: `BEGIN`, the lock, a guard that fails unless the head and the
//! assumed-empty lines are still what the unit saw (`sql::expect_sql`), the inserts, `COMMIT`.
//! The guard runs after the lock, so it checks exactly what the normal path would have read;
//! if it fails (another process wrote, or a line was not empty), the transaction is rolled
//! back and the unit runs again the normal way. Any other read makes the view give up before
//! anything is sent. In a batch the same holds unit by unit: a unit decided ahead queues its
//! guard and rows in front of the next round trip (the next unit's read, or the `COMMIT`), at
//! the head the previous unit left; a failed guard there rolls the batch back and its units run
//! again, each in its own savepoint (see `pipelined`). A lone unit decided ahead is sent with
//! other agents' (see `convoy`).
//!
//! What a process knows ([`Knowledge`]) is only ever a guess checked by the guard, so it may
//! be stale; it is kept small and forgotten freely. The one thing it holds as fact is that a
//! line this process wrote a claim into is not empty (claims are never removed), which keeps
//! it from deciding ahead on lines that would fail the guard.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use credence_core::{
    Adjudication, Append, Assertion, AuditRange, Claim, ClaimRef, Edge, EdgeKind, Error, Event, Handle, Head,
    LedgerEntry, LedgerRead, LineRows, Result, Timestamp, Upto, WriteUnit, telemetry,
};

use super::convoy::{Ready, Sent};
use super::lost::{self, Found};
use super::{Conn, Member, Pool, Writer, append};
use crate::codec::{LineKey, UnitMark, unit_rows};
use crate::error::{BACKEND, Failure};
use crate::lock::Lock;
use crate::sql;

/// Most times a lone unit decided ahead is sent alone after its group did not commit, while
/// each try's connection breaks as it commits (and each is looked up and found not stored).
const ALONE_TRIES: u32 = 3;

/// Most agents whose head a process remembers; beyond it, everything is forgotten.
const MAX_AGENTS: usize = 4096;
/// Most bytes of remembered non-empty lines (all agents together, counting each line's
/// subject, predicate and [`LINE_OVERHEAD`]); beyond it, every agent's lines are forgotten.
const MAX_LINE_BYTES: usize = 16 << 20;
/// What a remembered line costs besides its text (set entry, string headers), roughly.
const LINE_OVERHEAD: usize = 96;

#[derive(Default)]
struct AgentKnowledge {
    /// The head as of this process's last commit for the agent (`None`: no unit yet).
    head: Option<Option<Head>>,
    /// Lines known to hold a claim.
    non_empty: HashSet<LineKey>,
}

#[derive(Default)]
struct KnowledgeState {
    agents: HashMap<String, AgentKnowledge>,
    /// Bytes of every agent's `non_empty` lines (see [`MAX_LINE_BYTES`]).
    line_bytes: usize,
}

/// What this process believes about its agents (see the module documentation). Bounded:
/// [`MAX_AGENTS`] agents and [`MAX_LINE_BYTES`] of lines; forgetting only costs speed.
#[derive(Default)]
pub(crate) struct Knowledge {
    state: Mutex<KnowledgeState>,
}

impl Knowledge {
    fn lock(&self) -> MutexGuard<'_, KnowledgeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry<'m>(state: &'m mut KnowledgeState, agent: &str) -> &'m mut AgentKnowledge {
        if !state.agents.contains_key(agent) && state.agents.len() >= MAX_AGENTS {
            state.agents.clear();
            state.line_bytes = 0;
        }
        state.agents.entry(agent.to_owned()).or_default()
    }

    /// The head to decide units ahead at, if known.
    pub(crate) fn head(&self, agent: &str) -> Option<Option<Head>> {
        self.lock().agents.get(agent)?.head
    }

    /// True if `agent`'s line is known to hold a claim.
    fn is_non_empty(&self, agent: &str, subject: &str, predicate: &str) -> bool {
        // The key is built only to look it up; lines are short.
        self.lock()
            .agents
            .get(agent)
            .is_some_and(|k| k.non_empty.contains(&(subject.to_owned(), predicate.to_owned())))
    }

    /// Records a unit of `agent` this process committed (a later head than any known wins).
    pub(crate) fn committed(&self, agent: &str, head: Head) {
        let mut state = self.lock();
        let known = Self::entry(&mut state, agent);
        if known.head.is_none_or(|h| h.is_none_or(|h| h.seq < head.seq)) {
            known.head = Some(Some(head));
        }
    }

    /// Records that these lines of `agent` hold a claim (or may: recording a line that is in
    /// fact empty only costs a speculation).
    pub(crate) fn non_empty<'a>(&self, agent: &str, lines: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut state = self.lock();
        for (subject, predicate) in lines {
            let cost = subject.len() + predicate.len() + LINE_OVERHEAD;
            if state.line_bytes + cost > MAX_LINE_BYTES {
                state.agents.values_mut().for_each(|k| k.non_empty.clear());
                state.line_bytes = 0;
            }
            if Self::entry(&mut state, agent).non_empty.insert((subject.to_owned(), predicate.to_owned())) {
                state.line_bytes += cost;
            }
        }
    }

    /// Forgets `agent`'s head (its guard failed: someone else wrote, or a line was not empty).
    pub(crate) fn forget_head(&self, agent: &str) {
        if let Some(known) = self.lock().agents.get_mut(agent) {
            known.head = None;
        }
    }

    #[cfg(test)]
    fn line_bytes(&self) -> usize {
        self.lock().line_bytes
    }
}

/// The view a unit runs against before the transaction exists: the known head, and an empty
/// line for any line not known to hold a claim. Every other read gives up.
pub(crate) struct SpecView<'k> {
    head: Option<Head>,
    known: &'k Knowledge,
    agent: &'k str,
    assumed_empty: RefCell<Vec<LineKey>>,
    gave_up: Cell<bool>,
}

impl<'k> SpecView<'k> {
    pub(crate) fn new(known: &'k Knowledge, agent: &'k str, head: Option<Head>) -> SpecView<'k> {
        SpecView { head, known, agent, assumed_empty: RefCell::default(), gave_up: Cell::new(false) }
    }

    /// True if the unit read something the view cannot answer (its result is then void).
    pub(crate) fn gave_up(&self) -> bool {
        self.gave_up.get()
    }

    /// The lines the unit was told are empty.
    pub(crate) fn assumed_empty(&self) -> Vec<LineKey> {
        self.assumed_empty.borrow().clone()
    }

    fn give_up<T>(&self) -> Result<T> {
        self.gave_up.set(true);
        Err(Error::Backend { backend: BACKEND, source: "not answerable before the transaction".into() })
    }
}

impl LedgerRead for SpecView<'_> {
    fn head(&self) -> Result<Option<Head>> {
        Ok(self.head)
    }

    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows> {
        // Only the line as of the head is answered, and only when it may be empty.
        if upto != Upto::Head || self.known.is_non_empty(self.agent, subject, predicate) {
            return self.give_up();
        }
        self.assumed_empty.borrow_mut().push((subject.to_owned(), predicate.to_owned()));
        Ok(LineRows::default())
    }

    fn seq_at(&self, _: Timestamp) -> Result<u64> {
        self.give_up()
    }

    fn tx_time_of(&self, _: u64) -> Result<Option<Timestamp>> {
        self.give_up()
    }

    fn claim(&self, _: ClaimRef) -> Result<Option<Claim>> {
        self.give_up()
    }

    fn claim_entries(&self, _: ClaimRef, _: u64) -> Result<Vec<LedgerEntry>> {
        self.give_up()
    }

    fn claim_assertions(&self, _: ClaimRef, _: u64) -> Result<Vec<Assertion>> {
        self.give_up()
    }

    fn count_entries_since(&self, _: ClaimRef, _: Event, _: Timestamp) -> Result<u64> {
        self.give_up()
    }

    fn edges_to(&self, _: ClaimRef, _: EdgeKind) -> Result<Vec<Edge>> {
        self.give_up()
    }

    fn edges_from(&self, _: ClaimRef, _: EdgeKind) -> Result<Vec<Edge>> {
        self.give_up()
    }

    fn predicates(&self, _: &str, _: u64) -> Result<Vec<String>> {
        self.give_up()
    }

    fn audit(&self, _: &AuditRange) -> Result<Vec<LedgerEntry>> {
        self.give_up()
    }

    fn adjudication(&self, _: Handle) -> Result<Option<Adjudication>> {
        self.give_up()
    }

    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        self.give_up()
    }

    fn units(&self, _: u64, _: usize) -> Result<Vec<Append>> {
        self.give_up()
    }
}

/// The units of the current transaction decided ahead (see [`Writer::queue_ahead`]).
#[derive(Default)]
pub(super) struct AheadInTxn {
    /// How many (counted as decided ahead when the transaction commits).
    pub(super) units: usize,
    /// The lines they took as empty.
    assumed_empty: Vec<LineKey>,
}

/// What running a unit ahead of its transaction came to.
enum Decided {
    /// Its rows, and the lines it took as empty.
    Rows(Box<Append>, Vec<LineKey>),
    /// Its view reported a storage failure.
    Failed(Member),
    /// It needs reads (or wrote nothing, or failed): it must run the normal way.
    NeedsReads,
}

/// What sending a lone unit ahead came to.
pub(super) enum Alone {
    /// Committed, or failed on its own without anything sent: the unit's outcome.
    Done(Member),
    /// The transaction failed as the pipelined path would report it.
    Failed(Failure),
    /// Not possible, or its guard failed: the unit runs the pipelined way.
    NotAhead,
}

impl Writer {
    /// Runs `unit` against a [`SpecView`] at `head`.
    fn decide(&self, agent: &str, unit: &mut WriteUnit<'_>, head: Option<Head>) -> Decided {
        let view = SpecView::new(&self.known, agent, head);
        let append = match credence_core::run_unit(BACKEND, unit, &view) {
            Ok(Some(append)) if !view.gave_up() => append,
            // A storage failure reported through the view (by a wrapper of it: the view itself
            // never fails but to give up) is the write's failure, as on the normal path.
            Err(e @ (Error::Corrupt { .. } | Error::Unavailable { .. })) if !view.gave_up() => {
                return Decided::Failed(Member::Unit(e));
            }
            // Nothing to write, another error or a panic was decided on unchecked knowledge.
            _ => return Decided::NeedsReads,
        };
        let plain = append::is_plain(&append) && append.shape_problem().is_none();
        let in_order =
            append.seq == head.map_or(1, |h| h.seq + 1) && head.is_none_or(|h| append.tx_time > h.tx_time);
        if !plain || !in_order {
            return Decided::NeedsReads;
        }
        Decided::Rows(Box::new(append), view.assumed_empty())
    }

    /// In a batch: runs `unit` against what this process knows (head `head`), and if it needs
    /// nothing more, queues its guard and rows on `c`; `None` when it needs a real read (the
    /// unit then runs the pipelined way).
    pub(super) fn queue_ahead(
        &self,
        c: &mut Conn,
        agent: &str,
        unit: &mut WriteUnit<'_>,
        head: Option<Head>,
        txn: &mut AheadInTxn,
    ) -> Option<Member> {
        let (append, assumed) = match self.decide(agent, unit, head) {
            Decided::Rows(append, assumed) => (append, assumed),
            Decided::Failed(member) => return Some(member),
            Decided::NeedsReads => return None,
        };
        let expect = sql::expect_sql(agent, head, &assumed).ok()?;
        let insert = sql::insert_sql(agent, &unit_rows(&append, head.is_none()).ok()?).ok()?;
        c.defer(&expect);
        c.defer(&insert);
        if let Some(live) = sql::live_for_unit(agent, &append) {
            c.defer(&live);
        }
        c.keep(UnitMark::of(&append));
        let new_head = Head { seq: append.seq, tx_time: append.tx_time };
        c.track_head(agent, Some(new_head));
        self.known.non_empty(agent, append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())));
        txn.units += 1;
        txn.assumed_empty.extend(assumed);
        Some(Member::Written(new_head))
    }

    /// After a transaction with units decided ahead failed (a guard, most likely): the head
    /// is forgotten and the lines those units took as empty are no longer taken so.
    pub(super) fn unlearn(&self, agent: &str, txn: &mut AheadInTxn) {
        if txn.units > 0 {
            self.known.forget_head(agent);
            self.known.non_empty(agent, txn.assumed_empty.iter().map(|(s, p)| (s.as_str(), p.as_str())));
            super::add(&self.counters.failed_guards, 1);
        }
        *txn = AheadInTxn::default();
    }

    /// Tries to write a lone `unit` in one round trip: runs it against what this process knows
    /// of `agent`, then sends the lock (key `lock_key`), the guard, the rows and `COMMIT`
    /// together, possibly with other agents' units (see `convoy`).
    pub(super) fn send_alone(
        &self,
        pool: &Pool,
        agent: &str,
        lock_key: i64,
        unit: &mut WriteUnit<'_>,
    ) -> Alone {
        let Some(head) = self.known.head(agent) else { return Alone::NotAhead };
        let (append, assumed) = match self.decide(agent, unit, head) {
            Decided::Rows(append, assumed) => (append, assumed),
            Decided::Failed(member) => return Alone::Done(member),
            Decided::NeedsReads => return Alone::NotAhead,
        };
        let Ok(rows) = unit_rows(&append, head.is_none()) else { return Alone::NotAhead };
        let ready = Ready {
            agent: agent.to_owned(),
            lock_key,
            head,
            assumed_empty: Arc::from(assumed),
            rows: Arc::new(rows),
            touched: Arc::from(append.touched_claims()),
            live: sql::live_for_unit(agent, &append).map(Arc::from),
            mark: UnitMark::of(&append),
        };
        let sent = self.convoy.send(ready.clone(), &|group| self.send_group(pool, group, Lock::Try));
        match self.resend_until_settled(pool, &ready, sent) {
            Ok(true) => {
                super::add(&self.counters.speculative_units, 1);
                self.known.non_empty(
                    agent,
                    append.claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str())),
                );
                Alone::Done(Member::Written(Head { seq: append.seq, tx_time: append.tx_time }))
            }
            Ok(false) => {
                // The guard (or an insert) refused: someone else wrote, or a line was not empty.
                self.known.forget_head(agent);
                self.known
                    .non_empty(agent, ready.assumed_empty.iter().map(|(s, p)| (s.as_str(), p.as_str())));
                super::add(&self.counters.failed_guards, 1);
                telemetry::retry(BACKEND, "guard_failed", 1, 0, &"the agent's head or an empty line changed");
                Alone::NotAhead
            }
            Err(Some(failure)) => Alone::Failed(failure),
            Err(None) => Alone::NotAhead,
        }
    }

    /// Follows a lone unit's `sent` to an answer: `Ok(true)` committed, `Ok(false)` refused
    /// (run it the pipelined way), `Err(Some)` failed, `Err(None)` not sent (busy). Refused in
    /// its group (its lock held elsewhere, its guard, or the group's statement), the unit is
    /// sent again alone, waiting for its agent's lock, where a refusal is its own. After a try
    /// whose connection broke while committing (looked up under the lock: not stored), the
    /// unit is only ever sent again with the same rows and guard — never run the pipelined way,
    /// which would mint new claims — so at most one try can commit.
    fn resend_until_settled(
        &self,
        pool: &Pool,
        ready: &Ready,
        mut sent: Sent,
    ) -> Result<bool, Option<Failure>> {
        let look_up = || self.look_up(pool, &ready.agent, ready.lock_key, Some(&ready.mark));
        let mut lost = None;
        let mut tries = 0;
        loop {
            match sent {
                Sent::Committed => return Ok(true),
                Sent::Partly(_) => {
                    sent = sent.for_agent(&ready.agent);
                    continue;
                }
                Sent::Busy => return Err(None),
                Sent::Failed(failure) => return Err(Some(failure)),
                Sent::Lost(cause) => match look_up() {
                    Found::Stored => return Ok(true),
                    Found::NotStored => lost = Some(cause),
                    found => return Err(Some(lost::failure(found, &cause))),
                },
                Sent::Refused if tries > 0 => {
                    let Some(cause) = &lost else { return Ok(false) };
                    // An earlier try may have committed after all (its guard then refused this
                    // one): look again, now that the lock was ours.
                    return match look_up() {
                        Found::Stored => Ok(true),
                        Found::NotStored => Ok(false),
                        found => Err(Some(lost::failure(found, cause))),
                    };
                }
                Sent::Refused => {}
            }
            if tries == ALONE_TRIES {
                // Every try was lost, and looked up as not stored.
                let cause = lost.as_deref().unwrap_or("no answer");
                return Err(Some(lost::failure(Found::NotStored, cause)));
            }
            tries += 1;
            sent = self.send_group(pool, std::slice::from_ref(ready), Lock::Wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> Head {
        Head { seq, tx_time: Timestamp(i64::try_from(seq).unwrap_or(0) * 10) }
    }

    #[test]
    fn knowledge_keeps_the_latest_head_and_forgets_it_on_request() {
        let k = Knowledge::default();
        assert_eq!(k.head("a"), None);
        k.committed("a", head(5));
        k.committed("a", head(3)); // an older commit answered late does not win
        assert_eq!(k.head("a"), Some(Some(head(5))));
        k.forget_head("a");
        assert_eq!(k.head("a"), None);
        k.committed("a", head(2)); // after forgetting, any commit is the best guess
        assert_eq!(k.head("a"), Some(Some(head(2))));
    }

    #[test]
    fn knowledge_of_lines_stays_within_its_byte_budget() {
        let k = Knowledge::default();
        let subject = "s".repeat(4000);
        let per_line = subject.len() + 1 + LINE_OVERHEAD;
        let lines = 3 * MAX_LINE_BYTES / per_line;
        for i in 0..lines {
            let predicate = format!("{}", i % 10);
            let agent = format!("agent-{}", i % 7);
            k.non_empty(&agent, [(format!("{subject}{i}").as_str(), predicate.as_str())]);
            assert!(k.line_bytes() <= MAX_LINE_BYTES, "after {i} lines: {}", k.line_bytes());
            // The line just recorded is always known.
            assert!(k.is_non_empty(&agent, &format!("{subject}{i}"), &predicate));
        }
        // Recording a known line again costs nothing.
        let before = k.line_bytes();
        k.non_empty("agent-x", [("a", "p")]);
        k.non_empty("agent-x", [("a", "p")]);
        assert_eq!(k.line_bytes(), before + 2 + LINE_OVERHEAD);
    }

    #[test]
    fn knowledge_forgets_every_agent_beyond_its_agent_budget() {
        let k = Knowledge::default();
        for i in 0..MAX_AGENTS {
            k.committed(&format!("a{i}"), head(1));
        }
        assert!(k.head("a0").is_some());
        k.committed("one-more", head(1));
        assert!(k.head("a0").is_none(), "the older agents were forgotten");
        assert!(k.head("one-more").is_some());
    }

    #[test]
    fn spec_view_answers_the_head_and_unknown_lines_and_gives_up_on_anything_else() {
        let k = Knowledge::default();
        k.committed("a", head(4));
        k.non_empty("a", [("known", "p")]);
        let view = SpecView::new(&k, "a", Some(head(4)));
        assert_eq!(view.head().ok(), Some(Some(head(4))));
        assert!(view.line("new", "p", Upto::Head).is_ok_and(|rows| rows == LineRows::default()));
        assert!(!view.gave_up());
        assert_eq!(view.assumed_empty(), vec![("new".to_owned(), "p".to_owned())]);
        // A line this process wrote into is not answered, nor is a bounded (as-of) line read.
        assert!(view.line("known", "p", Upto::Head).is_err());
        assert!(view.gave_up());
        let view = SpecView::new(&k, "a", Some(head(4)));
        assert!(view.line("new", "p", Upto::Seq(3)).is_err() && view.gave_up());
        let view = SpecView::new(&k, "a", Some(head(4)));
        assert!(view.claim(ClaimRef(uuid::Uuid::nil())).is_err() && view.gave_up());
    }
}
