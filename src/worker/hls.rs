//! One attempt at an HLS recording: read its playlist, archive every file it
//! names that is not archived yet (each verified like any file, each kept
//! as a part as soon as it is in place, so a later attempt goes on from
//! there), then the playlist itself, whose catalog entry lists them all.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use tokio::sync::watch;

use super::heartbeat::Heartbeat;
use super::pump::{pump, verify_download, Failed};
use super::{lease_lost, log, new_entry, state_failure, Context};
use crate::catalog::CatalogEntry;
use crate::digest::{Digests, Hasher};
use crate::event::{Event, Location};
use crate::hls::playlist::{self, Named, MAX_PLAYLIST_BYTES};
use crate::hls::{Part, Role};
use crate::queue::Job;
use crate::retry::Failure;
use crate::source::SourceClient;
use crate::state::HlsRecording;
use crate::store::{ObjectFacts, Upload, UploadLog};

/// The key prefix an HLS recording's files go under (its playlist too):
/// the template's key for the playlist's name without `.m3u8`, dated by
/// when the recording began. A segment announced by itself finds the same.
pub(super) fn dir_key(ctx: &Context, facts: &ObjectFacts, playlist: &Location) -> String {
    let mut f = facts.clone();
    f.filename = playlist::stem(playlist);
    f.file.format = Some("hls".to_owned());
    if let Some(since) = facts.file.playlist_since {
        f.at = since;
    }
    ctx.store.key_for(&f)
}

pub(super) async fn transfer(
    ctx: &Context,
    job: &Job,
    event: &Event,
    source: &SourceClient,
    facts: &ObjectFacts,
    beat: &Heartbeat,
    interrupt: watch::Receiver<bool>,
) -> Result<CatalogEntry, Failed> {
    let log: Arc<dyn UploadLog> = Arc::new(log::JobLog {
        repo: ctx.repo.clone(),
        job: job.clone(),
    });
    // A part an earlier attempt left half-uploaded is begun again: parts
    // are small, and which part it was is not worth recording.
    if let Some(rec) = &job.upload {
        ctx.store.abort_stale(rec, log.as_ref()).await;
        log::fenced(ctx.repo.save_upload(job, None).await)?;
    }
    let rec = HlsRecording::of(&job.source, job.origin.as_str(), &facts.file);
    wait_for_segments(ctx, &rec).await?;
    let (text, mark) = read_playlist(source, &job.origin).await?;
    let named = playlist::named_files(&String::from_utf8_lossy(&text))
        .map_err(|e| Failure::permanent(format!("{}: {e}", job.origin)))?;
    let dir = dir_key(ctx, facts, &job.origin);
    let recording = Recording {
        ctx,
        job,
        source,
        facts,
        dir: &dir,
        beat,
        log: &log,
    };
    let parts = recording.files(&rec, &named, interrupt).await?;
    let key = playlist::part_key(&dir, &job.origin, &job.origin);
    let mut upload = ctx
        .store
        .begin(key, mark, facts, &ctx.transfer, job.claims, log)
        .await?;
    if let Err(failure) = upload.write(Bytes::from(text)).await {
        return Err(Failed {
            failure,
            upload: Some(upload),
        });
    }
    let d = upload.digests();
    let store = ctx.store.stored_at(upload.key());
    let mut entry = new_entry(ctx, job, event, facts, store.clone(), &d).await?;
    entry.parts = parts;
    entry.parts.push(Part {
        role: Role::Playlist,
        uri: job.origin.file_name().to_owned(),
        origin: job.origin.clone(),
        store,
        size: d.size,
        sha256: d.sha256.clone(),
        md5: d.md5.clone(),
        duration_s: None,
        job_id: job.id,
        archived_at: entry.archived_at,
    });
    entry.file.format = Some("hls".to_owned());
    let durations: Vec<f64> = entry.parts.iter().filter_map(|p| p.duration_s).collect();
    if entry.file.duration_s.is_none() && !durations.is_empty() {
        entry.file.duration_s = Some(durations.iter().sum());
    }
    // (An HLS recording's files are never deleted: no local_file.)
    let sidecar = Bytes::from(serde_json::to_vec_pretty(&entry).unwrap_or_default());
    let at = finish(upload, beat, facts, &d, sidecar).await?;
    entry.store = at.clone();
    if let Some(p) = entry.parts.last_mut() {
        p.store = at;
    }
    Ok(entry)
}

impl Recording<'_> {
    /// Every file the playlist names (`named`), in its order: those kept
    /// ahead of it taken as they are, the others archived now and kept;
    /// segments kept that it no longer names (its sliding window moved
    /// past them) first, as they are still the recording's.
    async fn files(
        &self,
        rec: &HlsRecording,
        named: &[Named],
        interrupt: watch::Receiver<bool>,
    ) -> Result<Vec<Part>, Failed> {
        let (ctx, job) = (self.ctx, self.job);
        let kept = ctx.repo.hls_parts(rec).await.map_err(state_failure)?;
        let mut by_origin: HashMap<String, usize> = HashMap::with_capacity(kept.len());
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(kept.len());
        for (i, p) in kept.iter().enumerate() {
            by_origin.insert(p.origin.as_str().to_owned(), i);
            by_name.insert(p.origin.file_name().to_owned(), i);
        }
        let mut kept: Vec<Option<Part>> = kept.into_iter().map(Some).collect();
        let mut parts = Vec::with_capacity(named.len() + 1);
        let mut done = 0;
        for n in named {
            let resolved = playlist::resolve(&job.origin, &n.uri);
            // A segment archived ahead of the playlist, found by where it
            // was read from, or (SRS's hls_entry_prefix writes URLs into a
            // playlist on disk) by its name.
            let ahead = match &resolved {
                Ok(origin) => by_origin.get(origin.as_str()),
                Err(_) => by_name.get(Location::Url(n.uri.clone()).file_name()),
            };
            if let Some(part) = ahead.and_then(|&i| kept[i].take()) {
                done += part.size;
                parts.push(part);
                continue;
            }
            let origin =
                resolved.map_err(|e| Failure::permanent(format!("{}: {e}", job.origin)))?;
            let part = self.archive(n, origin, interrupt.clone(), done).await?;
            let kept = ctx.repo.keep_hls_part(rec, part.clone());
            kept.await.map_err(state_failure)?;
            done += part.size;
            parts.push(part);
        }
        let mut earlier: Vec<Part> = kept.into_iter().flatten().collect();
        earlier.append(&mut parts);
        Ok(earlier)
    }
}

