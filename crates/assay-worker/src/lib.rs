//! The worker: claims jobs from the table queue and runs them.
//!
//! One [`Worker`] runs up to `concurrency` jobs at once. Each job body runs in its own task
//! under the kind's timeout, so a panic or a hang costs one attempt, not the worker. A
//! heartbeat renews the leases of running attempts and stops those the store says are no
//! longer ours (cancelled, or reclaimed after a lapse); a reaper requeues attempts whose
//! worker died and, now and then, prunes long-finished jobs. On shutdown the worker stops
//! claiming, lets running jobs finish within the grace period, then hands the rest back to the
//! queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub mod broker;
mod parked;

use assay_broker::Broker;
use assay_core::{now_ms, Job, JobContext, JobError, JobId, Output, Registry};
use assay_store::Store;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, info_span, warn, Instrument};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Recorded on every claim, so operators can tell which process ran an attempt.
    pub id: String,
    /// Light jobs (add, ping, message, …) run at once; they mostly wait on the database.
    pub concurrency: usize,
    /// Heavy jobs (analyzers that use whole cores) run at once.
    pub heavy_concurrency: usize,
    /// How long a claim stays valid without a heartbeat; a dead worker's job is retried after it.
    pub lease: Duration,
    /// How often an idle worker looks for work it was not woken for (other processes' jobs, retries).
    pub poll: Duration,
    /// How long running jobs may take to finish after shutdown is requested.
    pub grace: Duration,
    /// The first retry delay; each further attempt doubles it, up to [`MAX_BACKOFF`].
    pub retry_base: Duration,
    /// Finished jobs older than this are deleted (checked every [`PRUNE_EVERY`]); `None` keeps
    /// them forever.
    pub prune_after: Option<Duration>,
}

/// How often a worker prunes finished jobs, when `prune_after` is set.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// With a broker, the table is polled this many times less often.
const BROKER_POLL_FACTOR: u32 = 20;

/// The cores this process may use: the default number of heavy slots.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: format!("worker-{}", std::process::id()),
            concurrency: 256,
            heavy_concurrency: cores(),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            grace: Duration::from_secs(25),
            retry_base: Duration::from_secs(1),
            prune_after: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// How an attempt ended, as reported to a [`JobObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    Done,
    Retry,
    Failed,
    /// Cancelled, reclaimed by another worker, or handed back at shutdown.
    Abandoned,
}

impl AttemptEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptEnd::Done => "done",
            AttemptEnd::Retry => "retry",
            AttemptEnd::Failed => "failed",
            AttemptEnd::Abandoned => "abandoned",
        }
    }
}

/// Told about every finished attempt; the server feeds its metrics from this.
pub trait JobObserver: Send + Sync {
    fn attempt_finished(&self, kind: &str, end: AttemptEnd, elapsed: Duration);
}

/// The kinds that share one pool of slots.
struct SlotGroup {
    kinds: Vec<&'static str>,
    slots: Arc<Semaphore>,
}

