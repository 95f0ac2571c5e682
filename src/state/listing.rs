//! Paged listings with opaque cursors: what every engine's listings share.

use serde::Serialize;

use super::StateError;

/// Which page to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: usize,
    /// The engine's key of the last item of the previous page.
    pub after: Option<Vec<u8>>,
}

impl PageRequest {
    /// Reads a cursor as given back by a previous page; `None` if it is not one.
    pub fn new(limit: usize, cursor: Option<&str>) -> Option<PageRequest> {
        let after = match cursor {
            Some(c) => Some(hex::decode(c).ok().filter(|b| !b.is_empty())?),
            None => None,
        };
        Some(PageRequest { limit, after })
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Which records a listing keeps (the API's filters).
pub type Keep<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// Fills a page from `items` (key, record) in listing order, keeping what
/// `keep` accepts; the cursor is the key of the page's last item.
pub fn fill<T>(
    items: impl Iterator<Item = Result<(Vec<u8>, T), StateError>>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, StateError> {
    let mut page = Vec::new();
    let mut last_key: Option<Vec<u8>> = None;
    for item in items {
        let (k, value) = item?;
        if !keep(&value) {
            continue;
        }
        if page.len() == limit {
            // One more match exists: the page is full and not the last.
            return Ok(Page {
                items: page,
                next_cursor: last_key.map(hex::encode),
            });
        }
        page.push(value);
        last_key = Some(k);
    }
    Ok(Page {
        items: page,
        next_cursor: None,
    })
}
