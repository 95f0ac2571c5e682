//! The storage engine under the state store: sled 0.34. This is the only file
//! that names sled; swapping the engine means rewriting this file alone.
//!
//! What the rest of the daemon gets: named trees of ordered byte keys, point
//! reads and writes, range scans in either direction, multi-tree
//! transactions, unique ids, and a flush.

use std::ops::Bound;
use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use super::fsync::Durable;
use super::{DbError, Tree};

/// A stored key or value: bytes, cheap to clone.
#[derive(Clone)]
pub struct Bytes(sled::IVec);

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// An open engine: one database, its trees in [`Tree`] order.
pub struct Engine {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    files: Durable,
}

/// Why a transaction stopped: the engine's own failure, a conflict it will
/// retry, or the caller's abort.
pub struct TxError(ConflictableTransactionError<DbError>);

impl From<DbError> for TxError {
    fn from(e: DbError) -> Self {
        TxError(ConflictableTransactionError::Abort(e))
    }
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> Self {
        TxError(e.into())
    }
}

fn engine_error(e: sled::Error) -> DbError {
    DbError::Engine(e.to_string())
}

/// A transaction's view of every tree.
pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
}

impl Tx<'_> {
    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Bytes>, TxError> {
        Ok(self.trees[tree as usize].get(key)?.map(Bytes))
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), TxError> {
        self.trees[tree as usize].insert(key, value)?;
        Ok(())
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), TxError> {
        self.trees[tree as usize].remove(key)?;
        Ok(())
    }
}

/// Items of a scan, in key order or its reverse.
pub type Scan = Box<dyn Iterator<Item = Result<(Bytes, Bytes), DbError>> + Send>;

impl Engine {
    /// Opens (or creates) the database under `dir` with every tree and a
    /// page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Engine, DbError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| match e {
                // sled tells its lock file taken only in its message.
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    DbError::Engine(format!(
                        "another running daemon is using [state] dir = {}: stop it, or give \
                         this one its own state.dir",
                        dir.display()
                    ))
                }
                e => engine_error(e),
            })?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<_, _>>()
            .map_err(engine_error)?;
        // sled 0.34's layout: its log `db`, values too large for the log in
        // `blobs/`, and `conf` and `snap.*` beside the log.
        let files = Durable::open(
            &dir.join("db"),
            vec![dir.to_owned(), dir.join("blobs")],
            vec![dir.join(super::ROOM_PROBE)],
        )
        .map_err(|e| DbError::Engine(format!("cannot sync {}: {e}", dir.display())))?;
        Ok(Engine { db, trees, files })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree as usize]
    }

    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Bytes>, DbError> {
        Ok(self.tree(tree).get(key).map_err(engine_error)?.map(Bytes))
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), DbError> {
        self.tree(tree).insert(key, value).map_err(engine_error)?;
        Ok(())
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), DbError> {
        self.tree(tree).remove(key).map_err(engine_error)?;
        Ok(())
    }

    /// Items with keys in `(from, to)`, ascending, or descending with `rev`.
    pub fn scan(&self, tree: Tree, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>, rev: bool) -> Scan {
        let range = self.tree(tree).range::<Vec<u8>, _>((from, to));
        let items = |r: sled::Result<(sled::IVec, sled::IVec)>| {
            r.map(|(k, v)| (Bytes(k), Bytes(v))).map_err(engine_error)
        };
        if rev {
            Box::new(range.rev().map(items))
        } else {
            Box::new(range.map(items))
        }
    }

    /// Runs `f` over every tree atomically. `f` may run more than once (the
    /// engine retries on a conflict), so it must not have other effects.
    pub fn transaction<R>(&self, f: impl Fn(&Tx) -> Result<R, TxError>) -> Result<R, DbError> {
        self.trees[..]
            .transaction(|trees| f(&Tx { trees }).map_err(|TxError(e)| e))
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => engine_error(e),
            })
    }

    /// Writes everything written so far to the files, durably (power-safe);
    /// returns the bytes written.
    ///
    /// sled's own flush ends in `sync_file_range` on Linux: the data reaches
    /// the disk, but neither the file's size nor the disk's write cache is
    /// made durable (only its background thread calls `fsync`, every
    /// 500 ms). The `fdatasync` after it is what a power cut cannot undo.
    pub fn flush(&self) -> Result<usize, DbError> {
        let bytes = self.db.flush().map_err(engine_error)?;
        self.files
            .sync()
            .map_err(|e| DbError::Engine(format!("fdatasync: {e}")))?;
        Ok(bytes)
    }

    /// Makes durable what sled wrote outside a flush of ours (a large value
    /// written by another thread, which sled's own log fsync may point at).
    pub fn sync_files(&self) -> Result<(), DbError> {
        self.files
            .sync()
            .map_err(|e| DbError::Engine(format!("fdatasync: {e}")))
    }

    /// A number never handed out before by this database.
    pub fn unique_id(&self) -> Result<u64, DbError> {
        self.db.generate_id().map_err(engine_error)
    }
}
