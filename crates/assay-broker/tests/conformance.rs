//! One behaviour suite run against the real NATS, Redis and RabbitMQ on 127.0.0.1 (started by
//! `./scripts/test`). Each test owns its names (a random prefix) and removes them at the end.
#![cfg(all(feature = "nats", feature = "redis", feature = "amqp"))]

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_broker::{
    connect, Announcement, Broker, BrokerError, BrokerOptions, Delivery, Subscription,
};
use assay_core::JobId;
use tokio::time::timeout;

const ACK_WAIT: Duration = Duration::from_secs(1);
/// Deliveries each subscription may hold unacknowledged.
const PREFETCH: u16 = 4;
/// Longer than an ack wait plus the Redis claim period: anything due would have come.
const QUIET: Duration = Duration::from_millis(2500);
const KIND: &str = "csv";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Nats,
    Redis,
    Amqp,
}

impl Transport {
    fn url(self) -> &'static str {
        match self {
            Transport::Nats => "nats://127.0.0.1:4222",
            Transport::Redis => "redis://127.0.0.1:6379",
            Transport::Amqp => "amqp://guest:guest@127.0.0.1:5672/%2f",
        }
    }
}

struct Harness {
    transport: Transport,
    options: BrokerOptions,
    /// NATS clients connect through it, as the 2.9 server cannot drop a client on request.
    proxy: Option<Proxy>,
}

/// A TCP relay to a server whose connections the test can cut; clients reconnect through it.
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(target: &'static str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (cut, cuts) = tokio::sync::watch::channel(0);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            cut,
            accepted,
        }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Harness {
    fn new(transport: Transport) -> Self {
        Harness {
            transport,
            options: BrokerOptions {
                prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
                ack_wait: ACK_WAIT,
                max_deliver: 3,
            },
            proxy: (transport == Transport::Nats).then(|| Proxy::start("127.0.0.1:4222")),
        }
    }

    fn url(&self) -> String {
        match (self.transport, &self.proxy) {
            (Transport::Nats, Some(proxy)) => format!("nats://127.0.0.1:{}", proxy.port),
            (transport, _) => transport.url().to_owned(),
        }
    }

    async fn broker(&self) -> Arc<dyn Broker> {
        connect(&self.url(), self.options.clone()).await.unwrap()
    }

    /// Removes everything the test created under its prefix.
    async fn cleanup(&self) {
        let prefix = &self.options.prefix;
        match self.transport {
            Transport::Nats => {
                let js = async_nats::jetstream::new(nats().await);
                for stream in [format!("{prefix}_jobs"), format!("{prefix}_dead")] {
                    let _ = js.delete_stream(stream).await;
                }
            }
            Transport::Redis => {
                let mut conn = redis_conn().await;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{prefix}:*"))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(keys)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
            }
            Transport::Amqp => {
                let (_conn, channel) = amqp_channel().await;
                for queue in [format!("{prefix}.jobs.{KIND}"), format!("{prefix}.dead")] {
                    let _ = channel
                        .queue_delete(&queue, lapin::options::QueueDeleteOptions::default())
                        .await;
                }
            }
        }
    }

    /// Announcements dead-lettered so far.
    async fn dead_letters(&self) -> u64 {
        let prefix = &self.options.prefix;
        match self.transport {
            Transport::Nats => {
                let js = async_nats::jetstream::new(nats().await);
                let mut stream = js.get_stream(format!("{prefix}_dead")).await.unwrap();
                stream.info().await.unwrap().state.messages
            }
            Transport::Redis => {
                let mut conn = redis_conn().await;
                redis::cmd("XLEN")
                    .arg(format!("{prefix}:dead"))
                    .query_async(&mut conn)
                    .await
                    .unwrap()
            }
            Transport::Amqp => {
                let (_conn, channel) = amqp_channel().await;
                let passive = lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                };
                let queue = channel
                    .queue_declare(&format!("{prefix}.dead"), passive, Default::default())
                    .await
                    .unwrap();
                u64::from(queue.message_count())
            }
        }
    }

    /// Drops our connections: from the server side for Redis and RabbitMQ, by cutting the
    /// proxy for NATS (the 2.9 server cannot drop a client on request).
    async fn kill_connections(&self) {
        let name = format!("assay-{}", self.options.prefix);
        match self.transport {
            Transport::Nats => self
                .proxy
                .as_ref()
                .expect("NATS goes through a proxy")
                .cut(),
            Transport::Redis => {
                let mut conn = redis_conn().await;
                let list: String = redis::cmd("CLIENT")
                    .arg("LIST")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let mut killed = 0;
                for line in list
                    .lines()
                    .filter(|l| l.contains(&format!(" name={name} ")))
                {
                    let id = line.split(' ').find_map(|f| f.strip_prefix("id=")).unwrap();
                    let _: () = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("ID")
                        .arg(id)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    killed += 1;
                }
                assert!(killed > 0, "no Redis client named {name}");
            }
            Transport::Amqp => {
                let out = std::process::Command::new("rabbitmqctl")
                    .args([
                        "list_connections",
                        "pid",
                        "client_properties",
                        "--no-table-headers",
                        "-q",
                    ])
                    .output()
                    .unwrap();
                let list = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut killed = 0;
                for line in list.lines().filter(|l| l.contains(&format!("\"{name}\""))) {
                    let pid = line.split('\t').next().unwrap();
                    let status = std::process::Command::new("rabbitmqctl")
                        .args(["close_connection", pid, "test closes the connection", "-q"])
                        .status()
                        .unwrap();
                    assert!(status.success());
                    killed += 1;
                }
                assert!(killed > 0, "no RabbitMQ connection named {name}: {list}");
            }
        }
    }
}

