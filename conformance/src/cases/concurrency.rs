//! SPEC §2.1 and §7: one agent's writes are serialised across threads (no lost write, gap-free
//! seq, exactly one winner per conflicting pair); other agents proceed; reads never fail.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use credence_core::ledger::read_with;
use credence_core::{
    AsOf, AuditQuery, AuditRange, BeliefStatus, ClaimEngine, Disposition, EngineConfig, Error, Event,
    IngestRequest, LedgerEntry, Provenance, RecallQuery, RejectReason, Timestamp, Verdict, WriteReceipt,
};

use super::support::agent_id;
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// Joins a scoped thread, turning a panic into a case failure.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> Result<T, CaseError> {
    h.join().map_err(|_| CaseError::Failed("a worker thread panicked".into()))
}

/// Two threads released by one barrier ingest "Acme" and "Globex" on the empty line
/// (`subject`, employer) of agent `a`; returns both receipts.
fn race_two_writers(
    engine: &impl ClaimEngine,
    subject: &str,
) -> Result<(WriteReceipt, WriteReceipt), CaseError> {
    let barrier = Barrier::new(2);
    let (x, y) = thread::scope(|s| {
        let go = |value: &'static str| {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                engine.ingest(IngestRequest::new("a", subject, "employer", value))
            })
        };
        let (hx, hy) = (go("Acme"), go("Globex"));
        (join(hx), join(hy))
    });
    Ok((x??, y??))
}

fn ledger_entries(fx: &Fixture, agent: &str) -> Result<Vec<LedgerEntry>, CaseError> {
    let id = agent_id(agent)?;
    let range = AuditRange { claim_ref: None, after: None, limit: 1_000_000_000, newest_first: false };
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| v.audit(&range))?)
}

fn head_seq(fx: &Fixture, agent: &str) -> Result<u64, CaseError> {
    let id = agent_id(agent)?;
    Ok(read_with(fx.store.ledger.as_ref(), &id, |v| v.head())?.map_or(0, |h| h.seq))
}

/// Checks that receipts carry exactly seqs 1..=n and that tx_time strictly increases with seq.
fn check_stream(receipts: &[WriteReceipt]) -> CaseResult {
    let mut units: Vec<(u64, Timestamp)> = Vec::with_capacity(receipts.len());
    for r in receipts {
        match (r.seq, r.tx_time) {
            (Some(s), Some(t)) => units.push((s, t)),
            _ => return Err(CaseError::Failed(format!("receipt without seq/tx_time: {r:?}"))),
        }
    }
    units.sort();
    let n = u64::try_from(units.len()).unwrap_or(u64::MAX);
    let seqs: Vec<u64> = units.iter().map(|u| u.0).collect();
    ensure!(seqs.iter().copied().eq(1..=n), "seqs are not exactly 1..={n}");
    for w in units.windows(2) {
        ensure!(
            w[0].1 < w[1].1,
            "tx_time not strictly increasing: seq {} at {}, seq {} at {}",
            w[0].0,
            w[0].1,
            w[1].0,
            w[1].1
        );
    }
    Ok(())
}

/// 8 threads × 200 writes on one agent: seq is exactly 1..=1600, every one of the 1600 claims
/// is stored, and tx_time strictly increases with seq.
pub fn eight_threads_two_hundred_writes_one_agent_lose_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let results: Vec<Result<Vec<WriteReceipt>, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                s.spawn(move || {
                    (0..200)
                        .map(|i| {
                            engine
                                .ingest(IngestRequest::new("a", format!("t{t}"), format!("p{i:03}"), i))
                                .map_err(CaseError::from)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r)).collect()
    });
    let mut receipts = Vec::new();
    for r in results {
        receipts.extend(r?);
    }
    ensure_eq!(receipts.len(), 1600);
    ensure!(receipts.iter().all(|r| r.disposition == Disposition::CommittedCheap), "all on fresh lines");
    check_stream(&receipts)?;
    ensure_eq!(head_seq(&fx, "a")?, 1600);
    let id = agent_id("a")?;
    let stored = read_with(fx.store.ledger.as_ref(), &id, |v| {
        let mut n = 0usize;
        for r in &receipts {
            if v.claim(r.claim())?.is_some_and(|c| Some(c.seq) == r.seq) {
                n += 1;
            }
        }
        Ok(n)
    })?;
    ensure_eq!(stored, 1600, "every acknowledged claim is stored with its seq");
    let units: BTreeSet<u64> = ledger_entries(&fx, "a")?.iter().map(|e| e.seq).collect();
    ensure!(units.iter().copied().eq(1..=1600), "the ledger holds one unit per write");
    Ok(())
}

