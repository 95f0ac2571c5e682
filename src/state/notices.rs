//! Notifications as the state keeps them: who wants to be told, what each
//! kind tells (the bodies), and what makes two of them the same. The same
//! for every engine; pushed in the operation that records what they tell of.

use serde_json::{json, Value};

use crate::catalog::CatalogEntry;
use crate::event::{Event, EventKind};
use crate::queue::Job;
use crate::stream::StreamState;

/// A `[[notify]]` target wanting to be told of something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeTarget {
    /// Its id (`notify.id`).
    pub target: String,
    pub url: String,
}

/// The notification an event calls for, if any: stream and recording
/// starts and stops (files are told of once archived, or failed).
pub fn notice_kind(event: &Event) -> Option<&'static str> {
    match event.kind {
        EventKind::StreamStarted
        | EventKind::StreamStopped
        | EventKind::RecordingStarted
        | EventKind::RecordingStopped => Some(event.kind.as_str()),
        _ => None,
    }
}

/// What a stream event's notification tells of, the same for a platform's
/// retry of the callback when the platform dates its events: the stream,
/// the kind and that time; else the event itself.
pub fn notice_subject(event: &Event) -> String {
    match StreamState::key_of(event) {
        Some(stream) if event.occurred_at != event.received_at => format!(
            "{}\0{}\0{}",
            String::from_utf8_lossy(&stream),
            event.kind.as_str(),
            event.occurred_at.timestamp_millis()
        ),
        _ => event.id.to_string(),
    }
}

/// The body of an `archived` notification: the catalog entry.
pub fn archived_body(entry: &CatalogEntry) -> Value {
    let mut v = serde_json::to_value(entry).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("type".to_owned(), json!("archived"));
    }
    v
}

/// What a `failed` notification is made once for: each give-up of the
/// job (a retry by hand may fail again), so its claim generation.
pub fn failed_subject(job: &Job) -> String {
    format!("{}/{}", job.id, job.claims)
}

/// The body of a `failed` notification: the job as it gave up, without
/// what may be secret (the origin's query string and password, the upload).
pub fn failed_body(job: &Job, error: &str) -> Value {
    let origin = match &job.origin {
        crate::event::Location::Url(u) => match reqwest::Url::parse(u) {
            Ok(mut url) => {
                url.set_query(None);
                let _ = url.set_password(None);
                json!({"type": "url", "value": url.as_str()})
            }
            Err(_) => json!({"type": "url", "value": job.origin.file_name()}),
        },
        path => json!(path),
    };
    let shown = json!({
        "id": job.id, "state": job.state, "attempts": job.attempts, "source": job.source,
        "kind": job.kind, "origin": origin, "event_id": job.event_id,
        "created_at": job.created_at, "updated_at": job.updated_at,
        "last_error": error, "found_by": job.found_by,
    });
    json!({"type": "failed", "job": shown, "last_error": error, "attempts": job.attempts})
}

/// The body of a stream or recording event's notification: the event.
pub fn event_body(event: &Event) -> Value {
    json!({"type": event.kind.as_str(), "event": event})
}

/// What a notification tells, and of what.
pub struct Notice<'a> {
    /// Its kind: `archived`, `failed`, a stream's start...
    pub kind: &'a str,
    pub source: &'a str,
    /// What it is made once for (a catalog entry, a job, an event).
    pub subject: &'a str,
    pub event_id: crate::id::EventId,
    pub body: &'a serde_json::Value,
}

/// The notification job `id` telling `target` of `notice`, and the name it
/// is made once by.
pub fn notification_job(
    id: crate::id::JobId,
    target: &NoticeTarget,
    notice: &Notice,
    now: crate::time::Timestamp,
) -> (crate::queue::Job, crate::queue::FileIdentity) {
    let n = crate::queue::Notification {
        target: target.target.clone(),
        event: notice.kind.to_owned(),
        body: notice.body.to_string(),
        subject: notice.subject.to_owned(),
    };
    let job = crate::queue::Job::for_notification(
        id,
        n,
        &target.url,
        notice.source,
        notice.event_id,
        now,
    );
    let identity =
        crate::queue::FileIdentity::notification(&target.target, notice.kind, notice.subject);
    (job, identity)
}
