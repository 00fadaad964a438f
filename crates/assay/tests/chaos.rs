//! Workers killed over and over while they drain a queue: nothing is lost and nothing is done
//! twice, on SQLite and on PostgreSQL (where every worker's database connection is also cut
//! once, mid-run).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assay_core::{sha256_hex, JobStatus};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{NewJob, Scope, Store};
use serde_json::json;

const JOBS: usize = 2000;
const KILLS: usize = 10;

/// A worker with a 1 s lease (a killed worker's jobs are requeued a second later) and 16 slots.
fn spawn_worker(data_dir: &Path, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("worker")
        .env_remove("ASSAY_CONFIG")
        .env("ASSAY_DATABASE_URL", url)
        .env("ASSAY_ENABLE_TEST_KINDS", "1")
        .env("ASSAY_LEASE_SECS", "1")
        .env("ASSAY_POLL_MS", "50")
        .env("ASSAY_WORKER_CONCURRENCY", "16")
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The worker processes, killed when the test ends, whether it passed or not.
struct Workers([Child; 2]);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.0 {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

async fn done_count(store: &Store) -> i64 {
    store
        .counts(&Scope::All)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.status == "done")
        .map(|c| c.count)
        .sum()
}

async fn drain_while_killing(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(db.url()).await.unwrap();
    let owner = store.create_user("chaos", false).await.unwrap().id;
    let enqueues = (0..JOBS).map(|i| {
        let input = json!({"ms": 200, "message": format!("job {i}")});
        store.enqueue(NewJob {
            kind: "sleep".into(),
            input_sha256: sha256_hex(input.to_string().as_bytes()),
            input,
            owner: owner.clone(),
            priority: 0,
            max_attempts: 20,
            dedup_key: None,
            dedup_window_ms: 0,
        })
    });
    let ids: HashSet<_> = futures::future::join_all(enqueues)
        .await
        .into_iter()
        .map(|r| r.unwrap().0.id)
        .collect();
    assert_eq!(ids.len(), JOBS);

    let mut workers = Workers([
        spawn_worker(dir.path(), db.url()),
        spawn_worker(dir.path(), db.url()),
    ]);
    let started = Instant::now();
    let mut kills = 0;
    while done_count(&store).await < JOBS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not drained in 60 s: {:?}",
            store.counts(&Scope::All).await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        if kills < KILLS {
            let worker = &mut workers.0[kills % 2];
            worker.kill().unwrap(); // SIGKILL: its running jobs are abandoned mid-flight
            worker.wait().unwrap();
            *worker = spawn_worker(dir.path(), db.url());
            kills += 1;
            if kills == KILLS / 2 && backend == Backend::Postgres {
                assert!(db.cut_connections().await > 0, "the workers were connected");
            }
        }
    }
    drop(workers);
    assert!(
        kills >= KILLS / 2,
        "the queue drained before the chaos began"
    );

    let mut requeued = 0;
    for &id in &ids {
        let job = store.get_job(id, &Scope::All).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Done, "{job:?}");
        let events = store.job_events(id).await.unwrap();
        let done = events.iter().filter(|e| e.0 == "done").count();
        assert_eq!(done, 1, "job {id} completed exactly once: {events:?}");
        requeued += events.iter().filter(|e| e.0 == "requeued").count();
    }
    assert!(requeued > 0, "some attempts were cut short by the kills");
    let messages = store
        .list_messages(&Scope::All, 10 * JOBS as u32)
        .await
        .unwrap();
    let stored: HashSet<_> = messages.iter().map(|m| m.job_id.parse().unwrap()).collect();
    assert_eq!(messages.len(), JOBS, "one side effect per job");
    assert_eq!(stored, ids);
    eprintln!(
        "{backend:?}: {JOBS} jobs drained through {kills} kills in {:.1?}; {requeued} attempts were requeued",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workers_killed_and_cut_off_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_workers_killed_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Sqlite).await;
}
