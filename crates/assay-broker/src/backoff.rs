use std::time::Duration;

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
