-- credence PostgreSQL schema, version 5: the live claims by valid time, a summary per line,
-- and when each claim was live before.
--
-- Deciding an ingest and answering recall need only the live claims a valid-time window or
-- instant reaches, and a few facts about the whole line (SPEC §3.5). Each `live_claims` row
-- now carries what finds it by window — its start `lo` and end `hi` (NULL: unbounded), the
-- window's confidence `trust` (-1 without a start), whether the window is `short` (both ends
-- within 2^61 µs of the epoch) — its value's key, whether it is SetValued, the unit from which
-- it has been live with its disposition (`since`) and that of its first dependent review flag
-- (`flagged_from`). A claim's value key (`credence_core::liveness::value_key`, equal exactly
-- when the values are) is computed in Rust and stored with the claim. `live_lines` holds per line the number of live claims,
-- of Functional ones, of pairs of live claims with different values whose windows overlap
-- (`clashes`), and the longest short window ever live (`span`, the reach of a scan by
-- start). A trigger keeps `live_lines` in step with `live_claims`, row by row.
--
-- Older claims get their value key, and the live claims and stretches their rows, from the
-- adapter right after
-- this script, under the same migration lock, in one transaction: `credence_rebuild` names
-- what is still to build.
ALTER TABLE claims ADD COLUMN value_key BYTEA;

DROP TABLE live_claims;

CREATE TABLE live_claims (
    agent_id    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    predicate   TEXT    NOT NULL,
    claim_ref   UUID    NOT NULL,
    disposition TEXT    NOT NULL,
    flagged     BOOLEAN NOT NULL,
    value_key   BYTEA   NOT NULL,
    lo          BIGINT,
    hi          BIGINT,
    trust       REAL    NOT NULL,
    short       BOOLEAN NOT NULL,
    set_valued  BOOLEAN NOT NULL,
    since       BIGINT  NOT NULL,
    flagged_from BIGINT,
    PRIMARY KEY (agent_id, subject, predicate, claim_ref)
);

