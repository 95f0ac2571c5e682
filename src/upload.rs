//! What a multipart upload is, as data: how a file is cut into parts
//! (`plan`), and what an upload in progress leaves in the state store:
//! enough to abort it after a crash, or to continue it from its last part
//! without fetching those bytes from the origin again. The job carries the
//! record, the store writes and reads it, the origin's mark comes from the
//! source: pure data all three import.

pub mod plan;

use serde::{Deserialize, Serialize};

pub use plan::PartPlan;

/// A multipart upload in the store, remembered with its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// Where the upload stands; absent in records from before resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// How far an upload got, as of its last confirmed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// How the file is cut into parts (decided once, kept across restarts).
    pub plan: PartPlan,
    /// The origin's file as first seen, so a continuation reads that file only.
    pub origin: OriginMark,
    /// Parts 1..=parts are in the store.
    pub parts: u32,
    /// The bytes those parts hold: where the origin is read on from.
    pub offset: u64,
    /// The SHA-256 and MD5 state after `offset` bytes (`Hasher::state`).
    pub hashes: String,
    /// The upload was created for a full-object CRC32C (records from before
    /// that have composite checksums, and are completed so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_object: bool,
}

/// What identifies the origin's file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginMark {
    /// A strong ETag or a Last-Modified (HTTP), an ETag (S3), size and
    /// mtime (a local file); `None`: a continuation cannot be trusted.
    pub validator: Option<String>,
    /// The size announced.
    pub size: Option<u64>,
    /// The MD5 announced for the whole file, hex.
    pub md5: Option<String>,
    /// A local file's device and inode, as opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<FileId>,
}

/// A local file's identity: what a deletion checks it still has, so that
/// only the very file archived is ever deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}
