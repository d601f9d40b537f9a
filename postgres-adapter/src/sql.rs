//! Every SQL statement of the adapter, and the builders that quote arguments into the
//! statements sent as simple-query batches. Column lists live here once: a column added to a
//! table is added to its statements here, to its encoding and decoding in `codec`, and to a
//! migration.
//!
//! Two kinds of statement: parameterised ones (`$1 …`), run through the extended protocol by
//! the read path and for the rows the write path sends on their own; and server-side prepared
//! statements (`PREPARE credence_…`, made once per session by `session::ensure_prepared`), run
//! with `EXECUTE` and quoted literals inside simple-query batches, where several statements
//! travel in one round trip.

use credence_core::{ClaimRef, Event, Head};

use credence_core::liveness::IndexColumns;

use crate::codec::{LineKey, UnitMark, UnitMarkRow, UnitRows, hex, row_text, seq_param};
use crate::error::PgResult;
use crate::lock::{self, Lock};

/// Begins a read: one snapshot, no lock.
pub(crate) const READ_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Opens a unit's savepoint (after a failure shared by the units of a transaction, each runs
/// in one; see `write::pipelined`). Savepoints are not released: a later one of the same name
/// nests, `ROLLBACK TO` undoes only the latest, and `COMMIT` keeps all not rolled back.
pub(crate) const SAVEPOINT: &str = "SAVEPOINT credence_unit";
/// Undoes the statements of the unit since its savepoint.
pub(crate) const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT credence_unit";

/// Every agent with a unit.
pub(crate) const AGENTS: &str = "SELECT agent_id FROM agents";

/// Records that the oracle was told about adjudication `$2`.
pub(crate) const MARK_NOTIFIED: &str =
    "UPDATE adjudications SET notified = TRUE WHERE agent_id = $1 AND handle = $2";

/// One adjudication row of a unit.
pub(crate) const INSERT_ADJUDICATION: &str = "INSERT INTO adjudications (agent_id, handle, stream_seq, ord, subject, \
     predicate, challenger, incumbents, queued_at, expires_at, status, notified) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Closes adjudication `$2` with status `$3` in unit `$4`.
pub(crate) const CLOSE_ADJUDICATION: &str =
    "UPDATE adjudications SET status = $3, closed_seq = $4 WHERE agent_id = $1 AND handle = $2";

/// A unit's idempotency record.
pub(crate) const INSERT_IDEMPOTENCY: &str =
    "INSERT INTO idempotency_keys (agent_id, key, stream_seq, request, answer) VALUES ($1, $2, $3, $4, $5)";

macro_rules! claims_sql {
    ($tail:literal) => {
        concat!(
            "SELECT agent_id, claim_ref, stream_seq, subject, predicate, value, provenance, \
             cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
             vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on FROM claims ",
            $tail
        )
    };
}

macro_rules! entries_sql {
    ($tail:literal) => {
        concat!(
            "SELECT stream_seq, idx, claim_ref, event, disposition, rationale, recorded_at FROM entries ",
            $tail
        )
    };
}

macro_rules! adjudications_sql {
    ($tail:literal) => {
        concat!(
            "SELECT agent_id, handle, stream_seq, subject, predicate, challenger, incumbents, queued_at, \
             expires_at, status, notified, closed_seq FROM adjudications ",
            $tail
        )
    };
}

/// Audit pages, indexed `[claim filter][cursor][newest_first]`.
pub(crate) const AUDIT: [&str; 8] = [
    // [claim filter][cursor][newest_first]
    entries_sql!("WHERE agent_id = $1 ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 ORDER BY stream_seq DESC, idx DESC LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 AND (stream_seq, idx) > ($3, $4) ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!(
        "WHERE agent_id = $1 AND (stream_seq, idx) < ($3, $4) ORDER BY stream_seq DESC, idx DESC LIMIT $2"
    ),
    entries_sql!("WHERE agent_id = $1 AND claim_ref = $3 ORDER BY stream_seq, idx LIMIT $2"),
    entries_sql!("WHERE agent_id = $1 AND claim_ref = $3 ORDER BY stream_seq DESC, idx DESC LIMIT $2"),
    entries_sql!(
        "WHERE agent_id = $1 AND claim_ref = $3 AND (stream_seq, idx) > ($4, $5) \
         ORDER BY stream_seq, idx LIMIT $2"
    ),
    entries_sql!(
        "WHERE agent_id = $1 AND claim_ref = $3 AND (stream_seq, idx) < ($4, $5) \
         ORDER BY stream_seq DESC, idx DESC LIMIT $2"
    ),
];

/// A line's rows for `LedgerRead::line` (claims, marks and assertions of one line up to
/// `max_seq`) in one statement: a `UNION ALL` with a
/// discriminator `k` (0 claims, 1 marks, 2 assertions), each part in its documented order.
/// The line's claims are read in `claims_by_line` order (`ORDER BY stream_seq, claim_ref` in
/// each part): that makes `claims_by_line` the cheapest index even when the plan is made while
/// the tables are tiny (a generic plan cached per connection), where otherwise
/// `claims_by_unit` ties and is picked, and then scans every claim of the agent on each write.
/// `OFFSET 0` keeps the lateral lookups from being flattened into a scan of the whole ledger.
macro_rules! line_parts {
    () => {
        "(SELECT 0 AS k, agent_id, claim_ref, stream_seq, subject, predicate, value, provenance, \
     cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
     vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on, NULL::bigint AS \
     idx, NULL::text AS event, NULL::text AS disposition, NULL::uuid AS assertion_ref, NULL::uuid AS \
     target, NULL::text AS kind, NULL::bigint AS at, claim_ref AS o2, ord::bigint AS o3 FROM claims \
     WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND stream_seq <= $4 ORDER BY \
     stream_seq, claim_ref) UNION ALL (SELECT 1, NULL, e.claim_ref, e.stream_seq, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.idx, e.event, \
     e.disposition, NULL, NULL, NULL, NULL, NULL, e.idx FROM (SELECT agent_id, claim_ref FROM claims \
     WHERE agent_id = $1 AND subject = $2 AND predicate = $3 ORDER BY stream_seq, claim_ref) c CROSS \
     JOIN LATERAL (SELECT x.stream_seq, x.idx, x.claim_ref, x.event, x.disposition FROM entries x \
     WHERE x.agent_id = c.agent_id AND x.claim_ref = c.claim_ref AND x.stream_seq <= $4 AND x.event \
     = ANY($5) OFFSET 0) e) UNION ALL (SELECT 2, NULL, NULL, a.stream_seq, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     a.assertion_ref, a.target, a.kind, a.at, a.assertion_ref, a.ord::bigint FROM (SELECT agent_id, \
     claim_ref FROM claims WHERE agent_id = $1 AND subject = $2 AND predicate = $3 ORDER BY \
     stream_seq, claim_ref) c CROSS JOIN LATERAL (SELECT x.stream_seq, x.assertion_ref, x.target, \
     x.kind, x.at, x.ord FROM assertions x WHERE x.agent_id = c.agent_id AND x.target = c.claim_ref \
     AND x.stream_seq <= $4 OFFSET 0) a)"
    };
}
pub(crate) const LINE_SQL: &str = concat!(line_parts!(), " ORDER BY k, stream_seq, o2, o3");

/// [`LINE_SQL`] with a fourth part, `k` = 3: the agent's head (`stream_seq`, `tx_time`), if
/// it has a unit. The write path reads it with the line in one statement, after the lock.
pub(crate) const LINE_HEAD_SQL: &str = concat!(
    line_parts!(),
    " UNION ALL (SELECT 3, NULL, NULL, u.stream_seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, u.tx_time, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL FROM units u WHERE u.agent_id = $1 ORDER BY u.stream_seq DESC LIMIT 1) \
     ORDER BY k, stream_seq, o2, o3"
);

/// A history page's claims keyed by their trusted window's start (`claims_by_start`): start
/// from the cursor's key `$4` on, confidence ≥ `$8`, seq ≤ `$9`, strictly after the cursor
/// (`$4`–`$7`), in canonical order, at most `$10`.
pub(crate) const PAGE_BY_START: &str = claims_sql!(
    "WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND vt_start IS NOT NULL AND vt_start >= $4 \
     AND vt_confidence >= $8 AND stream_seq <= $9 AND (vt_start, tx_time, stream_seq, claim_ref) > ($4, $5, $6, $7) \
     ORDER BY vt_start, stream_seq, claim_ref LIMIT $10"
);

