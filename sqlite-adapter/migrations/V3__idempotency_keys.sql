-- credence SQLite schema, version 3: idempotency keys (SPEC §2.4).
--
-- A write that carries an idempotency key stores one row here in its own commit unit: the key,
-- the fingerprint of its request and its first answer (JSON). The primary key makes a key
-- unique per agent across processes and restarts; a unit stores at most one key. Writes without
-- a key touch no b-tree of this table.
CREATE TABLE idempotency_keys (
    agent_id   TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    stream_seq INTEGER NOT NULL,
    request    TEXT    NOT NULL,
    answer     TEXT    NOT NULL,
    PRIMARY KEY (agent_id, key),
    UNIQUE (agent_id, stream_seq),
    FOREIGN KEY (agent_id, stream_seq) REFERENCES commits (agent_id, stream_seq)
) STRICT, WITHOUT ROWID;
