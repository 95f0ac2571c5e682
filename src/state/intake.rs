//! Recording what a callback brought, and its reads: the events log, the
//! streams seen, requests kept whole because they could not be read. What
//! a callback makes is decided here, once for every engine (which jobs,
//! which notifications, what they tell); the engine keeps it all or nothing.

use std::collections::HashMap;

use super::{Keep, NoticeTarget, Page, PageRequest, StateError};
use crate::event::{Event, FileFacts, FileInfo, Location};
use crate::hls::OpenPlaylist;
use crate::id::{EventId, JobId, RejectedId, TimeKey};
use crate::queue::{FileIdentity, Job};
use crate::rejected::RejectedRequest;
use crate::stream::StreamState;
use crate::time::Timestamp;

/// What a callback brought, to be recorded all or nothing.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Its events, ids not assigned yet.
    pub events: Vec<Event>,
    /// For each event (same order), the targets to tell of it.
    pub notices: Vec<Vec<NoticeTarget>>,
    pub now: Timestamp,
}

impl Callback {
    /// `events` found by the daemon itself (a sweep, a deletion): no one
    /// is told of them.
    pub fn untold(events: Vec<Event>, now: Timestamp) -> Callback {
        let notices = vec![Vec::new(); events.len()];
        Callback {
            events,
            notices,
            now,
        }
    }
}

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

/// One event of a callback with the ids drawn for it before the engine's
/// transaction (a transaction run again must not draw new ones).
pub(crate) struct Prepared {
    pub event: Event,
    pub job: Option<(Job, FileIdentity)>,
    /// The job's other name: its object at an S3 origin.
    pub alias: Option<FileIdentity>,
    /// The id of a playlist's job, should a stop close an HLS recording.
    pub spare: Option<JobId>,
    pub targets: Vec<NoticeTarget>,
    pub notice_ids: Vec<JobId>,
}

/// How many ids [`prepare`] draws for `callback` at most.
pub(crate) fn ids_needed(callback: &Callback) -> usize {
    callback.events.len() * 3 + callback.notices.iter().map(Vec::len).sum::<usize>()
}

/// Draws `callback`'s ids with `key` (a fresh key for a time) and makes
/// its events' jobs: what every engine records.
pub(crate) fn prepare(
    callback: Callback,
    mut key: impl FnMut(&Timestamp) -> Result<TimeKey, StateError>,
) -> Result<Vec<Prepared>, StateError> {
    let now = callback.now;
    let mut prepared = Vec::with_capacity(callback.events.len());
    for (mut event, targets) in callback.events.into_iter().zip(callback.notices) {
        event.id = EventId(key(&event.received_at)?);
        let alias = event
            .archivable_file()
            .and_then(|f| f.facts.object.as_deref())
            .map(|o| {
                let swept = event.found_by == crate::event::FoundBy::Sweep;
                FileIdentity::object(&event.source, o, swept)
            });
        let job = match event.archivable_file() {
            Some(file) => {
                let identity = FileIdentity::of(&event.source, file);
                let id = JobId(key(&now)?);
                Job::for_event(id, &event, now).map(|j| (j, identity))
            }
            None => None,
        };
        // A stop may close an HLS recording: its playlist's job.
        let spare = match event.kind == crate::event::EventKind::StreamStopped {
            true => Some(JobId(key(&now)?)),
            false => None,
        };
        let targets = match super::notices::notice_kind(&event) {
            Some(_) => targets,
            None => Vec::new(),
        };
        let notice_ids = (0..targets.len())
            .map(|_| key(&now).map(JobId))
            .collect::<Result<_, _>>()?;
        prepared.push(Prepared {
            event,
            job,
            alias,
            spare,
            targets,
            notice_ids,
        });
    }
    Ok(prepared)
}

/// Callbacks, the events log, streams and rejected requests.
#[async_trait::async_trait]
pub trait IntakeRepo: Send + Sync {
    /// Stores the callback's events (ids assigned here), a job for each
    /// archivable one (deduplicated by the file's identity: a platform's
    /// retry finds the job it made, a failed one is queued again), its
    /// streams' liveness and the notifications it calls for, all or
    /// nothing, and resolves once that is durable. A stream restarted
    /// within `state.session_gap_secs` of its stop keeps its session.
    async fn record_callback(&self, callback: Callback) -> Result<Vec<Recorded>, StateError>;

    /// One event by id.
    async fn event(&self, id: EventId) -> Result<Option<Event>, StateError>;

    /// Events, newest first.
    async fn events(&self, page: PageRequest, keep: Keep<Event>)
        -> Result<Page<Event>, StateError>;

    /// Streams seen, by source, domain, app and stream.
    async fn streams(
        &self,
        page: PageRequest,
        keep: Keep<StreamState>,
    ) -> Result<Page<StreamState>, StateError>;

    /// Keeps a request that could not be read (id assigned here), durably.
    async fn record_rejected(&self, r: RejectedRequest) -> Result<RejectedRequest, StateError>;

    /// One kept request by id.
    async fn rejected(&self, id: RejectedId) -> Result<Option<RejectedRequest>, StateError>;

    /// Kept requests, newest first.
    async fn rejected_list(
        &self,
        page: PageRequest,
        keep: Keep<RejectedRequest>,
    ) -> Result<Page<RejectedRequest>, StateError>;

    /// Notes which events a replay turned a kept request into.
    async fn mark_replayed(&self, id: RejectedId, events: Vec<EventId>) -> Result<(), StateError>;

    /// How many requests each source has kept.
    async fn rejected_counts(&self) -> Result<HashMap<String, u64>, StateError>;
}

/// How long after a stream's stop its HLS playlist is archived.
const PLAYLIST_DELAY: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// For a stream's stop that closed `open`, the HLS recording it was writing
/// segment by segment: the job archiving its playlist (and taking in the
/// segments), its identity, and the playlist's bare identity (by its path
/// alone) to note as another name of the same job. The stop event now
/// announces the playlist.
pub fn playlist_job(
    event: &mut Event,
    open: OpenPlaylist,
    id: JobId,
    now: Timestamp,
) -> (Job, FileIdentity, FileIdentity) {
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
    let bare = FileIdentity::of(&event.source, &bare);
    event.file = Some(file);
    (job, identity, bare)
}
