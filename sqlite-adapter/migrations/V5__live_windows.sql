-- credence SQLite schema, version 5: the live claims by valid time, a summary per line, and
-- when each claim was live before.
--
-- Deciding an ingest and answering recall need only the live claims a valid-time window or
-- instant reaches, and a few facts about the whole line (SPEC §3.5). Each `live_claims` row
-- now carries what finds it by window — its start `lo` and end `hi` (NULL: unbounded), the
-- window's confidence `trust` (-1 without a start), whether the window is `short` (both ends
-- within 2^61 µs of the epoch) — its value's key (`credence_core::liveness::value_key`) and
-- whether it is SetValued, the unit from which it has been live with its disposition (`since`)
-- and the unit of its first dependent review flag (`flagged_from`). `live_lines` holds per line
-- the number of live claims, of Functional ones, of pairs of live claims with different values
-- whose windows overlap (`clashes`), the longest short window ever live (`span`, the reach of
-- a scan by start) and the longest stretch in `live_periods` (`period`).
-- Triggers keep `live_lines` in step with `live_claims`, row by row.
--
-- The rows are rebuilt right after this script, in the same transaction, by the adapter
-- (`live::rebuild`): the value key is computed in Rust.
DROP TABLE live_claims;

CREATE TABLE live_claims (
    agent_id    TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    predicate   TEXT    NOT NULL,
    claim_ref   BLOB    NOT NULL,
    disposition TEXT    NOT NULL,
    flagged     INTEGER NOT NULL,
    value_key   BLOB    NOT NULL,
    lo          INTEGER,
    hi          INTEGER,
    trust       REAL    NOT NULL,
    short       INTEGER NOT NULL,
    set_valued  INTEGER NOT NULL,
    since       INTEGER NOT NULL,
    flagged_from INTEGER,
    PRIMARY KEY (agent_id, subject, predicate, claim_ref)
) STRICT, WITHOUT ROWID;
-- Both cover what the clash count reads, so a trigger's scans never visit the table; the
-- triggers name them (`INDEXED BY`): planned inside a trigger, the scan of the few windows
-- that are not short otherwise reads the whole line.
CREATE INDEX live_claims_short ON live_claims (agent_id, subject, predicate, lo, hi, value_key) WHERE short;
CREATE INDEX live_claims_long ON live_claims (agent_id, subject, predicate, lo, hi, value_key) WHERE NOT short;
-- The short windows a threshold may find untrusted (a window's confidence is at most 1, and so
-- is a threshold): few, scanned whole. (The other windows are all scanned anyway.)
CREATE INDEX live_claims_doubt ON live_claims (agent_id, subject, predicate, trust) WHERE short AND trust < 1;

CREATE TABLE live_lines (
    agent_id   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    predicate  TEXT    NOT NULL,
    live       INTEGER NOT NULL,
    functional INTEGER NOT NULL,
    clashes    INTEGER NOT NULL,
    span       INTEGER NOT NULL,
    period     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, subject, predicate)
) STRICT, WITHOUT ROWID;

-- When each claim was live before: one row per stretch of units [from_seq, to_seq) through
-- which it was live with one disposition and has not been since (the stretch it is in now is
-- its `live_claims` row, from `since`). Found by end within the line's longest stretch
-- (`live_lines.period`), so a read as of an earlier unit reads what was live then.
CREATE TABLE live_periods (
    agent_id     TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    predicate    TEXT    NOT NULL,
    to_seq       INTEGER NOT NULL,
    claim_ref    BLOB    NOT NULL,
    from_seq     INTEGER NOT NULL,
    disposition  TEXT    NOT NULL,
    flagged_from INTEGER,
    PRIMARY KEY (agent_id, subject, predicate, to_seq, claim_ref)
) STRICT, WITHOUT ROWID;

-- A row added: the line counts it, and every live claim of another value its window overlaps
-- (short ones found by start within the longest short window before it, the others scanned),
-- in one upsert.
CREATE TRIGGER live_claims_added AFTER INSERT ON live_claims BEGIN
    INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span)
        VALUES (NEW.agent_id, NEW.subject, NEW.predicate, 1, NOT NEW.set_valued,
            (SELECT count(*) FROM live_claims y INDEXED BY live_claims_short
                WHERE y.agent_id = NEW.agent_id AND y.subject = NEW.subject AND y.predicate = NEW.predicate
                AND y.short AND y.lo >= coalesce(NEW.lo - (SELECT span FROM live_lines l WHERE l.agent_id = NEW.agent_id
                    AND l.subject = NEW.subject AND l.predicate = NEW.predicate), -9223372036854775807 - 1)
                AND y.lo < coalesce(NEW.hi, 9223372036854775807) AND y.hi > coalesce(NEW.lo, -9223372036854775807 - 1)
                AND y.claim_ref <> NEW.claim_ref AND y.value_key <> NEW.value_key)
            + (SELECT count(*) FROM live_claims y INDEXED BY live_claims_long
                WHERE y.agent_id = NEW.agent_id AND y.subject = NEW.subject AND y.predicate = NEW.predicate
                AND NOT y.short AND y.claim_ref <> NEW.claim_ref AND y.value_key <> NEW.value_key
                AND NOT ((y.hi IS NOT NULL AND NEW.lo IS NOT NULL AND y.hi <= NEW.lo)
                    OR (NEW.hi IS NOT NULL AND y.lo IS NOT NULL AND NEW.hi <= y.lo))),
            CASE WHEN NEW.short THEN max(NEW.hi - NEW.lo, 0) ELSE 0 END)
        ON CONFLICT DO UPDATE SET live = live + 1, functional = functional + excluded.functional,
            clashes = clashes + excluded.clashes, span = max(span, excluded.span);
END;

-- A row removed: the line stops counting it and the clashes it had with the rows still live.
CREATE TRIGGER live_claims_removed AFTER DELETE ON live_claims BEGIN
    UPDATE live_lines SET live = live - 1, functional = functional - (NOT OLD.set_valued),
        clashes = clashes
            - (SELECT count(*) FROM live_claims y INDEXED BY live_claims_short
                WHERE y.agent_id = OLD.agent_id AND y.subject = OLD.subject AND y.predicate = OLD.predicate
                AND y.short AND y.lo >= coalesce(OLD.lo - live_lines.span, -9223372036854775807 - 1)
                AND y.lo < coalesce(OLD.hi, 9223372036854775807) AND y.hi > coalesce(OLD.lo, -9223372036854775807 - 1)
                AND y.claim_ref <> OLD.claim_ref AND y.value_key <> OLD.value_key)
            - (SELECT count(*) FROM live_claims y INDEXED BY live_claims_long
                WHERE y.agent_id = OLD.agent_id AND y.subject = OLD.subject AND y.predicate = OLD.predicate
                AND NOT y.short AND y.claim_ref <> OLD.claim_ref AND y.value_key <> OLD.value_key
                AND NOT ((y.hi IS NOT NULL AND OLD.lo IS NOT NULL AND y.hi <= OLD.lo)
                    OR (OLD.hi IS NOT NULL AND y.lo IS NOT NULL AND OLD.hi <= y.lo)))
        WHERE agent_id = OLD.agent_id AND subject = OLD.subject AND predicate = OLD.predicate;
END;
