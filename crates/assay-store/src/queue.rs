//! The table queue: claiming, leases, fencing and the end of each attempt.
//!
//! A claim moves queued rows to `running` in one `UPDATE … RETURNING`, bumping each row's
//! `fence` and giving it a lease. Every later write for that attempt — heartbeat, result,
//! failure, release — is guarded by `WHERE id = ? AND fence = ? AND status = 'running'`: once
//! the lease lapsed and another worker claimed the job (a higher fence), or the job was
//! cancelled, the stale attempt's writes match no row and are dropped. The end of every
//! attempt is recorded in `job_events` by a trigger, inside the same statement.

use std::collections::{HashMap, HashSet};

use assay_core::{now_ms, Effect, Job, JobId, JobStatus, Output, Stage};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::jobs::{jobs_from, JobRow, JOB_COLUMNS};
use crate::{Db, Result, Store};

/// What a claim sets, with `?1` the worker, `?2` the lease's end and `?3` now.
pub(crate) const CLAIM_SET: &str =
    "status = 'running', stage = 'analyse', fence = fence + 1, attempts = attempts + 1, \
     worker = ?1, lease_until = ?2, started_at = COALESCE(started_at, ?3)";

/// A claim of one named job, waiting for the claim batcher.
pub(crate) struct ClaimById {
    pub(crate) id: JobId,
    pub(crate) worker: String,
    pub(crate) lease_ms: i64,
    pub(crate) kinds: Vec<String>,
}

