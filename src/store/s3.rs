//! An S3 bucket store. Files up to one part go up in one PutObject; larger
//! ones through multipart upload with at most `parts_in_flight` parts at
//! once, each with its CRC32C (`x-amz-checksum-crc32c`) so the server
//! verifies every part, and the whole object with a full-object CRC32C. A
//! failed upload is aborted, never left to accrue storage.
//!
//! By default each part is buffered whole, as its checksum header precedes
//! its body. With `transfer.stream_parts`, a file of known size streams
//! each part instead (aws-chunked, its CRC32C as a trailer): memory does not
//! grow with the part size. Buffered bodies are sent with payload signing disabled: the signed
//! checksum header already guards their integrity, and signing would hash
//! every byte with SHA-256 once more (measured: see BENCHMARKS.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod conditional;
mod objects;
pub(crate) mod options;
mod orphans;
mod upload;

use aws_sdk_s3::types::CompletedPart;
use aws_sdk_s3::Client;

use super::{KeyTemplate, UploadLog};
use crate::config::{StoreConfig, TransferConfig};
use crate::digest::Hasher;
use crate::retry::Failure;
use crate::upload::PartPlan;
use crate::upload::{OriginMark, Progress, UploadRecord};
// Kept at this path too: the integration tests build their S3 client with it.
use super::place::Placement;
pub use crate::s3client::client;
use orphans::abort_multipart;
pub use upload::S3Upload;
use upload::Setup;

