//! The manifest queue: catalog entries of this instance waiting for the
//! bucket's manifests, cut durably into numbered batches before each
//! batch's object is written, and dropped once it is.

use serde::{Deserialize, Serialize};

use super::StateError;
use crate::catalog::CatalogEntry;
use crate::id::EntryId;

/// One manifest object to write: its number, its day, its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestBatch {
    pub n: u64,
    pub dt: String,
    pub ids: Vec<EntryId>,
}

/// The manifests' queue and numbering.
#[async_trait::async_trait]
pub trait ManifestRepo: Send + Sync {
    /// Batches cut but not written yet.
    async fn manifest_batches(&self) -> Result<Vec<ManifestBatch>, StateError>;

    /// Cuts up to `max` queued entries into one batch per day (of
    /// `archived_at`), numbered, durably; `None` when nothing is queued.
    async fn cut_manifest_batches(
        &self,
        max: usize,
    ) -> Result<Option<Vec<ManifestBatch>>, StateError>;

    /// The entries of a batch that the catalog holds.
    async fn batch_entries(&self, b: &ManifestBatch) -> Result<Vec<CatalogEntry>, StateError>;

    /// Drops a batch whose object is written.
    async fn manifest_written(&self, b: &ManifestBatch) -> Result<(), StateError>;

    /// `b` under the next free number, durably.
    async fn renumber_manifest(&self, b: ManifestBatch) -> Result<ManifestBatch, StateError>;

    /// Numbers the next batches past `highest` (found in the bucket).
    async fn number_manifests_past(&self, highest: u64) -> Result<(), StateError>;
}
