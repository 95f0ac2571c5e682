//! The parts of a catalog entry made of several files (an HLS recording).

use serde::{Deserialize, Serialize};

use super::StoredAt;
use crate::event::Location;
use crate::id::JobId;
use crate::time::{serde_rfc3339, Timestamp};

/// What a file is to its playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Playlist,
    /// An `EXT-X-MAP` initialization section (fMP4 HLS).
    Init,
    Segment,
}

/// One file of an HLS recording, as archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub role: Role,
    /// As the playlist names it (the playlist itself: its file name).
    pub uri: String,
    pub origin: Location,
    pub store: StoredAt,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The job that archived it.
    pub job_id: JobId,
    #[serde(with = "serde_rfc3339")]
    pub archived_at: Timestamp,
}