async fn nats() -> async_nats::Client {
    async_nats::connect(Transport::Nats.url()).await.unwrap()
}

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(Transport::Redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn amqp_channel() -> (lapin::Connection, lapin::Channel) {
    let properties = lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let conn = lapin::Connection::connect(Transport::Amqp.url(), properties)
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    (conn, channel)
}

fn announcement(outbox_id: i64) -> Announcement {
    Announcement {
        job_id: JobId::random(),
        kind: KIND.to_owned(),
        outbox_id,
        parked: None,
    }
}

fn kinds() -> Vec<String> {
    vec![KIND.to_owned()]
}

async fn next_within(sub: &mut Box<dyn Subscription>, wait: Duration) -> Option<Delivery> {
    match timeout(wait, sub.next()).await {
        Ok(result) => Some(result.unwrap()),
        Err(_) => None,
    }
}

async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
    next_within(sub, Duration::from_secs(10))
        .await
        .expect("a delivery within 10 s")
}

/// Retries a call across a reconnect: errors must be retryable, and must stop within 15 s.
async fn eventually<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BrokerError>>,
{
    let start = Instant::now();
    loop {
        match timeout(Duration::from_secs(10), call()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => assert!(e.is_retryable(), "not retryable: {e}"),
            Err(_) => {}
        }
        assert!(start.elapsed() < Duration::from_secs(15), "did not recover");
    }
}

/// A subscriber, then one announcement published.
async fn one_published(
    t: Transport,
) -> (
    Harness,
    Arc<dyn Broker>,
    Box<dyn Subscription>,
    Announcement,
) {
    let h = Harness::new(t);
    let broker = h.broker().await;
    let sub = broker.subscribe(&kinds(), PREFETCH).await.unwrap();
    let a = announcement(1);
    broker.publish(&a).await.unwrap();
    (h, broker, sub, a)
}

/// `next()` across a reconnect: like [`eventually`], for a call that borrows the subscription.
async fn next_recovering(sub: &mut Box<dyn Subscription>) -> Delivery {
    let start = Instant::now();
    loop {
        match timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Ok(d)) => return d,
            Ok(Err(e)) => assert!(e.is_retryable(), "not retryable: {e}"),
            Err(_) => {}
        }
        assert!(start.elapsed() < Duration::from_secs(15), "did not recover");
    }
}

