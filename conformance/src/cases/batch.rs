//! The `Ledger::write_batch` contract: units of one batch run in order, each seeing the
//! ones before it; a unit that fails, writes nothing or panics leaves no trace and does not
//! change the others' outcomes; batches and single writes of one agent stay gap-free.

use std::thread;

use credence_core::ledger::read_with;
use credence_core::{AgentId, Append, ClaimRef, Error, Head, IdSource, LedgerRead, Result, Upto, WriteUnit};

use super::storage::{committed_entry, day, plain_claim};
use super::support::agent_id;
use crate::{CaseError, CaseResult, Factory, Fixture, ensure, ensure_eq};

/// A unit that appends one plain claim at the head it reads + 1, one µs after the head.
fn next_claim(fx: &Fixture, id: &AgentId) -> impl FnMut(&dyn LedgerRead) -> Result<Option<Append>> + Send {
    let (ids, id) = (fx.ids.clone(), id.clone());
    let start = day(2027, 1, 1);
    move |view: &dyn LedgerRead| {
        let head = view.head()?;
        let seq = head.map_or(1, |h| h.seq + 1);
        let t = head.map_or(start, |h| h.tx_time.plus_micros(1));
        let claim_ref = ClaimRef(ids.next_id(t));
        let mut append = Append::new(seq, t);
        append.claims.push(plain_claim(&id, claim_ref, seq, t));
        append.entries.push(committed_entry(claim_ref, seq, t));
        Ok(Some(append))
    }
}

fn stored_seqs(fx: &Fixture, id: &AgentId) -> Result<Vec<u64>, CaseError> {
    let units = read_with(&*fx.store.ledger, id, |view| view.units(0, usize::MAX))?;
    Ok(units.iter().map(|u| u.seq).collect())
}

fn seq_of(result: &Result<Option<Head>>) -> Option<u64> {
    result.as_ref().ok().and_then(|h| h.map(|h| h.seq))
}