/// A history page's claims keyed by their transaction time (`claims_by_line`: tx_time grows
/// with seq, so seq order is their canonical order): no window start trusted at `$8`, from the
/// unit current at the cursor's key `$4` to seq `$9` and, when `$11` is not NULL, to the unit
/// current at `$11`; strictly after the cursor (`$4`–`$7`), at most `$10`.
pub(crate) const PAGE_BY_TX: &str = claims_sql!(
    "WHERE agent_id = $1 AND subject = $2 AND predicate = $3 \
     AND stream_seq >= COALESCE((SELECT u.stream_seq FROM units u WHERE u.agent_id = $1 AND u.tx_time <= $4 \
       ORDER BY u.tx_time DESC, u.stream_seq DESC LIMIT 1), 0) \
     AND stream_seq <= LEAST($9, COALESCE((SELECT u.stream_seq FROM units u WHERE u.agent_id = $1 \
       AND u.tx_time <= $11 ORDER BY u.tx_time DESC, u.stream_seq DESC LIMIT 1), \
       CASE WHEN $11::bigint IS NULL THEN $9::bigint ELSE 0::bigint END)) \
     AND NOT (vt_start IS NOT NULL AND vt_confidence >= $8) \
     AND (tx_time, tx_time, stream_seq, claim_ref) > ($4, $5, $6, $7) \
     ORDER BY stream_seq, claim_ref LIMIT $10"
);

/// The liveness marks about claims `$2` up to seq `$4` (`$3` the mark events). Each claim's
/// entries are looked up by claim (`OFFSET 0` keeps the lookups from being flattened into a
/// scan of the agent's entries by seq, which a generic plan otherwise picks).
pub(crate) const STATE_MARKS: &str = "SELECT e.stream_seq, e.idx, e.claim_ref, e.event, e.disposition, e.rationale, \
     e.recorded_at FROM unnest($2::uuid[]) AS r(claim_ref) CROSS JOIN LATERAL (SELECT x.stream_seq, x.idx, \
     x.claim_ref, x.event, x.disposition, x.rationale, x.recorded_at FROM entries x WHERE x.agent_id = $1 \
     AND x.claim_ref = r.claim_ref AND x.stream_seq <= $4 AND x.event = ANY($3) OFFSET 0) e \
     ORDER BY e.stream_seq, e.idx";

/// The assertions about claims `$2` up to seq `$3`, looked up by claim as in [`STATE_MARKS`].
pub(crate) const STATE_ASSERTIONS: &str = "SELECT a.stream_seq, a.assertion_ref, a.target, a.kind, a.at \
     FROM unnest($2::uuid[]) AS r(claim_ref) CROSS JOIN LATERAL (SELECT x.stream_seq, x.assertion_ref, \
     x.target, x.kind, x.at, x.ord FROM assertions x WHERE x.agent_id = $1 AND x.target = r.claim_ref \
     AND x.stream_seq <= $3 OFFSET 0) a ORDER BY a.stream_seq, a.assertion_ref, a.ord";

/// An agent's subjects from `$2` on and after `$3` (`''`: none), at most `$4`, each with its
/// lines and live claims; the first of the pair also ends before `$5` (the prefix's end).
pub(crate) const SUBJECTS: [&str; 2] = [
    "SELECT l.subject, count(*)::bigint AS lines, coalesce(sum(ll.live), 0)::bigint AS live FROM lines l \
     LEFT JOIN live_lines ll ON ll.agent_id = l.agent_id AND ll.subject = l.subject AND ll.predicate = l.predicate \
     WHERE l.agent_id = $1 AND l.subject >= $2 AND l.subject > $3 AND l.subject < $5 \
     GROUP BY l.subject ORDER BY l.subject LIMIT $4",
    "SELECT l.subject, count(*)::bigint AS lines, coalesce(sum(ll.live), 0)::bigint AS live FROM lines l \
     LEFT JOIN live_lines ll ON ll.agent_id = l.agent_id AND ll.subject = l.subject AND ll.predicate = l.predicate \
     WHERE l.agent_id = $1 AND l.subject >= $2 AND l.subject > $3 \
     GROUP BY l.subject ORDER BY l.subject LIMIT $4",
];

/// The lines term `$2` reached by seq `$3`, at most `$4`.
pub(crate) const TERM_LINES: &str = "SELECT subject, predicate FROM terms WHERE agent_id = $1 AND term = $2 \
     AND first_seq <= $3 ORDER BY subject, predicate LIMIT $4";

/// The seq of the line's newest claim with seq ≤ `$4`.
pub(crate) const LINE_LATEST: &str = "SELECT stream_seq FROM claims WHERE agent_id = $1 AND subject = $2 \
     AND predicate = $3 AND stream_seq <= $4 ORDER BY stream_seq DESC, claim_ref DESC LIMIT 1";

/// The newest unit with `tx_time ≤ $2`.
pub(crate) const SEQ_AT: &str = "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND tx_time <= $2 \
             ORDER BY tx_time DESC, stream_seq DESC LIMIT 1";

/// Unit `$2`'s seq and tx_time.
pub(crate) const UNIT_HEAD: &str =
    "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND stream_seq = $2";

/// One claim by id.
pub(crate) const CLAIM: &str = claims_sql!("WHERE agent_id = $1 AND claim_ref = $2");

/// The entries about claim `$2` up to seq `$3`.
pub(crate) const CLAIM_ENTRIES: &str =
    entries_sql!("WHERE agent_id = $1 AND claim_ref = $2 AND stream_seq <= $3 ORDER BY stream_seq, idx");

/// The assertions about claim `$2` up to seq `$3`.
pub(crate) const CLAIM_ASSERTIONS: &str = "SELECT stream_seq, assertion_ref, target, kind, at FROM assertions \
             WHERE agent_id = $1 AND target = $2 AND stream_seq <= $3 ORDER BY stream_seq, assertion_ref, ord";

/// How many entries of event `$3` about claim `$2` were recorded at or after `$4`.
pub(crate) const COUNT_ENTRIES_SINCE: &str = "SELECT count(*) AS n FROM entries \
             WHERE agent_id = $1 AND claim_ref = $2 AND event = $3 AND recorded_at >= $4";

/// Every edge of kind `$2`, by target.
pub(crate) const EDGES_OF_KIND: &str = "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
                 WHERE agent_id = $1 AND kind = $2 ORDER BY to_ref, stream_seq, from_ref, ord";

/// The edges of kind `$3` pointing at `$2`.
pub(crate) const EDGES_TO: &str = "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND to_ref = $2 AND kind = $3 ORDER BY stream_seq, from_ref, ord";

/// The edges of kind `$3` leaving `$2`.
pub(crate) const EDGES_FROM: &str = "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND from_ref = $2 AND kind = $3 ORDER BY stream_seq, ord";

/// The predicates of subject `$2` with a claim by seq `$3`: its lines, each checked by index (not a scan of
/// the subject's claims), in bytewise order (`lines` compares with `COLLATE "C"`).
pub(crate) const PREDICATES: &str = "SELECT l.predicate FROM lines l WHERE l.agent_id = $1 AND l.subject = $2 \
     AND EXISTS (SELECT 1 FROM claims c WHERE c.agent_id = l.agent_id AND c.subject = l.subject \
     AND c.predicate = l.predicate AND c.stream_seq <= $3) ORDER BY l.predicate";

/// One adjudication row by handle.
pub(crate) const ADJUDICATION: &str = adjudications_sql!("WHERE agent_id = $1 AND handle = $2");

/// The pending adjudication rows.
pub(crate) const OPEN_ADJUDICATIONS: &str = adjudications_sql!(
    "WHERE agent_id = $1 AND status = 'pending' ORDER BY queued_at, handle, stream_seq, ord"
);

/// A page of units after seq `$2`, at most `$3`.
pub(crate) const UNITS_AFTER: &str = "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 AND stream_seq > $2 \
             ORDER BY stream_seq LIMIT $3";

/// The claims of the units `$2..=$3`.
pub(crate) const UNITS_CLAIMS: &str =
    claims_sql!("WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord");

/// The assertions of the units `$2..=$3`.
pub(crate) const UNITS_ASSERTIONS: &str = "SELECT stream_seq, assertion_ref, target, kind, at FROM assertions \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord";

/// The edges of the units `$2..=$3`.
pub(crate) const UNITS_EDGES: &str = "SELECT from_ref, to_ref, kind, stream_seq FROM edges \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord";

/// The entries of the units `$2..=$3`.
pub(crate) const UNITS_ENTRIES: &str =
    entries_sql!("WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3 ORDER BY stream_seq, ord, idx");

