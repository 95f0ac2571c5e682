//! HLS recordings: a playlist and the files it names, archived together as
//! one catalog entry whose `parts` list each file with its size and
//! checksums. A playlist may be announced whole (Tencent's `playlist.m3u8`,
//! a swept `.m3u8`) or segment by segment (SRS `on_hls`, then its playlist
//! at `on_unpublish`): segments archived ahead of their playlist are kept
//! here as parts until the playlist's job takes them in.

pub mod playlist;

use serde::{Deserialize, Serialize};

use crate::catalog::StoredAt;
use crate::db::{decode, encode, tx_get_json, Db, DbError, Order, Tree, Tx, TxError};
use crate::event::{Event, EventKind, Location};
use crate::id::JobId;
use crate::stream::StreamState;
use crate::time::{serde_rfc3339, Timestamp};
pub use playlist::Role;

/// True when `location` names an HLS playlist.
pub fn is_playlist(location: &Location) -> bool {
    location.extension().as_deref() == Some("m3u8")
}

/// One file of an HLS recording, as archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub role: Role,
    /// As the playlist names it (the playlist itself: its file name).
    pub uri: String,
    pub origin: Location,
    pub store: StoredAt,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The job that archived it.
    pub job_id: JobId,
    #[serde(with = "serde_rfc3339")]
    pub archived_at: Timestamp,
}

/// The HLS recording a stream is writing, segment by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenPlaylist {
    pub playlist: String,
    #[serde(with = "serde_rfc3339")]
    pub since: Timestamp,
}

/// For an event announcing one segment of an HLS recording: notes the
/// recording as open for the segment's stream (if it is not already) and
/// returns when it began, in the transaction recording the event.
pub fn note_segment(tx: &Tx, event: &Event) -> Result<Option<Timestamp>, TxError> {
    let Some(playlist) = event.file.as_ref().and_then(|f| f.facts.playlist.clone()) else {
        return Ok(None);
    };
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    if let Some(open) = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &key)? {
        if open.playlist == playlist {
            return Ok(Some(open.since));
        }
    }
    let since = event.occurred_at;
    tx.insert(
        Tree::HlsOpen,
        &key,
        &encode(&OpenPlaylist { playlist, since }),
    )?;
    Ok(Some(since))
}

/// For a stream's stop: the HLS recording it was writing, now closed.
pub fn take_open(tx: &Tx, event: &Event) -> Result<Option<OpenPlaylist>, TxError> {
    if event.kind != EventKind::StreamStopped {
        return Ok(None);
    }
    let Some(key) = StreamState::key_of(event) else {
        return Ok(None);
    };
    let open = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &key)?;
    if open.is_some() {
        tx.remove(Tree::HlsOpen, &key)?;
    }
    Ok(open)
}

fn parts_prefix(source: &str, playlist: &str) -> Vec<u8> {
    [source.as_bytes(), b"\0", playlist.as_bytes(), b"\0"].concat()
}

fn part_key(source: &str, playlist: &str, part: &Part) -> Vec<u8> {
    [
        parts_prefix(source, playlist),
        part.origin.as_str().as_bytes().to_vec(),
    ]
    .concat()
}

/// Keeps `part`, archived ahead of the playlist of `source` at `playlist`.
pub fn file_part(tx: &Tx, source: &str, playlist: &str, part: &Part) -> Result<(), TxError> {
    tx.insert(
        Tree::HlsParts,
        &part_key(source, playlist, part),
        &encode(part),
    )
}

/// The parts kept for the playlist of `source` at `playlist`, in the order
/// they were archived.
pub fn parts_of(db: &Db, source: &str, playlist: &str) -> Result<Vec<Part>, DbError> {
    use std::ops::Bound::{Excluded, Included};
    let prefix = parts_prefix(source, playlist);
    let end = [prefix.as_slice(), &[0xff]].concat();
    let mut parts = db
        .scan(
            Tree::HlsParts,
            Included(prefix),
            Excluded(end),
            Order::Ascending,
        )
        .map(|r| r.and_then(|(_, v)| decode::<Part>(Tree::HlsParts, &v)))
        .collect::<Result<Vec<_>, _>>()?;
    parts.sort_by_key(|p| p.job_id);
    Ok(parts)
}

/// Drops the kept parts a playlist's catalog entry now holds.
pub fn consume(tx: &Tx, source: &str, playlist: &str, parts: &[Part]) -> Result<(), TxError> {
    for p in parts {
        tx.remove(Tree::HlsParts, &part_key(source, playlist, p))?;
    }
    Ok(())
}
