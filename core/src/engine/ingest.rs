//! Ingest: the decision order of SPEC §2.2.

use serde_json::json;

use super::Engine;
use super::fold::Line;
use super::replay::{Keyed, Replay, Replayable};
use super::unit::UnitBuilder;
use crate::agent::AgentId;
use crate::api::{IngestRequest, WriteReceipt};
use crate::claim::{Cardinality, Claim, Provenance};
use crate::error::Result;
use crate::ids::{ClaimRef, Handle};
use crate::ledger::{Append, Ledger, LedgerRead, Span};
use crate::record::{Adjudication, AdjudicationStatus, Disposition, EdgeKind, Event};
use crate::validate::{self, Field, RejectReason, Relation};

/// The decision for one ingest before it is turned into rows.
struct Decision {
    disposition: Disposition,
    rationale: &'static str,
    contested_with: Vec<ClaimRef>,
    corroborates: Option<ClaimRef>,
}

impl Decision {
    fn new(disposition: Disposition, rationale: &'static str) -> Decision {
        Decision { disposition, rationale, contested_with: Vec::new(), corroborates: None }
    }
}

fn static_checks(req: &IngestRequest, max_value_bytes: usize) -> std::result::Result<AgentId, RejectReason> {
    let agent = AgentId::new(req.agent.as_str())?;
    validate::subject_or_predicate(Field::Subject, &req.subject)?;
    validate::subject_or_predicate(Field::Predicate, &req.predicate)?;
    // Depth first: serialising is recursive, the depth check is not.
    validate::value_depth(&req.value)?;
    let size = serde_json::to_vec(&req.value).map_or(usize::MAX, |v| v.len());
    if size > max_value_bytes {
        return Err(RejectReason::ValueTooLarge { size, max: max_value_bytes });
    }
    validate::confidence(Field::Confidence, req.confidence)?;
    if let Some(w) = &req.valid_time {
        validate::confidence(Field::ValidTimeConfidence, w.confidence)?;
    }
    validate::parents_unique(Relation::DerivedFrom, &req.derived_from)?;
    validate::parents_unique(Relation::DependsOn, &req.depends_on)?;
    if let Some(key) = &req.idempotency_key {
        crate::idempotency::check_key(key)?;
    }
    Ok(agent)
}

fn parents_exist(view: &dyn LedgerRead, req: &IngestRequest) -> Result<Option<RejectReason>> {
    for (relation, parents) in
        [(Relation::DerivedFrom, &req.derived_from), (Relation::DependsOn, &req.depends_on)]
    {
        for &p in parents {
            if view.claim(p)?.is_none() {
                return Ok(Some(RejectReason::UnknownParent { relation, claim_ref: p }));
            }
        }
    }
    Ok(None)
}

impl<L: Ledger> Engine<L> {
    pub(super) fn ingest_request(&self, req: IngestRequest) -> Result<WriteReceipt> {
        let agent = match static_checks(&req, self.config.max_value_bytes) {
            Ok(agent) => agent,
            Err(reason) => return Ok(WriteReceipt::rejected(None, reason)),
        };
        let id = agent.clone();
        let (receipt, queued) = self.run_unit(&agent, move |engine, view| {
            let (receipt, append, queued) = engine.decide(view, &id, &req)?;
            Ok(((receipt, queued), append))
        })?;
        if let Some(adj) = queued {
            self.notify(&agent, &adj);
        }
        Ok(receipt)
    }

    /// Tells the oracle about a new adjudication and records success. A failure (of the
    /// oracle or of recording it) leaves the row un-notified for `sweep` to retry.
    pub(super) fn notify(&self, agent: &AgentId, adj: &Adjudication) -> bool {
        let Some(oracle) = &self.oracle else { return false };
        oracle.request(adj).is_ok() && self.ledger.mark_notified(agent, adj.handle).is_ok()
    }

    /// Decides one ingest inside its unit: a key seen before answers from the stored receipt
    /// (SPEC §2.4) and writes nothing; otherwise the decision order of SPEC §2.2, with a new
    /// key stored alongside the unit's rows.
    fn decide(
        &self,
        view: &dyn LedgerRead,
        agent: &AgentId,
        req: &IngestRequest,
    ) -> Result<(WriteReceipt, Option<Append>, Option<Adjudication>)> {
        let unkeyed = IngestRequest { idempotency_key: None, ..req.clone() };
        let keyed = match Keyed::new(req.idempotency_key.as_deref(), "ingest", &unkeyed) {
            Ok(Some(keyed)) => keyed,
            Ok(None) => return self.decide_unkeyed(view, agent, req),
            Err(reason) => return Ok((WriteReceipt::rejected(None, reason), None, None)),
        };
        match keyed.replay(view)? {
            Replay::Fresh => {}
            Replay::Answer(answer) => {
                let receipt = WriteReceipt::replayed(answer)
                    .unwrap_or_else(|| WriteReceipt::rejected(None, keyed.reused()));
                return Ok((receipt, None, None));
            }
            Replay::Reused(reason) => return Ok((WriteReceipt::rejected(None, reason), None, None)),
        }
        let (receipt, append, queued) = self.decide_unkeyed(view, agent, req)?;
        let append = append.map(|a| keyed.attach(a, receipt.stored()));
        Ok((receipt, append, queued))
    }

