//! RabbitMQ: one durable quorum queue per kind, fed through the default exchange.
//!
//! The queues dead-letter to `{prefix}.dead` once a message was returned `max_deliver` times
//! (`x-delivery-limit`). RabbitMQ has no ack timer of its own, so each delivery carries a
//! watchdog that gives it back after `ack_wait` without `ack`, `nack` or `progress`. A `nack`
//! keeps the message for its delay, then gives it back.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, ChannelState, Connection, ConnectionProperties, ConnectionState,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::backoff::{Backoff, Reopening};
use crate::{
    check_kind, check_subscription, client_name, decode, encode, Announcement, Broker, BrokerError,
    BrokerOptions, Delivery, Subscription, Ticket,
};

fn connection(e: lapin::Error) -> BrokerError {
    BrokerError::Connection(e.to_string())
}

/// The connection and the publishing channel, reopened (after a backoff) by the first call
/// after they failed.
struct Shared {
    url: String,
    options: BrokerOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    publisher: Option<Channel>,
    /// Queues declared through the current connection.
    declared: HashSet<String>,
    backoff: Backoff,
}

impl Shared {
    fn queue(&self, kind: &str) -> String {
        format!("{}.jobs.{kind}", self.options.prefix)
    }

    fn dead(&self) -> String {
        format!("{}.dead", self.options.prefix)
    }

    /// The live connection, reconnecting if it dropped.
    async fn connection<'a>(&self, state: &'a mut State) -> Result<&'a Connection, BrokerError> {
        if state
            .connection
            .as_ref()
            .is_some_and(|c| c.status().connected())
        {
            return Ok(state.connection.as_ref().expect("checked just above"));
        }
        state.publisher = None;
        state.declared.clear();
        state.backoff.wait().await;
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio)
            .with_connection_name(client_name(&self.options).into());
        match Connection::connect(&self.url, properties).await {
            Ok(conn) => {
                state.backoff.succeeded();
                Ok(state.connection.insert(conn))
            }
            Err(e) => {
                state.backoff.failed();
                Err(connection(e))
            }
        }
    }

    async fn publisher(&self, state: &mut State) -> Result<Channel, BrokerError> {
        if let Some(channel) = &state.publisher {
            if channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let channel = self
            .connection(state)
            .await?
            .create_channel()
            .await
            .map_err(connection)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(connection)?;
        Ok(state.publisher.insert(channel).clone())
    }

    /// Declares the kind's queue (and the dead queue) once per connection.
    async fn declare(
        &self,
        state: &mut State,
        channel: &Channel,
        kind: &str,
    ) -> Result<String, BrokerError> {
        let queue = self.queue(kind);
        if state.declared.contains(&queue) {
            return Ok(queue);
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut dead_args = FieldTable::default();
        dead_args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        channel
            .queue_declare(&self.dead(), durable, dead_args)
            .await
            .map_err(refused)?;
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        // The limit counts returns, so the first delivery plus `max_deliver - 1` returns.
        let limit = i64::from(self.options.max_deliver) - 1;
        args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(self.dead().into()),
        );
        channel
            .queue_declare(&queue, durable, args)
            .await
            .map_err(refused)?;
        state.declared.insert(queue.clone());
        Ok(queue)
    }
}

/// A declaration the server refused (a queue of that name with other arguments) closes the
/// channel; the message says which.
fn refused(e: lapin::Error) -> BrokerError {
    match e {
        lapin::Error::ProtocolError(e) => BrokerError::Refused(e.to_string()),
        other => connection(other),
    }
}

pub(crate) struct AmqpBroker(Arc<Shared>);

