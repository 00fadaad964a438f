//! The broker path end to end: jobs queued in SQL (SQLite and PostgreSQL) are announced
//! through the outbox to each broker (NATS JetStream, Redis Streams, RabbitMQ), claimed by
//! the worker from the deliveries, retried with backoff, and completed exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assay_broker::{Broker, BrokerOptions};
use assay_core::{sha256_hex, JobContext, JobError, JobId, JobKind, JobStatus, Output, Registry};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{NewJob, Scope, Store, StoreOptions};
use assay_worker::{Worker, WorkerConfig};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Counts its runs per job; fails the first `failures` attempts of each.
struct Counted {
    name: &'static str,
    heavy: bool,
    failures: u32,
    runs: Arc<Mutex<HashMap<JobId, u32>>>,
}

impl JobKind for Counted {
    type Payload = Value;

    fn name(&self) -> &'static str {
        self.name
    }

    fn heavy(&self) -> bool {
        self.heavy
    }

    async fn run(&self, ctx: JobContext, _p: Value) -> Result<Output, JobError> {
        *self.runs.lock().unwrap().entry(ctx.job_id).or_default() += 1;
        if ctx.attempt <= self.failures {
            return Err(JobError::retryable("not yet"));
        }
        Ok(Output::new(json!({ "attempt": ctx.attempt })))
    }
}

const KINDS: [&str; 3] = ["note", "retry", "crunch"];

async fn drains_through(backend: Backend, broker_url: &str) {
    let db = TestDatabase::new(backend).await;
    let options = StoreOptions {
        outbox: true,
        ..StoreOptions::default()
    };
    let store = Store::connect_with(db.url(), &options).await.unwrap();
    let owner = store.create_user("u", false).await.unwrap().id;
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let broker: Arc<dyn Broker> = assay_broker::connect(
        broker_url,
        BrokerOptions {
            prefix: prefix.clone(),
            ack_wait: Duration::from_secs(5),
            ..BrokerOptions::default()
        },
    )
    .await
    .unwrap();

    let runs = Arc::new(Mutex::new(HashMap::new()));
    let mut registry = Registry::new();
    for (name, heavy, failures) in [("note", false, 0), ("retry", false, 2), ("crunch", true, 0)] {
        registry.register(Counted {
            name,
            heavy,
            failures,
            runs: runs.clone(),
        });
    }
    // Polling the table only every 20 s: within this test, jobs can arrive only as deliveries.
    let config = WorkerConfig {
        poll: Duration::from_secs(1),
        retry_base: Duration::from_millis(20),
        lease: Duration::from_secs(5),
        heavy_concurrency: 1,
        ..WorkerConfig::default()
    };
    let stop = CancellationToken::new();
    let worker = Worker::new(store.clone(), Arc::new(registry), config)
        .with_broker(Arc::clone(&broker))
        .run(stop.clone());
    let handle = tokio::spawn(worker);
    // Past the worker's first look at the table, which would claim without the broker.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut ids = Vec::new();
    for i in 0..120 {
        let kind = KINDS[i % 3];
        let input = json!({ "i": i });
        let new = NewJob {
            kind: kind.into(),
            input_sha256: sha256_hex(input.to_string().as_bytes()),
            input,
            owner: owner.clone(),
            priority: 0,
            max_attempts: 3,
            dedup_key: None,
            dedup_window_ms: 0,
        };
        ids.push(store.enqueue(new).await.unwrap().0.id);
    }
    for id in &ids {
        let mut job = store.get_job(*id, &Scope::All).await.unwrap().unwrap();
        for _ in 0..600 {
            if job.status == JobStatus::Done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            job = store.get_job(*id, &Scope::All).await.unwrap().unwrap();
        }
        assert_eq!(job.status, JobStatus::Done, "{job:?}");
        let done = store
            .job_events(*id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.0 == "done")
            .count();
        assert_eq!(done, 1, "job {id} completed once");
        let expected = if job.kind == "retry" { 3 } else { 1 };
        assert_eq!(runs.lock().unwrap()[id], expected, "{job:?}");
    }
    // Every announcement was published and removed from the outbox.
    for _ in 0..100 {
        if store.outbox_take(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.outbox_take(10).await.unwrap().is_empty());
    stop.cancel();
    handle.await.unwrap();
    broker.close().await.ok();
    assay_broker::remove_resources(broker_url, &prefix, &KINDS)
        .await
        .unwrap();
}

const NATS: &str = "nats://127.0.0.1:4222";
const REDIS: &str = "redis://127.0.0.1:6379";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

macro_rules! per_broker {
    ($($name:ident: $backend:ident, $url:expr;)*) => {
        $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            drains_through(Backend::$backend, $url).await
        })*
    };
}

per_broker! {
    sqlite_nats: Sqlite, NATS;
    sqlite_redis: Sqlite, REDIS;
    sqlite_amqp: Sqlite, AMQP;
    postgres_nats: Postgres, NATS;
    postgres_redis: Postgres, REDIS;
    postgres_amqp: Postgres, AMQP;
}
