//! The live-claims index (schema versions 4 and 5): the claims of each line live at the head,
//! each with what finds it by valid time ([`IndexColumns`]) and the unit from which it has been
//! live; the stretches of units through which claims were live before (`live_periods`); and
//! per line the counters of `live_lines` that the schema's triggers keep in step with the live
//! rows. Kept in the commit unit that changes them: each claim the unit touches
//! (`Append::touched_claims`) has its state folded from all its entries and assertions — the
//! unit's included — with `credence_core::liveness`, the engine's own rule
//! (`LedgerRead::claim_state`), and its row written, its stretch closed, or both. [`rebuild`]
//! derives the whole index from the rows again.

use credence_core::liveness::{self, ClaimState, IndexColumns, Period};
use credence_core::{AgentId, Append, Claim, ClaimRef, Event, LedgerRead, Result, StateMark};
use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::{enum_from_sql, enum_to_sql};
use crate::error::SqliteError;
use crate::read::View;

/// Updates the index for every claim `append` touches, its rows already inserted and visible
/// to `view` (the unit's view on the write connection).
pub(crate) fn update(conn: &Connection, view: &View<'_>, agent: &AgentId, append: &Append) -> Result<()> {
    let own = append.own_claim_states();
    for claim_ref in append.touched_claims() {
        // A claim new in this unit has no rows before it: its state is the unit's own rows'.
        let (claim, state, new) = match own.iter().find(|(c, _)| c.claim_ref == claim_ref) {
            Some((c, state)) => (Some((*c).clone()), *state, true),
            None => (view.claim(claim_ref)?, view.claim_state(claim_ref)?, false),
        };
        // An entry about a claim the agent does not hold changes no line.
        let Some(claim) = claim else { continue };
        let line = Line { conn, agent, claim: &claim };
        let live = state.filter(ClaimState::is_live);
        let held = if new { None } else { line.held()? };
        match (held, live) {
            (None, None) => {}
            (None, Some(s)) => {
                let flagged_from = if s.flagged { line.first_flag()? } else { None };
                line.insert(s, append.seq, flagged_from)?;
            }
            (Some(row), None) => {
                line.close(&row, append.seq)?;
                line.remove()?;
            }
            (Some(row), Some(s)) if row.disposition != s.disposition => {
                line.close(&row, append.seq)?;
                let flagged_from = if s.flagged { row.flagged_from.or(line.first_flag()?) } else { None };
                line.set(s, append.seq, flagged_from)?;
            }
            (Some(row), Some(s)) if s.flagged && row.flagged_from.is_none() => {
                line.set(s, row.since, line.first_flag()?.or(Some(append.seq)))?;
            }
            (Some(_), Some(_)) => {}
        }
    }
    Ok(())
}

/// A claim's `live_claims` row as stored.
struct Held {
    disposition: credence_core::Disposition,
    since: u64,
    flagged_from: Option<u64>,
}

/// One claim's place in the index.
struct Line<'a> {
    conn: &'a Connection,
    agent: &'a AgentId,
    claim: &'a Claim,
}

