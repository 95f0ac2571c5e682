//! The manifest queue in sled: entry ids waiting, batches cut, and the
//! next batch's number.

use std::collections::BTreeMap;

use super::catalog;
use super::kv::{decode, encode, Tree, Tx, TxError};
use super::SledRepo;
use crate::catalog::CatalogEntry;
use crate::id::EntryId;
use crate::state::{ManifestBatch, ManifestRepo, StateError};

const NEXT: &[u8] = b"manifest_next";

/// Queues `entry`, filed in `tx`, for this instance's next manifest.
pub fn queue(tx: &Tx, entry: &EntryId) -> Result<(), TxError> {
    tx.insert(Tree::ManifestQueue, entry.key(), &[])
}

/// The number the next batch takes.
fn next_of(tx: &Tx) -> Result<u64, TxError> {
    Ok(match tx.get(Tree::Meta, NEXT)? {
        Some(v) => u64::from_be_bytes(<[u8; 8]>::try_from(&v[..]).unwrap_or([0; 8])),
        None => 1,
    })
}

#[async_trait::async_trait]
impl ManifestRepo for SledRepo {
    async fn manifest_batches(&self) -> Result<Vec<ManifestBatch>, StateError> {
        self.blocking(|i| {
            i.db.iter(Tree::ManifestBatches)
                .map(|r| r.and_then(|(_, v)| decode::<ManifestBatch>(Tree::ManifestBatches, &v)))
                .collect()
        })
        .await
    }

    async fn cut_manifest_batches(
        &self,
        max: usize,
    ) -> Result<Option<Vec<ManifestBatch>>, StateError> {
        let groups = self
            .blocking(move |i| {
                let mut by_day: BTreeMap<String, Vec<EntryId>> = BTreeMap::new();
                for r in i.db.iter(Tree::ManifestQueue).take(max) {
                    let (k, _) = r?;
                    let Some(id) = EntryId::from_bytes(&k) else {
                        continue;
                    };
                    // An entry that is gone (never, the catalog is kept) is dropped.
                    let day = catalog::get(&i.db, id)?
                        .map(|e| e.archived_at.format("%Y-%m-%d").to_string());
                    by_day.entry(day.unwrap_or_default()).or_default().push(id);
                }
                Ok(by_day.into_iter().collect::<Vec<_>>())
            })
            .await?;
        if groups.is_empty() {
            return Ok(None);
        }
        self.inner
            .db
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
                    let b = ManifestBatch {
                        n,
                        dt: dt.clone(),
                        ids: ids.clone(),
                    };
                    tx.insert(Tree::ManifestBatches, &n.to_be_bytes(), &encode(&b))?;
                    batches.push(b);
                    n += 1;
                }
                tx.insert(Tree::Meta, NEXT, &n.to_be_bytes())?;
                Ok::<_, TxError>(Some(batches))
            })
            .await
    }

    async fn batch_entries(&self, b: &ManifestBatch) -> Result<Vec<CatalogEntry>, StateError> {
        let ids = b.ids.clone();
        self.blocking(move |i| {
            let mut entries = Vec::with_capacity(ids.len());
            for id in ids {
                entries.extend(catalog::get(&i.db, id)?);
            }
            Ok(entries)
        })
        .await
    }

    async fn manifest_written(&self, b: &ManifestBatch) -> Result<(), StateError> {
        let n = b.n;
        self.blocking(move |i| i.db.remove(Tree::ManifestBatches, &n.to_be_bytes()))
            .await
    }

    async fn renumber_manifest(&self, b: ManifestBatch) -> Result<ManifestBatch, StateError> {
        self.inner
            .db
            .commit(move |tx| {
                let n = next_of(tx)?.max(b.n + 1);
                tx.remove(Tree::ManifestBatches, &b.n.to_be_bytes())?;
                let moved = ManifestBatch { n, ..b.clone() };
                tx.insert(Tree::ManifestBatches, &n.to_be_bytes(), &encode(&moved))?;
                tx.insert(Tree::Meta, NEXT, &(n + 1).to_be_bytes())?;
                Ok::<_, TxError>(moved)
            })
            .await
    }

    async fn number_manifests_past(&self, highest: u64) -> Result<(), StateError> {
        self.inner
            .db
            .commit(move |tx| {
                if next_of(tx)? <= highest {
                    tx.insert(Tree::Meta, NEXT, &(highest + 1).to_be_bytes())?;
                }
                Ok(())
            })
            .await
    }
}
