use std::collections::HashSet;

use assay_core::{now_ms, Effect, Job, JobId};

use sqlx::Connection;

use super::PgDb;
use crate::jobs::{jobs_from, JobRow, JOB_COLUMNS};
use crate::maintenance::PRUNE_CHUNK;
use crate::queue::Completion;
use crate::Result;

/// What a claim sets, with `$1` the worker, `$2` the lease's end and `$3` now.
const CLAIM_SET: &str =
    "status = 'running', stage = 'analyse', fence = fence + 1, attempts = attempts + 1, \
     worker = $1, lease_until = $2, started_at = COALESCE(started_at, $3)";

impl PgDb {
    pub(crate) async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        let now = now_ms();
        // SKIP LOCKED: rows another worker is claiming right now are passed over, not waited on.
        let sql = format!(
            "UPDATE jobs SET {CLAIM_SET} \
             WHERE seq IN (SELECT seq FROM jobs WHERE status = 'queued' AND run_after <= $3 \
                 AND kind = ANY($4) ORDER BY priority DESC, seq LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        );
        let mut conn = self.claims.take().await?;
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(kinds)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        self.claims.keep(conn);
        let mut jobs = jobs_from(rows)?;
        jobs.sort_by_key(|j| (-j.priority, j.seq));
        Ok(jobs)
    }

    /// Claims the named jobs that are queued, due and of one of `kinds` (the claim batcher's
    /// writer). SKIP LOCKED: a row locked by another transaction is being claimed or cancelled
    /// by it, so it is not ours to take.
    pub(crate) async fn claim_named(
        &self,
        ids: Vec<String>,
        worker: String,
        lease_ms: i64,
        kinds: Vec<String>,
    ) -> Result<Vec<Job>> {
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET {CLAIM_SET} \
             WHERE seq IN (SELECT seq FROM jobs WHERE id = ANY($4) AND status = 'queued' \
                 AND run_after <= $3 AND kind = ANY($5) FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        );
        let mut conn = self.named_claims.take().await?;
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(ids)
            .bind(kinds)
            .fetch_all(&mut *conn)
            .await?;
        self.named_claims.keep(conn);
        jobs_from(rows)
    }

    pub(crate) async fn heartbeat(
        &self,
        attempts: &[(JobId, i64)],
        lease_ms: i64,
    ) -> Result<Vec<(JobId, i64)>> {
        let ids: Vec<String> = attempts.iter().map(|(id, _)| id.to_string()).collect();
        let fences: Vec<i64> = attempts.iter().map(|(_, fence)| *fence).collect();
        let renewed: HashSet<(String, i64)> = sqlx::query_as(
            "UPDATE jobs SET lease_until = $1 FROM UNNEST($2::text[], $3::bigint[]) AS mine(id, fence) \
             WHERE jobs.id = mine.id AND jobs.fence = mine.fence AND jobs.status = 'running' \
             RETURNING jobs.id, jobs.fence",
        )
        .bind(now_ms() + lease_ms)
        .bind(&ids)
        .bind(&fences)
        .fetch_all(&self.relaxed)
        .await?
        .into_iter()
        .collect();
        Ok(attempts
            .iter()
            .filter(|(id, fence)| !renewed.contains(&(id.to_string(), *fence)))
            .copied()
            .collect())
    }

