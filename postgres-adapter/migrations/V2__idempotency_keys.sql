-- credence PostgreSQL schema, version 2: idempotency keys (SPEC §2.4).
--
-- A write that carries an idempotency key stores one row here in its own commit unit: the key,
-- the fingerprint of its request and its first answer (JSON text). The primary key makes a key
-- unique per agent across processes, connections and restarts (a concurrent second insert
-- fails with a unique violation, the write is retried and then finds the stored answer); a unit
-- stores at most one key. Writes without a key touch no index of this table.
CREATE TABLE idempotency_keys (
    agent_id   TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    stream_seq BIGINT NOT NULL,
    request    TEXT   NOT NULL,
    answer     TEXT   NOT NULL,
    PRIMARY KEY (agent_id, key)
);
CREATE UNIQUE INDEX idempotency_keys_by_unit ON idempotency_keys (agent_id, stream_seq);
