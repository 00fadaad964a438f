//! Removing what assay created on a broker: for tests, and for uninstalling.

use crate::BrokerError;

fn failed(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Connection(format!("removing broker resources failed: {e}"))
}

/// Deletes every stream, queue and key named under `prefix` for these `kinds` (and the
/// dead-letter ones). Missing resources are not an error.
pub async fn remove_resources(url: &str, prefix: &str, kinds: &[&str]) -> Result<(), BrokerError> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
    match scheme {
        #[cfg(feature = "nats")]
        "nats" => {
            let client = async_nats::connect(url).await.map_err(failed)?;
            let js = async_nats::jetstream::new(client);
            for stream in [format!("{prefix}_jobs"), format!("{prefix}_dead")] {
                let _ = js.delete_stream(stream).await;
            }
            Ok(())
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let client = redis::Client::open(url).map_err(failed)?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(failed)?;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            if !keys.is_empty() {
                let () = redis::cmd("DEL")
                    .arg(keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(failed)?;
            }
            Ok(())
        }
        #[cfg(feature = "amqp")]
        "amqp" => {
            let properties = lapin::ConnectionProperties::default()
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio);
            let conn = lapin::Connection::connect(url, properties)
                .await
                .map_err(failed)?;
            let channel = conn.create_channel().await.map_err(failed)?;
            let queues = kinds
                .iter()
                .map(|kind| format!("{prefix}.jobs.{kind}"))
                .chain([format!("{prefix}.dead")]);
            for queue in queues {
                let _ = channel
                    .queue_delete(&queue, lapin::options::QueueDeleteOptions::default())
                    .await;
            }
            let _ = conn.close(200, "done").await;
            Ok(())
        }
        other => Err(BrokerError::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}