    /// Writes a batch of completions: one fenced `UPDATE … FROM UNNEST(…)`, plus the effects of
    /// the attempts that won, in one transaction. Answers, per completion, its `finished_at`
    /// when it was written.
    pub(crate) async fn write_completions(
        &self,
        batch: Vec<Completion>,
    ) -> Result<Vec<Option<i64>>> {
        let now = now_ms();
        let ids: Vec<String> = batch.iter().map(|c| c.id.to_string()).collect();
        let fences: Vec<i64> = batch.iter().map(|c| c.fence).collect();
        let results: Vec<&str> = batch.iter().map(|c| c.result.as_str()).collect();
        let update = sqlx::query_as(
            "UPDATE jobs SET status = 'done', result = done.result, message = NULL, lease_until = NULL, finished_at = $1 \
             FROM UNNEST($2::text[], $3::bigint[], $4::text[]) AS done(id, fence, result) \
             WHERE jobs.id = done.id AND jobs.fence = done.fence AND jobs.status = 'running' \
             RETURNING jobs.id, jobs.fence",
        )
        .bind(now)
        .bind(&ids)
        .bind(&fences)
        .bind(&results);
        let has_effects = batch.iter().any(|c| !c.effects.is_empty());
        let mut conn = self.completions.take().await?;
        // Attempts are told apart by fence: two attempts of one job may share a batch.
        let won: HashSet<(String, i64)> = if has_effects {
            let mut tx = conn.begin().await?;
            let won: HashSet<(String, i64)> =
                update.fetch_all(&mut *tx).await?.into_iter().collect();
            let (mut job_ids, mut owners, mut data, mut templates) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for c in batch
                .iter()
                .filter(|c| won.contains(&(c.id.to_string(), c.fence)))
            {
                for effect in &c.effects {
                    match effect {
                        Effect::StoreMessage {
                            data: text,
                            template,
                        } => {
                            job_ids.push(c.id.to_string());
                            owners.push(c.owner.as_str());
                            data.push(text.as_str());
                            templates.push(template.as_str());
                        }
                    }
                }
            }
            sqlx::query(
                "INSERT INTO messages (job_id, owner, data, template, created_at) \
                 SELECT *, $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                 ON CONFLICT (job_id) DO NOTHING",
            )
            .bind(&job_ids)
            .bind(&owners)
            .bind(&data)
            .bind(&templates)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            won
        } else {
            update.fetch_all(&mut *conn).await?.into_iter().collect()
        };
        self.completions.keep(conn);
        Ok(batch
            .iter()
            .map(|c| won.contains(&(c.id.to_string(), c.fence)).then_some(now))
            .collect())
    }

    pub(crate) async fn fail(
        &self,
        job: &Job,
        message: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET status = 'queued', run_after = $1, message = $2, lease_until = NULL, worker = NULL \
                 WHERE id = $3 AND fence = $4 AND status = 'running'",
            )
            .bind(at),
            None => sqlx::query(
                "UPDATE jobs SET status = 'failed', finished_at = $1, message = $2, lease_until = NULL \
                 WHERE id = $3 AND fence = $4 AND status = 'running'",
            )
            .bind(now_ms()),
        };
        let r = query
            .bind(message)
            .bind(job.id.to_string())
            .bind(job.fence)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn release(&self, job: &Job) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), lease_until = NULL, worker = NULL, \
                 message = 'released by a worker that was shutting down' \
             WHERE id = $1 AND fence = $2 AND status = 'running'",
        )
        .bind(job.id.to_string())
        .bind(job.fence)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn reap_expired(&self) -> Result<u64> {
        // SKIP LOCKED: many workers reap at once; each takes the lapsed rows no other holds.
        let r = sqlx::query(
            "UPDATE jobs SET \
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN $1 END, \
                 message = CASE WHEN attempts >= max_attempts \
                     THEN 'worker stopped responding during the last allowed attempt (' || attempts || ' of ' || max_attempts || ')' \
                     ELSE 'worker stopped responding; requeued' END, \
                 lease_until = NULL, worker = NULL \
             WHERE seq IN (SELECT seq FROM jobs WHERE status = 'running' AND lease_until < $1 \
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub(crate) async fn outbox_take(&self, limit: u32) -> Result<Vec<(i64, String, String, i64)>> {
        let mut conn = self.relay.take().await?;
        let rows = sqlx::query_as(
            "SELECT id, job_id, kind, available_at FROM job_outbox ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        self.relay.keep(conn);
        Ok(rows)
    }

    pub(crate) async fn outbox_done(&self, ids: &[i64]) -> Result<()> {
        let mut conn = self.relay.take().await?;
        sqlx::query("DELETE FROM job_outbox WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut *conn)
            .await?;
        self.relay.keep(conn);
        Ok(())
    }

    /// Deletes up to one chunk of jobs that finished before `before`, with their events.
    pub(crate) async fn prune_finished(&self, before: i64) -> Result<u64> {
        let (deleted,): (i64,) = sqlx::query_as(
            "WITH gone AS ( \
                 DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs \
                     WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < $1 \
                     ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id), \
             events AS (DELETE FROM job_events WHERE job_id IN (SELECT id FROM gone)) \
             SELECT COUNT(*) FROM gone",
        )
        .bind(before)
        .bind(PRUNE_CHUNK)
        .fetch_one(&self.pool)
        .await?;
        Ok(deleted as u64)
    }
}
