//! The storage boundary: the [`Ledger`] trait every backend implements.
//!
//! A ledger stores rows; it never decides anything. All decisions (dispositions, liveness,
//! the fold) live in the engine, so every backend gives identical answers as long as it
//! honours the contracts below. Each "must" sentence has a conformance case in
//! `credence-conformance` (module `storage`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::agent::AgentId;
use crate::claim::Claim;
use crate::error::Result;
use crate::idempotency::Idempotency;
use crate::ids::{ClaimRef, Handle};
pub use crate::liveness::{LineRows, LineSummary, LiveClaim, Span, StateMark};
use crate::record::{Adjudication, Assertion, Edge, EdgeKind, Event, LedgerEntry, StatusChange};
use crate::time::Timestamp;

/// The newest commit unit of an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its stream sequence number.
    pub seq: u64,
    /// Its transaction time.
    pub tx_time: Timestamp,
}

/// Every row one commit unit appends. All rows carry the unit's `seq` and `tx_time`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Append {
    /// The unit's sequence number: exactly the agent's previous head + 1 (1 for the first).
    pub seq: u64,
    /// The unit's transaction time: strictly greater than the previous head's.
    pub tx_time: Timestamp,
    /// New claims.
    pub claims: Vec<Claim>,
    /// New validity assertions.
    pub assertions: Vec<Assertion>,
    /// New edges.
    pub edges: Vec<Edge>,
    /// New ledger entries, `index` 0.. in order.
    pub entries: Vec<LedgerEntry>,
    /// New adjudication rows (as queued).
    pub adjudications: Vec<Adjudication>,
    /// Adjudication rows this unit closes (resolved or expired).
    pub status_changes: Vec<StatusChange>,
    /// The idempotency record of a write that carried a key (SPEC §2.4), unique per agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// (Boxed: most units carry none, and a record holds a whole answer.)
    pub idempotency: Option<Box<Idempotency>>,
}

impl Append {
    /// An empty unit at `seq` / `tx_time`.
    pub fn new(seq: u64, tx_time: Timestamp) -> Append {
        Append { seq, tx_time, ..Append::default() }
    }

    /// True when the unit holds no row (an idempotency record alone is no row).
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
            && self.assertions.is_empty()
            && self.edges.is_empty()
            && self.entries.is_empty()
            && self.adjudications.is_empty()
            && self.status_changes.is_empty()
    }

    /// The claims whose liveness this unit may change, ascending: its own claims, those a
    /// ledger entry deciding liveness ([`Event::MARKS`]) is about, and assertion targets. A
    /// backend that keeps the live claims of each line as an index updates exactly these.
    pub fn touched_claims(&self) -> Vec<ClaimRef> {
        let mut touched: Vec<ClaimRef> = self
            .claims
            .iter()
            .map(|c| c.claim_ref)
            .chain(self.entries.iter().filter(|e| Event::MARKS.contains(&e.event)).map(|e| e.claim_ref))
            .chain(self.assertions.iter().map(|a| a.target))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Each of the unit's own claims with its state from the unit's rows alone — all it has,
    /// since the claim is new — folded as [`liveness::claim_states`](crate::liveness::claim_states)
    /// does (`None`: no state entry, not live).
    pub fn own_claim_states(&self) -> Vec<(&Claim, Option<crate::liveness::ClaimState>)> {
        let marks: Vec<StateMark> =
            self.entries.iter().filter(|e| Event::MARKS.contains(&e.event)).map(StateMark::of).collect();
        let mut assertions = self.assertions.clone();
        assertions.sort_by_key(|a| a.assertion_ref);
        let states = crate::liveness::claim_states(&marks, &assertions);
        self.claims.iter().map(|c| (c, states.get(&c.claim_ref).copied())).collect()
    }

    /// Why a backend must refuse this unit whatever is stored (`Error::Conflict`), described;
    /// `None` when its shape is sound: it has rows, every row carries its seq
    /// ([`row_with_other_seq`](Self::row_with_other_seq)) and no edge appears twice in it.
    /// Backends still check the unit against what is stored (the next seq, a later tx_time,
    /// new claim ids, new edges, a new idempotency key).
    pub fn shape_problem(&self) -> Option<String> {
        if self.is_empty() {
            return Some(format!("unit {} has no rows", self.seq));
        }
        if let Some(reason) = self.row_with_other_seq() {
            return Some(reason);
        }
        // A set, not pairwise comparison: a unit read from an import file may hold many edges.
        let mut seen = std::collections::HashSet::with_capacity(self.edges.len());
        for e in &self.edges {
            if !seen.insert((e.from, e.to, e.kind)) {
                return Some(format!(
                    "unit {} repeats the edge {} -{:?}-> {}",
                    self.seq, e.from, e.kind, e.to
                ));
            }
        }
        None
    }

    /// The first of its rows that does not carry the unit's `seq`, described; `None` when
    /// every row does. Backends refuse such a unit with `Error::Conflict` (a unit is read
    /// back by its seq, so a row carrying another would surface in another unit).
    pub fn row_with_other_seq(&self) -> Option<String> {
        let seq = self.seq;
        let other = |what: &str, id: String, row_seq: u64| {
            Some(format!("{what} {id} carries seq {row_seq}, not its unit's seq {seq}"))
        };
        if let Some(c) = self.claims.iter().find(|c| c.seq != seq) {
            return other("claim", c.claim_ref.to_string(), c.seq);
        }
        if let Some(e) = self.entries.iter().find(|e| e.seq != seq) {
            return other("ledger entry about", e.claim_ref.to_string(), e.seq);
        }
        if let Some(a) = self.assertions.iter().find(|a| a.seq != seq) {
            return other("assertion", a.assertion_ref.to_string(), a.seq);
        }
        if let Some(e) = self.edges.iter().find(|e| e.seq != seq) {
            return other("edge from", e.from.to_string(), e.seq);
        }
        if let Some(j) = self.adjudications.iter().find(|j| j.seq != seq) {
            return other("adjudication", j.handle.to_string(), j.seq);
        }
        None
    }
}