/// Units of one batch get consecutive seqs in the order given, each seeing the rows of the
/// units before it, and every one of them is stored.
pub fn batch_units_commit_in_order_each_seeing_the_previous(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let (mut u1, mut u2, mut u3) = (next_claim(&fx, &id), next_claim(&fx, &id), next_claim(&fx, &id));
    let mut units: [&mut WriteUnit<'_>; 3] = [&mut u1, &mut u2, &mut u3];
    let results = fx.store.ledger.write_batch(&id, &mut units);
    ensure_eq!(results.len(), 3);
    let seqs: Vec<Option<u64>> = results.iter().map(seq_of).collect();
    ensure_eq!(seqs, vec![Some(1), Some(2), Some(3)]);
    ensure_eq!(stored_seqs(&fx, &id)?, vec![1, 2, 3]);
    Ok(())
}

/// Inside a batch, each unit's line read up to `Upto::Head` (and its live claims) holds the
/// claims of the units before it in the batch, and a later write's read holds them all.
pub fn batch_line_upto_head_sees_the_units_before_it(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let seen = std::sync::Mutex::new(Vec::new());
    let counting = || {
        let mut inner = next_claim(&fx, &id);
        let seen = &seen;
        move |view: &dyn LedgerRead| {
            let rows = view.line("s", "p", Upto::Head)?;
            let live = view.live("s", "p")?;
            seen.lock().map_err(|_| Error::InvalidQuery { reason: "poisoned".into() })?.push((
                rows.claims.len(),
                rows.marks.len(),
                live.len(),
            ));
            inner(view)
        }
    };
    let (mut u1, mut u2, mut u3) = (counting(), counting(), counting());
    let mut units: [&mut WriteUnit<'_>; 3] = [&mut u1, &mut u2, &mut u3];
    let results = fx.store.ledger.write_batch(&id, &mut units);
    ensure!(results.iter().all(Result::is_ok), "results: {results:?}");
    let mut after = counting();
    fx.store.ledger.write(&id, &mut after)?;
    let seen = seen.into_inner().map_err(|_| CaseError::Failed("poisoned".into()))?;
    ensure_eq!(seen, vec![(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)]);
    Ok(())
}

/// A unit that returns an error, one that writes nothing and one whose append is refused
/// each get their own answer and leave nothing; the units around them commit.
pub fn batch_failing_units_leave_nothing_and_others_commit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let (mut ok1, mut ok2) = (next_claim(&fx, &id), next_claim(&fx, &id));
    let mut failing = |_: &dyn LedgerRead| Err(Error::InvalidQuery { reason: "the unit gave up".into() });
    let mut nothing = |_: &dyn LedgerRead| Ok(None);
    let t = day(2027, 6, 1);
    let bad_ref = ClaimRef(fx.ids.next_id(t));
    let mut wrong_seq = |_: &dyn LedgerRead| {
        let mut append = Append::new(99, t);
        append.claims.push(plain_claim(&id, bad_ref, 99, t));
        append.entries.push(committed_entry(bad_ref, 99, t));
        Ok(Some(append))
    };
    let mut units: [&mut WriteUnit<'_>; 5] = [&mut ok1, &mut failing, &mut nothing, &mut wrong_seq, &mut ok2];
    let results = fx.store.ledger.write_batch(&id, &mut units);
    ensure_eq!(results.len(), 5);
    ensure_eq!(seq_of(&results[0]), Some(1));
    ensure!(matches!(results[1], Err(Error::InvalidQuery { .. })), "failing unit gave {:?}", results[1]);
    ensure!(matches!(results[2], Ok(None)), "empty unit gave {:?}", results[2]);
    ensure!(matches!(results[3], Err(Error::Conflict { .. })), "wrong seq gave {:?}", results[3]);
    ensure_eq!(seq_of(&results[4]), Some(2));
    ensure_eq!(stored_seqs(&fx, &id)?, vec![1, 2]);
    let found = read_with(&*fx.store.ledger, &id, |view| view.claim(bad_ref))?;
    ensure!(found.is_none(), "the refused unit's claim is visible: {found:?}");
    Ok(())
}

/// A unit refused part-way through its rows (its second claim repeats a stored one, so a
/// backend may already have written its unit row and first claim) leaves none of them: the
/// unit after it gets the seq the refused one would have had, and the refused unit's first
/// claim is nowhere.
pub fn batch_unit_refused_after_its_first_rows_leaves_none_of_them(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let (mut ok1, mut ok2) = (next_claim(&fx, &id), next_claim(&fx, &id));
    let fresh_ref = std::sync::Mutex::new(None);
    let mut repeats_a_claim = |view: &dyn LedgerRead| -> Result<Option<Append>> {
        let Some(head) = view.head()? else {
            return Err(Error::InvalidQuery { reason: "the first unit of the batch is not visible".into() });
        };
        let stored = view.units(0, usize::MAX)?;
        let Some(repeated) = stored.iter().flat_map(|u| &u.claims).map(|c| c.claim_ref).next() else {
            return Err(Error::InvalidQuery { reason: "no stored claim to repeat".into() });
        };
        let (seq, t) = (head.seq + 1, head.tx_time.plus_micros(1));
        let fresh = ClaimRef(fx.ids.next_id(t));
        *fresh_ref.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh);
        let mut append = Append::new(seq, t);
        append.claims.push(plain_claim(&id, fresh, seq, t));
        append.claims.push(plain_claim(&id, repeated, seq, t));
        append.entries.push(committed_entry(fresh, seq, t));
        Ok(Some(append))
    };
    let mut units: [&mut WriteUnit<'_>; 3] = [&mut ok1, &mut repeats_a_claim, &mut ok2];
    let results = fx.store.ledger.write_batch(&id, &mut units);
    ensure_eq!(results.len(), 3);
    ensure_eq!(seq_of(&results[0]), Some(1));
    ensure!(matches!(results[1], Err(Error::Conflict { .. })), "the repeating unit gave {:?}", results[1]);
    ensure_eq!(seq_of(&results[2]), Some(2));
    ensure_eq!(stored_seqs(&fx, &id)?, vec![1, 2]);
    let Some(fresh) = *fresh_ref.lock().unwrap_or_else(std::sync::PoisonError::into_inner) else {
        return Err(CaseError::Failed("the repeating unit never ran".into()));
    };
    let found = read_with(&*fx.store.ledger, &id, |view| view.claim(fresh))?;
    ensure!(found.is_none(), "the refused unit's first claim is visible: {found:?}");
    let entries = read_with(&*fx.store.ledger, &id, |view| view.units(0, usize::MAX))?
        .iter()
        .flat_map(|u| &u.entries)
        .filter(|e| e.claim_ref == fresh)
        .count();
    ensure_eq!(entries, 0, "ledger entries of the refused unit");
    Ok(())
}

/// `Ledger::write` is a batch of one: a unit that panics (after reading the agent) is an error
/// for its caller, nothing of it is stored, no seq is used, and the agent's next write works.
pub fn write_panicking_unit_is_an_error_and_the_agent_goes_on(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    fx.store.ledger.write(&id, &mut next_claim(&fx, &id))?;
    let mut panics = {
        let mut inner = next_claim(&fx, &id);
        move |view: &dyn LedgerRead| -> Result<Option<Append>> {
            let _ = inner(view)?;
            panic!("a unit body panicked on purpose (conformance case)")
        }
    };
    let result = fx.store.ledger.write(&id, &mut panics);
    ensure!(matches!(result, Err(Error::Backend { .. })), "the panicking unit gave {result:?}");
    ensure_eq!(seq_of(&fx.store.ledger.write(&id, &mut next_claim(&fx, &id))), Some(2));
    ensure_eq!(stored_seqs(&fx, &id)?, vec![1, 2]);
    Ok(())
}

/// A unit that panics is an error for that unit alone: nothing of it is stored and the
/// other units of the batch commit.
pub fn batch_panicking_unit_is_an_error_and_others_commit(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let (mut ok1, mut ok2) = (next_claim(&fx, &id), next_claim(&fx, &id));
    let mut writes_then_panics = {
        let mut inner = next_claim(&fx, &id);
        move |view: &dyn LedgerRead| -> Result<Option<Append>> {
            let _ = inner(view)?;
            panic!("a unit body panicked on purpose (conformance case)")
        }
    };
    let mut units: [&mut WriteUnit<'_>; 3] = [&mut ok1, &mut writes_then_panics, &mut ok2];
    let results = fx.store.ledger.write_batch(&id, &mut units);
    ensure_eq!(results.len(), 3);
    ensure_eq!(seq_of(&results[0]), Some(1));
    ensure!(results[1].is_err(), "the panicking unit gave {:?}", results[1]);
    ensure_eq!(seq_of(&results[2]), Some(2));
    ensure_eq!(stored_seqs(&fx, &id)?, vec![1, 2]);
    Ok(())
}

/// An empty batch answers an empty list and creates nothing.
pub fn batch_of_no_units_writes_nothing(f: &dyn Factory) -> CaseResult {
    let fx = Fixture::new(f)?;
    let id = agent_id("quiet")?;
    let results = fx.store.ledger.write_batch(&id, &mut []);
    ensure!(results.is_empty(), "got {} results", results.len());
    ensure_eq!(fx.store.ledger.agents()?, Vec::<AgentId>::new());
    Ok(())
}

/// Batches and single writes racing on one agent from several threads: every unit is
/// answered with its own seq and the stored stream is exactly 1..=N.
pub fn batch_and_single_writes_racing_stay_gap_free(f: &dyn Factory) -> CaseResult {
    const THREADS: usize = 3;
    const ROUNDS: usize = 10;
    const PER_BATCH: usize = 4;
    let fx = Fixture::new(f)?;
    let id = agent_id("a")?;
    let seqs: Vec<Vec<u64>> = thread::scope(|s| {
        let batchers = (0..THREADS).map(|_| {
            s.spawn(|| -> Result<Vec<u64>, CaseError> {
                let mut got = Vec::new();
                for _ in 0..ROUNDS {
                    let mut bodies: Vec<_> = (0..PER_BATCH).map(|_| next_claim(&fx, &id)).collect();
                    let mut units: Vec<&mut WriteUnit<'_>> =
                        bodies.iter_mut().map(|b| b as &mut WriteUnit<'_>).collect();
                    for r in fx.store.ledger.write_batch(&id, &mut units) {
                        got.push(
                            r?.map(|h| h.seq)
                                .ok_or_else(|| CaseError::Failed("a unit wrote nothing".into()))?,
                        );
                    }
                }
                Ok(got)
            })
        });
        let singles = (0..THREADS).map(|_| {
            s.spawn(|| -> Result<Vec<u64>, CaseError> {
                let mut got = Vec::new();
                for _ in 0..ROUNDS {
                    let head = fx.store.ledger.write(&id, &mut next_claim(&fx, &id))?;
                    got.push(
                        head.map(|h| h.seq)
                            .ok_or_else(|| CaseError::Failed("a write wrote nothing".into()))?,
                    );
                }
                Ok(got)
            })
        });
        let handles: Vec<_> = batchers.chain(singles).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CaseError::Failed("a writer thread panicked".into()))))
            .collect::<Result<Vec<_>, CaseError>>()
    })?;
    let mut all: Vec<u64> = seqs.into_iter().flatten().collect();
    all.sort_unstable();
    let total = THREADS * ROUNDS * (PER_BATCH + 1);
    let expected: Vec<u64> = (1..=total as u64).collect();
    ensure_eq!(all, expected);
    ensure_eq!(stored_seqs(&fx, &id)?, expected);
    Ok(())
}
