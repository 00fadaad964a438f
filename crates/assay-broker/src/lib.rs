//! Broker transports that announce ready jobs to workers.
//!
//! The jobs table stays the queue of record: a transactional outbox relay publishes an
//! [`Announcement`] ("job X of kind K is ready") once the job's row is committed, and a worker
//! that receives a [`Delivery`] claims the named job in SQL. The claim decides who runs the
//! job, so every transport here is at-least-once and a duplicate or late announcement is
//! harmless: it claims nothing. What the broker adds is fast wake-ups across processes and a
//! fair spread of work, without each worker polling the database.
//!
//! Three transports sit behind one [`Broker`] trait, each behind its own cargo feature:
//! NATS JetStream (`nats://`, feature `nats`), Redis Streams (`redis://`, feature `redis`) and
//! RabbitMQ quorum queues (`amqp://`, feature `amqp`). Resources are named from
//! [`BrokerOptions::prefix`], one stream / queue / consumer per job kind, so a worker pool that
//! only runs some kinds never receives the others. `docs/brokers.md` gives each transport's
//! resources, settings and guarantees.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use assay_core::JobId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod admin;
#[cfg(feature = "amqp")]
mod amqp;
mod backoff;
mod error;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;

pub use admin::remove_resources;
pub use error::BrokerError;

/// The kind under which the API parks whole jobs while the database is unreachable; workers
/// subscribe to it to store them (seed 001). Job kinds never start with `_`.
pub const PARKED_KIND: &str = "_parked";

/// "This job is ready": the whole message a transport carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub job_id: JobId,
    pub kind: String,
    /// The outbox row that produced this announcement; NATS deduplicates on it. 0 for a
    /// parked job, which has no row yet.
    pub outbox_id: i64,
    /// Under [`PARKED_KIND`]: the whole job, which is not in the database yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<serde_json::Value>,
}

impl Announcement {
    /// The id brokers deduplicate a publish on: the outbox row, or the parked job's id.
    pub(crate) fn message_id(&self) -> String {
        if self.parked.is_some() {
            format!("parked-{}", self.job_id)
        } else {
            self.outbox_id.to_string()
        }
    }
}

/// Names and limits shared by every transport.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Prefix of every stream, queue, consumer and key name: 1 to 64 letters, digits, `-`, `_`.
    pub prefix: String,
    /// How long a delivery may go without `ack`, `nack` or `progress` before it is handed to
    /// another worker.
    pub ack_wait: Duration,
    /// Deliveries of one announcement before it is dead-lettered instead of delivered again.
    pub max_deliver: u32,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            prefix: "assay".to_owned(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
        }
    }
}

impl BrokerOptions {
    fn validate(&self) -> Result<(), BrokerError> {
        check_name("broker prefix", &self.prefix)?;
        if self.ack_wait < Duration::from_millis(100) {
            return Err(BrokerError::InvalidOptions(format!(
                "ack_wait is {:?}; it must be at least 100ms.",
                self.ack_wait
            )));
        }
        if self.max_deliver == 0 {
            return Err(BrokerError::InvalidOptions(
                "max_deliver is 0; it must be at least 1.".to_owned(),
            ));
        }
        Ok(())
    }
}

fn check_prefetch(prefetch: u16) -> Result<(), BrokerError> {
    if prefetch == 0 {
        return Err(BrokerError::InvalidOptions(
            "prefetch is 0; it must be at least 1.".to_owned(),
        ));
    }
    Ok(())
}

/// Names become NATS subjects and stream names, Redis keys and AMQP queue names, so they keep
/// to the characters all three accept.
fn check_name(what: &'static str, value: &str) -> Result<(), BrokerError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BrokerError::InvalidName {
            what,
            value: value.to_owned(),
        })
    }
}

/// Kinds name subjects, streams and queues, so they keep to the characters of names.
pub(crate) fn check_kind(kind: &str) -> Result<(), BrokerError> {
    check_name("job kind", kind)
}

/// What every `subscribe` checks first.
pub(crate) fn check_subscription(kinds: &[String], prefetch: u16) -> Result<(), BrokerError> {
    check_prefetch(prefetch)?;
    if kinds.is_empty() {
        return Err(BrokerError::InvalidOptions(
            "subscribe was given no job kinds; name at least one.".to_owned(),
        ));
    }
    kinds.iter().try_for_each(|kind| check_kind(kind))
}

/// A connection to one broker, shared by the outbox relay and the workers of a process.
#[async_trait]
pub trait Broker: Send + Sync {
    /// Publishes durably: returns only once the broker has stored the message (JetStream ack,
    /// `XADD` reply, publisher confirm).
    async fn publish(&self, announcement: &Announcement) -> Result<(), BrokerError>;

    /// Deliveries of these kinds. All subscriptions to a kind share its work: each
    /// announcement goes to one of them (until it is redelivered). `prefetch` is how many
    /// deliveries the subscription may hold unacknowledged (RabbitMQ `basic.qos`, the NATS pull
    /// batch, the Redis `XREADGROUP COUNT`): the free slots of the pool that subscribes.
    async fn subscribe(
        &self,
        kinds: &[String],
        prefetch: u16,
    ) -> Result<Box<dyn Subscription>, BrokerError>;

    /// Succeeds when the broker answers; for `/ready`.
    async fn check(&self) -> Result<(), BrokerError>;

