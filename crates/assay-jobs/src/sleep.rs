use std::time::Duration;

use assay_core::{Effect, InputError, JobContext, JobError, JobKind, Output};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A slow no-op for crash and shutdown tests; registered only when test kinds are enabled.
pub struct Sleep;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepPayload {
    ms: u64,
    /// Stored as a message when the attempt succeeds: a side effect chaos tests can count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

const MAX_SLEEP_MS: u64 = 600_000;

impl JobKind for Sleep {
    type Payload = SleepPayload;

    fn name(&self) -> &'static str {
        "sleep"
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(MAX_SLEEP_MS + 1_000)
    }

    fn parse(&self, input: Value) -> Result<SleepPayload, InputError> {
        let p: SleepPayload = serde_json::from_value(input).map_err(|e| {
            InputError::Invalid(format!(
                "sleep expects {{\"ms\": integer, \"message\": optional string}}: {e}"
            ))
        })?;
        if p.ms > MAX_SLEEP_MS {
            return Err(InputError::OutOfRange(format!(
                "sleep ms must be at most {MAX_SLEEP_MS}, got {}",
                p.ms
            )));
        }
        Ok(p)
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        let ms = arg
            .trim()
            .parse::<u64>()
            .map_err(|_| InputError::Invalid(format!("sleep expects milliseconds, got {arg:?}")))?;
        Ok(json!({ "ms": ms }))
    }

    async fn run(&self, ctx: JobContext, p: SleepPayload) -> Result<Output, JobError> {
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        let mut output = Output::new(
            json!({ "slept_ms": p.ms, "attempt": ctx.attempt, "pid": std::process::id() }),
        );
        if let Some(data) = p.message {
            output.effects.push(Effect::StoreMessage {
                data,
                template: "default".into(),
            });
        }
        Ok(output)
    }
}
