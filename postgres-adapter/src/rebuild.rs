//! Deriving the indexes from the ledger rows again (SPEC §3.5): after the migration that
//! introduces them (schema versions 5 and 7 leave a `credence_rebuild` row naming what to
//! build) and,
//! one agent at a time, whenever an operator asks (`Ledger::rebuild_indexes`, `credence
//! reindex`). Everything happens in one transaction: readers see the old index or the new one,
//! never a half-built one. Each claim's stretches of liveness are folded from its entries and
//! assertions by `credence_core::liveness::periods`, the engine's own rule.

use std::collections::HashMap;

use credence_core::liveness::{self, IndexColumns};
use credence_core::{Assertion, ClaimRef, Event, StateMark};
use postgres::{GenericClient, Transaction};

use crate::codec::{self, hex};
use crate::error::{PgError, PgResult};
use crate::sql;

/// Claims read, keyed or derived per statement.
const PAGE: i64 = 2_000;

/// Rebuilds what `credence_rebuild` names: `live_claims` ([`rebuild_live`]) and `terms` (every
/// agent's search postings, [`derive_terms`]).
pub(crate) fn rebuild(tx: &mut Transaction<'_>) -> PgResult<()> {
    let what: Vec<String> = tx
        .query("SELECT what FROM credence_rebuild", &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if what.iter().any(|w| w == "live_claims") {
        rebuild_live(tx)?;
    }
    if what.iter().any(|w| w == "terms") {
        tx.batch_execute("TRUNCATE terms")?;
        for agent in agents(tx)? {
            derive_terms(tx, &agent)?;
        }
    }
    Ok(())
}

fn agents(client: &mut impl GenericClient) -> PgResult<Vec<String>> {
    Ok(client
        .query("SELECT DISTINCT agent_id FROM claims ORDER BY agent_id", &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// Derives `agent`'s search postings from its claims, a page at a time: per term and line, the
/// first unit whose claim carried it.
fn derive_terms(client: &mut impl GenericClient, agent: &str) -> PgResult<()> {
    for_claim_pages(client, agent, |client, claims| {
        let mut firsts: HashMap<(String, &str, &str), i64> = HashMap::new();
        for claim in claims {
            let seq = seq_param(claim.seq)?;
            for term in credence_core::terms::of_claim(claim) {
                let at = firsts.entry((term, &claim.subject, &claim.predicate)).or_insert(seq);
                *at = (*at).min(seq);
            }
        }
        let (mut terms, mut subjects, mut predicates, mut seqs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((term, subject, predicate), seq) in firsts {
            terms.push(term);
            subjects.push(subject);
            predicates.push(predicate);
            seqs.push(seq);
        }
        client.execute(sql::UPSERT_TERMS, &[&agent, &terms, &subjects, &predicates, &seqs])?;
        Ok(())
    })
}

/// Calls `f` with each page of `agent`'s claims, in key order.
fn for_claim_pages<C: GenericClient>(
    client: &mut C,
    agent: &str,
    mut f: impl FnMut(&mut C, &[credence_core::Claim]) -> PgResult<()>,
) -> PgResult<()> {
    let (mut after, mut first) = (uuid::Uuid::nil(), true);
    loop {
        let claims = client
            .query(sql::CLAIMS_PAGE, &[&agent, &after, &PAGE, &first])?
            .iter()
            .map(codec::claim)
            .collect::<PgResult<Vec<_>>>()?;
        let Some(last) = claims.last() else { return Ok(()) };
        (after, first) = (last.claim_ref.0, false);
        f(client, &claims)?;
    }
}

/// Gives every claim without a value key its key, then rebuilds the whole live-claims index
/// from the rows. Returns how many claims are live.
fn rebuild_live(tx: &mut Transaction<'_>) -> PgResult<u64> {
    fill_value_keys(tx, None)?;
    tx.batch_execute("TRUNCATE live_claims, live_lines, live_spans, live_periods, live_stretches")?;
    let mut live = 0;
    for agent in agents(tx)? {
        live += derive(tx, &agent)?;
    }
    Ok(live)
}

/// Rebuilds `agent`'s part of the index inside the transaction open on `client` (which holds
/// the agent's lock): its claims' value keys computed where missing, its rows removed (the
/// trigger taking each out of its line's counts), whatever counts remain dropped, and
/// everything derived again. Returns how many claims are live.
pub(crate) fn rebuild_agent(client: &mut impl GenericClient, agent: &str) -> PgResult<u64> {
    fill_value_keys(client, Some(agent))?;
    for table in
        ["live_claims", "live_lines", "live_spans", "live_periods", "live_stretches", "lines", "terms"]
    {
        client.execute(&format!("DELETE FROM {table} WHERE agent_id = $1"), &[&agent])?;
    }
    client.execute(sql::FILL_LINES, &[&agent])?;
    derive_terms(client, agent)?;
    derive(client, agent)
}

/// Derives `agent`'s live rows, stretches and longest stretches from its rows, a page of
/// claims at a time.
fn derive(client: &mut impl GenericClient, agent: &str) -> PgResult<u64> {
    let events: Vec<&str> = Event::MARKS.iter().map(|e| e.as_str()).collect();
    let mut live = 0u64;
    let mut longest: HashMap<(String, String), i64> = HashMap::new();
    for_claim_pages(client, agent, |client, claims| {
        let refs: Vec<uuid::Uuid> = claims.iter().map(|c| c.claim_ref.0).collect();
        let mut marks: HashMap<ClaimRef, Vec<StateMark>> = HashMap::new();
        for row in client.query(sql::CLAIMS_MARKS, &[&agent, &refs, &events])? {
            let entry = codec::entry(&row)?;
            marks.entry(entry.claim_ref).or_default().push(StateMark::of(&entry));
        }
        let mut assertions: HashMap<ClaimRef, Vec<Assertion>> = HashMap::new();
        for row in client.query(sql::CLAIMS_ASSERTIONS, &[&agent, &refs])? {
            let a = codec::assertion(&row)?;
            assertions.entry(a.target).or_default().push(a);
        }
        let mut rows = LiveRows::default();
        let mut periods = PeriodRows::default();
        for claim in claims {
            let marks = marks.remove(&claim.claim_ref).unwrap_or_default();
            let asserted = assertions.remove(&claim.claim_ref).unwrap_or_default();
            let flagged_from = liveness::flagged_from(&marks).map(seq_param).transpose()?;
            for p in liveness::periods(&marks, &asserted) {
                let from = seq_param(p.from)?;
                match p.to {
                    Some(to) => {
                        let to = seq_param(to)?;
                        let line = (claim.subject.clone(), claim.predicate.clone());
                        let l = longest.entry(line).or_default();
                        *l = (*l).max(to - from);
                        periods.push(agent, claim, to, from, p.disposition.as_str(), flagged_from);
                    }
                    None => {
                        rows.push(agent, claim, p.disposition.as_str(), from, flagged_from);
                        live += 1;
                    }
                }
            }
        }
        rows.insert(client)?;
        periods.insert(client)?;
        Ok(())
    })?;
    let (mut subjects, mut predicates, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
    for ((subject, predicate), length) in longest {
        subjects.push(subject);
        predicates.push(predicate);
        lengths.push(length);
    }
    let agents = vec![agent.to_owned(); lengths.len()];
    client.execute(sql::RAISE_STRETCHES, &[&agents, &subjects, &predicates, &lengths])?;
    Ok(live)
}

fn seq_param(seq: u64) -> PgResult<i64> {
    i64::try_from(seq).map_err(|_| PgError::Corrupt(format!("seq {seq} is out of range")))
}

/// `live_claims` rows as column arrays.
#[derive(Default)]
struct LiveRows {
    agents: Vec<String>,
    subjects: Vec<String>,
    predicates: Vec<String>,
    refs: Vec<uuid::Uuid>,
    dispositions: Vec<&'static str>,
    flagged: Vec<bool>,
    keys: Vec<Vec<u8>>,
    los: Vec<Option<i64>>,
    his: Vec<Option<i64>>,
    trusts: Vec<f32>,
    shorts: Vec<bool>,
    set_valued: Vec<bool>,
    since: Vec<i64>,
    flagged_from: Vec<Option<i64>>,
}

impl LiveRows {
    fn push(
        &mut self,
        agent: &str,
        claim: &credence_core::Claim,
        disposition: &'static str,
        since: i64,
        flagged_from: Option<i64>,
    ) {
        let c = IndexColumns::of(claim);
        self.agents.push(agent.to_owned());
        self.subjects.push(claim.subject.clone());
        self.predicates.push(claim.predicate.clone());
        self.refs.push(claim.claim_ref.0);
        self.dispositions.push(disposition);
        self.flagged.push(flagged_from.is_some());
        self.keys.push(c.value_key.to_vec());
        self.los.push(c.lo);
        self.his.push(c.hi);
        self.trusts.push(c.trust);
        self.shorts.push(c.short);
        self.set_valued.push(c.set_valued);
        self.since.push(since);
        self.flagged_from.push(flagged_from);
    }

    fn insert(&self, client: &mut impl GenericClient) -> PgResult<()> {
        if self.refs.is_empty() {
            return Ok(());
        }
        client.execute(
            sql::INSERT_LIVE_ROWS,
            &[
                &self.agents,
                &self.subjects,
                &self.predicates,
                &self.refs,
                &self.dispositions,
                &self.flagged,
                &self.keys,
                &self.los,
                &self.his,
                &self.trusts,
                &self.shorts,
                &self.set_valued,
                &self.since,
                &self.flagged_from,
            ],
        )?;
        Ok(())
    }
}

/// `live_periods` rows as column arrays.
#[derive(Default)]
struct PeriodRows {
    agents: Vec<String>,
    subjects: Vec<String>,
    predicates: Vec<String>,
    to: Vec<i64>,
    refs: Vec<uuid::Uuid>,
    from: Vec<i64>,
    dispositions: Vec<&'static str>,
    flagged_from: Vec<Option<i64>>,
}

impl PeriodRows {
    fn push(
        &mut self,
        agent: &str,
        claim: &credence_core::Claim,
        to: i64,
        from: i64,
        disposition: &'static str,
        flagged_from: Option<i64>,
    ) {
        self.agents.push(agent.to_owned());
        self.subjects.push(claim.subject.clone());
        self.predicates.push(claim.predicate.clone());
        self.to.push(to);
        self.refs.push(claim.claim_ref.0);
        self.from.push(from);
        self.dispositions.push(disposition);
        self.flagged_from.push(flagged_from);
    }

    fn insert(&self, client: &mut impl GenericClient) -> PgResult<()> {
        if self.refs.is_empty() {
            return Ok(());
        }
        client.execute(
            sql::INSERT_PERIODS,
            &[
                &self.agents,
                &self.subjects,
                &self.predicates,
                &self.to,
                &self.refs,
                &self.from,
                &self.dispositions,
                &self.flagged_from,
            ],
        )?;
        Ok(())
    }
}

/// Computes the value key (`credence_core::liveness::value_key`) of every claim (of `only`
/// the agent, if given) stored without one, page by page in primary-key order.
fn fill_value_keys(tx: &mut impl GenericClient, only: Option<&str>) -> PgResult<()> {
    let mut after: Option<(String, uuid::Uuid)> = None;
    loop {
        let (agent, claim_ref) = after.clone().unwrap_or_default();
        let rows = tx.query(
            "SELECT agent_id, claim_ref, value FROM claims WHERE value_key IS NULL \
             AND ($1 OR (agent_id, claim_ref) > ($2, $3)) AND ($5::text IS NULL OR agent_id = $5) \
             ORDER BY agent_id, claim_ref LIMIT $4",
            &[&after.is_none(), &agent, &claim_ref, &PAGE, &only],
        )?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = Some((last.try_get(0)?, last.try_get(1)?));
        let (mut agents, mut refs, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let (agent, claim_ref, value): (String, uuid::Uuid, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let value: serde_json::Value = serde_json::from_str(&value).map_err(|e| {
                PgError::Corrupt(format!(
                    "claims row {claim_ref} of agent {agent:?}: value does not decode: {e}"
                ))
            })?;
            agents.push(agent);
            refs.push(claim_ref);
            keys.push(hex(&credence_core::liveness::value_key(&value)));
        }
        tx.execute(
            "UPDATE claims c SET value_key = decode(k, 'hex') FROM unnest($1::text[], $2::uuid[], $3::text[]) \
             AS u(a, r, k) WHERE c.agent_id = u.a AND c.claim_ref = u.r",
            &[&agents, &refs, &keys],
        )?;
    }
}
