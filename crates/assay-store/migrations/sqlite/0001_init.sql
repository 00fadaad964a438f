-- Times are Unix milliseconds; JSON is stored as text.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Only a SHA-256 of each key is kept; keys carry 238 bits of randomness, so a slow hash adds nothing.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    input        TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    stage        TEXT NOT NULL DEFAULT 'upload',
    status       TEXT NOT NULL DEFAULT 'queued',
    message      TEXT,
    result       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    run_after    INTEGER NOT NULL,
    lease_until  INTEGER,
    fence        INTEGER NOT NULL DEFAULT 0,
    worker       TEXT,
    owner        TEXT NOT NULL REFERENCES users(id),
    dedup_key    TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);

CREATE INDEX jobs_ready ON jobs (priority DESC, seq) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_owner ON jobs (owner, seq DESC);
CREATE INDEX jobs_dedup ON jobs (owner, kind, dedup_key, created_at) WHERE dedup_key IS NOT NULL;

-- One row per attempt's end (written by the trigger of 0002): the job's history, and the proof
-- in tests that a job was completed exactly once.
CREATE TABLE job_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    event   TEXT NOT NULL,
    fence   INTEGER NOT NULL,
    worker  TEXT,
    message TEXT
);

CREATE INDEX job_events_job ON job_events (job_id, id);

-- Seed 001's messages, written by the `message` job in the transaction that completes it.
CREATE TABLE messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL REFERENCES users(id),
    data       TEXT NOT NULL,
    template   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX messages_owner ON messages (owner, seq DESC);
