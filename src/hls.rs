//! HLS recordings: a playlist and the files it names, archived together as
//! one catalog entry whose `parts` list each file with its size and
//! checksums. A playlist may be announced whole (Tencent's `playlist.m3u8`,
//! a swept `.m3u8`) or segment by segment (SRS `on_hls`, then its playlist
//! at `on_unpublish`): segments archived ahead of their playlist are kept
//! here as parts until the playlist's job takes them in.

pub mod playlist;

use serde::{Deserialize, Serialize};

pub use crate::catalog::{Part, Role};
use crate::db::{decode, encode, tx_get_json, Db, DbError, Order, Scan, Tree, Tx, TxError};
use crate::event::{Event, EventKind, FileFacts, Location};
use crate::id::JobId;
use crate::stream::StreamState;
use crate::time::{serde_rfc3339, Timestamp};

/// True when `location` names an HLS playlist.
pub fn is_playlist(location: &Location) -> bool {
    location.extension().as_deref() == Some("m3u8")
}

/// The HLS recording a stream is writing, segment by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenPlaylist {
    pub playlist: String,
    /// When its first segment was announced: with the playlist, which
    /// recording it is (a playlist's path is reused by every publish).
    #[serde(with = "serde_rfc3339")]
    pub since: Timestamp,
    /// When the stream stopped, its playlist's job made.
    #[serde(with = "serde_rfc3339::option", default)]
    pub closed_at: Option<Timestamp>,
}

/// How long after a stop a segment still belongs to the recording it
/// stopped: SRS sends `on_hls` for the last segment asynchronously, and it
/// may come after `on_unpublish`.
const LATE_SEGMENT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Which recording of a playlist: the one begun at `since` (a playlist's
/// path is reused by every publish), or, for a playlist announced whole,
/// the only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording<'a> {
    pub source: &'a str,
    pub playlist: &'a str,
    pub since: Option<Timestamp>,
}

impl<'a> Recording<'a> {
    /// The recording a file with `facts` belongs to, as its playlist
    /// (`playlist` given) or as one of its segments.
    pub fn of(source: &'a str, playlist: &'a str, facts: &FileFacts) -> Recording<'a> {
        Recording {
            source,
            playlist,
            since: facts.playlist_since,
        }
    }

    fn playlist_prefix(&self) -> Vec<u8> {
        [
            self.source.as_bytes(),
            b"\0",
            self.playlist.as_bytes(),
            b"\0",
        ]
        .concat()
    }

    fn prefix(&self) -> Vec<u8> {
        let since = self.since.map_or_else(
            || "-".to_owned(),
            |t| format!("{:020}", t.timestamp_millis()),
        );
        [self.playlist_prefix(), since.into_bytes(), b"\0".to_vec()].concat()
    }

    fn key(&self, tail: &[u8]) -> Vec<u8> {
        [self.prefix(), tail.to_vec()].concat()
    }
}

/// For an event announcing one segment of an HLS recording (archived by the
/// job `job`): notes the recording as open for the segment's stream (unless
/// it is, or was closed a moment ago) and the segment as pending in it;
/// returns when the recording began. In the transaction recording the event.
pub fn note_segment(tx: &Tx, event: &Event, job: JobId) -> Result<Option<Timestamp>, TxError> {
    let Some(playlist) = event.file.as_ref().and_then(|f| f.facts.playlist.clone()) else {
        return Ok(None);
    };
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    let open = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &key)?.filter(|o| {
        o.playlist == playlist
            && o.closed_at
                .is_none_or(|closed| event.received_at <= closed + LATE_SEGMENT)
    });
    let since = match open {
        Some(o) => o.since,
        None => {
            let since = event.occurred_at;
            let open = OpenPlaylist {
                playlist: playlist.clone(),
                since,
                closed_at: None,
            };
            tx.insert(Tree::HlsOpen, &key, &encode(&open))?;
            since
        }
    };
    let rec = Recording {
        source: &event.source,
        playlist: &playlist,
        since: Some(since),
    };
    tx.insert(Tree::HlsPending, &rec.key(job.key()), &[])?;
    Ok(Some(since))
}

