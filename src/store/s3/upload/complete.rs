//! Completing an upload: the last part, CompleteMultipartUpload (or the one
//! PutObject) never over another object, the final metadata, the sidecar.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, MetadataDirective};
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{b64, S3Upload};
use crate::catalog::StoredAt;
use crate::retry::Failure;
use crate::s3client::server_side_work;
use crate::store::s3::conditional::{conditional_failure, create_only};
use crate::store::s3::MAX_COPY;

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
            self.s.log.forget()?;
            self.abort_inner().await;
            return Ok(StoredAt::S3 {
                bucket: self.s.bucket.clone(),
                key: existing,
            });
        }
        self.complete(metadata, sidecar).await
    }

    async fn complete(
        &mut self,
        metadata: BTreeMap<String, String>,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        let metadata: std::collections::HashMap<String, String> = metadata.into_iter().collect();
        let client = self.s.client.clone();
        let bucket = self.s.bucket.clone();
        let multipart = self.completed || self.upload_id.is_some();
        match self.upload_id.clone() {
            None if self.completed => {}
            None => {
                let body = std::mem::take(&mut self.buf).freeze();
                let checksum = b64(&std::mem::take(&mut self.part_crc).to_be_bytes());
                let put = |condition: Option<&str>| {
                    client
                        .put_object()
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
                if !self.buf.is_empty() {
                    self.ship_part().await?;
                }
                while !self.in_flight.is_empty() {
                    self.join_one().await?;
                }
                let mut parts = self.done.clone();
                parts.sort_by_key(|p| p.part_number());
                let complete = |condition: Option<&str>| {
                    client
                        .complete_multipart_upload()
                        .bucket(&bucket)
                        .key(&self.key)
                        .upload_id(&upload_id)
                        .set_if_none_match(condition.map(str::to_owned))
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
        // The checksums are known only now; set them in place.
        if multipart && self.size() <= MAX_COPY {
            client
                .copy_object()
                .bucket(&bucket)
                .key(&self.key)
                .copy_source(format!("{bucket}/{}", encode_key(&self.key)))
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(metadata))
                .customize()
                .config_override(server_side_work())
                .send()
                .await
                .map_err(|e| Failure::from_s3("CopyObject (final metadata)", e))?;
        }
        client
            .put_object()
            .bucket(&bucket)
            .key(format!("{}.json", self.key))
            .content_type("application/json")
            .body(ByteStream::from(sidecar))
            .send()
            .await
            .map_err(|e| Failure::from_s3("PutObject (catalog sidecar)", e))?;
        Ok(StoredAt::S3 {
            bucket,
            key: self.key.clone(),
        })
    }
}

/// What `x-amz-copy-source` may hold unencoded: RFC 3986 unreserved
/// characters, and the key's `/`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a key for `x-amz-copy-source` (its `/` stay).
fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, COPY_SOURCE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_keys_keep_only_unreserved_characters_and_slashes() {
        assert_eq!(
            encode_key("live/s 1/a+b=c&d~e_f-g.flv"),
            "live/s%201/a%2Bb%3Dc%26d~e_f-g.flv"
        );
        assert_eq!(encode_key("录像/x?.flv"), "%E5%BD%95%E5%83%8F/x%3F.flv");
    }
}
