use std::time::Duration;

use assay_core::{InputError, JobContext, JobError, JobKind, Output};
use assay_package::archive::Limits;
use assay_package::fetch::{FetchError, Fetcher};
use assay_package::purl::{Purl, PurlError};
use assay_package::{ArtifactInput, Ecosystem, PackageReport};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::files::{FileAccess, Source};

/// Seed 000's package analysis: a purl fetched from its registry, or an uploaded archive.
pub struct Package {
    pub files: FileAccess,
    pub config: PackageConfig,
}

#[derive(Debug, Clone)]
pub struct PackageConfig {
    pub fetcher: Fetcher,
    pub limits: Limits,
    pub timeout: Duration,
    /// A second request for the same purl within this window returns the first job.
    pub dedup_window: Duration,
    /// The largest archive read from a local path or upload.
    pub max_artifact_bytes: u64,
}

impl Default for PackageConfig {
    fn default() -> Self {
        PackageConfig {
            fetcher: Fetcher::default(),
            limits: Limits::default(),
            timeout: Duration::from_secs(30 * 60),
            dedup_window: Duration::from_secs(24 * 3600),
            max_artifact_bytes: assay_package::fetch::DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }
}

/// Either `purl`, or `source` (an upload or, for `assay run`, a local archive).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Needed only when the archive's contents do not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<Ecosystem>,
    /// Analyse again even when a recent job for the same purl exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

fn purl_refused(e: PurlError) -> InputError {
    let status = if e.code() == "unsupported_ecosystem" {
        422
    } else {
        400
    };
    InputError::Coded {
        code: e.code(),
        status,
        message: e.to_string(),
    }
}

fn fetch_failed(e: FetchError) -> JobError {
    let message = if matches!(e, FetchError::NotFound(_)) {
        e.to_string()
    } else {
        format!("{e} ({})", e.code())
    };
    if e.is_retryable() {
        JobError::retryable(message)
    } else {
        JobError::permanent(message)
    }
}

impl JobKind for Package {
    type Payload = PackagePayload;

    fn name(&self) -> &'static str {
        "package"
    }

    fn timeout(&self) -> Duration {
        self.config.timeout
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    fn heavy(&self) -> bool {
        true
    }

    /// Purls dedup by their canonical form; uploads by their bytes.
    fn dedup_key(&self, p: &PackagePayload) -> Option<String> {
        if p.force {
            return None;
        }
        match (&p.purl, &p.source) {
            (Some(purl), _) => Some(purl.clone()),
            (None, Some(source)) => source.blob().map(|sha256| {
                let ecosystem = p.ecosystem.map(|e| format!("{e:?}")).unwrap_or_default();
                format!("{sha256}:{ecosystem}")
            }),
            (None, None) => None,
        }
    }

    fn dedup_window(&self) -> Duration {
        self.config.dedup_window
    }

    fn content_sha256(&self, p: &PackagePayload) -> Option<String> {
        p.source.as_ref().and_then(Source::blob).map(str::to_owned)
    }

    fn parse(&self, input: Value) -> Result<PackagePayload, InputError> {
        let mut p: PackagePayload = serde_json::from_value(input).map_err(|e| {
            InputError::Invalid(format!(
                "invalid package input: {e}; send {{\"purl\": \"pkg:npm/NAME@VERSION\"}}"
            ))
        })?;
        match (&p.purl, &p.source) {
            (Some(raw), None) => {
                let purl = Purl::parse(raw).map_err(purl_refused)?;
                purl.ecosystem().map_err(purl_refused)?;
                // Canonical, so `pkg:pypi/Django` and `pkg:pypi/django` dedup together.
                p.purl = Some(purl.to_string());
            }
            (None, Some(source)) => self.files.check(source)?,
            (Some(_), Some(_)) => {
                return Err(InputError::Invalid(
                    "give either a purl or an archive, not both".into(),
                ))
            }
            (None, None) => {
                return Err(InputError::Invalid(
                    "a purl is required, such as {\"purl\": \"pkg:npm/lodash@4.17.21\"}".into(),
                ))
            }
        }
        Ok(p)
    }

    /// A purl, or the path of a local archive.
    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        if arg.starts_with("pkg:") {
            Ok(json!({ "purl": arg }))
        } else if std::path::Path::new(arg).is_file() {
            Ok(json!({ "source": { "path": arg } }))
        } else {
            Err(InputError::Invalid(format!(
                "{arg:?} is neither a purl (pkg:npm/NAME@VERSION) nor an archive file"
            )))
        }
    }

