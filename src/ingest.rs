//! Recording what a callback brought: its events, the jobs they create (or
//! match, for a platform's retry) and stream liveness, all or nothing, made
//! durable before the receiver answers. Also the events log's reads.

use crate::db::{encode, Db, DbError, Order, Page, PageRequest, Tree, Tx, TxError};
use crate::event::{Event, EventKind, FileFacts, FileInfo, Location};
use crate::hls;
use crate::id::{EventId, JobId};
use crate::notify::Notifier;
use crate::queue::{self, FileIdentity, Job, Pushed, Queue};
use crate::stream::{self, StreamState};
use crate::time::Timestamp;
use std::sync::{Arc, Mutex};

/// The outcome for one event: it is stored, with its job if it has one.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event: Event,
    /// The job this event created (not set for a duplicate).
    pub new_job: Option<Job>,
    /// A failed job for the same file was queued again.
    pub requeued: bool,
    /// Notifications of it were queued.
    pub notified: bool,
}

impl Recorded {
    /// True when a worker has something new to do.
    pub fn queued_work(&self) -> bool {
        self.new_job.is_some() || self.requeued || self.notified
    }
}

/// Stores `events` (ids assigned here) and a job for each archivable one,
/// all or nothing, in `queue`'s state store, and resolves once that is on disk.
pub async fn record_events(
    queue: &Queue,
    notifier: &Arc<Notifier>,
    events: Vec<Event>,
    now: Timestamp,
) -> Result<Vec<Recorded>, DbError> {
    let db = queue.db();
    let gap = queue.session_gap();
    // Ids are drawn here, outside the transaction: a retried transaction
    // must not burn new ones.
    let mut prepared = Vec::with_capacity(events.len());
    for mut event in events {
        event.id = EventId(db.new_key(&event.received_at)?);
        let job = match event.archivable_file() {
            Some(file) => {
                let identity = FileIdentity::of(&event.source, file);
                Job::for_event(JobId(db.new_key(&now)?), &event, now).map(|j| (j, identity))
            }
            None => None,
        };
        // A stop may close an HLS recording: its playlist's job. (A start
        // may forget one whose stop was lost.)
        let spare = (event.kind == EventKind::StreamStopped)
            .then(|| db.new_key(&now).map(JobId))
            .transpose()?;
        let notes = match notified(&event) {
            Some(kind) => notifier.ids(db, kind, &event.source, &now)?,
            None => Vec::new(),
        };
        prepared.push((event, job, spare, notes));
    }
    let notifier = Arc::clone(notifier);
    let notes_pushed: Arc<Mutex<Vec<Pushed>>> = Arc::default();
    let pushed_list = Arc::clone(&notes_pushed);
    let recorded = db
        .commit(move |tx| {
            let mut out = Vec::with_capacity(prepared.len());
            let mut notes_new = Vec::new();
            for (event, job, spare, notes) in &prepared {
                let mut event = event.clone();
                let mut new_job = None;
                let mut requeued = false;
                let job = match job {
                    Some(j) => {
                        note_hls_segment(tx, &mut event, j.0.id)?;
                        Some(j.clone())
                    }
                    None => playlist_job(tx, &mut event, *spare, now)?,
                };
                if let Some((job, identity)) = &job {
                    match queue::push(tx, job, identity)? {
                        Pushed::New => {
                            event.job_id = Some(job.id);
                            new_job = Some(job.clone());
                        }
                        Pushed::Duplicate(existing) => {
                            event.job_id = Some(existing);
                            event.duplicate = true;
                        }
                        Pushed::Requeued(existing) => {
                            event.job_id = Some(existing);
                            event.duplicate = true;
                            requeued = true;
                        }
                    }
                }
                event.session = stream::update(tx, &event, gap)?;
                tx.insert(Tree::Events, event.id.key(), &encode(&event))?;
                let mut notified_now = false;
                if let Some(kind) = notified(&event) {
                    let subject = subject_of(&event);
                    let body = crate::notify::event_body(&event);
                    let pushed = notifier.push(
                        tx,
                        notes,
                        kind,
                        &event.source,
                        &subject,
                        event.id,
                        &body,
                        now,
                    )?;
                    notified_now = !pushed.is_empty();
                    notes_new.extend(pushed);
                }
                out.push(Recorded {
                    event,
                    new_job,
                    requeued,
                    notified: notified_now,
                });
            }
            // Set, not added: a transaction may run more than once.
            *pushed_list.lock().unwrap_or_else(|e| e.into_inner()) = notes_new;
            Ok::<_, TxError>(out)
        })
        .await?;
    for p in notes_pushed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        queue.pushed(p);
    }
    for r in &recorded {
        match (&r.new_job, r.requeued, r.event.job_id) {
            (Some(_), _, _) => queue.pushed(&Pushed::New),
            (None, true, Some(id)) => queue.pushed(&Pushed::Requeued(id)),
            _ => {}
        }
    }
    Ok(recorded)
}

/// The notification an event calls for, if any: stream and recording
/// starts and stops (files are told of once archived, or failed).
fn notified(event: &Event) -> Option<&'static str> {
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
fn subject_of(event: &Event) -> String {
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

/// How long after a stream's stop its HLS playlist is archived.
const PLAYLIST_DELAY: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// A segment of an HLS recording announced by itself: the recording it
/// belongs to is noted open, and the event says since when.
fn note_hls_segment(tx: &Tx, event: &mut Event, job: JobId) -> Result<(), TxError> {
    if let Some(since) = hls::note_segment(tx, event, job)? {
        if let Some(f) = event.file.as_mut() {
            f.facts.playlist_since = Some(since);
        }
    }
    Ok(())
}

/// For a stream's stop that closes the HLS recording it was writing, segment
/// by segment: the job archiving its playlist (and taking in the segments),
/// the playlist now the file the stop event announces.
fn playlist_job(
    tx: &Tx,
    event: &mut Event,
    id: Option<JobId>,
    now: Timestamp,
) -> Result<Option<(Job, FileIdentity)>, TxError> {
    let Some(open) = hls::close_open(tx, event)? else {
        return Ok(None);
    };
    let Some(id) = id else { return Ok(None) };
    let file = FileInfo {
        location: Location::Path(open.playlist),
        size: None,
        facts: FileFacts {
            format: Some("hls".to_owned()),
            started_at: Some(open.since),
            ended_at: Some(event.occurred_at),
            playlist_since: Some(open.since),
            ..FileFacts::default()
        },
    };
    let identity = FileIdentity::of(&event.source, &file);
    let mut job = Job::for_file(id, event, &file, now);
    // SRS sends the last segment's on_hls beside on_unpublish, in no set
    // order: the playlist waits a moment for it (and then for every
    // segment still being archived).
    job.next_attempt_at = now + PLAYLIST_DELAY;
    // The playlist by its path alone is this job's: a sweep finding it
    // settled after the stop does not archive the recording again.
    let bare = FileInfo {
        location: file.location.clone(),
        size: None,
        facts: FileFacts::default(),
    };
    queue::also_known_as(tx, &FileIdentity::of(&event.source, &bare), id)?;
    event.file = Some(file);
    Ok(Some((job, identity)))
}

/// One event by id.
pub fn event(db: &Db, id: EventId) -> Result<Option<Event>, DbError> {
    db.get_json(Tree::Events, id.key())
}

/// Events, newest first.
pub fn list_events(
    db: &Db,
    page: &PageRequest,
    keep: impl Fn(&Event) -> bool,
) -> Result<Page<Event>, DbError> {
    db.list(Tree::Events, Order::Descending, page, keep)
}
