//! Paged listings, newest first, with opaque cursors (the hex of the last key).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys::{hex_decode, hex_encode};
use super::{decode, Db, DbError};
use crate::event::Event;
use crate::queue::Job;
use crate::rejected::RejectedRequest;
use crate::stream::StreamState;

/// Which page to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: usize,
    /// Raw key bytes of the last item of the previous page.
    pub after: Option<Vec<u8>>,
}

impl PageRequest {
    /// Reads a cursor as given back by a previous page; `None` if it is not one.
    pub fn new(limit: usize, cursor: Option<&str>) -> Option<PageRequest> {
        let after = match cursor {
            Some(c) => Some(hex_decode(c).filter(|b| !b.is_empty())?),
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

/// Which way a listing walks its keys.
#[derive(Clone, Copy)]
pub(super) enum Order {
    /// Newest first, for the time-keyed trees.
    Descending,
    /// By name, for streams.
    Ascending,
}

/// Walks `tree` in `order` from after the cursor, keeping what `keep` accepts.
pub(super) fn walk<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    order: Order,
    page: &PageRequest,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, DbError> {
    use std::ops::Bound::{Excluded, Unbounded};
    let after = page.after.clone().map(sled::IVec::from);
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
        match (order, after) {
            (Order::Descending, Some(a)) => Box::new(tree.range(..a).rev()),
            (Order::Descending, None) => Box::new(tree.iter().rev()),
            (Order::Ascending, Some(a)) => Box::new(tree.range((Excluded(a), Unbounded))),
            (Order::Ascending, None) => Box::new(tree.iter()),
        };
    let mut items = Vec::new();
    let mut last_key = None;
    for item in iter {
        let (k, v) = item?;
        let value: T = decode(name, &v)?;
        if !keep(&value) {
            continue;
        }
        if items.len() == page.limit {
            // One more match exists: the page is full and not the last.
            return Ok(Page {
                items,
                next_cursor: last_key.map(|k: sled::IVec| hex_encode(&k)),
            });
        }
        items.push(value);
        last_key = Some(k);
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

impl Db {
    /// Events, newest first.
    pub fn list_events(
        &self,
        page: &PageRequest,
        keep: impl Fn(&Event) -> bool,
    ) -> Result<Page<Event>, DbError> {
        walk(
            &self.trees().events,
            "events",
            Order::Descending,
            page,
            keep,
        )
    }

    /// Jobs, newest first.
    pub fn list_jobs(
        &self,
        page: &PageRequest,
        keep: impl Fn(&Job) -> bool,
    ) -> Result<Page<Job>, DbError> {
        walk(&self.trees().jobs, "jobs", Order::Descending, page, keep)
    }

    /// Rejected requests, newest first.
    pub fn list_rejected(
        &self,
        page: &PageRequest,
        keep: impl Fn(&RejectedRequest) -> bool,
    ) -> Result<Page<RejectedRequest>, DbError> {
        walk(
            &self.trees().rejected,
            "rejected",
            Order::Descending,
            page,
            keep,
        )
    }

    /// How many rejected requests each source has kept (read once, at start).
    pub fn rejected_per_source(&self) -> Result<std::collections::HashMap<String, u64>, DbError> {
        #[derive(serde::Deserialize)]
        struct SourceOnly {
            source: String,
        }
        let mut counts = std::collections::HashMap::new();
        for item in self.trees().rejected.iter() {
            let (_, v) = item?;
            let r: SourceOnly = super::decode("rejected", &v)?;
            *counts.entry(r.source).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Streams seen, ordered by source, domain, app and stream.
    pub fn list_streams(
        &self,
        page: &PageRequest,
        keep: impl Fn(&StreamState) -> bool,
    ) -> Result<Page<StreamState>, DbError> {
        walk(
            &self.trees().streams,
            "streams",
            Order::Ascending,
            page,
            keep,
        )
    }
}