impl SlotGroup {
    fn new(registry: &Registry, heavy: bool, slots: usize) -> Self {
        SlotGroup {
            kinds: registry
                .kinds()
                .filter(|k| k.heavy() == heavy)
                .map(|k| k.name())
                .collect(),
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    store: Store,
    registry: Arc<Registry>,
    config: Arc<WorkerConfig>,
    observer: Option<Arc<dyn JobObserver>>,
    /// With a broker, jobs arrive as deliveries and the table is only polled as a fallback.
    broker: Option<Arc<dyn Broker>>,
    /// Running attempts by (job, fence): a job can be re-claimed by this same process while a
    /// stale attempt of it is still winding down, and the two must never be confused.
    running: Arc<Mutex<HashMap<(JobId, i64), CancellationToken>>>,
}

enum Ending {
    Finished(Result<Output, JobError>),
    Lost,
    Release,
}

impl Worker {
    pub fn new(store: Store, registry: Arc<Registry>, config: WorkerConfig) -> Self {
        Worker {
            store,
            registry,
            config: Arc::new(config),
            observer: None,
            broker: None,
            running: Arc::default(),
        }
    }

    /// Takes jobs from the broker's deliveries and relays this store's outbox to it (see
    /// [`broker`]); the store must have been opened with the outbox.
    pub fn with_broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    pub fn with_observer(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs until `shutdown` fires, then drains as described in the crate docs.
    pub async fn run(self, shutdown: CancellationToken) {
        let groups = [
            SlotGroup::new(&self.registry, false, self.config.concurrency),
            SlotGroup::new(&self.registry, true, self.config.heavy_concurrency),
        ];
        let freed = Arc::new(Notify::new());
        let hard_stop = CancellationToken::new();
        let background = CancellationToken::new();
        let jobs = TaskTracker::new();
        tokio::spawn(self.clone().maintain(background.clone()));
        let consumers = shutdown.child_token();
        if let Some(broker) = &self.broker {
            tokio::spawn(broker::relay(
                self.store.clone(),
                Arc::clone(broker),
                self.config.poll,
                background.clone(),
            ));
            tokio::spawn(parked::intake(
                self.store.clone(),
                Arc::clone(broker),
                consumers.clone(),
            ));
            for group in groups.iter().filter(|g| !g.kinds.is_empty()) {
                let consumer = broker::Consumer {
                    worker: self.clone(),
                    broker: Arc::clone(broker),
                    kinds: group.kinds.clone(),
                    slots: Arc::clone(&group.slots),
                    freed: Arc::clone(&freed),
                    hard_stop: hard_stop.clone(),
                    jobs: jobs.clone(),
                };
                tokio::spawn(broker::consume(consumer, consumers.clone()));
            }
        }
        // With a broker the table is polled only to catch what no announcement covers.
        let (poll, wake) = match self.broker {
            Some(_) => (
                self.config.poll * BROKER_POLL_FACTOR,
                Arc::new(Notify::new()),
            ),
            None => (self.config.poll, self.store.wake()),
        };
        info!(
            worker = %self.config.id,
            concurrency = self.config.concurrency,
            heavy_concurrency = self.config.heavy_concurrency,
            "worker started"
        );

        let lease_ms = self.config.lease.as_millis() as i64;
        while !shutdown.is_cancelled() {
            let mut claimed_any = false;
            for group in &groups {
                let free = group.slots.available_permits();
                if free == 0 || group.kinds.is_empty() {
                    continue;
                }
                let claimed = match self
                    .store
                    .claim(&self.config.id, &group.kinds, free as u32, lease_ms)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        error!(error = %e, "claiming jobs failed; retrying after the poll interval");
                        Vec::new()
                    }
                };
                claimed_any |= !claimed.is_empty();
                for job in claimed {
                    let Ok(permit) = Arc::clone(&group.slots).try_acquire_owned() else {
                        break;
                    };
                    let span = info_span!("job", job.id = %job.id, job.kind = %job.kind, attempt = job.attempts);
                    let (this, hard_stop, freed) =
                        (self.clone(), hard_stop.clone(), Arc::clone(&freed));
                    jobs.spawn(
                        async move {
                            this.execute(job, hard_stop).await;
                            drop(permit);
                            freed.notify_one();
                        }
                        .instrument(span),
                    );
                }
            }
            if claimed_any {
                continue;
            }
            // Wait for a slot of a full group to free, an enqueue in this process, or the poll
            // interval (other processes' jobs, due retries).
            let full = groups
                .iter()
                .any(|g| !g.kinds.is_empty() && g.slots.available_permits() == 0);
            tokio::select! {
                _ = freed.notified(), if full => {}
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.cancelled() => break,
            }
        }

        info!(
            running = jobs.len(),
            grace_secs = self.config.grace.as_secs(),
            "worker stopping: no new claims"
        );
        jobs.close();
        let drained = tokio::time::timeout(self.config.grace, jobs.wait()).await;
        if drained.is_err() {
            warn!(
                running = jobs.len(),
                "grace period over; handing unfinished jobs back to the queue"
            );
            hard_stop.cancel();
            jobs.wait().await;
        }
        background.cancel();
        info!("worker stopped");
    }

    /// Heartbeats leases, reaps lapsed ones and prunes finished jobs until `stop` fires.
    async fn maintain(self, stop: CancellationToken) {
        let beat = self.config.lease / 3;
        let mut tick = tokio::time::interval(beat.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let attempts: Vec<(JobId, i64)> = self
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .copied()
                .collect();
            match self
                .store
                .heartbeat(&attempts, self.config.lease.as_millis() as i64)
                .await
            {
                Ok(lost) => {
                    let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
                    for attempt in lost {
                        if let Some(token) = running.get(&attempt) {
                            warn!(job.id = %attempt.0, fence = attempt.1, "job is no longer ours (cancelled or reclaimed); stopping it");
                            token.cancel();
                        }
                    }
                }
                Err(e) => error!(error = %e, "lease heartbeat failed"),
            }
            if let Err(e) = self.store.reap_expired().await {
                error!(error = %e, "requeueing lapsed leases failed");
            }
            if let Some(after) = self.config.prune_after {
                if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(Instant::now());
                    match self.store.prune_finished(after).await {
                        Ok(0) => {}
                        Ok(pruned) => info!(pruned, "pruned finished jobs"),
                        Err(e) => error!(error = %e, "pruning finished jobs failed"),
                    }
                }
            }
        }
    }

