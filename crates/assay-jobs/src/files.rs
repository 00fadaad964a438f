use std::path::PathBuf;

use assay_blob::BlobStore;
use assay_core::{InputError, JobError};
use serde::{Deserialize, Serialize};

/// Where a file-taking job reads its input: a stored upload, or — for `assay run` on the
/// local machine only — a path. Kinds refuse paths unless built with `local_files`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Blob(String),
    Path(PathBuf),
}

impl Source {
    /// The digest of a stored upload; `None` for a local path.
    pub fn blob(&self) -> Option<&str> {
        match self {
            Source::Blob(sha256) => Some(sha256),
            Source::Path(_) => None,
        }
    }
}

/// What file-taking kinds need to find their input.
#[derive(Debug, Clone, Default)]
pub struct FileAccess {
    pub blobs: Option<BlobStore>,
    /// Accept `Source::Path`: set by the command line, never by the server.
    pub local_files: bool,
}

impl FileAccess {
    pub fn check(&self, source: &Source) -> Result<(), InputError> {
        match source {
            Source::Path(_) if !self.local_files => Err(InputError::Invalid(
                "local paths are accepted only by `assay run`; upload the file instead".into(),
            )),
            Source::Blob(_) if self.blobs.is_none() => {
                Err(InputError::Invalid("no file store is configured".into()))
            }
            _ => Ok(()),
        }
    }

    pub fn resolve(&self, source: &Source) -> Result<PathBuf, JobError> {
        match (source, &self.blobs) {
            (Source::Path(path), _) if self.local_files => Ok(path.clone()),
            (Source::Blob(sha256), Some(blobs)) => blobs
                .existing(sha256)
                .map_err(|e| JobError::permanent(format!("the uploaded file is gone: {e}"))),
            _ => Err(JobError::permanent(
                "the job's input file cannot be reached from this worker",
            )),
        }
    }
}
