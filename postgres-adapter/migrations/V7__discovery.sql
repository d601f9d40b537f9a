-- credence PostgreSQL schema, version 7: discovery (SPEC §3.4).
--
-- `lines` has a row per line with a claim, in bytewise order of subject (`COLLATE "C"`, whatever
-- the database's collation): `subjects` reads a range of it, with each line's live count from
-- `live_lines`. `terms` holds the postings search reads: a row per term and line that a claim of
-- the line ever carried (`credence_core::terms::of_claim`: the words of its subject, predicate
-- and value), with the first unit that carried it. Both are written with the claim, in its
-- commit unit (the append statement). The terms of older claims are derived by the adapter
-- right after this script, under the same migration lock, in one transaction
-- (`credence_rebuild` names it).
CREATE TABLE lines (
    agent_id  TEXT NOT NULL,
    subject   TEXT COLLATE "C" NOT NULL,
    predicate TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (agent_id, subject, predicate)
);
INSERT INTO lines (agent_id, subject, predicate) SELECT DISTINCT agent_id, subject, predicate FROM claims;

CREATE TABLE terms (
    agent_id  TEXT   NOT NULL,
    term      TEXT COLLATE "C" NOT NULL,
    subject   TEXT COLLATE "C" NOT NULL,
    predicate TEXT COLLATE "C" NOT NULL,
    first_seq BIGINT NOT NULL,
    PRIMARY KEY (agent_id, term, subject, predicate)
);

CREATE TABLE IF NOT EXISTS credence_rebuild (what TEXT PRIMARY KEY);
INSERT INTO credence_rebuild VALUES ('terms') ON CONFLICT DO NOTHING;
