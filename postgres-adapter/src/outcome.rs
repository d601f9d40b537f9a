//! Commits whose answer was lost (SPEC §2.4: retries never duplicate).
//!
//! When the round trip that carries a write transaction's `COMMIT` fails because the
//! connection broke — the server was restarted, the backend terminated
//! (`pg_terminate_backend`: "terminating connection due to administrator command"), the network
//! cut, the reply lost — the transaction may have committed or not. Running its units again
//! could store them twice, and a plain error would tell the caller nothing was stored when it
//! may have been. Every round trip whose last statement is the `COMMIT` is such a case — the
//! `COMMIT` alone (a batch's leader after its followers), a unit's rows with the `COMMIT`, a
//! whole transaction decided ahead, alone or shared by several agents' units (each of which is
//! then looked up under its own agent's lock). So before answering, the writer finds out,
//! with [`look_up`]:
//!
//! * on a fresh connection, in one round trip: `BEGIN`, the agent's `pg_advisory_xact_lock`,
//!   then whether one unit of the broken transaction is stored ([`UnitMark`]: its seq, its
//!   tx_time and one row only it has). The broken transaction held that lock, or asked for it
//!   before the lookup did (lock waiters are served in order), so when the lookup holds the
//!   lock that transaction has ended, one way or the other, and its commit is visible;
//! * a lookup that fails (a restarting server refuses connections for a while) is repeated
//!   with backoff while [`LOOK_UP_BUDGET`] lasts; each try waits for a pooled connection no
//!   longer than the time left, and for the lock no longer than the statement timeout.
//!
//! The units of one transaction commit together, so any unit kept in it (not rolled back to
//! its savepoint) stands for all of them; the connection remembers one
//! (`PgConnection::keep`). The answer:
//!
//! * **stored** — the write succeeded: every unit the transaction kept is answered with its
//!   head, as if the `COMMIT` had answered;
//! * **not stored** — the plain retryable `Error::Unavailable`: nothing was stored, a retry is
//!   safe. (A transaction sent whole in one round trip — every unit decided ahead, see the
//!   `speculate` module — is instead sent again at once, as one is whose pooled connection
//!   turns out closed before anything ran.)
//! * **not found out** — `Error::outcome_unknown` ("outcome unknown…"): the write may be
//!   stored; never a silent second copy and never a plain error.
//!
//! Errors before any `COMMIT` was sent, and errors the server reports for the transaction
//! (its `COMMIT` then did not happen), are not ambiguous: nothing was committed. The
//! write retries of the ledger (OCC failures) never re-run a unit whose transaction may have
//! committed: an ambiguous commit is settled here, never retried.

use std::time::{Duration, Instant};

use credence_core::{Append, AssertionRef, ClaimRef, EdgeKind, Event, Timestamp};

use crate::codec::seq_param;
use crate::error::{PgError, PgResult, is_connection_error, is_unavailable};
use crate::pool::PgManager;
use crate::write::quote_literal;

/// How long a lookup keeps trying (long enough for a server restart to finish).
pub(crate) const LOOK_UP_BUDGET: Duration = Duration::from_secs(5);
/// The first pause between tries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// One unit of a transaction, as it can be recognised in the store: its seq, its tx_time and
/// one row only it holds — its first claim, else its first assertion, else its first ledger
/// entry, else its first edge (a unit with none of these is recognised by its unit row alone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnitMark {
    seq: u64,
    tx_time: Timestamp,
    row: MarkRow,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MarkRow {
    Claim(ClaimRef),
    Assertion(AssertionRef),
    Entry { index: u32, claim_ref: ClaimRef, event: Event },
    Edge { from: ClaimRef, to: ClaimRef, kind: EdgeKind },
    UnitOnly,
}

impl UnitMark {
    /// The mark of the unit `append`.
    pub(crate) fn of(append: &Append) -> UnitMark {
        let row = if let Some(c) = append.claims.first() {
            MarkRow::Claim(c.claim_ref)
        } else if let Some(a) = append.assertions.first() {
            MarkRow::Assertion(a.assertion_ref)
        } else if let Some(e) = append.entries.first() {
            MarkRow::Entry { index: e.index, claim_ref: e.claim_ref, event: e.event }
        } else if let Some(e) = append.edges.first() {
            MarkRow::Edge { from: e.from, to: e.to, kind: e.kind }
        } else {
            MarkRow::UnitOnly
        };
        UnitMark { seq: append.seq, tx_time: append.tx_time, row }
    }

    /// The lookup's round trip for `agent` (lock key `lock_key`): its last statement answers
    /// `t` when the unit is stored.
    fn sql(&self, agent: &str, lock_key: i64) -> PgResult<String> {
        let a = quote_literal(agent);
        let seq = seq_param(self.seq)?;
        let row = match &self.row {
            MarkRow::Claim(r) => format!(
                "EXISTS (SELECT 1 FROM claims WHERE agent_id = {a} AND claim_ref = '{}' AND stream_seq = {seq})",
                r.0
            ),
            MarkRow::Assertion(r) => format!(
                "EXISTS (SELECT 1 FROM assertions WHERE agent_id = {a} AND stream_seq = {seq} \
                 AND assertion_ref = '{}')",
                r.0
            ),
            MarkRow::Entry { index, claim_ref, event } => format!(
                "EXISTS (SELECT 1 FROM entries WHERE agent_id = {a} AND stream_seq = {seq} AND idx = {index} \
                 AND claim_ref = '{}' AND event = {})",
                claim_ref.0,
                quote_literal(event.as_str())
            ),
            MarkRow::Edge { from, to, kind } => format!(
                "EXISTS (SELECT 1 FROM edges WHERE agent_id = {a} AND from_ref = '{}' AND to_ref = '{}' \
                 AND kind = {} AND stream_seq = {seq})",
                from.0,
                to.0,
                quote_literal(kind.as_str())
            ),
            MarkRow::UnitOnly => "TRUE".to_owned(),
        };
        Ok(format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({lock_key}); \
             SELECT EXISTS (SELECT 1 FROM units WHERE agent_id = {a} AND stream_seq = {seq} AND tx_time = {}) \
             AND {row}; COMMIT",
            self.tx_time.0
        ))
    }
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The unit is stored: its transaction committed.
    Stored,
    /// The unit is not stored: its transaction did not commit and never will.
    NotStored,
    /// It could not be found out (why).
    Unknown(String),
}