/// Two threads writing conflicting values to one empty line at once: exactly one is
/// CommittedCheap and the other Contested against it (20 rounds on fresh lines).
pub fn two_conflicting_writers_yield_one_cheap_one_contested(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    for round in 0..20 {
        let subject = format!("round{round}");
        let (x, y) = race_two_writers(engine, &subject)?;
        let (cheap, contested) = match (x.disposition, y.disposition) {
            (Disposition::CommittedCheap, Disposition::Contested) => (x, y),
            (Disposition::Contested, Disposition::CommittedCheap) => (y, x),
            other => return Err(CaseError::Failed(format!("round {round}: dispositions {other:?}"))),
        };
        ensure_eq!(contested.contested_with, vec![cheap.claim()], "round {round}");
        let belief = engine.recall(&RecallQuery::new("a", subject.as_str(), "employer"))?;
        ensure_eq!(belief.status, BeliefStatus::Contested, "round {round}");
    }
    ensure_eq!(head_seq(&fx, "a")?, 40);
    Ok(())
}

/// Eight threads writing the same value to one empty line at once: exactly one takes the
/// cheap path, seven corroborate, and the belief counts seven corroborations.
pub fn concurrent_equal_writes_one_cheap_path_rest_corroborate(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let barrier = Barrier::new(8);
    let receipts: Vec<Result<WriteReceipt, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r.map_err(CaseError::from))).collect()
    });
    let receipts: Vec<WriteReceipt> = receipts.into_iter().collect::<Result<_, _>>()?;
    let mut rationales: Vec<String> = receipts.iter().filter_map(|r| r.rationale.clone()).collect();
    rationales.sort();
    let mut expected = vec!["corroboration".to_owned(); 7];
    expected.insert(0, "cheap_path".to_owned());
    ensure_eq!(rationales, expected);
    let belief = engine.recall(&RecallQuery::new("a", "alice", "employer"))?;
    ensure_eq!(belief.corroboration_count, 7);
    ensure_eq!(belief.value, Some("Acme".into()));
    Ok(())
}

/// Many threads writing different agents all commit; each agent's seq is exactly 1..=n.
pub fn concurrent_writes_to_different_agents_all_commit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let results: Vec<Result<Vec<WriteReceipt>, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                s.spawn(move || {
                    let agent = format!("agent-{}", t % 8);
                    (0..50)
                        .map(|i| {
                            engine
                                .ingest(IngestRequest::new(
                                    agent.as_str(),
                                    format!("t{t}"),
                                    format!("p{i}"),
                                    i,
                                ))
                                .map_err(CaseError::from)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r)).collect()
    });
    let mut per_agent: Vec<Vec<WriteReceipt>> = vec![Vec::new(); 8];
    for (t, r) in results.into_iter().enumerate() {
        per_agent[t % 8].extend(r?);
    }
    for (a, receipts) in per_agent.iter().enumerate() {
        ensure_eq!(receipts.len(), 100, "agent-{a}");
        check_stream(receipts)?;
        ensure_eq!(head_seq(&fx, &format!("agent-{a}"))?, 100);
    }
    let agents: Vec<String> = engine.agents()?.iter().map(|a| a.as_str().to_owned()).collect();
    ensure_eq!(agents, (0..8).map(|a| format!("agent-{a}")).collect::<Vec<_>>());
    Ok(())
}

/// Readers running during a write storm never get an error, never see the stream go
/// backwards, and always see whole commit units (no gap in seq or entry index).
pub fn readers_during_write_storm_never_error(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let engine = &fx.engine;
    let done = AtomicBool::new(false);
    let (writes, reads) = thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || -> Result<usize, CaseError> {
                    for i in 0..150 {
                        // A mix of fresh lines, corroborations and contradictions on shared lines.
                        let (subject, value) = match i % 3 {
                            0 => (format!("fresh{t}-{i}"), serde_json::json!(i)),
                            1 => ("shared".to_owned(), serde_json::json!("same")),
                            _ => ("contested".to_owned(), serde_json::json!(t)),
                        };
                        engine.ingest(IngestRequest::new("a", subject, "p", value))?;
                    }
                    Ok(150)
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let done = &done;
                s.spawn(move || -> Result<usize, CaseError> {
                    let mut reads = 0usize;
                    let mut last_seq = 0u64;
                    loop {
                        let finished = done.load(Ordering::SeqCst);
                        let belief = engine.recall(&RecallQuery::new("a", "shared", "p"))?;
                        ensure!(
                            belief.as_of_seq >= last_seq,
                            "seq went back from {last_seq} to {}",
                            belief.as_of_seq
                        );
                        last_seq = belief.as_of_seq;
                        let history = engine.history("a", "contested", "p", AsOf::Now)?;
                        ensure!(
                            history.entries.iter().all(|e| e.claim.seq <= history.as_of_seq),
                            "history shows rows after its own snapshot"
                        );
                        ensure_eq!(history.belief.as_of_seq, history.as_of_seq);
                        let page = engine
                            .audit("a", &AuditQuery { limit: 1_000_000_000, ..AuditQuery::default() })?;
                        let mut expected = (1u64, 0u32);
                        for e in &page.entries {
                            let at = (e.seq, e.index);
                            ensure!(at == expected || at == (expected.0 + 1, 0), "torn audit read at {at:?}");
                            expected = (at.0, at.1 + 1);
                        }
                        engine.pending(Some("a"))?;
                        engine.subject("a", "shared", AsOf::Now, None)?;
                        reads += 1;
                        if finished {
                            return Ok(reads);
                        }
                    }
                })
            })
            .collect();
        let writes: Vec<Result<usize, CaseError>> =
            writers.into_iter().map(|h| join(h).and_then(|r| r)).collect();
        done.store(true, Ordering::SeqCst);
        let reads: Vec<Result<usize, CaseError>> =
            readers.into_iter().map(|h| join(h).and_then(|r| r)).collect();
        (writes, reads)
    });
    let mut total_writes = 0;
    for w in writes {
        total_writes += w?;
    }
    for r in reads {
        ensure!(r? >= 1, "every reader completed at least one full read");
    }
    ensure_eq!(total_writes, 600);
    ensure_eq!(head_seq(&fx, "a")?, 600);
    Ok(())
}

