//! The transactional outbox: the bridge from the jobs table to a message broker.
//!
//! A store opened with [`StoreOptions::outbox`](crate::StoreOptions) writes a `job_outbox` row
//! in the same statement as every transition to `queued`, so a job is never queued without its
//! announcement, nor announced without being queued. A relay takes the oldest rows, publishes
//! them, and deletes them with [`Store::outbox_done`]; a crash in between publishes a row twice,
//! which is harmless because the consumer claims the named job with [`Store::claim_job`], and
//! only one claim of a queued job succeeds.

use std::str::FromStr;

use assay_core::JobId;

use crate::{Db, Result, Store, StoreError};

/// A job that became queued, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub job_id: JobId,
    pub kind: String,
    /// When the job may run (Unix ms): a retry's backoff ends then.
    pub available_at: i64,
}

type OutboxRow = (i64, String, String, i64);

impl Store {
    /// The oldest `limit` unpublished entries, oldest first.
    pub async fn outbox_take(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let rows: Vec<OutboxRow> = match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query_as(
                    "SELECT id, job_id, kind, available_at FROM job_outbox ORDER BY id LIMIT ?",
                )
                .bind(limit)
                .fetch_all(write)
                .await?
            }
            Db::Postgres(db) => db.outbox_take(limit).await?,
        };
        rows.into_iter()
            .map(|(id, job_id, kind, available_at)| {
                Ok(OutboxEntry {
                    id,
                    job_id: JobId::from_str(&job_id).map_err(StoreError::Corrupt)?,
                    kind,
                    available_at,
                })
            })
            .collect()
    }

    /// Deletes published entries.
    pub async fn outbox_done(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Sqlite { write, .. } => {
                let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
                sqlx::query("DELETE FROM job_outbox WHERE id IN (SELECT value FROM json_each(?))")
                    .bind(ids)
                    .execute(write)
                    .await?;
            }
            Db::Postgres(db) => db.outbox_done(ids).await?,
        }
        Ok(())
    }
}
