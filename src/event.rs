//! The normalized Event every platform's callback maps into, and the
//! platforms themselves.

mod facts;
mod provider;

pub use facts::{FileFacts, Segment, StreamRef};
pub use provider::Provider;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{EventId, JobId};
use crate::time::{serde_rfc3339, Timestamp};

/// What happened, in our words; the platform's own name is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    StreamStarted,
    StreamStopped,
    RecordingStarted,
    RecordingPaused,
    RecordingResumed,
    RecordingStopped,
    RecordingReady,
    SnapshotReady,
    /// A client's session ended (nginx-rtmp `on_done`, SRS `on_stop`):
    /// a player or a publisher went away.
    SessionEnded,
    /// A local file was deleted once archived (`delete_after_archive`).
    LocalFileDeleted,
}

impl EventKind {
    /// True for the kinds that announce a file to archive.
    pub fn carries_file(self) -> bool {
        matches!(self, EventKind::RecordingReady | EventKind::SnapshotReady)
    }

    /// The name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::StreamStarted => "stream_started",
            EventKind::StreamStopped => "stream_stopped",
            EventKind::RecordingStarted => "recording_started",
            EventKind::RecordingPaused => "recording_paused",
            EventKind::RecordingResumed => "recording_resumed",
            EventKind::RecordingStopped => "recording_stopped",
            EventKind::RecordingReady => "recording_ready",
            EventKind::SnapshotReady => "snapshot_ready",
            EventKind::SessionEnded => "session_ended",
            EventKind::LocalFileDeleted => "local_file_deleted",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of file an event announces and a job archives; the store
/// names it in keys (`{kind}`) and object metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Recording,
    Snapshot,
    /// Not a file: a notification to deliver (`[[notify]]`).
    Notification,
}

/// Whether the platform says the event succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Fail,
}

/// Where a file can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Location {
    /// A full http(s) URL (JD v1.1 `downloadUrl`).
    Url(String),
    /// A path inside the platform's storage (Alibaba `uri`, JD legacy `url` = `bucket/key`),
    /// resolved against the source's configured origin.
    Path(String),
}

impl Location {
    /// The URL or path as text.
    pub fn as_str(&self) -> &str {
        match self {
            Location::Url(s) | Location::Path(s) => s,
        }
    }

    /// The file name's extension, lower-cased, when it looks like one (`flv`, `mp4`, `jpg`).
    pub fn extension(&self) -> Option<String> {
        let (_, ext) = self.file_name().rsplit_once('.')?;
        let ok = (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric());
        ok.then(|| ext.to_ascii_lowercase())
    }

    /// The last path segment, the file's own name.
    pub fn file_name(&self) -> &str {
        let s = self.as_str();
        let s = s.split(['?', '#']).next().unwrap_or(s);
        s.rsplit('/').next().unwrap_or(s)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file a `recording_ready` / `snapshot_ready` event announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    pub location: Location,
    /// The size the platform states, as stated (JD's `fileSize` unit is ambiguous).
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(flatten)]
    pub facts: FileFacts,
}

/// A callback, normalized. Everything a provider parser can tell; the ids and
/// the job link are filled in when it is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Assigned when the event is recorded.
    pub id: EventId,
    pub source: String,
    pub provider: Provider,
    pub kind: EventKind,
    /// The platform's own event name, as sent (trimmed).
    pub platform_event: String,
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(flatten)]
    pub stream: StreamRef,
    /// When it happened, by the platform's clock where it says, else when we received it.
    #[serde(with = "serde_rfc3339")]
    pub occurred_at: Timestamp,
    #[serde(with = "serde_rfc3339")]
    pub received_at: Timestamp,
    #[serde(default)]
    pub client_ip: Option<String>,
    /// Push parameters (query arguments of the publisher's URL).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub file: Option<FileInfo>,
    /// The archive job this event created or matched.
    #[serde(default)]
    pub job_id: Option<JobId>,
    /// True when the file was already queued by an earlier callback.
    #[serde(default)]
    pub duplicate: bool,
    /// The request as received (body, or query string for GET callbacks),
    /// but for Tencent's `sign`, kept as `***` (it could sign other bodies).
    pub raw: String,
    /// How the daemon learnt of it.
    #[serde(default)]
    pub found_by: FoundBy,
    /// The publish session of its stream (a recording's): the id of the
    /// event that started it; reconnects within `state.session_gap_secs`
    /// keep it.
    #[serde(default)]
    pub session: Option<String>,
}

/// How the daemon learnt of an event: a callback, a file origin's sweep
/// finding a file nobody announced, or `recording-archiver enqueue`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    #[default]
    Callback,
    Sweep,
    /// `recording-archiver enqueue` (a MediaMTX hook, a script).
    Enqueue,
}

impl Event {
    /// The file to archive, when this event asks for one.
    pub fn archivable_file(&self) -> Option<&FileInfo> {
        if self.status == Status::Success && self.kind.carries_file() {
            self.file.as_ref()
        } else {
            None
        }
    }

    /// The file the event's job archives: the file it announced, or the HLS
    /// playlist a stream's stop closed.
    pub fn job_file(&self) -> Option<&FileInfo> {
        self.archivable_file().or_else(|| {
            self.file
                .as_ref()
                .filter(|_| self.kind == EventKind::StreamStopped)
        })
    }
}

/// What a provider parser produces: an event without the ids the store assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub provider: Provider,
    pub kind: EventKind,
    pub platform_event: String,
    pub status: Status,
    pub error: Option<String>,
    pub stream: StreamRef,
    pub occurred_at: Option<Timestamp>,
    pub client_ip: Option<String>,
    pub params: BTreeMap<String, String>,
    pub file: Option<FileInfo>,
}

impl ParsedEvent {
    /// A bare event of a kind; the parser fills in the rest.
    pub fn new(provider: Provider, kind: EventKind, platform_event: impl Into<String>) -> Self {
        ParsedEvent {
            provider,
            kind,
            platform_event: platform_event.into(),
            status: Status::Success,
            error: None,
            stream: StreamRef::default(),
            occurred_at: None,
            client_ip: None,
            params: BTreeMap::new(),
            file: None,
        }
    }

    /// Completes the event with where and when it arrived.
    pub fn into_event(mut self, source: &str, received_at: Timestamp, raw: &str) -> Event {
        if let Some(file) = &mut self.file {
            if file.facts.format.is_none() {
                file.facts.format = file.location.extension();
            }
        }
        let occurred_at = self
            .occurred_at
            .or_else(|| self.file.as_ref().and_then(|f| f.facts.ended_at))
            .unwrap_or(received_at);
        Event {
            id: EventId::default(),
            source: source.to_owned(),
            provider: self.provider,
            kind: self.kind,
            platform_event: self.platform_event,
            status: self.status,
            error: self.error,
            stream: self.stream,
            occurred_at,
            received_at,
            client_ip: self.client_ip,
            params: self.params,
            file: self.file,
            job_id: None,
            duplicate: false,
            raw: raw.to_owned(),
            found_by: FoundBy::Callback,
            session: None,
        }
    }
}
