//! One file job's attempt, from claim to recorded outcome: the transfer,
//! what becomes of the job and its upload when it fails (retried, failed
//! for good, back to the queue, or waiting for the store), the catalog
//! entry and notifications filed with its completion, the local file's
//! deletion after.

use std::time::Duration;

use tokio::sync::watch;

use super::attempt::{self, transfer};
use super::heartbeat::Heartbeat;
use super::pump::Failed;
use super::{log, notify, Context};
use crate::catalog::{CatalogEntry, StoredAt};
use crate::queue::Job;
use crate::retry::{delay_after, Failure, FailureKind};
use crate::state::Filing;
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

/// What an attempt came to: its catalog entry, or its failure and what
/// becomes of the job.
type Outcome = Result<CatalogEntry, (Failure, Then)>;

/// What becomes of a failed attempt's job.
enum Then {
    /// Back to the queue, the attempt uncounted (a shutdown).
    Release,
    /// Waiting for the store to answer, the attempt uncounted.
    Wait,
    Retry(crate::time::Timestamp),
    Fail,
}

/// Runs a claimed job and records its outcome: the transfer (claim,
/// source, store), then the filing (one repository call), then what
/// follows an archive.
pub(super) async fn process(ctx: &Context, job: Job, interrupt: watch::Receiver<bool>) -> Verdict {
    if job.notification.is_some() {
        notify::deliver(ctx, job).await;
        return Verdict::Unknown;
    }
    let started = std::time::Instant::now();
    let lease = Duration::from_secs(ctx.transfer.lease_secs);
    let beat = Heartbeat::start(ctx.repo.clone(), job.clone(), lease);
    let result = transfer(ctx, &job, &beat, interrupt).await;
    let now = crate::time::now();
    let result = match result {
        Ok(entry) => Ok(entry),
        Err(failed) => Err(decide(ctx, &job, &beat, failed, now).await),
    };
    // The claim ends with the outcome recorded below; no more renewals.
    drop(beat);
    let verdict = match &result {
        Ok(_) => Verdict::Worked,
        Err((f, _)) if f.kind == FailureKind::Store => Verdict::StoreFailed(f.message.clone()),
        Err(_) => Verdict::Unknown,
    };
    if record(ctx, &job, &result, now, started).await {
        after(ctx, &job, result, started).await;
    }
    verdict
}

/// What becomes of a failed attempt's job and its upload. Still under the
/// claim (the heartbeat runs): nobody else touches the upload while it is
/// suspended or aborted.
async fn decide(
    ctx: &Context,
    job: &Job,
    beat: &Heartbeat,
    Failed { failure, upload }: Failed,
    now: crate::time::Timestamp,
) -> (Failure, Then) {
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
    match upload {
        Some(upload) => dispose(beat, upload, &failure, &then).await,
        // Failing for good before an upload was opened (or while a
        // recorded one was being looked at): the record must not outlive
        // the job's last attempt.
        None if matches!(then, Then::Fail) => abort_recorded(ctx, job).await,
        None => {}
    }
    (failure, then)
}

/// Records the outcome in the state, in one repository call, durably;
/// true once it is recorded (false: the claim was lost, or the state
/// failed, and the job runs again when its lease lapses).
async fn record(
    ctx: &Context,
    job: &Job,
    result: &Outcome,
    now: crate::time::Timestamp,
    started: std::time::Instant,
) -> bool {
    let repo = &ctx.repo;
    let recorded = match result {
        Ok(entry) => repo
            .file_archived(job, filing(ctx, job, entry, now))
            .await
            .map(|f| {
                if f.notified {
                    ctx.wake.notify_waiters();
                }
                f.job
            }),
        Err((_, Then::Release)) => repo.release(job, now).await,
        Err((f, Then::Wait)) => repo.wait_for_store(job, &f.message, now).await,
        Err((f, Then::Retry(at))) => repo.retry_at(job, &f.message, *at, now).await,
        Err((f, Then::Fail)) => {
            let told = ctx.notifier.wanting("failed", &job.source);
            let failed = repo.fail(job, &f.message, told.clone(), now).await;
            if !told.is_empty() && matches!(failed, Ok(Some(_))) {
                ctx.wake.notify_waiters();
            }
            failed
        }
    };
    let after = match recorded {
        Ok(Some(after)) => after,
        Ok(None) => {
            tracing::warn!("the job's lease was taken over while it ran; its outcome is dropped");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record the job's outcome; it runs again when its lease lapses");
            return false;
        }
    };
    if result.is_err() {
        // A failure's outcome is durable before it is told as done.
        if let Err(e) = repo.durable().await {
            tracing::error!(error = %e, "cannot record the job's outcome; it runs again when its lease lapses");
            return false;
        }
    }
    use crate::metrics::TransferOutcome as O;
    let (outcome, bytes) = match (result, after.state) {
        (Ok(entry), _) => (O::Done, entry.size),
        (Err((_, Then::Release)), _) => (O::Interrupted, 0),
        (Err((_, Then::Wait)), _) => (O::StoreDown, 0),
        (Err(_), crate::queue::JobState::Retrying) => (O::Retry, 0),
        (Err(_), _) => (O::Failed, 0),
    };
    ctx.metrics.transfer(outcome, bytes, started.elapsed());
    true
}

/// An archived file's filing: its entry, queued for this instance's
/// manifests and told of when it is this instance's own (another's, found
/// in the bucket, is in that one's manifests and was told of by it), and
/// not a segment ahead of its playlist.
fn filing(ctx: &Context, job: &Job, entry: &CatalogEntry, now: crate::time::Timestamp) -> Filing {
    let own = entry.instance_id.as_deref() == Some(ctx.instance_id.as_str());
    let told = own && entry.file.playlist.is_none();
    Filing {
        entry: entry.clone(),
        manifest: ctx.manifests && own,
        notices: if told {
            ctx.notifier.wanting("archived", &job.source)
        } else {
            Vec::new()
        },
        now,
    }
}

/// What follows a recorded outcome: for an archive, the local file's
/// deletion; the log line.
async fn after(ctx: &Context, job: &Job, result: Outcome, started: std::time::Instant) {
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
            let local = crate::local::after_archive(&ctx.repo, roots, job.found_by, &entry);
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
    let current = match ctx.repo.job(job.id).await {
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
            repo: ctx.repo.clone(),
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
