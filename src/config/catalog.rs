//! `[catalog]`: the catalog's copies in the bucket and its download links.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[catalog]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Append catalog entries to JSON Lines manifests in the bucket,
    /// `_catalog/dt=YYYY-MM-DD/<instance_id>-<n>.jsonl`.
    pub manifests: bool,
    /// A manifest is written this often (sooner once `manifest_max_entries`
    /// wait).
    pub manifest_interval_secs: u64,
    /// The most entries in one manifest.
    pub manifest_max_entries: usize,
    /// How long a download link (a presigned GET) stays valid.
    pub download_link_secs: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            manifests: true,
            manifest_interval_secs: 60,
            manifest_max_entries: 1000,
            download_link_secs: 3600,
        }
    }
}

impl CatalogConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.manifest_interval_secs == 0 {
            return Err(invalid(
                "catalog.manifest_interval_secs",
                "must be at least 1",
            ));
        }
        if !(1..=100_000).contains(&self.manifest_max_entries) {
            return Err(invalid("catalog.manifest_max_entries", "1 to 100000"));
        }
        // S3 presigned URLs last at most 7 days.
        if !(1..=604_800).contains(&self.download_link_secs) {
            return Err(invalid(
                "catalog.download_link_secs",
                "1 to 604800 (7 days)",
            ));
        }
        Ok(())
    }
}
