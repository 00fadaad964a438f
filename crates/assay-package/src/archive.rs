//! Extracting archives in memory under limits, reporting every hostile entry as a finding.

use crate::{Ecosystem, Finding};

/// Bounds on what one artifact may expand to.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_files: usize,
    /// Largest allowed ratio of expanded to compressed bytes.
    pub max_ratio: u64,
    /// How deep archives inside archives are opened.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_total_bytes: 512 << 20,
            max_file_bytes: 64 << 20,
            max_files: 50_000,
            max_ratio: 200,
            max_depth: 2,
        }
    }
}

/// One regular file from an archive, its path normalised (`/`-separated, relative).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Extracted {
    pub files: Vec<Entry>,
    /// Hostile or suspicious entries, never written or followed.
    pub findings: Vec<Finding>,
    /// True when a limit stopped extraction early.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("TODO")]
    Corrupt(String),
}

impl ArchiveError {
    /// `invalid_archive`.
    pub fn code(&self) -> &'static str {
        "invalid_archive"
    }
}

/// Extracts `bytes`, whose format is told by `filename` (`.tgz`, `.tar.gz`, `.zip`, `.whl`, ...)
/// or sniffed from the magic bytes.
pub fn extract(filename: &str, bytes: &[u8], limits: &Limits) -> Result<Extracted, ArchiveError> {
    let _ = (filename, bytes, limits);
    Ok(Extracted::default())
}

/// npm when `package/package.json` is present; PyPI for `PKG-INFO`, `setup.py` or
/// `*.dist-info/METADATA`.
pub fn detect_ecosystem(files: &[Entry]) -> Option<Ecosystem> {
    let _ = files;
    None
}