/// Whether the unit `mark` of `agent` (lock key `lock_key`) is stored, found out as the module
/// documentation says; `mark` is `None` when the transaction kept no unit.
pub(crate) fn look_up(
    pool: &r2d2::Pool<PgManager>,
    agent: &str,
    lock_key: i64,
    mark: Option<&UnitMark>,
) -> Found {
    let Some(mark) = mark else { return Found::Unknown("the transaction kept no unit to look up".into()) };
    let sql = match mark.sql(agent, lock_key) {
        Ok(sql) => sql,
        Err(e) => return Found::Unknown(e.to_string()),
    };
    let deadline = Instant::now() + LOOK_UP_BUDGET;
    let mut pause = FIRST_PAUSE;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let left = deadline.saturating_duration_since(Instant::now()).max(FIRST_PAUSE);
        let err = match look_up_once(pool, &sql, left) {
            Ok(true) => return Found::Stored,
            Ok(false) => return Found::NotStored,
            Err(e) => e,
        };
        let transient = is_unavailable(&err) || matches!(&err, PgError::Db(db) if is_connection_error(db));
        if !transient || Instant::now() + pause >= deadline {
            return Found::Unknown(format!("looking the write up failed ({tries} tries): {err}"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// One try of [`look_up`], waiting at most `wait` for a pooled connection.
fn look_up_once(pool: &r2d2::Pool<PgManager>, sql: &str, wait: Duration) -> PgResult<bool> {
    let mut conn = pool.get_timeout(wait)?;
    // Marks the connection as in a transaction until the COMMIT at the end has answered, so a
    // failure part-way leaves it to be rolled back or discarded by the pool.
    let messages = conn.begin_raw_query(sql)?;
    conn.committed();
    let answer = messages.iter().rev().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
        _ => None,
    });
    match answer.flatten().as_deref() {
        Some("t") => Ok(true),
        Some("f") => Ok(false),
        other => Err(PgError::Corrupt(format!("looking a unit up answered {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credence_core::{Assertion, AssertionKind, LedgerEntry};
    use uuid::Uuid;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_unit_is_marked_by_its_first_claim_else_assertion_else_entry_else_edge() {
        let mut unit = Append::new(4, Timestamp(40));
        assert_eq!(UnitMark::of(&unit).row, MarkRow::UnitOnly);
        unit.edges.push(credence_core::Edge {
            from: ClaimRef(id(1)),
            to: ClaimRef(id(2)),
            kind: EdgeKind::Corroborates,
            seq: 4,
        });
        assert!(matches!(UnitMark::of(&unit).row, MarkRow::Edge { .. }));
        unit.entries.push(LedgerEntry {
            seq: 4,
            index: 0,
            claim_ref: ClaimRef(id(3)),
            event: Event::ValidityAsserted,
            disposition: credence_core::Disposition::CommittedCheap,
            rationale: serde_json::json!({"rationale": "x"}),
            recorded_at: Timestamp(40),
        });
        assert!(matches!(UnitMark::of(&unit).row, MarkRow::Entry { index: 0, .. }));
        unit.assertions.push(Assertion {
            assertion_ref: AssertionRef(id(5)),
            target: ClaimRef(id(3)),
            kind: AssertionKind::Bound,
            at: Timestamp(40),
            seq: 4,
        });
        assert_eq!(UnitMark::of(&unit).row, MarkRow::Assertion(AssertionRef(id(5))));
        let mark = UnitMark::of(&unit);
        assert_eq!((mark.seq, mark.tx_time), (4, Timestamp(40)));
    }

    #[test]
    fn the_lookup_takes_the_lock_first_and_quotes_the_agent() -> PgResult<()> {
        let mut unit = Append::new(7, Timestamp(70));
        unit.entries.push(LedgerEntry {
            seq: 7,
            index: 0,
            claim_ref: ClaimRef(id(9)),
            event: Event::ValidityAsserted,
            disposition: credence_core::Disposition::CommittedCheap,
            rationale: serde_json::json!({"rationale": "x"}),
            recorded_at: Timestamp(70),
        });
        let sql = UnitMark::of(&unit).sql("o'k", 42)?;
        assert!(
            sql.starts_with("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(42); "),
            "{sql}"
        );
        assert!(sql.ends_with("; COMMIT"), "{sql}");
        assert!(sql.contains("agent_id = E'o''k' AND stream_seq = 7 AND tx_time = 70"), "{sql}");
        assert!(sql.contains(&format!("claim_ref = '{}' AND event = E'ValidityAsserted'", id(9))), "{sql}");
        Ok(())
    }
}