impl AmqpBroker {
    pub(crate) async fn connect(url: &str, options: BrokerOptions) -> Result<Self, BrokerError> {
        let shared = Shared {
            url: url.to_owned(),
            options,
            state: Mutex::new(State::default()),
        };
        {
            let mut state = shared.state.lock().await;
            shared.publisher(&mut state).await?;
        }
        Ok(AmqpBroker(Arc::new(shared)))
    }
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn publish(&self, a: &Announcement) -> Result<(), BrokerError> {
        check_kind(&a.kind)?;
        let shared = &self.0;
        let (channel, queue) = {
            let mut state = shared.state.lock().await;
            let channel = shared.publisher(&mut state).await?;
            let queue = shared.declare(&mut state, &channel, &a.kind).await;
            if queue.is_err() {
                state.publisher = None;
            }
            (channel, queue?)
        };
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(a.message_id().into());
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = channel
            .basic_publish("", &queue, options, &encode(a), properties)
            .await
            .map_err(connection)?
            .await
            .map_err(connection)?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => {
                // Deleted since we declared it: the next publish declares it again.
                shared.state.lock().await.declared.remove(&queue);
                Err(BrokerError::NotConfirmed(format!(
                    "the queue {queue} is missing, so the message was returned"
                )))
            }
            Confirmation::Nack(_) => Err(BrokerError::NotConfirmed(
                "RabbitMQ refused to store it (nack)".to_owned(),
            )),
            Confirmation::NotRequested => Err(BrokerError::NotConfirmed(
                "the channel is not in confirm mode".to_owned(),
            )),
        }
    }

    async fn subscribe(
        &self,
        kinds: &[String],
        prefetch: u16,
    ) -> Result<Box<dyn Subscription>, BrokerError> {
        check_subscription(kinds, prefetch)?;
        // Opened now, so that a refused declaration shows here rather than at the first next().
        let deliveries = open(&self.0, kinds, prefetch).await?;
        Ok(Box::new(AmqpSubscription {
            shared: Arc::clone(&self.0),
            kinds: kinds.to_vec(),
            prefetch,
            deliveries: Reopening::opened(deliveries),
        }))
    }

    /// lapin reports an ack done once it is queued for writing, so a connection closed right
    /// after may lose the last acks (those announcements are delivered again, and their claims
    /// match nothing); closing the connection sends what the writer holds.
    async fn close(&self) -> Result<(), BrokerError> {
        let mut state = self.0.state.lock().await;
        state.publisher = None;
        match state.connection.take() {
            Some(conn) if conn.status().connected() => {
                match conn.close(200, "assay is shutting down").await {
                    // lapin 2.5 sometimes reports a channel it is closing as in the way of the
                    // close (see docs/brokers.md); the connection goes either way.
                    Err(lapin::Error::InvalidChannelState(ChannelState::Closing))
                    | Err(lapin::Error::InvalidConnectionState(
                        ConnectionState::Closing | ConnectionState::Closed,
                    )) => Ok(()),
                    other => other.map_err(connection),
                }
            }
            _ => Ok(()),
        }
    }

    async fn check(&self) -> Result<(), BrokerError> {
        let mut state = self.0.state.lock().await;
        self.0.publisher(&mut state).await.map(|_| ())
    }
}

type Deliveries = BoxStream<'static, Result<(Channel, lapin::message::Delivery), BrokerError>>;

struct AmqpSubscription {
    shared: Arc<Shared>,
    kinds: Vec<String>,
    prefetch: u16,
    deliveries: Reopening<(Channel, lapin::message::Delivery)>,
}

/// A channel of its own with its prefetch, consuming every kind's queue.
async fn open(shared: &Shared, kinds: &[String], prefetch: u16) -> Result<Deliveries, BrokerError> {
    let mut state = shared.state.lock().await;
    // Declared again: a queue deleted under us is why a consumer gets cancelled.
    for kind in kinds {
        state.declared.remove(&shared.queue(kind));
    }
    let channel = shared
        .connection(&mut state)
        .await?
        .create_channel()
        .await
        .map_err(connection)?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(connection)?;
    let mut consumers = Vec::with_capacity(kinds.len());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    for kind in kinds {
        let queue = shared.declare(&mut state, &channel, kind).await?;
        let consumer = channel
            .basic_consume(
                &queue,
                &format!("{tag}-{kind}"),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(connection)?;
        let channel = channel.clone();
        consumers.push(
            consumer
                .map(move |d| d.map(|d| (channel.clone(), d)).map_err(connection))
                .boxed(),
        );
    }
    Ok(futures::stream::select_all(consumers).boxed())
}

/// RabbitMQ counts the returns of a quorum-queue message in `x-delivery-count`.
fn attempt(delivery: &lapin::message::Delivery) -> u32 {
    let returns = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::ShortInt(n) => u32::try_from(n).ok(),
            AMQPValue::ShortUInt(n) => Some(u32::from(n)),
            _ => None,
        })
        .unwrap_or(0);
    returns.saturating_add(1)
}

