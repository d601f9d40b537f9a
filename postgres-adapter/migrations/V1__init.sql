-- credence PostgreSQL schema, version 1.
-- Every table is keyed by agent_id; every time is BIGINT microseconds since the Unix epoch.
-- Rows are append-only except adjudications.status / closed_seq / notified.

CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY
);

-- One row per commit unit: the OCC backstop UNIQUE(agent_id, stream_seq) lives here.
CREATE TABLE units (
    agent_id   TEXT   NOT NULL,
    stream_seq BIGINT NOT NULL CHECK (stream_seq > 0),
    tx_time    BIGINT NOT NULL,
    CONSTRAINT units_agent_seq_unique UNIQUE (agent_id, stream_seq)
);
CREATE INDEX units_by_tx_time ON units (agent_id, tx_time, stream_seq);

CREATE TABLE claims (
    agent_id              TEXT     NOT NULL,
    claim_ref             UUID     NOT NULL,
    stream_seq            BIGINT   NOT NULL,
    ord                   INTEGER  NOT NULL,
    subject               TEXT     NOT NULL,
    predicate             TEXT     NOT NULL,
    value                 TEXT     NOT NULL,
    provenance            TEXT     NOT NULL,
    cardinality           TEXT     NOT NULL,
    confidence            REAL     NOT NULL,
    criticality           TEXT     NOT NULL,
    has_valid_time        BOOLEAN  NOT NULL,
    vt_start              BIGINT,
    vt_end                BIGINT,
    vt_confidence         REAL,
    vt_start_granularity  TEXT,
    vt_end_granularity    TEXT,
    tx_time               BIGINT   NOT NULL,
    derived_from          UUID[]   NOT NULL,
    depends_on            UUID[]   NOT NULL,
    PRIMARY KEY (agent_id, claim_ref)
);
CREATE INDEX claims_by_line ON claims (agent_id, subject, predicate, stream_seq, claim_ref);
CREATE INDEX claims_by_unit ON claims (agent_id, stream_seq, ord);

CREATE TABLE entries (
    agent_id     TEXT    NOT NULL,
    stream_seq   BIGINT  NOT NULL,
    idx          BIGINT  NOT NULL,
    ord          INTEGER NOT NULL,
    claim_ref    UUID    NOT NULL,
    event        TEXT    NOT NULL,
    disposition  TEXT    NOT NULL,
    rationale    TEXT    NOT NULL,
    recorded_at  BIGINT  NOT NULL,
    PRIMARY KEY (agent_id, stream_seq, idx)
);
CREATE INDEX entries_by_claim ON entries (agent_id, claim_ref, stream_seq, idx);

CREATE TABLE assertions (
    agent_id       TEXT    NOT NULL,
    stream_seq     BIGINT  NOT NULL,
    ord            INTEGER NOT NULL,
    assertion_ref  UUID    NOT NULL,
    target         UUID    NOT NULL,
    kind           TEXT    NOT NULL,
    at             BIGINT  NOT NULL,
    PRIMARY KEY (agent_id, stream_seq, ord)
);
CREATE INDEX assertions_by_target ON assertions (agent_id, target, stream_seq, assertion_ref);

CREATE TABLE edges (
    agent_id    TEXT    NOT NULL,
    from_ref    UUID    NOT NULL,
    to_ref      UUID    NOT NULL,
    kind        TEXT    NOT NULL,
    stream_seq  BIGINT  NOT NULL,
    ord         INTEGER NOT NULL,
    PRIMARY KEY (agent_id, from_ref, to_ref, kind)
);
CREATE INDEX edges_by_target ON edges (agent_id, to_ref, kind, stream_seq, from_ref);
CREATE INDEX edges_by_unit ON edges (agent_id, stream_seq, ord);

CREATE TABLE adjudications (
    agent_id    TEXT    NOT NULL,
    handle      UUID    NOT NULL,
    stream_seq  BIGINT  NOT NULL,
    ord         INTEGER NOT NULL,
    subject     TEXT    NOT NULL,
    predicate   TEXT    NOT NULL,
    challenger  UUID    NOT NULL,
    incumbents  UUID[]  NOT NULL,
    queued_at   BIGINT  NOT NULL,
    expires_at  BIGINT,
    status      TEXT    NOT NULL,
    notified    BOOLEAN NOT NULL,
    closed_seq  BIGINT,
    PRIMARY KEY (agent_id, handle)
);
CREATE INDEX adjudications_by_unit ON adjudications (agent_id, stream_seq, ord);
CREATE INDEX adjudications_by_closing ON adjudications (agent_id, closed_seq) WHERE closed_seq IS NOT NULL;
CREATE INDEX adjudications_open ON adjudications (agent_id, queued_at, handle) WHERE status = 'pending';
