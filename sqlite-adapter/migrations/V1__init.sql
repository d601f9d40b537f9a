-- credence SQLite schema, version 1. One database file per agent; every table still carries
-- agent_id so the keys match the PostgreSQL layout. Times are INTEGER microseconds since the
-- Unix epoch; ids are 16-byte UUID BLOBs (memcmp order = UUID order); JSON is TEXT.
-- agent_id is the same in every row of a file, so no query may rely on it alone to narrow
-- a search (the EXPLAIN QUERY PLAN test in src/explain.rs checks this).

-- The agent this file belongs to (exactly one row; lets hashed file names list the original id).
CREATE TABLE agent (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    agent_id  TEXT NOT NULL
) STRICT;

-- One row per commit unit.
CREATE TABLE commits (
    agent_id   TEXT    NOT NULL,
    stream_seq INTEGER NOT NULL CHECK (stream_seq >= 1),
    tx_time    INTEGER NOT NULL,
    UNIQUE (agent_id, stream_seq)
) STRICT;
CREATE INDEX commits_by_tx_time ON commits (agent_id, tx_time);

CREATE TABLE claims (
    id                INTEGER PRIMARY KEY,
    agent_id          TEXT    NOT NULL,
    stream_seq        INTEGER NOT NULL,
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
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT;
CREATE INDEX claims_by_line ON claims (agent_id, subject, predicate, stream_seq, claim_ref);
CREATE INDEX claims_by_seq ON claims (agent_id, stream_seq);

-- The audit trail, keyed (agent_id, stream_seq, idx); idx is the position within the unit.
CREATE TABLE ledger_entries (
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
) STRICT;
CREATE INDEX ledger_entries_by_claim ON ledger_entries (agent_id, claim_ref, stream_seq, idx);

CREATE TABLE assertions (
    id            INTEGER PRIMARY KEY,
    agent_id      TEXT    NOT NULL,
    stream_seq    INTEGER NOT NULL,
    assertion_ref BLOB    NOT NULL,
    target        BLOB    NOT NULL,
    kind          TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT;
CREATE INDEX assertions_by_target ON assertions (agent_id, target, stream_seq, assertion_ref);
CREATE INDEX assertions_by_seq ON assertions (agent_id, stream_seq);

CREATE TABLE edges (
    id         INTEGER PRIMARY KEY,
    agent_id   TEXT    NOT NULL,
    stream_seq INTEGER NOT NULL,
    from_ref   BLOB    NOT NULL,
    to_ref     BLOB    NOT NULL,
    kind       TEXT    NOT NULL,
    UNIQUE (agent_id, from_ref, kind, to_ref),
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT;
CREATE INDEX edges_by_to ON edges (agent_id, to_ref, kind, stream_seq, from_ref);
CREATE INDEX edges_by_from ON edges (agent_id, from_ref, kind, id);
CREATE INDEX edges_by_seq ON edges (agent_id, stream_seq);

CREATE TABLE adjudications (
    id          INTEGER PRIMARY KEY,
    agent_id    TEXT    NOT NULL,
    stream_seq  INTEGER NOT NULL,
    handle      BLOB    NOT NULL UNIQUE,
    subject     TEXT    NOT NULL,
    predicate   TEXT    NOT NULL,
    challenger  BLOB    NOT NULL,
    incumbents  TEXT    NOT NULL,
    queued_at   INTEGER NOT NULL,
    expires_at  INTEGER,
    status      TEXT    NOT NULL,
    notified    INTEGER NOT NULL,
    closed_seq  INTEGER,
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT;
CREATE INDEX adjudications_open ON adjudications (agent_id, status, queued_at, handle);
CREATE INDEX adjudications_by_seq ON adjudications (agent_id, stream_seq);
CREATE INDEX adjudications_by_closed_seq ON adjudications (agent_id, closed_seq);
