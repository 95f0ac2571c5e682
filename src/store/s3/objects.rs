//! Whole small objects: the catalog manifests written once and never
//! replaced, and what `catalog rebuild` and download links read.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::conditional::create_only;
use super::options::{with_options, Role};
use super::S3Store;
use crate::retry::Failure;

impl S3Store {
    /// Whether an object is at `key` and the SHA-256 it records: in its
    /// metadata (single-part objects), or in its catalog sidecar.
    pub(super) async fn recorded_sha256(
        &self,
        key: String,
    ) -> Result<Option<Option<String>>, Failure> {
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
            Err(e) => return Err(self.head_failed(&key, e).await),
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

    /// Writes `key` unless an object is there: true when written.
    pub(in crate::store) async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, Failure> {
        let content_type = if key.ends_with(".jsonl") {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        let put = |condition: Option<&str>| {
            with_options!(self.client.put_object(), &self.options, Role::Sidecar)
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .set_if_none_match(condition.map(str::to_owned))
                .body(ByteStream::from(body.clone()))
                .send()
        };
        match create_only(put).await {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(false),
            Err(e) => Err(Failure::from_store(&format!("PutObject {key}"), e)),
        }
    }

    /// The object at `key`, if any.
    pub(in crate::store) async fn get(&self, key: &str) -> Result<Option<Bytes>, Failure> {
        let Some(mut r) = self.read(key).await? else {
            return Ok(None);
        };
        let mut whole = bytes::BytesMut::new();
        while let Some(piece) = futures_util::StreamExt::next(&mut r.pieces).await {
            let piece = piece.map_err(|e| Failure::transient(format!("GetObject {key}: {e}")))?;
            whole.extend_from_slice(&piece);
        }
        Ok(Some(whole.freeze()))
    }

    /// The object at `key` as it arrives, if there is one.
    pub(in crate::store) async fn read(
        &self,
        key: &str,
    ) -> Result<Option<crate::store::read::Reading>, Failure> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match got {
            Ok(o) => {
                let len = u64::try_from(o.content_length.unwrap_or(0)).unwrap_or(0);
                let pieces = futures_util::stream::unfold(o.body, |mut body| async move {
                    let piece = body.next().await?;
                    Some((piece.map_err(std::io::Error::other), body))
                });
                Ok(Some(crate::store::read::Reading {
                    len,
                    pieces: Box::pin(pieces),
                }))
            }
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(Failure::from_store(&format!("GetObject {key}"), e)),
        }
    }

    /// Every key under `prefix`.
    pub(in crate::store) async fn list(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::from_store("ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    /// A GET of `key` anyone holding the URL may make for `expires`.
    pub(in crate::store) async fn presign(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<String, Failure> {
        let config = PresigningConfig::expires_in(expires)
            .map_err(|e| Failure::permanent(format!("presigning: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| Failure::permanent(format!("presigning GetObject {key}: {e}")))?;
        Ok(req.uri().to_owned())
    }
}

impl S3Store {
    /// A HeadObject's failure, told as the store would tell it: a HEAD
    /// answer has no body, so no S3 error code; a one-byte GET of the same
    /// key (the same permission) says which (`SignatureDoesNotMatch`,
    /// `InvalidAccessKeyId`, `AccessDenied`, `NoSuchBucket`...).
    pub(super) async fn head_failed<E>(
        &self,
        key: &str,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Failure
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let what = format!("HeadObject {key}");
        if e.raw_response().is_none() {
            return Failure::from_store(&what, e);
        }
        let get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range("bytes=0-0")
            .send()
            .await;
        match get {
            Err(g) if aws_sdk_s3::error::ProvideErrorMetadata::code(&g).is_some() => {
                Failure::from_store(&what, g)
            }
            _ => Failure::from_store(&what, e),
        }
    }
}
