-- A row per transition to `queued` (enqueue, retry, release, lapsed lease), written by the
-- trigger below when the session set `assay.outbox = on` (stores opened with the outbox), and
-- deleted once a relay has handed it to a broker.
CREATE TABLE job_outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    available_at BIGINT NOT NULL
);

-- Wakes listening workers (`LISTEN assay_jobs`, payload = kind) whenever a job becomes queued;
-- the notification is sent at commit, so a woken worker always finds the row.
CREATE FUNCTION job_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('assay_jobs', NEW.kind);
    IF current_setting('assay.outbox', true) = 'on' THEN
        INSERT INTO job_outbox (job_id, kind, available_at) VALUES (NEW.id, NEW.kind, NEW.run_after);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_queued_insert AFTER INSERT ON jobs
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION job_queued();

CREATE TRIGGER job_queued_update AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued')
EXECUTE FUNCTION job_queued();

-- Pruning finds old finished jobs without scanning the live ones.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('done', 'failed', 'cancelled');
