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

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::TransferConfig;
use crate::db::Db;
use crate::queue::{Lane, Queue};
use crate::retry::Failure;
use crate::source::Sources;
use crate::store::health::Pass;
use crate::store::Store;
use outcome::Verdict;

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

/// Notification deliverers, beside the transfer workers: notifications go
/// out whatever `transfer.workers` says, and while the store is down.
const DELIVERERS: usize = 2;

/// Starts `transfer.workers` transfer workers and the notification deliverers.
pub fn start(ctx: Arc<Context>) -> Pool {
    let (stop, stopped) = watch::channel(false);
    let (interrupt, interrupted) = watch::channel(false);
    let lanes = std::iter::repeat_n(Lane::Files, ctx.transfer.workers)
        .chain(std::iter::repeat_n(Lane::Notifications, DELIVERERS));
    let handles = lanes
        .enumerate()
        .map(|(n, lane)| {
            tokio::spawn(run(
                Arc::clone(&ctx),
                n,
                lane,
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
    lane: Lane,
    mut stop: watch::Receiver<bool>,
    interrupt: watch::Receiver<bool>,
) {
    let lease = Duration::from_secs(ctx.transfer.lease_secs);
    let health = ctx.store.health();
    loop {
        if *stop.borrow() {
            return;
        }
        // While the store fails on its side, file jobs wait (but for one
        // trial at a time); notifications never need it.
        let pass = match lane {
            Lane::Files => tokio::select! {
                p = health.pass() => p,
                _ = stop.changed() => continue,
            },
            Lane::Notifications => Pass::Free,
        };
        let now = Utc::now();
        match ctx.queue.claim_in(lane, now, lease) {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", job_id = %job.id, source = %job.source, stream = tracing::field::Empty, worker = n);
                match outcome::process(&ctx, job, interrupt.clone())
                    .instrument(span)
                    .await
                {
                    Verdict::Worked => health.worked(),
                    Verdict::StoreFailed(reason) => health.failed(&reason, pass),
                    Verdict::Unknown => health.inconclusive(pass),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim jobs"),
        }
        health.inconclusive(pass);
        let wait = match ctx.queue.next_due_in(lane) {
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

pub(super) fn db_failure(e: crate::db::DbError) -> Failure {
    Failure::transient(format!("state store: {e}"))
}

pub(super) fn lease_lost() -> Failure {
    Failure::transient("the job's lease was lost to another worker")
}