/// The adjudication rows opened or closed by the units `$2..=$3`.
pub(crate) const UNITS_ADJUDICATIONS: &str = adjudications_sql!(
    "WHERE agent_id = $1 AND (stream_seq BETWEEN $2 AND $3 OR closed_seq BETWEEN $2 AND $3) \
                 ORDER BY stream_seq, ord"
);

/// The idempotency records of the units `$2..=$3`.
pub(crate) const UNITS_KEYS: &str = "SELECT key, stream_seq, request, answer FROM idempotency_keys \
             WHERE agent_id = $1 AND stream_seq BETWEEN $2 AND $3";

/// The idempotency record stored under key `$2`.
pub(crate) const IDEMPOTENCY_KEY: &str =
    "SELECT key, stream_seq, request, answer FROM idempotency_keys WHERE agent_id = $1 AND key = $2";

/// The agent's newest unit.
pub(crate) const HEAD: &str =
    "SELECT stream_seq, tx_time FROM units WHERE agent_id = $1 ORDER BY stream_seq DESC LIMIT 1";

/// Server-side prepared statements used from simple-query batches (which cannot bind
/// parameters but can `EXECUTE` with literal arguments, keeping the cached plan). Prepared
/// once per connection by `session::ensure_prepared`; `PREPARE` is not undone by a rollback.
pub(crate) const PREPARE_HEAD: &str = "PREPARE credence_head(text) AS SELECT stream_seq, tx_time FROM units \
     WHERE agent_id = $1 ORDER BY stream_seq DESC LIMIT 1";

/// The `PREPARE` of the statement inserting all rows of a unit but adjudications: a CTE with
/// one `INSERT … SELECT … FROM json_to_recordset(…)` per table, each taking a JSON array of
/// rows (`[]` for none). Claims use `ON CONFLICT DO NOTHING`; the final `SELECT` refuses the
/// unit with `refusal::CLAIM_EXISTS` when fewer claims went in than it holds: one of them is
/// already stored (or the unit repeats one of its own).
///
/// `credence_append(agent, seq, tx_time, first_unit, claims, entries, assertions, edges,
/// n_claims)` inserts one unit.
///
/// `credence_append_many(agents, heads, keys, line_agents, subjects, predicates, units,
/// claims, entries, assertions, edges)` inserts the units of several agents sharing a
/// transaction (see `write::convoy`) — but only those of the agents that pass their guard:
/// the agent's lock key is among those the transaction got (the transaction-local setting
/// [`LOCKED_SETTING`], set by the statement before), its newest unit is the head the unit was
/// decided at, and none of the lines it took as empty holds a claim. It returns one row
/// `ok:<agent>` per agent written. `units` holds `{ag, s, tx, f, n}` per unit (`n`: its
/// claims) and every row names its agent in `ag`. Each line is probed once, whatever the
/// number of units.
pub(crate) fn prepare_append(many: bool) -> String {
    let (head, sources, ag, ag_col, only_ok) = if many {
        (
            format!(
                "PREPARE credence_append_many(text[], bigint[], bigint[], text[], text[], text[], json, json, json, \
                 json, json) AS WITH \
                 taken AS MATERIALIZED (SELECT DISTINCT l.ag FROM unnest($4, $5, $6) AS l(ag, s, p) \
                   WHERE (SELECT c.claim_ref FROM claims c WHERE c.agent_id = l.ag AND c.subject = l.s \
                   AND c.predicate = l.p ORDER BY c.stream_seq, c.claim_ref LIMIT 1) IS NOT NULL), \
                 ok AS MATERIALIZED (SELECT h.ag FROM unnest($1, $2, $3) AS h(ag, seq, k) \
                   WHERE h.k = ANY ((SELECT string_to_array(current_setting('{LOCKED_SETTING}', true), ','))::bigint[]) \
                   AND (SELECT coalesce(max(u.stream_seq), 0) FROM units u WHERE u.agent_id = h.ag) = h.seq \
                   AND NOT EXISTS (SELECT 1 FROM taken WHERE taken.ag = h.ag)), \
                 u AS (INSERT INTO units (agent_id, stream_seq, tx_time) \
                   SELECT ag, s, tx FROM json_to_recordset($7) AS t(ag text, s bigint, tx bigint) \
                   WHERE ag IN (SELECT ag FROM ok)), \
                 g AS (INSERT INTO agents (agent_id) \
                   SELECT ag FROM json_to_recordset($7) AS t(ag text, f boolean) \
                   WHERE f AND ag IN (SELECT ag FROM ok) ON CONFLICT DO NOTHING)"
            ),
            ["$8", "$9", "$10", "$11"],
            "ag",
            "ag text, ",
            " WHERE ag IN (SELECT ag FROM ok)",
        )
    } else {
        (
            "PREPARE credence_append(text, bigint, bigint, boolean, json, json, json, json, bigint) AS WITH \
             u AS (INSERT INTO units (agent_id, stream_seq, tx_time) VALUES ($1, $2, $3)), \
             g AS (INSERT INTO agents (agent_id) SELECT $1 WHERE $4 ON CONFLICT DO NOTHING)"
                .to_owned(),
            ["$5", "$6", "$7", "$8"],
            "$1",
            "",
            "",
        )
    };
    let [claims, entries, assertions, edges] = sources;
    let tail = if many {
        "SELECT 'ok:' || ag FROM ok WHERE credence_check((SELECT count(*) FROM c) = (SELECT coalesce(sum(n), 0) \
         FROM json_to_recordset($7) AS t(ag text, n bigint) WHERE ag IN (SELECT ag FROM ok)), 'KR001', \
         'a claim of the unit is already stored') = 1"
    } else {
        "SELECT credence_check((SELECT count(*) FROM c) = $9, 'KR001', 'a claim of the unit is already stored')"
    };
    format!(
        "{head}, \
         c AS (INSERT INTO claims (agent_id, claim_ref, stream_seq, ord, subject, predicate, value, provenance, \
           cardinality, confidence, criticality, has_valid_time, vt_start, vt_end, vt_confidence, \
           vt_start_granularity, vt_end_granularity, tx_time, derived_from, depends_on, value_key) \
           SELECT {ag}, r, s, o, subj, pred, val, prov, card, conf, crit, hvt, vs, ve, vc, vsg, veg, tx, df, dp, \
           decode(vk, 'hex') \
           FROM json_to_recordset({claims}) AS t({ag_col}r uuid, s bigint, o integer, subj text, pred text, \
           val text, prov text, card text, conf real, crit text, hvt boolean, vs bigint, ve bigint, vc real, \
           vsg text, veg text, tx bigint, df uuid[], dp uuid[], vk text){only_ok} ON CONFLICT DO NOTHING RETURNING 1), \
         e AS (INSERT INTO entries (agent_id, stream_seq, idx, ord, claim_ref, event, disposition, rationale, \
           recorded_at) SELECT {ag}, s, i, o, r, ev, di, ra, at FROM json_to_recordset({entries}) \
           AS t({ag_col}s bigint, i bigint, o integer, r uuid, ev text, di text, ra text, at bigint){only_ok}), \
         a AS (INSERT INTO assertions (agent_id, stream_seq, ord, assertion_ref, target, kind, at) \
           SELECT {ag}, s, o, r, t, k, at FROM json_to_recordset({assertions}) \
           AS t({ag_col}s bigint, o integer, r uuid, t uuid, k text, at bigint){only_ok}), \
         d AS (INSERT INTO edges (agent_id, from_ref, to_ref, kind, stream_seq, ord) \
           SELECT {ag}, f, t, k, s, o FROM json_to_recordset({edges}) \
           AS t({ag_col}f uuid, t uuid, k text, s bigint, o integer){only_ok}), \
         l AS (INSERT INTO lines (agent_id, subject, predicate) \
           SELECT DISTINCT {ag}, subj, pred FROM json_to_recordset({claims}) \
           AS t({ag_col}subj text, pred text){only_ok} ON CONFLICT DO NOTHING), \
         w AS (INSERT INTO terms (agent_id, term, subject, predicate, first_seq) \
           SELECT {ag}, x.term, subj, pred, s FROM json_to_recordset({claims}) \
           AS t({ag_col}s bigint, subj text, pred text, tm text[]) CROSS JOIN LATERAL unnest(tm) AS x(term){only_ok} \
           ON CONFLICT DO NOTHING) \
         {tail}"
    )
}

/// Session settings of every connection the write path uses, made with the prepared
/// statements: plans are generic (cached per connection, no planning per write) and never a
/// sequential scan chosen while the agent's tables were tiny (every query is an index lookup);
/// REAL values in text results are the shortest exact form (see `codec::TextReader`).
pub(crate) const SESSION_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET extra_float_digits = 3";