-- When each claim was live before: one row per stretch of units [from_seq, to_seq) through
-- which it was live with one disposition and has not been since (the stretch it is in now is
-- its `live_claims` row, from `since`), found by end within the line's longest stretch
-- (`live_stretches`, kept apart from `live_lines` because the statement that closes stretches
-- also fires the trigger that writes `live_lines`).
CREATE TABLE live_periods (
    agent_id     TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    predicate    TEXT   NOT NULL,
    to_seq       BIGINT NOT NULL,
    claim_ref    UUID   NOT NULL,
    from_seq     BIGINT NOT NULL,
    disposition  TEXT   NOT NULL,
    flagged_from BIGINT,
    PRIMARY KEY (agent_id, subject, predicate, to_seq, claim_ref)
);
CREATE TABLE live_stretches (
    agent_id  TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    predicate TEXT   NOT NULL,
    longest   BIGINT NOT NULL,
    PRIMARY KEY (agent_id, subject, predicate)
);
-- The windows that are not short, and the short ones a threshold may find untrusted (a
-- window's confidence is at most 1, and so is a threshold): each scanned whole, and few.
CREATE INDEX live_claims_long ON live_claims (agent_id, subject, predicate) INCLUDE (lo, hi, value_key) WHERE NOT short;
CREATE INDEX live_claims_doubt ON live_claims (agent_id, subject, predicate) INCLUDE (trust) WHERE short AND trust < 1;

-- The short windows by start, in a table of their own: its key is its only index, so no plan,
-- whatever the statistics say, reads a whole line where a range of starts will do.
CREATE TABLE live_spans (
    agent_id  TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    predicate TEXT   NOT NULL,
    lo        BIGINT NOT NULL,
    claim_ref UUID   NOT NULL,
    hi        BIGINT NOT NULL,
    value_key BYTEA  NOT NULL,
    PRIMARY KEY (agent_id, subject, predicate, lo, claim_ref)
);

CREATE TABLE live_lines (
    agent_id   TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    predicate  TEXT   NOT NULL,
    live       BIGINT NOT NULL,
    functional BIGINT NOT NULL,
    clashes    BIGINT NOT NULL,
    span       BIGINT NOT NULL,
    PRIMARY KEY (agent_id, subject, predicate)
);

-- Before each row added or removed (so the rows an earlier row of the same statement added or
-- removed are seen, and this one is not yet): the line counts it, or stops counting it, with
-- every live claim of another value its window overlaps — short ones found by start within
-- `span` before it (in `live_spans`, which it keeps), the others scanned. An insert that turns into an update of a row already
-- there (ON CONFLICT) changes no count.
CREATE FUNCTION credence_live_lines() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r live_claims;
    sign BIGINT;
    reach BIGINT;
    bound BIGINT;
    n BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        r := NEW;
        sign := 1;
        PERFORM 1 FROM live_claims l WHERE l.agent_id = r.agent_id AND l.subject = r.subject
            AND l.predicate = r.predicate AND l.claim_ref = r.claim_ref;
        IF FOUND THEN
            RETURN NEW;
        END IF;
        INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span)
            VALUES (r.agent_id, r.subject, r.predicate, 0, 0, 0, 0) ON CONFLICT DO NOTHING;
        IF r.short THEN
            UPDATE live_lines l SET span = greatest(l.span, r.hi - r.lo)
                WHERE l.agent_id = r.agent_id AND l.subject = r.subject AND l.predicate = r.predicate;
            INSERT INTO live_spans (agent_id, subject, predicate, lo, claim_ref, hi, value_key)
                VALUES (r.agent_id, r.subject, r.predicate, r.lo, r.claim_ref, r.hi, r.value_key);
        END IF;
    ELSE
        r := OLD;
        sign := -1;
        IF r.short THEN
            DELETE FROM live_spans s WHERE s.agent_id = r.agent_id AND s.subject = r.subject
                AND s.predicate = r.predicate AND s.lo = r.lo AND s.claim_ref = r.claim_ref;
        END IF;
    END IF;
    SELECT l.span INTO reach FROM live_lines l
        WHERE l.agent_id = r.agent_id AND l.subject = r.subject AND l.predicate = r.predicate;
    -- Numeric: a start near -2^63 minus the span does not overflow.
    bound := coalesce(greatest(r.lo::numeric - coalesce(reach, 0), -9223372036854775808)::bigint, -9223372036854775808);
    SELECT (SELECT count(*) FROM live_spans y
            WHERE y.agent_id = r.agent_id AND y.subject = r.subject AND y.predicate = r.predicate
            AND y.lo >= bound AND y.lo < coalesce(r.hi, 9223372036854775807)
            AND y.hi > coalesce(r.lo, -9223372036854775808)
            AND y.claim_ref <> r.claim_ref AND y.value_key <> r.value_key)
         + (SELECT count(*) FROM live_claims y
            WHERE y.agent_id = r.agent_id AND y.subject = r.subject AND y.predicate = r.predicate AND NOT y.short
            AND y.claim_ref <> r.claim_ref AND y.value_key <> r.value_key
            AND NOT ((y.hi IS NOT NULL AND r.lo IS NOT NULL AND y.hi <= r.lo)
                OR (r.hi IS NOT NULL AND y.lo IS NOT NULL AND r.hi <= y.lo)))
        INTO n;
    UPDATE live_lines l SET live = l.live + sign,
            functional = l.functional + CASE WHEN r.set_valued THEN 0 ELSE sign END,
            clashes = l.clashes + sign * n
        WHERE l.agent_id = r.agent_id AND l.subject = r.subject AND l.predicate = r.predicate;
    IF TG_OP = 'INSERT' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER live_claims_lines BEFORE INSERT OR DELETE ON live_claims
    FOR EACH ROW EXECUTE FUNCTION credence_live_lines();

CREATE TABLE credence_rebuild (what TEXT PRIMARY KEY);
INSERT INTO credence_rebuild VALUES ('live_claims');
