//! Moving a state from one engine to another (`state copy`): every record
//! an engine keeps, as it keeps it, so a single instance moves to several
//! without losing a job, an event or an id.

use crate::catalog::{CatalogEntry, Part};
use crate::event::Event;
use crate::hls::OpenPlaylist;
use crate::id::{EntryId, JobId};
use crate::queue::Job;
use crate::rejected::RejectedRequest;
use crate::stream::StreamState;

use super::{Abandoned, ManifestBatch};

/// Which recording of an HLS playlist a kept part or pending segment is of,
/// as the engines key it: `since` in milliseconds, `-1` for a playlist
/// announced whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsKey {
    pub source: String,
    pub playlist: String,
    pub since: i64,
}

/// One record of a state, whole.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Event),
    Job(Job),
    /// A name a file (or a notification) is known by, and its job.
    Name(Vec<u8>, JobId),
    Rejected(RejectedRequest),
    /// A stream by its key (source, domain, app, stream).
    Stream(Vec<u8>, StreamState),
    Entry(CatalogEntry),
    Abandoned(Abandoned),
    /// The HLS recording a stream (by its key) is writing.
    HlsOpen(Vec<u8>, OpenPlaylist),
    HlsPart(HlsKey, Part),
    HlsPending(HlsKey, JobId),
    /// This instance's catalog entries not in a manifest yet.
    ManifestQueued(EntryId),
    ManifestBatch(ManifestBatch),
    /// The number this instance's next manifest takes.
    ManifestNext(u64),
}

impl Record {
    /// Its kind, as the copy's summary counts it.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Event(_) => "events",
            Record::Job(_) => "jobs",
            Record::Name(..) => "file names",
            Record::Rejected(_) => "rejected requests",
            Record::Stream(..) => "streams",
            Record::Entry(_) => "catalog entries",
            Record::Abandoned(_) => "abandoned uploads",
            Record::HlsOpen(..) => "open HLS recordings",
            Record::HlsPart(..) => "HLS parts",
            Record::HlsPending(..) => "pending HLS segments",
            Record::ManifestQueued(_) => "manifest entries queued",
            Record::ManifestBatch(_) => "manifest batches",
            Record::ManifestNext(_) => "manifest numbers",
        }
    }
}
