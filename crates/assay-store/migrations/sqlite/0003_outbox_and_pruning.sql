-- A row per transition to `queued` (enqueue, retry, release, lapsed lease), written in the same
-- statement by the temporary triggers of stores opened with the outbox (see lib.rs), and
-- deleted once a relay has handed it to a broker.
CREATE TABLE job_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    available_at INTEGER NOT NULL
);

-- Pruning finds old finished jobs without scanning the live ones.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('done', 'failed', 'cancelled');
