//! The second property: invariants one backend must keep on any operation sequence, checked
//! without a reference (gap-free seq, `history.current() == recall`, a ClaimCommitted entry
//! for every stored claim, only the dispositions the SPEC allows, no panic).

use std::collections::HashMap;
use std::mem::discriminant;

use credence_core::{
    AsOf, AuditQuery, BeliefStatus, ClaimEngine, ClaimStatus, Clock, Disposition, Error, Event, Handle,
    History, LedgerEntry, Marker, Provenance, RecallQuery, Timestamp, WriteReceipt,
};

use super::ops::{AGENTS, Known, Op, Outcome, PREDICATES, SUBJECTS, Scenario, as_of, effective};
use proptest::test_runner::Config;

use super::{Side, run, runner_config};
use crate::Factory;

/// Runs `cases` random scenarios (`PROPTEST_CASES` overrides) on the factory's backend alone
/// and panics with the minimal failing operation sequence if an invariant breaks: per-agent
/// seq gap-free and tx_time strictly increasing, `history(..).current() == recall(..)` at every
/// probed point, every stored claim has exactly one ClaimCommitted entry in its own seq, every
/// answer carries a disposition the SPEC allows for that operation, audit pages in both
/// directions agree, no operation panics.
///
/// Failing seeds are saved to [`INVARIANT_REGRESSIONS`] and replayed first on later runs.
pub fn check_invariants(f: &dyn Factory, cases: u32) {
    check_invariants_with(f, runner_config(cases, Some(INVARIANT_REGRESSIONS)));
}

/// Where [`check_invariants`] saves failing seeds, relative to the test's working directory.
pub const INVARIANT_REGRESSIONS: &str = "proptest-regressions/credence-invariants.txt";

/// [`check_invariants`] with a runner configuration of your own.
pub fn check_invariants_with(f: &dyn Factory, config: Config) {
    run(f, config, "breaks an invariant", check);
}

/// The newest seq and tx_time each agent answered with.
type Heads = HashMap<&'static str, (u64, Timestamp)>;

fn check(f: &dyn Factory, s: &Scenario) -> Result<(), String> {
    let store = f.store().map_err(|e| format!("the factory could not make a store: {e}"))?;
    let side = Side::new(store.ledger.clone(), &s.setup)?;
    let mut known = Known::default();
    let mut heads = Heads::new();
    let mut stored: HashMap<&'static str, u64> = AGENTS.iter().map(|&a| (a, 0)).collect();
    for n in 0..s.ops.len() {
        let op = effective(&s.ops, n);
        let now = side.clock.now();
        known.times.push(now);
        let out = op.apply(&side, &known);
        answer_allowed(op, &out, &known, s.setup.oracle, now, &mut heads)
            .and_then(|()| units_accounted(&side, op, &out, &mut stored))
            .map_err(|m| format!("operation #{n} {op:?} answered {out:?}: {m}"))?;
        known.learn(op, &out);
    }
    for agent in AGENTS {
        stored_state(&side, s, &known, agent, heads.get(agent).map(|h| h.0))?;
    }
    let all = side.engine.pending(None).map_err(|e| format!("pending(None): {e}"))?;
    let mut each = Vec::new();
    for agent in AGENTS {
        each.extend(side.engine.pending(Some(agent)).map_err(|e| format!("pending({agent:?}): {e}"))?);
    }
    each.sort_by_key(|a| (a.queued_at, a.handle));
    if all != each {
        return Err(format!("pending(None) {all:?} is not the union of every agent's pending {each:?}"));
    }
    Ok(())
}

/// True for a keyed ingest whose committed receipt names a claim seen before: its key's first
/// receipt again (SPEC §2.4) — or a re-entry corroborated by identity; either way the model's
/// comparison with the reference backend checks the answer.
fn replayed(op: &super::ops::Ingest, r: &WriteReceipt, known: &Known) -> bool {
    op.key.is_some() && r.disposition != Disposition::Rejected && r.claim_ref.is_some_and(|c| known.has(c))
}

fn fails(ok: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(msg()) }
}

fn receipt_shape(r: &WriteReceipt) -> Result<(), String> {
    if r.disposition == Disposition::Rejected {
        fails(r.reason.is_some() && r.seq.is_none() && r.tx_time.is_none(), || {
            "a rejection must carry a reason and no seq or tx_time (nothing is written)".into()
        })
    } else {
        fails(r.reason.is_none() && r.seq.is_some() && r.tx_time.is_some() && r.claim_ref.is_some(), || {
            "a committed write must name its claim, seq and tx_time and no reject reason".into()
        })?;
        let contests = matches!(r.disposition, Disposition::Contested | Disposition::QueuedForAdjudication);
        fails(!contests || !r.contested_with.is_empty(), || {
            "a contradiction must list what it contests".into()
        })?;
        fails(r.handle.is_some() == (r.disposition == Disposition::QueuedForAdjudication), || {
            "exactly the QueuedForAdjudication answers carry a handle".into()
        })
    }
}

