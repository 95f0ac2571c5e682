//! The embedded engine's key/value layer: named trees of time-ordered
//! records over sled, with group commit for the writes a callback waits on.
//! It knows bytes, keys and pages, not jobs or events; the repositories
//! beside it (`state/sled/*.rs`) keep their records here. Only this layer
//! is private to the sled engine: nothing outside `state/sled` sees it.

mod engine;
mod fsync;
mod listing;
mod writer;

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::id::TimeKey;
use crate::time::{to_millis, Timestamp};

pub use crate::state::listing::{fill as listing_fill, Page, PageRequest};
pub use engine::{Bytes, Scan, Tx, TxError};
pub use listing::Order;

use engine::Engine;
use writer::Writer;

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

pub use crate::state::StateError as DbError;

/// Draws unique time-ordered keys (on the writer's thread).
pub struct Ids<'a>(&'a Engine);

impl Ids<'_> {
    /// A fresh time-ordered key for `at`.
    pub fn key(&self, at: &Timestamp) -> Result<TimeKey, DbError> {
        Ok(TimeKey::new(to_millis(at), self.0.unique_id()?))
    }
}

/// The named trees; the order is the engine's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Meta,
    /// EventId → Event JSON.
    Events,
    /// JobId → Job JSON.
    Jobs,
    /// due millis ++ JobId → (): the jobs due next, first.
    Due,
    /// idempotency key → JobId.
    Dedupe,
    /// RejectedId → RejectedRequest JSON.
    Rejected,
    /// source \0 domain \0 app \0 stream → StreamState JSON.
    Streams,
    /// EntryId → CatalogEntry JSON.
    Catalog,
    /// stream \0 EntryId → (): the catalog by stream.
    CatalogByStream,
    /// upload id → Abandoned JSON: multipart uploads to abort once the store answers.
    Abandoned,
    /// stream state key → OpenPlaylist JSON: the HLS recording a stream is
    /// writing, its segments announced one by one (SRS `on_hls`).
    HlsOpen,
    /// source \0 playlist \0 since \0 file → Part JSON: files of an HLS
    /// recording archived before its playlist.
    HlsParts,
    /// source \0 playlist \0 since \0 JobId → (): segments of an HLS
    /// recording announced but not archived yet.
    HlsPending,
    /// EntryId → (): catalog entries of this instance not in a manifest yet.
    ManifestQueue,
    /// n (big-endian u64) → Batch JSON: a manifest about to be written.
    ManifestBatches,
}

impl Tree {
    pub const ALL: [Tree; 15] = [
        Tree::Meta,
        Tree::Events,
        Tree::Jobs,
        Tree::Due,
        Tree::Dedupe,
        Tree::Rejected,
        Tree::Streams,
        Tree::Catalog,
        Tree::CatalogByStream,
        Tree::Abandoned,
        Tree::HlsOpen,
        Tree::HlsParts,
        Tree::HlsPending,
        Tree::ManifestQueue,
        Tree::ManifestBatches,
    ];

    /// The tree's name on disk, and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Events => "events",
            Tree::Jobs => "jobs",
            Tree::Due => "due",
            Tree::Dedupe => "dedupe",
            Tree::Rejected => "rejected",
            Tree::Streams => "streams",
            Tree::Catalog => "catalog",
            Tree::CatalogByStream => "catalog_by_stream",
            Tree::Abandoned => "abandoned_uploads",
            Tree::HlsOpen => "hls_open",
            Tree::HlsParts => "hls_parts",
            Tree::HlsPending => "hls_pending",
            Tree::ManifestQueue => "manifest_queue",
            Tree::ManifestBatches => "manifest_batches",
        }
    }
}

/// A file the daemon writes in the state directory to see whether its disk
/// has room again; not the engine's.
pub const ROOM_PROBE: &str = "room-probe";

/// The open state store. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    // Declared first so the writer drains before the engine closes.
    writer: Writer,
    engine: Arc<Engine>,
    /// The last group commit's error, until one succeeds.
    failing: Arc<std::sync::Mutex<Option<DbError>>>,
}

