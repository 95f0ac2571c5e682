//! One object being uploaded: a single PutObject for a file of one part,
//! else a multipart upload with at most `parts_in_flight` parts at once,
//! buffered, or streamed (`stream`) when `transfer.stream_parts` is on and
//! the file's size is known.
//!
//! A multipart upload is recorded with its job before its first part goes
//! up, and again each time the parts in the store reach further: the record
//! holds the parts done, the bytes they hold and the SHA-256/MD5 state after
//! those bytes, so the next attempt continues from there (`resumed`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedPart};
use aws_sdk_s3::Client;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

mod complete;
mod stream;

use super::options::{with_options, Role};
use super::orphans::abort_multipart;
use crate::digest::{Digests, Hasher};
use crate::retry::Failure;
use crate::store::place::Placement;
use crate::store::UploadLog;
use crate::upload::PartPlan;
use crate::upload::{OriginMark, Progress, UploadRecord};

/// What an upload is made of before its first byte.
pub(super) struct Setup {
    pub client: Client,
    pub bucket: String,
    /// Objects found in the key's way at the start.
    pub placement: Placement,
    pub plan: PartPlan,
    pub metadata: BTreeMap<String, String>,
    pub max_in_flight: usize,
    pub origin: OriginMark,
    pub log: Arc<dyn UploadLog>,
    /// A multipart upload is created for a full-object CRC32C.
    pub full_object: bool,
    /// Storage class, encryption, retention and tags of what is written.
    pub options: super::options::Written,
    /// `transfer.stream_parts`.
    pub stream_parts: bool,
}

