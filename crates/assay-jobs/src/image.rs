use std::time::Duration;

use assay_circles::{DecodedImage, DetectOptions, DetectParams, Detection, Limits};
use assay_core::{InputError, JobContext, JobError, JobKind, Output};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::files::{FileAccess, Source};
use crate::kserve::{ModelError, ModelServer};

/// Where circles come from.
#[derive(Debug, Clone, Default)]
pub enum CirclesMode {
    /// assay's own detector (the default).
    #[default]
    Builtin,
    /// Deterministic fake detections, for wiring tests (seed 003's dummy mode).
    Dummy,
    /// A KServe model server (Open Inference Protocol v2).
    Real(ModelServer),
}

impl CirclesMode {
    pub fn name(&self) -> &'static str {
        match self {
            CirclesMode::Builtin => "builtin",
            CirclesMode::Dummy => "dummy",
            CirclesMode::Real(_) => "real",
        }
    }
}

/// Seed 003's circular-object detection on an uploaded image.
pub struct Image {
    pub files: FileAccess,
    pub mode: CirclesMode,
    pub limits: Limits,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePayload {
    pub source: Source,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub options: DetectOptions,
    /// What the server learned at upload, kept for listings.
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub format: Option<String>,
}

fn rejected(e: assay_circles::CirclesError) -> JobError {
    JobError::permanent(format!("{e} ({})", e.code()))
}

impl JobKind for Image {
    type Payload = ImagePayload;

    fn name(&self) -> &'static str {
        "image"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(10 * 60)
    }

    fn heavy(&self) -> bool {
        true
    }

    fn json_submissions(&self) -> bool {
        false
    }

    /// The same bytes with the same options from the same user are answered with the first job.
    fn dedup_key(&self, p: &ImagePayload) -> Option<String> {
        p.source.blob().map(|sha256| {
            format!(
                "{sha256}:{}",
                serde_json::to_string(&p.options).unwrap_or_default()
            )
        })
    }

    fn dedup_window(&self) -> Duration {
        crate::FOREVER
    }

    fn content_sha256(&self, p: &ImagePayload) -> Option<String> {
        p.source.blob().map(str::to_owned)
    }

    fn parse(&self, input: Value) -> Result<ImagePayload, InputError> {
        let p: ImagePayload = serde_json::from_value(input)
            .map_err(|e| InputError::Invalid(format!("invalid image input: {e}")))?;
        self.files.check(&p.source)?;
        p.options
            .validate()
            .map_err(|e| InputError::OutOfRange(e.to_string()))?;
        Ok(p)
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        if arg.is_empty() {
            return Err(InputError::Invalid(
                "image expects the path of an image file".into(),
            ));
        }
        Ok(json!({ "source": { "path": arg } }))
    }

    fn describe(&self, result: &Value) -> String {
        let objects = result["objects"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut out = format!(
            "{}x{} {} image, {} circle(s) ({} mode)",
            result["width"],
            result["height"],
            result["format"].as_str().unwrap_or("?"),
            objects.len(),
            result["mode"].as_str().unwrap_or("?")
        );
        for o in objects {
            out.push_str(&format!(
                "\n  #{} centre ({:.1}, {:.1}) radius {:.1} score {:.2}",
                o["id"],
                o["centre"]["x"].as_f64().unwrap_or_default(),
                o["centre"]["y"].as_f64().unwrap_or_default(),
                o["radius"].as_f64().unwrap_or_default(),
                o["score"].as_f64().unwrap_or_default()
            ));
        }
        out
    }

    async fn run(&self, _ctx: JobContext, p: ImagePayload) -> Result<Output, JobError> {
        let path = self.files.resolve(&p.source)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| JobError::permanent(format!("cannot read the stored image: {e}")))?;
        let limits = self.limits.clone();
        let mode = self.mode.clone();
        let options = p.options;
        let decoded = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || assay_circles::decode(&bytes, &limits))
        }
        .await
        .map_err(|e| JobError::retryable(format!("the decoder stopped: {e}")))?
        .map_err(rejected)?;
        let (format, width, height) = (decoded.format(), decoded.width(), decoded.height());
        let detection = match &mode {
            CirclesMode::Builtin => {
                tokio::task::spawn_blocking(move || assay_circles::detect(&decoded, &options))
                    .await
                    .map_err(|e| JobError::retryable(format!("the detector stopped: {e}")))?
                    .map_err(rejected)?
            }
            CirclesMode::Dummy => assay_circles::dummy_detection(width, height, &bytes),
            CirclesMode::Real(server) => real_detection(server, &bytes, &decoded, &options).await?,
        };
        let mut result =
            serde_json::to_value(&detection).map_err(|e| JobError::permanent(e.to_string()))?;
        result["format"] = json!(format);
        result["mode"] = json!(mode.name());
        Ok(Output::new(result))
    }
}

async fn real_detection(
    server: &ModelServer,
    bytes: &[u8],
    decoded: &DecodedImage,
    options: &DetectOptions,
) -> Result<Detection, JobError> {
    let started = std::time::Instant::now();
    let (width, height) = (decoded.width(), decoded.height());
    let mut objects = server
        .infer(bytes, width, height)
        .await
        .map_err(|e| match e {
            ModelError::Unavailable(_) => JobError::retryable(e.to_string()),
            ModelError::Rejected(_) => JobError::permanent(e.to_string()),
        })?;
    objects.truncate(options.max_circles);
    Ok(Detection {
        schema_version: assay_circles::SCHEMA_VERSION,
        width,
        height,
        objects,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        params: DetectParams {
            method: "kserve_v2".into(),
            min_radius: options
                .min_radius
                .unwrap_or(assay_circles::DEFAULT_MIN_RADIUS),
            max_radius: options.max_radius.unwrap_or(width.min(height) / 2),
            sensitivity: options.sensitivity,
            max_circles: options.max_circles,
            edge_threshold: 0.0,
            min_score: 0.0,
        },
    })
}
