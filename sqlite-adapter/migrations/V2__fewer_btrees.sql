-- credence SQLite schema, version 2: fewer b-trees written per commit unit.
--
-- In version 1 an ingest wrote ten b-trees: the commits, claims and ledger_entries tables
-- (rowid tables) and seven indexes, two of them only there to make a rowid table unique by
-- its real key. At COMMIT every b-tree page a unit touched is one WAL frame (two writes), and
-- inside a unit's savepoint every page it touches is copied once, so the number of b-trees is
-- most of what a unit costs beyond the fsync. Version 2 keys the three tables by their real
-- keys (WITHOUT ROWID) and drops claims_by_seq: a unit's claims are now the primary-key range
-- (agent_id, stream_seq, pos), pos being the claim's position in its unit. Seven b-trees remain.
--
-- The rows are copied. This runs inside the migration transaction with foreign keys off
-- (see schema::migrate, which checks them with PRAGMA foreign_key_check before committing):
-- each new table is created under a temporary name, filled, the old table dropped and the new
-- one renamed, so the REFERENCES clauses of the other tables keep naming `commits`.

CREATE TABLE commits_v2 (
    agent_id   TEXT    NOT NULL,
    stream_seq INTEGER NOT NULL CHECK (stream_seq >= 1),
    tx_time    INTEGER NOT NULL,
    PRIMARY KEY (agent_id, stream_seq)
) STRICT, WITHOUT ROWID;
INSERT INTO commits_v2 (agent_id, stream_seq, tx_time)
    SELECT agent_id, stream_seq, tx_time FROM commits;

CREATE TABLE claims_v2 (
    agent_id          TEXT    NOT NULL,
    stream_seq        INTEGER NOT NULL,
    pos               INTEGER NOT NULL CHECK (pos >= 0),
    claim_ref         BLOB    NOT NULL UNIQUE,
    tx_time           INTEGER NOT NULL,
    subject           TEXT    NOT NULL,
    predicate         TEXT    NOT NULL,
    value             TEXT    NOT NULL,
    provenance        TEXT    NOT NULL,
    cardinality       TEXT    NOT NULL,
    confidence        REAL    NOT NULL,
    criticality       TEXT    NOT NULL,
    has_valid_time    INTEGER NOT NULL,
    vt_start          INTEGER,
    vt_end            INTEGER,
    vt_confidence     REAL,
    vt_start_granularity TEXT,
    vt_end_granularity   TEXT,
    derived_from      TEXT    NOT NULL,
    depends_on        TEXT    NOT NULL,
    PRIMARY KEY (agent_id, stream_seq, pos),
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT, WITHOUT ROWID;
-- Version 1 gave a unit's claims increasing ids in the unit's order.
INSERT INTO claims_v2 (agent_id, stream_seq, pos, claim_ref, tx_time, subject, predicate, value,
        provenance, cardinality, confidence, criticality, has_valid_time, vt_start, vt_end,
        vt_confidence, vt_start_granularity, vt_end_granularity, derived_from, depends_on)
    SELECT agent_id, stream_seq, row_number() OVER (PARTITION BY agent_id, stream_seq ORDER BY id) - 1,
        claim_ref, tx_time, subject, predicate, value, provenance, cardinality, confidence,
        criticality, has_valid_time, vt_start, vt_end, vt_confidence, vt_start_granularity,
        vt_end_granularity, derived_from, depends_on
    FROM claims;

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

DROP TABLE ledger_entries;
DROP TABLE claims;
DROP TABLE commits;
ALTER TABLE commits_v2 RENAME TO commits;
ALTER TABLE claims_v2 RENAME TO claims;
ALTER TABLE ledger_entries_v2 RENAME TO ledger_entries;

CREATE INDEX commits_by_tx_time ON commits (agent_id, tx_time);
CREATE INDEX claims_by_line ON claims (agent_id, subject, predicate, stream_seq, claim_ref);
CREATE INDEX ledger_entries_by_claim ON ledger_entries (agent_id, claim_ref, stream_seq, idx);