/// Two verdicts raced on one handle: exactly one is applied, the other is
/// `HandleAlreadyClosed`, and the line reflects the verdict that won (10 rounds).
pub fn concurrent_verdicts_on_one_handle_apply_once(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let engine = &fx.engine;
    for round in 0..10 {
        let subject = format!("round{round}");
        engine.ingest(IngestRequest::new("a", subject.as_str(), "p", "old"))?;
        let challenger = engine.ingest(IngestRequest::new("a", subject.as_str(), "p", "new"))?;
        let handle = challenger.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?;
        let seq = head_seq(&fx, "a")?;
        let barrier = Barrier::new(2);
        let (affirm, deny) = thread::scope(|s| {
            let go = |verdict| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    engine.submit_adjudication("a", handle, verdict, Provenance::USER)
                })
            };
            let (ha, hd) = (go(Verdict::Affirm), go(Verdict::Deny));
            (join(ha), join(hd))
        });
        let (affirm, deny) = (affirm?, deny?);
        let expected = match (&affirm, &deny) {
            (Ok(_), Err(Error::HandleAlreadyClosed { .. })) => "new",
            (Err(Error::HandleAlreadyClosed { .. }), Ok(_)) => "old",
            other => return Err(CaseError::Failed(format!("round {round}: {other:?}"))),
        };
        ensure_eq!(head_seq(&fx, "a")?, seq + 1, "round {round}: exactly one verdict unit");
        let belief = engine.recall(&RecallQuery::new("a", subject.as_str(), "p"))?;
        ensure_eq!(belief.value, Some(expected.into()), "round {round}");
    }
    Ok(())
}

/// Four threads invalidating one claim at once: exactly one Invalidated, the others Rejected
/// `NotLive`, and exactly one commit unit is written.
pub fn concurrent_invalidations_of_one_claim_succeed_once(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let claim = engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let barrier = Barrier::new(4);
    let receipts: Vec<Result<WriteReceipt, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    engine.invalidate("a", claim, "race")
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r.map_err(CaseError::from))).collect()
    });
    let receipts: Vec<WriteReceipt> = receipts.into_iter().collect::<Result<_, _>>()?;
    let ok = receipts.iter().filter(|r| r.disposition == Disposition::Invalidated).count();
    ensure_eq!(ok, 1);
    ensure!(
        receipts
            .iter()
            .filter(|r| r.disposition != Disposition::Invalidated)
            .all(|r| r.reason == Some(RejectReason::NotLive { claim_ref: claim })),
        "losers are NotLive: {receipts:?}"
    );
    ensure_eq!(head_seq(&fx, "a")?, 2);
    Ok(())
}

/// Burst counts are read inside the serialised unit: 40 concurrent re-entries of one claim
/// within the window give exactly 10 CommittedCheap and 30 Quarantined.
pub fn concurrent_reentries_quarantine_exactly_past_threshold(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let target = engine.ingest(IngestRequest::new("a", "alice", "employer", "Acme"))?.claim();
    let barrier = Barrier::new(8);
    let results: Vec<Result<Vec<WriteReceipt>, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (0..5)
                        .map(|_| {
                            engine
                                .ingest(
                                    IngestRequest::new("a", "alice", "employer", "Acme")
                                        .with_provenance(Provenance::RecallReEntry),
                                )
                                .map_err(CaseError::from)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r)).collect()
    });
    let mut receipts = Vec::new();
    for r in results {
        receipts.extend(r?);
    }
    ensure!(receipts.iter().all(|r| r.claim_ref == Some(target)), "every re-entry names the target");
    let cheap = receipts.iter().filter(|r| r.disposition == Disposition::CommittedCheap).count();
    let quarantined = receipts.iter().filter(|r| r.disposition == Disposition::Quarantined).count();
    ensure_eq!((cheap, quarantined), (10, 30));
    Ok(())
}

