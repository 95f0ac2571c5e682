//! Listings with opaque cursors in PostgreSQL: rows in key order, read in
//! batches past the cursor, the API's filters applied as they come.

use serde::de::DeserializeOwned;

use super::sql::{read, record, rows};
use super::PgRepo;
use crate::state::{Keep, Page, PageRequest, StateError};

/// Rows read per round trip.
const BATCH: i64 = 256;

/// What to list: `table`'s rows by `key`, their record in `column`, only
/// those whose `only.0` column equals `only.1`.
pub struct Listing<'a> {
    pub table: &'a str,
    pub key: &'a str,
    pub column: &'a str,
    pub newest_first: bool,
    pub only: Option<(&'a str, String)>,
}

/// The records of `table` (keyed by `id`), newest first.
pub async fn newest_first<T: DeserializeOwned + Send>(
    repo: &PgRepo,
    table: &str,
    column: &str,
    page: PageRequest,
    keep: Keep<T>,
) -> Result<Page<T>, StateError> {
    let l = Listing {
        table,
        key: "id",
        column,
        newest_first: true,
        only: None,
    };
    list(repo, &l, page, keep).await
}

/// One page of `l` after `page.after`, with what `keep` accepts.
pub async fn list<T: DeserializeOwned + Send>(
    repo: &PgRepo,
    l: &Listing<'_>,
    page: PageRequest,
    keep: Keep<T>,
) -> Result<Page<T>, StateError> {
    let (cmp, order) = if l.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let only = l
        .only
        .as_ref()
        .map_or(String::new(), |(c, _)| format!("AND {c} = $3"));
    let sql = format!(
        "SELECT {key}, {column} FROM {table} WHERE ($1::bytea IS NULL OR {key} {cmp} $1) {only} \
         ORDER BY {key} {order} LIMIT $2",
        key = l.key,
        column = l.column,
        table = l.table,
    );
    let (mut after, mut items, mut last) = (page.after.clone(), Vec::new(), None);
    read!(repo, |c| {
        loop {
            let batch = match &l.only {
                Some((_, v)) => rows(&c, &sql, &[&after, &BATCH, v]).await?,
                None => rows(&c, &sql, &[&after, &BATCH]).await?,
            };
            let done = (batch.len() as i64) < BATCH;
            for row in &batch {
                let key: Vec<u8> = row.get(0);
                let value: T = record(row, 1, "listing")?;
                after = Some(key.clone());
                if !keep(&value) {
                    continue;
                }
                if items.len() == page.limit {
                    return Ok(Page {
                        items,
                        next_cursor: last.map(hex::encode),
                    });
                }
                items.push(value);
                last = Some(key);
            }
            if done {
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
        }
    })
}
