//! The read path (SPEC §3): recall, history, subject, audit, lineage, pending.

use std::collections::{HashSet, VecDeque};

use super::Engine;
use super::cascade::MAX_DEPTH;
use super::fold::{self, FoldPoint, Line};
use super::read_agent;
use crate::agent::AgentId;
use crate::api::{
    AsOf, AuditPage, AuditQuery, Belief, ClaimStatus, HistoryEntry, HistoryPage, HistoryQuery, LineageStep,
    Marker, RecallQuery,
};
use crate::claim::Provenance;
use crate::error::{Error, Result};
use crate::ids::ClaimRef;
use crate::ledger::{AuditCursor, AuditRange, HistoryCursor, Ledger, LedgerRead, LinePage, Span, read_with};
use crate::record::{Adjudication, Disposition, EdgeKind};
use crate::time::Timestamp;

fn status_of(disposition: Disposition, live: bool) -> ClaimStatus {
    if live {
        return ClaimStatus::Current;
    }
    match disposition {
        Disposition::Superseded => ClaimStatus::Superseded,
        Disposition::Invalidated => ClaimStatus::Invalidated,
        Disposition::Quarantined => ClaimStatus::Quarantined,
        _ => ClaimStatus::Pending,
    }
}

impl<L: Ledger> Engine<L> {
    /// Resolves an as-of pin to `(max_seq, as-of time, whether max_seq is the head)` within one
    /// snapshot.
    pub(super) fn pin(&self, view: &dyn LedgerRead, as_of: AsOf) -> Result<(u64, Timestamp, bool)> {
        let head = view.head()?;
        let head_seq = head.map_or(0, |h| h.seq);
        // "Now" is never earlier than the newest write, even when the clock stepped back.
        let now = head.map_or(self.clock.now(), |h| self.clock.now().max(h.tx_time));
        let (max_seq, at) = match as_of {
            AsOf::Now => (head_seq, now),
            AsOf::Time(t) => (view.seq_at(t)?, t),
            AsOf::Seq(n) if n >= head_seq => (head_seq, now),
            AsOf::Seq(n) => (n, view.tx_time_of(n)?.unwrap_or(Timestamp::EPOCH)),
        };
        Ok((max_seq, at, max_seq == head_seq))
    }

    /// What a belief as of `max_seq` is folded from: the live claims the fold keeps — those not
    /// trusted or believed at the instant it looks at ([`LedgerRead::live_overlapping`] at the
    /// head, [`LedgerRead::live_at`] before it), or all of them when one is untrusted and no
    /// `valid_at` was asked (the fold then looks at no instant).
    pub(super) fn belief_line(
        &self,
        view: &dyn LedgerRead,
        (subject, predicate): (&str, &str),
        (max_seq, at, at_head): (u64, Timestamp, bool),
        valid_at: Option<Timestamp>,
    ) -> Result<Line> {
        let threshold = self.config.valid_time_confidence_threshold;
        let live = |span| {
            if at_head {
                view.live_overlapping(subject, predicate, span, threshold)
            } else {
                view.live_at(subject, predicate, max_seq, span, threshold)
            }
        };
        let reached = live(Span::at(valid_at.unwrap_or(at)))?;
        let untrusted = reached.iter().any(|l| l.claim.trusted_window(threshold).is_none());
        if !untrusted || valid_at.is_some() {
            return Ok(Line::of_live(reached, threshold));
        }
        // All of them are needed; at the head the summary tells whether all were reached.
        let complete = at_head && view.line_summary(subject, predicate)?.live == reached.len() as u64;
        let live = if complete { reached } else { live(Span::ALL)? };
        Ok(Line::of_live(live, threshold))
    }

    pub(super) fn fold_point(
        &self,
        max_seq: u64,
        as_of_time: Timestamp,
        valid_at: Option<Timestamp>,
    ) -> FoldPoint {
        FoldPoint { as_of_seq: max_seq, as_of_time, valid_at, now: self.clock.now() }
    }

    fn empty_belief(&self) -> Belief {
        let line = Line::new(Vec::new(), &[], &[], self.config.valid_time_confidence_threshold);
        fold::belief(&line, &self.config, &self.fold_point(0, self.clock.now(), None))
    }

    pub(super) fn recall_line(&self, q: &RecallQuery) -> Result<Belief> {
        let Some(agent) = read_agent(&q.agent) else { return Ok(self.empty_belief()) };
        read_with(&self.ledger, &agent, |view| {
            let (max_seq, at, at_head) = self.pin(view, q.as_of)?;
            let line =
                self.belief_line(view, (&q.subject, &q.predicate), (max_seq, at, at_head), q.valid_at)?;
            Ok(fold::belief(&line, &self.config, &self.fold_point(max_seq, at, q.valid_at)))
        })
    }