/// Something in a store that looks like an agent's rows but cannot be read well enough to
/// name the agent (for example a damaged SQLite file whose name is a hash of the id). See
/// [`Ledger::survey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedAgent {
    /// What it is: the agent id when known, else the file or row that holds it.
    pub name: String,
    /// Why it cannot be read.
    pub reason: String,
}

/// A store's agents and what it could not name an agent for (see [`Ledger::survey`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSurvey {
    /// Every agent with rows, as [`Ledger::agents`] lists them.
    pub agents: Vec<AgentId>,
    /// What the listing had to leave out.
    pub damaged: Vec<DamagedAgent>,
}

/// How far a read of a line goes (see [`LedgerRead::line`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upto {
    /// Every row the view holds: inside [`Ledger::write`], the rows up to the agent's head,
    /// which the unit is about to extend. A backend may read the line and the head together.
    Head,
    /// The rows with `seq ≤ n` (an as-of read).
    Seq(u64),
}

impl Upto {
    /// True when a row of unit `seq` is within the bound.
    pub fn includes(self, seq: u64) -> bool {
        match self {
            Upto::Head => true,
            Upto::Seq(n) => seq <= n,
        }
    }
}

/// Position of a ledger entry: `(seq, index)`. Audit pages continue strictly after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuditCursor {
    /// The entry's commit unit.
    pub seq: u64,
    /// The entry's index within the unit.
    pub index: u32,
}

/// A position in a line's canonical order (SPEC §3.1): the ordering key `(key, tx_time, seq,
/// claim_ref)` of the last claim a history page held. Pages continue strictly after it; the
/// derived order compares the fields in that order, which is the canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// The trusted window's start, else the transaction time.
    pub key: Timestamp,
    /// The claim's transaction time.
    pub tx_time: Timestamp,
    /// The claim's commit unit.
    pub seq: u64,
    /// The claim.
    pub claim_ref: ClaimRef,
}

impl HistoryCursor {
    /// The position of `claim` when windows are trusted at `threshold`.
    pub fn of(claim: &Claim, threshold: f32) -> HistoryCursor {
        let (key, tx_time, seq, claim_ref) = claim.canonical_key(threshold);
        HistoryCursor { key, tx_time, seq, claim_ref }
    }
}

