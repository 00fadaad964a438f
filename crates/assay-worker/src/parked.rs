//! Stores the jobs the API parked in the broker while the database was down (seed 001).
//!
//! The intake takes deliveries of [`PARKED_KIND`] only while the database answers: it inserts
//! each job with the id its client was given ([`Store::insert_parked`], a no-op for a job
//! already stored, so redeliveries are harmless) and acks after the commit. When the database
//! stops answering it gives the delivery back, drops its subscription (a prefetch of one: no
//! other delivery is held, and counted as delivered, while nothing can be stored), and waits
//! for the database.

use std::sync::Arc;
use std::time::Duration;

use assay_broker::{Broker, Delivery, Subscription, PARKED_KIND};
use assay_store::{ParkedJob, Store};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::broker::{next_delivery, subscribe};

/// How often a down database is probed, and how long a delivery given back waits.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Runs until `stop` fires.
pub async fn intake(store: Store, broker: Arc<dyn Broker>, stop: CancellationToken) {
    loop {
        while let Err(e) = store.check().await {
            if !e.is_unavailable() {
                error!(error = %e, "checking the database before storing parked jobs failed");
            }
            if pause(&stop).await {
                return;
            }
        }
        let Some(subscription) = subscribe(&*broker, &[PARKED_KIND.to_owned()], 1, &stop).await
        else {
            return;
        };
        if !drain(&store, subscription, &stop).await {
            return;
        }
    }
}

/// Sleeps for [`RETRY_EVERY`]; true when `stop` fired meanwhile.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(RETRY_EVERY) => false,
        _ = stop.cancelled() => true,
    }
}

/// Stores deliveries until the database stops answering (false: `stop` fired).
async fn drain(
    store: &Store,
    mut subscription: Box<dyn Subscription>,
    stop: &CancellationToken,
) -> bool {
    loop {
        let Some(delivery) = next_delivery(&mut *subscription, stop).await else {
            return false;
        };
        if !store_one(store, delivery).await {
            return true;
        }
    }
}

/// Stores one parked job and settles its delivery; false when the database is unreachable.
async fn store_one(store: &Store, delivery: Delivery) -> bool {
    let parked = delivery
        .announcement
        .parked
        .clone()
        .ok_or_else(|| "the delivery carries no job".to_owned())
        .and_then(|v| serde_json::from_value::<ParkedJob>(v).map_err(|e| e.to_string()));
    let parked = match parked {
        Ok(p) => p,
        Err(e) => {
            error!(error = %e, job.id = %delivery.announcement.job_id, "dropping an unreadable parked job");
            settle(delivery.ack().await);
            return true;
        }
    };
    match store.insert_parked(&parked).await {
        Ok(inserted) => {
            if inserted {
                info!(job.id = %parked.id, job.kind = %parked.job.kind, "stored a parked job");
            }
            settle(delivery.ack().await);
            true
        }
        Err(e) if e.is_unavailable() => {
            warn!(error = %e, job.id = %parked.id, "the database is unreachable; a parked job waits in the broker");
            settle(delivery.nack(RETRY_EVERY).await);
            false
        }
        Err(e) => {
            // Not something a retry mends (its owner was deleted, say): kept in the log.
            error!(error = %e, job.id = %parked.id, job = ?parked.job, "a parked job cannot be stored; dropping it");
            settle(delivery.ack().await);
            true
        }
    }
}

fn settle(result: Result<(), assay_broker::BrokerError>) {
    if let Err(e) = result {
        // Unsettled, the delivery comes again; storing it again does nothing.
        warn!(error = %e, "settling a parked job's delivery failed");
    }
}
