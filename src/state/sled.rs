//! The embedded engine: the state in sled, in the state directory. Every
//! sled call runs on the blocking pool (or on the group-commit writer's
//! thread); the async runtime only awaits them. Durability: a write a
//! caller waits on is group-committed and fdatasynced before it resolves.

mod catalog;
mod export;
mod filing;
mod hls;
mod intake;
mod kv;
mod manifest;
mod queue;
mod retention;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kv::{Db, Tree};
pub use kv::{ROOM_PROBE, SCHEMA_VERSION};

use super::{HealthRepo, StateError};
use crate::config::StateConfig;
use crate::time::Timestamp;

/// The state in sled. Cheap to clone.
#[derive(Clone)]
pub struct SledRepo {
    inner: Arc<Inner>,
}

/// What the repositories share: the store and the job counts read from it
/// at open, moved by every change the repositories commit.
struct Inner {
    db: Db,
    counts: queue::Counts,
    dir: PathBuf,
    /// `state.session_gap_secs`.
    session_gap: Duration,
}

impl SledRepo {
    /// Opens (or creates) the state `[state]` names, checking its schema version.
    pub fn open(c: &StateConfig) -> Result<SledRepo, StateError> {
        SledRepo::open_in(
            &c.dir,
            c.cache_mb << 20,
            Duration::from_secs(c.session_gap_secs),
        )
    }

    /// Opens (or creates) the state under `dir` with a page cache of
    /// `cache_bytes`, a stream's publish session kept across a restart
    /// within `session_gap` of its stop.
    pub fn open_in(
        dir: &Path,
        cache_bytes: u64,
        session_gap: Duration,
    ) -> Result<SledRepo, StateError> {
        let db = Db::open_with_cache(dir, cache_bytes)?;
        let counts = queue::Counts::read(&db)?;
        Ok(SledRepo {
            inner: Arc::new(Inner {
                db,
                counts,
                dir: dir.to_owned(),
                session_gap,
            }),
        })
    }

    /// Runs `f` on the blocking pool: sled's calls may wait on its disk.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StateError::Engine(format!("a state task stopped: {e}")))?
    }
}

impl Inner {
    /// A fresh time-ordered key for `at`.
    fn new_key(&self, at: &Timestamp) -> Result<crate::id::TimeKey, StateError> {
        self.db.new_key(at)
    }
}

#[async_trait::async_trait]
impl HealthRepo for SledRepo {
    fn write_failure(&self) -> Option<StateError> {
        self.inner.db.write_failure()
    }

    async fn durable(&self) -> Result<(), StateError> {
        self.inner.db.durable().await
    }

    async fn probe_write(&self) -> Result<(), StateError> {
        let now = chrono::Utc::now().timestamp_millis().to_be_bytes();
        self.inner
            .db
            .commit(move |tx| tx.insert(Tree::Meta, b"ready_probe", &now))
            .await
    }

    async fn flush(&self) -> Result<(), StateError> {
        self.blocking(|i| i.db.flush_now()).await
    }

    async fn heal(&self) {
        heal_after_full_disk(self).await
    }
}

/// After a full disk: sled 0.34 keeps a failed log write as a global error,
/// so its writes keep failing after room returns. Callbacks meanwhile get
/// 503 (platforms retry) and `/readyz` says why. Returns once a probe file
/// fits on the state directory's disk again and the store still cannot
/// write: only a restart (the store reopened) heals it, and nothing
/// acknowledged is lost, as every `200` followed an fdatasync.
async fn heal_after_full_disk(repo: &SledRepo) {
    let mut idle = 0u32;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(failure) = repo.write_failure() else {
            // Quiet for 10 s: a probe write, so a failure is found before
            // the next callback meets it.
            idle += 1;
            if idle >= 10 {
                idle = 0;
                let _ = repo.probe_write().await;
            }
            continue;
        };
        let probe = repo.inner.dir.join(ROOM_PROBE);
        let room = tokio::task::spawn_blocking(move || room_for(&probe))
            .await
            .unwrap_or(false);
        if !room {
            continue;
        }
        if repo.probe_write().await.is_ok() {
            tracing::info!("the state store writes again");
            continue;
        }
        tracing::error!(error = %failure, "the state directory's disk has room again but the state store still cannot write");
        return;
    }
}

/// Whether 4 MiB can be written and synced at `probe` (removed after).
fn room_for(probe: &Path) -> bool {
    use std::io::Write;
    let written = std::fs::File::create(probe).and_then(|mut f| {
        f.write_all(&vec![0u8; 4 << 20])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(probe);
    written.is_ok()
}
