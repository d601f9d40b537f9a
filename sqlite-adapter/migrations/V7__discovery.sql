-- credence SQLite schema, version 7: discovery (SPEC §3.4).
--
-- `terms` holds the postings search reads: a row per term and line that a claim of the line ever
-- carried (`credence_core::terms::of_claim`: the words of its subject, predicate and value),
-- with the first unit that carried it. Written with the claim, in its commit unit; filled from
-- the claims right after this script, in the same transaction, by the adapter
-- (`terms::rebuild`): terms are computed in Rust.
--
-- `live_lines` now has a row for every line with a claim, not only for lines that had a live
-- one: a trigger adds it with the line's first claim (the live-claims triggers then update the
-- same row, so a write touches no other page), and `subjects` reads it.
CREATE TABLE terms (
    agent_id  TEXT    NOT NULL,
    term      TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    predicate TEXT    NOT NULL,
    first_seq INTEGER NOT NULL,
    PRIMARY KEY (agent_id, term, subject, predicate)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER claims_line AFTER INSERT ON claims BEGIN
    INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span)
        VALUES (NEW.agent_id, NEW.subject, NEW.predicate, 0, 0, 0, 0) ON CONFLICT DO NOTHING;
END;

INSERT INTO live_lines (agent_id, subject, predicate, live, functional, clashes, span)
    SELECT DISTINCT agent_id, subject, predicate, 0, 0, 0, 0 FROM claims WHERE true ON CONFLICT DO NOTHING;
