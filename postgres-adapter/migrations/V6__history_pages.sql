-- credence PostgreSQL schema, version 6: a line's history read a page at a time.
--
-- A history page lists a line's claims in canonical order (SPEC §3.1): by the start of the
-- claim's trusted window, else by its transaction time, then transaction time, seq and id.
-- Transaction time grows with the unit, so the claims ordered by `claims_by_line` (seq, id)
-- are in canonical order among those keyed by their transaction time; `claims_by_start` holds
-- the claims with a window start in the order of the others (start, seq, id), with the window's
-- confidence so a scan can tell a trusted window without visiting the row. A page reads a range
-- of each and merges them (`sql::PAGE_BY_START`, `sql::PAGE_BY_TX`).
CREATE INDEX claims_by_start ON claims (agent_id, subject, predicate, vt_start, stream_seq, claim_ref)
    INCLUDE (vt_confidence) WHERE vt_start IS NOT NULL;
