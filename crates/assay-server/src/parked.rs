//! Seed 001's promise: "if the database is slow or down, the API can still accept user
//! requests; the messages just pile up in the queue safely."
//!
//! With a broker configured, a submission of a kind that allows it (`message`) that finds the
//! database unreachable is *parked*: the whole job, with the id its client is given, is
//! published to the broker under [`PARKED_KIND`] and the API answers 202 once the broker has
//! confirmed it. Workers store parked jobs when the database answers again (idempotently, by
//! id), after which they run like any other. While the database is down the API does not ask
//! it again on every request: [`DatabaseHealth`] remembers the failure and a probe clears it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assay_broker::{Announcement, PARKED_KIND};
use assay_core::{now_ms, JobId};
use assay_store::{NewJob, ParkedJob, Store};
use tracing::{error, info, warn};

use crate::{ApiError, AppState};

/// How often a down database is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the database was found unreachable and has not answered since.
#[derive(Debug, Default)]
pub struct DatabaseHealth {
    down: AtomicBool,
}

impl DatabaseHealth {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records that a store call found the database unreachable and, once per outage, starts
    /// probing it until it answers.
    pub fn mark_down(self: &Arc<Self>, store: &Store) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        warn!("the database is unreachable; parking what can be parked until it answers");
        let health = Arc::clone(self);
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if store.check().await.is_ok() {
                    health.down.store(false, Ordering::Release);
                    info!("the database answers again");
                    return;
                }
            }
        });
    }
}

/// Publishes `job` to the broker as a parked job and returns the id its client is given.
/// Without a broker, or when the publish is not confirmed, the client is told the database
/// is unavailable: nothing was stored anywhere.
pub async fn park(state: &AppState, job: NewJob) -> Result<ParkedJob, ApiError> {
    let broker = state.broker.as_ref().ok_or(ApiError::DatabaseDown)?;
    let parked = ParkedJob {
        id: JobId::random(),
        job,
        accepted_at: now_ms(),
    };
    let announcement = Announcement {
        job_id: parked.id,
        kind: PARKED_KIND.to_owned(),
        outbox_id: 0,
        parked: Some(serde_json::to_value(&parked).map_err(|e| {
            error!(error = %e, "a parked job did not serialize");
            ApiError::DatabaseDown
        })?),
    };
    broker.publish(&announcement).await.map_err(|e| {
        error!(error = %e, "parking a job in the broker failed");
        ApiError::DatabaseDown
    })?;
    info!(job.id = %parked.id, job.kind = %parked.job.kind, "parked a job in the broker");
    Ok(parked)
}
