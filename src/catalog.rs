//! Catalog entries: what was archived, where from, where to, and its checksums.

mod part;

pub use part::{Part, Role};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{FileFacts, Location, StreamRef};
use crate::id::{EntryId, EventId, JobId};
use crate::providers::Provider;
use crate::queue::FileKind;
use crate::time::{serde_rfc3339, Timestamp};

/// Where an archived file now lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StoredAt {
    S3 { bucket: String, key: String },
    Fs { path: String },
}

/// One archived file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: EntryId,
    pub kind: FileKind,
    pub source: String,
    pub provider: Provider,
    #[serde(flatten)]
    pub stream: StreamRef,
    #[serde(flatten)]
    pub file: FileFacts,
    pub origin: Location,
    pub store: StoredAt,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    #[serde(with = "serde_rfc3339")]
    pub archived_at: Timestamp,
    pub job_id: JobId,
    pub event_id: EventId,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The publish session the recording was made in, when known.
    #[serde(default)]
    pub session: Option<String>,
    /// An HLS recording (`format: "hls"`): every file of it, the playlist
    /// last, each with its size and checksums. `store`, `size`, `sha256` and
    /// `md5` are then the playlist's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// The instance that archived it (`instance_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// A local origin file's device and inode as archived: a deletion
    /// (`delete_after_archive`) removes that file and no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_file: Option<crate::upload::FileId>,
    /// Who found the file: a callback, a sweep (of a directory or the
    /// platform's bucket), or `enqueue`.
    #[serde(default)]
    pub found_by: crate::event::FoundBy,
}

impl CatalogEntry {
    /// The time `since`/`until` select on: when the recording started (or its
    /// first point-recording segment, or when it ended), else when archived.
    pub fn filed_at(&self) -> Timestamp {
        self.file
            .start()
            .or(self.file.ended_at)
            .unwrap_or(self.archived_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_keeps_its_documented_json_fields() {
        let entry = CatalogEntry {
            id: EntryId::default(),
            found_by: Default::default(),
            kind: FileKind::Recording,
            source: "jd".into(),
            provider: Provider::Jdcloud,
            stream: StreamRef {
                domain: Some("d".into()),
                app: Some("live".into()),
                name: Some("s".into()),
            },
            file: FileFacts::default(),
            origin: Location::Url("http://h/a.flv".into()),
            store: StoredAt::Fs { path: "/a".into() },
            size: 1,
            sha256: String::new(),
            md5: String::new(),
            archived_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            job_id: JobId::default(),
            event_id: EventId::default(),
            params: BTreeMap::new(),
            session: None,
            parts: Vec::new(),
            instance_id: None,
            local_file: None,
        };
        let v = serde_json::to_value(&entry).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "app",
                "archived_at",
                "domain",
                "duration_s",
                "ended_at",
                "event_id",
                "format",
                "found_by",
                "id",
                "job_id",
                "kind",
                "md5",
                "origin",
                "params",
                "provider",
                "session",
                "sha256",
                "size",
                "source",
                "started_at",
                "store",
                "stream"
            ]
        );
        assert_eq!(v["stream"], "s");
        let back: CatalogEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, entry);
    }
}