/// Concurrent sweeps (and a late verdict) expire each overdue row exactly once.
pub fn concurrent_sweeps_expire_each_row_once(f: &dyn Factory) -> CaseResult {
    let ttl = Duration::from_secs(60);
    let fx =
        Fixture::build(f, EngineConfig { adjudication_ttl: Some(ttl), ..EngineConfig::default() }, true)?;
    let engine = &fx.engine;
    let mut handles = Vec::new();
    for i in 0..5 {
        engine.ingest(IngestRequest::new("a", format!("s{i}"), "p", 1))?;
        let r = engine.ingest(IngestRequest::new("a", format!("s{i}"), "p", 2))?;
        handles.push(r.handle.ok_or_else(|| CaseError::Failed("no handle".into()))?);
    }
    fx.clock.advance_micros(3_600_000_000);
    let now = credence_core::Clock::now(fx.clock.as_ref());
    let barrier = Barrier::new(5);
    let (sweeps, verdict) = thread::scope(|s| {
        let sweepers: Vec<_> = (0..4)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    engine.sweep(now)
                })
            })
            .collect();
        let barrier = &barrier;
        let late = s.spawn(move || {
            barrier.wait();
            engine.submit_adjudication("a", handles[0], Verdict::Affirm, Provenance::USER)
        });
        let sweeps: Vec<_> = sweepers.into_iter().map(join).collect();
        (sweeps, join(late))
    });
    let mut swept = 0;
    for s in sweeps {
        swept += s??.expired;
    }
    let by_verdict = match verdict? {
        Err(Error::HandleExpired { .. }) => 1,
        Err(Error::HandleAlreadyClosed { .. }) => 0,
        other => return Err(CaseError::Failed(format!("late verdict: {other:?}"))),
    };
    ensure_eq!(swept + by_verdict, 5, "each row expires exactly once");
    let expiries = ledger_entries(&fx, "a")?.iter().filter(|e| e.event == Event::AdjudicationExpired).count();
    ensure_eq!(expiries, 5, "one AdjudicationExpired entry per row");
    ensure!(engine.pending(None)?.is_empty(), "nothing left pending");
    Ok(())
}

/// Two conflicting writers on one empty line with an oracle: exactly one CommittedCheap, one
/// QueuedForAdjudication, and exactly one pending row naming the first as incumbent (10 rounds).
pub fn two_conflicting_writers_with_oracle_queue_exactly_one(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::with_oracle(f)?;
    let engine = &fx.engine;
    for round in 0..10 {
        let subject = format!("round{round}");
        let (x, y) = race_two_writers(engine, &subject)?;
        let (cheap, queued) = match (x.disposition, y.disposition) {
            (Disposition::CommittedCheap, Disposition::QueuedForAdjudication) => (x, y),
            (Disposition::QueuedForAdjudication, Disposition::CommittedCheap) => (y, x),
            other => return Err(CaseError::Failed(format!("round {round}: dispositions {other:?}"))),
        };
        let rows: Vec<_> = engine.pending(Some("a"))?.into_iter().filter(|a| a.subject == subject).collect();
        ensure_eq!(rows.len(), 1, "round {round}");
        ensure_eq!(rows[0].challenger, queued.claim());
        ensure_eq!(rows[0].incumbents, vec![cheap.claim()]);
    }
    Ok(())
}

/// Rejected writes interleaved from many threads consume no seq: the accepted writes get
/// exactly 1..=n.
pub fn concurrent_rejected_writes_consume_no_seq(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let engine = &fx.engine;
    let results: Vec<Result<Vec<WriteReceipt>, CaseError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    let mut accepted = Vec::new();
                    for i in 0..100 {
                        // Every other write is invalid (empty predicate) and must be rejected.
                        let predicate = if i % 2 == 0 { format!("p{i}") } else { String::new() };
                        let r = engine.ingest(IngestRequest::new("a", format!("t{t}"), predicate, i))?;
                        if i % 2 == 0 {
                            accepted.push(r);
                        } else {
                            ensure!(r.disposition == Disposition::Rejected && r.seq.is_none(), "{r:?}");
                        }
                    }
                    Ok(accepted)
                })
            })
            .collect();
        handles.into_iter().map(|h| join(h).and_then(|r| r)).collect()
    });
    let mut receipts = Vec::new();
    for r in results {
        receipts.extend(r?);
    }
    ensure_eq!(receipts.len(), 200);
    check_stream(&receipts)?;
    ensure_eq!(head_seq(&fx, "a")?, 200);
    Ok(())
}