/// The line query ([`LINE_SQL`], or [`LINE_HEAD_SQL`] `with_head`) for a simple-query batch,
/// its arguments quoted literals.
pub(crate) fn line_sql(agent: &str, subject: &str, predicate: &str, max_seq: i64, with_head: bool) -> String {
    let events: Vec<String> = Event::MARKS.iter().map(|e| quote_literal(e.as_str())).collect();
    format!(
        "EXECUTE credence_line{}({}, {}, {}, {max_seq}, ARRAY[{}]::text[])",
        if with_head { "_head" } else { "" },
        quote_literal(agent),
        quote_literal(subject),
        quote_literal(predicate),
        events.join(", ")
    )
}

/// The head query of [`PREPARE_HEAD`] for `agent`, for a simple-query batch.
pub(crate) fn head_sql(agent: &str) -> String {
    format!("EXECUTE credence_head({})", quote_literal(agent))
}

/// Rows (JSON objects as text) as one JSON array in a string literal, for
/// `json_to_recordset`; with `agent`, each row gets the field `"ag"` naming it first.
fn rows_literal<'a>(rows: impl IntoIterator<Item = (Option<&'a str>, &'a str)>) -> PgResult<String> {
    let mut text = String::from("[");
    for (i, (agent, row)) in rows.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match agent {
            Some(agent) => {
                let fields = row.strip_prefix('{').unwrap_or(row);
                text.push_str("{\"ag\":");
                text.push_str(&row_text(&serde_json::Value::from(agent))?);
                if !fields.starts_with('}') {
                    text.push(',');
                }
                text.push_str(fields);
            }
            None => text.push_str(row),
        }
    }
    text.push(']');
    Ok(quote_literal(&text))
}

/// A unit's rows as one `EXECUTE credence_append(…)` for `agent`. Every value travels inside
/// JSON string literals quoted by [`quote_literal`] (numbers are formatted by Rust), so nothing
/// is spliced in unquoted.
pub(crate) fn insert_sql(agent: &str, rows: &UnitRows) -> PgResult<String> {
    Ok(format!(
        "EXECUTE credence_append({}, {}, {}, {}, {}, {}, {}, {}, {})",
        quote_literal(agent),
        rows.seq,
        rows.tx_time,
        if rows.first_unit { "TRUE" } else { "FALSE" },
        own_rows(&rows.claims)?,
        own_rows(&rows.entries)?,
        own_rows(&rows.assertions)?,
        own_rows(&rows.edges)?,
        rows.claims.len()
    ))
}

/// The rows of several agents' units (at most one each) as one `EXECUTE
/// credence_append_many(…)` after the guard arguments `guard_args` (see
/// [`many_guard_args`]): each row names its agent.
pub(crate) fn insert_many_sql(guard_args: &str, units: &[(&str, &UnitRows)]) -> PgResult<String> {
    let named = |table: fn(&UnitRows) -> &Vec<String>| {
        rows_literal(
            units.iter().flat_map(|(agent, rows)| table(rows).iter().map(|row| (Some(*agent), row.as_str()))),
        )
    };
    let mut heads = Vec::with_capacity(units.len());
    for (_, rows) in units {
        let n = rows.claims.len();
        heads.push(row_text(
            &serde_json::json!({ "s": rows.seq, "tx": rows.tx_time, "f": rows.first_unit, "n": n }),
        )?);
    }
    Ok(format!(
        "EXECUTE credence_append_many({guard_args}, {}, {}, {}, {}, {})",
        rows_literal(units.iter().zip(&heads).map(|((agent, _), head)| (Some(*agent), head.as_str())))?,
        named(|r| &r.claims)?,
        named(|r| &r.entries)?,
        named(|r| &r.assertions)?,
        named(|r| &r.edges)?,
    ))
}

/// One unit's rows of a table as a literal (see [`rows_literal`]).
fn own_rows(rows: &[String]) -> PgResult<String> {
    rows_literal(rows.iter().map(|row| (None, row.as_str())))
}

/// `s` as an SQL string literal (`E'…'`, so the result does not depend on
/// `standard_conforming_strings`): quotes and backslashes are doubled.
pub(crate) fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The guard: refuses the transaction with `refusal::STALE` unless the agent's newest unit is
/// `$2` (0: none) and none of the lines `($3[i], $4[i])` holds a claim. Each line is probed in
/// `claims_by_line` order (see `line_parts`); see [`PLAN_EXPECT`] for its plan.
pub(crate) const PREPARE_EXPECT: &str = "PREPARE credence_expect(text, bigint, text[], text[]) AS \
     SELECT credence_check((SELECT coalesce(max(stream_seq), 0) FROM units WHERE agent_id = $1) = $2 \
     AND NOT EXISTS (SELECT 1 FROM unnest($3, $4) AS l(s, p) WHERE (SELECT c.claim_ref FROM claims c \
     WHERE c.agent_id = $1 AND c.subject = l.s AND c.predicate = l.p ORDER BY c.stream_seq, c.claim_ref \
     LIMIT 1) IS NOT NULL), 'KR002', 'the agent was written, or a line taken as empty holds a claim')";

/// A line's live claims (`LedgerRead::live`, the `live_claims` index of schema versions 4 and 5)
/// with their claims rows; the index first, and a LEFT JOIN so a live claim whose claims row
/// is gone is reported (`codec::live_claim_from`), not left out. Each claim is found as the
/// first claim of the agent at or after its ref in `claims_pkey` order: so written, the
/// primary key is the cheapest index even for a plan made while the tables are tiny (a
/// generic plan cached per connection), where an equality join lets the planner pick
/// `claims_by_unit` on `agent_id` alone — and then scan every claim of the agent per row.
/// [`prepare_live_update`] finds the touched claims the same way.
pub(crate) const LIVE: &str = "SELECT c.agent_id, c.claim_ref, c.stream_seq, c.subject, c.predicate, c.value, \
     c.provenance, c.cardinality, c.confidence, c.criticality, c.has_valid_time, c.vt_start, c.vt_end, \
     c.vt_confidence, c.vt_start_granularity, c.vt_end_granularity, c.tx_time, c.derived_from, c.depends_on, \
     l.disposition, l.flagged, l.claim_ref AS live_ref FROM live_claims l LEFT JOIN LATERAL (SELECT * \
     FROM claims c WHERE c.agent_id = l.agent_id AND c.claim_ref >= l.claim_ref ORDER BY c.claim_ref LIMIT 1) c \
     ON c.claim_ref = l.claim_ref \
     WHERE l.agent_id = $1 AND l.subject = $2 AND l.predicate = $3 ORDER BY c.stream_seq, c.claim_ref";

/// The live claims of line (`$1`, `$2`, `$3`) a valid-time span reaches at a trust threshold
/// (`$4` the threshold, `$5`/`$6` the span's start and end, NULL unbounded), as the CTEs
/// `found(claim_ref)` — three index scans: the short windows a threshold may find untrusted,
/// the short windows (`live_spans`) starting no earlier than the line's longest one before the
/// span's start and before its end, the other windows kept when untrusted or overlapping — and
/// `live`, their `live_claims` rows, each looked up by key as [`LIVE`] looks claims up. The
/// bound is computed in `numeric`: a start near -2^63 minus the span does not overflow.
macro_rules! reach_ctes {
    () => {
        "found AS ( \
           SELECT claim_ref FROM live_claims \
             WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND short AND trust < 1 AND trust < $4 \
           UNION SELECT claim_ref FROM live_spans \
             WHERE agent_id = $1 AND subject = $2 AND predicate = $3 \
             AND lo >= greatest($5::bigint::numeric - (SELECT span FROM live_lines \
               WHERE agent_id = $1 AND subject = $2 AND predicate = $3), -9223372036854775808)::bigint \
             AND lo < coalesce($6::bigint, 9223372036854775807) AND hi > coalesce($5::bigint, -9223372036854775808) \
           UNION SELECT claim_ref FROM live_claims \
             WHERE agent_id = $1 AND subject = $2 AND predicate = $3 AND NOT short \
             AND (trust < $4 OR NOT ((hi IS NOT NULL AND $5::bigint IS NOT NULL AND hi <= $5) \
               OR ($6::bigint IS NOT NULL AND lo IS NOT NULL AND $6 <= lo)))), \
         live AS (SELECT l.* FROM found CROSS JOIN LATERAL (SELECT * FROM live_claims l \
           WHERE l.agent_id = $1 AND l.subject = $2 AND l.predicate = $3 AND l.claim_ref >= found.claim_ref \
           ORDER BY l.claim_ref LIMIT 1) l WHERE l.claim_ref = found.claim_ref)"
    };
}

