-- Every end of an attempt (running → anything else) is recorded by the database itself, so the
-- statement that ends an attempt needs no second round trip. `requeued` covers retries,
-- releases at shutdown and lapsed leases; `message` says which.
CREATE FUNCTION job_attempt_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events (job_id, at, event, fence, worker, message)
    VALUES (
        NEW.id,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
        CASE NEW.status WHEN 'queued' THEN 'requeued' ELSE NEW.status END,
        OLD.fence,
        OLD.worker,
        NEW.message
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER job_attempt_ended AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
EXECUTE FUNCTION job_attempt_ended();