    async fn execute(&self, job: Job, hard_stop: CancellationToken) {
        let started = Instant::now();
        let lost = CancellationToken::new();
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((job.id, job.fence), lost.clone());
        let ending = self.run_body(&job, &lost, &hard_stop).await;
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(job.id, job.fence));
        let end = self.record(&job, ending).await;
        if let Some(observer) = &self.observer {
            observer.attempt_finished(&job.kind, end, started.elapsed());
        }
    }

    async fn run_body(
        &self,
        job: &Job,
        lost: &CancellationToken,
        hard_stop: &CancellationToken,
    ) -> Ending {
        let kind = match self.registry.get(&job.kind) {
            Ok(kind) => Arc::clone(kind),
            Err(e) => return Ending::Finished(Err(JobError::permanent(e.to_string()))),
        };
        let ctx = JobContext {
            job_id: job.id,
            attempt: job.attempts,
            cancel: lost.child_token(),
        };
        let timeout = kind.timeout();
        // A task of its own, so a panic in the body is caught here as a JoinError.
        let mut body = tokio::spawn(kind.run(ctx.clone(), job.input.clone()));
        let ending = tokio::select! {
            joined = tokio::time::timeout(timeout, &mut body) => match joined {
                Err(_) => Ending::Finished(Err(JobError::permanent(format!(
                    "timed_out: the job did not finish within its {}s timeout", timeout.as_secs()
                )))),
                Ok(Err(e)) if e.is_panic() => Ending::Finished(Err(JobError::retryable(format!(
                    "the job panicked: {}", panic_message(e.into_panic())
                )))),
                Ok(Err(_)) => Ending::Lost,
                Ok(Ok(result)) => Ending::Finished(result),
            },
            _ = lost.cancelled() => Ending::Lost,
            _ = hard_stop.cancelled() => Ending::Release,
        };
        ctx.cancel.cancel();
        body.abort();
        ending
    }

    async fn record(&self, job: &Job, ending: Ending) -> AttemptEnd {
        let written = match ending {
            Ending::Lost => return AttemptEnd::Abandoned,
            Ending::Release => self.store.release(job).await.map(|_| AttemptEnd::Abandoned),
            Ending::Finished(Ok(output)) => self.store.complete(job, &output).await.map(|won| {
                if won {
                    AttemptEnd::Done
                } else {
                    AttemptEnd::Abandoned
                }
            }),
            Ending::Finished(Err(e)) => {
                let retry = e.can_retry() && job.attempts < job.max_attempts;
                let (message, retry_at, end) = if retry {
                    let delay = backoff(self.config.retry_base, job.attempts);
                    let msg = format!(
                        "attempt {} of {} failed: {e}; retrying in {:.1}s",
                        job.attempts,
                        job.max_attempts,
                        delay.as_secs_f64()
                    );
                    (
                        msg,
                        Some(now_ms() + delay.as_millis() as i64),
                        AttemptEnd::Retry,
                    )
                } else if e.can_retry() {
                    (
                        format!(
                            "attempt {} of {} failed: {e}",
                            job.attempts, job.max_attempts
                        ),
                        None,
                        AttemptEnd::Failed,
                    )
                } else {
                    (e.to_string(), None, AttemptEnd::Failed)
                };
                warn!(error = %e, retry, "job attempt failed");
                self.store.fail(job, &message, retry_at).await.map(|won| {
                    if won {
                        end
                    } else {
                        AttemptEnd::Abandoned
                    }
                })
            }
        };
        written.unwrap_or_else(|e| {
            // The lease will lapse and the job will be retried; nothing is lost.
            error!(error = %e, "recording the job's outcome failed");
            AttemptEnd::Abandoned
        })
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then drawn from its upper half.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(MAX_BACKOFF);
    let half = capped / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let base = Duration::from_secs(1);
        for attempt in 1..6 {
            let d = backoff(base, attempt);
            let full = base * (1 << (attempt - 1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
    }
}