#[async_trait]
impl Subscription for AmqpSubscription {
    async fn next(&mut self) -> Result<Delivery, BrokerError> {
        loop {
            let (shared, kinds, prefetch) = (&self.shared, &self.kinds, self.prefetch);
            let (channel, delivery) = self
                .deliveries
                .next(
                    || open(shared, kinds, prefetch),
                    "the RabbitMQ consumer was cancelled or its channel closed",
                )
                .await?;
            match decode(&delivery.data) {
                Ok(announcement) => {
                    let ticket = AmqpTicket::start(
                        channel,
                        delivery.delivery_tag,
                        self.shared.options.ack_wait,
                    );
                    return Ok(Delivery::new(
                        announcement,
                        attempt(&delivery),
                        Box::new(ticket),
                    ));
                }
                Err(reason) => {
                    tracing::warn!(reason, "dead-lettering a job announcement");
                    let reject = BasicRejectOptions { requeue: false };
                    channel
                        .basic_reject(delivery.delivery_tag, reject)
                        .await
                        .map_err(connection)?;
                }
            }
        }
    }
}

struct AmqpTicket(Arc<TicketState>);

struct TicketState {
    channel: Channel,
    tag: u64,
    /// Set by whoever settles the delivery first: the caller or the watchdog.
    settled: AtomicBool,
    deadline: StdMutex<Instant>,
    ack_wait: Duration,
}

impl TicketState {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settle(&self) -> Result<(), BrokerError> {
        if self.settled.swap(true, Ordering::SeqCst) || !self.channel.status().connected() {
            Err(BrokerError::DeliveryLost)
        } else {
            Ok(())
        }
    }

    async fn give_back(&self) -> Result<(), BrokerError> {
        let options = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        self.channel
            .basic_nack(self.tag, options)
            .await
            .map_err(connection)
    }
}

impl AmqpTicket {
    fn start(channel: Channel, tag: u64, ack_wait: Duration) -> Self {
        let state = Arc::new(TicketState {
            channel,
            tag,
            settled: AtomicBool::new(false),
            deadline: StdMutex::new(Instant::now() + ack_wait),
            ack_wait,
        });
        let watchdog = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep_until(watchdog.deadline()).await;
                if watchdog.settled.load(Ordering::SeqCst) {
                    return;
                }
                if Instant::now() >= watchdog.deadline() {
                    if watchdog.settle().is_ok() {
                        tracing::debug!(
                            tag = watchdog.tag,
                            "ack wait passed; giving the delivery back"
                        );
                        let _ = watchdog.give_back().await;
                    }
                    return;
                }
            }
        });
        AmqpTicket(state)
    }
}

#[async_trait]
impl Ticket for AmqpTicket {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError> {
        self.0.settle()?;
        self.0
            .channel
            .basic_ack(self.0.tag, BasicAckOptions::default())
            .await
            .map_err(connection)
    }

    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), BrokerError> {
        self.0.settle()?;
        if delay.is_zero() {
            return self.0.give_back().await;
        }
        // Held unacknowledged until then: it counts against the prefetch, and if the
        // connection drops meanwhile RabbitMQ gives it back at once.
        let state = Arc::clone(&self.0);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = state.give_back().await;
        });
        Ok(())
    }

    async fn progress(&self) -> Result<(), BrokerError> {
        if self.0.settled.load(Ordering::SeqCst) || !self.0.channel.status().connected() {
            return Err(BrokerError::DeliveryLost);
        }
        *self.0.deadline.lock().unwrap_or_else(|e| e.into_inner()) =
            Instant::now() + self.0.ack_wait;
        Ok(())
    }
}