    fn decide_unkeyed(
        &self,
        view: &dyn LedgerRead,
        agent: &AgentId,
        req: &IngestRequest,
    ) -> Result<(WriteReceipt, Option<Append>, Option<Adjudication>)> {
        if let Some(reason) = parents_exist(view, req)? {
            return Ok((WriteReceipt::rejected(None, reason), None, None));
        }
        let threshold = self.config.valid_time_confidence_threshold;
        let window = req.valid_time.as_ref();
        let trusted = window.filter(|w| w.is_trusted(threshold));
        // Every live claim that can contradict or be corroborated by the request: with a
        // trusted window, the untrusted ones and those overlapping it (any other is a trusted
        // succession of it); without one, all of them.
        let reach = trusted.map_or(Span::ALL, Span::of);
        let line =
            Line::of_live(view.live_overlapping(&req.subject, &req.predicate, reach, threshold)?, threshold);
        let summary = view.line_summary(&req.subject, &req.predicate)?;
        let mut unit = UnitBuilder::begin(view, self.clock.as_ref(), self.ids.as_ref())?;
        let live = line.live();

        // Step 2: temporal coherence of a trusted window.
        if let Some(w) = trusted {
            let start = w.start.unwrap_or(unit.tx_time());
            if w.end.is_some_and(|end| start > end) || start > unit.tx_time() {
                let d = Decision::new(Disposition::Quarantined, "incoherent_valid_time");
                return Ok(self.store_claim(unit, agent, req, d));
            }
        }

        // Step 3: recall re-entry.
        if req.provenance == Provenance::RecallReEntry {
            let target = match req.derived_from.first() {
                Some(&p) => view.claim(p)?,
                // Any live claim of the value, whatever its window.
                None => Line::of_live(view.live(&req.subject, &req.predicate)?, threshold)
                    .live()
                    .into_iter()
                    .find(|c| c.value == req.value)
                    .cloned(),
            };
            if let Some(target) = target.filter(|t| t.value == req.value) {
                let since = unit.tx_time().plus_micros(1 - self.config.burst_window_micros());
                let recent =
                    view.count_entries_since(target.claim_ref, Event::RecallReEntryDetected, since)?;
                let (disposition, rationale) = if recent >= u64::from(self.config.quarantine_burst_threshold)
                {
                    (Disposition::Quarantined, "recall_burst")
                } else {
                    (Disposition::CommittedCheap, "recall_identity")
                };
                unit.entry(
                    target.claim_ref,
                    Event::RecallReEntryDetected,
                    disposition,
                    rationale,
                    json!({ "recent_reentries": recent }),
                );
                let receipt = unit.receipt(target.claim_ref, disposition, rationale, Vec::new(), None);
                return Ok((receipt, Some(unit.finish()), None));
            }
            let d = Decision::new(Disposition::PendingLowConfidence, "recall_unmatched");
            return Ok(self.store_claim(unit, agent, req, d));
        }

        // Step 4: External below the floor.
        if req.provenance.is_external() && req.confidence < self.config.low_confidence_floor {
            let d = Decision::new(Disposition::PendingLowConfidence, "below_confidence_floor");
            return Ok(self.store_claim(unit, agent, req, d));
        }

        // Step 5: ModelDerived.
        if req.provenance == Provenance::ModelDerived {
            let conflicts: Vec<ClaimRef> = live
                .iter()
                .filter(|c| {
                    c.contradicts(&req.value, window, threshold)
                        && !(c.cardinality == Cardinality::SetValued
                            && req.cardinality == Cardinality::SetValued)
                })
                .map(|c| c.claim_ref)
                .collect();
            let d = if conflicts.is_empty() {
                Decision::new(Disposition::CommittedInferred, "inferred")
            } else {
                Decision {
                    contested_with: conflicts,
                    ..Decision::new(Disposition::PendingConflict, "model_conflict")
                }
            };
            return Ok(self.store_claim(unit, agent, req, d));
        }

        // Step 6: External, nothing live.
        if summary.live == 0 {
            return Ok(self.store_claim(
                unit,
                agent,
                req,
                Decision::new(Disposition::CommittedCheap, "cheap_path"),
            ));
        }

        // Step 7: corroboration of an equal live value.
        let corroborated =
            live.iter().find(|c| c.value == req.value && !c.succeeds_or_precedes(window, threshold));
        if let Some(target) = corroborated {
            let d = Decision {
                corroborates: Some(target.claim_ref),
                ..Decision::new(Disposition::CommittedCheap, "corroboration")
            };
            return Ok(self.store_claim(unit, agent, req, d));
        }

        // Step 8: a new member of a SetValued line.
        if req.cardinality == Cardinality::SetValued && summary.functional == 0 {
            return Ok(self.store_claim(
                unit,
                agent,
                req,
                Decision::new(Disposition::CommittedCheap, "set_member"),
            ));
        }

        // Step 9: trusted succession. Supporters of one value may overlap each other (they are
        // one candidate); claims of different values must not. The live claims out of reach
        // are trusted and disjoint from the request's window, so with every one in reach so
        // too, every live window is trusted and the summary's clash test is the step's.
        let succession = trusted.is_some()
            && live.iter().all(|c| c.succeeds_or_precedes(window, threshold))
            && summary.clash_free;
        if succession {
            return Ok(self.store_claim(
                unit,
                agent,
                req,
                Decision::new(Disposition::CommittedCheap, "succession"),
            ));
        }

        // Step 10: an External contradiction. A live claim with another value contradicts the
        // request unless their two trusted windows are disjoint (that pair is a succession).
        let contested_with: Vec<ClaimRef> = live
            .iter()
            .filter(|c| c.contradicts(&req.value, window, threshold))
            .map(|c| c.claim_ref)
            .collect();
        if contested_with.is_empty() {
            // Nothing live contradicts it (each other value sits in a trusted window disjoint
            // from this one), even though the live set is not a clean succession.
            let d = Decision::new(Disposition::CommittedCheap, "no_contradiction");
            return Ok(self.store_claim(unit, agent, req, d));
        }
        let disposition =
            if self.oracle.is_some() { Disposition::QueuedForAdjudication } else { Disposition::Contested };
        let d = Decision { contested_with, ..Decision::new(disposition, "contradiction") };
        Ok(self.store_claim(unit, agent, req, d))
    }

