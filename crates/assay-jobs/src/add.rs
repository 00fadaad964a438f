use assay_core::{InputError, JobContext, JobError, JobKind, Output};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Seed 004's `add(x, y)`: integer addition, refused at submission when the sum overflows.
pub struct Add;

/// Two 64-bit integers whose sum is known to fit; only [`Add::parse`] builds one.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPayload {
    x: i64,
    y: i64,
}

impl JobKind for Add {
    type Payload = AddPayload;

    fn name(&self) -> &'static str {
        "add"
    }

    fn parse(&self, input: Value) -> Result<AddPayload, InputError> {
        let payload: AddPayload = serde_json::from_value(input).map_err(|e| {
            InputError::Invalid(format!(
                "add expects {{\"x\": integer, \"y\": integer}}: {e}"
            ))
        })?;
        if payload.x.checked_add(payload.y).is_none() {
            return Err(InputError::OutOfRange(format!(
                "{} + {} overflows a 64-bit signed integer; the sum must lie between {} and {}",
                payload.x,
                payload.y,
                i64::MIN,
                i64::MAX
            )));
        }
        Ok(payload)
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        if arg.trim_start().starts_with('{') {
            return serde_json::from_str(arg)
                .map_err(|e| InputError::Invalid(format!("add input is not valid JSON: {e}")));
        }
        let parts: Vec<&str> = arg.split(',').map(str::trim).collect();
        let [x, y] = parts.as_slice() else {
            return Err(InputError::Invalid(format!(
                "add expects two integers such as `2,3` or JSON such as {{\"x\":2,\"y\":3}}, got {arg:?}"
            )));
        };
        let int = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| InputError::Invalid(format!("{s:?} is not a 64-bit integer")))
        };
        Ok(json!({ "x": int(x)?, "y": int(y)? }))
    }

    fn describe(&self, result: &Value) -> String {
        result["value"].to_string()
    }

    async fn run(&self, _ctx: JobContext, p: AddPayload) -> Result<Output, JobError> {
        // `parse` proved the sum fits, but a stored input bypasses it if edited by hand.
        let value =
            p.x.checked_add(p.y)
                .ok_or_else(|| JobError::permanent(format!("{} + {} overflows", p.x, p.y)))?;
        Ok(Output::new(json!({ "value": value })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_input_accepts_pairs_and_json() {
        assert_eq!(Add.cli_input("2,3").unwrap(), json!({"x": 2, "y": 3}));
        assert_eq!(Add.cli_input(" -1 , 4").unwrap(), json!({"x": -1, "y": 4}));
        assert_eq!(
            Add.cli_input(r#"{"x":2,"y":3}"#).unwrap(),
            json!({"x": 2, "y": 3})
        );
        assert!(Add.cli_input("2").is_err());
        assert!(Add.cli_input("2,a").is_err());
    }

    #[test]
    fn overflow_is_out_of_range_and_wrong_types_are_invalid() {
        let err = Add.parse(json!({"x": i64::MAX, "y": 1})).unwrap_err();
        assert_eq!(err.http_status(), 422);
        let err = Add.parse(json!({"x": "2", "y": 1})).unwrap_err();
        assert_eq!(err.http_status(), 400);
        let err = Add.parse(json!({"x": 2.5, "y": 1})).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
    }

    #[tokio::test]
    async fn adds() {
        let p = Add.parse(json!({"x": 2, "y": 3})).unwrap();
        let out = Add.run(JobContext::detached(), p).await.unwrap();
        assert_eq!(out.result, json!({"value": 5}));
    }
}
