use assay_core::{InputError, JobContext, JobError, JobKind, Output};
use assay_csv::{CsvError, CsvOptions, CsvReport};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::files::{FileAccess, Source};

/// Seed 002's CSV analysis: a streaming profile of an uploaded file.
pub struct Csv {
    pub files: FileAccess,
    pub max_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvPayload {
    pub source: Source,
    #[serde(default)]
    pub filename: Option<String>,
    /// One ASCII character; sniffed when absent.
    #[serde(default)]
    pub delimiter: Option<char>,
}

/// The seed's two failure messages, each followed by the detail.
pub const READ_FAILED: &str = "Failed to read csv file";
pub const PROCESS_FAILED: &str = "Failed to process data";

fn failure(e: CsvError) -> JobError {
    let prefix = if e.is_read_error() {
        READ_FAILED
    } else {
        PROCESS_FAILED
    };
    let message = format!("{prefix}: {e} ({})", e.code());
    if e.is_retryable() {
        JobError::retryable(message)
    } else {
        JobError::permanent(message)
    }
}

impl JobKind for Csv {
    type Payload = CsvPayload;

    fn name(&self) -> &'static str {
        "csv"
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30 * 60)
    }

    fn json_submissions(&self) -> bool {
        false
    }

    fn heavy(&self) -> bool {
        true
    }

    /// The same bytes profiled the same way by the same user are answered with the first job.
    fn dedup_key(&self, p: &CsvPayload) -> Option<String> {
        p.source.blob().map(|sha256| {
            format!(
                "{sha256}:{}",
                p.delimiter.map(String::from).unwrap_or_default()
            )
        })
    }

    fn dedup_window(&self) -> std::time::Duration {
        crate::FOREVER
    }

    fn content_sha256(&self, p: &CsvPayload) -> Option<String> {
        p.source.blob().map(str::to_owned)
    }

    fn parse(&self, input: Value) -> Result<CsvPayload, InputError> {
        let p: CsvPayload = serde_json::from_value(input)
            .map_err(|e| InputError::Invalid(format!("invalid csv input: {e}")))?;
        self.files.check(&p.source)?;
        if let Some(d) = p.delimiter {
            if !d.is_ascii() || matches!(d, '"' | '\n' | '\r') {
                return Err(InputError::Invalid(format!(
                    "delimiter {d:?} is not usable; use one ASCII character such as ',' ';' '\\t' or '|'"
                )));
            }
        }
        Ok(p)
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        if arg.is_empty() {
            return Err(InputError::Invalid(
                "csv expects the path of a CSV file".into(),
            ));
        }
        Ok(json!({ "source": { "path": arg } }))
    }

    fn describe(&self, result: &Value) -> String {
        serde_json::from_value::<CsvReport>(result.clone())
            .map(|r| r.summary())
            .unwrap_or_else(|_| result.to_string())
    }

    async fn run(&self, _ctx: JobContext, p: CsvPayload) -> Result<Output, JobError> {
        let path = self.files.resolve(&p.source)?;
        let options = CsvOptions {
            delimiter: p.delimiter.map(|d| d as u8),
            max_bytes: self.max_bytes,
            ..CsvOptions::default()
        };
        let report = tokio::task::spawn_blocking(move || assay_csv::profile_path(&path, &options))
            .await
            .map_err(|e| {
                JobError::retryable(format!("{PROCESS_FAILED}: the profiler stopped: {e}"))
            })?
            .map_err(failure)?;
        let result = serde_json::to_value(&report)
            .map_err(|e| JobError::permanent(format!("{PROCESS_FAILED}: {e}")))?;
        Ok(Output::new(result))
    }
}