impl Line<'_> {
    /// The claim's live row, if it has one.
    fn held(&self) -> Result<Option<Held>> {
        let c = self.claim;
        let what = "live_claims row";
        let row: Option<(String, i64, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT disposition, since, flagged_from FROM live_claims WHERE agent_id = ?1 AND subject = ?2 \
                 AND predicate = ?3 AND claim_ref = ?4",
            )
            .and_then(|mut st| {
                st.query_row(params![self.agent.as_str(), c.subject, c.predicate, c.claim_ref.0.as_bytes()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(SqliteError::sqlite("reading a live claim"))?;
        let Some((disposition, since, flagged_from)) = row else { return Ok(None) };
        let seq = |n: i64| crate::codec::seq_from_sql(n, what);
        Ok(Some(Held {
            disposition: enum_from_sql(&disposition, what)?,
            since: seq(since)?,
            flagged_from: flagged_from.map(seq).transpose()?,
        }))
    }

    /// The unit of the claim's first dependent review flag.
    fn first_flag(&self) -> Result<Option<u64>> {
        let n: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT min(stream_seq) FROM ledger_entries INDEXED BY ledger_entries_by_claim \
                 WHERE agent_id = ?1 AND claim_ref = ?2 AND event = ?3",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![
                        self.agent.as_str(),
                        self.claim.claim_ref.0.as_bytes(),
                        Event::DependentFlaggedPendingReview.as_str()
                    ],
                    |r| r.get(0),
                )
            })
            .map_err(SqliteError::sqlite("reading a claim's flags"))?;
        Ok(n.map(|n| crate::codec::seq_from_sql(n, "ledger_entries row")).transpose()?)
    }

    /// Adds the claim's live row: live with `s` from unit `since`.
    fn insert(&self, s: ClaimState, since: u64, flagged_from: Option<u64>) -> Result<()> {
        let (c, columns) = (self.claim, IndexColumns::of(self.claim));
        self.conn
            .prepare_cached(
                "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, value_key, \
                 lo, hi, trust, short, set_valued, since, flagged_from) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    self.agent.as_str(),
                    c.subject,
                    c.predicate,
                    c.claim_ref.0.as_bytes(),
                    enum_to_sql(&s.disposition).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                    s.flagged,
                    columns.value_key.as_slice(),
                    columns.lo,
                    columns.hi,
                    f64::from(columns.trust),
                    columns.short,
                    columns.set_valued,
                    crate::codec::seq_bound(since),
                    flagged_from.map(crate::codec::seq_bound),
                ])
            })
            .map_err(SqliteError::sqlite("adding a live claim"))?;
        Ok(())
    }

    /// Removes the claim's live row.
    fn remove(&self) -> Result<()> {
        let c = self.claim;
        self.conn
            .prepare_cached(
                "DELETE FROM live_claims WHERE agent_id = ?1 AND subject = ?2 AND predicate = ?3 AND claim_ref = ?4",
            )
            .and_then(|mut st| st.execute(params![self.agent.as_str(), c.subject, c.predicate, c.claim_ref.0.as_bytes()]))
            .map_err(SqliteError::sqlite("removing a live claim"))?;
        Ok(())
    }

    /// Brings the claim's live row to state `s`, live with it from unit `since` (its counts
    /// in the line's summary do not change: it stays live).
    fn set(&self, s: ClaimState, since: u64, flagged_from: Option<u64>) -> Result<()> {
        let c = self.claim;
        self.conn
            .prepare_cached(
                "UPDATE live_claims SET disposition = ?5, flagged = ?6, since = ?7, flagged_from = ?8 \
                 WHERE agent_id = ?1 AND subject = ?2 AND predicate = ?3 AND claim_ref = ?4",
            )
            .and_then(|mut st| {
                st.execute(params![
                    self.agent.as_str(),
                    c.subject,
                    c.predicate,
                    c.claim_ref.0.as_bytes(),
                    enum_to_sql(&s.disposition)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                    s.flagged,
                    crate::codec::seq_bound(since),
                    flagged_from.map(crate::codec::seq_bound),
                ])
            })
            .map_err(SqliteError::sqlite("updating a live claim"))?;
        Ok(())
    }

    /// Records the stretch `[row.since, to)` through which the claim was live as `row` says.
    fn close(&self, row: &Held, to: u64) -> Result<()> {
        let period = Period { from: row.since, to: Some(to), disposition: row.disposition };
        self.period(&period, row.flagged_from)
    }

    fn period(&self, p: &Period, flagged_from: Option<u64>) -> Result<()> {
        let Some(to) = p.to else { return Ok(()) };
        let c = self.claim;
        let bound = crate::codec::seq_bound;
        self.conn
            .prepare_cached(
                "INSERT INTO live_periods (agent_id, subject, predicate, to_seq, claim_ref, from_seq, disposition, \
                 flagged_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    self.agent.as_str(),
                    c.subject,
                    c.predicate,
                    bound(to),
                    c.claim_ref.0.as_bytes(),
                    bound(p.from),
                    enum_to_sql(&p.disposition).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                    flagged_from.map(bound),
                ])
            })
            .and_then(|_| {
                self.conn.prepare_cached(
                    "INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span, period) \
                     VALUES (?1, ?2, ?3, 0, 0, 0, 0, ?4) ON CONFLICT DO UPDATE SET period = max(period, excluded.period)",
                )?
                .execute(params![self.agent.as_str(), c.subject, c.predicate, bound(to.saturating_sub(p.from))])
            })
            .map_err(SqliteError::sqlite("recording when a claim was live"))?;
        Ok(())
    }
}