async fn publish_deliver_ack(t: Transport) {
    let (h, broker, mut sub, a) = one_published(t).await;
    broker.check().await.unwrap();
    let d = next(&mut sub).await;
    assert_eq!(d.announcement, a);
    assert_eq!(d.attempt, 1);
    d.ack().await.unwrap();
    assert!(
        next_within(&mut sub, QUIET).await.is_none(),
        "redelivered after ack"
    );
    broker.close().await.unwrap();
    h.cleanup().await;
}

async fn unacked_is_redelivered(t: Transport) {
    let (h, _broker, mut sub, a) = one_published(t).await;
    let first = next(&mut sub).await;
    let start = Instant::now();
    let again = next(&mut sub).await;
    assert!(
        start.elapsed() >= ACK_WAIT - Duration::from_millis(100),
        "came back early"
    );
    assert_eq!(again.announcement, a);
    assert_eq!(again.attempt, 2);
    again.ack().await.unwrap();
    // The first holder lost it: its late ack never causes another delivery.
    let late = first.ack().await;
    match t {
        Transport::Amqp => assert!(matches!(late, Err(BrokerError::DeliveryLost)), "{late:?}"),
        Transport::Nats | Transport::Redis => late.unwrap(),
    }
    assert!(next_within(&mut sub, QUIET).await.is_none());
    h.cleanup().await;
}

async fn max_deliver_dead_letters(t: Transport) {
    let (h, _broker, mut sub, a) = one_published(t).await;
    for attempt in 1..=h.options.max_deliver {
        let d = next(&mut sub).await;
        assert_eq!((d.announcement.job_id, d.attempt), (a.job_id, attempt));
        d.nack(Duration::ZERO).await.unwrap();
    }
    assert!(
        next_within(&mut sub, QUIET).await.is_none(),
        "delivered past max_deliver"
    );
    assert_eq!(h.dead_letters().await, 1);
    h.cleanup().await;
}

async fn nack_redelivers_after_delay(t: Transport) {
    let (h, _broker, mut sub, a) = one_published(t).await;
    let delay = Duration::from_millis(600);
    let start = Instant::now();
    next(&mut sub).await.nack(delay).await.unwrap();
    let again = next(&mut sub).await;
    assert!(
        start.elapsed() >= delay - Duration::from_millis(50),
        "nack delay ignored"
    );
    assert_eq!((again.announcement.job_id, again.attempt), (a.job_id, 2));
    again.ack().await.unwrap();
    h.cleanup().await;
}

async fn progress_keeps_a_long_job(t: Transport) {
    let (h, _broker, mut sub, _) = one_published(t).await;
    let d = next(&mut sub).await;
    let worker = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(ACK_WAIT / 3).await;
            d.progress().await.unwrap();
        }
        d.ack().await.unwrap();
    });
    // About 2.7 s of work with a 1 s ack wait: nothing may come back meanwhile.
    assert!(
        next_within(&mut sub, QUIET).await.is_none(),
        "redelivered while in progress"
    );
    worker.await.unwrap();
    assert!(next_within(&mut sub, QUIET).await.is_none());
    h.cleanup().await;
}

async fn subscribers_share_the_work(t: Transport) {
    let h = Harness::new(t);
    let publisher = h.broker().await;
    let mut handles = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for worker in 0..2 {
        let broker = h.broker().await;
        let mut sub = broker.subscribe(&kinds(), PREFETCH).await.unwrap();
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let _broker = broker;
            loop {
                let d = sub.next().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let job = d.announcement.job_id;
                d.ack().await.unwrap();
                if tx.send((worker, job)).is_err() {
                    return;
                }
            }
        }));
    }
    let published: HashSet<JobId> = {
        let mut ids = HashSet::new();
        for i in 0..40 {
            let a = announcement(i);
            publisher.publish(&a).await.unwrap();
            ids.insert(a.job_id);
        }
        ids
    };
    let mut seen = HashSet::new();
    let mut per_worker = [0; 2];
    while seen.len() < published.len() {
        let (worker, job) = timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(seen.insert(job), "{job} delivered twice");
        per_worker[worker] += 1;
    }
    assert_eq!(seen, published);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "one worker did all: {per_worker:?}"
    );
    assert!(timeout(QUIET, rx.recv()).await.is_err(), "a duplicate came");
    for handle in handles {
        handle.abort();
    }
    h.cleanup().await;
}

