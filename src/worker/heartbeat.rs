//! A running job's lease, kept alive by a heartbeat of its own, whatever the
//! transfer is doing: opening the origin, waiting on a part, completing the
//! multipart upload, fsyncing a large file. Progress rides along. When a
//! renewal finds the claim superseded, `lost` turns true and the transfer
//! stops short of putting anything into place.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::time::now;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::queue::Job;
use crate::state::Repo;

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
    pub fn start(repo: Repo, job: Job, lease: Duration) -> Heartbeat {
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
                let until = now() + chrono::Duration::from_std(lease).unwrap_or_default();
                let total = Some(t.load(Relaxed)).filter(|n| *n != UNKNOWN);
                match repo.renew(&job, until, d.load(Relaxed), total).await {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::queue::Lane;
    use crate::state::conformance::{record, recording};
    use crate::state::sled::SledRepo;

    const LEASE: Duration = Duration::from_secs(3);

    /// On a paused clock: the heartbeat keeps a claim's lease ahead of time
    /// passing, so no other worker takes the job; once it stops (its worker
    /// died), the lease lapses and another claim takes over, and the first
    /// claim's heartbeat finds itself superseded.
    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_keeps_the_lease_and_finds_a_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let repo = SledRepo::open_in(dir.path(), 8 << 20, Duration::from_secs(60)).unwrap();
        let repo: Repo = Arc::new(repo);
        record(&repo, vec![recording("http://h/a.flv", None, now())], now()).await;
        let first = repo
            .claim(Lane::Files, now(), LEASE)
            .await
            .unwrap()
            .unwrap();
        let beat = Heartbeat::start(repo.clone(), first.clone(), LEASE);
        beat.progress(5, Some(10));
        // Renewed every second, the lease stays over 1.5 s ahead; unrenewed,
        // it would lapse 3 s after the claim.
        let ahead = chrono::Duration::milliseconds(1500);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            // The beat renews on the blocking pool, in real time: wait for
            // it to land (the clock stands still meanwhile).
            let mut renewed = false;
            for _ in 0..10_000 {
                let j = repo.job(first.id).await.unwrap().unwrap();
                if j.lease_until.is_some_and(|u| u > now() + ahead) {
                    renewed = true;
                    break;
                }
                tokio::task::yield_now().await;
            }
            assert!(renewed, "the lease is kept ahead of the clock");
            assert!(
                repo.claim(Lane::Files, now(), LEASE)
                    .await
                    .unwrap()
                    .is_none(),
                "held"
            );
        }
        assert!(!beat.lost());
        let held = repo.job(first.id).await.unwrap().unwrap();
        assert_eq!(
            (held.bytes_done, held.bytes_total),
            (5, Some(10)),
            "progress rides along"
        );
        assert!(held.lease_until.unwrap() > now(), "renewed ahead of now");
        drop(beat);
        tokio::time::advance(LEASE + Duration::from_secs(1)).await;
        let second = repo
            .claim(Lane::Files, now(), LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.claims, first.claims + 1);
        let stale = Heartbeat::start(repo.clone(), first, LEASE);
        let mut lost = stale.lost.clone();
        tokio::time::timeout(Duration::from_secs(5), lost.wait_for(|l| *l))
            .await
            .expect("the superseded claim's heartbeat finds it lost")
            .unwrap();
    }
}
