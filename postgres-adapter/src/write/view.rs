//! The view a unit reads through inside its write transaction: a [`PgView`] whose statements
//! go after whatever the transaction queued (its `BEGIN` and lock, the previous unit's rows),
//! and whose first round trip also reads the agent's head, so an uncontended unit reads the
//! head and its line in the same round trip as the `BEGIN` and the lock.

use credence_core::{LineRows, LineSummary, LiveClaim, Span};

use crate::codec::{self, Cells, head_in, max_seq_param, statement_rows};
use crate::error::PgResult;
use crate::pool::PgConnection;
use crate::read::{PgView, Pipeline};
use crate::sql;

/// The write transaction's side of its units' views.
struct Queued;

impl Pipeline for Queued {
    /// Sends the queued statements with the head query unless the head is tracked, and tracks
    /// it. Statements of one batch run in order, so the lock is taken before the reads.
    fn before(&self, conn: &mut PgConnection, agent: &str) -> PgResult<()> {
        if conn.tracked_head(agent).is_some() {
            return conn.flush();
        }
        let messages = conn.send(&sql::head_sql(agent))?;
        let results = statement_rows(&messages);
        let head = head_in(results.last().map_or(&[][..], Vec::as_slice))?;
        conn.track_head(agent, head);
        Ok(())
    }

    /// One simple-query round trip: what is queued, and the line query (with the head query
    /// folded in when the head is not tracked yet).
    fn line(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        subject: &str,
        predicate: &str,
        max_seq: u64,
    ) -> PgResult<LineRows> {
        let head_known = conn.tracked_head(agent).is_some();
        let sql = sql::line_sql(agent, subject, predicate, max_seq_param(max_seq), !head_known);
        let messages = conn.send(&sql)?;
        let results = statement_rows(&messages);
        let line_rows = results.last().map_or(&[][..], Vec::as_slice);
        let mut head = None;
        let mut rows = LineRows::default();
        for row in line_rows {
            let r = codec::TextReader::new(row, "claims");
            match r.i64("k")? {
                0 => rows.claims.push(codec::claim_from(&r)?),
                1 => rows.marks.push(codec::mark_from(&codec::TextReader::new(row, "entries"))?),
                2 => rows.assertions.push(codec::assertion_from(&codec::TextReader::new(row, "assertions"))?),
                _ => head = Some(codec::head_from(&codec::TextReader::new(row, "units"))?),
            }
        }
        if !head_known {
            conn.track_head(agent, head);
        }
        Ok(rows)
    }

    /// One simple-query round trip: what is queued, the head query when the head is not
    /// tracked yet, and the live-claims query.
    fn live(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        subject: &str,
        predicate: &str,
    ) -> PgResult<Vec<LiveClaim>> {
        let head_known = conn.tracked_head(agent).is_some();
        let read = sql::live_read_sql(agent, subject, predicate);
        let sql = if head_known { read } else { format!("{}; {read}", sql::head_sql(agent)) };
        let messages = conn.send(&sql)?;
        let results = statement_rows(&messages);
        if !head_known {
            let rows =
                results.len().checked_sub(2).and_then(|i| results.get(i)).map_or(&[][..], Vec::as_slice);
            conn.track_head(agent, head_in(rows)?);
        }
        let rows = results.last().map_or(&[][..], Vec::as_slice);
        rows.iter().map(|row| codec::live_claim_from(&codec::TextReader::new(row, "claims"))).collect()
    }

    /// One simple-query round trip: what is queued, the head query when the head is not
    /// tracked yet, the reach query and the line's summary.
    fn reach(
        &self,
        conn: &mut PgConnection,
        agent: &str,
        (subject, predicate): (&str, &str),
        span: Span,
        threshold: f32,
    ) -> PgResult<(Vec<LiveClaim>, LineSummary)> {
        let head_known = conn.tracked_head(agent).is_some();
        let read = sql::live_reach_sql(agent, subject, predicate, span, threshold);
        let sql = if head_known { read } else { format!("{}; {read}", sql::head_sql(agent)) };
        let messages = conn.send(&sql)?;
        let results = statement_rows(&messages);
        let nth_last = |n: usize| {
            results.len().checked_sub(n).and_then(|i| results.get(i)).map_or(&[][..], Vec::as_slice)
        };
        if !head_known {
            conn.track_head(agent, head_in(nth_last(3))?);
        }
        let live = nth_last(2)
            .iter()
            .map(|row| codec::live_claim_from(&codec::TextReader::new(row, "claims")))
            .collect::<PgResult<Vec<_>>>()?;
        let summary = match nth_last(1).first() {
            Some(row) => codec::summary_from(&codec::TextReader::new(row, "live_lines"))?,
            None => LineSummary::default(),
        };
        Ok((live, summary))
    }
}

/// The view of `agent` for a unit inside the write transaction on `conn`.
pub(crate) fn for_unit<'c>(conn: &'c mut PgConnection, agent: &'c str) -> PgView<'c> {
    PgView::in_pipeline(conn, agent, &Queued)
}

/// Makes sure the transaction tracks `agent`'s head (sending what is queued and reading it
/// if not), and returns it.
pub(crate) fn head(conn: &mut PgConnection, agent: &str) -> PgResult<Option<credence_core::Head>> {
    if let Some(head) = conn.tracked_head(agent) {
        return Ok(head);
    }
    Queued.before(conn, agent)?;
    Ok(conn.tracked_head(agent).unwrap_or(None))
}
