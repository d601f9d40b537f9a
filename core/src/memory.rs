//! `memory:` — the pure-Rust reference backend.
//!
//! The simplest correct ledger: plain vectors per agent, a mutex that serialises each agent's
//! writes, and a read/write lock so reads see one consistent state. It is the model the
//! property tests compare every other backend against.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::agent::AgentId;
use crate::claim::Claim;
use crate::error::{Error, Result};
use crate::idempotency::Idempotency;
use crate::ids::{ClaimRef, Handle};
use crate::ledger::{
    Append, AuditCursor, AuditRange, Head, Ledger, LedgerRead, LineRows, ReadUnit, StateMark, Upto,
    WriteUnit, run_unit,
};
use crate::record::{Adjudication, AdjudicationStatus, Assertion, Edge, EdgeKind, Event, LedgerEntry};
use crate::time::Timestamp;

const BACKEND: &str = "memory";

/// One agent's rows.
#[derive(Debug, Default)]
struct AgentRows {
    units: Vec<Head>,
    claims: Vec<Claim>,
    by_ref: HashMap<ClaimRef, usize>,
    /// Claim positions per `(subject, predicate)` line, in append order.
    by_line: HashMap<(String, String), Vec<usize>>,
    /// Entry positions per claim, in append order.
    entries_by_claim: HashMap<ClaimRef, Vec<usize>>,
    entries: Vec<LedgerEntry>,
    assertions: Vec<Assertion>,
    edges: Vec<Edge>,
    adjudications: Vec<Adjudication>,
    /// `seq` of the unit that closed each closed adjudication (same index as `adjudications`).
    closed_at: Vec<Option<u64>>,
    /// Idempotency records by key, and the key of each unit that stored one.
    keys: HashMap<String, Idempotency>,
    key_of_unit: HashMap<u64, String>,
}

#[derive(Debug, Default)]
struct AgentSlot {
    /// Serialises the agent's writes; held for the whole unit.
    write_gate: Mutex<()>,
    rows: RwLock<AgentRows>,
}

/// The `memory:` ledger. Cheap to create; everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    agents: RwLock<BTreeMap<AgentId, Arc<AgentSlot>>>,
}

impl MemoryLedger {
    /// An empty store.
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    fn slot(&self, agent: &AgentId) -> Option<Arc<AgentSlot>> {
        self.agents.read().unwrap_or_else(PoisonError::into_inner).get(agent).cloned()
    }

    fn slot_or_create(&self, agent: &AgentId) -> Arc<AgentSlot> {
        if let Some(slot) = self.slot(agent) {
            return slot;
        }
        let mut agents = self.agents.write().unwrap_or_else(PoisonError::into_inner);
        agents.entry(agent.clone()).or_default().clone()
    }
}

impl Ledger for MemoryLedger {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    /// Runs the units one after the other under the agent's write gate; each unit's rows are
    /// applied (and visible to the next unit) before the next one runs.
    fn write_batch(&self, agent: &AgentId, units: &mut [&mut WriteUnit<'_>]) -> Vec<Result<Option<Head>>> {
        let slot = self.slot_or_create(agent);
        let _gate = slot.write_gate.lock().unwrap_or_else(PoisonError::into_inner);
        let one = |unit: &mut WriteUnit<'_>| {
            let append = {
                let rows = slot.rows.read().unwrap_or_else(PoisonError::into_inner);
                match run_unit(BACKEND, unit, &*rows)? {
                    Some(append) => append,
                    None => return Ok(None),
                }
            };
            let mut rows = slot.rows.write().unwrap_or_else(PoisonError::into_inner);
            rows.apply(append).map(Some)
        };
        units.iter_mut().map(|unit| one(&mut **unit)).collect()
    }

    fn read(&self, agent: &AgentId, f: &mut ReadUnit<'_>) -> Result<()> {
        match self.slot(agent) {
            Some(slot) => f(&*slot.rows.read().unwrap_or_else(PoisonError::into_inner)),
            None => f(&AgentRows::default()),
        }
    }

    fn mark_notified(&self, agent: &AgentId, handle: Handle) -> Result<()> {
        if let Some(slot) = self.slot(agent) {
            let mut rows = slot.rows.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(a) = rows.adjudications.iter_mut().find(|a| a.handle == handle) {
                a.notified = true;
            }
        }
        Ok(())
    }

    fn agents(&self) -> Result<Vec<AgentId>> {
        let agents = self.agents.read().unwrap_or_else(PoisonError::into_inner);
        Ok(agents
            .iter()
            .filter(|(_, slot)| !slot.rows.read().unwrap_or_else(PoisonError::into_inner).units.is_empty())
            .map(|(id, _)| id.clone())
            .collect())
    }
}

