use std::str::FromStr;

use assay_core::{now_ms, Job, JobId, JobStatus, Stage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::{parse_json, Db, Result, Scope, Store, StoreError};

/// A job as the API submits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewJob {
    pub kind: String,
    pub input: Value,
    pub input_sha256: String,
    pub owner: String,
    pub priority: i32,
    pub max_attempts: u32,
    /// With a key, an unfinished or successful job of the same owner, kind and key created
    /// within `dedup_window_ms` is returned instead of inserting a new one.
    pub dedup_key: Option<String>,
    pub dedup_window_ms: i64,
}

impl NewJob {
    /// The job as its insert stored it: queued, due at `now`, numbered `seq`.
    pub(crate) fn into_queued(self, id: JobId, seq: i64, now: i64) -> Job {
        Job {
            id,
            seq,
            kind: self.kind,
            input: self.input,
            input_sha256: self.input_sha256,
            stage: Stage::Upload,
            status: JobStatus::Queued,
            message: None,
            result: None,
            attempts: 0,
            max_attempts: self.max_attempts,
            priority: self.priority,
            run_after: now,
            lease_until: None,
            fence: 0,
            worker: None,
            owner: self.owner,
            dedup_key: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub kind: Option<String>,
    pub status: Option<JobStatus>,
    pub limit: u32,
    /// Only jobs older than this `seq` (the page cursor).
    pub before: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatusCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    Cancelled(Job),
    AlreadyFinished(Job),
    NotFound,
}

pub(crate) const JOB_COLUMNS: &str = "seq, id, kind, input, input_sha256, stage, status, message, result, attempts, \
     max_attempts, priority, run_after, lease_until, fence, worker, owner, dedup_key, created_at, started_at, finished_at";

#[derive(sqlx::FromRow)]
pub(crate) struct PositionedRow {
    #[sqlx(flatten)]
    pub(crate) job: JobRow,
    pub(crate) position: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    seq: i64,
    id: String,
    kind: String,
    input: String,
    input_sha256: String,
    stage: String,
    status: String,
    message: Option<String>,
    result: Option<String>,
    attempts: i64,
    max_attempts: i64,
    priority: i64,
    run_after: i64,
    lease_until: Option<i64>,
    fence: i64,
    worker: Option<String>,
    owner: String,
    dedup_key: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Job> {
        Ok(Job {
            id: JobId::from_str(&r.id).map_err(StoreError::Corrupt)?,
            seq: r.seq,
            kind: r.kind,
            input: parse_json(&r.input, "job input")?,
            input_sha256: r.input_sha256,
            stage: Stage::from_str(&r.stage).map_err(StoreError::Corrupt)?,
            status: JobStatus::from_str(&r.status).map_err(StoreError::Corrupt)?,
            message: r.message,
            result: r
                .result
                .as_deref()
                .map(|t| parse_json(t, "job result"))
                .transpose()?,
            attempts: r.attempts as u32,
            max_attempts: r.max_attempts as u32,
            priority: r.priority as i32,
            run_after: r.run_after,
            lease_until: r.lease_until,
            fence: r.fence,
            worker: r.worker,
            owner: r.owner,
            dedup_key: r.dedup_key,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

/// Inserts many jobs with one statement (the enqueue batcher's writer; no dedup keys).
pub(crate) async fn insert_jobs(pool: SqlitePool, jobs: Vec<NewJob>) -> Result<Vec<Job>> {
    let now = now_ms();
    let ids: Vec<JobId> = jobs.iter().map(|_| JobId::random()).collect();
    let mut sql = QueryBuilder::<Sqlite>::new(
        "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, run_after, owner, created_at) ",
    );
    sql.push_values(jobs.iter().zip(&ids), |mut row, (job, id)| {
        row.push_bind(id.to_string())
            .push_bind(&job.kind)
            .push_bind(job.input.to_string())
            .push_bind(&job.input_sha256)
            .push_bind(job.max_attempts)
            .push_bind(job.priority)
            .push_bind(now)
            .push_bind(&job.owner)
            .push_bind(now);
    });
    // No RETURNING: every row is known here but its `seq`, and one statement holding the write
    // lock numbers its rows consecutively, ending at the last insert rowid. Streaming the rows
    // back would cost a channel message per row.
    let done = sql.build().execute(&pool).await?;
    let count = jobs.len() as i64;
    if done.rows_affected() as i64 != count {
        return Err(StoreError::Corrupt(format!(
            "inserted {} of {count} jobs",
            done.rows_affected()
        )));
    }
    let first_seq = done.last_insert_rowid() - count + 1;
    Ok(jobs
        .into_iter()
        .zip(ids)
        .zip(first_seq..)
        .map(|((new, id), seq)| new.into_queued(id, seq, now))
        .collect())
}

/// A page of `limit` jobs from `limit + 1` fetched: the extra one says whether more follow.
pub(crate) fn page(mut jobs: Vec<Job>, limit: u32) -> JobPage {
    let next_cursor = if jobs.len() > limit as usize {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| j.seq)
    } else {
        None
    };
    JobPage { jobs, next_cursor }
}

pub(crate) fn jobs_from(rows: Vec<JobRow>) -> Result<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

impl Store {
    /// Stores a new job, or returns the recent duplicate it matches (`true` = deduplicated).
    pub async fn enqueue(&self, new: NewJob) -> Result<(Job, bool)> {
        if new.dedup_key.is_none() {
            let job = self.enqueues.submit(new).await?;
            self.wake.notify_one();
            return Ok((job, false));
        }
        // The duplicate found may fail or be cancelled before it is read back; then try again.
        for _ in 0..3 {
            if let Some(found) = self.insert_unless_duplicate(&new).await? {
                return Ok(found);
            }
        }
        Err(StoreError::Conflict(
            "the job's duplicate kept changing state; submit it again".into(),
        ))
    }

    /// One attempt at a deduplicated insert: the new job, the recent duplicate, or `None` when
    /// the duplicate that suppressed the insert no longer qualifies.
    async fn insert_unless_duplicate(&self, new: &NewJob) -> Result<Option<(Job, bool)>> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => {
                let found = db.insert_unless_duplicate(new).await?;
                if matches!(found, Some((_, false))) {
                    self.wake.notify_one();
                }
                return Ok(found);
            }
        };
        let now = now_ms();
        let id = JobId::random().to_string();
        // One statement, so the duplicate check and the insert are atomic across processes.
        let sql = format!(
            "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, run_after, owner, dedup_key, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7 \
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE owner = ?8 AND kind = ?2 AND dedup_key = ?9 \
                 AND created_at >= ?10 AND status IN ('queued', 'running', 'done')) \
             RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(&id)
            .bind(&new.kind)
            .bind(new.input.to_string())
            .bind(&new.input_sha256)
            .bind(new.max_attempts)
            .bind(new.priority)
            .bind(now)
            .bind(&new.owner)
            .bind(&new.dedup_key)
            .bind(now - new.dedup_window_ms)
            .fetch_optional(write)
            .await?;
        if let Some(row) = row {
            self.wake.notify_one();
            return Ok(Some((row.try_into()?, false)));
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? AND kind = ? AND dedup_key = ? \
             AND status IN ('queued', 'running', 'done') ORDER BY seq DESC LIMIT 1"
        );
        let existing: Option<JobRow> = sqlx::query_as(&sql)
            .bind(&new.owner)
            .bind(&new.kind)
            .bind(&new.dedup_key)
            .fetch_optional(write)
            .await?;
        existing.map(|row| Ok((row.try_into()?, true))).transpose()
    }

    pub async fn get_job(&self, id: JobId, scope: &Scope) -> Result<Option<Job>> {
        if let Some(job) = self.finished.get(id, scope) {
            return Ok(Some(job));
        }
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.get_job(id, scope).await,
        };
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(read)
            .await?;
        row.map(Job::try_from).transpose()
    }

    /// A job and, while it is queued, how many queued jobs will be claimed before it (0 = next);
    /// one query, so a status poll costs one round trip.
    pub async fn get_job_with_position(
        &self,
        id: JobId,
        scope: &Scope,
    ) -> Result<Option<(Job, Option<u64>)>> {
        if let Some(job) = self.finished.get(id, scope) {
            return Ok(Some((job, None)));
        }
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.get_job_with_position(id, scope).await,
        };
        // Two range scans of the ready index; one `OR` would make SQLite scan it whole.
        let sql = format!(
            "SELECT {JOB_COLUMNS}, CASE WHEN j.status = 'queued' THEN \
                 (SELECT COUNT(*) FROM jobs q WHERE q.status = 'queued' AND q.priority > j.priority) \
               + (SELECT COUNT(*) FROM jobs q WHERE q.status = 'queued' AND q.priority = j.priority AND q.seq < j.seq) \
             END AS position \
             FROM jobs j WHERE j.id = ?1 AND (?2 IS NULL OR j.owner = ?2)"
        );
        let row: Option<PositionedRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(read)
            .await?;
        row.map(|r| Ok((Job::try_from(r.job)?, r.position.map(|p| p as u64))))
            .transpose()
    }

    /// Jobs newest first, one page at a time.
    pub async fn list_jobs(&self, scope: &Scope, filter: &JobFilter) -> Result<JobPage> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.list_jobs(scope, filter).await,
        };
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR kind = ?2) \
             AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR seq < ?4) ORDER BY seq DESC LIMIT ?5"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(scope.owner())
            .bind(&filter.kind)
            .bind(filter.status.map(JobStatus::as_str))
            .bind(filter.before)
            .bind(filter.limit + 1)
            .fetch_all(read)
            .await?;
        Ok(page(jobs_from(rows)?, filter.limit))
    }

    /// Cancels a queued or running job; a running attempt loses its lease and its result is discarded.
    pub async fn cancel(&self, id: JobId, scope: &Scope) -> Result<CancelOutcome> {
        let write = match &self.db {
            Db::Sqlite { write, .. } => write,
            Db::Postgres(db) => {
                return match db.cancel(id, scope).await? {
                    Some(job) => Ok(CancelOutcome::Cancelled(job)),
                    None => Ok(match self.get_job(id, scope).await? {
                        Some(job) => CancelOutcome::AlreadyFinished(job),
                        None => CancelOutcome::NotFound,
                    }),
                }
            }
        };
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET status = 'cancelled', message = 'cancelled by user', finished_at = ?1, lease_until = NULL \
             WHERE id = ?2 AND (?3 IS NULL OR owner = ?3) AND status IN ('queued', 'running') RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(id.to_string())
            .bind(scope.owner())
            .fetch_optional(write)
            .await?;
        if let Some(row) = row {
            return Ok(CancelOutcome::Cancelled(row.try_into()?));
        }
        Ok(match self.get_job(id, scope).await? {
            Some(job) => CancelOutcome::AlreadyFinished(job),
            None => CancelOutcome::NotFound,
        })
    }

    /// Job counts by kind and status.
    pub async fn counts(&self, scope: &Scope) -> Result<Vec<StatusCount>> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.counts(scope).await,
        };
        Ok(sqlx::query_as(
            "SELECT kind, status, COUNT(*) AS count FROM jobs WHERE (?1 IS NULL OR owner = ?1) \
             GROUP BY kind, status ORDER BY kind, status",
        )
        .bind(scope.owner())
        .fetch_all(read)
        .await?)
    }

    /// Queued jobs per kind, for the queue-depth gauge.
    pub async fn queue_depth(&self) -> Result<Vec<(String, i64)>> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.queue_depth().await,
        };
        Ok(
            sqlx::query_as("SELECT kind, COUNT(*) FROM jobs WHERE status = 'queued' GROUP BY kind")
                .fetch_all(read)
                .await?,
        )
    }

    /// The end-of-attempt history of a job, oldest first: `(event, fence, worker, message)`.
    pub async fn job_events(
        &self,
        id: JobId,
    ) -> Result<Vec<(String, i64, Option<String>, Option<String>)>> {
        let read = match &self.db {
            Db::Sqlite { read, .. } => read,
            Db::Postgres(db) => return db.job_events(id).await,
        };
        Ok(sqlx::query_as(
            "SELECT event, fence, worker, message FROM job_events WHERE job_id = ? ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(read)
        .await?)
    }
}
