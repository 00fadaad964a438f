-- The SQLite schema's twin. Times are Unix milliseconds (BIGINT); JSON is stored as text, as
-- the store only ever reads and writes it whole.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    is_admin   BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL
);

-- Only a SHA-256 of each key is kept; keys carry 238 bits of randomness, so a slow hash adds nothing.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE jobs (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    input        TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    stage        TEXT NOT NULL DEFAULT 'upload',
    status       TEXT NOT NULL DEFAULT 'queued',
    message      TEXT,
    result       TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    priority     BIGINT NOT NULL DEFAULT 0,
    run_after    BIGINT NOT NULL,
    lease_until  BIGINT,
    fence        BIGINT NOT NULL DEFAULT 0,
    worker       TEXT,
    owner        TEXT NOT NULL REFERENCES users(id),
    dedup_key    TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);

CREATE INDEX jobs_ready ON jobs (priority DESC, seq) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_owner ON jobs (owner, seq DESC);
CREATE INDEX jobs_dedup ON jobs (owner, kind, dedup_key, created_at) WHERE dedup_key IS NOT NULL;

-- One row per attempt's end (written by the trigger of 0002): the job's history, and the proof
-- in tests that a job was completed exactly once.
CREATE TABLE job_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  TEXT NOT NULL,
    at      BIGINT NOT NULL,
    event   TEXT NOT NULL,
    fence   BIGINT NOT NULL,
    worker  TEXT,
    message TEXT
);

CREATE INDEX job_events_job ON job_events (job_id, id);

-- Seed 001's messages, written by the `message` job in the transaction that completes it.
CREATE TABLE messages (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL REFERENCES users(id),
    data       TEXT NOT NULL,
    template   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX messages_owner ON messages (owner, seq DESC);
