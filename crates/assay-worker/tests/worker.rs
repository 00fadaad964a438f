//! The worker loop against a real database, each test on SQLite and on PostgreSQL: panics,
//! retries, timeouts, cancellation, graceful shutdown and pruning.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assay_core::{
    sha256_hex, Job, JobContext, JobError, JobId, JobKind, JobStatus, Output, Registry,
};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{NewJob, Scope, Store};
use assay_worker::{Worker, WorkerConfig};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Fails (or panics) on its first `failures` attempts, then succeeds.
struct Flaky {
    name: &'static str,
    failures: u32,
    panic: bool,
    calls: Arc<AtomicU32>,
}

impl JobKind for Flaky {
    type Payload = Value;

    fn name(&self) -> &'static str {
        self.name
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    async fn run(&self, ctx: JobContext, _p: Value) -> Result<Output, JobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if ctx.attempt <= self.failures {
            if self.panic {
                panic!("kaboom on attempt {}", ctx.attempt);
            }
            return Err(JobError::retryable(format!(
                "transient fault on attempt {}",
                ctx.attempt
            )));
        }
        Ok(Output::new(json!({ "attempt": ctx.attempt })))
    }
}

struct Slow;

impl JobKind for Slow {
    type Payload = Value;

    fn name(&self) -> &'static str {
        "slow"
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(300)
    }

    async fn run(&self, _ctx: JobContext, p: Value) -> Result<Output, JobError> {
        tokio::time::sleep(Duration::from_millis(p["ms"].as_u64().unwrap_or(0))).await;
        Ok(Output::new(json!("slept")))
    }
}

/// Slow and heavy: at most `heavy_concurrency` of these run at once.
struct Crunch;

impl JobKind for Crunch {
    type Payload = Value;

    fn name(&self) -> &'static str {
        "crunch"
    }

    fn heavy(&self) -> bool {
        true
    }

    async fn run(&self, _ctx: JobContext, _p: Value) -> Result<Output, JobError> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(Output::new(json!("crunched")))
    }
}

struct Bad;

impl JobKind for Bad {
    type Payload = Value;

    fn name(&self) -> &'static str {
        "bad"
    }

    async fn run(&self, _ctx: JobContext, _p: Value) -> Result<Output, JobError> {
        Err(JobError::permanent("input can never work"))
    }
}

struct Harness {
    store: Store,
    owner: String,
    calls: Arc<AtomicU32>,
    registry: Arc<Registry>,
    _db: TestDatabase,
}

async fn harness(backend: Backend) -> Harness {
    let db = TestDatabase::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let owner = store.create_user("u", false).await.unwrap().id;
    let calls = Arc::new(AtomicU32::new(0));
    let mut registry = Registry::new();
    registry
        .register(Flaky {
            name: "flaky",
            failures: 2,
            panic: false,
            calls: calls.clone(),
        })
        .register(Flaky {
            name: "panicky",
            failures: 1,
            panic: true,
            calls: calls.clone(),
        })
        .register(Flaky {
            name: "hopeless",
            failures: 99,
            panic: false,
            calls: calls.clone(),
        })
        .register(Slow)
        .register(Crunch)
        .register(Bad);
    Harness {
        store,
        owner,
        calls,
        registry: Arc::new(registry),
        _db: db,
    }
}

fn test_config() -> WorkerConfig {
    WorkerConfig {
        poll: Duration::from_millis(10),
        retry_base: Duration::from_millis(10),
        lease: Duration::from_millis(600),
        heavy_concurrency: 1,
        ..WorkerConfig::default()
    }
}

