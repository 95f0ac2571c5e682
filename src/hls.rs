//! HLS recordings: a playlist and the files it names, archived together as
//! one catalog entry whose `parts` list each file with its size and
//! checksums. A playlist may be announced whole (Tencent's `playlist.m3u8`,
//! a swept `.m3u8`) or segment by segment (SRS `on_hls`, then its playlist
//! at `on_unpublish`): segments archived ahead of their playlist are kept
//! by the state as parts until the playlist's job takes them in
//! ([`crate::state::CatalogRepo`]).

pub mod playlist;

use serde::{Deserialize, Serialize};

pub use crate::catalog::{Part, Role};
use crate::event::Location;
use crate::time::{serde_rfc3339, Timestamp};

/// True when `location` names an HLS playlist.
pub fn is_playlist(location: &Location) -> bool {
    location.extension().as_deref() == Some("m3u8")
}

/// The HLS recording a stream is writing, segment by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenPlaylist {
    pub playlist: String,
    /// When its first segment was announced: with the playlist, which
    /// recording it is (a playlist's path is reused by every publish).
    #[serde(with = "serde_rfc3339")]
    pub since: Timestamp,
    /// When the stream stopped, its playlist's job made.
    #[serde(with = "serde_rfc3339::option", default)]
    pub closed_at: Option<Timestamp>,
}

/// How long after a stop a segment still belongs to the recording it
/// stopped: SRS sends `on_hls` for the last segment asynchronously, and it
/// may come after `on_unpublish`.
const LATE_SEGMENT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

impl OpenPlaylist {
    /// Whether a segment of `playlist` announced at `at` belongs to this
    /// recording: its playlist, and open (or closed a moment before).
    pub fn takes(&self, playlist: &str, at: Timestamp) -> bool {
        self.playlist == playlist
            && self
                .closed_at
                .is_none_or(|closed| at <= closed + LATE_SEGMENT)
    }
}