    /// Closes the connection, sending what the client still holds; for graceful shutdown,
    /// after the last ack. RabbitMQ acks have no reply and may still be lost here (see
    /// `docs/brokers.md`): those announcements come again and their claims match nothing.
    async fn close(&self) -> Result<(), BrokerError>;
}

#[async_trait]
pub trait Subscription: Send {
    /// The next delivery. Waits as long as there is none. After a connection failure it
    /// returns a retryable error, and the next call reconnects (after a backoff, so a caller
    /// that loops on errors does not spin).
    async fn next(&mut self) -> Result<Delivery, BrokerError>;
}

/// One delivery of an announcement, to be settled with `ack` once the claim (or the job's
/// result) is committed, or `nack` to have it delivered again later.
pub struct Delivery {
    pub announcement: Announcement,
    /// 1 for the first delivery, incremented by each redelivery.
    pub attempt: u32,
    ticket: Box<dyn Ticket>,
}

impl Delivery {
    pub(crate) fn new(announcement: Announcement, attempt: u32, ticket: Box<dyn Ticket>) -> Self {
        Delivery {
            announcement,
            attempt,
            ticket,
        }
    }

    /// Done with: the broker forgets the announcement.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.ticket.ack().await
    }

    /// Gives the announcement back, to be delivered again after about `delay`. Redis caps the
    /// delay at `ack_wait` (see `docs/brokers.md`).
    pub async fn nack(self, delay: Duration) -> Result<(), BrokerError> {
        self.ticket.nack(delay).await
    }

    /// Still working: restarts the `ack_wait` clock so a long job is not handed to another
    /// worker. Call it more often than `ack_wait`.
    pub async fn progress(&self) -> Result<(), BrokerError> {
        self.ticket.progress().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("announcement", &self.announcement)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// How a transport settles one delivery.
#[async_trait]
pub(crate) trait Ticket: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError>;
    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), BrokerError>;
    async fn progress(&self) -> Result<(), BrokerError>;
}

/// Connects to the broker named by the URL's scheme: `nats://`, `redis://`, `amqp://`.
/// Streams, queues and groups are created when absent. `rediss://` and `amqps://` are refused:
/// the Redis and RabbitMQ clients are built without TLS.
pub async fn connect(url: &str, options: BrokerOptions) -> Result<Arc<dyn Broker>, BrokerError> {
    options.validate()?;
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        #[cfg(feature = "nats")]
        "nats" => Ok(Arc::new(nats::NatsBroker::connect(url, options).await?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(Arc::new(redis::RedisBroker::connect(url, options).await?)),
        #[cfg(feature = "amqp")]
        "amqp" => Ok(Arc::new(amqp::AmqpBroker::connect(url, options).await?)),
        #[cfg(not(feature = "nats"))]
        "nats" => Err(BrokerError::FeatureDisabled { feature: "nats" }),
        #[cfg(not(feature = "redis"))]
        "redis" => Err(BrokerError::FeatureDisabled { feature: "redis" }),
        #[cfg(not(feature = "amqp"))]
        "amqp" => Err(BrokerError::FeatureDisabled { feature: "amqp" }),
        _ => Err(BrokerError::UnsupportedScheme { scheme }),
    }
}

pub(crate) fn encode(announcement: &Announcement) -> Vec<u8> {
    // An Announcement has only strings and integers, which always serialize.
    serde_json::to_vec(announcement).unwrap_or_default()
}

pub(crate) fn decode(payload: &[u8]) -> Result<Announcement, String> {
    serde_json::from_slice(payload).map_err(|e| format!("not an announcement: {e}"))
}

/// Who we are in broker client lists: lets an operator (and the reconnect tests) find us.
pub(crate) fn client_name(options: &BrokerOptions) -> String {
    format!("assay-{}", options.prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_scheme_lists_the_supported_ones() {
        let err = connect("kafka://localhost:9092", BrokerOptions::default())
            .await
            .err()
            .unwrap();
        let message = err.to_string();
        for scheme in ["nats://", "redis://", "amqp://"] {
            assert!(message.contains(scheme), "{message}");
        }
        assert_eq!(err.code(), "broker_unsupported_scheme");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn bad_prefix_is_refused_before_connecting() {
        let options = BrokerOptions {
            prefix: "jobs.*".to_owned(),
            ..BrokerOptions::default()
        };
        let err = connect("nats://127.0.0.1:1", options).await.err().unwrap();
        assert_eq!(err.code(), "broker_invalid_name");
        assert!(err.to_string().contains("\"jobs.*\""), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_a_retryable_error() {
        for url in [
            "nats://127.0.0.1:1",
            "redis://127.0.0.1:1",
            "amqp://127.0.0.1:1",
        ] {
            let err = connect(url, BrokerOptions::default()).await.err().unwrap();
            assert_eq!(err.code(), "broker_unavailable", "{url}: {err}");
            assert!(err.is_retryable(), "{url}");
        }
    }

    #[test]
    fn announcements_round_trip() {
        let a = Announcement {
            job_id: JobId::random(),
            kind: "csv".to_owned(),
            outbox_id: 7,
            parked: None,
        };
        assert_eq!(decode(&encode(&a)).unwrap(), a);
        assert!(decode(b"{}").is_err());
    }
}
