//! The report every analysis returns, and the finding each rule produces.

use serde::{Deserialize, Serialize};

/// Bumped when a field of [`PackageReport`] changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The package ecosystems assay can fetch and analyse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Npm,
    Pypi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// One piece of evidence: which rule fired, where, and on what text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, such as `install-script` or `archive-path-traversal`.
    pub rule: String,
    pub severity: Severity,
    /// A whole sentence for a human.
    pub message: String,
    /// Path inside the package, when the finding is about a file.
    pub file: Option<String>,
    /// 1-based line, when the finding is about a place in a file.
    pub line: Option<u32>,
    /// A short excerpt (at most 200 characters), control characters escaped.
    pub snippet: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Benign,
    Suspicious,
    Malicious,
}

/// The package analysed, under OSSF package-analysis's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageId {
    #[serde(rename = "Ecosystem")]
    pub ecosystem: Ecosystem,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Version")]
    pub version: Option<String>,
}

/// One artifact that was extracted and scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactSummary {
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub files: usize,
    /// A limit stopped extraction early; the findings say which.
    pub truncated: bool,
}

/// What the analysis concluded; documented in `docs/analyzers/package.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageReport {
    pub schema_version: u32,
    #[serde(rename = "Package")]
    pub package: PackageId,
    /// Dynamic-analysis results by phase (`install`, `import`), OSSF's shape; empty until the
    /// sandbox runs.
    #[serde(rename = "Analysis")]
    pub analysis: serde_json::Map<String, serde_json::Value>,
    pub artifacts: Vec<ArtifactSummary>,
    pub files_scanned: usize,
    pub bytes_scanned: u64,
    pub elapsed_ms: u64,
    pub verdict: Verdict,
    /// 0 (nothing found) to 10 (certainly malicious).
    pub score: f32,
    /// The rule ids that drove the score, strongest first.
    pub drivers: Vec<String>,
    pub findings: Vec<Finding>,
}
