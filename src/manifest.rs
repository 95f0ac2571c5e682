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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::catalog::{self, CatalogEntry};
use crate::db::{decode, encode, Db, DbError, Tree, Tx, TxError};
use crate::id::EntryId;
use crate::store::Store;

/// Where the manifests are, under the bucket's (or directory's) root.
pub const PREFIX: &str = "_catalog/";

const NEXT: &[u8] = b"manifest_next";

/// Queues `entry`, filed in `tx`, for this instance's next manifest.
pub fn queue(tx: &Tx, entry: &EntryId) -> Result<(), TxError> {
    tx.insert(Tree::ManifestQueue, entry.key(), &[])
}

/// One manifest object to write: its number, its day, its entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    n: u64,
    dt: String,
    ids: Vec<EntryId>,
}

/// The key of manifest `n` of `instance` for the day `dt`.
pub fn key_of(instance: &str, dt: &str, n: u64) -> String {
    format!("{PREFIX}dt={dt}/{instance}-{n:08}.jsonl")
}

/// The manifest writer of one instance.
pub struct Manifests {
    pub db: Db,
    pub store: Arc<Store>,
    pub instance: String,
    pub every: Duration,
    pub max_entries: usize,
}

/// Writes the manifests due every `every`, until aborted; [`Manifests::flush`]
/// writes what is left at a clean stop.
pub async fn run(m: Arc<Manifests>) {
    if let Err(e) = m.number_past_the_bucket().await {
        tracing::warn!("catalog manifests: cannot list those in the bucket: {e}");
    }
    loop {
        tokio::time::sleep(m.every).await;
        match m.write_due().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "catalog manifests written"),
            Err(e) => tracing::warn!("catalog manifests: {e}; trying again later"),
        }
    }
}

impl Manifests {
    /// At a clean stop: writes what is queued, within `grace`. What is not
    /// written by then stays queued, on disk, for the next start.
    pub async fn flush(&self, grace: Duration) {
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

    /// Writes every batch cut before (a crash may have left one), then cuts
    /// and writes batches of the queued entries; how many entries went out.
    pub async fn write_due(&self) -> Result<usize, String> {
        let mut written = 0;
        for b in self.cut_batches()? {
            written += self.write(&b).await?;
        }
        loop {
            let ids: Vec<EntryId> = self
                .db
                .iter(Tree::ManifestQueue)
                .take(self.max_entries)
                .map(|r| r.map(|(k, _)| EntryId::from_bytes(&k)))
                .collect::<Result<Vec<_>, DbError>>()
                .map_err(|e| e.to_string())?
                .into_iter()
                .flatten()
                .collect();
            if ids.is_empty() {
                return Ok(written);
            }
            for b in self.cut(ids).await? {
                written += self.write(&b).await?;
            }
        }
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
        self.db
            .commit(move |tx| {
                let next = next_of(tx)?;
                if next <= highest {
                    tx.insert(Tree::Meta, NEXT, &(highest + 1).to_be_bytes())?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// Batches cut but not written yet.
    fn cut_batches(&self) -> Result<Vec<Batch>, String> {
        self.db
            .iter(Tree::ManifestBatches)
            .map(|r| r.and_then(|(_, v)| decode::<Batch>(Tree::ManifestBatches, &v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    /// Cuts `ids` into one batch per day, numbered, durably.
    async fn cut(&self, ids: Vec<EntryId>) -> Result<Vec<Batch>, String> {
        let db = self.db.clone();
        let groups = tokio::task::spawn_blocking(move || {
            let mut by_day: BTreeMap<String, Vec<EntryId>> = BTreeMap::new();
            for id in ids {
                // An entry that is gone (never, the catalog is kept) is dropped.
                let day = catalog::get(&db, id)
                    .map_err(|e| e.to_string())?
                    .map(|e| e.archived_at.format("%Y-%m-%d").to_string());
                by_day.entry(day.unwrap_or_default()).or_default().push(id);
            }
            Ok::<_, String>(by_day.into_iter().collect::<Vec<(String, Vec<EntryId>)>>())
        })
        .await
        .map_err(|e| e.to_string())??;
        self.db
            .commit(move |tx| {
                let mut n = next_of(tx)?;
                let mut batches = Vec::new();
                for (dt, ids) in &groups {
                    for id in ids {
                        tx.remove(Tree::ManifestQueue, id.key())?;
                    }
                    if dt.is_empty() {
                        continue;
                    }
                    let b = Batch {
                        n,
                        dt: dt.clone(),
                        ids: ids.clone(),
                    };
                    tx.insert(Tree::ManifestBatches, &n.to_be_bytes(), &encode(&b))?;
                    batches.push(b);
                    n += 1;
                }
                tx.insert(Tree::Meta, NEXT, &n.to_be_bytes())?;
                Ok::<_, TxError>(batches)
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes one batch's object (unless this very object is there already)
    /// and drops the batch; how many entries it holds.
    async fn write(&self, b: &Batch) -> Result<usize, String> {
        let (db, ids) = (self.db.clone(), b.ids.clone());
        // Reads of the state store, off the reactor.
        let (body, n) = tokio::task::spawn_blocking(move || {
            let mut body = Vec::new();
            let mut n = 0;
            for id in ids {
                if let Some(entry) = catalog::get(&db, id).map_err(|e| e.to_string())? {
                    body.extend_from_slice(&line(&entry));
                    n += 1;
                }
            }
            Ok::<_, String>((Bytes::from(body), n))
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut b = b.clone();
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
            b = self.renumber(b).await?;
        }
        self.db
            .remove(Tree::ManifestBatches, &b.n.to_be_bytes())
            .map_err(|e| e.to_string())?;
        Ok(n)
    }

    /// `b` under the next free number, durably.
    async fn renumber(&self, b: Batch) -> Result<Batch, String> {
        self.db
            .commit(move |tx| {
                let n = next_of(tx)?.max(b.n + 1);
                tx.remove(Tree::ManifestBatches, &b.n.to_be_bytes())?;
                let moved = Batch { n, ..b.clone() };
                tx.insert(Tree::ManifestBatches, &n.to_be_bytes(), &encode(&moved))?;
                tx.insert(Tree::Meta, NEXT, &(n + 1).to_be_bytes())?;
                Ok::<_, TxError>(moved)
            })
            .await
            .map_err(|e| e.to_string())
    }
}

/// The number the next batch takes.
fn next_of(tx: &Tx) -> Result<u64, TxError> {
    Ok(match tx.get(Tree::Meta, NEXT)? {
        Some(v) => u64::from_be_bytes(<[u8; 8]>::try_from(&v[..]).unwrap_or([0; 8])),
        None => 1,
    })
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
