//! Catalog entries in sled: by time (the entry key), and by stream
//! (`stream \0 entry key`), both newest first.

use super::keys::{hex_encode, TimeKey};
use super::listing::{walk, Order, Page, PageRequest};
use super::{decode, Db, DbError};
use crate::catalog::CatalogEntry;

/// The stream-index key of an entry.
pub(super) fn stream_index_key(stream: Option<&str>, entry: &TimeKey) -> Vec<u8> {
    let mut k = stream.unwrap_or("").as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(entry.as_bytes());
    k
}

impl Db {
    /// One entry by id.
    pub fn catalog_entry(&self, id: &str) -> Result<Option<CatalogEntry>, DbError> {
        super::by_id(&self.trees().catalog, "catalog", id)
    }

    /// Entries newest first; with `stream`, read through the stream index.
    pub fn list_catalog(
        &self,
        stream: Option<&str>,
        page: &PageRequest,
        keep: impl Fn(&CatalogEntry) -> bool,
    ) -> Result<Page<CatalogEntry>, DbError> {
        let t = self.trees();
        let Some(stream) = stream else {
            return walk(&t.catalog, "catalog", Order::Descending, page, keep);
        };
        let mut prefix = stream.as_bytes().to_vec();
        prefix.push(0);
        let end = match &page.after {
            Some(after) => [prefix.as_slice(), after].concat(),
            None => {
                let mut e = prefix.clone();
                e.push(0xff);
                e
            }
        };
        let mut items = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for item in t.catalog_by_stream.range(prefix.clone()..end).rev() {
            let (k, _) = item?;
            let ekey = k[prefix.len()..].to_vec();
            let Some(v) = t.catalog.get(&ekey)? else {
                continue;
            };
            let e: CatalogEntry = decode("catalog", &v)?;
            if !keep(&e) {
                continue;
            }
            if items.len() == page.limit {
                return Ok(Page {
                    items,
                    next_cursor: last.map(|k| hex_encode(&k)),
                });
            }
            items.push(e);
            last = Some(ekey);
        }
        Ok(Page {
            items,
            next_cursor: None,
        })
    }
}
