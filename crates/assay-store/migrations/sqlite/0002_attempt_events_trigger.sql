-- Every end of an attempt (running → anything else) is recorded by the database itself, so the
-- statement that ends an attempt needs no second round trip. `requeued` covers retries,
-- releases at shutdown and lapsed leases; `message` says which.
CREATE TRIGGER job_attempt_ended AFTER UPDATE OF status ON jobs
WHEN OLD.status = 'running' AND NEW.status <> 'running'
BEGIN
    INSERT INTO job_events (job_id, at, event, fence, worker, message)
    VALUES (
        NEW.id,
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
        CASE NEW.status WHEN 'queued' THEN 'requeued' ELSE NEW.status END,
        OLD.fence,
        OLD.worker,
        NEW.message
    );
END;