/// The claims of `$source(claim_ref, disposition, flagged)` with their claims rows, each
/// looked up by key as [`LIVE`] does, ordered by `(seq, claim_ref)`.
macro_rules! with_claims {
    ($source:literal) => {
        concat!(
            "SELECT c.agent_id, c.claim_ref, c.stream_seq, c.subject, c.predicate, c.value, \
             c.provenance, c.cardinality, c.confidence, c.criticality, c.has_valid_time, c.vt_start, c.vt_end, \
             c.vt_confidence, c.vt_start_granularity, c.vt_end_granularity, c.tx_time, c.derived_from, c.depends_on, \
             l.disposition, l.flagged, l.claim_ref AS live_ref FROM ",
            $source,
            " l LEFT JOIN LATERAL (SELECT * FROM claims c WHERE c.agent_id = $1 AND c.claim_ref >= l.claim_ref \
             ORDER BY c.claim_ref LIMIT 1) c ON c.claim_ref = l.claim_ref ORDER BY c.stream_seq, c.claim_ref"
        )
    };
}

/// The live claims of a line a valid-time span reaches at a trust threshold
/// (`LedgerRead::live_overlapping`; see [`reach_ctes`]).
pub(crate) const LIVE_REACH: &str = concat!(
    "WITH ",
    reach_ctes!(),
    ", reach AS (SELECT claim_ref, disposition, flagged FROM live) ",
    with_claims!("reach")
);

/// The claims of a line live as of unit `$7` (`LedgerRead::live_at`), with `$4`…`$6` as in
/// [`LIVE_REACH`]: the live rows the span reaches that have been live since `$7` or before, and
/// the stretches live then that are over now, found by end within the line's longest one
/// (`live_stretches`; computed in `numeric`, no overflow).
pub(crate) const LIVE_AT: &str = concat!(
    "WITH ",
    reach_ctes!(),
    ", was AS (SELECT claim_ref, disposition, coalesce(flagged_from <= $7::bigint, FALSE) AS flagged FROM live \
       WHERE since <= $7::bigint \
     UNION ALL SELECT p.claim_ref, p.disposition, coalesce(p.flagged_from <= $7::bigint, FALSE) FROM live_periods p \
       WHERE p.agent_id = $1 AND p.subject = $2 AND p.predicate = $3 AND p.to_seq > $7::bigint \
       AND p.to_seq <= least($7::bigint::numeric + coalesce((SELECT longest FROM live_stretches \
         WHERE agent_id = $1 AND subject = $2 AND predicate = $3), 0), 9223372036854775807)::bigint \
       AND p.from_seq <= $7::bigint) ",
    with_claims!("was")
);

/// A line's counters (`LedgerRead::line_summary`); no row for a line never live.
pub(crate) const LINE_SUMMARY: &str = "SELECT live, functional, clashes FROM live_lines WHERE agent_id = $1 AND subject = $2 AND predicate = $3";

/// [`LIVE_REACH`] and [`LINE_SUMMARY`] for one line, for a simple-query batch (one round trip).
pub(crate) fn live_reach_sql(
    agent: &str,
    subject: &str,
    predicate: &str,
    span: credence_core::Span,
    threshold: f32,
) -> String {
    let bound =
        |t: Option<credence_core::Timestamp>| t.map_or_else(|| "NULL".to_owned(), |t| t.0.to_string());
    let line = format!("{}, {}, {}", quote_literal(agent), quote_literal(subject), quote_literal(predicate));
    format!(
        "EXECUTE credence_live_reach({line}, {threshold:?}, {}, {}); EXECUTE credence_line_summary({line})",
        bound(span.start),
        bound(span.end)
    )
}

/// The `PREPARE` of [`LIVE`] for simple-query batches. The index update: for each
/// `(agent, claim_ref)` pair given (the claims a unit touched, `Append::touched_claims`, its
/// rows already inserted by the statement before), the claim's state folded from all its
/// entries and assertions as `credence_core::liveness` does — latest state entry by `(seq,
/// idx)`, latest assertion by `(seq, assertion_ref)`, flagged if any DependentFlagged entry —
/// and its `live_claims` row written or removed. A claim the agent does not hold (a unit its
/// guard refused) changes nothing.
pub(crate) fn prepare_live_read() -> String {
    format!(
        "PREPARE credence_live_read(text, text, text) AS {LIVE}; \
         PREPARE credence_live_reach(text, text, text, real, bigint, bigint) AS {LIVE_REACH}; \
         PREPARE credence_line_summary(text, text, text) AS {LINE_SUMMARY}"
    )
}

/// What the index holds of a claim `c` — its line, its [`IndexColumns`] and its state folded
/// from its entries and assertions — selected from `claims c`.
const STATE_OF_C: &str = "c.agent_id, c.subject, c.predicate, c.claim_ref, c.value_key, \
       CASE WHEN c.has_valid_time THEN c.vt_start END AS lo, CASE WHEN c.has_valid_time THEN c.vt_end END AS hi, \
       CASE WHEN c.has_valid_time AND c.vt_start IS NOT NULL THEN c.vt_confidence ELSE -1 END AS trust, \
       coalesce(c.has_valid_time AND c.vt_start BETWEEN -2305843009213693952 AND 2305843009213693952 \
         AND c.vt_end BETWEEN -2305843009213693952 AND 2305843009213693952, FALSE) AS short, \
       c.cardinality = 'SetValued' AS set_valued, \
       (SELECT e.disposition FROM entries e WHERE e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref \
         AND e.event IN ('ClaimCommitted', 'ValidityAsserted', 'AdjudicationResolved', 'AdjudicationExpired', \
         'Resolved', 'Invalidated', 'Reinstated') ORDER BY e.stream_seq DESC, e.idx DESC LIMIT 1) AS disposition, \
       (SELECT a.kind FROM assertions a WHERE a.agent_id = c.agent_id AND a.target = c.claim_ref \
         ORDER BY a.stream_seq DESC, a.assertion_ref DESC, a.ord DESC LIMIT 1) AS last_kind, \
       EXISTS (SELECT 1 FROM entries e WHERE e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref \
         AND e.event = 'DependentFlaggedPendingReview') AS flagged";

/// True for a row of [`STATE_OF_C`] that is live.
const IS_LIVE: &str = "disposition IN ('CommittedCheap', 'CommittedInferred', 'QueuedForAdjudication', \
       'Contested', 'PendingReview', 'Reinstated') AND last_kind IS DISTINCT FROM 'Bound'";

/// The columns of a `live_claims` row, in [`STATE_OF_C`]'s names.
const LIVE_COLUMNS: &str = "agent_id, subject, predicate, claim_ref, disposition, flagged, value_key, lo, hi, trust, short, set_valued";

