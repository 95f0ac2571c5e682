//! An S3 bucket store. Files up to one part go up in one PutObject; larger
//! ones through multipart upload with at most `parts_in_flight` parts in
//! memory, each sent with its CRC32C (`x-amz-checksum-crc32c`) so the server
//! verifies every part. A failed upload is aborted, never left to accrue
//! storage.
//!
//! Bodies are sent with payload signing disabled: the signed checksum header
//! already guards their integrity, and signing would hash every byte with
//! SHA-256 once more (measured: see BENCHMARKS.md).
//!
//! A part is buffered whole because its checksum header precedes its body.
//! Streaming parts instead (aws-chunked with a trailing checksum) would take
//! memory below parts_in_flight * part_size; not done, for lack of a server
//! here to prove it against.

use std::collections::BTreeMap;
use std::time::Duration;

mod conditional;
pub mod parts;
mod upload;

use aws_sdk_s3::Client;

use super::KeyTemplate;
use crate::config::{StoreConfig, TransferConfig};
use crate::queue::UploadRecord;
use crate::retry::Failure;
// Kept at this path too: the integration tests build their S3 client with it.
use super::place::Placement;
pub use crate::s3client::client;
use upload::abort_multipart;
pub use upload::S3Upload;

/// CopyObject (used to set the final metadata in place) handles up to 5 GiB.
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;

pub struct S3Store {
    client: Client,
    bucket: String,
    pub(super) template: KeyTemplate,
}

impl S3Store {
    pub(super) async fn open(
        cfg: &StoreConfig,
        transfer: &TransferConfig,
        template: KeyTemplate,
    ) -> Result<S3Store, String> {
        let StoreConfig::S3 {
            bucket,
            endpoint,
            region,
            force_path_style,
            access_key_id,
            secret_access_key,
            ..
        } = cfg
        else {
            return Err("not an s3 store".to_owned());
        };
        let client = client(
            endpoint.as_deref(),
            region,
            *force_path_style,
            access_key_id.as_deref(),
            secret_access_key.expose(),
            Duration::from_secs(transfer.request_timeout_secs),
        )
        .await;
        Ok(S3Store {
            client,
            bucket: bucket.clone(),
            template,
        })
    }

    pub(super) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(super) async fn begin(
        &self,
        key: String,
        size_hint: Option<u64>,
        metadata: BTreeMap<String, String>,
        t: &TransferConfig,
    ) -> Result<S3Upload, Failure> {
        let plan = parts::PartPlan::new(size_hint, t.part_size, t.max_file_bytes)
            .map_err(Failure::permanent)?;
        let placement = Placement::find(&key, |k| self.recorded_sha256(k)).await?;
        Ok(S3Upload::new(
            self.client.clone(),
            self.bucket.clone(),
            placement,
            plan,
            metadata,
            t.parts_in_flight,
        ))
    }

    /// Whether an object is at `key` and the SHA-256 it records: in its
    /// metadata, or (objects over 5 GiB) in its catalog sidecar.
    async fn recorded_sha256(&self, key: String) -> Result<Option<Option<String>>, Failure> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        let out = match head {
            Ok(out) => out,
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                return Ok(None)
            }
            Err(e) => return Err(Failure::from_s3(&format!("HeadObject {key}"), e)),
        };
        if let Some(sha) = out.metadata().and_then(|m| m.get("sha256")) {
            return Ok(Some(Some(sha.clone())));
        }
        let sidecar = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{key}.json"))
            .send()
            .await;
        let sha = match sidecar {
            Ok(o) => o
                .body
                .collect()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.into_bytes()).ok())
                .and_then(|v| v["sha256"].as_str().map(str::to_owned)),
            Err(_) => None,
        };
        Ok(Some(sha))
    }

    pub(super) async fn abort_stale(&self, rec: &UploadRecord) {
        if abort_multipart(&self.client, rec).await {
            tracing::info!(key = %rec.key, upload_id = %rec.upload_id, "aborted a multipart upload left by an earlier run");
        }
    }

    pub(super) async fn check(&self) -> Result<(), String> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                Err(match status {
                    Some(403) => format!("bucket {:?}: credentials rejected (403)", self.bucket),
                    Some(404) => format!("bucket {:?}: no such bucket (404)", self.bucket),
                    _ => format!(
                        "bucket {:?}: {}",
                        self.bucket,
                        Failure::from_s3("HeadBucket", e)
                    ),
                })
            }
        }
    }
}
