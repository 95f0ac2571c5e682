//! HLS recordings announced segment by segment, in PostgreSQL: which
//! recording each stream is writing, the segments announced but not
//! archived, and the parts archived ahead of their playlist.

use deadpool_postgres::GenericClient;

use super::sql::{exec, json, opt, record, rows, E};
use crate::catalog::Part;
use crate::event::{Event, EventKind};
use crate::hls::OpenPlaylist;
use crate::id::JobId;
use crate::state::HlsRecording;
use crate::stream::StreamState;
use crate::time::Timestamp;

/// How long after a stop a segment still belongs to the recording it
/// stopped (SRS may send the last `on_hls` after `on_unpublish`).
const LATE_SEGMENT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// A recording's `since` as its column: `-1` for a playlist announced whole.
pub fn since(rec: &HlsRecording) -> i64 {
    rec.since.map_or(-1, |t| t.timestamp_millis())
}

async fn open_of(c: &impl GenericClient, stream: &[u8]) -> Result<Option<OpenPlaylist>, E> {
    let row = opt(
        c,
        "SELECT open FROM hls_open WHERE stream_key = $1",
        &[&stream],
    )
    .await?;
    row.map(|r| record(&r, 0, "hls_open")).transpose()
}

pub(super) async fn put_open(
    c: &impl GenericClient,
    stream: &[u8],
    open: &OpenPlaylist,
) -> Result<(), E> {
    let sql = "INSERT INTO hls_open (stream_key, open) VALUES ($1, $2) \
               ON CONFLICT (stream_key) DO UPDATE SET open = excluded.open";
    exec(c, sql, &[&stream, &json(open)]).await.map(drop)
}

/// For an event announcing one segment of an HLS recording (archived by
/// `job`): the recording noted open for its stream (unless it is, or was
/// closed a moment ago) and the segment pending in it. The caller holds
/// the stream's lock.
pub async fn note_segment_of(
    c: &impl GenericClient,
    event: &mut Event,
    job: JobId,
) -> Result<(), E> {
    let Some(playlist) = event.file.as_ref().and_then(|f| f.facts.playlist.clone()) else {
        return Ok(());
    };
    let Some(stream) = StreamState::key_of(event) else {
        return Ok(());
    };
    let open = open_of(c, &stream).await?.filter(|o| {
        o.playlist == playlist
            && o.closed_at
                .is_none_or(|closed| event.received_at <= closed + LATE_SEGMENT)
    });
    let since = match open {
        Some(o) => o.since,
        None => {
            let open = OpenPlaylist {
                playlist: playlist.clone(),
                since: event.occurred_at,
                closed_at: None,
            };
            put_open(c, &stream, &open).await?;
            open.since
        }
    };
    let rec = HlsRecording {
        source: event.source.clone(),
        playlist,
        since: Some(since),
    };
    let sql = "INSERT INTO hls_pending (source, playlist, since, job_id) VALUES ($1, $2, $3, $4) \
               ON CONFLICT DO NOTHING";
    let p: super::sql::Params = &[
        &rec.source,
        &rec.playlist,
        &self::since(&rec),
        &&job.key()[..],
    ];
    exec(c, sql, p).await?;
    if let Some(f) = event.file.as_mut() {
        f.facts.playlist_since = Some(since);
    }
    Ok(())
}

/// For a stream's stop: the HLS recording it was writing, now closed. For
/// a start: a recording whose stop was lost is forgotten.
pub async fn close_open(c: &impl GenericClient, event: &Event) -> Result<Option<OpenPlaylist>, E> {
    let Some(stream) = StreamState::key_of(event) else {
        return Ok(None);
    };
    match event.kind {
        EventKind::StreamStopped => {
            let Some(mut open) = open_of(c, &stream).await? else {
                return Ok(None);
            };
            if open.closed_at.is_some() {
                return Ok(None);
            }
            open.closed_at = Some(event.received_at);
            put_open(c, &stream, &open).await?;
            Ok(Some(open))
        }
        EventKind::StreamStarted => {
            exec(c, "DELETE FROM hls_open WHERE stream_key = $1", &[&stream]).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Keeps `part` of `rec`, archived ahead of its playlist, no longer pending.
pub async fn file_part(c: &impl GenericClient, rec: &HlsRecording, part: &Part) -> Result<(), E> {
    not_pending(c, rec, part.job_id).await?;
    let sql = "INSERT INTO hls_parts (source, playlist, since, origin, job_id, part) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, playlist, since, origin) \
               DO UPDATE SET job_id = excluded.job_id, part = excluded.part";
    let p: super::sql::Params = &[
        &rec.source,
        &rec.playlist,
        &since(rec),
        &part.origin.as_str(),
        &&part.job_id.key()[..],
        &json(part),
    ];
    exec(c, sql, p).await.map(drop)
}

/// Drops the kept parts of `rec`, whose catalog entry now holds them.
pub async fn consume(c: &impl GenericClient, rec: &HlsRecording, parts: &[Part]) -> Result<(), E> {
    let sql = "DELETE FROM hls_parts WHERE source = $1 AND playlist = $2 AND since = $3 \
               AND origin = $4";
    for p in parts {
        let params: super::sql::Params =
            &[&rec.source, &rec.playlist, &since(rec), &p.origin.as_str()];
        exec(c, sql, params).await?;
    }
    Ok(())
}

/// The parts kept for `rec`, in the order they were archived.
pub async fn parts_of(c: &impl GenericClient, rec: &HlsRecording) -> Result<Vec<Part>, E> {
    let sql = "SELECT part FROM hls_parts WHERE source = $1 AND playlist = $2 AND since = $3 \
               ORDER BY job_id";
    let found = rows(c, sql, &[&rec.source, &rec.playlist, &since(rec)]).await?;
    found.iter().map(|r| record(r, 0, "hls_parts")).collect()
}

/// The jobs of segments of `rec` not archived yet.
pub async fn pending_of(c: &impl GenericClient, rec: &HlsRecording) -> Result<Vec<JobId>, E> {
    let sql = "SELECT job_id FROM hls_pending WHERE source = $1 AND playlist = $2 AND since = $3 \
               ORDER BY job_id";
    let found = rows(c, sql, &[&rec.source, &rec.playlist, &since(rec)]).await?;
    Ok(found
        .iter()
        .filter_map(|r| JobId::from_bytes(r.get::<_, &[u8]>(0)))
        .collect())
}

/// Forgets that the segment job `job` of `rec` is pending.
pub async fn not_pending(c: &impl GenericClient, rec: &HlsRecording, job: JobId) -> Result<(), E> {
    let sql = "DELETE FROM hls_pending WHERE source = $1 AND playlist = $2 AND since = $3 \
               AND job_id = $4";
    let p: super::sql::Params = &[&rec.source, &rec.playlist, &since(rec), &&job.key()[..]];
    exec(c, sql, p).await.map(drop)
}

/// The latest recording of `playlist` with parts kept but no entry yet.
pub async fn unclosed(
    c: &impl GenericClient,
    source: &str,
    playlist: &str,
) -> Result<Option<Timestamp>, E> {
    let sql = "SELECT max(since) FROM hls_parts WHERE source = $1 AND playlist = $2 AND since >= 0";
    let row = opt(c, sql, &[&source, &playlist]).await?;
    Ok(row
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .and_then(chrono::DateTime::from_timestamp_millis))
}
