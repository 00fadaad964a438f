//! Content-addressed file storage for uploads and fetched artifacts.
//!
//! A blob is named by the SHA-256 of its bytes, so identical uploads are stored once and a
//! job's input can be verified at any time. Uploads are streamed to a temporary file while
//! being hashed and counted, refused as soon as they pass the size limit, and only then moved
//! into place with a rename, so a reader never sees a partial blob.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("the upload is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("{0:?} is not a SHA-256 digest (64 lowercase hex digits)")]
    BadDigest(String),
    #[error("no stored file with digest {0}")]
    Missing(String),
    #[error("file storage failed: {0}")]
    Io(#[from] io::Error),
}

/// A stored blob: its digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub sha256: String,
    pub size: u64,
    /// False when identical bytes were already stored.
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn valid_digest(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// Opens (creating) the store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<BlobStore> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::create_dir_all(root.join("sha256"))?;
        Ok(BlobStore { root })
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if !valid_digest(sha256) {
            return Err(BlobError::BadDigest(sha256.to_owned()));
        }
        Ok(self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }

    /// The path of an existing blob.
    pub fn existing(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        let path = self.path(sha256)?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(BlobError::Missing(sha256.to_owned()))
        }
    }

    /// Streams `chunks` into the store, refusing more than `limit` bytes.
    pub async fn put_stream<S, E>(&self, mut chunks: S, limit: u64) -> Result<BlobRef, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Removed on every early return, and when the caller drops this future (a client
        // that disconnects mid-upload), so no partial file is left behind.
        let tmp = TempFile(self.root.join("tmp").join(uuid::Uuid::new_v4().to_string()));
        let mut file = tokio::fs::File::create(&tmp.0).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| BlobError::Interrupted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        let sha256 = hex::encode(hasher.finalize());
        let dest = self.path(&sha256)?;
        let created = !dest.exists();
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&tmp.0, &dest).await?;
        Ok(BlobRef {
            sha256,
            size,
            created,
        })
    }

    /// Stores bytes already in memory, such as a fetched package artifact.
    pub async fn put_bytes(&self, bytes: Bytes, limit: u64) -> Result<BlobRef, BlobError> {
        let chunks = futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
        self.put_stream(chunks, limit).await
    }

    /// Deletes a blob; a missing one is not an error.
    pub async fn remove(&self, sha256: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(sha256)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// A temporary file deleted when dropped (after a rename, the delete finds nothing).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_by_digest_and_refuses_oversize_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let abc = || futures::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"abc"))]);
        let blob = store.put_stream(abc(), 10).await.unwrap();
        assert!(blob.created);
        assert!(
            !store.put_stream(abc(), 10).await.unwrap().created,
            "stored once"
        );
        assert_eq!(
            blob.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            std::fs::read(store.existing(&blob.sha256).unwrap()).unwrap(),
            b"abc"
        );
        let chunks =
            futures::stream::iter((0..5).map(|_| Ok::<_, io::Error>(Bytes::from_static(b"xxxx"))));
        assert!(matches!(
            store.put_stream(chunks, 10).await,
            Err(BlobError::TooLarge { limit: 10 })
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "no partial file left"
        );
        assert!(matches!(
            store.path("../etc/passwd"),
            Err(BlobError::BadDigest(_))
        ));
        assert!(matches!(
            store.existing(&"0".repeat(64)),
            Err(BlobError::Missing(_))
        ));
        store.remove(&blob.sha256).await.unwrap();
        assert!(matches!(
            store.existing(&blob.sha256),
            Err(BlobError::Missing(_))
        ));
        store.remove(&blob.sha256).await.unwrap();
    }
}
