//! The worker pool: claim a due job, stream its file from the origin into the
//! store while hashing it, verify, file the catalog entry; or schedule the
//! retry the failure calls for.

mod attempt;
mod heartbeat;
mod hls;
mod log;
mod notify;
mod pump;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::catalog::{self, CatalogEntry, StoredAt};
use crate::config::TransferConfig;
use crate::db::Db;
use crate::queue::{Job, Queue};
use crate::retry::delay_after;
use crate::retry::{Failure, FailureKind};
use crate::source::Sources;
use crate::store::{Store, Upload};
use attempt::transfer;
use heartbeat::Heartbeat;
use pump::Failed;

/// What every worker shares.
pub struct Context {
    pub db: Db,
    pub queue: Queue,
    pub store: Arc<Store>,
    pub sources: Sources,
    pub transfer: TransferConfig,
    /// Notified when new jobs are queued.
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where `archived` and `failed` are told of, and who delivers.
    pub notifier: Arc<crate::notify::Notifier>,
    /// Put in every catalog entry.
    pub instance_id: String,
    /// Entries are queued for the bucket's manifests (`[catalog] manifests`).
    pub manifests: bool,
}

/// The running workers.
pub struct Pool {
    /// Set: claim no more jobs.
    stop: watch::Sender<bool>,
    /// Set: interrupt running transfers.
    interrupt: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts `transfer.workers` workers.
pub fn start(ctx: Arc<Context>) -> Pool {
    let (stop, stopped) = watch::channel(false);
    let (interrupt, interrupted) = watch::channel(false);
    let handles = (0..ctx.transfer.workers)
        .map(|n| {
            tokio::spawn(run(
                Arc::clone(&ctx),
                n,
                stopped.clone(),
                interrupted.clone(),
            ))
        })
        .collect();
    Pool {
        stop,
        interrupt,
        handles,
    }
}

impl Pool {
    /// Stops claiming, lets running transfers finish within `grace`, then
    /// interrupts the rest: their uploads are kept, as recorded, for the
    /// next start to continue, and their jobs queued again, so no job stays
    /// `running` after a clean stop.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut all = futures_util::future::join_all(self.handles);
        if tokio::time::timeout(grace, &mut all).await.is_err() {
            tracing::info!("interrupting the transfers still running after {grace:?}");
            let _ = self.interrupt.send(true);
            all.await;
        }
    }
}

/// The longest a worker sleeps before looking for due jobs again.
const IDLE_POLL: Duration = Duration::from_secs(5);

async fn run(
    ctx: Arc<Context>,
    n: usize,
    mut stop: watch::Receiver<bool>,
    interrupt: watch::Receiver<bool>,
) {
    let lease = Duration::from_secs(ctx.transfer.lease_secs);
    loop {
        if *stop.borrow() {
            return;
        }
        let now = Utc::now();
        match ctx.queue.claim(now, lease) {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", job_id = %job.id, source = %job.source, stream = tracing::field::Empty, worker = n);
                process(&ctx, job, interrupt.clone()).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim jobs"),
        }
        let wait = match ctx.queue.next_due() {
            Ok(Some(at)) => (at - now)
                .to_std()
                .unwrap_or_default()
                .clamp(Duration::from_millis(10), IDLE_POLL),
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = ctx.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// What becomes of a failed attempt's job.
enum Then {
    /// Back to the queue, the attempt uncounted (a shutdown).
    Release,
    Retry(crate::time::Timestamp),
    Fail,
}

async fn process(ctx: &Context, job: Job, interrupt: watch::Receiver<bool>) {
    if job.notification.is_some() {
        return notify::deliver(ctx, job).await;
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
            return;
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
                (Err(_), crate::queue::JobState::Retrying) => (O::Retry, 0),
                (Err(_), _) => (O::Failed, 0),
            };
            ctx.metrics.transfer(outcome, bytes, started.elapsed());
            ctx.queue.durable().await
        }
        Ok(None) => {
            tracing::warn!("the job's lease was taken over while it ran; its outcome is dropped");
            return;
        }
        Err(e) => Err(e),
    };
    if let Err(e) = durable {
        tracing::error!(error = %e, "cannot record the job's outcome; it runs again when its lease lapses");
        return;
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
        Err((f, _)) => {
            tracing::warn!(attempt = job.attempts, kind = ?f.kind, "transfer failed: {}", f.message)
        }
    }
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
        FailureKind::Transient | FailureKind::Interrupted
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
        Ok(j) => j.and_then(|j| j.upload),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the job's upload record");
            return;
        }
    };
    if let Some(rec) = current {
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

pub(super) fn db_failure(e: crate::db::DbError) -> Failure {
    Failure::transient(format!("state store: {e}"))
}

pub(super) fn lease_lost() -> Failure {
    Failure::transient("the job's lease was lost to another worker")
}