impl AgentRows {
    fn apply(&mut self, append: Append) -> Result<Head> {
        let expected = self.units.last().map_or(1, |h| h.seq + 1);
        if append.seq != expected {
            return Err(Error::Conflict {
                backend: BACKEND,
                reason: format!("unit seq {} is not the next seq {expected}", append.seq),
            });
        }
        if let Some(prev) = self.units.last()
            && append.tx_time <= prev.tx_time
        {
            return Err(Error::Conflict {
                backend: BACKEND,
                reason: format!("unit tx_time {} is not after {}", append.tx_time, prev.tx_time),
            });
        }
        if let Some(reason) = append.shape_problem() {
            return Err(Error::Conflict { backend: BACKEND, reason });
        }
        let stored_edge = |edge: &Edge| {
            self.edges.iter().any(|e| e.from == edge.from && e.to == edge.to && e.kind == edge.kind)
        };
        if let Some(e) = append.edges.iter().find(|e| stored_edge(e)) {
            return Err(Error::Conflict {
                backend: BACKEND,
                reason: format!("the edge {} -{:?}-> {} already exists", e.from, e.kind, e.to),
            });
        }
        if let Some(key) = append.idempotency.as_ref().map(|i| &i.key)
            && self.keys.contains_key(key)
        {
            return Err(Error::Conflict {
                backend: BACKEND,
                reason: format!("idempotency key {key:?} is already stored"),
            });
        }
        if let Some(c) = append.claims.iter().find(|c| self.by_ref.contains_key(&c.claim_ref)) {
            return Err(Error::Conflict {
                backend: BACKEND,
                reason: format!("claim {} already exists", c.claim_ref),
            });
        }
        let head = Head { seq: append.seq, tx_time: append.tx_time };
        self.units.push(head);
        for claim in append.claims {
            let at = self.claims.len();
            self.by_ref.insert(claim.claim_ref, at);
            self.by_line.entry((claim.subject.clone(), claim.predicate.clone())).or_default().push(at);
            self.claims.push(claim);
        }
        for entry in append.entries {
            self.entries_by_claim.entry(entry.claim_ref).or_default().push(self.entries.len());
            self.entries.push(entry);
        }
        self.assertions.extend(append.assertions);
        self.edges.extend(append.edges);
        if let Some(record) = append.idempotency {
            self.key_of_unit.insert(append.seq, record.key.clone());
            self.keys.insert(record.key.clone(), *record);
        }
        for adj in append.adjudications {
            self.adjudications.push(adj);
            self.closed_at.push(None);
        }
        for change in append.status_changes {
            if let Some(i) = self.adjudications.iter().position(|a| a.handle == change.handle) {
                self.adjudications[i].status = change.status;
                self.closed_at[i] = Some(append.seq);
            }
        }
        Ok(head)
    }

    /// The claims of a line, append order (which is `(seq, claim_ref)` order within a unit
    /// only after sorting).
    fn line_iter(&self, subject: &str, predicate: &str) -> impl Iterator<Item = &Claim> {
        self.by_line
            .get(&(subject.to_owned(), predicate.to_owned()))
            .into_iter()
            .flatten()
            .map(|&i| &self.claims[i])
    }

    fn entries_of(&self, claim_ref: ClaimRef) -> impl Iterator<Item = &LedgerEntry> {
        self.entries_by_claim.get(&claim_ref).into_iter().flatten().map(|&i| &self.entries[i])
    }
}

fn sorted_assertions(mut v: Vec<Assertion>) -> Vec<Assertion> {
    v.sort_by_key(|a| (a.seq, a.assertion_ref));
    v
}

impl LedgerRead for AgentRows {
    fn head(&self) -> Result<Option<Head>> {
        Ok(self.units.last().copied())
    }

    fn seq_at(&self, t: Timestamp) -> Result<u64> {
        Ok(self.units.iter().take_while(|h| h.tx_time <= t).last().map_or(0, |h| h.seq))
    }

    fn tx_time_of(&self, seq: u64) -> Result<Option<Timestamp>> {
        Ok(self.units.iter().find(|h| h.seq == seq).map(|h| h.tx_time))
    }

    fn claim(&self, claim_ref: ClaimRef) -> Result<Option<Claim>> {
        Ok(self.by_ref.get(&claim_ref).map(|&i| self.claims[i].clone()))
    }

