//! Paged listings of a tree: the cursor is the hex of the last key.

use std::ops::Bound::{Excluded, Unbounded};

use serde::de::DeserializeOwned;

use super::{decode, Db, DbError, Tree};
use crate::state::listing::{fill, Page, PageRequest};

/// Which way a listing walks its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first, for the time-keyed trees.
    Descending,
    /// By key, for names.
    Ascending,
}

impl Db {
    /// Walks `tree` in `order` from after the cursor, decoding each record.
    pub fn list<T: DeserializeOwned>(
        &self,
        tree: Tree,
        order: Order,
        page: &PageRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, DbError> {
        let (from, to) = match (order, page.after.clone()) {
            (Order::Descending, Some(a)) => (Unbounded, Excluded(a)),
            (Order::Ascending, Some(a)) => (Excluded(a), Unbounded),
            (_, None) => (Unbounded, Unbounded),
        };
        let items = self
            .scan(tree, from, to, order)
            .map(|r| r.and_then(|(k, v)| Ok((k.to_vec(), decode(tree, &v)?))));
        fill(items, page.limit, keep)
    }
}
