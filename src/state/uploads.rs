//! Multipart uploads nothing will finish: those whose abort failed, kept
//! until the store says they are gone.

use super::StateError;
use crate::queue::UploadRecord;
use crate::time::Timestamp;

/// An upload to abort once the store answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Abandoned {
    pub upload: UploadRecord,
    pub attempts: u32,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub next_at: Timestamp,
}

impl Abandoned {
    /// `rec` kept from `now`, its first retry a few seconds on.
    pub fn new(rec: UploadRecord, now: Timestamp) -> Abandoned {
        Abandoned {
            upload: UploadRecord {
                progress: None,
                ..rec
            },
            attempts: 1,
            next_at: now + chrono::Duration::seconds(5),
        }
    }
}

/// The uploads kept for the janitor.
#[async_trait::async_trait]
pub trait UploadRepo: Send + Sync {
    /// Keeps `rec` to abort (its abort failed, or is about to be tried).
    async fn abandon(&self, rec: UploadRecord, now: Timestamp) -> Result<(), StateError>;

    /// The kept uploads due for another try at `now`.
    async fn abandoned_due(&self, now: Timestamp) -> Result<Vec<Abandoned>, StateError>;

    /// Every kept upload's id.
    async fn abandoned_ids(&self) -> Result<Vec<String>, StateError>;

    /// Saves when a kept upload is tried next.
    async fn abandoned_later(&self, a: Abandoned) -> Result<(), StateError>;

    /// Drops a kept upload: the store says it is gone.
    async fn abandoned_gone(&self, upload_id: &str) -> Result<(), StateError>;
}
