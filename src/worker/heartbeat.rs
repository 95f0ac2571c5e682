//! A running job's lease, kept alive by a heartbeat of its own, whatever the
//! transfer is doing: opening the origin, waiting on a part, completing the
//! multipart upload, fsyncing a large file. Progress rides along. When a
//! renewal finds the claim superseded, `lost` turns true and the transfer
//! stops short of putting anything into place.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::queue::{Job, Queue};

/// `bytes_total` when the origin announced none.
const UNKNOWN: u64 = u64::MAX;

/// The heartbeat of one claim; it stops when dropped.
pub struct Heartbeat {
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    /// Turns true once the claim is found superseded.
    pub lost: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Heartbeat {
    /// Renews `job`'s lease every third of `lease` (at least every 2 s).
    pub fn start(queue: Queue, job: Job, lease: Duration) -> Heartbeat {
        let done = Arc::new(AtomicU64::new(0));
        let total = Arc::new(AtomicU64::new(UNKNOWN));
        let (tell, lost) = watch::channel(false);
        let every = (lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let (d, t) = (Arc::clone(&done), Arc::clone(&total));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
                let total = Some(t.load(Relaxed)).filter(|n| *n != UNKNOWN);
                match queue.renew(&job, until, d.load(Relaxed), total) {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tell.send(true);
                        return;
                    }
                    // The next beat tries again; the lease outlives a few misses.
                    Err(e) => tracing::warn!(error = %e, "cannot renew the job's lease"),
                }
            }
        });
        Heartbeat {
            done,
            total,
            lost,
            task,
        }
    }

    /// Reports the bytes moved so far, and the size the origin announced.
    pub fn progress(&self, done: u64, total: Option<u64>) {
        self.done.store(done, Relaxed);
        self.total.store(total.unwrap_or(UNKNOWN), Relaxed);
    }

    /// True once the claim was found superseded.
    pub fn lost(&self) -> bool {
        *self.lost.borrow()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
