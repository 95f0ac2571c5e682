//! One attempt at a job: open the origin and the store (continuing the
//! upload an earlier attempt left, when it can), stream every byte through,
//! verify, and put the object into place.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::heartbeat::Heartbeat;
use super::pump::{pump, verify_download, Failed};
use super::{lease_lost, log, new_entry, state_failure, Context};
use crate::catalog::CatalogEntry;
use crate::digest::Digests;
use crate::event::Event;
use crate::providers::Provider;
use crate::queue::{Job, UploadRecord};
use crate::retry::Failure;
use crate::source::{Download, SourceClient};
use crate::store::{ObjectFacts, Upload, UploadLog};

pub(super) async fn transfer(
    ctx: &Context,
    job: &Job,
    beat: &Heartbeat,
    interrupt: watch::Receiver<bool>,
) -> Result<CatalogEntry, Failed> {
    let event = ctx
        .repo
        .event(job.event_id)
        .await
        .map_err(state_failure)?
        .ok_or_else(|| Failure::permanent(format!("event {} is missing", job.event_id)))?;
    tracing::Span::current().record("stream", event.stream.name.as_deref().unwrap_or(""));
    let source = ctx.sources.get(&job.source).ok_or_else(|| {
        Failure::permanent(crate::config::Config::source_gone(
            ctx.config_file.as_deref(),
            &job.source,
        ))
    })?;
    let facts = facts(job, &event);
    if let Some(pending) = &job.creating {
        abort_lost_create(ctx, job, pending).await?;
    }
    if crate::hls::is_playlist(&job.origin) && job.kind == crate::queue::FileKind::Recording {
        return super::hls::transfer(ctx, job, &event, source, &facts, beat, interrupt).await;
    }
    let (mut download, mut upload) = open_both(ctx, job, source, &facts).await?;
    let pumped = pump(beat, &mut download, &mut upload, interrupt, 0)
        .await
        .and_then(|()| verify(&event, &download, upload.digests()));
    let digests = match pumped {
        Ok(d) => d,
        Err(failure) => {
            return Err(Failed {
                failure,
                upload: Some(upload),
            })
        }
    };
    let store = ctx.store.stored_at(upload.key());
    let mut entry = new_entry(ctx, job, &event, &facts, store, &digests).await?;
    entry.local_file = download.file_id;
    let mut metadata = facts.metadata();
    metadata.insert("sha256".to_owned(), digests.sha256.clone());
    metadata.insert("md5".to_owned(), digests.md5.clone());
    metadata.insert("size".to_owned(), digests.size.to_string());
    let sidecar = Bytes::from(serde_json::to_vec_pretty(&entry).unwrap_or_default());
    // A superseded claim puts nothing into place: another attempt owns the job.
    if beat.lost() {
        return Err(Failed {
            failure: lease_lost(),
            upload: Some(upload),
        });
    }
    match upload.finish(metadata, &digests.sha256, sidecar).await {
        Ok(at) if at != entry.store => adopted(ctx, job, entry, at).await.map_err(Failed::from),
        Ok(at) => {
            entry.store = at;
            Ok(entry)
        }
        Err(failure) => Err(Failed {
            failure,
            upload: Some(upload),
        }),
    }
}

/// The entry of a file whose bytes were found already stored at `at`: the
/// entry written beside them for this very announcement (same source, same
/// origin, same bytes) by another instance a platform's retry reached
/// first, or by this one before a crash kept it from filing it; so that
/// every catalog and the bucket's manifests hold the file under one id.
/// Else ours, pointing there.
async fn adopted(
    ctx: &Context,
    job: &Job,
    mut ours: CatalogEntry,
    at: crate::catalog::StoredAt,
) -> Result<CatalogEntry, Failure> {
    ours.store = at;
    let theirs = match ctx.store.sidecar(&ours.store).await {
        Ok(Some(b)) => serde_json::from_slice::<CatalogEntry>(&b).ok(),
        // Its writer may be between the object and its sidecar: look again
        // shortly, a few times.
        Ok(None) if job.attempts < SIDECAR_WAITS => {
            return Err(Failure::transient(
                "the object already holding these bytes has no catalog sidecar yet",
            ))
        }
        // None came (its writer died between the two): the sidecar is made
        // now, create-only, so that of two instances healing it one entry
        // wins and the other takes it.
        Ok(None) => {
            let sidecar = Bytes::from(serde_json::to_vec_pretty(&ours).unwrap_or_default());
            if ctx.store.create_sidecar(&ours.store, sidecar).await? {
                return Ok(ours);
            }
            ctx.store
                .sidecar(&ours.store)
                .await?
                .and_then(|b| serde_json::from_slice::<CatalogEntry>(&b).ok())
        }
        Err(f) if job.attempts < SIDECAR_WAITS => {
            return Err(Failure::transient(format!(
                "cannot read the sidecar of the object already holding these bytes: {}",
                f.message
            )))
        }
        Err(f) => {
            tracing::warn!(
                "cannot read the sidecar of the object holding these bytes: {}",
                f.message
            );
            None
        }
    };
    match theirs {
        Some(t)
            if t.source == ours.source
                && t.origin == ours.origin
                && t.sha256 == ours.sha256
                && t.instance_id.is_some() =>
        {
            tracing::info!(instance = t.instance_id.as_deref().unwrap_or(""), entry = %t.id,
                "already archived; the catalog entry beside it is this file's");
            Ok(t)
        }
        _ => Ok(ours),
    }
}

