//! The daemon's state behind domain repositories: every operation whole
//! and atomic, in the domain's words ("record this callback", "claim the
//! next due job", "file this archived entry"), so no caller composes a
//! transaction or knows how an engine keeps its records. One engine today,
//! the embedded one (`state/sled.rs`); the conformance suite
//! (`state/conformance.rs`) is written against these traits once and run
//! on every engine.

mod catalog;
#[cfg(test)]
pub(crate) mod conformance;
pub mod copy;
pub(crate) mod intake;
mod listing;
mod manifest;
pub(crate) mod moves;
pub mod notices;
pub mod postgres;
mod queue;
mod retention;
pub mod sled;
mod uploads;

use std::sync::Arc;

pub use catalog::{CatalogRepo, Filed, Filing, HlsRecording, HourTally};
pub use intake::{playlist_job, Callback, IntakeRepo, Recorded};
pub use listing::{fill as listing_fill, Keep, Page, PageRequest};
pub use manifest::{ManifestBatch, ManifestRepo};
pub use notices::NoticeTarget;
pub use queue::{Gauges, QueueRepo};
pub use retention::{Pruned, Retention, RetentionRepo};
pub use uploads::{Abandoned, UploadRepo};

/// Why the state could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    #[error("state store: {0}")]
    Engine(String),
    #[error("state store: {0}")]
    Transaction(String),
    /// The database cannot be reached now (refused, timed out, starting up):
    /// worth trying again, unlike a refusal.
    #[error("state store: {0}")]
    Unreachable(String),
    #[error(
        "the state was written by a newer recording-archiver (schema {found}); \
         this build reads schema {max} at most. Run the newer version, or point \
         state.dir (or state.url) elsewhere"
    )]
    NewerSchema { found: u32, max: u32 },
    #[error("state store holds unreadable data in {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error("cannot start the state writer thread: {0}")]
    Thread(String),
}

/// The state store's own condition: durability, readiness, shutdown.
#[async_trait::async_trait]
pub trait HealthRepo: Send + Sync {
    /// Why the state cannot be written, if its last write failed (a full
    /// disk); `None` once a write succeeds again.
    fn write_failure(&self) -> Option<StateError>;

    /// Resolves once every change made before the call is durable.
    async fn durable(&self) -> Result<(), StateError>;

    /// Writes a probe record durably: whether the state can take writes now.
    async fn probe_write(&self) -> Result<(), StateError>;

    /// Flushes everything, waiting for the disk (at start and at stop).
    async fn flush(&self) -> Result<(), StateError>;

    /// Watches the state's writes for the daemon's life; returns only when
    /// the engine cannot heal without being opened again (a restart).
    async fn heal(&self);
}

/// Opens the state `[state]` names: the embedded store in `dir`, or the
/// PostgreSQL database of `url` (its schema migrated).
pub async fn open(c: &crate::config::Config) -> Result<Repo, StateError> {
    if c.state.url.is_empty() {
        return Ok(Arc::new(self::sled::SledRepo::open(&c.state)?));
    }
    let repo = self::postgres::PgRepo::open(&c.state, &c.instance_id).await?;
    Ok(Arc::new(repo))
}

/// Every repository of one engine.
pub trait FullRepo:
    QueueRepo + IntakeRepo + CatalogRepo + UploadRepo + ManifestRepo + RetentionRepo + HealthRepo
{
}

impl<T> FullRepo for T where
    T: QueueRepo
        + IntakeRepo
        + CatalogRepo
        + UploadRepo
        + ManifestRepo
        + RetentionRepo
        + HealthRepo
{
}

/// The state of this daemon, whichever engine keeps it. Cheap to clone.
pub type Repo = Arc<dyn FullRepo>;