/// A page of a line's claims for [`LedgerRead::line_page`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinePage {
    /// Only claims with `seq ≤ seq`.
    pub seq: u64,
    /// The valid-time trust threshold the canonical order is taken at.
    pub threshold: f32,
    /// Only claims strictly after this position.
    pub after: Option<HistoryCursor>,
    /// At most this many claims (exactly this many when that many exist).
    pub limit: usize,
}

impl LinePage {
    /// The page out of `claims`, any superset of it within the line: those with `seq ≤ seq`
    /// after the cursor, in canonical order, the first `limit`. Backends that read a page from
    /// several indexes merge their results with it.
    pub fn select(&self, claims: Vec<Claim>) -> Vec<Claim> {
        let mut page: Vec<(HistoryCursor, Claim)> = claims
            .into_iter()
            .filter(|c| c.seq <= self.seq)
            .map(|c| (HistoryCursor::of(&c, self.threshold), c))
            .filter(|(at, _)| self.after.is_none_or(|after| *at > after))
            .collect();
        page.sort_by_key(|(at, _)| *at);
        page.dedup_by_key(|(at, _)| *at);
        page.into_iter().take(self.limit).map(|(_, c)| c).collect()
    }
}

/// One subject with claims (SPEC §3.4), as [`LedgerRead::subjects`] and `subjects` answer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSummary {
    /// The subject.
    pub subject: String,
    /// Its lines: predicates with at least one claim.
    pub lines: u64,
    /// Its claims live at the head, over all its lines.
    pub live: u64,
}

/// A range of subjects for [`LedgerRead::subjects`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubjectRange<'a> {
    /// Only subjects starting with this text (`""`: all).
    pub prefix: &'a str,
    /// Only subjects strictly after this one, bytewise.
    pub after: Option<&'a str>,
    /// At most this many (exactly this many when that many exist).
    pub limit: usize,
}

impl SubjectRange<'_> {
    /// True when `subject` is within the range's bounds (its limit aside).
    pub fn holds(&self, subject: &str) -> bool {
        subject.starts_with(self.prefix) && self.after.is_none_or(|a| subject > a)
    }

    /// The smallest text greater than every text starting with the prefix (in bytewise order,
    /// which is code-point order), `None` when there is none (an empty prefix, or one of only
    /// U+10FFFF): a backend reads `prefix ≤ subject < end` from an index.
    pub fn prefix_end(&self) -> Option<String> {
        let mut chars: Vec<char> = self.prefix.chars().collect();
        while let Some(last) = chars.pop() {
            let next = (u32::from(last) + 1..=0x10_FFFF).find_map(char::from_u32);
            if let Some(next) = next {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }
}

/// Every claim of the view with `seq ≤ seq`, paged through [`LedgerRead::units`]: what the
/// default discovery reads fold (a pass over the agent's history).
fn claims_upto(view: &(impl LedgerRead + ?Sized), seq: u64) -> Result<Vec<Claim>> {
    let (mut after, mut claims) = (0, Vec::new());
    loop {
        let page = view.units(after, 256)?;
        let Some(last) = page.last() else { return Ok(claims) };
        after = last.seq;
        for unit in page {
            if unit.seq > seq {
                return Ok(claims);
            }
            claims.extend(unit.claims);
        }
    }
}

/// A range of ledger entries for [`LedgerRead::audit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditRange {
    /// Only entries about this claim.
    pub claim_ref: Option<ClaimRef>,
    /// Only entries strictly after this position in the chosen direction.
    pub after: Option<AuditCursor>,
    /// At most this many entries (the backend must return exactly this many when that many
    /// exist; it must not apply a cap of its own).
    pub limit: usize,
    /// Descending `(seq, index)` order instead of ascending.
    pub newest_first: bool,
}

