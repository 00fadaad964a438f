//! The test harness: the real router bound to port 0, a real SQLite database, a file store
//! and (optionally) an in-process worker, with three users: alice, bob and an admin.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::sync::Arc;
use std::time::Duration;

use assay_blob::BlobStore;
use assay_jobs::{CirclesMode, FileAccess, KindsConfig, PackageConfig};
use assay_server::{AppState, Limits, Metrics};
use assay_store::Store;
use assay_worker::{Worker, WorkerConfig};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub alice: String,
    pub bob: String,
    pub admin: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn start(with_worker: bool) -> TestApp {
        Self::start_with(with_worker, CirclesMode::Builtin).await
    }

    pub async fn start_with(with_worker: bool, circles_mode: CirclesMode) -> TestApp {
        Self::start_full(with_worker, circles_mode, PackageConfig::default()).await
    }

    pub async fn start_full(
        with_worker: bool,
        circles_mode: CirclesMode,
        package: PackageConfig,
    ) -> TestApp {
        let model_server = match &circles_mode {
            CirclesMode::Real(server) => Some(server.clone()),
            _ => None,
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("assay.db")).await.unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let registry = Arc::new(assay_jobs::registry(&KindsConfig {
            test_kinds: true,
            files: FileAccess {
                blobs: Some(blobs.clone()),
                local_files: false,
            },
            csv_max_bytes: 1 << 20,
            circles_mode,
            image_limits: assay_circles::Limits {
                max_bytes: 1 << 20,
                ..assay_circles::Limits::default()
            },
            package,
        }));
        let metrics = Arc::new(Metrics::default());
        let shutdown = CancellationToken::new();
        if with_worker {
            let config = WorkerConfig {
                poll: Duration::from_millis(20),
                retry_base: Duration::from_millis(10),
                ..WorkerConfig::default()
            };
            let worker = Worker::new(store.clone(), Arc::clone(&registry), config)
                .with_observer(metrics.clone());
            tokio::spawn(worker.run(shutdown.clone()));
        }
        let mut keys = Vec::new();
        for (name, admin) in [("alice", false), ("bob", false), ("root", true)] {
            store.create_user(name, admin).await.unwrap();
            keys.push(store.create_api_key(name).await.unwrap().secret);
        }
        let state = AppState {
            store,
            blobs,
            registry,
            metrics,
            limits: Arc::new(Limits {
                json_body_bytes: 4096,
                csv_max_bytes: 1 << 20,
                image_max_bytes: 1 << 20,
                package_max_bytes: 1 << 20,
            }),
            model_server,
            broker: None,
            decode_slots: Arc::new(tokio::sync::Semaphore::new(2)),
            database: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, assay_server::router(state))
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        let [alice, bob, admin] = keys.try_into().unwrap();
        TestApp {
            base,
            client: Client::new(),
            alice,
            bob,
            admin,
            shutdown,
            _dir: dir,
        }
    }

    /// Files in the blob store.
    pub fn stored_blobs(&self) -> usize {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                count(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        count(&self._dir.path().join("blobs"))
    }

    pub fn get(&self, path: &str, key: &str) -> RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    /// GETs `path` with `key` and reads the JSON answer, whatever its status.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.get(path, key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs `body` as JSON to `path` with `key`.
    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> Response {
        self.post(path, key).json(body).send().await.unwrap()
    }

    pub fn post(&self, path: &str, key: &str) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    pub async fn submit(&self, kind: &str, body: Value, key: &str) -> String {
        let r = self
            .post_json(&format!("/api/v1/tasks/{kind}"), key, &body)
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "queued");
        let id = body["task_id"].as_str().unwrap().to_owned();
        assert_eq!(body["status_url"], format!("/api/v1/task/{id}/"));
        id
    }

    pub async fn wait_finished(&self, id: &str, key: &str) -> Value {
        for _ in 0..500 {
            let task = self.get_json(&format!("/api/v1/task/{id}/"), key).await;
            if ["done", "failed", "cancelled"].contains(&task["status"].as_str().unwrap()) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {id} did not finish");
    }
}

pub async fn error_of(r: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}
