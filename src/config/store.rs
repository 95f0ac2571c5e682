//! `[store]`: where archived files go, and the layout of their keys.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{default_region, default_true, invalid, ConfigError, Secret};
use crate::store::key::KeyTemplate;

pub use crate::store::key::DEFAULT_KEY_TEMPLATE;

fn default_key_template() -> String {
    DEFAULT_KEY_TEMPLATE.to_owned()
}

fn default_orphan_age() -> u64 {
    24 * 3600
}

fn default_archive_root() -> PathBuf {
    PathBuf::from("var/archive")
}

/// `[store]`: where archived files go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// A local directory.
    Fs {
        #[serde(default = "default_archive_root")]
        root: PathBuf,
        #[serde(default = "default_key_template")]
        key_template: String,
    },
    /// An S3 bucket (AWS or any S3-compatible server).
    S3 {
        bucket: String,
        /// Omit for AWS.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        force_path_style: bool,
        /// Omit both keys to use the standard AWS credential chain.
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Secret,
        #[serde(default = "default_key_template")]
        key_template: String,
        /// Multipart uploads under the key template's fixed prefixes that no
        /// job knows are aborted (at start, then hourly) once this old.
        #[serde(default = "default_orphan_age")]
        orphan_upload_age_secs: u64,
        /// Multipart objects carry a full-object CRC32C (`x-amz-checksum-type:
        /// FULL_OBJECT`) the server checks at completion; off for servers
        /// that only know composite checksums (each part is checked either way).
        #[serde(default = "default_true")]
        full_object_checksum: bool,
    },
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Fs {
            root: default_archive_root(),
            key_template: default_key_template(),
        }
    }
}

impl StoreConfig {
    /// The object key layout.
    pub fn key_template(&self) -> &str {
        match self {
            StoreConfig::Fs { key_template, .. } | StoreConfig::S3 { key_template, .. } => {
                key_template
            }
        }
    }

    /// How old an upload no job knows must be before it is aborted.
    pub fn orphan_upload_age(&self) -> std::time::Duration {
        match self {
            StoreConfig::Fs { .. } => std::time::Duration::MAX,
            StoreConfig::S3 {
                orphan_upload_age_secs,
                ..
            } => std::time::Duration::from_secs(*orphan_upload_age_secs),
        }
    }

    /// Checks that the store is named, its credentials come in pairs, and
    /// its key template parses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            StoreConfig::Fs { root, .. } if root.as_os_str().is_empty() => {
                return Err(invalid("store.root", "must not be empty"))
            }
            StoreConfig::S3 { bucket, .. } if bucket.is_empty() => {
                return Err(invalid("store.bucket", "must name the bucket to archive into"))
            }
            StoreConfig::S3 {
                access_key_id,
                secret_access_key,
                ..
            } if access_key_id.is_some() == secret_access_key.is_empty() => {
                return Err(invalid(
                    "store.secret_access_key",
                    "set access_key_id and secret_access_key together, or neither (AWS credential chain)",
                ))
            }
            _ => {}
        }
        KeyTemplate::parse(self.key_template()).map_err(|e| invalid("store.key_template", e))?;
        Ok(())
    }
}