/// A consistent, read-only view of one agent's rows.
///
/// # Behavior
/// * Every method must answer from one snapshot: within one [`Ledger::read`] or
///   [`Ledger::write`] call, a row committed by another writer must either be visible to every
///   call or to none.
/// * Inside [`Ledger::write`], the view must include every unit committed before it, including
///   units of the same group commit.
/// * Methods taking `max_seq` must return only rows with `seq ≤ max_seq`.
/// * Lists must be ordered as each method documents; the engine relies on it.
///
/// # Errors
/// A row that does not decode must be reported as `Error::Corrupt`, never a panic.
pub trait LedgerRead {
    /// The newest commit unit, `None` for an agent with no rows.
    fn head(&self) -> Result<Option<Head>>;
    /// The largest `seq` whose `tx_time ≤ t`, or 0 when there is none.
    fn seq_at(&self, t: Timestamp) -> Result<u64>;
    /// The `tx_time` of unit `seq`, `None` if there is no such unit.
    fn tx_time_of(&self, seq: u64) -> Result<Option<Timestamp>>;
    /// One claim by id, whatever its seq.
    fn claim(&self, claim_ref: ClaimRef) -> Result<Option<Claim>>;
    /// The rows of one line (subject, predicate) up to `upto` (see [`LineRows`] for what
    /// they are and their order). A line without claims has no marks or assertions either.
    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows>;
    /// The claims of a line live at the view's head (SPEC §3.2 step 2), ordered by `(seq,
    /// claim_ref)`, each with its latest state disposition and whether it is flagged — what
    /// [`liveness::live_claims`](crate::liveness::live_claims) makes of
    /// [`line`](Self::line)`(subject, predicate, Upto::Head)`, which is the default.
    ///
    /// The engine decides every write and answers recall "now" from this alone, so a backend
    /// that keeps the live claims of each line as an index (maintained in the commit unit that
    /// changes them, with [`liveness`](crate::liveness)) answers without reading the line's
    /// history.
    fn live(&self, subject: &str, predicate: &str) -> Result<Vec<LiveClaim>> {
        Ok(crate::liveness::live_claims(self.line(subject, predicate, Upto::Head)?))
    }
    /// The live claims of a line ([`live`](Self::live), same order) whose window is not
    /// trusted at `threshold` — none, no start, or confidence below it — or overlaps `span`:
    /// every live claim that can contradict, corroborate or be believed in `span`. A backend
    /// may return more live claims than that (the default returns them all; the engine
    /// filters), never fewer. An index by window start answers it in O(log n + the answer).
    fn live_overlapping(
        &self,
        subject: &str,
        predicate: &str,
        span: crate::liveness::Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        let _ = (span, threshold);
        self.live(subject, predicate)
    }
    /// The claims of a line live as of unit `seq` (SPEC §3.2 step 2 over the rows with `seq ≤
    /// seq`), each with its state as of then, ordered by `(seq, claim_ref)`: at least those
    /// not trusted at `threshold` or overlapping `span`, as
    /// [`live_overlapping`](Self::live_overlapping) at the head. The default answers every one,
    /// from [`line`](Self::line)`(subject, predicate, Upto::Seq(seq))`; a backend that keeps
    /// when each claim was live (liveness periods) answers without folding the line.
    fn live_at(
        &self,
        subject: &str,
        predicate: &str,
        seq: u64,
        span: crate::liveness::Span,
        threshold: f32,
    ) -> Result<Vec<LiveClaim>> {
        let _ = (span, threshold);
        Ok(crate::liveness::live_claims(self.line(subject, predicate, Upto::Seq(seq))?))
    }
    /// What a line's live claims add up to ([`LineSummary::of`](crate::liveness::LineSummary::of)
    /// of [`live`](Self::live), the default): deciding an ingest needs it besides the claims
    /// [`live_overlapping`](Self::live_overlapping) finds. A backend keeps it as counters
    /// updated with the live claims.
    fn line_summary(&self, subject: &str, predicate: &str) -> Result<crate::liveness::LineSummary> {
        let live = self.live(subject, predicate)?;
        Ok(crate::liveness::LineSummary::of(&live.iter().map(|l| &l.claim).collect::<Vec<_>>()))
    }
    /// The state of one claim at the view's head, folded from its own entries and assertions
    /// (`None`: no state entry): [`claim_states_at`](Self::claim_states_at) of that claim.
    fn claim_state(&self, claim_ref: ClaimRef) -> Result<Option<crate::liveness::ClaimState>> {
        Ok(self.claim_states_at(&[claim_ref], u64::MAX)?.get(&claim_ref).copied())
    }
    /// The states of some claims as of unit `seq`, each folded from its own entries and
    /// assertions with `seq ≤ seq`; a claim with no state entry then is absent. The default
    /// reads [`claim_entries`](Self::claim_entries) and
    /// [`claim_assertions`](Self::claim_assertions) of each.
    fn claim_states_at(
        &self,
        claims: &[ClaimRef],
        seq: u64,
    ) -> Result<std::collections::HashMap<ClaimRef, crate::liveness::ClaimState>> {
        let mut states = std::collections::HashMap::with_capacity(claims.len());
        for &claim_ref in claims {
            let marks: Vec<StateMark> = self
                .claim_entries(claim_ref, seq)?
                .iter()
                .filter(|e| Event::MARKS.contains(&e.event))
                .map(StateMark::of)
                .collect();
            let assertions = self.claim_assertions(claim_ref, seq)?;
            states.extend(crate::liveness::claim_states(&marks, &assertions));
        }
        Ok(states)
    }
    /// A page of a line's claims in canonical order (SPEC §3.1, §3.3): those with `seq ≤
    /// page.seq`, strictly after `page.after`, at most `page.limit` (see [`LinePage`]). The
    /// default sorts the whole line; a backend answers from an index by trusted window start
    /// and one by unit, merged with [`LinePage::select`].
    fn line_page(&self, subject: &str, predicate: &str, page: &LinePage) -> Result<Vec<Claim>> {
        Ok(page.select(self.line(subject, predicate, Upto::Seq(page.seq))?.claims))
    }
    /// The subjects with at least one claim within `range`, bytewise order, each with its
    /// number of lines and of live claims at the head (SPEC §3.4). The default folds every
    /// claim; a backend keeps a row per line.
    fn subjects(&self, range: &SubjectRange<'_>) -> Result<Vec<SubjectSummary>> {
        let mut lines: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            std::collections::BTreeMap::new();
        for c in claims_upto(self, u64::MAX)? {
            if range.holds(&c.subject) {
                lines.entry(c.subject).or_default().insert(c.predicate);
            }
        }
        let mut out = Vec::new();
        for (subject, predicates) in lines.into_iter().take(range.limit) {
            let mut live = 0;
            for p in &predicates {
                live += self.live(&subject, p)?.len() as u64;
            }
            out.push(SubjectSummary { subject, lines: predicates.len() as u64, live });
        }
        Ok(out)
    }
    /// The lines with a claim of `seq ≤ seq` among whose terms
    /// ([`terms::of_claim`](crate::terms::of_claim)) is `term`, ordered by `(subject,
    /// predicate)`, at most `limit` (exactly that many when that many exist). The default folds
    /// every claim; a backend keeps the postings — a row per term and line with the first seq
    /// that carried it — written in the claim's commit unit.
    fn term_lines(&self, term: &str, seq: u64, limit: usize) -> Result<Vec<(String, String)>> {
        let mut lines = std::collections::BTreeSet::new();
        for c in claims_upto(self, seq)? {
            if crate::terms::of_claim(&c).iter().any(|t| t == term) {
                lines.insert((c.subject, c.predicate));
            }
        }
        Ok(lines.into_iter().take(limit).collect())
    }
    /// The seq of the line's newest claim with `seq ≤ seq`, `None` when it has none then.
    fn line_latest(&self, subject: &str, predicate: &str, seq: u64) -> Result<Option<u64>> {
        Ok(self.line(subject, predicate, Upto::Seq(seq))?.claims.iter().map(|c| c.seq).max())
    }
    /// The ledger entries about one claim with `seq ≤ max_seq`, ordered by `(seq, index)`.
    fn claim_entries(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<LedgerEntry>>;
    /// The assertions about one claim with `seq ≤ max_seq`, ordered by `(seq, assertion_ref)`.
    fn claim_assertions(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<Assertion>>;
    /// How many entries with this `event` about `claim_ref` have `recorded_at ≥ since`.
    fn count_entries_since(&self, claim_ref: ClaimRef, event: Event, since: Timestamp) -> Result<u64>;
    /// Edges of `kind` pointing at `to`, ordered by `(seq, from)`.
    fn edges_to(&self, to: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>>;
    /// Edges of `kind` leaving `from`, in the order they were appended.
    fn edges_from(&self, from: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>>;
    /// The distinct predicates of a subject with a claim of `seq ≤ max_seq`, sorted bytewise.
    fn predicates(&self, subject: &str, max_seq: u64) -> Result<Vec<String>>;
    /// A page of ledger entries (see [`AuditRange`]).
    fn audit(&self, range: &AuditRange) -> Result<Vec<LedgerEntry>>;
    /// One adjudication row by handle, with its current status and `notified` flag.
    fn adjudication(&self, handle: Handle) -> Result<Option<Adjudication>>;
    /// The rows still `pending`, ordered by `(queued_at, handle)`.
    fn open_adjudications(&self) -> Result<Vec<Adjudication>>;
    /// Whole commit units with `seq > after_seq`, ascending, at most `limit` of them.
    ///
    /// Each returned unit must equal the [`Append`] that was written, except that an
    /// adjudication row carries its current `notified` flag and `status` `pending` (its
    /// closing shows as a [`StatusChange`] in the unit that closed it).
    fn units(&self, after_seq: u64, limit: usize) -> Result<Vec<Append>>;
    /// The idempotency record stored under `key` (SPEC §2.4), whatever its seq.
    ///
    /// The default pages through [`units`](Self::units), which costs a pass over the agent's
    /// history; backends override it with a lookup on their `UNIQUE(agent_id, key)` index.
    fn idempotency(&self, key: &str) -> Result<Option<Idempotency>> {
        let mut after = 0;
        loop {
            let page = self.units(after, 256)?;
            let Some(last) = page.last() else { return Ok(None) };
            after = last.seq;
            if let Some(found) = page.into_iter().find_map(|u| u.idempotency.filter(|i| i.key == key)) {
                return Ok(Some(*found));
            }
        }
    }
}

/// One commit unit's body: reads the current state and returns the rows to append, or `None`
/// to write nothing. May be called more than once if the backend retries.
pub type WriteUnit<'a> = dyn FnMut(&dyn LedgerRead) -> Result<Option<Append>> + Send + 'a;

/// One read's body, run against a single snapshot.
pub type ReadUnit<'a> = dyn FnMut(&dyn LedgerRead) -> Result<()> + 'a;

/// A storage backend: per-agent append-only rows with serialised writes and snapshot reads.
///
/// # Behavior
/// * [`write`](Ledger::write) must run `unit` under the agent's serialisation — across
///   threads and, for backends that support it, across processes — so no other unit of the
///   same agent commits between the unit's reads and its appends.
/// * Writes of different agents must not wait for each other (no global lock).
/// * If `unit` returns `Ok(Some(append))`, every row of `append` must become durable and
///   visible together, or none of them; the call must not return `Ok` before that.
/// * It must refuse an `append.seq` other than head + 1 with `Error::Conflict` (the
///   `UNIQUE(agent_id, stream_seq)` backstop) and write nothing; likewise a unit
///   [`Append::shape_problem`] describes (no rows, a row carrying another seq, an edge twice),
///   a unit repeating a stored edge `(from, to, kind)`, and a unit whose idempotency key is
///   already stored for the agent (`UNIQUE(agent_id, key)`). No seq is used up by a refusal.
/// * If `unit` returns `Ok(None)` or `Err`, nothing must be written and no `seq` consumed.
/// * [`read`](Ledger::read) must never wait for the agent's write serialisation and must
///   give `f` one consistent snapshot. Reading an agent with no rows must succeed with an
///   empty view and must not create the agent.
/// * [`agents`](Ledger::agents) must list every agent with at least one committed unit,
///   sorted bytewise, with the ids exactly as given.
///
/// # Errors
/// Busy/locked storage, pool timeouts and lost connections must be `Error::Unavailable`;
/// an OCC failure that survives the backend's retries must be `Error::Conflict`; an
/// undecodable row must be `Error::Corrupt`.
pub trait Ledger: Send + Sync {
    /// A short backend name for errors and reports, e.g. `"memory"`.
    fn backend(&self) -> &'static str;
    /// Runs several commit units of `agent` in order and returns one result per unit, in
    /// the same order: the new head after the unit, or `None` if it wrote nothing.
    ///
    /// The engine hands every write of an agent to this method, concurrent ones together
    /// (see `Engine`), so a backend can run them back to back in one transaction (group
    /// commit) on one thread. This is the only place where a backend batches.
    ///
    /// # Behavior
    /// * Every unit must see the rows of the units before it in the batch, as if each had
    ///   been a separate call; each unit keeps the per-unit contracts of [`Ledger`].
    /// * A unit that returns `Err` or `Ok(None)`, or whose append is refused, must leave
    ///   nothing behind and must not change the outcome of the other units.
    /// * No unit's result may be `Ok` before its rows are durable; if a shared commit fails,
    ///   every unit that wrote in it must get an error.
    /// * A unit that panics must not take the other units with it: it is rolled back and
    ///   its result is an error (the panic is not resumed). Backends run each unit through
    ///   [`run_unit`], which does that.
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>>;
    /// Runs one commit unit for `agent`: [`write_batch`](Ledger::write_batch) of one.
    fn write(&self, agent: &AgentId, unit: &mut WriteUnit<'_>) -> Result<Option<Head>> {
        self.write_batch(agent, &mut [unit]).pop().unwrap_or_else(|| {
            Err(crate::error::Error::Backend {
                backend: self.backend(),
                source: "the backend returned no result for a unit".into(),
            })
        })
    }
    /// Runs `f` against one snapshot of `agent`'s rows.
    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()>;
    /// Records that the oracle was told about `handle`. Idempotent; consumes no `seq`.
    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()>;
    /// Every agent with rows.
    fn agents(&self) -> Result<Vec<AgentId>>;
    /// [`agents`](Ledger::agents) in one listing of the store, with what it had to leave out
    /// because it could not be read well enough to name the agent (damage stays local, SPEC
    /// §5.0: the listing carries on without it, and store-wide commands report it). An agent
    /// that `agents` lists but whose rows are damaged is not repeated in `damaged`: its own
    /// reads report the damage. The default lists `agents` and reports nothing damaged.
    fn survey(&self) -> Result<AgentSurvey> {
        Ok(AgentSurvey { agents: self.agents()?, damaged: Vec::new() })
    }
    /// Derives every index the backend keeps of `agent` (SPEC §3.5) from its ledger rows
    /// again, in one commit that the agent's writers wait for, and returns how many of its
    /// claims are live; `None` for a backend that keeps no index (the default).
    fn rebuild_indexes(&self, agent: &AgentId) -> Result<Option<u64>> {
        let _ = agent;
        Ok(None)
    }
}

macro_rules! forward_ledger {
    ($($ty:ty),*) => {$(
        impl<L: Ledger + ?Sized> Ledger for $ty {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }
            fn write_batch(
                &self,
                agent: &AgentId,
                units: &mut [&mut WriteUnit<'_>],
            ) -> Vec<Result<Option<Head>>> {
                (**self).write_batch(agent, units)
            }
            fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
                (**self).read(agent, f)
            }
            fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
                (**self).mark_notified(agent, handle)
            }
            fn agents(&self) -> Result<Vec<AgentId>> {
                (**self).agents()
            }
            fn survey(&self) -> Result<AgentSurvey> {
                (**self).survey()
            }
            fn rebuild_indexes(&self, agent: &AgentId) -> Result<Option<u64>> {
                (**self).rebuild_indexes(agent)
            }
        }
    )*};
}

forward_ledger!(&L, Box<L>, Arc<L>);

/// Runs one unit body against `view` for a backend's [`Ledger::write_batch`]: a panic in
/// the body becomes `Error::Backend` naming it, so one unit cannot take its batch with it.
/// The backend then rolls the unit back like any unit that failed.
pub fn run_unit(
    backend: &'static str,
    unit: &mut WriteUnit<'_>,
    view: &dyn LedgerRead,
) -> Result<Option<Append>> {
    catch_unwind(AssertUnwindSafe(|| unit(view)))
        .unwrap_or_else(|payload| Err(crate::error::Error::unit_panicked(backend, &*payload)))
}

/// Runs `f` in a read and returns what it produced.
pub fn read_with<L: Ledger + ?Sized, T>(
    ledger: &L,
    agent: &AgentId,
    mut f: impl FnMut(&dyn LedgerRead) -> Result<T>,
) -> Result<T> {
    let mut out = None;
    ledger.read(agent, &mut |view| {
        out = Some(f(view)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::error::Error::Backend {
        backend: ledger.backend(),
        source: "the backend returned from read without running the read".into(),
    })
}