/// For a stream's stop: the HLS recording it was writing, now closed (kept
/// a while for a late segment). For a start: a recording whose stop was
/// lost is forgotten, so the new publish begins its own.
pub fn close_open(tx: &Tx, event: &Event) -> Result<Option<OpenPlaylist>, TxError> {
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    match event.kind {
        EventKind::StreamStopped => {
            let Some(mut open) = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &key)? else {
                return Ok(None);
            };
            if open.closed_at.is_some() {
                return Ok(None); // a second stop
            }
            open.closed_at = Some(event.received_at);
            tx.insert(Tree::HlsOpen, &key, &encode(&open))?;
            Ok(Some(open))
        }
        EventKind::StreamStarted => {
            tx.remove(Tree::HlsOpen, &key)?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Keeps `part` of `rec`, archived ahead of its playlist, no longer pending.
pub fn file_part(tx: &Tx, rec: &Recording, part: &Part) -> Result<(), TxError> {
    tx.remove(Tree::HlsPending, &rec.key(part.job_id.key()))?;
    tx.insert(
        Tree::HlsParts,
        &rec.key(part.origin.as_str().as_bytes()),
        &encode(part),
    )
}

fn scan(db: &Db, tree: Tree, prefix: Vec<u8>) -> Scan {
    use std::ops::Bound::{Excluded, Included};
    let end = [prefix.as_slice(), &[0xff]].concat();
    db.scan(tree, Included(prefix), Excluded(end), Order::Ascending)
}

/// The parts kept for `rec`, in the order they were archived.
pub fn parts_of(db: &Db, rec: &Recording) -> Result<Vec<Part>, DbError> {
    let mut parts = scan(db, Tree::HlsParts, rec.prefix())
        .map(|r| r.and_then(|(_, v)| decode::<Part>(Tree::HlsParts, &v)))
        .collect::<Result<Vec<_>, _>>()?;
    parts.sort_by_key(|p| p.job_id);
    Ok(parts)
}

/// The jobs of segments of `rec` not archived yet.
pub fn pending_of(db: &Db, rec: &Recording) -> Result<Vec<JobId>, DbError> {
    scan(db, Tree::HlsPending, rec.prefix())
        .map(|r| r.map(|(k, _)| JobId::from_bytes(&k[k.len().saturating_sub(16)..])))
        .filter_map(Result::transpose)
        .collect()
}

/// The latest recording of `playlist` that has segments kept but no entry
/// yet (its stop was lost), by when it began.
pub fn unclosed(db: &Db, source: &str, playlist: &str) -> Result<Option<Timestamp>, DbError> {
    let any = Recording {
        source,
        playlist,
        since: None,
    };
    let prefix = any.playlist_prefix();
    let mut latest = None;
    for r in scan(db, Tree::HlsParts, prefix.clone()) {
        let (k, _) = r?;
        let since = std::str::from_utf8(&k[prefix.len()..])
            .ok()
            .and_then(|rest| rest.split('\0').next())
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        latest = latest.max(since);
    }
    Ok(latest)
}

/// Drops the kept parts of `rec`, whose catalog entry now holds them.
pub fn consume(tx: &Tx, rec: &Recording, parts: &[Part]) -> Result<(), TxError> {
    for p in parts {
        tx.remove(Tree::HlsParts, &rec.key(p.origin.as_str().as_bytes()))?;
    }
    Ok(())
}

/// Forgets that the segment job `job` of `rec` is pending (it failed: the
/// playlist's job archives the segment itself).
pub fn not_pending(db: &Db, rec: &Recording, job: JobId) -> Result<(), DbError> {
    db.remove(Tree::HlsPending, &rec.key(job.key()))
}
