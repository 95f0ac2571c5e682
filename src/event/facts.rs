//! The facts a callback states about a stream and a file, defined once and
//! embedded (flattened in JSON) wherever they travel: the event, the catalog
//! entry, the object's metadata.

use serde::{Deserialize, Serialize};

use crate::time::{serde_rfc3339, Timestamp};

/// Which stream: the platform's push domain, application and stream name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamRef {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    /// The stream's name (`stream` in JSON).
    #[serde(default, rename = "stream")]
    pub name: Option<String>,
}

/// One segment of a JD point recording (`group`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    #[serde(with = "serde_rfc3339::option", default)]
    pub started_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub ended_at: Option<Timestamp>,
}

/// What the platform says a file is: its format and its times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileFacts {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub started_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub ended_at: Option<Timestamp>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// JD point recordings: the segments the file is made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<Segment>,
    /// An HLS segment announced by itself (SRS `on_hls`): the playlist of
    /// the recording it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist: Option<String>,
    /// ...and when that recording's first segment was announced: with the
    /// playlist, which recording it is (a playlist's path is reused by every
    /// publish of its stream).
    #[serde(
        with = "serde_rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub playlist_since: Option<Timestamp>,
    /// At an S3 origin: the object, as `bucket/key`, that the bucket's
    /// sweep and an announcement of the same file agree on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The object's ETag when it was listed (a swept file): a new object
    /// at the same key has another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The platform's own ids and facts about the file (Tencent `file_id`,
    /// `task_id`, ...; Huawei `asset_id`, ...), as sent.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub platform_facts: std::collections::BTreeMap<String, String>,
}

impl FileFacts {
    /// When the recording started: its own start, else (a point recording,
    /// JD `group`) its first segment's.
    pub fn start(&self) -> Option<Timestamp> {
        self.started_at
            .or_else(|| self.group.first().and_then(|g| g.started_at))
    }
}
