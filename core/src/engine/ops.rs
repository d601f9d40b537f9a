//! Adjudication, sweep, resolve, invalidate and reinstate (SPEC §2.3).

use serde_json::json;

use super::Engine;
use super::cascade::on_stopped;
use super::combine::Unit;
use super::fold::Line;
use super::replay::{Keyed, Replay, Replayable};
use super::unit::UnitBuilder;
use crate::agent::AgentId;
use crate::api::{AdjudicationOutcome, SweepFailure, SweepReport, Verdict, WriteOptions, WriteReceipt};
use crate::claim::{Claim, Provenance};
use crate::error::{Error, Result};
use crate::ids::{ClaimRef, Handle};
use crate::ledger::{Ledger, LedgerRead};
use crate::record::{AdjudicationStatus, AssertionKind, Disposition, Event, StatusChange};
use crate::time::Timestamp;
use crate::validate::RejectReason;

impl<L: Ledger> Engine<L> {
    /// [`run_unit`](Self::run_unit) for a write that may carry an idempotency key: a key
    /// seen before answers from the stored answer (or refuses a different request) and writes
    /// nothing; a new key is stored with the unit's rows.
    fn run_keyed_unit<T: Send + Replayable + 'static>(
        &self,
        agent: &AgentId,
        keyed: Option<Keyed>,
        mut body: impl FnMut(&Engine<L>, &dyn LedgerRead) -> Unit<T> + Send + 'static,
    ) -> Result<T> {
        self.run_unit(agent, move |engine, view| {
            if let Some(k) = &keyed {
                match k.replay(view)? {
                    Replay::Fresh => {}
                    Replay::Answer(answer) => {
                        // An answer of another operation: its fingerprint matched by accident.
                        let t = match T::replayed(answer) {
                            Some(t) => t,
                            None => T::refused(k.reused())?,
                        };
                        return Ok((t, None));
                    }
                    Replay::Reused(reason) => return Ok((T::refused(reason)?, None)),
                }
            }
            let (t, append) = body(engine, view)?;
            let append = match (&keyed, append) {
                (Some(k), Some(append)) => Some(k.attach(append, t.stored())),
                (_, append) => append,
            };
            Ok((t, append))
        })
    }

    /// The live claims of `claim`'s line at the view's head (inside a unit: the rows the unit
    /// extends).
    fn line_of(&self, view: &dyn LedgerRead, claim: &Claim) -> Result<Line> {
        let live = view.live(&claim.subject, &claim.predicate)?;
        Ok(Line::of_live(live, self.config.valid_time_confidence_threshold))
    }

    pub(super) fn apply_verdict(
        &self,
        agent: &str,
        handle: Handle,
        verdict: Verdict,
        evidence: Provenance,
        options: &WriteOptions,
    ) -> Result<AdjudicationOutcome> {
        let agent = AgentId::new(agent).map_err(|_| Error::HandleNotFound { handle })?;
        let args = (agent.as_str(), handle, verdict, evidence);
        let keyed = Keyed::new(options.idempotency_key.as_deref(), "submit_adjudication", &args)
            .map_err(|reason| Error::Rejected { reason })?;
        let (outcome, expired) = self.run_keyed_unit(&agent, keyed, move |engine, view| {
            let adj = view.adjudication(handle)?.ok_or(Error::HandleNotFound { handle })?;
            if adj.status != AdjudicationStatus::Pending {
                return Err(Error::HandleAlreadyClosed { handle, status: adj.status.as_str().to_owned() });
            }
            let mut unit = UnitBuilder::begin(view, engine.clock.as_ref(), engine.ids.as_ref())?;
            let mut dispositions = Vec::new();
            let expired = adj.expires_at.is_some_and(|at| at <= unit.tx_time());
            let details = json!({ "handle": handle, "verdict": verdict, "evidence_provenance": evidence });
            if expired {
                unit.entry(
                    adj.challenger,
                    Event::AdjudicationExpired,
                    Disposition::Contested,
                    "adjudication_expired",
                    json!({ "handle": handle }),
                );
                dispositions.push((adj.challenger, Disposition::Contested));
                unit.append_mut()
                    .status_changes
                    .push(StatusChange { handle, status: AdjudicationStatus::Expired });
            } else {
                let challenger = view.claim(adj.challenger)?.ok_or_else(|| {
                    Error::corrupt(
                        engine.ledger.backend(),
                        format!("adjudication {handle} names a missing claim"),
                    )
                })?;
                let line = engine.line_of(view, &challenger)?;
                let live_incumbents: Vec<ClaimRef> =
                    adj.incumbents.iter().copied().filter(|&r| line.is_live(r)).collect();
                let mut stopped = Vec::new();
                let mut settle = |unit: &mut UnitBuilder<'_>, r: ClaimRef, d: Disposition| {
                    if d == Disposition::Superseded {
                        unit.assert(r, AssertionKind::Bound, d, "adjudication");
                        stopped.push(r);
                    }
                    unit.entry(r, Event::AdjudicationResolved, d, "adjudication", details.clone());
                    dispositions.push((r, d));
                };
                match verdict {
                    Verdict::Affirm => {
                        for &r in &live_incumbents {
                            settle(&mut unit, r, Disposition::Superseded);
                        }
                        settle(&mut unit, adj.challenger, Disposition::CommittedCheap);
                    }
                    Verdict::Deny => settle(&mut unit, adj.challenger, Disposition::Superseded),
                    Verdict::Unknown => {
                        settle(&mut unit, adj.challenger, Disposition::Contested);
                        for &r in &live_incumbents {
                            settle(&mut unit, r, Disposition::Contested);
                        }
                    }
                }
                unit.append_mut()
                    .status_changes
                    .push(StatusChange { handle, status: AdjudicationStatus::Resolved });
                on_stopped(view, &mut unit, &stopped)?;
            }
            let outcome = AdjudicationOutcome { handle, verdict, seq: unit.seq(), dispositions };
            Ok(((outcome, expired), Some(unit.finish())))
        })?;
        if expired { Err(Error::HandleExpired { handle }) } else { Ok(outcome) }
    }

    pub(super) fn sweep_all(&self, now: Timestamp) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        for agent in self.ledger.agents()? {
            if let Err(e) = self.sweep_agent(&agent, now, &mut report) {
                report.failed.push(SweepFailure { agent, error: e.to_string(), retryable: e.is_retryable() });
            }
        }
        Ok(report)
    }

    /// Expires `agent`'s overdue rows in one unit, then re-notifies its un-notified rows.
    fn sweep_agent(&self, agent: &AgentId, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let expired = self.run_unit(agent, move |engine, view| {
            let overdue: Vec<_> = view
                .open_adjudications()?
                .into_iter()
                .filter(|a| a.expires_at.is_some_and(|at| at <= now))
                .collect();
            if overdue.is_empty() {
                return Ok((0, None));
            }
            let mut unit = UnitBuilder::begin(view, engine.clock.as_ref(), engine.ids.as_ref())?;
            for adj in &overdue {
                unit.entry(
                    adj.challenger,
                    Event::AdjudicationExpired,
                    Disposition::Contested,
                    "adjudication_expired",
                    json!({ "handle": adj.handle, "swept_at": now }),
                );
                unit.append_mut()
                    .status_changes
                    .push(StatusChange { handle: adj.handle, status: AdjudicationStatus::Expired });
            }
            Ok((u64::try_from(overdue.len()).unwrap_or(u64::MAX), Some(unit.finish())))
        })?;
        report.expired += expired;
        let unnotified: Vec<_> = crate::ledger::read_with(&self.ledger, agent, |view| {
            Ok(view.open_adjudications()?.into_iter().filter(|a| !a.notified).collect::<Vec<_>>())
        })?;
        for adj in unnotified {
            if self.notify(agent, &adj) {
                report.renotified += 1;
            } else {
                report.still_unnotified += 1;
            }
        }
        Ok(())
    }

    /// Runs a unit acting on one named claim: parses the agent, looks the claim up (unknown →
    /// `UnknownClaim`), starts the unit and folds the claim's line. `act` either fills the unit
    /// and answers the receipt, or answers a reject reason, in which case nothing is written.
    fn claim_unit(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        keyed: std::result::Result<Option<Keyed>, RejectReason>,
        mut act: impl FnMut(
            &dyn LedgerRead,
            &Claim,
            &Line,
            &mut UnitBuilder<'_>,
        ) -> Result<std::result::Result<WriteReceipt, RejectReason>>
        + Send
        + 'static,
    ) -> Result<WriteReceipt> {
        let agent = match AgentId::new(agent) {
            Ok(a) => a,
            Err(reason) => return Ok(WriteReceipt::rejected(Some(claim_ref), reason)),
        };
        let keyed = match keyed {
            Ok(keyed) => keyed,
            Err(reason) => return Ok(WriteReceipt::rejected(Some(claim_ref), reason)),
        };
        self.run_keyed_unit(&agent, keyed, move |engine, view| {
            let Some(claim) = view.claim(claim_ref)? else {
                let reason = RejectReason::UnknownClaim { claim_ref };
                return Ok((WriteReceipt::rejected(Some(claim_ref), reason), None));
            };
            let mut unit = UnitBuilder::begin(view, engine.clock.as_ref(), engine.ids.as_ref())?;
            let line = engine.line_of(view, &claim)?;
            Ok(match act(view, &claim, &line, &mut unit)? {
                Ok(receipt) => (receipt, Some(unit.finish())),
                Err(reason) => (WriteReceipt::rejected(Some(claim_ref), reason), None),
            })
        })
    }

    pub(super) fn resolve_line(
        &self,
        agent: &str,
        subject: &str,
        predicate: &str,
        winner: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let args = (agent, subject, predicate, winner);
        let keyed = Keyed::new(options.idempotency_key.as_deref(), "resolve", &args);
        let (subject, predicate) = (subject.to_owned(), predicate.to_owned());
        self.claim_unit(agent, winner, keyed, move |view, claim, line, unit| {
            if claim.subject != subject || claim.predicate != predicate {
                return Ok(Err(RejectReason::WrongLine {
                    claim_ref: winner,
                    subject: subject.clone(),
                    predicate: predicate.clone(),
                }));
            }
            if !line.is_live(winner) {
                return Ok(Err(RejectReason::NotLive { claim_ref: winner }));
            }
            let losers: Vec<ClaimRef> =
                line.live().iter().map(|c| c.claim_ref).filter(|&r| r != winner).collect();
            for &r in &losers {
                unit.assert(r, AssertionKind::Bound, Disposition::Superseded, "manual_resolution");
                unit.entry(
                    r,
                    Event::Resolved,
                    Disposition::Superseded,
                    "manual_resolution",
                    json!({ "winner": winner }),
                );
            }
            unit.entry(
                winner,
                Event::Resolved,
                Disposition::CommittedCheap,
                "manual_resolution",
                json!({ "superseded": losers }),
            );
            for adj in view.open_adjudications()? {
                if adj.subject == subject && adj.predicate == predicate {
                    unit.append_mut()
                        .status_changes
                        .push(StatusChange { handle: adj.handle, status: AdjudicationStatus::Resolved });
                }
            }
            on_stopped(view, unit, &losers)?;
            Ok(Ok(unit.receipt(winner, Disposition::CommittedCheap, "manual_resolution", losers, None)))
        })
    }

    pub(super) fn invalidate_claim(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        reason: &str,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let args = (agent, claim_ref, reason);
        let keyed = Keyed::new(options.idempotency_key.as_deref(), "invalidate", &args);
        let reason = reason.to_owned();
        self.claim_unit(agent, claim_ref, keyed, move |view, _, line, unit| {
            if !line.is_live(claim_ref) {
                return Ok(Err(RejectReason::NotLive { claim_ref }));
            }
            unit.assert(claim_ref, AssertionKind::Bound, Disposition::Invalidated, "invalidated");
            unit.entry(
                claim_ref,
                Event::Invalidated,
                Disposition::Invalidated,
                "invalidated",
                json!({ "reason": reason }),
            );
            on_stopped(view, unit, &[claim_ref])?;
            Ok(Ok(unit.receipt(claim_ref, Disposition::Invalidated, "invalidated", Vec::new(), None)))
        })
    }

    pub(super) fn reinstate_claim(
        &self,
        agent: &str,
        claim_ref: ClaimRef,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let threshold = self.config.valid_time_confidence_threshold;
        let keyed = Keyed::new(options.idempotency_key.as_deref(), "reinstate", &(agent, claim_ref));
        self.claim_unit(agent, claim_ref, keyed, move |view, claim, line, unit| {
            let state = view.claim_state(claim_ref)?;
            let current = state.map_or(Disposition::Rejected, |s| s.disposition);
            let reinstatable = matches!(current, Disposition::Superseded | Disposition::Invalidated)
                && !state.is_some_and(|s| s.is_live());
            if !reinstatable {
                return Ok(Err(RejectReason::NotReinstatable { claim_ref, disposition: current }));
            }
            unit.assert(claim_ref, AssertionKind::Reopen, Disposition::Reinstated, "reinstated");
            unit.entry(
                claim_ref,
                Event::Reinstated,
                Disposition::Reinstated,
                "reinstated",
                json!({ "was": current }),
            );
            let contested_with: Vec<ClaimRef> = line
                .live()
                .iter()
                .filter(|c| c.contradicts(&claim.value, claim.valid_time.as_ref(), threshold))
                .map(|c| c.claim_ref)
                .collect();
            Ok(Ok(unit.receipt(claim_ref, Disposition::Reinstated, "reinstated", contested_with, None)))
        })
    }
}
