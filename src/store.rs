//! Where archived bytes go: an S3 bucket or a local directory, behind one
//! interface, with object keys built from a template of sanitized facts.

mod facts;
pub mod fs;
pub mod health;
pub mod key;
pub mod place;
pub mod read;
pub mod s3;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::catalog::StoredAt;
use crate::config::{Config, StoreConfig, TransferConfig};
use crate::digest::{Digests, Hasher};
use crate::retry::Failure;
use crate::upload::{OriginMark, UploadRecord};

pub use facts::ObjectFacts;
pub use key::{sanitize_component, KeyTemplate};

/// Where an upload reports what must outlive the process: the job's record
/// of it, and the uploads that could not be aborted.
pub trait UploadLog: Send + Sync {
    /// Stores `rec` as the job's upload, durably, before the upload goes on;
    /// fails if the job's claim is lost.
    fn save(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>>;

    /// Notes, durably, that a multipart upload is about to be created at
    /// `rec.key` (its id not known yet): should the store's answer be lost
    /// (a crash mid-request), the next attempt finds the upload at that key
    /// and aborts it ([`Store::abort_unrecorded`]). [`UploadLog::save`]
    /// clears it.
    fn creating(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>>;

    /// Drops the job's record of its upload and keeps `rec` among the
    /// uploads to abort, in one write, before the upload is aborted (a crash
    /// between leaves it known to one or the other); fails if the job's
    /// claim is lost (the upload is another attempt's).
    fn forget(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>>;

    /// An upload about to be aborted that no record names: kept, so that if
    /// the abort fails (or never ends) it is aborted later, until that works.
    fn abandoned(&self, rec: UploadRecord) -> BoxFuture<'static, ()>;

    /// The upload kept by [`UploadLog::forget`] or [`UploadLog::abandoned`] is gone.
    fn aborted(&self, upload_id: &str) -> BoxFuture<'static, ()>;
}

/// An archive store.
pub enum Store {
    Fs(fs::FsStore),
    S3(s3::S3Store),
}

impl Store {
    /// Opens the configured store.
    pub async fn open(config: &Config) -> Result<Store, String> {
        let template = KeyTemplate::parse(config.store.key_template())?;
        Ok(match &config.store {
            StoreConfig::Fs { root, .. } => Store::Fs(fs::FsStore::new(root.clone(), template)),
            StoreConfig::S3 { .. } => {
                Store::S3(s3::S3Store::open(&config.store, &config.transfer, template).await?)
            }
        })
    }

    /// The key a file with these facts is stored under.
    pub fn key_for(&self, facts: &ObjectFacts) -> String {
        match self {
            Store::Fs(s) => s.template.render(facts),
            Store::S3(s) => s.template.render(facts),
        }
    }

    /// The beginnings every key of the archive's files shares.
    pub fn fixed_prefixes(&self) -> Vec<String> {
        match self {
            Store::Fs(s) => s.template.fixed_prefixes(),
            Store::S3(s) => s.template.fixed_prefixes(),
        }
    }

    /// Where `key` is, as the catalog records it.
    pub fn stored_at(&self, key: &str) -> StoredAt {
        match self {
            Store::Fs(s) => StoredAt::Fs {
                path: s.path_of(key).to_string_lossy().into_owned(),
            },
            Store::S3(s) => StoredAt::S3 {
                bucket: s.bucket().to_owned(),
                key: key.to_owned(),
            },
        }
    }

    /// Starts writing `key`, a file from `origin`.
    pub async fn begin(
        &self,
        key: String,
        origin: OriginMark,
        facts: &ObjectFacts,
        transfer: &TransferConfig,
        claim: u64,
        log: Arc<dyn UploadLog>,
    ) -> Result<Upload, Failure> {
        Ok(match self {
            Store::Fs(s) => {
                if let Some(size) = origin.size.filter(|n| *n > transfer.max_file_bytes) {
                    return Err(Failure::permanent(format!(
                        "the origin announces {size} bytes, more than the {} a stored file may \
                         have (transfer.max_file_bytes)",
                        transfer.max_file_bytes
                    )));
                }
                // Each claim writes its own temporary file: a superseded
                // attempt never truncates the one about to be renamed.
                let attempt = format!("{}-{claim}", facts.job_id);
                let u = s.begin(key, &attempt, transfer.max_file_bytes).await?;
                Upload::Fs(u, Hasher::new())
            }
            Store::S3(s) => Upload::S3(
                s.begin(key, origin, facts.metadata(), transfer, log)
                    .await?,
            ),
        })
    }

    /// Continues the upload an earlier attempt left (`rec`) of the file
    /// whose template key is `key`; `None` (the old upload aborted) when it
    /// cannot be continued and the file is to be written afresh.
    pub async fn resume(
        &self,
        key: String,
        rec: &UploadRecord,
        facts: &ObjectFacts,
        transfer: &TransferConfig,
        log: Arc<dyn UploadLog>,
    ) -> Result<Option<Upload>, Failure> {
        Ok(match self {
            // Files in a directory are written afresh by every attempt.
            Store::Fs(_) => None,
            Store::S3(s) => s
                .resume(key, rec, facts.metadata(), transfer, log)
                .await?
                .map(Upload::S3),
        })
    }

    /// Aborts an upload an earlier attempt left, or has `log` keep it.
    pub async fn abort_stale(&self, rec: &UploadRecord, log: &dyn UploadLog) {
        if let Store::S3(s) = self {
            s.abort_stale(rec, log).await;
        }
    }

    /// Aborts the multipart uploads at `pending.key` that no record names
    /// (all but `known`): what a create whose answer was lost left.
    pub async fn abort_unrecorded(
        &self,
        pending: &UploadRecord,
        known: Option<&str>,
        log: &dyn UploadLog,
    ) -> Result<(), Failure> {
        match self {
            Store::Fs(_) => Ok(()),
            Store::S3(s) => s.abort_unrecorded(pending, known, log).await,
        }
    }

    /// Aborts an upload; true once it is gone.
    pub async fn abort_upload(&self, rec: &UploadRecord) -> bool {
        match self {
            Store::Fs(_) => true,
            Store::S3(s) => s.abort_upload(rec).await,
        }
    }

    /// The multipart uploads under the archive's key prefixes, with when
    /// each began (a directory has none).
    pub async fn open_uploads(
        &self,
    ) -> Result<Vec<(UploadRecord, Option<crate::time::Timestamp>)>, Failure> {
        match self {
            Store::Fs(_) => Ok(Vec::new()),
            Store::S3(s) => s.open_uploads().await,
        }
    }

    /// Writes a whole small object at `key` unless one is there (the
    /// catalog manifests): true when written.
    pub async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, Failure> {
        match self {
            Store::Fs(s) => s.put_new(key, &body).await,
            Store::S3(s) => s.put_new(key, body).await,
        }
    }

    /// The whole object at `key`, if any (small ones: manifests, sidecars).
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, Failure> {
        match self {
            Store::Fs(s) => s.get(key).await,
            Store::S3(s) => s.get(key).await,
        }
    }

    /// Every key under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        match self {
            Store::Fs(s) => s.list(prefix).await,
            Store::S3(s) => s.list(prefix).await,
        }
    }

    /// The catalog sidecar beside the file stored at `at`, if any.
    pub async fn sidecar(&self, at: &StoredAt) -> Result<Option<Bytes>, Failure> {
        match (self, at) {
            (Store::S3(s), StoredAt::S3 { key, .. }) => s.get(&format!("{key}.json")).await,
            (_, StoredAt::Fs { path }) => {
                fs::read_if_there(Path::new(&format!("{path}.json"))).await
            }
            _ => Ok(None),
        }
    }

    /// Writes the catalog sidecar beside the file at `at` unless one is
    /// there: true when written.
    pub async fn create_sidecar(&self, at: &StoredAt, body: Bytes) -> Result<bool, Failure> {
        match (self, at) {
            (Store::S3(s), StoredAt::S3 { key, .. }) => {
                s.put_new(&format!("{key}.json"), body).await
            }
            (Store::Fs(s), StoredAt::Fs { path }) => {
                let key = Path::new(path).strip_prefix(s.root()).map_err(|_| {
                    Failure::permanent(format!("{path} is not under the store's root"))
                })?;
                s.put_new(&format!("{}.json", key.to_string_lossy()), &body)
                    .await
            }
            _ => Err(Failure::permanent("the file is not in this store")),
        }
    }

    /// A link anyone holding it may download the file at `at` with, for
    /// `expires` (S3: presigned); `None` for a directory store, or a place
    /// that is not this store's (a catalog entry names it, and entries can
    /// come from a bucket others write to).
    pub async fn presign(
        &self,
        at: &StoredAt,
        expires: std::time::Duration,
    ) -> Result<Option<String>, Failure> {
        match (self, at) {
            (Store::S3(s), StoredAt::S3 { bucket, key }) if bucket == s.bucket() => {
                s.presign(key, expires).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The local file at `at`, if it lies under this directory store's root
    /// once symlinks are resolved; `None` otherwise (an S3 store, or a path
    /// elsewhere).
    pub fn local_file(&self, at: &StoredAt) -> Option<std::path::PathBuf> {
        let (Store::Fs(s), StoredAt::Fs { path }) = (self, at) else {
            return None;
        };
        let root = std::fs::canonicalize(s.root()).ok()?;
        let file = std::fs::canonicalize(path).ok()?;
        file.starts_with(&root).then_some(file)
    }

    /// Checks that the store answers (S3: HeadBucket), saying what is wrong if not.
    /// Whether the store answers, as the transfers last found it.
    pub fn health(&self) -> &health::StoreHealth {
        match self {
            Store::Fs(s) => &s.health,
            Store::S3(s) => &s.health,
        }
    }

    pub async fn check(&self) -> Result<(), String> {
        match self {
            Store::Fs(s) => s.check().await,
            Store::S3(s) => s.check().await,
        }
    }
}

/// An object being written, hashed as it is.
// One exists per transfer in flight: its size is of no consequence.
#[allow(clippy::large_enum_variant)]
pub enum Upload {
    Fs(fs::FsUpload, Hasher),
    S3(s3::S3Upload),
}

impl Upload {
    /// Appends bytes; may wait for earlier parts to upload (bounded memory).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Failure> {
        match self {
            Upload::Fs(u, h) => {
                h.update(&chunk);
                u.write(&chunk).await
            }
            Upload::S3(u) => u.write(chunk).await,
        }
    }

    /// Bytes of the file written so far (a continued upload counts those
    /// written by earlier attempts).
    pub fn size(&self) -> u64 {
        match self {
            Upload::Fs(_, h) => h.size(),
            Upload::S3(u) => u.size(),
        }
    }

    /// The digests of every byte of the file written so far.
    pub fn digests(&self) -> Digests {
        match self {
            Upload::Fs(_, h) => h.clone().finish(),
            Upload::S3(u) => u.digests(),
        }
    }

    /// Whether every byte is in the store already (an upload the store
    /// completed after an earlier attempt stopped waiting).
    pub fn is_complete(&self) -> bool {
        match self {
            Upload::Fs(..) => false,
            Upload::S3(u) => u.is_complete(),
        }
    }

    /// The key the file will have: its template's, or the first free
    /// variant of it when another file is already there.
    pub fn key(&self) -> &str {
        match self {
            Upload::Fs(u, _) => u.key(),
            Upload::S3(u) => u.key(),
        }
    }

    /// Completes the object (`metadata` for a single PutObject) and writes
    /// the catalog sidecar,
    /// never over another object; where an object found in the key's way
    /// holds the same bytes (`sha256`), that one is the file's, and nothing
    /// is written. Returns where the file is. On failure the upload is left
    /// to be suspended or aborted.
    pub async fn finish(
        &mut self,
        metadata: BTreeMap<String, String>,
        sha256: &str,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        match self {
            Upload::Fs(u, _) => u.finish(sha256, sidecar).await,
            Upload::S3(u) => u.finish(metadata, sha256, sidecar).await,
        }
    }

    /// Stops, leaving what is in the store for the next attempt to continue
    /// (a multipart upload, as recorded); a directory keeps nothing.
    pub async fn suspend(self) {
        match self {
            Upload::Fs(u, _) => u.abort().await,
            Upload::S3(u) => u.suspend().await,
        }
    }

    /// Gives up: nothing is left behind.
    pub async fn abort(self) {
        match self {
            Upload::Fs(u, _) => u.abort().await,
            Upload::S3(u) => u.abort().await,
        }
    }
}