/// Claims a batch of named jobs: one statement per (worker, lease, kinds) among the requests
/// (in practice one: each consumer claims for its own slot group). A job named twice in a
/// batch is given to the first request only.
pub(crate) async fn claim_by_id<F, Fut>(batch: Vec<ClaimById>, claim: F) -> Result<Vec<Option<Job>>>
where
    F: Fn(Vec<String>, String, i64, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Job>>>,
{
    let mut answers: Vec<Option<Job>> = batch.iter().map(|_| None).collect();
    let mut todo: Vec<usize> = (0..batch.len()).collect();
    while let Some(&first) = todo.first() {
        let key = &batch[first];
        let (group, rest): (Vec<usize>, Vec<usize>) = todo.iter().partition(|&&i| {
            let c = &batch[i];
            c.worker == key.worker && c.lease_ms == key.lease_ms && c.kinds == key.kinds
        });
        let ids = group.iter().map(|&i| batch[i].id.to_string()).collect();
        let mut claimed: HashMap<JobId, Job> =
            claim(ids, key.worker.clone(), key.lease_ms, key.kinds.clone())
                .await?
                .into_iter()
                .map(|job| (job.id, job))
                .collect();
        for i in group {
            answers[i] = claimed.remove(&batch[i].id);
        }
        todo = rest;
    }
    Ok(answers)
}

/// A successful attempt waiting to be written by the completion batcher.
pub(crate) struct Completion {
    pub(crate) id: JobId,
    pub(crate) fence: i64,
    pub(crate) owner: String,
    pub(crate) result: String,
    pub(crate) effects: Vec<Effect>,
}

impl Store {
    /// Claims up to `limit` ready jobs of the given kinds, highest priority and oldest first.
    pub async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Job>> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => return db.claim(worker, kinds, limit, lease_ms).await,
        };
        let now = now_ms();
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "UPDATE jobs SET {CLAIM_SET} \
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
            .fetch_all(write)
            .await?;
        let mut jobs = jobs_from(rows)?;
        jobs.sort_by_key(|j| (-j.priority, j.seq));
        Ok(jobs)
    }

    /// Claims one named job if it is queued, due and of one of `kinds` (a broker delivery
    /// names a job; the table decides whether it may run). `None` when it may not: already
    /// claimed, finished, cancelled or not yet due. Concurrent calls are claimed together, in
    /// one statement.
    pub async fn claim_job(
        &self,
        id: JobId,
        worker: &str,
        lease_ms: i64,
        kinds: &[&str],
    ) -> Result<Option<Job>> {
        self.claims
            .submit(ClaimById {
                id,
                worker: worker.to_owned(),
                lease_ms,
                kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            })
            .await
    }

    /// Extends the leases of running attempts, given as (job, fence); returns those that are no
    /// longer ours (cancelled, or reclaimed after a lapse) so the worker can stop them.
    pub async fn heartbeat(
        &self,
        attempts: &[(JobId, i64)],
        lease_ms: i64,
    ) -> Result<Vec<(JobId, i64)>> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => return db.heartbeat(attempts, lease_ms).await,
        };
        let until = now_ms() + lease_ms;
        let mut sql = QueryBuilder::<Sqlite>::new("WITH mine(id, fence) AS (");
        sql.push_values(attempts, |mut row, (id, fence)| {
            row.push_bind(id.to_string()).push_bind(*fence);
        });
        sql.push(") UPDATE jobs SET lease_until = ")
            .push_bind(until)
            .push(" FROM mine WHERE jobs.id = mine.id AND jobs.fence = mine.fence AND jobs.status = 'running' RETURNING jobs.id, jobs.fence");
        let renewed: HashSet<(String, i64)> = sql
            .build_query_as()
            .fetch_all(write)
            .await?
            .into_iter()
            .collect();
        Ok(attempts
            .iter()
            .filter(|(id, fence)| !renewed.contains(&(id.to_string(), *fence)))
            .copied()
            .collect())
    }

    /// Records a successful attempt and applies its effects atomically. Returns `false` (and
    /// writes nothing) when the attempt is stale: reclaimed by another worker, or cancelled.
    pub async fn complete(&self, job: &Job, output: &Output) -> Result<bool> {
        let completion = Completion {
            id: job.id,
            fence: job.fence,
            owner: job.owner.clone(),
            result: output.result.to_string(),
            effects: output.effects.clone(),
        };
        let Some(finished_at) = self.completions.submit(completion).await? else {
            return Ok(false);
        };
        // A finished job never changes again: status polls can be answered from memory.
        self.finished.put(Job {
            status: JobStatus::Done,
            stage: Stage::Analyse,
            result: Some(output.result.clone()),
            message: None,
            lease_until: None,
            finished_at: Some(finished_at),
            ..job.clone()
        });
        Ok(true)
    }

    /// Ends a failed attempt: back to `queued` until `retry_at` when given, else `failed` for good.
    pub async fn fail(&self, job: &Job, message: &str, retry_at: Option<i64>) -> Result<bool> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => return db.fail(job, message, retry_at).await,
        };
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET status = 'queued', run_after = ?, message = ?, lease_until = NULL, worker = NULL \
                 WHERE id = ? AND fence = ? AND status = 'running'",
            )
            .bind(at),
            None => sqlx::query(
                "UPDATE jobs SET status = 'failed', finished_at = ?, message = ?, lease_until = NULL \
                 WHERE id = ? AND fence = ? AND status = 'running'",
            )
            .bind(now_ms()),
        };
        let r = query
            .bind(message)
            .bind(job.id.to_string())
            .bind(job.fence)
            .execute(write)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Hands an unfinished attempt back to the queue without counting it (graceful shutdown).
    pub async fn release(&self, job: &Job) -> Result<bool> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => return db.release(job).await,
        };
        let r = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), lease_until = NULL, worker = NULL, \
                 message = 'released by a worker that was shutting down' \
             WHERE id = ? AND fence = ? AND status = 'running'",
        )
        .bind(job.id.to_string())
        .bind(job.fence)
        .execute(write)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Requeues running jobs whose lease lapsed (their worker died or hung), or fails them when
    /// that was their last attempt. Returns how many rows it changed.
    pub async fn reap_expired(&self) -> Result<u64> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => {
                let reaped = db.reap_expired().await?;
                if reaped > 0 {
                    self.wake.notify_one();
                }
                return Ok(reaped);
            }
        };
        let r = sqlx::query(
            "UPDATE jobs SET \
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN ?1 END, \
                 message = CASE WHEN attempts >= max_attempts \
                     THEN 'worker stopped responding during the last allowed attempt (' || attempts || ' of ' || max_attempts || ')' \
                     ELSE 'worker stopped responding; requeued' END, \
                 lease_until = NULL, worker = NULL \
             WHERE status = 'running' AND lease_until < ?1",
        )
        .bind(now_ms())
        .execute(write)
        .await?;
        if r.rows_affected() > 0 {
            self.wake.notify_one();
        }
        Ok(r.rows_affected())
    }
}