impl Harness {
    fn worker(&self, grace_ms: u64) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        self.worker_with(WorkerConfig {
            grace: Duration::from_millis(grace_ms),
            ..test_config()
        })
    }

    fn worker_with(
        &self,
        config: WorkerConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let token = CancellationToken::new();
        let handle = tokio::spawn(
            Worker::new(self.store.clone(), self.registry.clone(), config).run(token.clone()),
        );
        (token, handle)
    }

    async fn enqueue(&self, kind: &str, input: Value) -> JobId {
        let new = NewJob {
            kind: kind.into(),
            input_sha256: sha256_hex(input.to_string().as_bytes()),
            input,
            owner: self.owner.clone(),
            priority: 0,
            max_attempts: 3,
            dedup_key: None,
            dedup_window_ms: 0,
        };
        self.store.enqueue(new).await.unwrap().0.id
    }

    async fn job(&self, id: JobId) -> Job {
        self.store.get_job(id, &Scope::All).await.unwrap().unwrap()
    }

    async fn wait_for(&self, id: JobId, status: JobStatus) -> Job {
        for _ in 0..500 {
            let job = self.job(id).await;
            if job.status == status {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job never reached {status}: {:?}", self.job(id).await);
    }
}

async fn transient_failures_are_retried_with_backoff_until_success(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let id = h.enqueue("flaky", json!({})).await;
    let job = h.wait_for(id, JobStatus::Done).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(job.result, Some(json!({"attempt": 3})));
    assert_eq!(
        job.message, None,
        "the retry notes are gone once it succeeded"
    );
    let events: Vec<String> = h
        .store
        .job_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(events, ["requeued", "requeued", "done"]);
    stop.cancel();
}

async fn retries_stop_at_max_attempts_and_the_reason_stays_visible(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let id = h.enqueue("hopeless", json!({})).await;
    let job = h.wait_for(id, JobStatus::Failed).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(
        job.message.as_deref(),
        Some("attempt 3 of 3 failed: transient fault on attempt 3")
    );
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
    stop.cancel();
}

async fn a_panic_costs_one_attempt_not_the_worker(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let id = h.enqueue("panicky", json!({})).await;
    let job = h.wait_for(id, JobStatus::Done).await;
    assert_eq!(job.attempts, 2);
    let events = h.store.job_events(id).await.unwrap();
    assert!(
        events[0]
            .3
            .as_deref()
            .unwrap()
            .contains("panicked: kaboom on attempt 1"),
        "{events:?}"
    );
    stop.cancel();
}

async fn permanent_errors_and_timeouts_fail_at_once(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let bad = h.enqueue("bad", json!({})).await;
    let slow = h.enqueue("slow", json!({"ms": 5000})).await;
    let job = h.wait_for(bad, JobStatus::Failed).await;
    assert_eq!(
        (job.attempts, job.message.as_deref()),
        (1, Some("input can never work"))
    );
    let job = h.wait_for(slow, JobStatus::Failed).await;
    assert!(job.message.unwrap().starts_with("timed_out:"));
    stop.cancel();
}

async fn heavy_jobs_respect_their_own_limit_while_light_ones_flow(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let first = h.enqueue("crunch", json!({})).await;
    let second = h.enqueue("crunch", json!({})).await;
    h.wait_for(first, JobStatus::Running).await;
    // Light work is not held up by the busy heavy slot.
    let light = h.enqueue("bad", json!({})).await;
    h.wait_for(light, JobStatus::Failed).await;
    assert_eq!(
        h.job(second).await.status,
        JobStatus::Queued,
        "one heavy slot"
    );
    let second = h.wait_for(second, JobStatus::Done).await;
    let first = h.job(first).await;
    assert!(
        second.started_at.unwrap() >= first.finished_at.unwrap(),
        "ran one after the other"
    );
    stop.cancel();
}

async fn cancelling_a_running_job_stops_it_and_keeps_cancelled(backend: Backend) {
    let h = harness(backend).await;
    let (stop, _w) = h.worker(1000);
    let id = h.enqueue("slow", json!({"ms": 250})).await;
    h.wait_for(id, JobStatus::Running).await;
    h.store.cancel(id, &Scope::All).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = h.job(id).await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(job.result.is_none(), "the stopped attempt wrote nothing");
    stop.cancel();
}

async fn shutdown_lets_running_jobs_finish_within_the_grace_period(backend: Backend) {
    let h = harness(backend).await;
    let (stop, worker) = h.worker(2_000);
    let id = h.enqueue("slow", json!({"ms": 150})).await;
    h.wait_for(id, JobStatus::Running).await;
    let queued = h.enqueue("flaky", json!({})).await;
    stop.cancel();
    worker.await.unwrap();
    assert_eq!(h.job(id).await.status, JobStatus::Done);
    // Nothing is left running: the later job is queued, or finished if claimed before the stop.
    let later = h.job(queued).await;
    assert_ne!(later.status, JobStatus::Running);
}

async fn shutdown_hands_unfinished_jobs_back_after_the_grace_period(backend: Backend) {
    let h = harness(backend).await;
    let (stop, worker) = h.worker(50);
    let id = h.enqueue("slow", json!({"ms": 280})).await;
    h.wait_for(id, JobStatus::Running).await;
    stop.cancel();
    worker.await.unwrap();
    let job = h.job(id).await;
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Queued, 0),
        "{job:?}"
    );
    let events: Vec<String> = h
        .store
        .job_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(events, ["requeued"]);
    // Another worker picks it up and finishes it.
    let (stop, _w) = h.worker(1000);
    h.wait_for(id, JobStatus::Done).await;
    stop.cancel();
}

async fn the_maintenance_task_prunes_finished_jobs(backend: Backend) {
    let h = harness(backend).await;
    let (stop, worker) = h.worker(1000);
    let finished = h.enqueue("bad", json!({})).await;
    h.wait_for(finished, JobStatus::Failed).await;
    stop.cancel();
    worker.await.unwrap();
    let queued = h.enqueue("flaky", json!({})).await;

    let (stop, _w) = h.worker_with(WorkerConfig {
        prune_after: Some(Duration::ZERO),
        ..test_config()
    });
    for _ in 0..100 {
        if h.store
            .get_job(finished, &Scope::All)
            .await
            .unwrap()
            .is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(h
        .store
        .get_job(finished, &Scope::All)
        .await
        .unwrap()
        .is_none());
    assert!(h
        .store
        .get_job(queued, &Scope::All)
        .await
        .unwrap()
        .is_some());
    stop.cancel();
}

assay_store::on_both_backends!(
    transient_failures_are_retried_with_backoff_until_success,
    retries_stop_at_max_attempts_and_the_reason_stays_visible,
    a_panic_costs_one_attempt_not_the_worker,
    permanent_errors_and_timeouts_fail_at_once,
    heavy_jobs_respect_their_own_limit_while_light_ones_flow,
    cancelling_a_running_job_stops_it_and_keeps_cancelled,
    shutdown_lets_running_jobs_finish_within_the_grace_period,
    shutdown_hands_unfinished_jobs_back_after_the_grace_period,
    the_maintenance_task_prunes_finished_jobs,
);
