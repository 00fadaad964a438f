//! Seed 001: with a broker configured, the API keeps accepting messages while PostgreSQL is
//! down; they wait in the broker and are stored, once each, when it is back. PostgreSQL is
//! reached through a relay of the test's own, which it stops (connections refused) and starts.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assay_store::testing::{Backend, TestDatabase};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A TCP relay to PostgreSQL on a fixed port, which the test can take down and bring back.
struct DbRelay {
    port: u16,
    cut: watch::Sender<u64>,
    accepting: Option<JoinHandle<()>>,
}

impl DbRelay {
    async fn start() -> DbRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut relay = DbRelay {
            port,
            cut: watch::channel(0).0,
            accepting: None,
        };
        relay.accept(listener);
        relay
    }

    fn accept(&mut self, listener: TcpListener) {
        let cuts = self.cut.subscribe();
        self.accepting = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect("127.0.0.1:5432").await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        }));
    }

    /// Closes every relayed connection and the listening socket: connections are refused.
    fn stop(&mut self) {
        if let Some(task) = self.accepting.take() {
            task.abort();
        }
        self.cut.send_modify(|n| *n += 1);
    }

    async fn resume(&mut self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.accept(listener);
    }
}

fn assay(data_dir: &Path, db_url: &str, broker: &str, prefix: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("ASSAY_CONFIG")
        .env("ASSAY_DATABASE_URL", db_url)
        .env("ASSAY_BROKER", broker)
        .env("ASSAY_BROKER_PREFIX", prefix)
        .env("RUST_LOG", "warn");
    cmd
}

fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    out
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let response = client.get(url).bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_message(client: &reqwest::Client, base: &str, key: &str, data: &str) -> Value {
    let response = client
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(key)
        .json(&json!({ "data": data }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "message {data:?} accepted");
    response.json().await.unwrap()
}

async fn wait_done(client: &reqwest::Client, base: &str, key: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = get(client, &format!("{base}/api/v1/task/{id}/"), key).await;
        if status == 200 && body["status"] == "done" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never finished: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn messages_accepted_while_the_database_is_down_are_stored_once_it_is_back(broker: &str) {
    let db = TestDatabase::new(Backend::Postgres).await;
    let mut relay = DbRelay::start().await;
    let db_name = db.url().rsplit('/').next().unwrap().to_owned();
    let db_url = format!("postgres://postgres@127.0.0.1:{}/{db_name}", relay.port);
    let prefix = format!("parked{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let dir = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = assay(dir.path(), &db_url, broker, &prefix);
        c.args(args);
        c
    };
    output(&mut cmd(&["user", "create", "alice"]));
    let key = String::from_utf8(output(&mut cmd(&["apikey", "create", "--user", "alice"])).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        cmd(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "assay serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // With the database up, a message is stored the usual way (and the key is remembered).
    let before = post_message(&client, &base, &key, "before").await;
    assert!(before.get("parked").is_none(), "{before}");
    wait_done(&client, &base, &key, before["task_id"].as_str().unwrap()).await;

    relay.stop();
    let parked = post_message(&client, &base, &key, "while down").await;
    assert_eq!(parked["parked"], true, "{parked}");
    assert_eq!(parked["status"], "queued", "{parked}");
    let id = parked["task_id"].as_str().unwrap().to_owned();
    let page = client
        .get(format!(
            "{base}/save?data=also%20while%20down&api_key={key}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 202, "the seed's /save page answers");
    // Kinds that cannot be parked, and reads, say the database is unavailable.
    let add = client
        .post(format!("{base}/api/v1/tasks/add"))
        .bearer_auth(&key)
        .json(&json!({"x": 1, "y": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status().as_u16(), 503);
    assert!(add.headers().contains_key("retry-after"));
    let body: Value = add.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    let (status, body) = get(&client, &format!("{base}/api/v1/task/{id}/"), &key).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    // A key the API has not seen cannot be checked now: unavailable, not unauthorized.
    let (status, body) = get(&client, &format!("{base}/api/v1/messages"), "assay_unknown").await;
    assert_eq!(status, 503, "{body}");

    relay.resume().await;
    wait_done(&client, &base, &key, &id).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let texts = loop {
        let (status, body) = get(&client, &format!("{base}/api/v1/messages"), &key).await;
        assert_eq!(status, 200, "{body}");
        let mut texts: Vec<String> = body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of messages: {body}"))
            .iter()
            .map(|m| m["data"].as_str().unwrap().to_owned())
            .collect();
        texts.sort();
        if texts.len() >= 3 || Instant::now() > deadline {
            break texts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(texts, ["also while down", "before", "while down"]);

    let _ = assay_broker::remove_resources(broker, &prefix, &["message", "_parked"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_parks_messages_while_postgres_is_down() {
    messages_accepted_while_the_database_is_down_are_stored_once_it_is_back(
        "nats://127.0.0.1:4222",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_parks_messages_while_postgres_is_down() {
    messages_accepted_while_the_database_is_down_are_stored_once_it_is_back(
        "redis://127.0.0.1:6379",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbitmq_parks_messages_while_postgres_is_down() {
    messages_accepted_while_the_database_is_down_are_stored_once_it_is_back(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
    .await;
}