impl Db {
    /// Opens (or creates) the store under `dir`, checking its schema
    /// version, with a 64 MiB page cache (tests).
    #[cfg(test)]
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        Db::open_with_cache(dir, 64 << 20)
    }

    /// [`Db::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Db, DbError> {
        let engine = Arc::new(Engine::open(dir, cache_bytes)?);
        match engine.get(Tree::Meta, SCHEMA_KEY)? {
            None => {
                engine.insert(Tree::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                engine.flush()?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(&v[..])
                    .map(u32::from_be_bytes)
                    .map_err(|_| DbError::Corrupt {
                        tree: "meta",
                        message: "schema_version is not 4 bytes".to_owned(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(DbError::NewerSchema {
                        found,
                        max: SCHEMA_VERSION,
                    });
                }
            }
        }
        let failing: Arc<std::sync::Mutex<Option<DbError>>> = Arc::default();
        let writer = Writer::start(Arc::clone(&engine), Arc::clone(&failing))?;
        let _ = std::fs::remove_file(dir.join(ROOM_PROBE));
        let (weak, fail) = (Arc::downgrade(&engine), Arc::clone(&failing));
        std::thread::Builder::new()
            .name("state-sync".to_owned())
            .spawn(move || {
                // Between commits too: files sled writes from other threads
                // are synced within this long of appearing.
                while let Some(engine) = weak.upgrade() {
                    if let Err(e) = engine.sync_files() {
                        if let Ok(mut f) = fail.lock() {
                            *f = Some(e);
                        }
                    }
                    drop(engine);
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            })
            .map_err(|e| DbError::Thread(e.to_string()))?;
        Ok(Db {
            inner: Arc::new(Inner {
                writer,
                engine,
                failing,
            }),
        })
    }

    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Why the state store cannot write, if its last commit failed (a full
    /// disk); `None` once a commit succeeds again.
    pub fn write_failure(&self) -> Option<DbError> {
        self.inner.failing.lock().ok()?.clone()
    }

    /// Flushes synchronously (at start and at shutdown).
    pub fn flush_now(&self) -> Result<(), DbError> {
        self.engine().flush().map(|_| ())
    }

    /// A fresh time-ordered key for `at`.
    pub fn new_key(&self, at: &Timestamp) -> Result<TimeKey, DbError> {
        Ok(TimeKey::new(to_millis(at), self.engine().unique_id()?))
    }

    /// Applies `write` in a transaction shared with every other write waiting,
    /// and resolves once all of them are on disk (group commit).
    pub async fn commit<R: Send + 'static>(
        &self,
        write: impl Fn(&Tx) -> Result<R, TxError> + Send + 'static,
    ) -> Result<R, DbError> {
        self.inner.writer.submit(write).await
    }

    /// [`Db::commit`] of `write` over what `prepare` made, run once on the
    /// writer's thread (with [`Ids`] to draw unique keys), outside the
    /// transaction the engine may run more than once.
    pub async fn commit_prepared<P: Send + Sync + 'static, R: Send + 'static>(
        &self,
        prepare: impl FnOnce(&Ids) -> Result<P, DbError> + Send + 'static,
        write: impl Fn(&Tx, &P) -> Result<R, TxError> + Send + 'static,
    ) -> Result<R, DbError> {
        let prepare = move |engine: &Engine| prepare(&Ids(engine));
        self.inner.writer.submit_prepared(prepare, write).await
    }

    /// Resolves once every write made before the call is on disk. Concurrent
    /// callers share one flush.
    pub async fn durable(&self) -> Result<(), DbError> {
        self.commit(|_| Ok(())).await
    }

    /// Applies `write` atomically now, without waiting for the disk.
    pub fn transaction<R>(&self, write: impl Fn(&Tx) -> Result<R, TxError>) -> Result<R, DbError> {
        self.engine().transaction(write)
    }

    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Bytes>, DbError> {
        self.engine().get(tree, key)
    }

    /// A record by key, decoded.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<T>, DbError> {
        self.get(tree, key)?.map(|v| decode(tree, &v)).transpose()
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), DbError> {
        self.engine().insert(tree, key, value)
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), DbError> {
        self.engine().remove(tree, key)
    }

    /// Items with keys in `(from, to)`, in `order`.
    pub fn scan(
        &self,
        tree: Tree,
        from: std::ops::Bound<Vec<u8>>,
        to: std::ops::Bound<Vec<u8>>,
        order: Order,
    ) -> Scan {
        self.engine()
            .scan(tree, from, to, order == Order::Descending)
    }

    /// Every item of a tree, by key.
    pub fn iter(&self, tree: Tree) -> Scan {
        use std::ops::Bound::Unbounded;
        self.scan(tree, Unbounded, Unbounded, Order::Ascending)
    }
}

/// A record as stored.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Our own types always serialize; a failure here is a bug, not input.
    serde_json::to_vec(v).expect("state records serialize to JSON")
}

/// A stored record, read back.
pub fn decode<T: DeserializeOwned>(tree: Tree, bytes: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(bytes).map_err(|e| DbError::Corrupt {
        tree: tree.name(),
        message: e.to_string(),
    })
}

/// A record in a transaction, decoded.
pub fn tx_get_json<T: DeserializeOwned>(
    tx: &Tx,
    tree: Tree,
    key: &[u8],
) -> Result<Option<T>, TxError> {
    match tx.get(tree, key)? {
        Some(v) => Ok(Some(decode(tree, &v)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Engine::open(dir.path(), 1 << 20).unwrap();
            engine
                .insert(Tree::Meta, SCHEMA_KEY, &99u32.to_be_bytes())
                .unwrap();
            engine.flush().unwrap();
        }
        // The engine's background flusher may hold the directory's lock a
        // moment after the handle is dropped: wait that out, not the assertion.
        let mut e = String::new();
        for _ in 0..100 {
            e = Db::open(dir.path()).err().expect("must refuse").to_string();
            if !e.contains("lock") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(e.contains("newer recording-archiver (schema 99)"), "{e}");
    }

    #[test]
    fn the_schema_version_is_written_on_creation() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let v = db.get(Tree::Meta, SCHEMA_KEY).unwrap().unwrap();
        assert_eq!(&v[..], &SCHEMA_VERSION.to_be_bytes());
    }

    #[tokio::test]
    async fn a_commit_is_applied_whole_and_answered_with_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let n = db
            .commit(|tx| {
                tx.insert(Tree::Streams, b"a", b"1")?;
                tx.insert(Tree::Streams, b"b", b"2")?;
                Ok(2u32)
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        let aborted = db
            .commit(|tx| {
                tx.insert(Tree::Streams, b"c", b"3")?;
                Err::<(), _>(
                    DbError::Corrupt {
                        tree: "streams",
                        message: "test".into(),
                    }
                    .into(),
                )
            })
            .await;
        assert!(aborted.is_err());
        let keys: Vec<Vec<u8>> = db
            .iter(Tree::Streams)
            .map(|r| r.unwrap().0.to_vec())
            .collect();
        assert_eq!(
            keys,
            vec![b"a".to_vec(), b"b".to_vec()],
            "nothing of the aborted one"
        );
    }
}
