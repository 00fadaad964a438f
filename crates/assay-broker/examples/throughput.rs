//! Publishes then consumes 5,000 announcements through each broker and prints messages per
//! second: each transport's ceiling for the outbox relay and the workers on this machine.
//!
//! `cargo run --release -p assay-broker --example throughput [URL…]`; without URLs it uses the
//! local NATS, Redis and RabbitMQ. Names are under the prefix `assay_throughput`, left empty.

use std::time::{Duration, Instant};

use anyhow::Context;
use assay_broker::{connect, Announcement, BrokerOptions};
use assay_core::JobId;
use futures::{StreamExt, TryStreamExt};

const COUNT: usize = 5_000;
/// Publishes in flight at once, as a relay draining a backlog would have.
const IN_FLIGHT: usize = 64;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls = [
            "nats://127.0.0.1:4222",
            "redis://127.0.0.1:6379",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        ]
        .map(String::from)
        .to_vec();
    }
    println!("{COUNT} announcements, {IN_FLIGHT} publishes in flight, prefetch 64");
    for url in urls {
        let scheme = url.split("://").next().unwrap_or_default().to_owned();
        let options = BrokerOptions {
            prefix: "assay_throughput".to_owned(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
        };
        let broker = connect(&url, options).await?;
        let kinds = vec!["bench".to_owned()];
        let mut subscription = broker.subscribe(&kinds, 64).await?;

        // Outbox ids unique across runs: NATS would drop repeats as duplicates.
        let first_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros() as i64;
        let start = Instant::now();
        futures::stream::iter(0..COUNT)
            .map(|i| {
                let broker = broker.clone();
                async move {
                    let announcement = Announcement {
                        job_id: JobId::random(),
                        kind: "bench".to_owned(),
                        outbox_id: first_id + i as i64,
                        parked: None,
                    };
                    broker.publish(&announcement).await
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<()>()
            .await
            .context("publish")?;
        let publish = rate(start);

        let start = Instant::now();
        let mut acks = tokio::task::JoinSet::new();
        for _ in 0..COUNT {
            let delivery = subscription.next().await.context("next")?;
            acks.spawn(delivery.ack());
        }
        while let Some(ack) = acks.join_next().await {
            ack?.context("ack")?;
        }
        if let Err(e) = broker.close().await {
            println!("{scheme:>6}: closing failed ({e}); some acks may be lost");
        }
        let consume = rate(start);
        println!("{scheme:>6}: publish {publish:>8.0} msgs/s, consume+ack {consume:>8.0} msgs/s");
    }
    Ok(())
}

fn rate(start: Instant) -> f64 {
    COUNT as f64 / start.elapsed().as_secs_f64()
}