/// Writes a batch of completions: one fenced `UPDATE … FROM (VALUES …)`, plus the effects of
/// the attempts that won, in one transaction. Answers, per completion, its `finished_at` when
/// it was written.
pub(crate) async fn write_completions(
    pool: SqlitePool,
    batch: Vec<Completion>,
) -> Result<Vec<Option<i64>>> {
    let now = now_ms();
    let mut sql = QueryBuilder::<Sqlite>::new("WITH done(id, fence, result) AS (");
    sql.push_values(&batch, |mut row, c| {
        row.push_bind(c.id.to_string())
            .push_bind(c.fence)
            .push_bind(&c.result);
    });
    sql.push(") UPDATE jobs SET status = 'done', result = done.result, message = NULL, lease_until = NULL, finished_at = ")
        .push_bind(now)
        .push(
            " FROM done WHERE jobs.id = done.id AND jobs.fence = done.fence AND jobs.status = 'running' \
             RETURNING jobs.id, jobs.fence",
        );
    // Attempts are told apart by fence: two attempts of one job may share a batch.
    let answers = |won: &HashSet<(String, i64)>| -> Vec<Option<i64>> {
        batch
            .iter()
            .map(|c| won.contains(&(c.id.to_string(), c.fence)).then_some(now))
            .collect()
    };
    if batch.iter().all(|c| c.effects.is_empty()) {
        // One statement is its own transaction; BEGIN and COMMIT would be two more round trips.
        // Without effects the rows need not come back: when every attempt won (the usual
        // case) the count says so, and only otherwise are the winners looked up.
        let written = sql.build().execute(&pool).await?.rows_affected();
        if written as usize == batch.len() {
            return Ok(vec![Some(now); batch.len()]);
        }
        let mut check = QueryBuilder::<Sqlite>::new(
            "SELECT id, fence FROM jobs WHERE status = 'done' AND id IN (",
        );
        let mut ids = check.separated(", ");
        for c in &batch {
            ids.push_bind(c.id.to_string());
        }
        check.push(")");
        let won: HashSet<(String, i64)> = check
            .build_query_as()
            .fetch_all(&pool)
            .await?
            .into_iter()
            .collect();
        return Ok(answers(&won));
    }
    let mut tx = pool.begin().await?;
    let won: HashSet<(String, i64)> = sql
        .build_query_as()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    for c in batch
        .iter()
        .filter(|c| won.contains(&(c.id.to_string(), c.fence)))
    {
        for effect in &c.effects {
            match effect {
                Effect::StoreMessage { data, template } => {
                    sqlx::query(
                        "INSERT INTO messages (job_id, owner, data, template, created_at) VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (job_id) DO NOTHING",
                    )
                    .bind(c.id.to_string())
                    .bind(&c.owner)
                    .bind(data)
                    .bind(template)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(answers(&won))
}

/// SQLite's half of [`claim_by_id`]: claims the named jobs that are queued and due.
pub(crate) async fn claim_named(
    pool: &SqlitePool,
    ids: Vec<String>,
    worker: String,
    lease_ms: i64,
    kinds: Vec<String>,
) -> Result<Vec<Job>> {
    let now = now_ms();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let kinds = serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "UPDATE jobs SET {CLAIM_SET} \
         WHERE id IN (SELECT value FROM json_each(?4)) AND status = 'queued' AND run_after <= ?3 \
             AND kind IN (SELECT value FROM json_each(?5)) \
         RETURNING {JOB_COLUMNS}"
    );
    let rows: Vec<JobRow> = sqlx::query_as(&sql)
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(ids)
        .bind(kinds)
        .fetch_all(pool)
        .await?;
    jobs_from(rows)
}