/// The `PREPARE` of the index update (see [`prepare_live_read`]), for the claims given as
/// `(agent, claim_ref, unit seq)`: each claim's row removed when it is no longer live, its
/// disposition, flag and `since` brought up to date when it stays live, or added; the stretch
/// it was live through until then recorded (`live_periods`, `live_stretches`) when it stopped
/// being live or changed disposition.
pub(crate) fn prepare_live_update() -> String {
    format!(
        "PREPARE credence_live(text[], uuid[], bigint[]) AS \
         WITH t AS (SELECT ag, r, max(s) AS s FROM unnest($1, $2, $3) AS t(ag, r, s) GROUP BY ag, r), \
         st AS MATERIALIZED (SELECT {STATE_OF_C}, t.s AS unit_seq, \
           (SELECT min(e.stream_seq) FROM entries e WHERE e.agent_id = c.agent_id AND e.claim_ref = c.claim_ref \
             AND e.event = 'DependentFlaggedPendingReview') AS first_flag \
           FROM t CROSS JOIN LATERAL (SELECT * FROM claims c WHERE c.agent_id = t.ag AND c.claim_ref >= t.r \
           ORDER BY c.claim_ref LIMIT 1) c WHERE c.claim_ref = t.r), \
         live AS (SELECT *, {IS_LIVE} AS is_live FROM st), \
         old AS MATERIALIZED (SELECT l.agent_id, l.subject, l.predicate, l.claim_ref, l.disposition, l.since, \
           l.flagged_from, live.unit_seq, live.is_live AS now_live, live.disposition AS now_disposition, \
           live.flagged AS now_flagged, live.first_flag FROM live CROSS JOIN LATERAL (SELECT * FROM live_claims l \
           WHERE l.agent_id = live.agent_id AND l.subject = live.subject AND l.predicate = live.predicate \
           AND l.claim_ref >= live.claim_ref ORDER BY l.claim_ref LIMIT 1) l WHERE l.claim_ref = live.claim_ref), \
         ended AS (SELECT * FROM old WHERE NOT now_live OR now_disposition IS DISTINCT FROM disposition), \
         closed AS (INSERT INTO live_periods (agent_id, subject, predicate, to_seq, claim_ref, from_seq, \
           disposition, flagged_from) SELECT agent_id, subject, predicate, unit_seq, claim_ref, since, disposition, \
           flagged_from FROM ended), \
         longest AS (INSERT INTO live_stretches AS x (agent_id, subject, predicate, longest) \
           SELECT agent_id, subject, predicate, max(unit_seq - since) FROM ended GROUP BY agent_id, subject, predicate \
           ON CONFLICT (agent_id, subject, predicate) DO UPDATE SET longest = greatest(x.longest, EXCLUDED.longest)), \
         gone AS (DELETE FROM live_claims l USING old WHERE NOT old.now_live AND l.agent_id = old.agent_id \
           AND l.subject = old.subject AND l.predicate = old.predicate AND l.claim_ref = old.claim_ref), \
         kept AS (UPDATE live_claims l SET disposition = old.now_disposition, flagged = old.now_flagged, \
           since = CASE WHEN old.now_disposition = old.disposition THEN l.since ELSE old.unit_seq END, \
           flagged_from = coalesce(l.flagged_from, old.first_flag) FROM old WHERE old.now_live \
           AND l.agent_id = old.agent_id AND l.subject = old.subject AND l.predicate = old.predicate \
           AND l.claim_ref = old.claim_ref) \
         INSERT INTO live_claims ({LIVE_COLUMNS}, since, flagged_from) SELECT {LIVE_COLUMNS}, unit_seq, first_flag \
           FROM live WHERE is_live AND NOT EXISTS (SELECT 1 FROM old WHERE old.agent_id = live.agent_id \
           AND old.claim_ref = live.claim_ref)"
    )
}

/// A page of an agent's claims after `$2` (from the first when `$4`) in key order, at most `$3`
/// (rebuilding the index).
pub(crate) const CLAIMS_PAGE: &str =
    claims_sql!("WHERE agent_id = $1 AND ($4 OR claim_ref > $2) ORDER BY agent_id, claim_ref LIMIT $3");

/// The liveness marks about claims `$2` of agent `$1` (rebuilding the index).
pub(crate) const CLAIMS_MARKS: &str = entries_sql!(
    "WHERE agent_id = $1 AND claim_ref = ANY($2) AND event = ANY($3) ORDER BY claim_ref, stream_seq, idx"
);

/// The assertions about claims `$2` of agent `$1` (rebuilding the index).
pub(crate) const CLAIMS_ASSERTIONS: &str = "SELECT stream_seq, assertion_ref, target, kind, at FROM assertions \
     WHERE agent_id = $1 AND target = ANY($2) ORDER BY target, stream_seq, assertion_ref, ord";

/// Adds search postings given as arrays for agent `$1`, keeping each line's earliest unit
/// (rebuilding the index).
pub(crate) const UPSERT_TERMS: &str = "INSERT INTO terms (agent_id, term, subject, predicate, first_seq) \
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) \
     ON CONFLICT (agent_id, term, subject, predicate) DO UPDATE SET first_seq = least(terms.first_seq, excluded.first_seq)";

/// A row in `lines` for every line of agent `$1` (rebuilding the index).
pub(crate) const FILL_LINES: &str = "INSERT INTO lines (agent_id, subject, predicate) \
     SELECT DISTINCT agent_id, subject, predicate FROM claims WHERE agent_id = $1 ON CONFLICT DO NOTHING";

/// Adds live rows given as arrays (rebuilding the index; the trigger counts each line).
pub(crate) const INSERT_LIVE_ROWS: &str = "INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, \
     disposition, flagged, value_key, lo, hi, trust, short, set_valued, since, flagged_from) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::boolean[], $7::bytea[], \
     $8::bigint[], $9::bigint[], $10::real[], $11::boolean[], $12::boolean[], $13::bigint[], $14::bigint[])";

/// Adds stretches given as arrays (rebuilding the index).
pub(crate) const INSERT_PERIODS: &str = "INSERT INTO live_periods (agent_id, subject, predicate, to_seq, claim_ref, \
     from_seq, disposition, flagged_from) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], \
     $5::uuid[], $6::bigint[], $7::text[], $8::bigint[])";

/// Raises lines' longest stretch (rebuilding the index).
pub(crate) const RAISE_STRETCHES: &str = "INSERT INTO live_stretches AS x (agent_id, subject, predicate, longest) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) \
     ON CONFLICT (agent_id, subject, predicate) DO UPDATE SET longest = greatest(x.longest, EXCLUDED.longest)";

/// Inserts the rows of claims new in their unit whose state the unit itself decides
/// (`Append::own_claim_states`): no read needed, and nothing to remove.
pub(crate) const PREPARE_LIVE_NEW: &str = "PREPARE credence_live_new(text[], text[], text[], uuid[], text[], boolean[], \
     bytea[], bigint[], bigint[], real[], boolean[], boolean[], bigint[], bigint[]) \
     AS INSERT INTO live_claims (agent_id, subject, predicate, claim_ref, disposition, flagged, value_key, lo, hi, \
     trust, short, set_valued, since, flagged_from) \
     SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// The index update for one unit of `agent` whose rows go in just before, for a
/// simple-query batch: its own live claims inserted as they are ([`PREPARE_LIVE_NEW`]), the
/// other claims it touches recomputed ([`prepare_live_update`]); `None` when it touches none.
pub(crate) fn live_for_unit(agent: &str, append: &credence_core::Append) -> Option<String> {
    let own = append.own_claim_states();
    let seq = append.seq;
    let mut statements = Vec::new();
    // Each claim's columns computed once (its value key hashes the whole value).
    let live: Vec<_> =
        own.iter().filter_map(|(c, s)| Some((*c, s.filter(|s| s.is_live())?, IndexColumns::of(c)))).collect();
    if !live.is_empty() {
        type Row<'a> = (&'a credence_core::Claim, credence_core::liveness::ClaimState, IndexColumns);
        let list = |f: &dyn Fn(&Row<'_>) -> String| live.iter().map(f).collect::<Vec<_>>().join(", ");
        let boolean = |b: bool| if b { "TRUE".to_owned() } else { "FALSE".to_owned() };
        let bound = |t: Option<i64>| t.map_or_else(|| "NULL".to_owned(), |t| t.to_string());
        statements.push(format!(
            "EXECUTE credence_live_new(ARRAY[{}]::text[], ARRAY[{}]::text[], ARRAY[{}]::text[], ARRAY[{}]::uuid[], \
             ARRAY[{}]::text[], ARRAY[{}]::boolean[], ARRAY[{}]::bytea[], ARRAY[{}]::bigint[], ARRAY[{}]::bigint[], \
             ARRAY[{}]::real[], ARRAY[{}]::boolean[], ARRAY[{}]::boolean[], ARRAY[{}]::bigint[], ARRAY[{}]::bigint[])",
            list(&|_| quote_literal(agent)),
            list(&|(c, _, _)| quote_literal(&c.subject)),
            list(&|(c, _, _)| quote_literal(&c.predicate)),
            list(&|(c, _, _)| format!("'{}'", c.claim_ref.0)),
            list(&|(_, s, _)| quote_literal(s.disposition.as_str())),
            list(&|(_, s, _)| boolean(s.flagged)),
            list(&|(_, _, i)| format!("'\\x{}'", hex(&i.value_key))),
            list(&|(_, _, i)| bound(i.lo)),
            list(&|(_, _, i)| bound(i.hi)),
            list(&|(_, _, i)| format!("{:?}", i.trust)),
            list(&|(_, _, i)| boolean(i.short)),
            list(&|(_, _, i)| boolean(i.set_valued)),
            list(&|_| seq.to_string()),
            list(&|(_, s, _)| if s.flagged { seq.to_string() } else { "NULL".to_owned() }),
        ));
    }
    let others: Vec<ClaimRef> =
        append.touched_claims().into_iter().filter(|r| !own.iter().any(|(c, _)| c.claim_ref == *r)).collect();
    statements.extend(live_update_sql(&[(agent, seq, &others)]));
    (!statements.is_empty()).then(|| statements.join("; "))
}