    pub(super) fn line_history_page(&self, q: &HistoryQuery) -> Result<HistoryPage> {
        if q.limit == 0 {
            return Err(Error::InvalidQuery { reason: "history limit must be at least 1".into() });
        }
        let Some(agent) = read_agent(&q.agent) else {
            return Ok(HistoryPage {
                entries: Vec::new(),
                belief: self.empty_belief(),
                as_of_seq: 0,
                next: None,
            });
        };
        let threshold = self.config.valid_time_confidence_threshold;
        read_with(&self.ledger, &agent, |view| {
            let (max_seq, at, at_head) = self.pin(view, q.as_of)?;
            let line = (q.subject.as_str(), q.predicate.as_str());
            let belief_line = self.belief_line(view, line, (max_seq, at, at_head), None)?;
            let belief = fold::belief(&belief_line, &self.config, &self.fold_point(max_seq, at, None));
            let page = LinePage { seq: max_seq, threshold, after: q.after, limit: q.limit.saturating_add(1) };
            let mut claims = view.line_page(line.0, line.1, &page)?;
            let more = claims.len() > q.limit;
            claims.truncate(q.limit);
            let refs: Vec<ClaimRef> = claims.iter().map(|c| c.claim_ref).collect();
            let states = view.claim_states_at(&refs, max_seq)?;
            let next = if more { claims.last().map(|c| HistoryCursor::of(c, threshold)) } else { None };
            let entries = claims
                .into_iter()
                .map(|claim| {
                    let state = states.get(&claim.claim_ref);
                    let disposition = state.map_or(Disposition::Rejected, |s| s.disposition);
                    let live = state.is_some_and(|s| s.is_live());
                    let mut markers = Vec::new();
                    if claim.provenance == Provenance::RecallReEntry {
                        markers.push(Marker::RecallTainted);
                    }
                    if state.is_some_and(|s| s.flagged) {
                        markers.push(Marker::PendingReview);
                    }
                    HistoryEntry { claim, disposition, status: status_of(disposition, live), markers }
                })
                .collect();
            Ok(HistoryPage { entries, belief, as_of_seq: max_seq, next })
        })
    }

    pub(super) fn subject_beliefs(
        &self,
        agent: &str,
        subject: &str,
        as_of: AsOf,
        valid_at: Option<Timestamp>,
    ) -> Result<Vec<(String, Belief)>> {
        let Some(agent) = read_agent(agent) else { return Ok(Vec::new()) };
        read_with(&self.ledger, &agent, |view| {
            let (max_seq, at, at_head) = self.pin(view, as_of)?;
            let mut out = Vec::new();
            for predicate in view.predicates(subject, max_seq)? {
                let line = self.belief_line(view, (subject, &predicate), (max_seq, at, at_head), valid_at)?;
                let belief = fold::belief(&line, &self.config, &self.fold_point(max_seq, at, valid_at));
                out.push((predicate, belief));
            }
            Ok(out)
        })
    }

    pub(super) fn audit_page(&self, agent: &str, q: &AuditQuery) -> Result<AuditPage> {
        if q.limit == 0 {
            return Err(Error::InvalidQuery { reason: "audit limit must be at least 1".into() });
        }
        let Some(agent) = read_agent(agent) else { return Ok(AuditPage { entries: Vec::new(), next: None }) };
        read_with(&self.ledger, &agent, |view| {
            let range = AuditRange {
                claim_ref: q.claim_ref,
                after: q.after,
                limit: q.limit.saturating_add(1),
                newest_first: q.newest_first,
            };
            let mut entries = view.audit(&range)?;
            let more = entries.len() > q.limit;
            entries.truncate(q.limit);
            let next =
                if more { entries.last().map(|e| AuditCursor { seq: e.seq, index: e.index }) } else { None };
            Ok(AuditPage { entries, next })
        })
    }

    pub(super) fn claim_lineage(&self, agent: &str, claim_ref: ClaimRef) -> Result<Vec<LineageStep>> {
        let not_found = || Error::NotFound { what: format!("claim {claim_ref} of agent {agent:?}") };
        let Some(agent_id) = read_agent(agent) else { return Err(not_found()) };
        read_with(&self.ledger, &agent_id, |view| {
            if view.claim(claim_ref)?.is_none() {
                return Err(not_found());
            }
            let mut seen: HashSet<ClaimRef> = HashSet::from([claim_ref]);
            let mut queue = VecDeque::from([(claim_ref, 0u32)]);
            let mut steps = Vec::new();
            while let Some((r, depth)) = queue.pop_front() {
                if depth >= MAX_DEPTH {
                    continue;
                }
                for edge in view.edges_from(r, EdgeKind::DerivedFrom)? {
                    if seen.insert(edge.to) {
                        let claim = view.claim(edge.to)?.ok_or_else(|| {
                            Error::corrupt(
                                self.ledger.backend(),
                                format!("edge names missing claim {}", edge.to),
                            )
                        })?;
                        steps.push(LineageStep { depth: depth + 1, claim });
                        queue.push_back((edge.to, depth + 1));
                    }
                }
            }
            Ok(steps)
        })
    }

    pub(super) fn open_adjudications(&self, agent: Option<&str>) -> Result<Vec<Adjudication>> {
        let agents: Vec<AgentId> = match agent {
            Some(a) => read_agent(a).into_iter().collect(),
            None => self.ledger.agents()?,
        };
        let mut out = Vec::new();
        for agent in &agents {
            let open = read_with(&self.ledger, agent, |view| view.open_adjudications())?;
            crate::telemetry::open_adjudications(agent.as_str(), open.len());
            out.extend(open);
        }
        out.sort_by_key(|a| (a.queued_at, a.handle));
        Ok(out)
    }
}
