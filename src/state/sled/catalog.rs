//! The catalog in sled: entries by id and by stream, and its reads.

use std::collections::BTreeMap;

use super::hls;
use super::kv::{
    decode, encode, listing_fill, Db, DbError, Order, Page, PageRequest, Tree, Tx, TxError,
};
use super::SledRepo;
use crate::catalog::{CatalogEntry, Part};
use crate::id::{EntryId, JobId, TimeKey};
use crate::queue::Job;
use crate::state::{CatalogRepo, Filed, Filing, HlsRecording, HourTally, Keep, StateError};
use crate::time::Timestamp;

/// The stream-index key of an entry: `stream \0 entry id`.
fn stream_index_key(stream: Option<&str>, entry: &EntryId) -> Vec<u8> {
    let mut k = stream.unwrap_or("").as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(entry.key());
    k
}

/// Files `entry` and its stream index in the transaction `tx`.
pub fn file(tx: &Tx, entry: &CatalogEntry) -> Result<(), TxError> {
    tx.insert(Tree::Catalog, entry.id.key(), &encode(entry))?;
    tx.insert(
        Tree::CatalogByStream,
        &stream_index_key(entry.stream.name.as_deref(), &entry.id),
        &[],
    )
}

/// Whether the catalog holds `id` already, read in `tx`.
pub fn held(tx: &Tx, id: &EntryId) -> Result<bool, TxError> {
    Ok(tx.get(Tree::Catalog, id.key())?.is_some())
}

/// One entry by id.
pub fn get(db: &Db, id: EntryId) -> Result<Option<CatalogEntry>, DbError> {
    db.get_json(Tree::Catalog, id.key())
}

/// Entries newest first; with `stream`, read through the stream index.
fn list(
    db: &Db,
    stream: Option<&str>,
    page: &PageRequest,
    keep: impl Fn(&CatalogEntry) -> bool,
) -> Result<Page<CatalogEntry>, DbError> {
    use std::ops::Bound::{Excluded, Included};
    let Some(stream) = stream else {
        return db.list(Tree::Catalog, Order::Descending, page, keep);
    };
    let mut prefix = stream.as_bytes().to_vec();
    prefix.push(0);
    let end = match &page.after {
        Some(after) => Excluded([prefix.as_slice(), after].concat()),
        None => Excluded([prefix.as_slice(), &[0xff]].concat()),
    };
    let items = db
        .scan(
            Tree::CatalogByStream,
            Included(prefix.clone()),
            end,
            Order::Descending,
        )
        .filter_map(|r| {
            let entry_key = match r {
                Ok((k, _)) => k[prefix.len()..].to_vec(),
                Err(e) => return Some(Err(e)),
            };
            match db.get_json::<CatalogEntry>(Tree::Catalog, &entry_key) {
                Ok(Some(e)) => Some(Ok((entry_key, e))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        });
    listing_fill(items, page.limit, keep)
}

/// Files and bytes by hour of the entries filed from `since`'s hour on:
/// entry ids begin with their filing time, so the scan starts there.
fn tally(db: &Db, since: Timestamp) -> Result<Vec<HourTally>, DbError> {
    use std::ops::Bound::{Included, Unbounded};
    let hour = since.timestamp().div_euclid(3600);
    let from = TimeKey::new(u64::try_from(hour * 3600 * 1000).unwrap_or(0), 0);
    let mut hours: BTreeMap<i64, HourTally> = BTreeMap::new();
    let scan = db.scan(
        Tree::Catalog,
        Included(from.as_bytes().to_vec()),
        Unbounded,
        Order::Ascending,
    );
    for item in scan {
        let (k, v) = item?;
        let Some(key) = TimeKey::from_bytes(&k) else {
            continue;
        };
        let hour = i64::try_from(key.millis() / 3_600_000).unwrap_or(i64::MAX);
        let e: CatalogEntry = decode(Tree::Catalog, &v)?;
        let t = hours.entry(hour).or_insert(HourTally {
            hour,
            files: 0,
            bytes: 0,
        });
        t.files += 1;
        t.bytes += e.size;
    }
    Ok(hours.into_values().collect())
}

#[async_trait::async_trait]
impl CatalogRepo for SledRepo {
    async fn new_entry_id(&self, at: Timestamp) -> Result<EntryId, StateError> {
        self.blocking(move |i| i.new_key(&at).map(EntryId)).await
    }

    async fn file_archived(&self, job: &Job, filing: Filing) -> Result<Filed, StateError> {
        let job = job.clone();
        let filed = self
            .blocking(move |i| i.file_archived(&job, filing))
            .await?;
        if filed.job.is_some() {
            self.inner.db.durable().await?;
        }
        Ok(filed)
    }

    async fn file_found(&self, entry: CatalogEntry, manifest: bool) -> Result<bool, StateError> {
        self.blocking(move |i| i.file_found(&entry, manifest)).await
    }

    async fn entry(&self, id: EntryId) -> Result<Option<CatalogEntry>, StateError> {
        self.blocking(move |i| get(&i.db, id)).await
    }

    async fn entries(
        &self,
        stream: Option<String>,
        page: PageRequest,
        keep: Keep<CatalogEntry>,
    ) -> Result<Page<CatalogEntry>, StateError> {
        self.blocking(move |i| list(&i.db, stream.as_deref(), &page, keep))
            .await
    }

    async fn archived_by_hour(&self, since: Timestamp) -> Result<Vec<HourTally>, StateError> {
        self.blocking(move |i| tally(&i.db, since)).await
    }

    async fn hls_parts(&self, rec: &HlsRecording) -> Result<Vec<Part>, StateError> {
        let rec = rec.clone();
        self.blocking(move |i| hls::parts_of(&i.db, &rec)).await
    }

    async fn keep_hls_part(&self, rec: &HlsRecording, part: Part) -> Result<(), StateError> {
        let rec = rec.clone();
        self.inner
            .db
            .commit(move |tx| hls::file_part(tx, &rec, &part))
            .await
    }

    async fn hls_pending(&self, rec: &HlsRecording) -> Result<Vec<JobId>, StateError> {
        let rec = rec.clone();
        self.blocking(move |i| hls::pending_of(&i.db, &rec)).await
    }

    async fn hls_not_pending(&self, rec: &HlsRecording, job: JobId) -> Result<(), StateError> {
        let rec = rec.clone();
        self.blocking(move |i| hls::not_pending(&i.db, &rec, job))
            .await
    }

    async fn hls_unclosed(
        &self,
        source: &str,
        playlist: &str,
    ) -> Result<Option<Timestamp>, StateError> {
        let (source, playlist) = (source.to_owned(), playlist.to_owned());
        self.blocking(move |i| hls::unclosed(&i.db, &source, &playlist))
            .await
    }
}
