//! Jobs the API accepted while the database was unreachable (seed 001): they wait in the
//! broker as whole [`ParkedJob`]s, and a worker stores each with [`Store::insert_parked`] once
//! the database answers again.

use assay_core::{now_ms, JobId};
use serde::{Deserialize, Serialize};

use crate::{Db, NewJob, Result, Store};

/// A job with the id the API already gave its client, and when the API accepted it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParkedJob {
    pub id: JobId,
    pub job: NewJob,
    /// Unix ms; becomes the job's `created_at`, so the queue keeps the order of acceptance.
    pub accepted_at: i64,
}

impl Store {
    /// Stores a parked job as queued, due now. Inserting the same job again does nothing, so a
    /// broker that delivers it twice is harmless. Returns whether this call inserted it.
    pub async fn insert_parked(&self, parked: &ParkedJob) -> Result<bool> {
        let new = &parked.job;
        let id = parked.id.to_string();
        let input = new.input.to_string();
        let now = now_ms();
        let inserted = match &self.db {
            Db::Sqlite { write, .. } => sqlx::query(
                "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, run_after, owner, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(&new.kind)
            .bind(&input)
            .bind(&new.input_sha256)
            .bind(new.max_attempts)
            .bind(new.priority)
            .bind(now)
            .bind(&new.owner)
            .bind(parked.accepted_at)
            .execute(write)
            .await?
            .rows_affected(),
            Db::Postgres(db) => sqlx::query(
                "INSERT INTO jobs (id, kind, input, input_sha256, max_attempts, priority, run_after, owner, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(&new.kind)
            .bind(&input)
            .bind(&new.input_sha256)
            .bind(i64::from(new.max_attempts))
            .bind(i64::from(new.priority))
            .bind(now)
            .bind(&new.owner)
            .bind(parked.accepted_at)
            .execute(&db.pool)
            .await?
            .rows_affected(),
        } == 1;
        if inserted {
            self.wake.notify_one();
        }
        Ok(inserted)
    }
}
