//! The manifest queue in PostgreSQL, per instance: each instance writes
//! its own manifests under its own name, numbered on its own.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;

use super::catalog::get;
use super::sql::{exec, json, opt, read, record, rows, E};
use super::{in_tx, PgRepo};
use crate::catalog::CatalogEntry;
use crate::id::EntryId;
use crate::state::{ManifestBatch, ManifestRepo, StateError};

/// The number this instance's next batch takes, the row locked.
async fn next_of(c: &impl GenericClient, instance: &str) -> Result<u64, E> {
    let sql = "INSERT INTO manifest_numbers (instance, next) VALUES ($1, 1) ON CONFLICT DO NOTHING";
    exec(c, sql, &[&instance]).await?;
    let sql = "SELECT next FROM manifest_numbers WHERE instance = $1 FOR UPDATE";
    let row = opt(c, sql, &[&instance]).await?;
    Ok(row.map_or(1, |r| r.get::<_, i64>(0) as u64))
}

async fn set_next(c: &impl GenericClient, instance: &str, n: u64) -> Result<(), E> {
    let sql = "UPDATE manifest_numbers SET next = $2 WHERE instance = $1";
    exec(c, sql, &[&instance, &(n as i64)]).await.map(drop)
}

pub(super) async fn put_batch(
    c: &impl GenericClient,
    instance: &str,
    b: &ManifestBatch,
) -> Result<(), E> {
    let sql = "INSERT INTO manifest_batches (instance, n, batch) VALUES ($1, $2, $3) \
               ON CONFLICT (instance, n) DO UPDATE SET batch = excluded.batch";
    exec(c, sql, &[&instance, &(b.n as i64), &json(b)])
        .await
        .map(drop)
}

async fn drop_batch(c: &impl GenericClient, instance: &str, n: u64) -> Result<(), E> {
    let sql = "DELETE FROM manifest_batches WHERE instance = $1 AND n = $2";
    exec(c, sql, &[&instance, &(n as i64)]).await.map(drop)
}

#[async_trait::async_trait]
impl ManifestRepo for PgRepo {
    async fn manifest_batches(&self) -> Result<Vec<ManifestBatch>, StateError> {
        let sql = "SELECT batch FROM manifest_batches WHERE instance = $1 ORDER BY n";
        read!(self, |c| {
            let found = rows(&c, sql, &[&self.inner.instance]).await?;
            found
                .iter()
                .map(|r| record(r, 0, "manifest_batches"))
                .collect()
        })
    }

    async fn cut_manifest_batches(
        &self,
        max: usize,
    ) -> Result<Option<Vec<ManifestBatch>>, StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let sql = "SELECT entry_id FROM manifest_queue WHERE instance = $1 \
                       ORDER BY entry_id LIMIT $2 FOR UPDATE";
            let queued = rows(&tx, sql, &[instance, &(max as i64)]).await?;
            if queued.is_empty() {
                return Ok(None);
            }
            let mut by_day: BTreeMap<String, Vec<EntryId>> = BTreeMap::new();
            for r in &queued {
                let Some(id) = EntryId::from_bytes(r.get::<_, &[u8]>(0)) else {
                    continue;
                };
                let day = match get(&tx, id).await? {
                    Some(e) => e.archived_at.format("%Y-%m-%d").to_string(),
                    None => String::new(),
                };
                by_day.entry(day).or_default().push(id);
            }
            let mut n = next_of(&tx, instance).await?;
            let mut batches = Vec::new();
            for (dt, ids) in by_day {
                for id in &ids {
                    let sql = "DELETE FROM manifest_queue WHERE instance = $1 AND entry_id = $2";
                    exec(&tx, sql, &[instance, &&id.key()[..]]).await?;
                }
                // An entry that is gone (never: the catalog is kept) is dropped.
                if dt.is_empty() {
                    continue;
                }
                let b = ManifestBatch { n, dt, ids };
                put_batch(&tx, instance, &b).await?;
                batches.push(b);
                n += 1;
            }
            set_next(&tx, instance, n).await?;
            Ok(Some(batches))
        })
    }

    async fn batch_entries(&self, b: &ManifestBatch) -> Result<Vec<CatalogEntry>, StateError> {
        read!(self, |c| {
            let mut entries = Vec::with_capacity(b.ids.len());
            for id in &b.ids {
                entries.extend(get(&c, *id).await?);
            }
            Ok(entries)
        })
    }

    async fn manifest_written(&self, b: &ManifestBatch) -> Result<(), StateError> {
        read!(self, |c| drop_batch(&c, &self.inner.instance, b.n).await)
    }

    async fn renumber_manifest(&self, b: ManifestBatch) -> Result<ManifestBatch, StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let n = next_of(&tx, instance).await?.max(b.n + 1);
            drop_batch(&tx, instance, b.n).await?;
            let moved = ManifestBatch { n, ..b.clone() };
            put_batch(&tx, instance, &moved).await?;
            set_next(&tx, instance, n + 1).await?;
            Ok(moved)
        })
    }

    async fn number_manifests_past(&self, highest: u64) -> Result<(), StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            if next_of(&tx, instance).await? <= highest {
                set_next(&tx, instance, highest + 1).await?;
            }
            Ok(())
        })
    }
}
