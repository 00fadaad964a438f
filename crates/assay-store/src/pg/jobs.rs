use std::collections::HashMap;

use assay_core::{now_ms, Job, JobId, JobStatus};

use super::PgDb;
use crate::jobs::{jobs_from, JobRow, PositionedRow, JOB_COLUMNS};
use crate::{NewJob, Result, Scope, StatusCount, StoreError};

impl PgDb {
    /// Inserts many jobs with one statement (the enqueue batcher's writer; no dedup keys).
    pub(crate) async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
        let now = now_ms();
        let ids: Vec<String> = jobs.iter().map(|_| JobId::random().to_string()).collect();
        let mut columns = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for job in &jobs {
            columns.0.push(job.kind.as_str());
            columns.1.push(job.input.to_string());
            columns.2.push(job.input_sha256.as_str());
            columns.3.push(i64::from(job.max_attempts));
            columns.4.push(i64::from(job.priority));
            columns.5.push(job.owner.as_str());
        }
        let mut conn = self.enqueues.take().await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, owner, run_after, created_at) \
             SELECT *, $8, $8 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[]) \
             RETURNING id, seq",
        )
        .bind(&ids)
        .bind(&columns.0)
        .bind(&columns.1)
        .bind(&columns.2)
        .bind(&columns.3)
        .bind(&columns.4)
        .bind(&columns.5)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        self.enqueues.keep(conn);
        let seqs: HashMap<String, i64> = rows.into_iter().collect();
        jobs.into_iter()
            .zip(ids)
            .map(|(new, id)| {
                let seq = *seqs
                    .get(&id)
                    .ok_or_else(|| StoreError::Corrupt(format!("job {id} was not inserted")))?;
                Ok(new.into_queued(id.parse().map_err(StoreError::Corrupt)?, seq, now))
            })
            .collect()
    }

    /// One attempt at a deduplicated insert (see `Store::insert_unless_duplicate`). An advisory
    /// lock on the dedup key makes the check and the insert atomic across sessions.
    pub(crate) async fn insert_unless_duplicate(
        &self,
        new: &NewJob,
    ) -> Result<Option<(Job, bool)>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))",
        )
        .bind(&new.owner)
        .bind(&new.kind)
        .bind(&new.dedup_key)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, run_after, owner, dedup_key, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $7 \
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE owner = $8 AND kind = $2 AND dedup_key = $9 \
                 AND created_at >= $10 AND status IN ('queued', 'running', 'done')) \
             RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(JobId::random().to_string())
            .bind(&new.kind)
            .bind(new.input.to_string())
            .bind(&new.input_sha256)
            .bind(i64::from(new.max_attempts))
            .bind(i64::from(new.priority))
            .bind(now)
            .bind(&new.owner)
            .bind(&new.dedup_key)
            .bind(now - new.dedup_window_ms)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = row {
            tx.commit().await?;
            return Ok(Some((row.try_into()?, false)));
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 AND kind = $2 AND dedup_key = $3 \
             AND status IN ('queued', 'running', 'done') ORDER BY seq DESC LIMIT 1"
        );
        let existing: Option<JobRow> = sqlx::query_as(&sql)
            .bind(&new.owner)
            .bind(&new.kind)
            .bind(&new.dedup_key)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        existing.map(|row| Ok((row.try_into()?, true))).transpose()
    }

    pub(crate) async fn get_job(&self, id: JobId, scope: &Scope) -> Result<Option<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND ($2::text IS NULL OR owner = $2)"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Job::try_from).transpose()
    }

    pub(crate) async fn get_job_with_position(
        &self,
        id: JobId,
        scope: &Scope,
    ) -> Result<Option<(Job, Option<u64>)>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, CASE WHEN j.status = 'queued' THEN \
                 (SELECT COUNT(*) FROM jobs q WHERE q.status = 'queued' AND q.priority > j.priority) \
               + (SELECT COUNT(*) FROM jobs q WHERE q.status = 'queued' AND q.priority = j.priority AND q.seq < j.seq) \
             END AS position \
             FROM jobs j WHERE j.id = $1 AND ($2::text IS NULL OR j.owner = $2)"
        );
        let row: Option<PositionedRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((Job::try_from(r.job)?, r.position.map(|p| p as u64))))
            .transpose()
    }

    pub(crate) async fn list_jobs(
        &self,
        scope: &Scope,
        filter: &crate::JobFilter,
    ) -> Result<crate::JobPage> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::text IS NULL OR owner = $1) AND ($2::text IS NULL OR kind = $2) \
             AND ($3::text IS NULL OR status = $3) AND ($4::bigint IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(scope.owner())
            .bind(&filter.kind)
            .bind(filter.status.map(JobStatus::as_str))
            .bind(filter.before)
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        Ok(crate::jobs::page(jobs_from(rows)?, filter.limit))
    }

    /// The cancelled job, or `None` when it was not queued or running (or is not the caller's).
    pub(crate) async fn cancel(&self, id: JobId, scope: &Scope) -> Result<Option<Job>> {
        let sql = format!(
            "UPDATE jobs SET status = 'cancelled', message = 'cancelled by user', finished_at = $1, lease_until = NULL \
             WHERE id = $2 AND ($3::text IS NULL OR owner = $3) AND status IN ('queued', 'running') RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(now_ms())
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Job::try_from).transpose()
    }

    pub(crate) async fn counts(&self, scope: &Scope) -> Result<Vec<StatusCount>> {
        Ok(sqlx::query_as(
            "SELECT kind, status, COUNT(*) AS count FROM jobs WHERE ($1::text IS NULL OR owner = $1) \
             GROUP BY kind, status ORDER BY kind, status",
        )
        .bind(scope.owner())
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn queue_depth(&self) -> Result<Vec<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT kind, COUNT(*) FROM jobs WHERE status = 'queued' GROUP BY kind")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn job_events(
        &self,
        id: JobId,
    ) -> Result<Vec<(String, i64, Option<String>, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT event, fence, worker, message FROM job_events WHERE job_id = $1 ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }
}
