use std::str::FromStr;

use assay_core::{Effect, InputError, JobContext, JobError, JobKind, Output};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Seed 001's message: text saved through the queue and shown by `/view`.
pub struct Message;

/// The longest message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// How `/view` renders the stored messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    #[default]
    Default,
    Space,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Default => "default",
            Template::Space => "space",
        }
    }
}

impl FromStr for Template {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        match s {
            "default" | "" => Ok(Template::Default),
            "space" => Ok(Template::Space),
            other => Err(InputError::Invalid(format!(
                "unknown template {other:?}; valid templates are: default, space"
            ))),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagePayload {
    data: String,
    #[serde(default)]
    template: Template,
}

impl JobKind for Message {
    type Payload = MessagePayload;

    fn name(&self) -> &'static str {
        "message"
    }

    fn parse(&self, input: Value) -> Result<MessagePayload, InputError> {
        let p: MessagePayload = serde_json::from_value(input).map_err(|e| {
            InputError::Invalid(format!(
                "message expects {{\"data\": string, \"template\": \"default\"|\"space\"}}: {e}"
            ))
        })?;
        if p.data.trim().is_empty() {
            return Err(InputError::Invalid("message data must not be empty".into()));
        }
        if p.data.len() > MAX_MESSAGE_BYTES {
            return Err(InputError::OutOfRange(format!(
                "message data is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                p.data.len()
            )));
        }
        Ok(p)
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        Ok(json!({ "data": arg }))
    }

    fn parks_while_database_down(&self) -> bool {
        true
    }

    fn describe(&self, result: &Value) -> String {
        format!("stored: {}", result["data"].as_str().unwrap_or_default())
    }

    async fn run(&self, _ctx: JobContext, p: MessagePayload) -> Result<Output, JobError> {
        Ok(Output {
            result: json!({ "stored": true, "data": p.data, "template": p.template.as_str() }),
            effects: vec![Effect::StoreMessage {
                data: p.data,
                template: p.template.as_str().to_owned(),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_long_and_unknown_template() {
        assert_eq!(
            Message
                .parse(json!({"data": " "}))
                .unwrap_err()
                .http_status(),
            400
        );
        let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert_eq!(
            Message
                .parse(json!({"data": long}))
                .unwrap_err()
                .http_status(),
            422
        );
        assert!(Message
            .parse(json!({"data": "hi", "template": "neon"}))
            .is_err());
        assert!(Message
            .parse(json!({"data": "hi", "template": "space"}))
            .is_ok());
    }
}
