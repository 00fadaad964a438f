use assay_core::{InputError, JobContext, JobError, JobKind, Output};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Seed 004's `ping()`: answers `"pong"`, proving the pipeline end to end.
pub struct Ping;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingPayload {}

impl JobKind for Ping {
    type Payload = PingPayload;

    fn name(&self) -> &'static str {
        "ping"
    }

    fn parse(&self, input: Value) -> Result<PingPayload, InputError> {
        match input {
            Value::Null => Ok(PingPayload {}),
            Value::Object(map) if map.is_empty() => Ok(PingPayload {}),
            other => Err(InputError::Invalid(format!(
                "ping takes no input, got {other}"
            ))),
        }
    }

    fn cli_input(&self, _arg: &str) -> Result<Value, InputError> {
        Ok(json!({}))
    }

    fn describe(&self, result: &Value) -> String {
        result["value"].as_str().unwrap_or_default().to_owned()
    }

    async fn run(&self, _ctx: JobContext, _payload: PingPayload) -> Result<Output, JobError> {
        Ok(Output::new(json!({ "value": "pong" })))
    }
}