/// Derives the whole index from the ledger rows again, inside the caller's transaction: every
/// claim's stretches of liveness folded from its entries and assertions
/// (`credence_core::liveness::periods`), the one it is still in kept as its live row. Returns
/// how many claims are live.
pub(crate) fn rebuild(conn: &Connection) -> Result<u64> {
    conn.execute_batch("DELETE FROM live_claims; DELETE FROM live_lines; DELETE FROM live_periods")
        .map_err(SqliteError::sqlite("clearing the live claims"))?;
    let stored: Option<String> = conn
        .query_row("SELECT agent_id FROM agent WHERE singleton = 1", [], |r| r.get(0))
        .optional()
        .map_err(SqliteError::sqlite("reading the stored agent id"))?;
    let Some(stored) = stored else { return Ok(0) };
    let agent = AgentId::new(&stored)
        .map_err(|r| SqliteError::Decode(format!("the stored agent id {stored:?} is not valid: {r}")))?;
    let refs: Vec<Vec<u8>> = conn
        .prepare("SELECT claim_ref FROM claims ORDER BY id")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(SqliteError::sqlite("listing the claims"))?;
    let view = View::new(conn, &agent);
    let mut live = 0;
    for bytes in refs {
        let claim_ref = ClaimRef(crate::codec::uuid_from_sql(&bytes, "claims row")?);
        let claim = view.claim(claim_ref)?.ok_or_else(|| {
            SqliteError::Decode(format!("claim {claim_ref} is not of the file's agent {stored:?}"))
        })?;
        let marks: Vec<StateMark> = view
            .claim_entries(claim_ref, u64::MAX)?
            .iter()
            .filter(|e| Event::MARKS.contains(&e.event))
            .map(StateMark::of)
            .collect();
        let assertions = view.claim_assertions(claim_ref, u64::MAX)?;
        let flagged_from = liveness::flagged_from(&marks);
        let line = Line { conn, agent: &agent, claim: &claim };
        for p in liveness::periods(&marks, &assertions) {
            match p.to {
                Some(_) => line.period(&p, flagged_from)?,
                None => {
                    let state = ClaimState {
                        disposition: p.disposition,
                        bound: false,
                        flagged: flagged_from.is_some(),
                    };
                    line.insert(state, p.from, flagged_from)?;
                    live += 1;
                }
            }
        }
    }
    // Every line with a claim has its row, whether or not a claim of it is live (from schema 7
    // on; harmless in the version 5 migration, which is followed by version 7's).
    conn.execute(
        "INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span) \
         SELECT DISTINCT agent_id, subject, predicate, 0, 0, 0, 0 FROM claims WHERE true ON CONFLICT DO NOTHING",
        [],
    )
    .map_err(SqliteError::sqlite("adding the lines without live claims"))?;
    Ok(live)
}
#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use crate::config::SqliteConfig;
    use crate::schema::{self, Role, Target};

    /// SQLite's virtual-machine steps to insert one more live claim with a one-hour window into
    /// a line already holding `held` of them, one per hour (the triggers' work included).
    fn steps_to_add_one(held: i64) -> Result<i32, Box<dyn std::error::Error>> {
        let config = SqliteConfig::default();
        let target = Target::Memory(format!("/credence-live-steps-{}-{held}", std::process::id()));
        let mut conn = schema::open(&target, Role::Writer, &config)?;
        schema::migrate(&mut conn, "a", config.busy_timeout)?;
        let insert = "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, \
                      value_key, lo, hi, trust, short, set_valued, since) \
                      VALUES ('a', 's', 'p', ?1, 'CommittedCheap', 0, ?2, ?3, ?4, 1.0, 1, 0, 1)";
        let hour = 3_600_000_000_i64;
        for i in 0..held {
            conn.execute(
                insert,
                rusqlite::params![i.to_be_bytes(), i.to_be_bytes(), i * hour, (i + 1) * hour],
            )?;
        }
        // One more, in the middle of the line, of a value no other claim holds.
        let mut stmt = conn.prepare(insert)?;
        let middle = held / 2;
        stmt.execute(rusqlite::params![
            (-1_i64).to_be_bytes(),
            (-1_i64).to_be_bytes(),
            middle * hour,
            middle * hour + 1
        ])?;
        Ok(stmt.get_status(StatementStatus::VmStep))
    }

    /// Keeping a line's summary costs what the new window overlaps, not what the line holds: the
    /// triggers find the short windows by start and scan only the others (a plan that read the
    /// whole line made ingest slow down as its valid-time succession grew).
    #[test]
    fn adding_a_live_claim_costs_the_same_whatever_the_line_holds() -> Result<(), Box<dyn std::error::Error>>
    {
        let (small, large) = (steps_to_add_one(100)?, steps_to_add_one(3_000)?);
        assert!(large < small * 2, "{small} steps beside 100 claims, {large} beside 3 000");
        Ok(())
    }
}