async fn publish_is_durable(t: Transport) {
    let h = Harness::new(t);
    let sent: Vec<Announcement> = (0..3).map(announcement).collect();
    {
        // Published before any worker subscribed.
        let broker = h.broker().await;
        for a in &sent {
            broker.publish(a).await.unwrap();
        }
    }
    let broker = h.broker().await;
    let mut sub = broker.subscribe(&kinds(), PREFETCH).await.unwrap();
    let mut got = Vec::new();
    for _ in &sent {
        let d = next(&mut sub).await;
        got.push(d.announcement.clone());
        d.ack().await.unwrap();
    }
    got.sort_by_key(|a| a.outbox_id);
    assert_eq!(got, sent);
    h.cleanup().await;
}

/// NATS drops the second publish of an outbox id; the others deliver both, and the SQL claim
/// turns the second into a no-op.
async fn duplicate_publish(t: Transport) {
    let h = Harness::new(t);
    let broker = h.broker().await;
    let mut sub = broker.subscribe(&kinds(), PREFETCH).await.unwrap();
    let a = announcement(42);
    broker.publish(&a).await.unwrap();
    broker.publish(&a).await.unwrap();
    let mut count = 0;
    while let Some(d) = next_within(&mut sub, QUIET).await {
        assert_eq!(d.announcement, a);
        d.ack().await.unwrap();
        count += 1;
    }
    assert_eq!(count, if t == Transport::Nats { 1 } else { 2 });
    h.cleanup().await;
}

async fn survives_a_reconnect(t: Transport) {
    let (h, broker, mut sub, _) = one_published(t).await;
    next(&mut sub).await.ack().await.unwrap();

    h.kill_connections().await;
    let a = announcement(2);
    eventually(|| broker.publish(&a)).await;
    let d = next_recovering(&mut sub).await;
    assert_eq!(d.announcement, a);
    eventually(|| broker.check()).await;
    if let Some(proxy) = &h.proxy {
        assert!(
            proxy.accepted.load(Ordering::SeqCst) >= 2,
            "NATS did not reconnect"
        );
    }
    d.ack().await.unwrap();
    assert!(next_within(&mut sub, QUIET).await.is_none());
    h.cleanup().await;
}

/// An operator deleting the queue (or stream) under running workers: the next publish and
/// `next()` create it again. Not on NATS, whose stream is created at `connect` only.
async fn recovers_when_its_queue_is_deleted(t: Transport) {
    let (h, broker, mut sub, _) = one_published(t).await;
    next(&mut sub).await.ack().await.unwrap();

    h.cleanup().await;
    // RabbitMQ cancels the consumer of a deleted queue a moment later; a queue created again
    // before that left the new message stuck with the old consumer (see docs/brokers.md).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = announcement(2);
    eventually(|| broker.publish(&a)).await;
    let d = next_recovering(&mut sub).await;
    assert_eq!(d.announcement, a);
    d.ack().await.unwrap();
    h.cleanup().await;
}

macro_rules! suite {
    ($transport:ident: $($test:ident),+ $(,)?) => {
        #[allow(non_snake_case)]
        mod $transport {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(Transport::$transport).await;
                }
            )+
        }
    };
}

suite!(Nats: publish_deliver_ack, unacked_is_redelivered, max_deliver_dead_letters,
    nack_redelivers_after_delay, progress_keeps_a_long_job, subscribers_share_the_work,
    publish_is_durable, duplicate_publish, survives_a_reconnect);
suite!(Redis: publish_deliver_ack, unacked_is_redelivered, max_deliver_dead_letters,
    nack_redelivers_after_delay, progress_keeps_a_long_job, subscribers_share_the_work,
    publish_is_durable, duplicate_publish, survives_a_reconnect, recovers_when_its_queue_is_deleted);
suite!(Amqp: publish_deliver_ack, unacked_is_redelivered, max_deliver_dead_letters,
    nack_redelivers_after_delay, progress_keeps_a_long_job, subscribers_share_the_work,
    publish_is_durable, duplicate_publish, survives_a_reconnect, recovers_when_its_queue_is_deleted);
