//! Catalog entries: what was archived, where from, where to, and its checksums.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{Location, Segment};
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
    pub id: String,
    pub kind: FileKind,
    pub source: String,
    pub provider: Provider,
    pub domain: Option<String>,
    pub app: Option<String>,
    pub stream: Option<String>,
    pub format: Option<String>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub started_at: Option<Timestamp>,
    #[serde(with = "serde_rfc3339::option", default)]
    pub ended_at: Option<Timestamp>,
    pub duration_s: Option<f64>,
    pub origin: Location,
    pub store: StoredAt,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    #[serde(with = "serde_rfc3339")]
    pub archived_at: Timestamp,
    pub job_id: String,
    pub event_id: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<Segment>,
}

impl CatalogEntry {
    /// The time `since`/`until` select on: when the recording started (or its
    /// first point-recording segment, or when it ended), else when archived.
    pub fn filed_at(&self) -> Timestamp {
        self.started_at
            .or_else(|| self.group.first().and_then(|g| g.started_at))
            .or(self.ended_at)
            .unwrap_or(self.archived_at)
    }
}
