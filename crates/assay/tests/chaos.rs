//! Workers killed over and over while they drain a queue: nothing is lost and nothing is done
//! twice, on SQLite and on PostgreSQL (where every worker's database connection is also cut
//! once, mid-run), and on PostgreSQL with each broker (which is restarted, or has every
//! connection closed, once mid-run).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assay_core::{sha256_hex, JobStatus};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{NewJob, Scope, Store, StoreOptions};
use serde_json::json;

const JOBS: usize = 2000;
const KILLS: usize = 10;

/// A worker with a 1 s lease (a killed worker's jobs are requeued a second later) and 16 slots.
fn spawn_worker(data_dir: &Path, url: &str, broker: Option<&ChaosBroker>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    if let Some(broker) = broker {
        cmd.env("ASSAY_BROKER", &broker.url)
            .env("ASSAY_BROKER_PREFIX", &broker.prefix);
    }
    cmd.arg("--data-dir")
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

/// A broker of the test's own (NATS, Redis) that it can restart, or the shared RabbitMQ with a
/// virtual host of the test's own whose connections it can close.
struct ChaosBroker {
    url: String,
    prefix: String,
    server: Option<Child>,
    restart: Vec<String>,
    vhost: Option<String>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl").args(args).output().unwrap();
    assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
}

impl ChaosBroker {
    fn start(kind: &str) -> ChaosBroker {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("chaos{}", uuid::Uuid::new_v4().simple());
        let port = free_port();
        let (url, restart, vhost) = match kind {
            "nats" => (
                format!("nats://127.0.0.1:{port}"),
                [
                    "nats-server",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-js",
                    "-sd",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([dir.path().display().to_string()])
                .collect(),
                None,
            ),
            "redis" => (
                format!("redis://127.0.0.1:{port}"),
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([
                    "--appendonly".into(),
                    "yes".into(),
                    "--save".into(),
                    String::new(),
                    "--dir".into(),
                    dir.path().display().to_string(),
                ])
                .collect(),
                None,
            ),
            _ => {
                rabbitmqctl(&["add_vhost", &prefix]);
                rabbitmqctl(&["set_permissions", "-p", &prefix, "guest", ".*", ".*", ".*"]);
                (
                    format!("amqp://guest:guest@127.0.0.1:5672/{prefix}"),
                    Vec::new(),
                    Some(prefix.clone()),
                )
            }
        };
        let mut broker = ChaosBroker {
            url,
            prefix,
            server: None,
            restart,
            vhost,
            _dir: dir,
        };
        broker.launch(port);
        broker
    }

    fn launch(&mut self, port: u16) {
        if let Some((program, args)) = self.restart.split_first() {
            let server = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            self.server = Some(server);
            wait_port(port);
        }
    }

    /// Kills and restarts the broker, or closes every connection to the test's virtual host.
    fn disrupt(&mut self) {
        match (&mut self.server, &self.vhost) {
            (Some(server), _) => {
                server.kill().unwrap();
                server.wait().unwrap();
                let port = self.url.rsplit(':').next().unwrap().parse().unwrap();
                self.launch(port);
            }
            (None, Some(vhost)) => {
                rabbitmqctl(&["close_all_connections", "--vhost", vhost, "chaos test"]);
            }
            (None, None) => unreachable!("a broker is either ours or a virtual host"),
        }
    }
}

impl Drop for ChaosBroker {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some(vhost) = &self.vhost {
            let _ = Command::new("rabbitmqctl")
                .args(["delete_vhost", vhost])
                .output();
        }
    }
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

async fn drain_while_killing(backend: Backend, broker: Option<&str>) {
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let mut broker = broker.map(ChaosBroker::start);
    let options = StoreOptions {
        outbox: broker.is_some(),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(db.url(), &options).await.unwrap();
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
        spawn_worker(dir.path(), db.url(), broker.as_ref()),
        spawn_worker(dir.path(), db.url(), broker.as_ref()),
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
            *worker = spawn_worker(dir.path(), db.url(), broker.as_ref());
            kills += 1;
            if kills == KILLS / 2 {
                match &mut broker {
                    Some(broker) => broker.disrupt(),
                    None if backend == Backend::Postgres => {
                        assert!(db.cut_connections().await > 0, "the workers were connected");
                    }
                    None => {}
                }
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
    if let Some(broker) = &broker {
        let _ = assay_broker::remove_resources(&broker.url, &broker.prefix, &["sleep"]).await;
    }
    eprintln!(
        "{backend:?} {}: {JOBS} jobs drained through {kills} kills in {:.1?}; {requeued} attempts were requeued",
        broker.as_ref().map_or("", |b| b.url.as_str()),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workers_killed_and_cut_off_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Postgres, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_workers_killed_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_workers_killed_and_broker_restarted_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Postgres, Some("nats")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_workers_killed_and_broker_restarted_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Postgres, Some("redis")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_workers_killed_and_connections_closed_lose_nothing_and_repeat_nothing() {
    drain_while_killing(Backend::Postgres, Some("amqp")).await;
}