/// Aborts the upload a create left whose answer an earlier attempt never
/// heard back from (killed mid-request), then clears the note of it.
pub(super) async fn abort_lost_create(
    ctx: &Context,
    job: &Job,
    pending: &UploadRecord,
) -> Result<(), Failure> {
    let log = log::JobLog {
        repo: ctx.repo.clone(),
        job: job.clone(),
    };
    let known = job.upload.as_ref().map(|u| u.upload_id.as_str());
    ctx.store.abort_unrecorded(pending, known, &log).await?;
    log::fenced(ctx.repo.note_creating(job, None).await)
}

/// Attempts that wait for a missing sidecar before writing one.
const SIDECAR_WAITS: u32 = 3;

/// The download and the upload of this attempt: the upload an earlier
/// attempt left, continued from where it stopped, if the store and the
/// origin still hold what it was made of; else both from the first byte.
async fn open_both(
    ctx: &Context,
    job: &Job,
    source: &SourceClient,
    facts: &ObjectFacts,
) -> Result<(Download, Upload), Failed> {
    let key = key_of(ctx, facts, &job.origin);
    let log: Arc<dyn UploadLog> = Arc::new(log::JobLog {
        repo: ctx.repo.clone(),
        job: job.clone(),
    });
    if let Some(rec) = &job.upload {
        if let Some(pair) = resume(ctx, job, source, facts, rec, &log).await? {
            return Ok(pair);
        }
        log::fenced(ctx.repo.save_upload(job, None).await)?;
    }
    let download = source.open(&job.origin).await?;
    if let Some(f) = download.suspect() {
        return Err(f.into());
    }
    let upload = ctx
        .store
        .begin(key, download.mark(), facts, &ctx.transfer, job.claims, log)
        .await?;
    Ok((download, upload))
}

/// Continues `rec`; `None` (the old upload aborted) to start afresh.
async fn resume(
    ctx: &Context,
    job: &Job,
    source: &SourceClient,
    facts: &ObjectFacts,
    rec: &UploadRecord,
    log: &Arc<dyn UploadLog>,
) -> Result<Option<(Download, Upload)>, Failure> {
    let key = key_of(ctx, facts, &job.origin);
    let resumed = ctx
        .store
        .resume(key, rec, facts, &ctx.transfer, Arc::clone(log))
        .await?;
    let (Some(upload), Some(progress)) = (resumed, &rec.progress) else {
        return Ok(None);
    };
    if upload.is_complete() {
        // Every byte is in the store and hashed: the origin is not needed.
        return Ok(Some((Download::finished(&progress.origin), upload)));
    }
    // On failure here the upload stays recorded for the next attempt.
    match source
        .open_from(&job.origin, upload.size(), &progress.origin)
        .await?
    {
        Some(download) => match download.suspect() {
            Some(f) => Err(f),
            None => Ok(Some((download, upload))),
        },
        None => {
            tracing::info!(
                "the origin no longer serves the file the upload began with (or cannot tell); \
                 starting afresh"
            );
            upload.abort().await;
            Ok(None)
        }
    }
}

/// The key of the file with `facts` from `origin`: its template's, or, for
/// a segment of an HLS recording, beside the recording's playlist.
fn key_of(ctx: &Context, facts: &ObjectFacts, origin: &crate::event::Location) -> String {
    match &facts.file.playlist {
        Some(p) => {
            let playlist = crate::event::Location::Path(p.clone());
            let dir = super::hls::dir_key(ctx, facts, &playlist);
            crate::hls::playlist::part_key(&dir, &playlist, origin)
        }
        None => ctx.store.key_for(facts),
    }
}

pub(super) fn facts(job: &Job, event: &Event) -> ObjectFacts {
    let file = event
        .file
        .as_ref()
        .map(|f| f.facts.clone())
        .unwrap_or_default();
    ObjectFacts {
        kind: job.kind,
        source: job.source.clone(),
        provider: event.provider.to_string(),
        stream: event.stream.clone(),
        filename: job.origin.file_name().to_owned(),
        // A snapshot (or a file with no start) is dated by when it was taken.
        at: file.start().or(file.ended_at).unwrap_or(event.occurred_at),
        file,
        job_id: job.id,
        event_id: job.event_id,
    }
}

/// Checks the bytes against what the origin and the callback promised.
fn verify(event: &Event, download: &Download, d: Digests) -> Result<Digests, Failure> {
    let d = verify_download(download, d)?;
    if let Some(stated) = event.file.as_ref().and_then(|f| f.size) {
        if stated == d.size {
            tracing::debug!("the callback's file size matches, in bytes");
        } else if event.provider == Provider::Jdcloud {
            // JD documents fileSize in KB, yet its examples look like bytes.
            if stated.saturating_mul(1024).abs_diff(d.size) < 1024 {
                tracing::debug!("the callback's fileSize matches, in KiB");
            } else {
                tracing::warn!(stated, actual = d.size, "JD fileSize matches neither bytes nor KiB; not compared (its unit is ambiguous)");
            }
        } else {
            return Err(Failure::integrity(format!(
                "received {} bytes, the callback announced {stated}",
                d.size
            )));
        }
    }
    Ok(d)
}
