//! Archive jobs: what is queued, in which state, and when it is next due.
//! Persistence lives in the state store (`db`); this is the model.

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, Location};
use crate::time::{serde_rfc3339, Timestamp};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Retrying,
    Failed,
    Done,
}

/// What kind of file a job archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Recording,
    Snapshot,
}

/// One file to copy from its origin into the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub state: JobState,
    pub attempts: u32,
    #[serde(with = "serde_rfc3339")]
    pub next_attempt_at: Timestamp,
    #[serde(default)]
    pub last_error: Option<String>,
    pub event_id: String,
    pub source: String,
    pub kind: FileKind,
    pub origin: Location,
    #[serde(with = "serde_rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: Timestamp,
    #[serde(default)]
    pub bytes_done: u64,
    #[serde(default)]
    pub bytes_total: Option<u64>,
}

impl Job {
    /// A new job for an archivable event, due at once; `None` when the event
    /// asks for nothing to be archived (a failure, a status change).
    pub fn for_event(id: String, event: &Event, now: Timestamp) -> Option<Job> {
        let file = event.archivable_file()?;
        Some(Job {
            id,
            state: JobState::Queued,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            event_id: event.id.clone(),
            source: event.source.clone(),
            kind: if event.kind == EventKind::SnapshotReady {
                FileKind::Snapshot
            } else {
                FileKind::Recording
            },
            origin: file.location.clone(),
            created_at: now,
            updated_at: now,
            bytes_done: 0,
            bytes_total: None,
        })
    }
}

/// The key that makes a platform's retry of the same callback the same job:
/// the same file from the same source.
pub fn idempotency_key(source: &str, origin: &Location) -> String {
    format!("{source}\n{}", origin.as_str())
}
