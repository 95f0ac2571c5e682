//! One file job's attempt, from claim to recorded outcome: the transfer,
//! what becomes of the job and its upload when it fails (retried, failed
//! for good, back to the queue, or waiting for the store), the catalog
//! entry and notifications filed with its completion, the local file's
//! deletion after.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::attempt::{self, transfer};
use super::heartbeat::Heartbeat;
use super::pump::Failed;
use super::{log, notify, Context};
use crate::catalog::{self, CatalogEntry, StoredAt};
use crate::queue::Job;
use crate::retry::{delay_after, Failure, FailureKind};
use crate::store::Upload;

/// What an attempt says of the archive store.
pub(super) enum Verdict {
    /// A file went into the store.
    Worked,
    /// The store failed on its side, for this reason.
    StoreFailed(String),
    /// Nothing either way (a notification, the file's own failure).
    Unknown,
}

/// What becomes of a failed attempt's job.
enum Then {
    /// Back to the queue, the attempt uncounted (a shutdown).
    Release,
    /// Waiting for the store to answer, the attempt uncounted.
    Wait,
    Retry(crate::time::Timestamp),
    Fail,
}

/// Runs a claimed job and records its outcome.
pub(super) async fn process(ctx: &Context, job: Job, interrupt: watch::Receiver<bool>) -> Verdict {
    if job.notification.is_some() {
        notify::deliver(ctx, job).await;
        return Verdict::Unknown;
    }
    let started = std::time::Instant::now();
    let lease = Duration::from_secs(ctx.transfer.lease_secs);
    let beat = Heartbeat::start(ctx.queue.clone(), job.clone(), lease);
    let result = transfer(ctx, &job, &beat, interrupt).await;
    let now = Utc::now();
    let result = match result {
        Ok(entry) => Ok(entry),
        Err(Failed { failure, upload }) => {
            let then = if failure.kind == FailureKind::Interrupted {
                Then::Release
            } else if failure.kind == FailureKind::Store {
                Then::Wait
            } else if failure.should_retry(job.attempts, &ctx.transfer) {
                let wait = delay_after(job.attempts, &ctx.transfer);
                Then::Retry(now + chrono::Duration::from_std(wait).unwrap_or_default())
            } else {
                Then::Fail
            };
            // Still under the claim (the heartbeat runs): nobody else
            // touches the upload while it is suspended or aborted.
            match upload {
                Some(upload) => dispose(&beat, upload, &failure, &then).await,
                // Failing for good before an upload was opened (or while a
                // recorded one was being looked at): the record must not
                // outlive the job's last attempt.
                None if matches!(then, Then::Fail) => abort_recorded(ctx, &job).await,
                None => {}
            }
            Err((failure, then))
        }
    };
    // The claim ends with the outcome recorded below; no more renewals.
    drop(beat);
    let verdict = match &result {
        Ok(_) => Verdict::Worked,
        Err((f, _)) if f.kind == FailureKind::Store => Verdict::StoreFailed(f.message.clone()),
        Err(_) => Verdict::Unknown,
    };
    let told = match &result {
        // (Not a segment ahead of its playlist, nor a file another instance
        // archived and told of.)
        Ok(entry)
            if entry.file.playlist.is_none()
                && entry.instance_id.as_deref() == Some(ctx.instance_id.as_str()) =>
        {
            Some("archived")
        }
        Err((_, Then::Fail)) => Some("failed"),
        _ => None,
    };
    let notes = match told.map(|t| ctx.notifier.ids(&ctx.db, t, &job.source, &now)) {
        Some(Err(e)) => {
            tracing::error!(error = %e, "cannot record the job's outcome; it runs again when its lease lapses");
            return verdict;
        }
        Some(Ok(ids)) => ids,
        None => Vec::new(),
    };
    let pushed = std::sync::Mutex::new(Vec::new());
    let keep = |p: Vec<crate::queue::Pushed>| *pushed.lock().unwrap_or_else(|e| e.into_inner()) = p;
    let recorded = match &result {
        Ok(entry) => ctx.queue.complete(&job, entry.size, now, &|tx| {
            // An entry filed before (found beside its object again, its file
            // announced anew) is in the manifests and told of already.
            let again = crate::catalog::held(tx, &entry.id)?;
            file_entry(tx, entry)?;
            // This instance's own entries go to its manifests (another's,
            // found in the bucket, are in that one's).
            let own = entry.instance_id.as_deref() == Some(ctx.instance_id.as_str());
            if ctx.manifests && own && !again && entry.file.playlist.is_none() {
                crate::manifest::queue(tx, &entry.id)?;
            }
            if told.is_some() && !again {
                let body = crate::notify::archived_body(entry);
                let (id, event) = (entry.id.to_string(), entry.event_id);
                keep(ctx.notifier.push(
                    tx,
                    &notes,
                    "archived",
                    &job.source,
                    &id,
                    event,
                    &body,
                    now,
                )?);
            }
            Ok(())
        }),
        Err((_, Then::Release)) => ctx.queue.release(&job, now),
        Err((f, Then::Wait)) => ctx.queue.wait_for_store(&job, &f.message, now),
        Err((f, Then::Retry(at))) => {
            ctx.queue
                .attempt_failed(&job, &f.message, Some(*at), now, None)
        }
        Err((f, Then::Fail)) => {
            let tell = |tx: &crate::db::Tx| {
                let mut failed = job.clone();
                failed.state = crate::queue::JobState::Failed;
                failed.last_error = Some(f.message.clone());
                let body = crate::notify::failed_body(&failed, &f.message);
                // Each time it gives up (a retry by hand may fail again).
                let subject = format!("{}/{}", job.id, job.claims);
                let (source, event) = (&job.source, job.event_id);
                keep(
                    ctx.notifier
                        .push(tx, &notes, "failed", source, &subject, event, &body, now)?,
                );
                Ok(())
            };
            ctx.queue
                .attempt_failed(&job, &f.message, None, now, Some(&tell))
        }
    };
    let pushed = pushed.into_inner().unwrap_or_else(|e| e.into_inner());
    if matches!(recorded, Ok(Some(_))) && !pushed.is_empty() {
        for p in &pushed {
            ctx.queue.pushed(p);
        }
        ctx.wake.notify_waiters();
    }
    let durable = match recorded {
        Ok(Some(after)) => {
            use crate::metrics::TransferOutcome as O;
            let (outcome, bytes) = match (&result, after.state) {
                (Ok(entry), _) => (O::Done, entry.size),
                (Err((_, Then::Release)), _) => (O::Interrupted, 0),
                (Err((_, Then::Wait)), _) => (O::StoreDown, 0),
                (Err(_), crate::queue::JobState::Retrying) => (O::Retry, 0),
                (Err(_), _) => (O::Failed, 0),
            };
            ctx.metrics.transfer(outcome, bytes, started.elapsed());
            ctx.queue.durable().await
        }
        Ok(None) => {
            tracing::warn!("the job's lease was taken over while it ran; its outcome is dropped");
            return verdict;
        }
        Err(e) => Err(e),
    };
    if let Err(e) = durable {
        tracing::error!(error = %e, "cannot record the job's outcome; it runs again when its lease lapses");
        return verdict;
    }
    match result {
        Ok(entry) => {
            tracing::info!(
                size = entry.size, sha256 = %entry.sha256, secs = started.elapsed().as_secs_f64(),
                "archived to {}", describe(&entry.store)
            );
            // Verified and catalogued, durably: a local copy may go now.
            // (An HLS recording's files stay together: none is deleted,
            // nor a segment its server may still be serving live.)
            let roots = ctx
                .sources
                .get(&job.source)
                .and_then(|s| s.delete_roots())
                .filter(|_| entry.parts.is_empty() && entry.file.playlist.is_none());
            let local = crate::local::after_archive(&ctx.queue, roots, job.found_by, &entry);
            if let Err(e) = local.await {
                tracing::warn!(error = %e, "cannot record the local file's deletion");
            }
        }
        // The store's trouble is told once, by its health, not per job.
        Err((f, Then::Wait)) => tracing::debug!("transfer waits for the store: {}", f.message),
        Err((f, _)) => {
            tracing::warn!(attempt = job.attempts, kind = ?f.kind, "transfer failed: {}", f.message)
        }
    }
    verdict
}

