use std::time::Duration;
#[cfg(any(feature = "nats", feature = "amqp"))]
use {
    crate::BrokerError,
    futures::{stream::BoxStream, StreamExt},
    std::future::Future,
};

const FIRST: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(5);

/// Delay before reconnecting: doubles with each failure in a row, so a caller that retries in
/// a loop while the broker is down does not spin.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(crate) async fn wait(&self) {
        if self.failures > 0 {
            let delay = FIRST.saturating_mul(1 << (self.failures - 1).min(16));
            tokio::time::sleep(delay.min(MAX)).await;
        }
    }

    pub(crate) fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// A subscription's stream of messages, reopened by the first call after it failed or ended.
#[cfg(any(feature = "nats", feature = "amqp"))]
pub(crate) struct Reopening<T> {
    stream: Option<BoxStream<'static, Result<T, BrokerError>>>,
    backoff: Backoff,
}

#[cfg(any(feature = "nats", feature = "amqp"))]
impl<T> Reopening<T> {
    pub(crate) fn opened(stream: BoxStream<'static, Result<T, BrokerError>>) -> Self {
        Reopening {
            stream: Some(stream),
            backoff: Backoff::default(),
        }
    }

    /// The next message; `open` makes a new stream when there is none, `ended` says what it
    /// means when the stream ends.
    pub(crate) async fn next<F, Fut>(&mut self, open: F, ended: &str) -> Result<T, BrokerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<BoxStream<'static, Result<T, BrokerError>>, BrokerError>>,
    {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                self.backoff.wait().await;
                match open().await {
                    Ok(stream) => self.stream.insert(stream),
                    Err(e) => {
                        self.backoff.failed();
                        return Err(e);
                    }
                }
            }
        };
        let failure = match stream.next().await {
            Some(Ok(message)) => {
                self.backoff.succeeded();
                return Ok(message);
            }
            Some(Err(e)) => e,
            None => BrokerError::Connection(ended.to_owned()),
        };
        self.stream = None;
        self.backoff.failed();
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let start = Instant::now();
            backoff.wait().await;
            waits.push(start.elapsed().as_millis());
            backoff.failed();
        }
        assert_eq!(waits, [0, 100, 200, 400, 800, 1600, 3200, 5000]);
        backoff.succeeded();
        let start = Instant::now();
        backoff.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
