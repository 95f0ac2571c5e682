//! The worker pool: claim a due job, stream its file from the origin into the
//! store while hashing it, verify, file the catalog entry; or schedule the
//! retry the failure calls for.

mod attempt;
mod heartbeat;
mod hls;
mod log;
mod notify;
mod outcome;
mod pump;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::background::{Next, Stop, Worker, Workers};
use crate::catalog::CatalogEntry;
use crate::config::TransferConfig;
use crate::digest::Digests;
use crate::event::Event;
use crate::queue::{Job, Lane};
use crate::retry::Failure;
use crate::source::Sources;
use crate::state::{Repo, StateError};
use crate::store::health::Pass;
use crate::store::{ObjectFacts, Store};
use outcome::Verdict;

/// What every worker shares.
pub struct Context {
    pub repo: Repo,
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
    /// The config file the sources come from, named when one is missing.
    pub config_file: Option<std::path::PathBuf>,
}

/// Notification deliverers, beside the transfer workers: notifications go
/// out whatever `transfer.workers` says, and while the store is down.
const DELIVERERS: usize = 2;

/// Starts `transfer.workers` transfer workers and the notification
/// deliverers. At a stop, running transfers get `transfer.shutdown_grace_secs`
/// to finish; then they are interrupted: their uploads are kept, as
/// recorded, for the next start to continue, and their jobs queued again,
/// so no job stays `running` after a clean stop.
pub fn start(ctx: Arc<Context>) -> Workers {
    let mut workers = Workers::new(Duration::from_secs(ctx.transfer.shutdown_grace_secs));
    let lanes = std::iter::repeat_n(Lane::Files, ctx.transfer.workers)
        .chain(std::iter::repeat_n(Lane::Notifications, DELIVERERS));
    for (n, lane) in lanes.enumerate() {
        let stop = workers.stop_signal();
        workers.spawn(JobWorker::new(Arc::clone(&ctx), n, lane, stop));
    }
    workers
}

/// The longest a worker sleeps before looking for due jobs again.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// One worker of a lane: claims a due job and runs it.
struct JobWorker {
    ctx: Arc<Context>,
    n: usize,
    lane: Lane,
    stop: Stop,
    /// Set when the stop's grace is over: transfers stop short.
    interrupt: watch::Receiver<bool>,
    /// Turned true by `interrupt_on`, once the stop's grace is over.
    _interrupting: tokio::task::JoinHandle<()>,
}

impl JobWorker {
    fn new(ctx: Arc<Context>, n: usize, lane: Lane, stop: Stop) -> JobWorker {
        let (tell, interrupt) = watch::channel(false);
        let mut cut = stop.clone();
        let interrupting = tokio::spawn(async move {
            cut.interrupted().await;
            let _ = tell.send(true);
        });
        JobWorker {
            ctx,
            n,
            lane,
            stop,
            interrupt,
            _interrupting: interrupting,
        }
    }
}

#[async_trait::async_trait]
impl Worker for JobWorker {
    fn name(&self) -> String {
        format!("worker {} ({:?})", self.n, self.lane)
    }

    async fn work(&mut self) -> Next {
        let ctx = Arc::clone(&self.ctx);
        let health = ctx.store.health();
        let lease = Duration::from_secs(ctx.transfer.lease_secs);
        // While the store fails on its side, file jobs wait (but for one
        // trial at a time); notifications never need it.
        let pass = match self.lane {
            Lane::Files => tokio::select! {
                p = health.pass() => p,
                _ = self.stop.stopping() => return Next::Idle,
            },
            Lane::Notifications => Pass::Free,
        };
        match ctx.repo.claim(self.lane, crate::time::now(), lease).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", job_id = %job.id, source = %job.source, stream = tracing::field::Empty, worker = self.n);
                let run = outcome::process(&ctx, job, self.interrupt.clone());
                match run.instrument(span).await {
                    Verdict::Worked => health.worked(),
                    Verdict::StoreFailed(reason) => health.failed(&reason, pass),
                    Verdict::Unknown => health.inconclusive(pass),
                }
                return Next::Busy;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim jobs"),
        }
        health.inconclusive(pass);
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        let wait = match self.ctx.repo.next_due(self.lane).await {
            Ok(Some(at)) => (at - crate::time::now())
                .to_std()
                .unwrap_or_default()
                .clamp(Duration::from_millis(10), IDLE_POLL),
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = self.ctx.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    fn dropped_at_interrupt(&self) -> bool {
        false
    }
}

/// The catalog entry of `job`'s file with `digests`, stored at `store`,
/// archived now: the same facts the key and the object metadata are made of.
async fn new_entry(
    ctx: &Context,
    job: &Job,
    event: &Event,
    facts: &ObjectFacts,
    store: crate::catalog::StoredAt,
    digests: &Digests,
) -> Result<CatalogEntry, Failure> {
    let now = crate::time::now();
    Ok(CatalogEntry {
        id: ctx.repo.new_entry_id(now).await.map_err(state_failure)?,
        kind: job.kind,
        source: job.source.clone(),
        provider: event.provider,
        found_by: job.found_by,
        stream: facts.stream.clone(),
        file: facts.file.clone(),
        origin: job.origin.clone(),
        store,
        size: digests.size,
        sha256: digests.sha256.clone(),
        md5: digests.md5.clone(),
        archived_at: now,
        job_id: job.id,
        event_id: job.event_id,
        params: event.params.clone(),
        session: event.session.clone(),
        parts: Vec::new(),
        instance_id: Some(ctx.instance_id.clone()),
        local_file: None,
    })
}

pub(super) fn state_failure(e: StateError) -> Failure {
    Failure::transient(format!("state store: {e}"))
}

pub(super) fn lease_lost() -> Failure {
    Failure::transient("the job's lease was lost to another worker")
}