/// Files an archived file: its catalog entry (taking in the parts of an
/// HLS recording kept ahead of it), or, for a segment announced ahead of
/// its playlist, its part.
fn file_entry(tx: &crate::db::Tx, entry: &CatalogEntry) -> Result<(), crate::db::TxError> {
    if let Some(playlist) = &entry.file.playlist {
        let part = crate::hls::Part {
            role: crate::hls::Role::Segment,
            uri: entry.origin.file_name().to_owned(),
            origin: entry.origin.clone(),
            store: entry.store.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            md5: entry.md5.clone(),
            duration_s: entry.file.duration_s,
            job_id: entry.job_id,
            archived_at: entry.archived_at,
        };
        let rec = crate::hls::Recording::of(&entry.source, playlist, &entry.file);
        return crate::hls::file_part(tx, &rec, &part);
    }
    catalog::file(tx, entry)?;
    let rec = crate::hls::Recording::of(&entry.source, entry.origin.as_str(), &entry.file);
    crate::hls::consume(tx, &rec, &entry.parts)
}

/// Leaves a failed attempt's upload for the next attempt to continue, when
/// there will be one and the failure did not make its bytes suspect; else
/// aborts it and forgets it.
async fn dispose(beat: &Heartbeat, upload: Upload, failure: &Failure, then: &Then) {
    let resumable = matches!(
        failure.kind,
        FailureKind::Transient | FailureKind::Interrupted | FailureKind::Store
    );
    // A superseded claim never aborts: the upload is the new claim's now
    // (abort itself also refuses once the record cannot be dropped).
    if beat.lost() || (resumable && !matches!(then, Then::Fail)) {
        upload.suspend().await;
    } else {
        upload.abort().await;
    }
}

/// Aborts the upload the job still records, if any.
async fn abort_recorded(ctx: &Context, job: &Job) {
    let current = match ctx.queue.get(job.id) {
        Ok(Some(j)) => j,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the job's upload record");
            return;
        }
    };
    if let Some(pending) = &current.creating {
        if let Err(f) = attempt::abort_lost_create(ctx, job, pending).await {
            tracing::warn!(error = %f, key = %pending.key,
                "cannot look for an upload whose creation went unanswered; the hourly sweep will");
        }
    }
    if let Some(rec) = current.upload {
        let log = log::JobLog {
            db: ctx.db.clone(),
            queue: ctx.queue.clone(),
            job: job.clone(),
        };
        ctx.store.abort_stale(&rec, &log).await;
    }
}

fn describe(at: &StoredAt) -> String {
    match at {
        StoredAt::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        StoredAt::Fs { path } => path.clone(),
    }
}