    /// Writes the claim row, its edges and ledger entries for a decision.
    fn store_claim(
        &self,
        mut unit: UnitBuilder<'_>,
        agent: &AgentId,
        req: &IngestRequest,
        d: Decision,
    ) -> (WriteReceipt, Option<Append>, Option<Adjudication>) {
        let claim_ref = unit.new_claim_ref();
        let claim = Claim {
            claim_ref,
            agent_id: agent.clone(),
            subject: req.subject.clone(),
            predicate: req.predicate.clone(),
            value: req.value.clone(),
            provenance: req.provenance,
            cardinality: req.cardinality,
            confidence: req.confidence,
            criticality: req.criticality,
            valid_time: req.valid_time,
            tx_time: unit.tx_time(),
            seq: unit.seq(),
            derived_from: req.derived_from.clone(),
            depends_on: req.depends_on.clone(),
        };
        unit.append_mut().claims.push(claim);
        for &p in &req.derived_from {
            unit.edge(claim_ref, p, EdgeKind::DerivedFrom);
        }
        for &p in &req.depends_on {
            unit.edge(claim_ref, p, EdgeKind::DependsOn);
        }
        let details = if d.contested_with.is_empty() {
            json!({})
        } else {
            json!({ "contested_with": d.contested_with })
        };
        unit.entry(claim_ref, Event::ClaimCommitted, d.disposition, d.rationale, details);
        if let Some(target) = d.corroborates {
            unit.edge(claim_ref, target, EdgeKind::Corroborates);
            unit.entry(
                target,
                Event::Corroborated,
                Disposition::CommittedCheap,
                "corroboration",
                json!({ "by": claim_ref }),
            );
        }
        let mut handle = None;
        let mut queued = None;
        if d.disposition == Disposition::QueuedForAdjudication {
            let h = Handle(unit.new_id());
            let adj = Adjudication {
                handle: h,
                agent_id: agent.clone(),
                subject: req.subject.clone(),
                predicate: req.predicate.clone(),
                challenger: claim_ref,
                incumbents: d.contested_with.clone(),
                queued_at: unit.tx_time(),
                expires_at: self.config.ttl_micros().map(|ttl| unit.tx_time().plus_micros(ttl)),
                status: AdjudicationStatus::Pending,
                notified: false,
                seq: unit.seq(),
            };
            unit.entry(
                claim_ref,
                Event::AdjudicationRequested,
                Disposition::QueuedForAdjudication,
                "adjudication_requested",
                json!({ "handle": h, "incumbents": d.contested_with }),
            );
            unit.append_mut().adjudications.push(adj.clone());
            handle = Some(h);
            queued = Some(adj);
        }
        let receipt = unit.receipt(claim_ref, d.disposition, d.rationale, d.contested_with, handle);
        (receipt, Some(unit.finish()), queued)
    }
}
