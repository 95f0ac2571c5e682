//! Filing what was archived: the catalog entry (or, for a segment archived
//! ahead of its playlist, its HLS part), the manifest queue, the
//! notifications, and the job's completion, in one operation; and the
//! catalog's reads.

use super::{Keep, NoticeTarget, Page, PageRequest, StateError};
use crate::catalog::{CatalogEntry, Part};
use crate::event::FileFacts;
use crate::id::{EntryId, JobId};
use crate::queue::Job;
use crate::time::Timestamp;

/// What was archived in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourTally {
    /// Hours since the epoch.
    pub hour: i64,
    pub files: u64,
    pub bytes: u64,
}

/// An archived file to file, with what its filing brings.
#[derive(Debug, Clone)]
pub struct Filing {
    pub entry: CatalogEntry,
    /// Queue it for this instance's manifests (unless filed before).
    pub manifest: bool,
    /// Tell these targets it was archived (unless filed before).
    pub notices: Vec<NoticeTarget>,
    pub now: Timestamp,
}

/// What filing came to.
#[derive(Debug, Clone)]
pub struct Filed {
    /// The job, done; `None` when its claim was lost (nothing was filed).
    pub job: Option<Job>,
    /// Notifications were queued.
    pub notified: bool,
}

/// Which recording of an HLS playlist: the one begun at `since` (a
/// playlist's path is reused by every publish), or, for a playlist
/// announced whole, the only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsRecording {
    pub source: String,
    pub playlist: String,
    pub since: Option<Timestamp>,
}

impl HlsRecording {
    /// The recording a file with `facts` belongs to, as its playlist
    /// (`playlist` given) or as one of its segments.
    pub fn of(source: &str, playlist: &str, facts: &FileFacts) -> HlsRecording {
        HlsRecording {
            source: source.to_owned(),
            playlist: playlist.to_owned(),
            since: facts.playlist_since,
        }
    }
}

/// A segment archived ahead of its playlist, as the part the playlist's
/// entry will hold.
pub(crate) fn segment_part(entry: &CatalogEntry) -> Part {
    Part {
        role: crate::catalog::Role::Segment,
        uri: entry.origin.file_name().to_owned(),
        origin: entry.origin.clone(),
        store: entry.store.clone(),
        size: entry.size,
        sha256: entry.sha256.clone(),
        md5: entry.md5.clone(),
        duration_s: entry.file.duration_s,
        job_id: entry.job_id,
        archived_at: entry.archived_at,
    }
}

/// The catalog, and the HLS parts kept ahead of their playlist.
#[async_trait::async_trait]
pub trait CatalogRepo: Send + Sync {
    /// A fresh id for an entry archived at `at`.
    async fn new_entry_id(&self, at: Timestamp) -> Result<EntryId, StateError>;

    /// Completes `job` (under its claim) with its archived file, durably:
    /// the entry filed (taking in the HLS parts kept for it), or a segment
    /// ahead of its playlist kept as a part; queued for the manifests and
    /// told of as `filing` says, unless the catalog held it already.
    async fn file_archived(&self, job: &Job, filing: Filing) -> Result<Filed, StateError>;

    /// Files an entry found elsewhere (a catalog rebuilt from the bucket),
    /// queued for the manifests when `manifest`, unless the catalog holds
    /// it already (then `false`). Not durable until [`super::HealthRepo::durable`].
    async fn file_found(&self, entry: CatalogEntry, manifest: bool) -> Result<bool, StateError>;

    /// One entry by id.
    async fn entry(&self, id: EntryId) -> Result<Option<CatalogEntry>, StateError>;

    /// Entries newest first; with `stream`, that stream's only.
    async fn entries(
        &self,
        stream: Option<String>,
        page: PageRequest,
        keep: Keep<CatalogEntry>,
    ) -> Result<Page<CatalogEntry>, StateError>;

    /// Files and bytes archived in each hour from `since`'s hour on (by
    /// the time each entry was filed), oldest first, hours without any left out.
    async fn archived_by_hour(&self, since: Timestamp) -> Result<Vec<HourTally>, StateError>;

    /// The parts kept for `rec`, in the order they were archived.
    async fn hls_parts(&self, rec: &HlsRecording) -> Result<Vec<Part>, StateError>;

    /// Keeps `part` of `rec`, archived by the playlist's job before its
    /// entry is filed, durably: an attempt cut short does not archive it again.
    async fn keep_hls_part(&self, rec: &HlsRecording, part: Part) -> Result<(), StateError>;

    /// The jobs of segments of `rec` not archived yet.
    async fn hls_pending(&self, rec: &HlsRecording) -> Result<Vec<JobId>, StateError>;

    /// Forgets that the segment job `job` of `rec` is pending (it failed:
    /// the playlist's job archives the segment itself).
    async fn hls_not_pending(&self, rec: &HlsRecording, job: JobId) -> Result<(), StateError>;

    /// The latest recording of `playlist` with parts kept but no entry yet
    /// (its stop was lost), by when it began.
    async fn hls_unclosed(
        &self,
        source: &str,
        playlist: &str,
    ) -> Result<Option<Timestamp>, StateError>;
}