/// The dispositions SPEC §1.6 lets each operation produce.
fn ingest_allowed(
    op: &super::ops::Ingest,
    r: &WriteReceipt,
    known: &Known,
    oracle: bool,
) -> Result<(), String> {
    use Disposition::*;
    let d = r.disposition;
    let fresh = r.claim_ref.is_some_and(|c| !known.has(c));
    match op.provenance {
        Provenance::RecallReEntry => {
            fails(matches!(d, CommittedCheap | Quarantined | PendingLowConfidence | Rejected), || {
                "a recall re-entry is CommittedCheap, Quarantined, PendingLowConfidence or Rejected".into()
            })?;
            fails(d != CommittedCheap || !fresh, || {
                "a re-entry corroborated by identity writes no claim: it must name an existing one".into()
            })?;
            fails(d != PendingLowConfidence || fresh, || {
                "an unmatched re-entry is stored as a new claim".into()
            })
        }
        Provenance::ModelDerived => {
            fails(matches!(d, CommittedInferred | PendingConflict | Quarantined | Rejected), || {
                "a model inference never contests or establishes first-hand belief".into()
            })
        }
        Provenance::External(_) => {
            let contradiction = if oracle { QueuedForAdjudication } else { Contested };
            fails(
                matches!(d, CommittedCheap | PendingLowConfidence | Quarantined | Rejected)
                    || d == contradiction,
                || format!("an External claim with oracle={oracle} cannot be {d:?}"),
            )?;
            let below = op.confidence < 0.3;
            fails((d == PendingLowConfidence) == (below && !matches!(d, Quarantined | Rejected)), || {
                format!("an External claim of confidence {} cannot be {d:?}", op.confidence)
            })
        }
    }?;
    fails(d == Rejected || op.provenance == Provenance::RecallReEntry || fresh, || {
        "a stored claim gets a claim_ref never seen before".into()
    })
}

fn answer_allowed(
    op: &Op,
    out: &Outcome,
    known: &Known,
    oracle: bool,
    now: Timestamp,
    heads: &mut Heads,
) -> Result<(), String> {
    use Disposition::*;
    let (agent, seq, tx_time) = match (op, out) {
        (Op::Advance(_) | Op::OracleDown(_) | Op::Again, Outcome::Nothing)
        | (Op::Sweep { .. }, Outcome::Sweep(_)) => {
            return Ok(());
        }
        (Op::Ingest(i), Outcome::Receipt(r)) => {
            receipt_shape(r)?;
            if replayed(i, r, known) {
                // The first receipt again (SPEC §2.4); the model compares it with the reference.
                return Ok(());
            }
            ingest_allowed(i, r, known, oracle)?;
            (i.agent, r.seq, r.tx_time)
        }
        (Op::Resolve { agent, winner, .. }, Outcome::Receipt(r))
        | (Op::Invalidate { agent, target: winner }, Outcome::Receipt(r))
        | (Op::Reinstate { agent, target: winner }, Outcome::Receipt(r)) => {
            receipt_shape(r)?;
            let wanted = match op {
                Op::Resolve { .. } => CommittedCheap,
                Op::Invalidate { .. } => Invalidated,
                _ => Reinstated,
            };
            fails(r.disposition == wanted || r.disposition == Rejected, || format!("expected {wanted:?}"))?;
            fails(r.claim_ref == Some(known.claim(agent, *winner)), || {
                "the receipt must name the claim acted on".into()
            })?;
            (*agent, r.seq, r.tx_time)
        }
        (Op::Adjudicate { agent, .. }, Outcome::Verdict(o)) => (*agent, Some(o.seq), None),
        (Op::Adjudicate { .. }, Outcome::Failed(e)) => {
            let h = Handle(Default::default());
            let allowed = [
                discriminant(&Error::HandleNotFound { handle: h }),
                discriminant(&Error::HandleExpired { handle: h }),
                discriminant(&Error::HandleAlreadyClosed { handle: h, status: String::new() }),
            ];
            return fails(allowed.contains(&e.variant), || {
                "a verdict may only fail with a Handle* error".into()
            });
        }
        _ => return Err("an error or a wrong kind of answer where the SPEC wants an answer".into()),
    };
    if let Some(seq) = seq {
        let (last_seq, last_tx) = heads.get(agent).copied().unwrap_or((0, Timestamp(i64::MIN)));
        fails(seq > last_seq, || format!("seq {seq} does not follow the agent's previous {last_seq}"))?;
        if let Some(t) = tx_time {
            fails(t > last_tx && t >= now, || {
                format!("tx_time {t} must be > {last_tx} and ≥ the clock {now}")
            })?;
        }
        heads.insert(agent, (seq, tx_time.unwrap_or(last_tx)));
    }
    Ok(())
}

