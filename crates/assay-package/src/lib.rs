//! Package malware analysis: is this npm or PyPI package safe to install?
//!
//! A user names a package by purl (`pkg:npm/lodash@4.17.21`) or hands over an archive. This
//! crate parses the purl ([`purl`]), fetches the artifacts through the ecosystem's own client
//! or a configured registry URL ([`fetch`]), extracts them in memory under limits without ever
//! writing or following a hostile path ([`archive`]), reads the code with real parsers
//! ([`analyze`]) and answers with a typed [`PackageReport`]: findings with evidence, a 0-10
//! score and a verdict. It knows nothing of HTTP or databases.

pub mod analyze;
pub mod archive;
pub mod fetch;
pub mod purl;
mod report;

use std::time::Instant;

pub use report::{
    ArtifactSummary, Ecosystem, Finding, PackageId, PackageReport, Severity, Verdict,
    SCHEMA_VERSION,
};

use archive::{ArchiveError, Limits};

/// One archive to scan: its file name (which tells the format) and its bytes.
pub struct ArtifactInput<'a> {
    pub filename: &'a str,
    pub bytes: &'a [u8],
}

/// Extracts and analyses the artifacts of one package version.
///
/// `ecosystem` is detected from the first artifact's contents when `None`; `name` is the
/// package's name for the typosquatting and metadata rules (read from the metadata when
/// `None`).
pub fn scan(
    ecosystem: Option<Ecosystem>,
    name: Option<&str>,
    version: Option<&str>,
    artifacts: &[ArtifactInput<'_>],
    limits: &Limits,
) -> Result<PackageReport, ScanError> {
    let started = Instant::now();
    let digest =
        |a: &ArtifactInput<'_>| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(a.bytes));
    std::thread::scope(|s| {
        // Extraction runs on one thread: the analysers' one-time setup and the digests run
        // beside it.
        s.spawn(|| analyze::prepare(ecosystem));
        let digests = s.spawn(|| artifacts.iter().map(digest).collect::<Vec<_>>());
        let extracted = artifacts
            .iter()
            .map(|a| archive::extract(a.filename, a.bytes, limits))
            .collect::<Result<Vec<_>, _>>()?;
        let digests = digests
            .join()
            .unwrap_or_else(|_| artifacts.iter().map(digest).collect());
        let mut findings = Vec::new();
        let mut summaries = Vec::new();
        let mut files = Vec::new();
        for ((artifact, extracted), sha256) in artifacts.iter().zip(extracted).zip(digests) {
            summaries.push(ArtifactSummary {
                filename: artifact.filename.to_owned(),
                sha256,
                size: artifact.bytes.len() as u64,
                files: extracted.files.len(),
                truncated: extracted.truncated,
            });
            findings.extend(extracted.findings);
            files.extend(extracted.files);
        }
        let ecosystem = ecosystem
            .or_else(|| archive::detect_ecosystem(&files))
            .ok_or(ScanError::UnknownEcosystem)?;
        let name = name.map(str::to_owned).unwrap_or_default();
        findings.extend(analyze::analyze(ecosystem, &name, &files));
        let (score, verdict, drivers) = analyze::score(&findings);
        Ok(PackageReport {
            schema_version: SCHEMA_VERSION,
            package: PackageId {
                ecosystem,
                name,
                version: version.map(str::to_owned),
            },
            analysis: serde_json::Map::new(),
            artifacts: summaries,
            files_scanned: files.len(),
            bytes_scanned: files.iter().map(|f| f.data.len() as u64).sum(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            verdict,
            score,
            drivers,
            findings,
        })
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("cannot tell the package's ecosystem from its contents (no package/package.json, PKG-INFO, setup.py or *.dist-info/METADATA); give it explicitly (npm or pypi)")]
    UnknownEcosystem,
}

impl ScanError {
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::Archive(e) => e.code(),
            ScanError::UnknownEcosystem => "unknown_ecosystem",
        }
    }
}
