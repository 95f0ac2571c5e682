//! Archive jobs: what is queued, in which state, and when it is next due.

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, FileInfo, Location};
use crate::id::{EventId, JobId};
use crate::time::{serde_rfc3339, to_millis, Timestamp};
pub use crate::upload::UploadRecord;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Retrying,
    Failed,
    Done,
    /// Failed, then set aside by hand: kept in the record, no longer
    /// counted or listed as failed, never run again unless retried.
    Dismissed,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Retrying,
        JobState::Failed,
        JobState::Done,
        JobState::Dismissed,
    ];

    /// Given up on: failed for good, or that failure dismissed. A job
    /// given up on is queued again when its file is announced again.
    pub fn given_up(self) -> bool {
        matches!(self, JobState::Failed | JobState::Dismissed)
    }

    /// The name used in JSON, query strings and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Failed => "failed",
            JobState::Done => "done",
            JobState::Dismissed => "dismissed",
        }
    }
}

/// Moved to `event` (the store names it in keys and metadata and must not
/// import the queue); kept here for the queue's users.
pub use crate::event::FileKind;

/// What a notification job delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The `[[notify]]` entry it goes to.
    pub target: String,
    /// What it is about: `archived`, `failed`, `stream_started`, ...
    pub event: String,
    /// The JSON body, as signed and sent.
    pub body: String,
    /// What it tells of (an entry, a job, an event): with the target and
    /// the event, its dedupe key.
    #[serde(default)]
    pub subject: String,
}

/// One file to copy from its origin into the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub state: JobState,
    /// Attempts begun (an attempt a shutdown interrupted is given back).
    pub attempts: u32,
    /// Claims ever made, never given back: the current claim's generation,
    /// its fencing token. A worker whose claim was superseded holds an older
    /// generation and can change nothing.
    #[serde(default)]
    pub claims: u64,
    #[serde(with = "serde_rfc3339")]
    pub next_attempt_at: Timestamp,
    #[serde(default)]
    pub last_error: Option<String>,
    pub event_id: EventId,
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
    /// While running: when the lease lapses unless refreshed.
    #[serde(with = "serde_rfc3339::option", default)]
    pub lease_until: Option<Timestamp>,
    /// A multipart upload in progress and how far it got, so the next
    /// attempt continues it (or aborts it).
    #[serde(default)]
    pub upload: Option<UploadRecord>,
    /// A multipart upload asked of the store and not yet recorded in
    /// `upload` (its id unknown): should the answer have been lost, the next
    /// attempt aborts what is at its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating: Option<UploadRecord>,
    /// How its file was found: a callback, or a file origin's sweep.
    #[serde(default)]
    pub found_by: crate::event::FoundBy,
    /// A notification job's delivery (`kind: notification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

impl Job {
    /// A new job for an archivable event, due at once; `None` when the event
    /// asks for nothing to be archived (a failure, a status change).
    pub fn for_event(id: JobId, event: &Event, now: Timestamp) -> Option<Job> {
        Some(Job::for_file(id, event, event.archivable_file()?, now))
    }

    /// A new job for `file`, which `event` brought, due at once.
    pub fn for_file(id: JobId, event: &Event, file: &FileInfo, now: Timestamp) -> Job {
        let kind = if event.kind == EventKind::SnapshotReady {
            FileKind::Snapshot
        } else {
            FileKind::Recording
        };
        let mut job = Job::queued(
            id,
            kind,
            file.location.clone(),
            &event.source,
            event.id,
            now,
        );
        job.found_by = event.found_by;
        job
    }

    /// A new job delivering `n` to `url`, about `source`'s event `event_id`.
    pub fn for_notification(
        id: JobId,
        n: Notification,
        url: &str,
        source: &str,
        event_id: EventId,
        now: Timestamp,
    ) -> Job {
        let origin = Location::Url(url.to_owned());
        let mut job = Job::queued(id, FileKind::Notification, origin, source, event_id, now);
        job.notification = Some(n);
        job
    }

    /// A job not yet attempted, due at `now`.
    fn queued(
        id: JobId,
        kind: FileKind,
        origin: Location,
        source: &str,
        event_id: EventId,
        now: Timestamp,
    ) -> Job {
        Job {
            id,
            state: JobState::Queued,
            attempts: 0,
            claims: 0,
            next_attempt_at: now,
            last_error: None,
            event_id,
            source: source.to_owned(),
            kind,
            origin,
            created_at: now,
            updated_at: now,
            bytes_done: 0,
            bytes_total: None,
            lease_until: None,
            upload: None,
            creating: None,
            found_by: crate::event::FoundBy::default(),
            notification: None,
        }
    }

    /// When someone should next look at this job: its retry time while
    /// waiting, its lease end while running, never once finished.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self.state {
            JobState::Queued | JobState::Retrying => Some(self.next_attempt_at),
            JobState::Running => self.lease_until,
            JobState::Failed | JobState::Done | JobState::Dismissed => None,
        }
    }
}

/// What makes two announcements the same file: the source, the location and
/// the file's own times as the callback states them. A platform's retry of a
/// callback is the same file; a new file at a reused URL (JD names snapshots
/// after their stream, so every snapshot of a stream has one URL) is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity(String);

impl FileIdentity {
    /// The identity of `file` announced by `source`.
    pub fn of(source: &str, file: &FileInfo) -> FileIdentity {
        let ms =
            |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| to_millis(&t).to_string());
        let mut id = format!(
            "{source}\n{}\n{}\n{}",
            file.location.as_str(),
            ms(file.facts.started_at),
            ms(file.facts.ended_at)
        );
        // A local file (a file origin's absolute path) is also its size: a
        // path rewritten by the next recording is another file.
        if let (Location::Path(p), Some(size)) = (&file.location, file.size) {
            if p.starts_with('/') {
                id.push_str(&format!("\n{size}"));
            }
        }
        FileIdentity(id)
    }

    /// Another name of a file at an S3 origin: its object (`bucket/key`),
    /// whatever times its announcement or its key state; one name for what
    /// callbacks announced, one for what the bucket's sweep found, so that
    /// each finds the other's job and neither takes two announcements of
    /// a reused key for one file.
    pub fn object(source: &str, object: &str, swept: bool) -> FileIdentity {
        let by = if swept { "swept" } else { "object" };
        FileIdentity(format!("{source}\n{by}\n{object}"))
    }

    /// The other finder's name of the same object.
    pub fn twin(&self) -> Option<FileIdentity> {
        let mut parts = self.0.splitn(3, '\n');
        let (source, by, object) = (parts.next()?, parts.next()?, parts.next()?);
        match by {
            "object" => Some(FileIdentity::object(source, object, true)),
            "swept" => Some(FileIdentity::object(source, object, false)),
            _ => None,
        }
    }

    /// The identity of the notification of `event` about `subject` (a
    /// catalog entry, a job, an event) to `target`: made once.
    pub fn notification(target: &str, event: &str, subject: &str) -> FileIdentity {
        FileIdentity(format!("notify\n{target}\n{event}\n{subject}"))
    }

    /// True for a file on this machine (a file origin's absolute path):
    /// its key outlives its job, so a sweep never takes it for a new file.
    pub fn is_local_file(&self) -> bool {
        self.0
            .split('\n')
            .nth(1)
            .is_some_and(|p| p.starts_with('/'))
    }

    /// The dedupe key, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