/// The agent's newest seq as stored (0 for none).
fn stored_head(side: &Side, agent: &str) -> Result<u64, String> {
    let q = AuditQuery { limit: 1, newest_first: true, ..AuditQuery::default() };
    let page = side.engine.audit(agent, &q).map_err(|e| format!("audit({agent:?}): {e}"))?;
    Ok(page.entries.first().map_or(0, |e| e.seq))
}

/// Each operation stores exactly the units its answer claims: one for a committed write (at
/// the answered seq) or an expired verdict, none for a rejection or a refused verdict, at most
/// one per agent for a sweep (and one somewhere iff it expired a row).
fn units_accounted(
    side: &Side,
    op: &Op,
    out: &Outcome,
    stored: &mut HashMap<&'static str, u64>,
) -> Result<(), String> {
    let expired = discriminant(&Error::HandleExpired { handle: Handle(Default::default()) });
    let (grew, seq) = match out {
        Outcome::Nothing => return Ok(()),
        Outcome::Sweep(report) => {
            let mut grew = 0;
            for agent in AGENTS {
                let (before, after) = (stored[agent], stored_head(side, agent)?);
                fails(after == before || after == before + 1, || {
                    format!("a sweep moved {agent:?} from seq {before} to {after}")
                })?;
                grew += after - before;
                stored.insert(agent, after);
            }
            return fails((grew == 0) == (report.expired == 0), || {
                format!("a sweep wrote {grew} units but reports {} expired rows", report.expired)
            });
        }
        Outcome::Receipt(r) => {
            // A keyed ingest answered from its key names a unit at or below the head: it wrote
            // nothing.
            let keyed = matches!(op, Op::Ingest(i) if i.key.is_some());
            let head = op.agent().and_then(|a| stored.get(a)).copied().unwrap_or(0);
            if keyed && r.seq.is_some_and(|s| s <= head) {
                (0, None)
            } else {
                (u64::from(r.seq.is_some()), r.seq)
            }
        }
        Outcome::Verdict(o) => (1, Some(o.seq)),
        Outcome::Failed(e) => (u64::from(e.variant == expired), None),
    };
    let Some(agent) = op.agent() else { return Ok(()) };
    let (before, after) = (stored[agent], stored_head(side, agent)?);
    fails(after == before + grew, || {
        format!("{agent:?} went from seq {before} to {after}, expected +{grew}")
    })?;
    fails(seq.is_none_or(|s| s == after), || format!("answered seq {seq:?} but the stored head is {after}"))?;
    stored.insert(agent, after);
    Ok(())
}

/// The belief agrees with itself and with the history it was folded from (SPEC §3.2).
fn belief_consistent(history: &History) -> Result<(), String> {
    let b = history.current();
    let values: Vec<_> = b.candidates.iter().map(|c| c.value.clone()).collect();
    fails(b.values == values, || format!("values {:?} differ from the candidates' {values:?}", b.values))?;
    fails((b.status == BeliefStatus::NoBelief) == b.candidates.is_empty(), || {
        format!("status {:?} with {} candidates", b.status, b.candidates.len())
    })?;
    fails((b.status == BeliefStatus::Contested) == b.markers.contains(&Marker::Contested), || {
        format!("status {:?} with markers {:?}", b.status, b.markers)
    })?;
    for (i, c) in b.candidates.iter().enumerate() {
        fails(!values[..i].contains(&c.value), || format!("value {} is two candidates", c.value))?;
        fails(c.supporting.first() == Some(&c.claim_ref), || {
            format!("candidate {c:?} is not led by its first supporter")
        })?;
        for r in &c.supporting {
            let entry = history.entries.iter().find(|h| h.claim.claim_ref == *r);
            fails(
                entry.is_some_and(|h| h.status == ClaimStatus::Current && h.claim.value == c.value),
                || {
                    format!(
                        "supporter {r} of {} is not a Current claim of that value in the history",
                        c.value
                    )
                },
            )?;
        }
    }
    let single = (b.candidates.len() == 1).then(|| &b.candidates[0]);
    fails(b.primary_claim == single.map(|c| c.claim_ref), || format!("primary_claim {:?}", b.primary_claim))?;
    let count = single.map_or(0, |c| c.supporting.len().saturating_sub(1));
    fails(usize::try_from(b.corroboration_count).is_ok_and(|n| n == count), || {
        format!("corroboration_count {} for {count} extra supporters", b.corroboration_count)
    })?;
    fails(b.as_of_seq == history.as_of_seq, || "belief and history pinned to different seqs".into())
}

