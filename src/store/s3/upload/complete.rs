//! Completing an upload: the last part, CompleteMultipartUpload (or the one
//! PutObject) never over another object, then the sidecar. A multipart
//! object keeps the metadata it was created with: its SHA-256 and MD5,
//! known only at the end, are in its sidecar and the catalog (setting them
//! on the object would mean a server-side copy of every byte).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumType, CompletedMultipartUpload};
use bytes::Bytes;

use super::{b64, S3Upload};
use crate::catalog::StoredAt;
use crate::retry::Failure;
use crate::s3client::server_side_work;
use crate::store::s3::conditional::{conditional_failure, create_only};
use crate::store::s3::options::{with_options, Role};

impl S3Upload {
    /// Completes the object. On failure the upload is left as it is: the
    /// caller suspends it (to be continued) or aborts it.
    pub(in crate::store) async fn finish(
        &mut self,
        metadata: BTreeMap<String, String>,
        sha256: &str,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        if self.completed {
            // Completed by the store after an earlier attempt stopped waiting.
            return self.complete(metadata, sidecar).await;
        }
        if let Some(existing) = self.s.placement.same_bytes(sha256) {
            // The very same bytes are already archived there: no second copy.
            let existing = existing.to_owned();
            if let Some(rec) = self.bare_record() {
                self.s.log.forget(rec).await?;
            }
            self.abort_now().await;
            return Ok(StoredAt::S3 {
                bucket: self.s.bucket.clone(),
                key: existing,
            });
        }
        self.complete(metadata, sidecar).await
    }

    /// The CRC32C of the whole file, for the server to check at completion.
    fn full_object_crc(&self) -> Result<String, Failure> {
        let crc = self.hasher.crc32c().ok_or_else(|| {
            Failure::transient("the upload's saved state has no CRC32C of the file")
        })?;
        Ok(b64(&crc.to_be_bytes()))
    }

    async fn complete(
        &mut self,
        metadata: BTreeMap<String, String>,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        let metadata: std::collections::HashMap<String, String> = metadata.into_iter().collect();
        let client = self.s.client.clone();
        let bucket = self.s.bucket.clone();
        match self.upload_id.clone() {
            None if self.completed => {}
            None => {
                let body = std::mem::take(&mut self.buf).freeze();
                let checksum = b64(&std::mem::take(&mut self.part_crc).to_be_bytes());
                let options = &self.s.options;
                let put = |condition: Option<&str>| {
                    with_options!(client.put_object(), options, Role::Data)
                        .bucket(&bucket)
                        .key(&self.key)
                        .set_metadata(Some(metadata.clone()))
                        .set_if_none_match(condition.map(str::to_owned))
                        .checksum_crc32_c(checksum.clone())
                        .body(ByteStream::from(body.clone()))
                        .customize()
                        .disable_payload_signing()
                        .send()
                };
                create_only(put)
                    .await
                    .map_err(|e| conditional_failure("PutObject", e))?;
            }
            Some(upload_id) => {
                if self.stream.is_some() {
                    return Err(Failure::integrity("the file ended inside a part"));
                }
                if !self.buf.is_empty() {
                    self.ship_part().await?;
                }
                while !self.in_flight.is_empty() {
                    self.join_one().await?;
                }
                let mut parts = self.done.clone();
                parts.sort_by_key(|p| p.part_number());
                let whole = self
                    .s
                    .full_object
                    .then(|| self.full_object_crc())
                    .transpose()?;
                let complete = |condition: Option<&str>| {
                    client
                        .complete_multipart_upload()
                        .bucket(&bucket)
                        .key(&self.key)
                        .upload_id(&upload_id)
                        .set_if_none_match(condition.map(str::to_owned))
                        .set_checksum_crc32_c(whole.clone())
                        .set_checksum_type(whole.as_ref().map(|_| ChecksumType::FullObject))
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(parts.clone()))
                                .build(),
                        )
                        .customize()
                        .config_override(server_side_work())
                        .send()
                };
                create_only(complete)
                    .await
                    .map_err(|e| conditional_failure("CompleteMultipartUpload", e))?;
                self.upload_id = None;
                self.completed = true;
            }
        }
        with_options!(client.put_object(), &self.s.options, Role::Sidecar)
            .bucket(&bucket)
            .key(format!("{}.json", self.key))
            .content_type("application/json")
            .body(ByteStream::from(sidecar))
            .send()
            .await
            .map_err(|e| Failure::from_store("PutObject (catalog sidecar)", e))?;
        Ok(StoredAt::S3 {
            bucket,
            key: self.key.clone(),
        })
    }
}
