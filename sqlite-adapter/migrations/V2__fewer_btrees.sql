-- credence SQLite schema, version 2: fewer b-trees written per commit unit.
--
-- In version 1 an ingest wrote ten b-trees: the commits, claims and ledger_entries tables and
-- seven indexes. At COMMIT every b-tree page a unit touched is one WAL frame (two writes), and
-- inside a unit's savepoint every page it touches is copied once, so the number of b-trees is
-- most of what a unit costs beyond the fsync. Version 2 writes six:
-- * commits and ledger_entries are WITHOUT ROWID tables keyed by (agent_id, stream_seq) and
--   (agent_id, stream_seq, idx): the separate unique index each needed goes.
-- * commits_by_tx_time goes: a unit's tx_time is later than its predecessor's and seqs have no
--   gaps, so the unit current at a time is found by bisecting the seqs (see read::seq_at).
-- * claims_by_seq goes: a unit's claims are stored with consecutive rowids, and its commits row
--   names the first and how many (first_claim, n_claims) — they are a rowid range.
-- claims stays a rowid table (recall looks its rows up by rowid from claims_by_line, faster than
-- by a composite key on long histories). A ledger entry is now found by its key rather than a
-- rowid, so ledger_entries_by_claim carries the columns a line's marks and the entry counts read
-- (entry_index, event, disposition, recorded_at): those reads no longer visit the table at all.
--
-- The rows are copied. This runs inside the migration transaction with foreign keys off
-- (see schema::migrate, which checks them, and that every unit's claims form its rowid range,
-- before committing): each new table is created under a temporary name, filled, the old table
-- dropped and the new one renamed, so the REFERENCES clauses of the other tables keep naming
-- `commits`.

CREATE TABLE commits_v2 (
    agent_id    TEXT    NOT NULL,
    stream_seq  INTEGER NOT NULL CHECK (stream_seq >= 1),
    tx_time     INTEGER NOT NULL,
    first_claim INTEGER,
    n_claims    INTEGER NOT NULL CHECK (n_claims >= 0),
    PRIMARY KEY (agent_id, stream_seq),
    CHECK ((n_claims = 0) = (first_claim IS NULL))
) STRICT, WITHOUT ROWID;
-- Version 1 wrote a unit's claims one after the other in one transaction: consecutive rowids.
INSERT INTO commits_v2 (agent_id, stream_seq, tx_time, first_claim, n_claims)
    SELECT u.agent_id, u.stream_seq, u.tx_time,
        (SELECT min(c.id) FROM claims c WHERE c.agent_id = u.agent_id AND c.stream_seq = u.stream_seq),
        (SELECT count(*) FROM claims c WHERE c.agent_id = u.agent_id AND c.stream_seq = u.stream_seq)
    FROM commits u;

CREATE TABLE ledger_entries_v2 (
    agent_id    TEXT    NOT NULL,
    stream_seq  INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    entry_index INTEGER NOT NULL,
    claim_ref   BLOB    NOT NULL,
    event       TEXT    NOT NULL,
    disposition TEXT    NOT NULL,
    rationale   TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, stream_seq, idx),
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT, WITHOUT ROWID;
INSERT INTO ledger_entries_v2 (agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition,
        rationale, recorded_at)
    SELECT agent_id, stream_seq, idx, entry_index, claim_ref, event, disposition, rationale, recorded_at
    FROM ledger_entries;

DROP INDEX claims_by_seq;
DROP TABLE ledger_entries;
DROP TABLE commits;
ALTER TABLE commits_v2 RENAME TO commits;
ALTER TABLE ledger_entries_v2 RENAME TO ledger_entries;

CREATE INDEX ledger_entries_by_claim ON ledger_entries (agent_id, claim_ref, stream_seq, idx, entry_index, event, disposition, recorded_at);
