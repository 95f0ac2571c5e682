//! `[store]`: where archived files go, and the layout of their keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{default_region, default_true, invalid, ConfigError, Secret};
use crate::store::key::KeyTemplate;

pub use crate::store::key::DEFAULT_KEY_TEMPLATE;
pub use options::ObjectOptions;

mod options;

fn default_key_template() -> String {
    DEFAULT_KEY_TEMPLATE.to_owned()
}

fn default_orphan_age() -> u64 {
    24 * 3600
}

fn default_archive_root() -> PathBuf {
    PathBuf::from("var/archive")
}

/// `[store]`: where archived files go. `type` may be left out when the
/// keys say which: `root` alone is a directory (`type = "fs"`).
// `remote = "Self"` makes the derives inherent functions, so the trait
// impls below can infer `type` before the tagged form is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    remote = "Self",
    tag = "type",
    rename_all = "lowercase",
    deny_unknown_fields
)]
// One value per configuration: the S3 variant's size costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// The storage class of every object written (`STANDARD_IA`,
        /// `GLACIER_IR`, `DEEP_ARCHIVE`, ...). Default: the bucket's.
        #[serde(default)]
        storage_class: Option<String>,
        /// The storage class of sidecars and manifests, which the catalog
        /// reads back. Default: `storage_class`.
        #[serde(default)]
        sidecar_storage_class: Option<String>,
        /// `AES256` or `aws:kms` (with `sse_kms_key_id`, or the bucket's key).
        #[serde(default)]
        server_side_encryption: Option<String>,
        #[serde(default)]
        sse_kms_key_id: Option<String>,
        /// `GOVERNANCE` or `COMPLIANCE`, for buckets with Object Lock: each
        /// object is retained `object_lock_retain_days` from when it is written.
        #[serde(default)]
        object_lock_mode: Option<String>,
        #[serde(default)]
        object_lock_retain_days: Option<u32>,
        /// Tags set on every object written (at most 10).
        #[serde(default)]
        tags: BTreeMap<String, String>,
    },
}

/// Keys only an S3 store has: with one of them and no `type`, `fs` is no
/// honest guess.
const S3_KEYS: [&str; 15] = [
    "bucket",
    "endpoint",
    "region",
    "force_path_style",
    "access_key_id",
    "secret_access_key",
    "orphan_upload_age_secs",
    "full_object_checksum",
    "storage_class",
    "sidecar_storage_class",
    "server_side_encryption",
    "sse_kms_key_id",
    "object_lock_mode",
    "object_lock_retain_days",
    "tags",
];

/// Sets `type = "fs"` in a `[store]` table that names none and holds no S3
/// key (`root = "..."` alone is a directory); the reason when it cannot.
fn infer_type(table: &mut toml::Table) -> Result<(), String> {
    if table.contains_key("type") {
        return Ok(());
    }
    if let Some(k) = S3_KEYS.iter().find(|k| table.contains_key(**k)) {
        return Err(format!(
            "store.type is missing and `{k}` is an S3 key: set type = \"s3\" in [store] \
             (or type = \"fs\" with root = \"...\" for a local directory)"
        ));
    }
    table.insert("type".to_owned(), toml::Value::String("fs".to_owned()));
    Ok(())
}

impl<'de> Deserialize<'de> for StoreConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        infer_type(&mut table).map_err(D::Error::custom)?;
        StoreConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)
    }
}

impl Serialize for StoreConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoreConfig::serialize(self, s)
    }
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
        if let Some(o) = self.object_options() {
            o.validate()?;
        }
        Ok(())
    }

    /// What every object an S3 store writes is stored with; `None` for a directory.
    pub fn object_options(&self) -> Option<ObjectOptions> {
        match self {
            StoreConfig::Fs { .. } => None,
            StoreConfig::S3 {
                storage_class,
                sidecar_storage_class,
                server_side_encryption,
                sse_kms_key_id,
                object_lock_mode,
                object_lock_retain_days,
                tags,
                ..
            } => Some(ObjectOptions {
                storage_class: storage_class.clone(),
                sidecar_storage_class: sidecar_storage_class.clone(),
                server_side_encryption: server_side_encryption.clone(),
                sse_kms_key_id: sse_kms_key_id.clone(),
                object_lock_mode: object_lock_mode.clone(),
                object_lock_retain_days: *object_lock_retain_days,
                tags: tags.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::file;
    use crate::config::{Config, StoreConfig};

    #[test]
    fn a_root_alone_is_a_directory_store() {
        let f = file("[store]\nroot = \"/srv/archive\"\n");
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        let StoreConfig::Fs { root, .. } = &c.store else {
            panic!("an fs store: {:?}", c.store);
        };
        assert_eq!(root.to_str(), Some("/srv/archive"));
    }

    #[test]
    fn explicit_types_are_kept() {
        let f = file("[store]\ntype = \"s3\"\nbucket = \"b\"\n");
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        assert!(matches!(c.store, StoreConfig::S3 { .. }), "{:?}", c.store);
        let f = file("[store]\ntype = \"fs\"\nroot = \"/a\"\n");
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        assert!(matches!(c.store, StoreConfig::Fs { .. }), "{:?}", c.store);
    }

    #[test]
    fn a_bucket_without_a_type_names_store_type() {
        let f = file("[store]\nbucket = \"b\"\n");
        let e = Config::load_with_env(Some(f.path()), [])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("store.type") && e.contains("type = \"s3\""),
            "{e}"
        );
        assert!(!e.contains("missing field"), "{e}");
    }
}
