//! The catalog in the bucket: each instance appends its catalog entries to
//! date-partitioned JSON Lines manifests,
//! `_catalog/dt=YYYY-MM-DD/<instance_id>-<n>.jsonl`, in batches, each
//! object written once and never replaced. Any engine that reads S3 then
//! queries the catalog of every instance at once.
//!
//! An entry is queued in the transaction that files it. A batch is cut
//! durably (its number and its entries) before its object is written, and
//! dropped once the object is there: a crash in between writes the same
//! object again, which the create-only write finds already there. So no
//! entry is lost from the manifests, and none is in two.

mod rebuild;

pub use rebuild::{rebuild, Rebuilt};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::background::{Next, Worker};
use crate::catalog::CatalogEntry;
use crate::state::{ManifestBatch, Repo};
use crate::store::Store;

/// Where the manifests are, under the bucket's (or directory's) root.
pub const PREFIX: &str = "_catalog/";

/// The key of manifest `n` of `instance` for the day `dt`.
pub fn key_of(instance: &str, dt: &str, n: u64) -> String {
    format!("{PREFIX}dt={dt}/{instance}-{n:08}.jsonl")
}

/// The manifest writer of one instance.
pub struct Manifests {
    pub repo: Repo,
    pub store: Arc<Store>,
    pub instance: String,
    pub every: Duration,
    pub max_entries: usize,
    /// Whether the numbering was checked against the bucket since start.
    pub numbered: bool,
}

#[async_trait::async_trait]
impl Worker for Manifests {
    fn name(&self) -> String {
        "manifest writer".to_owned()
    }

    /// Writes the manifests due, the first time numbering past the bucket's.
    async fn work(&mut self) -> Next {
        if !self.numbered {
            self.numbered = true;
            if let Err(e) = self.number_past_the_bucket().await {
                tracing::warn!("catalog manifests: cannot list those in the bucket: {e}");
            }
            return Next::Idle;
        }
        match self.write_due().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "catalog manifests written"),
            Err(e) => tracing::warn!("catalog manifests: {e}; trying again later"),
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await;
    }

    /// At a clean stop: writes what is queued, within `grace`. What is not
    /// written by then stays queued, on disk, for the next start.
    async fn at_stop(&mut self, grace: Duration) {
        match tokio::time::timeout(grace, self.write_due()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(entries = n, "catalog manifests written at stop"),
            Ok(Err(e)) => {
                tracing::warn!("catalog manifests: {e}; what is queued is written at the next start")
            }
            Err(_) => tracing::warn!(
                "catalog manifests: not all written within {grace:?}; the rest is written at the next start"
            ),
        }
    }
}

impl Manifests {
    /// Writes every batch cut before (a crash may have left one), then cuts
    /// and writes batches of the queued entries; how many entries went out.
    pub async fn write_due(&self) -> Result<usize, String> {
        let mut written = 0;
        for b in self
            .repo
            .manifest_batches()
            .await
            .map_err(|e| e.to_string())?
        {
            written += self.write(b).await?;
        }
        while let Some(batches) = self
            .repo
            .cut_manifest_batches(self.max_entries)
            .await
            .map_err(|e| e.to_string())?
        {
            for b in batches {
                written += self.write(b).await?;
            }
        }
        Ok(written)
    }

    /// Numbers the next manifests past every one this instance has in the
    /// bucket (a state store rebuilt or lost starts again at 1).
    async fn number_past_the_bucket(&self) -> Result<(), String> {
        let mine = format!("/{}-", self.instance);
        let highest = self
            .store
            .list(PREFIX)
            .await
            .map_err(|f| f.message)?
            .iter()
            .filter_map(|k| {
                let (_, n) = k.rsplit_once(&mine)?;
                n.strip_suffix(".jsonl")?.parse::<u64>().ok()
            })
            .max();
        let Some(highest) = highest else {
            return Ok(());
        };
        self.repo
            .number_manifests_past(highest)
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes one batch's object (unless this very object is there already)
    /// and drops the batch; how many entries it holds.
    async fn write(&self, mut b: ManifestBatch) -> Result<usize, String> {
        let entries = self
            .repo
            .batch_entries(&b)
            .await
            .map_err(|e| e.to_string())?;
        let n = entries.len();
        let body = Bytes::from(entries.iter().flat_map(line).collect::<Vec<u8>>());
        loop {
            let key = key_of(&self.instance, &b.dt, b.n);
            if self
                .store
                .put_new(&key, body.clone())
                .await
                .map_err(|f| f.message)?
            {
                break;
            }
            // There already: written before a restart, or, with other bytes,
            // another store's (one lost and rebuilt, or an instance_id two
            // machines share): this batch takes the next number.
            let there = self.store.get(&key).await.map_err(|f| f.message)?;
            if there.as_ref() == Some(&body) {
                tracing::info!(%key, "manifest already written (before a restart)");
                break;
            }
            tracing::warn!(%key, "a different manifest holds this number; numbering past it");
            b = self
                .repo
                .renumber_manifest(b)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.repo
            .manifest_written(&b)
            .await
            .map_err(|e| e.to_string())?;
        Ok(n)
    }
}

/// One manifest line: the entry's JSON and a newline.
fn line(entry: &CatalogEntry) -> Vec<u8> {
    let mut l = serde_json::to_vec(entry).unwrap_or_default();
    l.push(b'\n');
    l
}

/// The catalog entries in manifest `body` (lines that do not parse skipped).
pub fn entries(body: &[u8]) -> impl Iterator<Item = CatalogEntry> + '_ {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
}
