//! One-round-trip writes: running a unit before talking to the server, and checking its
//! assumptions under the lock.
//!
//! A write normally needs two round trips: `BEGIN` + the agent's lock + the unit's reads,
//! then the inserts + `COMMIT`. When this process knows the agent's head (from its own last
//! commit), a unit whose reads are only that head and lines it may assume empty can run
//! first, against a [`SpecView`] that answers from that knowledge. The whole transaction then
//! goes in one round trip: `BEGIN`, the lock, a guard that fails unless the head and the
//! assumed-empty lines are still what the unit saw ([`expect_sql`]), the inserts, `COMMIT`.
//! The guard runs after the lock, so it checks exactly what the normal path would have read;
//! if it fails (another process wrote, or a line was not empty), the transaction is rolled
//! back and the unit runs again the normal way. Any other read makes the view give up before
//! anything is sent. In a batch the same holds unit by unit: a unit decided ahead queues its
//! guard and rows in front of the next round trip (the next unit's read, or the `COMMIT`), at
//! the head the previous unit left; a failed guard there rolls the batch back and its units run
//! again, each in its own savepoint.
//!
//! What a process knows ([`Knowledge`]) is only ever a guess checked by the guard, so it may
//! be stale; it is kept small and forgotten freely. The one thing it holds as fact is that a
//! line this process wrote a claim into is not empty (claims are never removed), which keeps
//! it from speculating on lines that would fail the guard.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use credence_core::{
    Adjudication, Append, Assertion, AuditRange, Claim, ClaimRef, Edge, EdgeKind, Error, Event, Handle, Head,
    LedgerEntry, LedgerRead, LineRows, Result, Timestamp, Upto,
};

use crate::codec::seq_param;
use crate::error::{BACKEND, PgResult};
use crate::write::quote_literal;

/// Most agents whose head a process remembers; beyond it, everything is forgotten.
const MAX_AGENTS: usize = 4096;
/// Most bytes of remembered non-empty lines (all agents together, counting each line's
/// subject, predicate and [`LINE_OVERHEAD`]); beyond it, every agent's lines are forgotten.
const MAX_LINE_BYTES: usize = 16 << 20;
/// What a remembered line costs besides its text (set entry, string headers), roughly.
const LINE_OVERHEAD: usize = 96;

/// A line: subject and predicate.
pub(crate) type LineKey = (String, String);

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

    /// The head to speculate on, if known.
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

/// The guard: fails the transaction (division by zero) unless the agent's newest unit is
/// `$2` (0: none) and none of the lines `($3[i], $4[i])` holds a claim. Each line is probed in
/// `claims_by_line` order (see `read::line_parts`); see [`PLAN_EXPECT`] for its plan.
pub(crate) const PREPARE_EXPECT: &str = "PREPARE credence_expect(text, bigint, text[], text[]) AS \
     SELECT 1 / ((SELECT coalesce(max(stream_seq), 0) FROM units WHERE agent_id = $1) = $2 \
     AND NOT EXISTS (SELECT 1 FROM unnest($3, $4) AS l(s, p) WHERE (SELECT c.claim_ref FROM claims c \
     WHERE c.agent_id = $1 AND c.subject = l.s AND c.predicate = l.p ORDER BY c.stream_seq, c.claim_ref \
     LIMIT 1) IS NOT NULL))::int";

/// Makes and caches the guards' generic plans when the session is prepared, with sorts
/// disabled: while the claims table holds a few rows, probing a line through `claims_by_unit`
/// plus a sort costs about as much as through `claims_by_line`, and that plan, kept for the
/// session, would scan every claim of the agent on each write as the table grows. (A plan made
/// again later — after PostgreSQL analyses the table, or resets its plan cache — is made with
/// the session's usual settings; with statistics `claims_by_line` wins clearly.) Runs after
/// the session settings (generic plans).
pub(crate) const PLAN_EXPECT: &str = "SET enable_sort = off; \
     EXPLAIN EXECUTE credence_expect(E'', 0, ARRAY[]::text[], ARRAY[]::text[]); \
     EXPLAIN EXECUTE credence_append_many(ARRAY[]::text[], ARRAY[]::bigint[], ARRAY[]::bigint[], \
     ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], '[]', '[]', '[]', '[]', '[]'); RESET enable_sort";

/// The guard for `agent` at `head` with the lines `assumed_empty`, for a simple-query batch.
pub(crate) fn expect_sql(agent: &str, head: Option<Head>, assumed_empty: &[LineKey]) -> PgResult<String> {
    let list = |part: fn(&LineKey) -> &str| {
        let items: Vec<String> = assumed_empty.iter().map(|l| quote_literal(part(l))).collect();
        format!("ARRAY[{}]::text[]", items.join(", "))
    };
    Ok(format!(
        "EXECUTE credence_expect({}, {}, {}, {})",
        quote_literal(agent),
        seq_param(head.map_or(0, |h| h.seq))?,
        list(|l| &l.0),
        list(|l| &l.1)
    ))
}

/// The transaction-local setting in which a shared transaction records the lock keys it got
/// (see the `convoy` module).
pub(crate) const LOCKED_SETTING: &str = "credence.locked";

/// The guard arguments of several agents' units for `credence_append_many` (see
/// `write::prepare_append`): their agents, the heads they were decided at, their lock keys,
/// then the lines they took as empty (agent, subject, predicate).
pub(crate) fn many_guard_args(units: &[(&str, Option<Head>, i64, &[LineKey])]) -> PgResult<String> {
    let array = |items: Vec<String>, ty: &str| format!("ARRAY[{}]::{ty}[]", items.join(", "));
    let (mut agents, mut heads, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    let (mut line_agents, mut subjects, mut predicates) = (Vec::new(), Vec::new(), Vec::new());
    for (agent, head, key, lines) in units {
        agents.push(quote_literal(agent));
        heads.push(seq_param(head.map_or(0, |h| h.seq))?.to_string());
        keys.push(key.to_string());
        for (subject, predicate) in *lines {
            line_agents.push(quote_literal(agent));
            subjects.push(quote_literal(subject));
            predicates.push(quote_literal(predicate));
        }
    }
    Ok([
        array(agents, "text"),
        array(heads, "bigint"),
        array(keys, "bigint"),
        array(line_agents, "text"),
        array(subjects, "text"),
        array(predicates, "text"),
    ]
    .join(", "))
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

    #[test]
    fn expect_sql_quotes_every_line() {
        let sql =
            expect_sql("o'k", Some(head(7)), &[("s'1".into(), "p".into()), ("s2".into(), "q\\".into())]);
        assert_eq!(
            sql.ok().as_deref(),
            Some(
                "EXECUTE credence_expect(E'o''k', 7, ARRAY[E's''1', E's2']::text[], \
                 ARRAY[E'p', E'q\\\\']::text[])"
            )
        );
    }
}
