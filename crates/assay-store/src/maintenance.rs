//! Housekeeping: deleting old finished jobs so the tables stay small.

use std::time::Duration;

use assay_core::now_ms;

use crate::{Db, Result, Store};

/// Jobs deleted per statement: short transactions, so claims never wait long behind a prune.
pub(crate) const PRUNE_CHUNK: i64 = 1000;

impl Store {
    /// Deletes jobs that finished (done, failed or cancelled) more than `older_than` ago, and
    /// their `job_events`; queued and running jobs are never touched. Messages stay: they are
    /// what users stored, not the queue's bookkeeping. Safe to run from many workers at once.
    /// Returns how many jobs it deleted.
    pub async fn prune_finished(&self, older_than: Duration) -> Result<u64> {
        let before = now_ms() - older_than.as_millis() as i64;
        let mut pruned = 0;
        loop {
            let deleted = match &self.db {
                Db::Sqlite { write, .. } => {
                    // One writer: both statements see the same rows, in a fixed order.
                    let old =
                        "SELECT id FROM jobs WHERE status IN ('done', 'failed', 'cancelled') \
                               AND finished_at < ?1 ORDER BY finished_at, seq LIMIT ?2";
                    let mut tx = write.begin().await?;
                    sqlx::query(&format!("DELETE FROM job_events WHERE job_id IN ({old})"))
                        .bind(before)
                        .bind(PRUNE_CHUNK)
                        .execute(&mut *tx)
                        .await?;
                    let r = sqlx::query(&format!("DELETE FROM jobs WHERE id IN ({old})"))
                        .bind(before)
                        .bind(PRUNE_CHUNK)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    r.rows_affected()
                }
                Db::Postgres(db) => db.prune_finished(before).await?,
            };
            pruned += deleted;
            if deleted < PRUNE_CHUNK as u64 {
                break;
            }
        }
        if pruned > 0 {
            // Recently finished jobs are answered from memory; some of them are gone now.
            self.finished.clear();
        }
        Ok(pruned)
    }
}