    fn line(&self, subject: &str, predicate: &str, upto: Upto) -> Result<LineRows> {
        let mut claims: Vec<Claim> =
            self.line_iter(subject, predicate).filter(|c| upto.includes(c.seq)).cloned().collect();
        claims.sort_by_key(|c| (c.seq, c.claim_ref));
        let mut marks: Vec<StateMark> = claims
            .iter()
            .flat_map(|c| self.entries_of(c.claim_ref))
            .filter(|e| upto.includes(e.seq) && Event::MARKS.contains(&e.event))
            .map(StateMark::of)
            .collect();
        marks.sort_by_key(|m| (m.seq, m.index));
        let on_line = |r: &ClaimRef| {
            self.by_ref
                .get(r)
                .is_some_and(|&i| self.claims[i].subject == subject && self.claims[i].predicate == predicate)
        };
        let assertions = sorted_assertions(
            self.assertions.iter().filter(|a| upto.includes(a.seq) && on_line(&a.target)).cloned().collect(),
        );
        Ok(LineRows { claims, marks, assertions })
    }

    fn claim_entries(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<LedgerEntry>> {
        Ok(self.entries_of(claim_ref).filter(|e| e.seq <= max_seq).cloned().collect())
    }

    fn claim_assertions(&self, claim_ref: ClaimRef, max_seq: u64) -> Result<Vec<Assertion>> {
        Ok(sorted_assertions(
            self.assertions.iter().filter(|a| a.seq <= max_seq && a.target == claim_ref).cloned().collect(),
        ))
    }

    fn count_entries_since(&self, claim_ref: ClaimRef, event: Event, since: Timestamp) -> Result<u64> {
        let n = self.entries_of(claim_ref).filter(|e| e.event == event && e.recorded_at >= since).count();
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    fn edges_to(&self, to: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        let mut v: Vec<Edge> = self.edges.iter().filter(|e| e.to == to && e.kind == kind).cloned().collect();
        v.sort_by_key(|e| (e.seq, e.from));
        Ok(v)
    }

    fn edges_from(&self, from: ClaimRef, kind: EdgeKind) -> Result<Vec<Edge>> {
        Ok(self.edges.iter().filter(|e| e.from == from && e.kind == kind).cloned().collect())
    }

    fn predicates(&self, subject: &str, max_seq: u64) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .claims
            .iter()
            .filter(|c| c.seq <= max_seq && c.subject == subject)
            .map(|c| c.predicate.clone())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn audit(&self, range: &AuditRange) -> Result<Vec<LedgerEntry>> {
        let pos = |e: &LedgerEntry| AuditCursor { seq: e.seq, index: e.index };
        let about = |e: &&LedgerEntry| range.claim_ref.is_none_or(|r| e.claim_ref == r);
        // Entries are stored in (seq, index) order, so the cursor is a binary search away.
        let page: Vec<LedgerEntry> = if range.newest_first {
            let end =
                range.after.map_or(self.entries.len(), |c| self.entries.partition_point(|e| pos(e) < c));
            self.entries[..end].iter().rev().filter(about).take(range.limit).cloned().collect()
        } else {
            let start = range.after.map_or(0, |c| self.entries.partition_point(|e| pos(e) <= c));
            self.entries[start..].iter().filter(about).take(range.limit).cloned().collect()
        };
        Ok(page)
    }

    fn adjudication(&self, handle: Handle) -> Result<Option<Adjudication>> {
        Ok(self.adjudications.iter().find(|a| a.handle == handle).cloned())
    }

    fn open_adjudications(&self) -> Result<Vec<Adjudication>> {
        let mut v: Vec<Adjudication> =
            self.adjudications.iter().filter(|a| a.status == AdjudicationStatus::Pending).cloned().collect();
        v.sort_by_key(|a| (a.queued_at, a.handle));
        Ok(v)
    }

    fn units(&self, after_seq: u64, limit: usize) -> Result<Vec<Append>> {
        let mut out = Vec::new();
        for head in self.units.iter().filter(|h| h.seq > after_seq).take(limit) {
            let seq = head.seq;
            let mut unit = Append::new(seq, head.tx_time);
            unit.claims = self.claims.iter().filter(|c| c.seq == seq).cloned().collect();
            unit.assertions = self.assertions.iter().filter(|a| a.seq == seq).cloned().collect();
            unit.edges = self.edges.iter().filter(|e| e.seq == seq).cloned().collect();
            unit.entries = self.entries.iter().filter(|e| e.seq == seq).cloned().collect();
            for (adj, closed) in self.adjudications.iter().zip(&self.closed_at) {
                if adj.seq == seq {
                    unit.adjudications
                        .push(Adjudication { status: AdjudicationStatus::Pending, ..adj.clone() });
                }
                if *closed == Some(seq) {
                    unit.status_changes
                        .push(crate::record::StatusChange { handle: adj.handle, status: adj.status });
                }
            }
            unit.idempotency =
                self.key_of_unit.get(&seq).and_then(|k| self.keys.get(k)).cloned().map(Box::new);
            out.push(unit);
        }
        Ok(out)
    }

    fn idempotency(&self, key: &str) -> Result<Option<Idempotency>> {
        Ok(self.keys.get(key).cloned())
    }
}
