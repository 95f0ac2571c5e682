//! The worker pool: claim a due job, stream its file from the origin into the
//! store while hashing it, verify, file the catalog entry; or schedule the
//! retry the failure calls for.

mod heartbeat;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::catalog::{self, CatalogEntry, StoredAt};
use crate::config::TransferConfig;
use crate::db::Db;
use crate::digest::{Digests, Hasher};
use crate::event::Event;
use crate::providers::Provider;
use crate::queue::{Job, Queue};
use crate::retry::delay_after;
use crate::retry::{Failure, FailureKind};
use crate::source::{Download, Sources};
use crate::store::{ObjectFacts, Store, Upload};
use heartbeat::Heartbeat;

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
    /// interrupts the rest: their uploads are aborted and their jobs queued
    /// again, so no job stays `running` after a clean stop.
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

async fn process(ctx: &Context, job: Job, interrupt: watch::Receiver<bool>) {
    let started = std::time::Instant::now();
    let lease = Duration::from_secs(ctx.transfer.lease_secs);
    let beat = Heartbeat::start(ctx.queue.clone(), job.clone(), lease);
    let result = transfer(ctx, &job, &beat, interrupt).await;
    // The claim ends with the outcome recorded below; no more renewals.
    drop(beat);
    let now = Utc::now();
    let recorded = match &result {
        Ok(entry) => ctx
            .queue
            .complete(&job, entry.size, now, &|tx| catalog::file(tx, entry)),
        Err(f) if f.kind == FailureKind::Interrupted => ctx.queue.release(&job, now),
        Err(f) => {
            let next = f.should_retry(job.attempts, &ctx.transfer).then(|| {
                now + chrono::Duration::from_std(delay_after(job.attempts, &ctx.transfer))
                    .unwrap_or_default()
            });
            ctx.queue.attempt_failed(&job, &f.message, next, now)
        }
    };
    let durable = match recorded {
        Ok(Some(after)) => {
            use crate::metrics::TransferOutcome as O;
            let (outcome, bytes) = match (&result, after.state) {
                (Ok(entry), _) => (O::Done, entry.size),
                (Err(f), _) if f.kind == FailureKind::Interrupted => (O::Interrupted, 0),
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
        Ok(entry) => tracing::info!(
            size = entry.size, sha256 = %entry.sha256, secs = started.elapsed().as_secs_f64(),
            "archived to {}", describe(&entry.store)
        ),
        Err(f) => {
            tracing::warn!(attempt = job.attempts, kind = ?f.kind, "transfer failed: {}", f.message)
        }
    }
}

fn describe(at: &StoredAt) -> String {
    match at {
        StoredAt::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        StoredAt::Fs { path } => path.clone(),
    }
}

fn db_failure(e: crate::db::DbError) -> Failure {
    Failure::transient(format!("state store: {e}"))
}

async fn transfer(
    ctx: &Context,
    job: &Job,
    beat: &Heartbeat,
    interrupt: watch::Receiver<bool>,
) -> Result<CatalogEntry, Failure> {
    let event = crate::ingest::event(&ctx.db, job.event_id)
        .map_err(db_failure)?
        .ok_or_else(|| Failure::permanent(format!("event {} is missing", job.event_id)))?;
    tracing::Span::current().record("stream", event.stream.name.as_deref().unwrap_or(""));
    let source = ctx.sources.get(&job.source).ok_or_else(|| {
        Failure::permanent(format!("source {:?} is no longer configured", job.source))
    })?;
    if let Some(stale) = &job.upload {
        ctx.store.abort_stale(stale).await;
        ctx.queue.set_upload(job, None).map_err(db_failure)?;
    }
    let mut download = source.open(&job.origin).await?;
    if let Some(f) = download.suspect() {
        return Err(f);
    }
    let facts = facts(job, &event);
    let key = ctx.store.key_for(&facts);
    let mut upload = ctx
        .store
        .begin(
            key,
            download.content_length,
            &facts,
            &ctx.transfer,
            job.claims,
        )
        .await?;
    let digests = match pump(ctx, job, beat, &mut download, &mut upload, interrupt)
        .await
        .and_then(|d| verify(&event, &download, d))
    {
        Ok(d) => d,
        Err(f) => {
            upload.abort().await;
            return Err(f);
        }
    };
    let now = Utc::now();
    let entry = CatalogEntry {
        id: catalog::new_id(&ctx.db, &now).map_err(db_failure)?,
        kind: job.kind,
        source: job.source.clone(),
        provider: event.provider,
        // The same facts the key and the object metadata are made of.
        stream: facts.stream.clone(),
        file: facts.file.clone(),
        origin: job.origin.clone(),
        store: ctx.store.stored_at(upload.key()),
        size: digests.size,
        sha256: digests.sha256.clone(),
        md5: digests.md5.clone(),
        archived_at: now,
        job_id: job.id,
        event_id: job.event_id,
        params: event.params.clone(),
    };
    let mut metadata = facts.metadata();
    metadata.insert("sha256".to_owned(), digests.sha256.clone());
    metadata.insert("md5".to_owned(), digests.md5.clone());
    metadata.insert("size".to_owned(), digests.size.to_string());
    let sidecar = Bytes::from(serde_json::to_vec_pretty(&entry).unwrap_or_default());
    // A superseded claim puts nothing into place: another attempt owns the job.
    if beat.lost() {
        upload.abort().await;
        return Err(lease_lost());
    }
    let mut entry = entry;
    entry.store = upload.finish(metadata, &digests.sha256, sidecar).await?;
    Ok(entry)
}

fn facts(job: &Job, event: &Event) -> ObjectFacts {
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

/// Streams every byte from the origin into the store, hashing as it passes,
/// reporting progress to the heartbeat.
async fn pump(
    ctx: &Context,
    job: &Job,
    beat: &Heartbeat,
    download: &mut Download,
    upload: &mut Upload,
    mut interrupt: watch::Receiver<bool>,
) -> Result<Digests, Failure> {
    let mut lost = beat.lost.clone();
    let mut hasher = Hasher::new();
    loop {
        // Both the download and the upload may wait long; a shutdown or a
        // lost claim cuts either short.
        let chunk = tokio::select! {
            _ = interrupt.wait_for(|i| *i) => return Err(Failure::interrupted()),
            _ = lost.wait_for(|l| *l) => return Err(lease_lost()),
            chunk = download.next_chunk() => chunk?,
        };
        let Some(chunk) = chunk else { break };
        hasher.update(&chunk);
        tokio::select! {
            _ = interrupt.wait_for(|i| *i) => return Err(Failure::interrupted()),
            _ = lost.wait_for(|l| *l) => return Err(lease_lost()),
            written = upload.write(chunk) => written?,
        }
        beat.progress(hasher.size(), download.content_length);
        if let Some(started) = upload.take_started() {
            // Durable before more parts go up, so a crash cannot orphan it.
            ctx.queue
                .set_upload(job, Some(started))
                .map_err(db_failure)?;
            ctx.queue.durable().await.map_err(db_failure)?;
        }
    }
    Ok(hasher.finish())
}

fn lease_lost() -> Failure {
    Failure::transient("the job's lease was lost to another worker")
}

/// Checks the bytes against what the origin and the callback promised.
fn verify(event: &Event, download: &Download, d: Digests) -> Result<Digests, Failure> {
    if d.size == 0 {
        return Err(crate::source::empty_file());
    }
    if let Some(expected) = download.content_length {
        if expected != d.size {
            return Err(Failure::integrity(format!(
                "received {} bytes, the origin announced {expected}",
                d.size
            )));
        }
    }
    if let Some(md5) = &download.md5 {
        if *md5 != d.md5 {
            return Err(Failure::integrity(format!(
                "MD5 {} differs from the origin's {md5}",
                d.md5
            )));
        }
    }
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
