//! Where archived bytes go: an S3 bucket or a local directory, behind one
//! interface, with object keys built from a template of sanitized facts.

mod facts;
pub mod fs;
pub mod key;
pub mod place;
pub mod s3;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::catalog::StoredAt;
use crate::config::{Config, StoreConfig, TransferConfig};
use crate::queue::UploadRecord;
use crate::retry::Failure;

pub use facts::ObjectFacts;
pub use key::{sanitize_component, KeyTemplate};

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

    /// Starts writing `key`. `size_hint` is the origin's Content-Length.
    pub async fn begin(
        &self,
        key: String,
        size_hint: Option<u64>,
        facts: &ObjectFacts,
        transfer: &TransferConfig,
        claim: u64,
    ) -> Result<Upload, Failure> {
        Ok(match self {
            Store::Fs(s) => {
                if let Some(size) = size_hint.filter(|n| *n > transfer.max_file_bytes) {
                    return Err(Failure::permanent(format!(
                        "the origin announces {size} bytes, more than the {} a stored file may \
                         have (transfer.max_file_bytes)",
                        transfer.max_file_bytes
                    )));
                }
                // Each claim writes its own temporary file: a superseded
                // attempt never truncates the one about to be renamed.
                let attempt = format!("{}-{claim}", facts.job_id);
                Upload::Fs(s.begin(key, &attempt, transfer.max_file_bytes).await?)
            }
            Store::S3(s) => Upload::S3(s.begin(key, size_hint, facts.metadata(), transfer).await?),
        })
    }

    /// Aborts an upload a previous run left behind (crash recovery).
    pub async fn abort_stale(&self, rec: &UploadRecord) {
        if let Store::S3(s) = self {
            s.abort_stale(rec).await;
        }
    }

    /// Checks that the store answers (S3: HeadBucket), saying what is wrong if not.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Store::Fs(s) => s.check().await,
            Store::S3(s) => s.check().await,
        }
    }
}

/// An object being written.
pub enum Upload {
    Fs(fs::FsUpload),
    S3(s3::S3Upload),
}

impl Upload {
    /// Appends bytes; may wait for earlier parts to upload (bounded memory).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Failure> {
        match self {
            Upload::Fs(u) => u.write(&chunk).await,
            Upload::S3(u) => u.write(chunk).await,
        }
    }

    /// A multipart upload that started since the last call, to persist with the job.
    pub fn take_started(&mut self) -> Option<UploadRecord> {
        match self {
            Upload::Fs(_) => None,
            Upload::S3(u) => u.take_started(),
        }
    }

    /// The key the file will have: its template's, or the first free
    /// variant of it when another file is already there.
    pub fn key(&self) -> &str {
        match self {
            Upload::Fs(u) => u.key(),
            Upload::S3(u) => u.key(),
        }
    }

    /// Completes the object with its final metadata and the catalog sidecar,
    /// never over another object; where an object found in the key's way
    /// holds the same bytes (`sha256`), that one is the file's, and nothing
    /// is written. Returns where the file is.
    pub async fn finish(
        self,
        metadata: BTreeMap<String, String>,
        sha256: &str,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        match self {
            Upload::Fs(u) => u.finish(sha256, sidecar).await,
            Upload::S3(u) => u.finish(metadata, sha256, sidecar).await,
        }
    }

    /// Gives up: nothing is left behind.
    pub async fn abort(self) {
        match self {
            Upload::Fs(u) => u.abort().await,
            Upload::S3(u) => u.abort().await,
        }
    }
}
