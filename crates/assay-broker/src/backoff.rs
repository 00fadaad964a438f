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
