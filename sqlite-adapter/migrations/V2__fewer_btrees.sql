-- credence SQLite schema, version 2: fewer b-trees written per commit unit.
--
-- In version 1 an ingest wrote ten b-trees: the commits, claims and ledger_entries tables and
-- seven indexes, two of which only made a rowid table unique by its real key (commits'
-- UNIQUE (agent_id, stream_seq) and ledger_entries' primary key). At COMMIT every b-tree page
-- a unit touched is one WAL frame (two writes), and inside a unit's savepoint every page it
-- touches is copied once, so the number of b-trees is most of what a unit costs beyond the
-- fsync. Version 2 makes commits and ledger_entries WITHOUT ROWID tables keyed by those keys:
-- eight b-trees remain. (claims stays a rowid table: recall looks its rows up by rowid from
-- claims_by_line, which is faster than by a composite key on long histories.) A ledger entry
-- is now found by its key rather than a rowid, so ledger_entries_by_claim carries the columns
-- a line's marks and the entry counts read (entry_index, event, disposition, recorded_at):
-- those reads no longer visit the table at all.
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
DROP TABLE commits;
ALTER TABLE commits_v2 RENAME TO commits;
ALTER TABLE ledger_entries_v2 RENAME TO ledger_entries;

CREATE INDEX commits_by_tx_time ON commits (agent_id, tx_time);
CREATE INDEX ledger_entries_by_claim ON ledger_entries (agent_id, claim_ref, stream_seq, idx, entry_index, event, disposition, recorded_at);
