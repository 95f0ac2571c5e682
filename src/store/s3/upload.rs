//! One object being uploaded: a single PutObject for a file of one part,
//! else a multipart upload with at most `parts_in_flight` parts in memory.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, MetadataDirective,
};
use aws_sdk_s3::Client;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::task::JoinSet;

use super::conditional::{conditional_failure, create_only};
use super::parts::PartPlan;
use super::MAX_COPY;
use crate::catalog::StoredAt;
use crate::queue::UploadRecord;
use crate::retry::Failure;
use crate::store::place::Placement;

/// An object being uploaded.
pub struct S3Upload {
    plan: PartPlan,
    client: Client,
    bucket: String,
    key: String,
    /// Objects found in the key's way at the start.
    placement: Placement,
    metadata: BTreeMap<String, String>,
    max_in_flight: usize,
    /// The part being filled.
    buf: BytesMut,
    /// CRC32C of the part being filled, computed as its bytes arrive.
    part_crc: u32,
    size: u64,
    upload_id: Option<String>,
    /// The upload id has not been handed out for persisting yet.
    unreported: bool,
    next_part: i32,
    in_flight: JoinSet<Result<CompletedPart, Failure>>,
    done: Vec<CompletedPart>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl S3Upload {
    /// An upload of `key` in parts as `plan` says, at most `max_in_flight` in memory.
    pub(super) fn new(
        client: Client,
        bucket: String,
        placement: Placement,
        plan: PartPlan,
        metadata: BTreeMap<String, String>,
        max_in_flight: usize,
    ) -> S3Upload {
        S3Upload {
            plan,
            client,
            bucket,
            key: placement.key.clone(),
            placement,
            metadata,
            max_in_flight,
            buf: BytesMut::new(),
            part_crc: 0,
            size: 0,
            upload_id: None,
            unreported: false,
            next_part: 1,
            in_flight: JoinSet::new(),
            done: Vec::new(),
        }
    }

    pub(in crate::store) async fn write(&mut self, mut chunk: Bytes) -> Result<(), Failure> {
        self.size += chunk.len() as u64;
        if let Err(e) = self.plan.admits(self.size) {
            return Err(match self.plan {
                // More than the origin announced: a broken or changed origin.
                PartPlan::Known { .. } => Failure::integrity(e),
                PartPlan::Growing { .. } => Failure::permanent(e),
            });
        }
        while !chunk.is_empty() {
            // A full part goes up once more bytes come, so that a file of one
            // part stays a single PutObject.
            if self.buf.len() as u64 == self.current_part() {
                self.ship_part().await?;
            }
            let part = self.current_part() as usize;
            if self.buf.capacity() == 0 {
                // A part buffer is filled only when a slot is free: counting
                // it, at most parts_in_flight parts are in memory.
                while self.in_flight.len() >= self.max_in_flight {
                    self.join_one().await?;
                }
                // Sized once, to the part as planned: growing it would copy,
                // and briefly hold, twice the bytes.
                self.buf.reserve(part);
            }
            let take = (part - self.buf.len()).min(chunk.len());
            let head = chunk.split_to(take);
            self.part_crc = crc32c::crc32c_append(self.part_crc, &head);
            self.buf.extend_from_slice(&head);
        }
        Ok(())
    }

    /// The planned size of the part being filled.
    fn current_part(&self) -> u64 {
        self.plan.part_size(self.next_part as u64)
    }

    pub(in crate::store) fn take_started(&mut self) -> Option<UploadRecord> {
        if !self.unreported {
            return None;
        }
        self.unreported = false;
        self.upload_id.as_ref().map(|id| UploadRecord {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            upload_id: id.clone(),
        })
    }

    async fn ship_part(&mut self) -> Result<(), Failure> {
        if self.upload_id.is_none() {
            let out = self
                .client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_metadata(Some(self.metadata.clone().into_iter().collect()))
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .send()
                .await
                .map_err(|e| Failure::from_s3("CreateMultipartUpload", e))?;
            let id = out
                .upload_id
                .ok_or_else(|| Failure::transient("CreateMultipartUpload returned no upload id"))?;
            self.upload_id = Some(id);
            self.unreported = true;
        }
        let part = std::mem::take(&mut self.buf).freeze();
        let checksum = b64(&std::mem::take(&mut self.part_crc).to_be_bytes());
        let number = self.next_part;
        self.next_part += 1;
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .part_number(number)
            .checksum_crc32_c(checksum.clone())
            .body(ByteStream::from(part))
            .customize()
            .disable_payload_signing();
        self.in_flight.spawn(async move {
            let out = req
                .send()
                .await
                .map_err(|e| Failure::from_s3(&format!("UploadPart {number}"), e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .checksum_crc32_c(checksum)
                .build())
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), Failure> {
        match self.in_flight.join_next().await {
            Some(Ok(Ok(part))) => {
                self.done.push(part);
                Ok(())
            }
            Some(Ok(Err(f))) => Err(f),
            Some(Err(e)) => Err(Failure::transient(format!("part upload task failed: {e}"))),
            None => Ok(()),
        }
    }

    /// The key the object will have.
    pub(in crate::store) fn key(&self) -> &str {
        &self.key
    }

    pub(in crate::store) async fn finish(
        mut self,
        metadata: BTreeMap<String, String>,
        sha256: &str,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        if let Some(existing) = self.placement.same_bytes(sha256) {
            // The very same bytes are already archived there: no second copy.
            let existing = existing.to_owned();
            self.abort_inner().await;
            return Ok(StoredAt::S3 {
                bucket: self.bucket.clone(),
                key: existing,
            });
        }
        match self.complete(metadata, sidecar).await {
            Ok(at) => Ok(at),
            Err(f) => {
                self.abort_inner().await;
                Err(f)
            }
        }
    }

    async fn complete(
        &mut self,
        metadata: BTreeMap<String, String>,
        sidecar: Bytes,
    ) -> Result<StoredAt, Failure> {
        let metadata: std::collections::HashMap<String, String> = metadata.into_iter().collect();
        match self.upload_id.clone() {
            None => {
                let body = std::mem::take(&mut self.buf).freeze();
                let checksum = b64(&std::mem::take(&mut self.part_crc).to_be_bytes());
                let put = |condition: Option<&str>| {
                    self.client
                        .put_object()
                        .bucket(&self.bucket)
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
                let mut parts = std::mem::take(&mut self.done);
                parts.sort_by_key(|p| p.part_number());
                let complete = |condition: Option<&str>| {
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.bucket)
                        .key(&self.key)
                        .upload_id(&upload_id)
                        .set_if_none_match(condition.map(str::to_owned))
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(parts.clone()))
                                .build(),
                        )
                        .send()
                };
                create_only(complete)
                    .await
                    .map_err(|e| conditional_failure("CompleteMultipartUpload", e))?;
                self.upload_id = None;
                // The checksums are known only now; set them in place.
                if self.size <= MAX_COPY {
                    self.client
                        .copy_object()
                        .bucket(&self.bucket)
                        .key(&self.key)
                        .copy_source(format!("{}/{}", self.bucket, encode_key(&self.key)))
                        .metadata_directive(MetadataDirective::Replace)
                        .set_metadata(Some(metadata))
                        .send()
                        .await
                        .map_err(|e| Failure::from_s3("CopyObject (final metadata)", e))?;
                }
            }
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}.json", self.key))
            .content_type("application/json")
            .body(ByteStream::from(sidecar))
            .send()
            .await
            .map_err(|e| Failure::from_s3("PutObject (catalog sidecar)", e))?;
        Ok(StoredAt::S3 {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        })
    }

    pub(in crate::store) async fn abort(mut self) {
        self.abort_inner().await;
    }

    async fn abort_inner(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(id) = self.upload_id.take() {
            self.unreported = false;
            let rec = UploadRecord {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                upload_id: id,
            };
            abort_multipart(&self.client, &rec).await;
        }
    }
}

/// Aborts a multipart upload; says whether it worked (a failure is logged).
pub(super) async fn abort_multipart(client: &Client, rec: &UploadRecord) -> bool {
    let r = client
        .abort_multipart_upload()
        .bucket(&rec.bucket)
        .key(&rec.key)
        .upload_id(&rec.upload_id)
        .send()
        .await;
    match r {
        Ok(_) => true,
        Err(e) => {
            let f = Failure::from_s3("AbortMultipartUpload", e);
            tracing::warn!(key = %rec.key, upload_id = %rec.upload_id, error = %f, "multipart upload not aborted");
            false
        }
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