/// Fails (to be retried) while segments of the recording announced ahead
/// of its playlist are still being archived by their own jobs; the marks of
/// those that failed are dropped: their files are archived here.
async fn wait_for_segments(ctx: &Context, rec: &HlsRecording) -> Result<(), Failure> {
    use crate::queue::JobState;
    let mut waiting = 0;
    for id in ctx.repo.hls_pending(rec).await.map_err(state_failure)? {
        match ctx
            .repo
            .job(id)
            .await
            .map_err(state_failure)?
            .map(|j| j.state)
        {
            Some(JobState::Queued | JobState::Running | JobState::Retrying) => waiting += 1,
            _ => {
                let dropped = ctx.repo.hls_not_pending(rec, id);
                dropped.await.map_err(state_failure)?
            }
        }
    }
    if waiting > 0 {
        return Err(Failure::transient(format!(
            "{waiting} segments of the recording are still being archived by their own jobs"
        )));
    }
    Ok(())
}

/// The playlist's bytes (at most [`MAX_PLAYLIST_BYTES`]) and what the
/// origin said of them.
async fn read_playlist(
    source: &SourceClient,
    at: &Location,
) -> Result<(Vec<u8>, crate::upload::OriginMark), Failure> {
    let mut download = source.open(at).await?;
    if let Some(f) = download.suspect() {
        return Err(f);
    }
    let mark = download.mark();
    let mut text = Vec::new();
    let mut hasher = Hasher::new();
    while let Some(chunk) = download.next_chunk().await? {
        if text.len() + chunk.len() > MAX_PLAYLIST_BYTES {
            return Err(Failure::permanent(format!(
                "{at}: a playlist of more than {MAX_PLAYLIST_BYTES} bytes"
            )));
        }
        hasher.update(&chunk);
        text.extend_from_slice(&chunk);
    }
    verify_download(&download, hasher.finish())?;
    Ok((text, mark))
}

/// What every part's transfer shares.
struct Recording<'a> {
    ctx: &'a Context,
    job: &'a Job,
    source: &'a SourceClient,
    facts: &'a ObjectFacts,
    /// The key prefix of the recording's files.
    dir: &'a str,
    beat: &'a Heartbeat,
    log: &'a Arc<dyn UploadLog>,
}

impl Recording<'_> {
    /// One file of the recording, archived beside the playlist (`base`
    /// bytes of the recording done before it). Its sidecar is the part's
    /// own description.
    async fn archive(
        &self,
        named: &Named,
        origin: Location,
        interrupt: watch::Receiver<bool>,
        base: u64,
    ) -> Result<Part, Failed> {
        let ctx = self.ctx;
        let key = playlist::part_key(self.dir, &self.job.origin, &origin);
        let mut pf = self.facts.clone();
        pf.filename = origin.file_name().to_owned();
        pf.file.format = origin.extension();
        pf.file.duration_s = named.duration_s;
        let mut download = self.source.open(&origin).await?;
        if let Some(f) = download.suspect() {
            return Err(f.into());
        }
        let log = Arc::clone(self.log);
        let mut upload = ctx
            .store
            .begin(
                key,
                download.mark(),
                &pf,
                &ctx.transfer,
                self.job.claims,
                log,
            )
            .await?;
        let pumped = pump(self.beat, &mut download, &mut upload, interrupt, base)
            .await
            .and_then(|()| verify_download(&download, upload.digests()));
        let d = match pumped {
            Ok(d) => d,
            Err(failure) => {
                return Err(Failed {
                    failure,
                    upload: Some(upload),
                })
            }
        };
        let mut part = Part {
            role: named.role,
            uri: named.uri.clone(),
            origin,
            store: ctx.store.stored_at(upload.key()),
            size: d.size,
            sha256: d.sha256.clone(),
            md5: d.md5.clone(),
            duration_s: named.duration_s,
            job_id: self.job.id,
            archived_at: Utc::now(),
        };
        let sidecar = Bytes::from(serde_json::to_vec_pretty(&part).unwrap_or_default());
        part.store = finish(upload, self.beat, &pf, &d, sidecar).await?;
        Ok(part)
    }
}

/// Puts one file into place with its checksums in its metadata, unless the
/// claim was superseded.
async fn finish(
    mut upload: Upload,
    beat: &Heartbeat,
    facts: &ObjectFacts,
    d: &Digests,
    sidecar: Bytes,
) -> Result<crate::catalog::StoredAt, Failed> {
    let mut metadata = facts.metadata();
    metadata.insert("sha256".to_owned(), d.sha256.clone());
    metadata.insert("md5".to_owned(), d.md5.clone());
    metadata.insert("size".to_owned(), d.size.to_string());
    if beat.lost() {
        return Err(Failed {
            failure: lease_lost(),
            upload: Some(upload),
        });
    }
    match upload.finish(metadata, &d.sha256, sidecar).await {
        Ok(at) => Ok(at),
        Err(failure) => Err(Failed {
            failure,
            upload: Some(upload),
        }),
    }
}