pub struct S3Store {
    client: Client,
    bucket: String,
    pub(super) template: KeyTemplate,
    /// New multipart uploads get a full-object CRC32C.
    full_object: bool,
    /// `[store]`'s storage class, encryption, retention and tags.
    options: options::Written,
    pub(super) health: super::health::StoreHealth,
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
            full_object_checksum,
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
            full_object: *full_object_checksum,
            options: options::Written(cfg.object_options().unwrap_or_default()),
            health: Default::default(),
        })
    }

    pub(super) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(super) async fn begin(
        &self,
        key: String,
        origin: OriginMark,
        metadata: BTreeMap<String, String>,
        t: &TransferConfig,
        log: Arc<dyn UploadLog>,
    ) -> Result<S3Upload, Failure> {
        let plan = PartPlan::new(origin.size, t.part_size, t.max_file_bytes)
            .map_err(Failure::permanent)?;
        let placement = Placement::find(&key, |k| self.recorded_sha256(k)).await?;
        Ok(S3Upload::new(Setup {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            placement,
            plan,
            metadata,
            max_in_flight: t.parts_in_flight,
            origin,
            log,
            full_object: self.full_object,
            options: self.options.clone(),
            stream_parts: t.stream_parts,
        }))
    }

    /// Continues the upload `rec` left by an earlier attempt of the file
    /// whose template key is `key`, if its parts are still in the store as
    /// recorded and no object took its key meanwhile. Otherwise it is
    /// aborted and `None` says to start afresh.
    pub(super) async fn resume(
        &self,
        key: String,
        rec: &UploadRecord,
        metadata: BTreeMap<String, String>,
        t: &TransferConfig,
        log: Arc<dyn UploadLog>,
    ) -> Result<Option<S3Upload>, Failure> {
        let usable = rec
            .progress
            .as_ref()
            .filter(|p| p.offset > 0 && rec.bucket == self.bucket)
            .and_then(|p| Some((p, Hasher::resume(&p.hashes)?)))
            .filter(|(p, h)| h.size() == p.offset);
        let Some((progress, hasher)) = usable else {
            self.abort_stale(rec, log.as_ref()).await;
            return Ok(None);
        };
        let placement = Placement::find(&key, |k| self.recorded_sha256(k)).await?;
        let setup = |placement| Setup {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            placement,
            plan: progress.plan,
            metadata: metadata.clone(),
            max_in_flight: t.parts_in_flight,
            origin: progress.origin.clone(),
            log: Arc::clone(&log),
            // As the upload was created.
            full_object: progress.full_object,
            options: self.options.clone(),
            stream_parts: t.stream_parts,
        };
        if placement.key != rec.key {
            if self.completed_meanwhile(rec, progress, &metadata).await? {
                tracing::info!(key = %rec.key, "the store completed the upload after the last attempt stopped waiting");
                let u = S3Upload::completed(setup(placement), rec, progress, hasher);
                return Ok(Some(u));
            }
            tracing::info!(key = %rec.key, "an object took the upload's key meanwhile; starting afresh");
            self.abort_stale(rec, log.as_ref()).await;
            return Ok(None);
        }
        let Some(listed) = self.listed_parts(rec).await? else {
            tracing::info!(key = %rec.key, upload_id = %rec.upload_id, "the upload is gone from the store; starting afresh");
            return Ok(None);
        };
        // Each part as planned, the last one recorded possibly shorter
        // (a file of unknown length ends where it ends); together exactly
        // the bytes the hash state covers.
        let mut kept = Vec::new();
        let mut covered = 0u64;
        for n in 1..=progress.parts as i32 {
            let expected = progress
                .plan
                .part_size(n as u64)
                .min(progress.offset.saturating_sub(covered));
            match listed.get(&n) {
                Some((size, part)) if *size == expected && expected > 0 => {
                    covered += size;
                    kept.push(part.clone());
                }
                _ => {
                    tracing::warn!(key = %rec.key, part = n, "a recorded part is missing or of another size; starting afresh");
                    self.abort_stale(rec, log.as_ref()).await;
                    return Ok(None);
                }
            }
        }
        if covered != progress.offset || hasher.size() != progress.offset {
            tracing::warn!(key = %rec.key, covered, offset = progress.offset, hashed = hasher.size(),
                "the upload's record does not add up; starting afresh");
            self.abort_stale(rec, log.as_ref()).await;
            return Ok(None);
        }
        tracing::info!(key = %rec.key, parts = progress.parts, offset = progress.offset, "continuing the multipart upload of an earlier attempt");
        let u = S3Upload::resumed(setup(placement), rec, progress, hasher, kept);
        Ok(Some(u))
    }

    /// Whether the object at `rec.key` is this very upload, completed by
    /// the store after the attempt that asked stopped waiting (a timeout, a
    /// crash): every byte was in its parts, the upload is gone, and the
    /// object is this job's (its metadata) and of the file's size.
    async fn completed_meanwhile(
        &self,
        rec: &UploadRecord,
        progress: &Progress,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool, Failure> {
        if let PartPlan::Known { size, .. } = progress.plan {
            if progress.offset != size {
                return Ok(false);
            }
        }
        // Gone, or (servers that answer for any id) without a part left.
        if self.listed_parts(rec).await?.is_some_and(|p| !p.is_empty()) {
            return Ok(false);
        }
        let head = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&rec.key)
            .send()
            .await
        {
            Ok(h) => h,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Ok(false)
            }
            Err(e) => return Err(self.head_failed(&rec.key, e).await),
        };
        // Complete is only ever asked once every byte is in a recorded part,
        // so an object of the recorded length is the whole file.
        let job = |m: Option<&std::collections::HashMap<String, String>>| {
            m.and_then(|m| m.get("job-id").cloned())
        };
        Ok(job(head.metadata()).is_some()
            && job(head.metadata()).as_ref() == metadata.get("job-id")
            && head.content_length() == i64::try_from(progress.offset).ok())
    }

    /// The parts of `rec`'s upload in the store, by number, with their
    /// sizes; `None` if the store no longer knows the upload.
    async fn listed_parts(
        &self,
        rec: &UploadRecord,
    ) -> Result<Option<BTreeMap<i32, (u64, CompletedPart)>>, Failure> {
        let mut parts = BTreeMap::new();
        let mut pages = self
            .client
            .list_parts()
            .bucket(&rec.bucket)
            .key(&rec.key)
            .upload_id(&rec.upload_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    return Ok(None)
                }
                Err(e) => return Err(Failure::from_store("ListParts", e)),
            };
            for p in page.parts() {
                let (Some(n), Some(size)) = (p.part_number(), p.size()) else {
                    continue;
                };
                let part = CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(p.e_tag().map(str::to_owned))
                    .set_checksum_crc32_c(p.checksum_crc32_c().map(str::to_owned))
                    .build();
                parts.insert(n, (size.max(0) as u64, part));
            }
        }
        Ok(Some(parts))
    }

    /// Aborts an upload an earlier attempt left, once the job's record of
    /// it is dropped (not at all if the claim is lost); if the abort fails,
    /// `log` keeps it to be aborted later.
    pub(super) async fn abort_stale(&self, rec: &UploadRecord, log: &dyn UploadLog) {
        if let Err(f) = log.forget(rec.clone()).await {
            tracing::warn!(error = %f, "the upload is not aborted: {f}");
            return;
        }
        if abort_multipart(&self.client, rec).await {
            log.aborted(&rec.upload_id).await;
            tracing::info!(key = %rec.key, upload_id = %rec.upload_id, "aborted a multipart upload left by an earlier attempt");
        }
    }

    /// Aborts the uploads at exactly `pending.key` other than `known`.
    pub(super) async fn abort_unrecorded(
        &self,
        pending: &UploadRecord,
        known: Option<&str>,
        log: &dyn UploadLog,
    ) -> Result<(), Failure> {
        let listed = orphans::list_uploads(&self.client, &pending.bucket, &pending.key).await?;
        for (rec, _) in listed {
            if rec.key != pending.key || Some(rec.upload_id.as_str()) == known {
                continue;
            }
            log.abandoned(rec.clone()).await;
            if abort_multipart(&self.client, &rec).await {
                log.aborted(&rec.upload_id).await;
                tracing::info!(key = %rec.key, upload_id = %rec.upload_id,
                    "aborted a multipart upload whose creation an earlier attempt never heard back from");
            }
        }
        Ok(())
    }

    /// The multipart uploads under the key template's fixed prefixes.
    pub(super) async fn open_uploads(
        &self,
    ) -> Result<Vec<(UploadRecord, Option<crate::time::Timestamp>)>, Failure> {
        let mut all = Vec::new();
        for prefix in self.template.fixed_prefixes() {
            all.extend(orphans::list_uploads(&self.client, &self.bucket, &prefix).await?);
        }
        Ok(all)
    }

    /// Aborts an upload, saying whether it worked (or it was already gone).
    pub async fn abort_upload(&self, rec: &UploadRecord) -> bool {
        abort_multipart(&self.client, rec).await
    }

    pub(super) async fn check(&self) -> Result<(), String> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            // A HEAD answer has no body, so no S3 error code: the status says it.
            Err(e) => Err(match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => format!(
                    "store: the bucket {:?} does not exist (HTTP 404, on HeadBucket): check [store] bucket, endpoint and region",
                    self.bucket
                ),
                // A listing of no keys (the same permission) says why.
                Some(_) => match self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .max_keys(0)
                    .send()
                    .await
                {
                    Err(g) if aws_sdk_s3::error::ProvideErrorMetadata::code(&g).is_some() => {
                        Failure::from_store("HeadBucket", g).message
                    }
                    _ => Failure::from_store("HeadBucket", e).message,
                },
                None => Failure::from_store("HeadBucket", e).message,
            }),
        }
    }
}
