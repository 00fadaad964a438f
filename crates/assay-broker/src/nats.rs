//! NATS JetStream: one work-queue stream, one durable pull consumer per kind.
//!
//! The client reconnects by itself; a pull stream that fails is reopened by the next `next()`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::Publish, stream, AckKind, Context, Message};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::backoff::Reopening;
use crate::{
    check_kind, check_subscription, client_name, decode, encode, Announcement, Broker, BrokerError,
    BrokerOptions, Delivery, Subscription, Ticket,
};

/// How long the server keeps publish ids to drop duplicates.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub(crate) struct NatsBroker {
    client: async_nats::Client,
    js: Context,
    options: BrokerOptions,
}

fn connection<E: std::fmt::Display>(e: E) -> BrokerError {
    BrokerError::Connection(e.to_string())
}

impl NatsBroker {
    pub(crate) async fn connect(url: &str, options: BrokerOptions) -> Result<Self, BrokerError> {
        let client = async_nats::ConnectOptions::new()
            .name(client_name(&options))
            .connect(url)
            .await
            .map_err(connection)?;
        let js = jetstream::new(client.clone());
        let prefix = &options.prefix;
        js.get_or_create_stream(stream::Config {
            name: format!("{prefix}_jobs"),
            subjects: vec![format!("{prefix}.jobs.>")],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(connection)?;
        js.get_or_create_stream(stream::Config {
            name: format!("{prefix}_dead"),
            subjects: vec![format!("{prefix}.dead.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(connection)?;
        Ok(NatsBroker {
            client,
            js,
            options,
        })
    }
}

#[async_trait]
impl Broker for NatsBroker {
    async fn publish(&self, a: &Announcement) -> Result<(), BrokerError> {
        check_kind(&a.kind)?;
        let subject = format!("{}.jobs.{}", self.options.prefix, a.kind);
        let publish = Publish::build()
            .payload(encode(a).into())
            .message_id(a.message_id());
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(connection)?;
        ack.await
            .map_err(|e| BrokerError::NotConfirmed(e.to_string()))?;
        Ok(())
    }

    async fn subscribe(
        &self,
        kinds: &[String],
        prefetch: u16,
    ) -> Result<Box<dyn Subscription>, BrokerError> {
        check_subscription(kinds, prefetch)?;
        let stream = self
            .js
            .get_stream(format!("{}_jobs", self.options.prefix))
            .await
            .map_err(connection)?;
        let mut consumers = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let name = format!("{}_{kind}", self.options.prefix);
            let consumer = stream
                .get_or_create_consumer(
                    &name,
                    consumer::pull::Config {
                        durable_name: Some(name.clone()),
                        filter_subject: format!("{}.jobs.{kind}", self.options.prefix),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: self.options.ack_wait,
                        // One delivery more than allowed: that one we move to the dead stream.
                        max_deliver: i64::from(self.options.max_deliver) + 1,
                        ..Default::default()
                    },
                )
                .await
                .map_err(connection)?;
            consumers.push(consumer);
        }
        let pull = Pull {
            js: self.js.clone(),
            consumers,
            options: self.options.clone(),
            prefetch,
        };
        // Opened now, so that a failure shows here rather than at the first next().
        let messages = Reopening::opened(pull.open().await?);
        Ok(Box::new(NatsSubscription { pull, messages }))
    }

    async fn close(&self) -> Result<(), BrokerError> {
        self.client.flush().await.map_err(connection)
    }

    async fn check(&self) -> Result<(), BrokerError> {
        self.client.flush().await.map_err(connection)?;
        // The stream's info: JetStream answers and our stream is there.
        self.js
            .get_stream(format!("{}_jobs", self.options.prefix))
            .await
            .map(|_| ())
            .map_err(connection)
    }
}

struct NatsSubscription {
    pull: Pull,
    messages: Reopening<Message>,
}

/// The consumers a subscription pulls from (apart from its stream, which is not `Sync`).
struct Pull {
    js: Context,
    consumers: Vec<consumer::Consumer<consumer::pull::Config>>,
    options: BrokerOptions,
    prefetch: u16,
}

impl Pull {
    async fn open(&self) -> Result<BoxStream<'static, Result<Message, BrokerError>>, BrokerError> {
        let mut streams = Vec::with_capacity(self.consumers.len());
        for consumer in &self.consumers {
            let messages = consumer
                .stream()
                .max_messages_per_batch(usize::from(self.prefetch))
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(connection)?;
            streams.push(messages.map(|m| m.map_err(connection)).boxed());
        }
        Ok(futures::stream::select_all(streams).boxed())
    }

    /// The delivery past `max_deliver`, or one we cannot read: kept in the dead stream.
    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<(), BrokerError> {
        let kind = message
            .subject
            .rsplit('.')
            .next()
            .unwrap_or("unknown")
            .to_owned();
        tracing::warn!(subject = %message.subject, reason, "dead-lettering a job announcement");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Assay-Dead-Reason", reason);
        self.js
            .publish_with_headers(
                format!("{}.dead.{kind}", self.options.prefix),
                headers,
                message.payload.clone(),
            )
            .await
            .map_err(connection)?
            .await
            .map_err(|e| BrokerError::NotConfirmed(e.to_string()))?;
        message.double_ack().await.map_err(connection)
    }
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Result<Delivery, BrokerError> {
        loop {
            let pull = &self.pull;
            let message = self
                .messages
                .next(|| pull.open(), "the JetStream pull subscription ended")
                .await?;
            let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
            let attempt = u32::try_from(delivered).unwrap_or(u32::MAX);
            if attempt > self.pull.options.max_deliver {
                let reason = format!("delivered {} times without an ack", attempt - 1);
                self.pull.dead_letter(&message, &reason).await?;
                continue;
            }
            match decode(&message.payload) {
                Ok(announcement) => {
                    return Ok(Delivery::new(
                        announcement,
                        attempt,
                        Box::new(NatsTicket(message)),
                    ))
                }
                Err(reason) => self.pull.dead_letter(&message, &reason).await?,
            }
        }
    }
}

struct NatsTicket(Message);

#[async_trait]
impl Ticket for NatsTicket {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError> {
        self.0.double_ack().await.map_err(connection)
    }

    async fn nack(self: Box<Self>, delay: Duration) -> Result<(), BrokerError> {
        self.0
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(connection)
    }

    async fn progress(&self) -> Result<(), BrokerError> {
        self.0.ack_with(AckKind::Progress).await.map_err(connection)
    }
}