/// Gap-free seqs and per-unit stamps in the audit trail, and the per-line invariants.
fn stored_state(
    side: &Side,
    s: &Scenario,
    known: &Known,
    agent: &str,
    answered: Option<u64>,
) -> Result<(), String> {
    let e = &side.engine;
    let page = s.audit_page;
    let flat = |newest_first| -> Result<Vec<LedgerEntry>, String> {
        Ok(side
            .audit_pages(agent, None, page, newest_first)
            .map_err(|e| format!("audit({agent:?}): {e}"))?
            .into_iter()
            .flat_map(|p| p.entries)
            .collect())
    };
    let entries = flat(false)?;
    let mut newest = flat(true)?;
    newest.reverse();
    fails(entries == newest, || format!("audit of {agent:?} differs between the two directions"))?;
    let mut units: Vec<(u64, Timestamp)> = Vec::new();
    let mut expected_index = 0u32;
    for entry in &entries {
        match units.last() {
            Some(&(seq, at)) if seq == entry.seq => {
                expected_index += 1;
                fails(at == entry.recorded_at, || format!("unit {seq} holds two recorded_at values"))?;
            }
            last => {
                let (prev_seq, prev_at) = last.copied().unwrap_or((0, Timestamp(i64::MIN)));
                fails(entry.seq == prev_seq + 1, || {
                    format!("{agent:?}: seq {} follows {prev_seq}", entry.seq)
                })?;
                fails(entry.recorded_at > prev_at, || {
                    format!("{agent:?}: tx_time of seq {} not increasing", entry.seq)
                })?;
                units.push((entry.seq, entry.recorded_at));
                expected_index = 0;
            }
        }
        fails(entry.index == expected_index, || format!("{agent:?}: entry {entry:?} out of index order"))?;
    }
    let head = units.last().map_or(0, |u| u.0);
    fails(answered.is_none_or(|a| a <= head), || {
        format!("{agent:?}: answered seq {answered:?} beyond head {head}")
    })?;
    let points: Vec<AsOf> =
        std::iter::once(AsOf::Now).chain(s.probes.iter().map(|p| as_of(p.as_of, head, known))).collect();
    for subject in SUBJECTS {
        for predicate in PREDICATES {
            for &at in &points {
                let history =
                    e.history(agent, subject, predicate, at).map_err(|e| format!("history: {e}"))?;
                let mut q = RecallQuery::new(agent, subject, predicate);
                q.as_of = at;
                let belief = e.recall(&q).map_err(|e| format!("recall: {e}"))?;
                fails(*history.current() == belief, || {
                    format!(
                        "history({agent:?}, {subject:?}, {predicate:?}, {at:?}).current() {:?} != recall {belief:?}",
                        history.current()
                    )
                })?;
                belief_consistent(&history)
                    .map_err(|m| format!("history({agent:?}, {subject:?}, {predicate:?}, {at:?}): {m}"))?;
            }
            let history =
                e.history(agent, subject, predicate, AsOf::Now).map_err(|e| format!("history: {e}"))?;
            for h in &history.entries {
                let c = &h.claim;
                fails(h.disposition.is_live() == (h.status == ClaimStatus::Current), || {
                    format!(
                        "claim {} of ({agent:?}, {subject:?}, {predicate:?}) has latest disposition {:?} but status {:?}",
                        c.claim_ref, h.disposition, h.status
                    )
                })?;
                fails(
                    c.agent_id.as_str() == agent && c.subject == subject && c.predicate == predicate,
                    || format!("history of ({agent:?}, {subject:?}, {predicate:?}) holds {c:?}"),
                )?;
                let committed: Vec<&LedgerEntry> = entries
                    .iter()
                    .filter(|e| e.claim_ref == c.claim_ref && e.event == Event::ClaimCommitted)
                    .collect();
                fails(
                    committed.len() == 1
                        && committed[0].seq == c.seq
                        && committed[0].recorded_at == c.tx_time,
                    || {
                        format!(
                            "claim {c:?} needs exactly one ClaimCommitted entry in its own unit, found {committed:?}"
                        )
                    },
                )?;
            }
        }
    }
    Ok(())
}
