//! HLS recordings announced segment by segment, in sled: which recording
//! each stream is writing, the segments announced but not archived, and
//! the parts archived ahead of their playlist.

use super::kv::{decode, encode, tx_get_json, Db, DbError, Order, Scan, Tree, Tx, TxError};
use crate::catalog::Part;
use crate::event::{Event, EventKind};
use crate::hls::OpenPlaylist;
use crate::id::JobId;
use crate::state::HlsRecording;
use crate::stream::StreamState;
use crate::time::Timestamp;

/// `source \0 playlist \0`: every recording of a playlist.
fn playlist_prefix(source: &str, playlist: &str) -> Vec<u8> {
    [source.as_bytes(), b"\0", playlist.as_bytes(), b"\0"].concat()
}

/// `source \0 playlist \0 since \0`: one recording.
fn prefix(rec: &HlsRecording) -> Vec<u8> {
    let since = rec.since.map_or_else(
        || "-".to_owned(),
        |t| format!("{:020}", t.timestamp_millis()),
    );
    [
        playlist_prefix(&rec.source, &rec.playlist),
        since.into_bytes(),
        b"\0".to_vec(),
    ]
    .concat()
}

fn key(rec: &HlsRecording, tail: &[u8]) -> Vec<u8> {
    [prefix(rec), tail.to_vec()].concat()
}

/// For an event announcing one segment of an HLS recording (archived by
/// the job `job`): notes the recording as open for the segment's stream
/// (unless it is, or was closed a moment ago) and the segment as pending
/// in it; the event's file then says when the recording began.
pub fn note_segment_of(tx: &Tx, event: &mut Event, job: JobId) -> Result<(), TxError> {
    let Some(playlist) = event.file.as_ref().and_then(|f| f.facts.playlist.clone()) else {
        return Ok(());
    };
    let Some(stream) = StreamState::key_of(event) else {
        return Ok(());
    };
    let open = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &stream)?
        .filter(|o| o.takes(&playlist, event.received_at));
    let since = match open {
        Some(o) => o.since,
        None => {
            let since = event.occurred_at;
            let open = OpenPlaylist {
                playlist: playlist.clone(),
                since,
                closed_at: None,
            };
            tx.insert(Tree::HlsOpen, &stream, &encode(&open))?;
            since
        }
    };
    let rec = HlsRecording {
        source: event.source.clone(),
        playlist,
        since: Some(since),
    };
    tx.insert(Tree::HlsPending, &key(&rec, job.key()), &[])?;
    if let Some(f) = event.file.as_mut() {
        f.facts.playlist_since = Some(since);
    }
    Ok(())
}

/// For a stream's stop: the HLS recording it was writing, now closed (kept
/// a while for a late segment). For a start: a recording whose stop was
/// lost is forgotten, so the new publish begins its own.
pub fn close_open(tx: &Tx, event: &Event) -> Result<Option<OpenPlaylist>, TxError> {
    let Some(stream) = StreamState::key_of(event) else {
        return Ok(None);
    };
    match event.kind {
        EventKind::StreamStopped => {
            let Some(mut open) = tx_get_json::<OpenPlaylist>(tx, Tree::HlsOpen, &stream)? else {
                return Ok(None);
            };
            if open.closed_at.is_some() {
                return Ok(None); // a second stop
            }
            open.closed_at = Some(event.received_at);
            tx.insert(Tree::HlsOpen, &stream, &encode(&open))?;
            Ok(Some(open))
        }
        EventKind::StreamStarted => {
            tx.remove(Tree::HlsOpen, &stream)?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Keeps `part` of `rec`, archived ahead of its playlist, no longer pending.
pub fn file_part(tx: &Tx, rec: &HlsRecording, part: &Part) -> Result<(), TxError> {
    tx.remove(Tree::HlsPending, &key(rec, part.job_id.key()))?;
    tx.insert(
        Tree::HlsParts,
        &key(rec, part.origin.as_str().as_bytes()),
        &encode(part),
    )
}

/// Drops the kept parts of `rec`, whose catalog entry now holds them.
pub fn consume(tx: &Tx, rec: &HlsRecording, parts: &[Part]) -> Result<(), TxError> {
    for p in parts {
        tx.remove(Tree::HlsParts, &key(rec, p.origin.as_str().as_bytes()))?;
    }
    Ok(())
}

fn scan(db: &Db, tree: Tree, prefix: Vec<u8>) -> Scan {
    use std::ops::Bound::{Excluded, Included};
    let end = [prefix.as_slice(), &[0xff]].concat();
    db.scan(tree, Included(prefix), Excluded(end), Order::Ascending)
}

/// The parts kept for `rec`, in the order they were archived.
pub fn parts_of(db: &Db, rec: &HlsRecording) -> Result<Vec<Part>, DbError> {
    let mut parts = scan(db, Tree::HlsParts, prefix(rec))
        .map(|r| r.and_then(|(_, v)| decode::<Part>(Tree::HlsParts, &v)))
        .collect::<Result<Vec<_>, _>>()?;
    parts.sort_by_key(|p| p.job_id);
    Ok(parts)
}

/// The jobs of segments of `rec` not archived yet.
pub fn pending_of(db: &Db, rec: &HlsRecording) -> Result<Vec<JobId>, DbError> {
    scan(db, Tree::HlsPending, prefix(rec))
        .map(|r| r.map(|(k, _)| JobId::from_bytes(&k[k.len().saturating_sub(16)..])))
        .filter_map(Result::transpose)
        .collect()
}

/// Forgets that the segment job `job` of `rec` is pending.
pub fn not_pending(db: &Db, rec: &HlsRecording, job: JobId) -> Result<(), DbError> {
    db.remove(Tree::HlsPending, &key(rec, job.key()))
}

/// The latest recording of `playlist` that has segments kept but no entry
/// yet (its stop was lost), by when it began.
pub fn unclosed(db: &Db, source: &str, playlist: &str) -> Result<Option<Timestamp>, DbError> {
    let prefix = playlist_prefix(source, playlist);
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