/// [`LIVE`] for `agent`'s line, for a simple-query batch.
pub(crate) fn live_read_sql(agent: &str, subject: &str, predicate: &str) -> String {
    format!(
        "EXECUTE credence_live_read({}, {}, {})",
        quote_literal(agent),
        quote_literal(subject),
        quote_literal(predicate)
    )
}

/// The index update of [`prepare_live`] for the claims each agent's unit touched, for a
/// simple-query batch; `None` when no unit touched any claim.
pub(crate) fn live_update_sql(units: &[(&str, u64, &[ClaimRef])]) -> Option<String> {
    let (mut agents, mut refs, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
    for (agent, seq, touched) in units {
        for r in *touched {
            agents.push(quote_literal(agent));
            refs.push(format!("'{}'", r.0));
            seqs.push(seq.to_string());
        }
    }
    (!refs.is_empty()).then(|| {
        format!(
            "EXECUTE credence_live(ARRAY[{}]::text[], ARRAY[{}]::uuid[], ARRAY[{}]::bigint[])",
            agents.join(", "),
            refs.join(", "),
            seqs.join(", ")
        )
    })
}

/// The `PREPARE`s of the line query ([`LINE_SQL`]) and of the line query with the head
/// ([`LINE_HEAD_SQL`]), run by [`line_sql`].
pub(crate) fn prepare_line() -> String {
    format!(
        "PREPARE credence_line(text, text, text, bigint, text[]) AS {LINE_SQL}; \
         PREPARE credence_line_head(text, text, text, bigint, text[]) AS {LINE_HEAD_SQL}"
    )
}

/// Undoes the sort setting [`PLAN_EXPECT`] and [`SORTS_OFF`] turn off.
pub(crate) const RESET_PLAN_SETTING: &str = "RESET enable_sort";

/// Turns sorts off while a [`PLANNED_WITHOUT_SORTS`] statement makes its plan.
pub(crate) const SORTS_OFF: &str = "SET enable_sort = off";

/// The reads of a line in index order whose generic plan is made with sorts disabled (see
/// `PgConnection::query_prepared`): a history page's two ranges and a line's newest claim.
/// Before PostgreSQL has analysed the claims table, every condition is guessed to keep a few
/// rows, so walking the agent's claims by unit (`claims_by_unit`) and sorting the few left
/// costs about as much as walking the line (`claims_by_line`), whose wide keys make it the
/// deeper index; that plan, kept for the session, reads every claim the agent wrote after the
/// cursor. With statistics `claims_by_line` wins clearly, so a plan made again after an
/// `ANALYZE` (or a reset of the plan cache) keeps the session's usual settings.
pub(crate) const PLANNED_WITHOUT_SORTS: [&str; 3] = [PAGE_BY_START, PAGE_BY_TX, LINE_LATEST];

/// Makes and caches the guards' generic plans when the session is prepared, with sorts
/// disabled: while the claims table holds a few rows, probing a line through `claims_by_unit`
/// plus a sort costs about as much as through `claims_by_line`, and that plan, kept for the
/// session, would scan every claim of the agent on each write as the table grows. (A plan made
/// again later — after PostgreSQL analyses the table, or resets its plan cache — is made with
/// the session's usual settings; with statistics `claims_by_line` wins clearly.) Runs after
/// the session settings (generic plans).
pub(crate) const PLAN_EXPECT: &str = "SET enable_sort = off; \
     EXPLAIN EXECUTE credence_expect(E'', 0, ARRAY[]::text[], ARRAY[]::text[]); \
     EXPLAIN EXECUTE credence_append_many(ARRAY[]::text[], ARRAY[]::bigint[], ARRAY[]::bigint[], \
     ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], '[]', '[]', '[]', '[]', '[]'); RESET enable_sort";

/// The guard for `agent` at `head` with the lines `assumed_empty`, for a simple-query batch.
pub(crate) fn expect_sql(agent: &str, head: Option<Head>, assumed_empty: &[LineKey]) -> PgResult<String> {
    let list = |part: fn(&LineKey) -> &str| {
        let items: Vec<String> = assumed_empty.iter().map(|l| quote_literal(part(l))).collect();
        format!("ARRAY[{}]::text[]", items.join(", "))
    };
    Ok(format!(
        "EXECUTE credence_expect({}, {}, {}, {})",
        quote_literal(agent),
        seq_param(head.map_or(0, |h| h.seq))?,
        list(|l| &l.0),
        list(|l| &l.1)
    ))
}

/// The transaction-local setting in which a shared transaction records the lock keys it got
/// (see `write::convoy`).
pub(crate) const LOCKED_SETTING: &str = "credence.locked";

/// The guard arguments of several agents' units for `credence_append_many` (see
/// [`prepare_append`]): their agents, the heads they were decided at, their lock keys,
/// then the lines they took as empty (agent, subject, predicate).
pub(crate) fn many_guard_args(units: &[(&str, Option<Head>, i64, &[LineKey])]) -> PgResult<String> {
    let array = |items: Vec<String>, ty: &str| format!("ARRAY[{}]::{ty}[]", items.join(", "));
    let (mut agents, mut heads, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    let (mut line_agents, mut subjects, mut predicates) = (Vec::new(), Vec::new(), Vec::new());
    for (agent, head, key, lines) in units {
        agents.push(quote_literal(agent));
        heads.push(seq_param(head.map_or(0, |h| h.seq))?.to_string());
        keys.push(key.to_string());
        for (subject, predicate) in *lines {
            line_agents.push(quote_literal(agent));
            subjects.push(quote_literal(subject));
            predicates.push(quote_literal(predicate));
        }
    }
    Ok([
        array(agents, "text"),
        array(heads, "bigint"),
        array(keys, "bigint"),
        array(line_agents, "text"),
        array(subjects, "text"),
        array(predicates, "text"),
    ]
    .join(", "))
}

/// The round trip of a group of units decided ahead (see `write::convoy`): the `BEGIN` part
/// (with the locks) and the rest, for a connection that sends the `BEGIN` in front of the rest.
/// One unit is checked and inserted by the statements of a lone write, after its lock: waited
/// for, or only tried (`how`). Several units' locks are tried in one statement that records
/// the keys it got ([`LOCKED_SETTING`]); then one statement writes the units that got their
/// lock and pass their guard (see [`prepare_append`]). The locks go in a statement of their
/// own, before the guards, so each guard sees every commit made before its agent's lock was
/// granted. The live-claims index is updated after the rows: a lone unit's as it decides
/// ([`live_for_unit`]), several units' recomputed from the rows (a refused unit's claims are
/// not stored, so its update changes nothing).
pub(crate) fn group(units: &[GroupUnit<'_>], how: Lock) -> PgResult<(String, String)> {
    if let [one] = units {
        let live = one.live.map(|sql| format!("; {sql}")).unwrap_or_default();
        let body = format!(
            "{}; {}{live}; COMMIT",
            expect_sql(one.agent, one.head, one.assumed_empty)?,
            insert_sql(one.agent, one.rows)?
        );
        return Ok((lock::begin_locked(one.lock_key, how), body));
    }
    let keys: Vec<i64> = units.iter().map(|u| u.lock_key).collect();
    let guards: Vec<(&str, Option<Head>, i64, &[LineKey])> =
        units.iter().map(|u| (u.agent, u.head, u.lock_key, u.assumed_empty)).collect();
    let rows: Vec<(&str, &UnitRows)> = units.iter().map(|u| (u.agent, u.rows)).collect();
    // Some units may be refused: the update recomputes from the rows, which a refused unit's
    // claims are not among.
    let touched: Vec<(&str, u64, &[ClaimRef])> =
        units.iter().map(|u| (u.agent, u64::try_from(u.rows.seq).unwrap_or(0), u.touched)).collect();
    let live = live_update_sql(&touched).map(|sql| format!("; {sql}")).unwrap_or_default();
    let body = format!("{}{live}; COMMIT", insert_many_sql(&many_guard_args(&guards)?, &rows)?);
    Ok((lock::begin_trying_all(&keys, LOCKED_SETTING), body))
}

/// One unit of a group (see [`group`]).
pub(crate) struct GroupUnit<'a> {
    pub(crate) agent: &'a str,
    pub(crate) lock_key: i64,
    pub(crate) head: Option<Head>,
    pub(crate) assumed_empty: &'a [LineKey],
    pub(crate) rows: &'a UnitRows,
    pub(crate) touched: &'a [ClaimRef],
    /// Its index update alone ([`live_for_unit`]), for a group of one.
    pub(crate) live: Option<&'a str>,
}

/// Whether unit `mark` of `agent` is stored, in one round trip on a fresh connection:
/// `BEGIN`, the agent's lock `lock_key` (waited for: the transaction being looked up held it
/// or asked for it first, so it has ended by then), the check, `COMMIT` (see `write::lost`).
pub(crate) fn unit_stored(agent: &str, lock_key: i64, mark: &UnitMark) -> PgResult<String> {
    let a = quote_literal(agent);
    let seq = seq_param(mark.seq)?;
    let row = match &mark.row {
        UnitMarkRow::Claim(r) => {
            format!(
                "EXISTS (SELECT 1 FROM claims WHERE agent_id = {a} AND claim_ref = '{}' AND stream_seq = {seq})",
                r.0
            )
        }
        UnitMarkRow::Assertion(r) => format!(
            "EXISTS (SELECT 1 FROM assertions WHERE agent_id = {a} AND stream_seq = {seq} \
             AND assertion_ref = '{}')",
            r.0
        ),
        UnitMarkRow::Entry { index, claim_ref, event } => format!(
            "EXISTS (SELECT 1 FROM entries WHERE agent_id = {a} AND stream_seq = {seq} AND idx = {index} \
             AND claim_ref = '{}' AND event = {})",
            claim_ref.0,
            quote_literal(event.as_str())
        ),
        UnitMarkRow::Edge { from, to, kind } => format!(
            "EXISTS (SELECT 1 FROM edges WHERE agent_id = {a} AND from_ref = '{}' AND to_ref = '{}' \
             AND kind = {} AND stream_seq = {seq})",
            from.0,
            to.0,
            quote_literal(kind.as_str())
        ),
        UnitMarkRow::UnitOnly => "TRUE".to_owned(),
    };
    Ok(format!(
        "{}; SELECT EXISTS (SELECT 1 FROM units WHERE agent_id = {a} AND stream_seq = {seq} AND tx_time = {}) \
         AND {row}; COMMIT",
        lock::begin_locked(lock_key, Lock::Wait),
        mark.tx_time.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::unit_rows;

    /// A unit of `agent` at head 2 with lock key 7 that took the line `s`/`p` as empty.
    fn unit<'a>(rows: &'a (UnitRows, [LineKey; 1]), agent: &'a str) -> GroupUnit<'a> {
        GroupUnit {
            agent,
            lock_key: 7,
            head: Some(Head { seq: 2, tx_time: credence_core::Timestamp(20) }),
            assumed_empty: &rows.1,
            rows: &rows.0,
            touched: &[],
            live: None,
        }
    }

    #[test]
    fn quote_literal_doubles_quotes_and_backslashes() {
        assert_eq!(quote_literal("alice"), "E'alice'");
        assert_eq!(quote_literal("o'brien\\x"), "E'o''brien\\\\x'");
    }

    #[test]
    fn rows_literal_names_each_rows_agent_first_and_keeps_the_row() -> PgResult<()> {
        // The agent is JSON-escaped, then the whole text quoted for SQL (backslashes doubled).
        let rows = [(Some("o'k\""), r#"{"s":1,"v":"x"}"#), (Some("b"), "{}"), (None, r#"{"s":2}"#)];
        assert_eq!(rows_literal(rows)?, r#"E'[{"ag":"o''k\\"","s":1,"v":"x"},{"ag":"b"},{"s":2}]'"#);
        assert_eq!(rows_literal(std::iter::empty())?, "E'[]'");
        Ok(())
    }

    #[test]
    fn expect_sql_quotes_every_line() {
        let head = Head { seq: 7, tx_time: credence_core::Timestamp(70) };
        let sql = expect_sql("o'k", Some(head), &[("s'1".into(), "p".into()), ("s2".into(), "q\\".into())]);
        assert_eq!(
            sql.ok().as_deref(),
            Some(
                "EXECUTE credence_expect(E'o''k', 7, ARRAY[E's''1', E's2']::text[], \
                 ARRAY[E'p', E'q\\\\']::text[])"
            )
        );
    }

    #[test]
    fn only_a_unit_sent_alone_waits_for_its_lock_and_a_group_records_the_locks_it_got() -> PgResult<()> {
        let rows = (
            unit_rows(&credence_core::Append::new(3, credence_core::Timestamp(30)), false)?,
            [("s".to_owned(), "p".to_owned())],
        );
        let (begin, rest) = group(&[unit(&rows, "a")], Lock::Wait)?;
        assert!(begin.ends_with(&format!("; {}", lock::lock_sql(7, Lock::Wait))), "{begin}");
        assert!(begin.contains("pg_advisory_xact_lock(7)"), "{begin}");
        assert!(rest.starts_with("EXECUTE credence_expect(E'a', 2, "), "{rest}");
        assert!(rest.contains("EXECUTE credence_append(E'a', 3, 30, FALSE"), "{rest}");
        assert!(rest.ends_with("; COMMIT"), "{rest}");
        let (begin, _) = group(&[unit(&rows, "a")], Lock::Try)?;
        assert!(begin.contains("; SELECT credence_check(pg_try_advisory_xact_lock(7), 'KR003'"), "{begin}");
        for how in [Lock::Try, Lock::Wait] {
            let (begin, rest) = group(&[unit(&rows, "a"), unit(&rows, "b")], how)?;
            assert!(
                begin.ends_with(
                    "; SELECT set_config('credence.locked', coalesce((SELECT string_agg(k::text, ',') \
                     FROM unnest(ARRAY[7, 7]::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)), ''), true)"
                ),
                "{begin}"
            );
            assert_eq!(
                rest,
                "EXECUTE credence_append_many(ARRAY[E'a', E'b']::text[], ARRAY[2, 2]::bigint[], \
                 ARRAY[7, 7]::bigint[], ARRAY[E'a', E'b']::text[], ARRAY[E's', E's']::text[], \
                 ARRAY[E'p', E'p']::text[], E'[{\"ag\":\"a\",\"f\":false,\"n\":0,\"s\":3,\"tx\":30},\
                 {\"ag\":\"b\",\"f\":false,\"n\":0,\"s\":3,\"tx\":30}]', E'[]', E'[]', E'[]', E'[]'); COMMIT"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit_mark_tests {
    use super::*;
    use credence_core::{
        Append, Assertion, AssertionKind, AssertionRef, ClaimRef, EdgeKind, Event, LedgerEntry, Timestamp,
    };
    use uuid::Uuid;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_unit_is_marked_by_its_first_claim_else_assertion_else_entry_else_edge() {
        let mut unit = Append::new(4, Timestamp(40));
        assert_eq!(UnitMark::of(&unit).row, UnitMarkRow::UnitOnly);
        unit.edges.push(credence_core::Edge {
            from: ClaimRef(id(1)),
            to: ClaimRef(id(2)),
            kind: EdgeKind::Corroborates,
            seq: 4,
        });
        assert!(matches!(UnitMark::of(&unit).row, UnitMarkRow::Edge { .. }));
        unit.entries.push(LedgerEntry {
            seq: 4,
            index: 0,
            claim_ref: ClaimRef(id(3)),
            event: Event::ValidityAsserted,
            disposition: credence_core::Disposition::CommittedCheap,
            rationale: serde_json::json!({"rationale": "x"}),
            recorded_at: Timestamp(40),
        });
        assert!(matches!(UnitMark::of(&unit).row, UnitMarkRow::Entry { index: 0, .. }));
        unit.assertions.push(Assertion {
            assertion_ref: AssertionRef(id(5)),
            target: ClaimRef(id(3)),
            kind: AssertionKind::Bound,
            at: Timestamp(40),
            seq: 4,
        });
        assert_eq!(UnitMark::of(&unit).row, UnitMarkRow::Assertion(AssertionRef(id(5))));
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
        let sql = unit_stored("o'k", 42, &UnitMark::of(&unit))?;
        let begin = format!("BEGIN ISOLATION LEVEL READ COMMITTED; {}; ", lock::lock_sql(42, Lock::Wait));
        assert!(sql.starts_with(&begin), "{sql}");
        assert!(begin.contains("pg_advisory_xact_lock(42)"), "{begin}");
        assert!(sql.ends_with("; COMMIT"), "{sql}");
        assert!(sql.contains("agent_id = E'o''k' AND stream_seq = 7 AND tx_time = 70"), "{sql}");
        assert!(sql.contains(&format!("claim_ref = '{}' AND event = E'ValidityAsserted'", id(9))), "{sql}");
        Ok(())
    }
}
