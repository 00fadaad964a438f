//! The broker path: an outbox relay that announces queued jobs, and consumers that claim the
//! announced jobs.
//!
//! Job state stays in SQL. A store opened with the outbox writes a `job_outbox` row in the
//! same transaction as every transition to `queued`; [`relay`] publishes the rows that are due
//! and deletes them once the broker confirmed. A consumer takes one delivery per free slot,
//! claims the named job with `claim_job` (the table decides: a duplicate or late delivery claims
//! nothing), runs it, keeps the delivery alive with `progress` while it runs, and acks once
//! the outcome is committed. A crash anywhere is covered twice: the broker redelivers an
//! unacked announcement, and the lease reaper requeues the job (writing a new outbox row).

use std::sync::Arc;
use std::time::Duration;

use assay_broker::{Announcement, Broker, Delivery, Subscription};
use assay_core::{now_ms, JobStatus};
use assay_store::{Scope, Store};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info_span, warn, Instrument};

use crate::Worker;

/// Entries published per round trip of the relay.
const RELAY_BATCH: u32 = 256;

/// Publishes due outbox entries until `stop` fires; woken by enqueues in this process (and,
/// on PostgreSQL, by NOTIFY from others), otherwise every `poll`.
pub async fn relay(store: Store, broker: Arc<dyn Broker>, poll: Duration, stop: CancellationToken) {
    let wake = store.wake();
    loop {
        let mut published_all = true;
        match store.outbox_take(RELAY_BATCH).await {
            Ok(entries) => {
                let now = now_ms();
                let due: Vec<_> = entries.iter().filter(|e| e.available_at <= now).collect();
                let mut done = Vec::with_capacity(due.len());
                let publishes = due.iter().map(|e| {
                    let announcement = Announcement {
                        job_id: e.job_id,
                        kind: e.kind.clone(),
                        outbox_id: e.id,
                        parked: None,
                    };
                    let broker = Arc::clone(&broker);
                    async move { (e.id, broker.publish(&announcement).await) }
                });
                for (id, result) in futures::future::join_all(publishes).await {
                    match result {
                        Ok(()) => done.push(id),
                        Err(e) => {
                            // The row stays; the next round publishes it again.
                            warn!(error = %e, outbox_id = id, "publishing a job announcement failed");
                        }
                    }
                }
                published_all = done.len() == due.len();
                let full = entries.len() == RELAY_BATCH as usize && !done.is_empty();
                if let Err(e) = store.outbox_done(&done).await {
                    error!(error = %e, "deleting published outbox entries failed; they will be published again");
                }
                if full && published_all {
                    continue;
                }
            }
            Err(e) => error!(error = %e, "reading the outbox failed"),
        }
        let pause = if published_all {
            poll
        } else {
            poll.max(Duration::from_secs(1))
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One slot group's consumer: what it needs of the worker's run loop.
pub(crate) struct Consumer {
    pub worker: Worker,
    pub broker: Arc<dyn Broker>,
    pub kinds: Vec<&'static str>,
    pub slots: Arc<Semaphore>,
    pub freed: Arc<Notify>,
    pub hard_stop: CancellationToken,
    pub jobs: TaskTracker,
}

/// Takes deliveries for the group's kinds while a slot is free, until `stop` fires.
pub(crate) async fn consume(c: Consumer, stop: CancellationToken) {
    let Consumer {
        worker,
        broker,
        kinds,
        slots,
        freed,
        hard_stop,
        jobs,
    } = c;
    let names: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    // As many deliveries held as the group has slots: fewer would leave slots idle while
    // each delivery waits out its job's claim, run and commit.
    let prefetch = u16::try_from(slots.available_permits()).unwrap_or(u16::MAX);
    let Some(mut subscription) = subscribe(&*broker, &names, prefetch.max(1), &stop).await else {
        return;
    };
    let lease_ms = worker.config.lease.as_millis() as i64;
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.cancelled() => return,
        };
        let Some(delivery) = next_delivery(&mut *subscription, &stop).await else {
            return;
        };
        // Claimed and run in a task of its own, so claims of many deliveries overlap.
        let (this, hard_stop, freed) = (worker.clone(), hard_stop.clone(), Arc::clone(&freed));
        let kinds = kinds.clone();
        jobs.spawn(async move {
            this.claim_and_run(delivery, &kinds, lease_ms, hard_stop)
                .await;
            drop(permit);
            freed.notify_one();
        });
    }
}

/// Subscribes to `kinds`, retrying every second until it works; `None` once `stop` fires.
pub(crate) async fn subscribe(
    broker: &dyn Broker,
    kinds: &[String],
    prefetch: u16,
    stop: &CancellationToken,
) -> Option<Box<dyn Subscription>> {
    loop {
        match broker.subscribe(kinds, prefetch).await {
            Ok(s) => return Some(s),
            Err(e) => {
                error!(error = %e, ?kinds, "subscribing to the broker failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => return None,
                }
            }
        }
    }
}

/// The next delivery, waiting through receive errors; `None` once `stop` fires.
pub(crate) async fn next_delivery(
    subscription: &mut dyn Subscription,
    stop: &CancellationToken,
) -> Option<Delivery> {
    loop {
        let delivery = tokio::select! {
            d = subscription.next() => d,
            _ = stop.cancelled() => return None,
        };
        match delivery {
            Ok(d) => return Some(d),
            // The subscription reconnects (with backoff) on the next call.
            Err(e) => warn!(error = %e, "receiving from the broker failed"),
        }
    }
}

impl Worker {
    /// Claims the delivery's job and runs it, keeping the delivery alive meanwhile; settles
    /// the delivery once the outcome is committed.
    async fn claim_and_run(
        &self,
        delivery: Delivery,
        kinds: &[&'static str],
        lease_ms: i64,
        hard_stop: CancellationToken,
    ) {
        let id = delivery.announcement.job_id;
        let job = match self
            .store
            .claim_job(id, &self.config.id, lease_ms, kinds)
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return settle_unclaimed(&self.store, delivery).await,
            Err(e) => {
                error!(error = %e, job.id = %id, "claiming an announced job failed");
                let _ = delivery.nack(Duration::from_secs(1)).await;
                return;
            }
        };
        let span =
            info_span!("job", job.id = %job.id, job.kind = %job.kind, attempt = job.attempts);
        let beat = self.config.lease / 3;
        async move {
            let run = self.execute(job, hard_stop);
            tokio::pin!(run);
            let mut tick = tokio::time::interval(beat.max(Duration::from_millis(100)));
            tick.tick().await;
            loop {
                tokio::select! {
                    () = &mut run => break,
                    _ = tick.tick() => {
                        if let Err(e) = delivery.progress().await {
                            warn!(error = %e, "extending the delivery failed");
                        }
                    }
                }
            }
            // The outcome is committed (or the lease will lapse and the reaper requeue it).
            if let Err(e) = delivery.ack().await {
                warn!(error = %e, "acknowledging the delivery failed; it will be delivered again and claim nothing");
            }
        }
        .instrument(span)
        .await;
    }
}

/// A delivery whose job could not be claimed: wait for a job not yet due, drop the rest.
async fn settle_unclaimed(store: &Store, delivery: Delivery) {
    let id = delivery.announcement.job_id;
    let job = store.get_job(id, &Scope::All).await;
    let result = match job {
        Ok(Some(job)) if job.status == JobStatus::Queued && job.run_after > now_ms() => {
            let wait = Duration::from_millis((job.run_after - now_ms()).max(0) as u64);
            delivery.nack(wait).await
        }
        Ok(_) => delivery.ack().await,
        Err(e) => {
            error!(error = %e, job.id = %id, "reading an announced job failed");
            delivery.nack(Duration::from_secs(1)).await
        }
    };
    if let Err(e) = result {
        warn!(error = %e, job.id = %id, "settling a delivery failed");
    }
}
