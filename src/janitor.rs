//! Multipart uploads no attempt will finish, cleaned away so none accrues
//! storage: an upload whose abort failed (the store was down) is kept here
//! and aborted again, on the retry schedule, until the store says it is
//! gone; and at start and then hourly, uploads under the archive's key
//! prefixes that no job knows, older than `store.orphan_upload_age_secs`,
//! are found (ListMultipartUploads) and aborted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::background::{Next, Worker};
use crate::config::TransferConfig;
use crate::retry::delay_after;
use crate::state::{Repo, StateError};
use crate::store::Store;

/// How often uploads no job knows are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How often the abandoned uploads due are looked at.
const TICK: Duration = Duration::from_secs(1);

/// The janitor of one store.
pub struct Janitor {
    pub repo: Repo,
    pub store: Arc<Store>,
    pub transfer: TransferConfig,
    pub orphan_age: Duration,
    /// When the next sweep is due (the first at start).
    pub next_sweep: tokio::time::Instant,
}

#[async_trait::async_trait]
impl Worker for Janitor {
    fn name(&self) -> String {
        "janitor".to_owned()
    }

    async fn work(&mut self) -> Next {
        if let Err(e) = self.retry_abandoned().await {
            tracing::error!(error = %e, "cannot read the abandoned uploads");
        }
        if tokio::time::Instant::now() >= self.next_sweep {
            self.next_sweep += SWEEP_EVERY;
            self.sweep().await;
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(TICK).await;
    }
}

impl Janitor {
    /// Aborts again the kept uploads due; keeps those the store still refuses.
    async fn retry_abandoned(&self) -> Result<(), StateError> {
        for mut a in self.repo.abandoned_due(Utc::now()).await? {
            let key = a.upload.upload_id.clone();
            if self.store.abort_upload(&a.upload).await {
                tracing::info!(key = %a.upload.key, upload_id = %key, "aborted a multipart upload kept since its abort failed");
                self.repo.abandoned_gone(&key).await?;
            } else {
                let wait = delay_after(a.attempts, &self.transfer);
                a.attempts = a.attempts.saturating_add(1);
                a.next_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                self.repo.abandoned_later(a).await?;
            }
        }
        Ok(())
    }

    /// Aborts the uploads under the archive's prefixes that no job knows,
    /// older than `store.orphan_upload_age_secs`.
    async fn sweep(&self) {
        let known = match self.known_uploads().await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the jobs' uploads; no sweep this time");
                return;
            }
        };
        let listed = match self.store.open_uploads().await {
            Ok(l) => l,
            Err(f) => {
                tracing::warn!(error = %f, "cannot list the store's multipart uploads; no sweep this time");
                return;
            }
        };
        // Read again after the listing: an upload created meanwhile is known.
        let known = match self.known_uploads().await {
            Ok(again) => known.union(&again).cloned().collect::<HashSet<_>>(),
            Err(_) => return,
        };
        let age = chrono::Duration::from_std(self.orphan_age).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let mut aborted = 0;
        for (rec, initiated) in listed {
            let old_enough = initiated.is_some_and(|t| now - t >= age);
            if known.contains(&rec.upload_id) || !old_enough {
                continue;
            }
            if self.store.abort_upload(&rec).await {
                tracing::info!(key = %rec.key, upload_id = %rec.upload_id, "aborted a multipart upload no job knows");
                aborted += 1;
            }
        }
        tracing::debug!(aborted, "multipart upload sweep done");
    }

    async fn known_uploads(&self) -> Result<HashSet<String>, StateError> {
        let mut known: HashSet<String> = self.repo.abandoned_ids().await?.into_iter().collect();
        known.extend(self.repo.uploads_in_jobs().await?);
        Ok(known)
    }
}