    fn describe(&self, result: &Value) -> String {
        match serde_json::from_value::<PackageReport>(result.clone()) {
            Ok(r) => format!(
                "{} {} {}: {:?}, score {:.1}, {} findings",
                format!("{:?}", r.package.ecosystem).to_lowercase(),
                r.package.name,
                r.package.version.as_deref().unwrap_or("-"),
                r.verdict,
                r.score,
                r.findings.len()
            ),
            Err(_) => result.to_string(),
        }
    }

    async fn run(&self, _ctx: JobContext, p: PackagePayload) -> Result<Output, JobError> {
        let report = match (&p.purl, &p.source) {
            (Some(purl), _) => self.analyse_purl(purl).await?,
            (None, Some(source)) => self.analyse_archive(source, &p).await?,
            (None, None) => return Err(JobError::permanent("the job names no package")),
        };
        let result = serde_json::to_value(&report)
            .map_err(|e| JobError::permanent(format!("the report cannot be encoded: {e}")))?;
        Ok(Output::new(result))
    }
}

impl Package {
    async fn analyse_purl(&self, raw: &str) -> Result<PackageReport, JobError> {
        let purl = Purl::parse(raw).map_err(|e| JobError::permanent(e.to_string()))?;
        let ecosystem = purl
            .ecosystem()
            .map_err(|e| JobError::permanent(e.to_string()))?;
        let fetcher = self.config.fetcher.clone();
        let fetch_purl = purl.clone();
        let fetched = blocking(move || fetcher.fetch(&fetch_purl))
            .await?
            .map_err(fetch_failed)?;
        // Kept by digest, so a finding can be checked against the very bytes analysed.
        if let Some(blobs) = &self.files.blobs {
            for artifact in &fetched.artifacts {
                let bytes = bytes::Bytes::copy_from_slice(&artifact.bytes);
                blobs
                    .put_bytes(bytes, self.config.max_artifact_bytes)
                    .await
                    .map_err(|e| {
                        JobError::retryable(format!("storing the artifact failed: {e}"))
                    })?;
            }
        }
        let limits = self.config.limits.clone();
        blocking(move || {
            let inputs: Vec<_> = fetched
                .artifacts
                .iter()
                .map(|a| ArtifactInput {
                    filename: &a.filename,
                    bytes: &a.bytes,
                })
                .collect();
            assay_package::scan(
                Some(ecosystem),
                Some(&fetched.name),
                Some(&fetched.version),
                &inputs,
                &limits,
            )
        })
        .await?
        .map_err(|e| JobError::permanent(format!("{e} ({})", e.code())))
    }

    async fn analyse_archive(
        &self,
        source: &Source,
        p: &PackagePayload,
    ) -> Result<PackageReport, JobError> {
        let path = self.files.resolve(source)?;
        let filename = p.filename.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let (ecosystem, limits, max) = (
            p.ecosystem,
            self.config.limits.clone(),
            self.config.max_artifact_bytes,
        );
        blocking(move || {
            let size = std::fs::metadata(&path)
                .map_err(|e| JobError::permanent(format!("cannot read {}: {e}", path.display())))?
                .len();
            if size > max {
                return Err(JobError::permanent(format!(
                    "the archive is {size} bytes, over the {max}-byte limit (artifact_too_large)"
                )));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| JobError::permanent(format!("cannot read {}: {e}", path.display())))?;
            let input = ArtifactInput {
                filename: &filename,
                bytes: &bytes,
            };
            assay_package::scan(ecosystem, None, None, &[input], &limits)
                .map_err(|e| JobError::permanent(format!("{e} ({})", e.code())))
        })
        .await?
    }
}

/// Runs CPU-bound or blocking work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobError::retryable(format!("the analysis stopped: {e}")))
}
