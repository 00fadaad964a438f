//! The table queue: claiming, leases, fencing and the end of each attempt.
//!
//! A claim moves queued rows to `running` in one `UPDATE … RETURNING`, bumping each row's
//! `fence` and giving it a lease. Every later write for that attempt — heartbeat, result,
//! failure, release — is guarded by `WHERE id = ? AND fence = ? AND status = 'running'`: once
//! the lease lapsed and another worker claimed the job (a higher fence), or the job was
//! cancelled, the stale attempt's writes match no row and are dropped.

use assay_core::{now_ms, Effect, Job, JobId, Output};

use crate::jobs::{jobs_from, JobRow, JOB_COLUMNS};
use crate::{Result, Store};

impl Store {
    /// Claims up to `limit` ready jobs of the given kinds, highest priority and oldest first.
    pub async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        let now = now_ms();
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "UPDATE jobs SET status = 'running', stage = 'analyse', fence = fence + 1, attempts = attempts + 1, \
                 worker = ?1, lease_until = ?2, started_at = COALESCE(started_at, ?3) \
             WHERE seq IN (SELECT seq FROM jobs WHERE status = 'queued' AND run_after <= ?3 \
                 AND kind IN (SELECT value FROM json_each(?4)) ORDER BY priority DESC, seq LIMIT ?5) \
             RETURNING {JOB_COLUMNS}"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(kinds)
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        let mut jobs = jobs_from(rows)?;
        jobs.sort_by_key(|j| (-j.priority, j.seq));
        Ok(jobs)
    }

    /// Extends the leases of running attempts; returns those that are no longer ours
    /// (cancelled, or reclaimed after a lapse) so the worker can stop them.
    pub async fn heartbeat(&self, attempts: &[(JobId, i64)], lease_ms: i64) -> Result<Vec<JobId>> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let until = now_ms() + lease_ms;
        let mut lost = Vec::new();
        let mut tx = self.write.begin().await?;
        for (id, fence) in attempts {
            let r = sqlx::query(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND fence = ? AND status = 'running'",
            )
            .bind(until)
            .bind(id.to_string())
            .bind(fence)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                lost.push(*id);
            }
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Records a successful attempt and applies its effects in one transaction.
    /// Returns `false` (and writes nothing) when the attempt is stale.
    pub async fn complete(&self, job: &Job, worker: &str, output: &Output) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET status = 'done', result = ?, finished_at = ?, lease_until = NULL \
             WHERE id = ? AND fence = ? AND status = 'running'",
        )
        .bind(output.result.to_string())
        .bind(now)
        .bind(job.id.to_string())
        .bind(job.fence)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        for effect in &output.effects {
            match effect {
                Effect::StoreMessage { data, template } => {
                    sqlx::query(
                        "INSERT INTO messages (job_id, owner, data, template, created_at) VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (job_id) DO NOTHING",
                    )
                    .bind(job.id.to_string())
                    .bind(&job.owner)
                    .bind(data)
                    .bind(template)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        insert_event(&mut tx, job.id, now, "done", job.fence, worker, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a failed attempt: back to `queued` until `retry_at` when given, else `failed` for good.
    pub async fn fail(
        &self,
        job: &Job,
        worker: &str,
        message: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let r = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET status = 'queued', run_after = ?, message = ?, lease_until = NULL, worker = NULL \
                 WHERE id = ? AND fence = ? AND status = 'running'",
            )
            .bind(at),
            None => sqlx::query(
                "UPDATE jobs SET status = 'failed', finished_at = ?, message = ?, lease_until = NULL \
                 WHERE id = ? AND fence = ? AND status = 'running'",
            )
            .bind(now),
        }
        .bind(message)
        .bind(job.id.to_string())
        .bind(job.fence)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        let event = if retry_at.is_some() {
            "retry"
        } else {
            "failed"
        };
        insert_event(
            &mut tx,
            job.id,
            now,
            event,
            job.fence,
            worker,
            Some(message),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Hands an unfinished attempt back to the queue without counting it (graceful shutdown).
    pub async fn release(&self, job: &Job, worker: &str) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), lease_until = NULL, worker = NULL, \
                 message = 'released by a worker that was shutting down' \
             WHERE id = ? AND fence = ? AND status = 'running'",
        )
        .bind(job.id.to_string())
        .bind(job.fence)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, job.id, now, "released", job.fence, worker, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Requeues running jobs whose lease lapsed (their worker died or hung), or fails them when
    /// that was their last attempt. Returns how many rows it changed.
    pub async fn reap_expired(&self) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let lost: Vec<(String, i64, Option<String>, String)> = sqlx::query_as(
            "UPDATE jobs SET \
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN ?1 END, \
                 message = CASE WHEN attempts >= max_attempts \
                     THEN 'worker stopped responding during the last allowed attempt (' || attempts || ' of ' || max_attempts || ')' \
                     ELSE 'worker stopped responding; requeued' END, \
                 lease_until = NULL, worker = NULL \
             WHERE status = 'running' AND lease_until < ?1 RETURNING id, fence, worker, status",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (id, fence, worker, status) in &lost {
            sqlx::query("INSERT INTO job_events (job_id, at, event, fence, worker, message) VALUES (?, ?, 'lease_expired', ?, ?, ?)")
                .bind(id)
                .bind(now)
                .bind(fence)
                .bind(worker)
                .bind(format!("now {status}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if !lost.is_empty() {
            self.wake.notify_one();
        }
        Ok(lost.len() as u64)
    }
}

async fn insert_event(
    tx: &mut sqlx::SqliteConnection,
    id: JobId,
    at: i64,
    event: &str,
    fence: i64,
    worker: &str,
    message: Option<&str>,
) -> Result<()> {
    sqlx::query("INSERT INTO job_events (job_id, at, event, fence, worker, message) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id.to_string())
        .bind(at)
        .bind(event)
        .bind(fence)
        .bind(worker)
        .bind(message)
        .execute(tx)
        .await?;
    Ok(())
}
