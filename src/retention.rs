//! Retention: the state store stays bounded. In the background, in small
//! batches that never hold up a callback, it drops events older than
//! `state.keep_events_days` (unless a job still to finish needs its event),
//! `done` jobs finished longer than `state.keep_finished_jobs_days` ago
//! (with their dedupe keys), and rejected requests older than
//! `state.keep_rejected_days`. The catalog is kept forever: it is the
//! product. Failed jobs are kept until they are retried or done.

use chrono::Utc;

use crate::background::{Next, Worker};
use crate::state::{Pruned, Repo, Retention};

/// The pruner.
pub struct Pruner {
    pub repo: Repo,
    pub retention: Retention,
}

#[async_trait::async_trait]
impl Worker for Pruner {
    fn name(&self) -> String {
        "pruner".to_owned()
    }

    async fn work(&mut self) -> Next {
        match self.repo.prune(self.retention, Utc::now()).await {
            Ok(p) if p != Pruned::default() => tracing::info!(
                events = p.events,
                jobs = p.jobs,
                rejected = p.rejected,
                "pruned the state store"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "pruning the state store failed; trying again later")
            }
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.retention.every).await;
    }
}
