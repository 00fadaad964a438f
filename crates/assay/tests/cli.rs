//! The `assay` binary as a user runs it: separate processes, signals, a shared SQLite file.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assay_core::{sha256_hex, Job, JobId, JobStatus};
use assay_store::testing::{Backend, TestDatabase};
use assay_store::{NewJob, Scope, Store};
use serde_json::{json, Value};

fn assay(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("ASSAY_CONFIG")
        .env_remove("ASSAY_DATABASE_URL");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the assay binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A worker process that runs the `sleep` kind, with a 1 s lease so a dead one is noticed fast.
fn spawn_worker(data_dir: &Path) -> Child {
    assay(data_dir)
        .arg("worker")
        .env("ASSAY_ENABLE_TEST_KINDS", "1")
        .env("ASSAY_LEASE_SECS", "1")
        .env("ASSAY_POLL_MS", "50")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_until(store: &Store, id: JobId, what: &str, done: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store.get_job(id, &Scope::All).await.unwrap().unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job never became {what}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_nothing_and_the_job_completes_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("assay.db")).await.unwrap();
    let owner = store.create_user("alice", false).await.unwrap().id;
    let input = json!({"ms": 2500});
    let (job, _) = store
        .enqueue(NewJob {
            kind: "sleep".into(),
            input_sha256: sha256_hex(input.to_string().as_bytes()),
            input,
            owner,
            priority: 0,
            max_attempts: 3,
            dedup_key: None,
            dedup_window_ms: 0,
        })
        .await
        .unwrap();

    let mut doomed = spawn_worker(dir.path());
    wait_until(&store, job.id, "running", |j| {
        j.status == JobStatus::Running
    })
    .await;
    doomed.kill().unwrap(); // SIGKILL: no chance to release the job
    doomed.wait().unwrap();

    let mut survivor = spawn_worker(dir.path());
    let done = wait_until(&store, job.id, "finished", |j| j.status.is_finished()).await;
    survivor.kill().unwrap();
    survivor.wait().unwrap();

    assert_eq!(done.status, JobStatus::Done, "{done:?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.fence, 2);
    let result = done.result.unwrap();
    assert_eq!(
        result["pid"],
        survivor.id(),
        "the result is the second worker's"
    );
    let events: Vec<(String, i64)> = store
        .job_events(job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.0, e.1))
        .collect();
    assert_eq!(
        events,
        [("requeued".to_owned(), 1), ("done".to_owned(), 2)],
        "completed exactly once"
    );
}

#[tokio::test]
async fn serve_drains_running_jobs_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(assay(dir.path()).args(["user", "create", "alice"]))
        .status
        .success());
    let key = stdout(&run(
        assay(dir.path()).args(["apikey", "create", "--user", "alice"])
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = assay(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ASSAY_ENABLE_TEST_KINDS", "1")
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let submitted: Value = client
        .post(format!("{base}/api/v1/tasks/sleep"))
        .bearer_auth(&key)
        .json(&json!({"ms": 800}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: JobId = submitted["task_id"].as_str().unwrap().parse().unwrap();
    let store = Store::open(&dir.path().join("assay.db")).await.unwrap();
    wait_until(&store, id, "running", |j| j.status == JobStatus::Running).await;

    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "serve exits cleanly: {status:?}");
    let job = store.get_job(id, &Scope::All).await.unwrap().unwrap();
    assert_eq!(
        job.status,
        JobStatus::Done,
        "the running job finished before exit"
    );
}

#[test]
fn run_prints_results_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(assay(dir.path()).args(["run", "add", "2,3"]));
    assert!(out.status.success());
    assert_eq!(stdout(&out), "5");
    let out = run(assay(dir.path()).args(["run", "add", r#"{"x":2,"y":3}"#, "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        json!({"value": 5})
    );
    let out = run(assay(dir.path()).args(["run", "ping", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        json!({"value": "pong"})
    );
    let csv = dir.path().join("small.csv");
    std::fs::write(&csv, "id,price\n1,9.5\n2,10.5\n").unwrap();
    let out = run(assay(dir.path()).args(["run", "csv", csv.to_str().unwrap(), "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["columns"][1]["mean"].as_f64()
        ),
        (Some(2), Some(10.0))
    );
    let out = run(assay(dir.path()).args(["run", "csv", csv.to_str().unwrap()]));
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("price"),
        "a human summary: {}",
        stdout(&out)
    );
    let missing = run(assay(dir.path()).args(["run", "csv", "/nonexistent.csv"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Failed to read csv file"));
    let png = dir.path().join("disc.png");
    let disc = image::RgbImage::from_fn(120, 100, |x, y| {
        let d = (x as f32 - 60.0).powi(2) + (y as f32 - 50.0).powi(2);
        if d <= 25.0 * 25.0 {
            image::Rgb([0, 0, 0])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    disc.save(&png).unwrap();
    let out = run(assay(dir.path()).args(["run", "image", png.to_str().unwrap(), "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found["objects"].as_array().unwrap().len(), 1, "{found}");
    assert!((found["objects"][0]["radius"].as_f64().unwrap() - 25.0).abs() < 2.0);
    let out = run(assay(dir.path())
        .args(["run", "image", png.to_str().unwrap()])
        .env("ASSAY_CIRCLES_MODE", "dummy"));
    assert!(stdout(&out).contains("dummy mode"), "{}", stdout(&out));
    let out = run(assay(dir.path())
        .args(["run", "image", "x.png"])
        .env("ASSAY_CIRCLES_MODE", "real"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MODEL_SERVER_URL"));
    let out = run(assay(dir.path()).args(["run", "message", "hello", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["data"],
        "hello"
    );

    for (args, needle) in [
        (vec!["run", "add", "2"], "two integers"),
        (
            vec!["run", "add", "9223372036854775807,1"],
            "value_out_of_range",
        ),
        (
            vec!["run", "nope", "1"],
            "valid kinds are: add, csv, image, message, package, ping",
        ),
    ] {
        let out = run(assay(dir.path()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn users_keys_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(assay(dir.path()).arg("migrate")).status.success());
    assert!(
        run(assay(dir.path()).args(["user", "create", "root", "--admin"]))
            .status
            .success()
    );
    let again = run(assay(dir.path()).args(["user", "create", "root"]));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let key = stdout(&run(
        assay(dir.path()).args(["apikey", "create", "--user", "root"])
    ));
    assert!(key.starts_with("assay_"));
    let missing = run(assay(dir.path()).args(["apikey", "create", "--user", "ghost"]));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user named \"ghost\""));

    let bad = run(assay(dir.path())
        .arg("migrate")
        .env("ASSAY_LEASE_SECS", "zero"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr)
        .to_lowercase()
        .contains("lease_secs"));
}

#[tokio::test]
async fn commands_use_the_database_url_and_never_print_its_password() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let with_db = |args: &[&str]| {
        run(assay(dir.path())
            .args(args)
            .env("ASSAY_DATABASE_URL", db.url()))
    };
    let migrated = with_db(&["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    assert!(stdout(&migrated).contains("postgres://"));
    assert!(with_db(&["user", "create", "root", "--admin"])
        .status
        .success());
    assert!(stdout(&with_db(&["apikey", "create", "--user", "root"])).starts_with("assay_"));
    let store = Store::connect(db.url()).await.unwrap();
    assert!(store.find_user("root").await.unwrap().unwrap().is_admin);
    assert!(
        !dir.path().join("assay.db").exists(),
        "no SQLite file was made"
    );

    let bad = run(assay(dir.path())
        .arg("migrate")
        .env("ASSAY_DATABASE_URL", "mysql://root:hunter2@db/x"));
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("database_url") && !err.contains("hunter2"),
        "{err}"
    );
}