/// An object being uploaded.
pub struct S3Upload {
    s: Setup,
    key: String,
    /// The part being filled.
    buf: BytesMut,
    /// CRC32C of the part being filled, computed as its bytes arrive.
    part_crc: u32,
    /// Every byte written so far, hashed.
    hasher: Hasher,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<CompletedPart, Failure>>,
    done: Vec<CompletedPart>,
    /// Parts 1..=confirmed are in the store, and recorded so.
    confirmed: i32,
    /// Parts above `confirmed` already in the store.
    landed: BTreeSet<i32>,
    /// For each part cut and not yet confirmed: the bytes up to its end and
    /// the hash state there.
    cuts: BTreeMap<i32, (u64, String)>,
    /// The multipart upload is complete: only the sidecar is left to write.
    completed: bool,
    /// The part being streamed (`streams_parts`).
    stream: Option<stream::Streaming>,
    /// The CRC32C of each streamed part sent and not yet landed.
    crcs: BTreeMap<i32, String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl S3Upload {
    /// UploadPart of part `number` of this upload, its body to be given.
    fn part_request(
        &self,
        number: i32,
    ) -> aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder {
        self.s
            .client
            .upload_part()
            .bucket(&self.s.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .part_number(number)
    }

    /// An upload of a new object.
    pub(super) fn new(s: Setup) -> S3Upload {
        S3Upload {
            key: s.placement.key.clone(),
            s,
            buf: BytesMut::new(),
            part_crc: 0,
            hasher: Hasher::new(),
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            done: Vec::new(),
            confirmed: 0,
            landed: BTreeSet::new(),
            cuts: BTreeMap::new(),
            completed: false,
            stream: None,
            crcs: BTreeMap::new(),
        }
    }

    /// The upload `rec` continued: `parts` (1..=progress.parts, as the
    /// store lists them) are kept, and bytes are written on from its offset.
    pub(super) fn resumed(
        s: Setup,
        rec: &UploadRecord,
        progress: &Progress,
        hasher: Hasher,
        parts: Vec<CompletedPart>,
    ) -> S3Upload {
        let mut u = S3Upload::new(s);
        u.key = rec.key.clone();
        u.upload_id = Some(rec.upload_id.clone());
        u.hasher = hasher;
        u.next_part = progress.parts as i32 + 1;
        u.confirmed = progress.parts as i32;
        u.done = parts;
        u
    }

    /// The upload `rec`, which the store completed after the attempt that
    /// asked stopped waiting: every byte is in the object; its final
    /// sidecar is left to write.
    pub(super) fn completed(
        s: Setup,
        rec: &UploadRecord,
        progress: &Progress,
        hasher: Hasher,
    ) -> S3Upload {
        let mut u = S3Upload::resumed(s, rec, progress, hasher, Vec::new());
        u.upload_id = None;
        u.completed = true;
        u
    }

    pub(in crate::store) async fn write(&mut self, mut chunk: Bytes) -> Result<(), Failure> {
        let total = self.hasher.size() + chunk.len() as u64;
        if let Err(e) = self.s.plan.admits(total) {
            return Err(match self.s.plan {
                // More than the origin announced: a broken or changed origin.
                PartPlan::Known { .. } => Failure::integrity(e),
                PartPlan::Growing { .. } => Failure::permanent(e),
            });
        }
        if self.streams_parts() {
            return self.write_streamed(chunk).await;
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
                while self.in_flight.len() >= self.s.max_in_flight {
                    self.join_one().await?;
                }
                // Sized once, to the part as planned: growing it would copy,
                // and briefly hold, twice the bytes.
                self.buf.reserve(part);
            }
            let take = (part - self.buf.len()).min(chunk.len());
            let head = chunk.split_to(take);
            // Hashed as it enters the part: at a cut the state is the part's end.
            self.hasher.update(&head);
            self.part_crc = crc32c::crc32c_append(self.part_crc, &head);
            self.buf.extend_from_slice(&head);
        }
        Ok(())
    }

    /// Completed by the store already: only the final writes are left.
    pub(in crate::store) fn is_complete(&self) -> bool {
        self.completed
    }

    /// Bytes written so far (a resumed upload counts those before it).
    pub(in crate::store) fn size(&self) -> u64 {
        self.hasher.size()
    }

    /// The digests of every byte written so far.
    pub(in crate::store) fn digests(&self) -> Digests {
        self.hasher.clone().finish()
    }

    /// The planned size of the part being filled.
    fn current_part(&self) -> u64 {
        self.s.plan.part_size(self.next_part as u64)
    }

    /// The record of this upload with parts 1..=parts done, `offset` bytes.
    fn record(&self, parts: i32, offset: u64, hashes: String) -> Option<UploadRecord> {
        Some(UploadRecord {
            bucket: self.s.bucket.clone(),
            key: self.key.clone(),
            upload_id: self.upload_id.clone()?,
            progress: Some(Progress {
                plan: self.s.plan,
                origin: self.s.origin.clone(),
                parts: parts as u32,
                offset,
                hashes,
                full_object: self.s.full_object,
            }),
        })
    }

    /// Creates the multipart upload, unless it is already.
    async fn create(&mut self) -> Result<(), Failure> {
        if self.upload_id.is_none() {
            // Noted first: if the store's answer is lost (a crash
            // mid-request), the next attempt aborts what is at the key.
            let pending = UploadRecord {
                bucket: self.s.bucket.clone(),
                key: self.key.clone(),
                upload_id: String::new(),
                progress: None,
            };
            self.s.log.creating(pending).await?;
            let create = self.s.client.create_multipart_upload();
            let out = with_options!(create, &self.s.options, Role::Data)
                .bucket(&self.s.bucket)
                .key(&self.key)
                .set_metadata(Some(self.s.metadata.clone().into_iter().collect()))
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .set_checksum_type(self.s.full_object.then_some(ChecksumType::FullObject))
                .send()
                .await
                .map_err(|e| Failure::from_store("CreateMultipartUpload", e))?;
            let id = out
                .upload_id
                .ok_or_else(|| Failure::transient("CreateMultipartUpload returned no upload id"))?;
            self.upload_id = Some(id);
            // Recorded before part 1 goes up: a crash from here on leaves an
            // upload the next attempt knows of.
            let rec = self.record(0, 0, Hasher::new().state());
            if let Err(f) = self.s.log.save(rec.clone().expect("an upload id")).await {
                self.abort_inner().await;
                return Err(f);
            }
        }
        Ok(())
    }

    async fn ship_part(&mut self) -> Result<(), Failure> {
        self.create().await?;
        let part = std::mem::take(&mut self.buf).freeze();
        let checksum = b64(&std::mem::take(&mut self.part_crc).to_be_bytes());
        let number = self.next_part;
        self.next_part += 1;
        self.cuts
            .insert(number, (self.hasher.size(), self.hasher.state()));
        let req = self
            .part_request(number)
            .checksum_crc32_c(checksum.clone())
            .body(ByteStream::from(part))
            .customize()
            .disable_payload_signing();
        self.in_flight.spawn(async move {
            let out = req
                .send()
                .await
                .map_err(|e| Failure::from_store(&format!("UploadPart {number}"), e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .checksum_crc32_c(checksum)
                .build())
        });
        Ok(())
    }

    /// Waits for one part in flight; when the parts in the store now reach
    /// further, records how far before going on.
    async fn join_one(&mut self) -> Result<(), Failure> {
        let part = match self.in_flight.join_next().await {
            Some(Ok(Ok(part))) => part,
            Some(Ok(Err(f))) => return Err(f),
            Some(Err(e)) => {
                return Err(Failure::transient(format!("part upload task failed: {e}")))
            }
            None => return Ok(()),
        };
        let part = self.checked(part)?;
        self.landed.insert(part.part_number().unwrap_or_default());
        self.done.push(part);
        let before = self.confirmed;
        while self.landed.remove(&(self.confirmed + 1)) {
            self.confirmed += 1;
        }
        if self.confirmed == before {
            return Ok(());
        }
        let Some((offset, hashes)) = self.cuts.remove(&self.confirmed) else {
            return Ok(());
        };
        self.cuts.retain(|n, _| *n > self.confirmed);
        match self.record(self.confirmed, offset, hashes) {
            Some(rec) => self.s.log.save(rec).await,
            None => Ok(()),
        }
    }

    /// The key the object will have.
    pub(in crate::store) fn key(&self) -> &str {
        &self.key
    }

    /// Stops here and leaves the multipart upload, as recorded, for the
    /// next attempt to continue.
    pub(in crate::store) async fn suspend(mut self) {
        self.stream = None;
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
    }

    /// Gives up: the job's record of the upload is dropped, then the upload
    /// aborted (or, if that fails, kept by the log to be aborted later). If
    /// the record cannot be dropped because the claim is lost, the upload is
    /// another attempt's now: it is left alone.
    pub(in crate::store) async fn abort(mut self) {
        if let Some(rec) = self.bare_record() {
            // The job's record becomes the janitor's in one write: a crash
            // during the abort leaves it known.
            if let Err(f) = self.s.log.forget(rec).await {
                tracing::warn!(error = %f, "the upload is not aborted: {f}");
                self.suspend().await;
                return;
            }
        }
        self.abort_now().await;
    }

    /// Aborts the upload, which no record names (the save after its
    /// creation failed): kept first, so a crash during the abort leaves it known.
    async fn abort_inner(&mut self) {
        if let Some(rec) = self.bare_record() {
            self.s.log.abandoned(rec).await;
        }
        self.abort_now().await;
    }

    /// This upload's id and place, if it was created.
    fn bare_record(&self) -> Option<UploadRecord> {
        Some(UploadRecord {
            bucket: self.s.bucket.clone(),
            key: self.key.clone(),
            upload_id: self.upload_id.clone()?,
            progress: None,
        })
    }

    /// Stops the parts in flight and aborts the upload, kept already.
    async fn abort_now(&mut self) {
        self.stream = None;
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(rec) = self.bare_record() {
            self.upload_id = None;
            if abort_multipart(&self.s.client, &rec).await {
                self.s.log.aborted(&rec.upload_id).await;
            }
        }
    }
}
