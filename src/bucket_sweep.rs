//! The platform's own bucket, swept: a source with an `s3` origin and
//! `sweep = true` lists the bucket under `sweep_prefix` every
//! `sweep_interval_secs` and queues each settled object no job knows, so a
//! recording whose callback was lost is archived all the same.
//!
//! An object is known by its `bucket/key` ([`FileIdentity::object`]): a
//! callback's file at the same origin carries the same name, and whichever
//! of the two finders comes second finds the first one's job. Listing is
//! incremental: after a full listing (at start, then hourly) only keys past
//! the watermark (`StartAfter`) are listed, so a bucket of millions is not
//! read from the start every interval. The watermark stops before the
//! first object not settled yet, so none is stepped over.

use std::time::Duration;

use aws_sdk_s3::Client;
use chrono::FixedOffset;

use crate::background::{Next, Worker};
use crate::config::{sweep_matcher, Config, OriginConfig};
use crate::event::{Event, EventKind, FileFacts, FileInfo, FoundBy, Location, ParsedEvent};
use crate::providers::Provider;
use crate::queue::FileIdentity;
use crate::state::{Callback, Repo, StateError};
use crate::time::Timestamp;

mod layout;

pub use layout::{utc_offset, KeyPattern};

/// Swept events recorded per durable commit.
const BATCH: usize = 100;

/// A full listing this often; incremental ones in between.
const FULL_EVERY: Duration = Duration::from_secs(3600);

/// HLS pieces are archived through their playlist's callback, never one by
/// one as recordings of their own.
const PIECES: [&str; 3] = ["ts", "m4s", "m3u8"];

/// One source's bucket sweep.
pub struct BucketSweep {
    source: String,
    provider: Provider,
    client: Client,
    bucket: String,
    /// The origin names the bucket: locations are keys; else `bucket/key`.
    in_bucket: bool,
    prefix: String,
    every: Duration,
    settle: Duration,
    glob: Option<globset::GlobMatcher>,
    pattern: Option<KeyPattern>,
    offset: FixedOffset,
    repo: Repo,
    /// Notified when the sweep queued jobs.
    wake: std::sync::Arc<tokio::sync::Notify>,
    /// The last key every object up to which is known or queued.
    watermark: Option<String>,
    /// When the next full listing is due.
    next_full: tokio::time::Instant,
}

/// An object as listed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub modified: Timestamp,
}

impl BucketSweep {
    /// The bucket sweeps the configuration asks for.
    pub async fn all(
        config: &Config,
        repo: &Repo,
        wake: &std::sync::Arc<tokio::sync::Notify>,
    ) -> Vec<BucketSweep> {
        let mut sweeps = Vec::new();
        for s in &config.sources {
            let Some(OriginConfig::S3 {
                endpoint,
                bucket,
                region,
                force_path_style,
                access_key_id,
                secret_access_key,
                sweep: true,
                sweep_bucket,
                sweep_prefix,
                sweep_interval_secs,
                settle_secs,
                sweep_glob,
                sweep_key_pattern,
                sweep_key_utc_offset,
            }) = &s.origin
            else {
                continue;
            };
            // Each is refused at config check when it is missing or wrong.
            let Some(listed) = bucket.clone().or_else(|| sweep_bucket.clone()) else {
                continue;
            };
            let client = crate::s3client::client(
                endpoint.as_deref(),
                region,
                *force_path_style,
                access_key_id.as_deref(),
                secret_access_key.expose(),
                Duration::from_secs(config.transfer.request_timeout_secs),
            )
            .await;
            sweeps.push(BucketSweep {
                source: s.name.clone(),
                provider: s.provider,
                client,
                bucket: listed,
                in_bucket: bucket.is_some(),
                prefix: sweep_prefix.clone(),
                every: Duration::from_secs((*sweep_interval_secs).max(1)),
                settle: Duration::from_secs(*settle_secs),
                glob: sweep_glob.as_deref().and_then(|g| sweep_matcher(g).ok()),
                pattern: sweep_key_pattern
                    .as_deref()
                    .and_then(|p| KeyPattern::parse(p).ok()),
                offset: sweep_key_utc_offset
                    .as_deref()
                    .and_then(|o| utc_offset(o).ok())
                    .unwrap_or_else(|| layout::default_offset(s.provider)),
                repo: repo.clone(),
                wake: std::sync::Arc::clone(wake),
                watermark: None,
                next_full: tokio::time::Instant::now(),
            });
        }
        sweeps
    }

    /// One listing, full or from the watermark: how many objects it queued.
    async fn pass(&mut self) -> Result<usize, String> {
        let full = tokio::time::Instant::now() >= self.next_full;
        if full {
            self.next_full = tokio::time::Instant::now() + FULL_EVERY;
        }
        let start_after = if full { None } else { self.watermark.clone() };
        let settled_before =
            chrono::Utc::now() - chrono::Duration::from_std(self.settle).unwrap_or_default();
        let mut token = None;
        let mut queued = 0;
        // Advanced only over keys settled and handled, in listing order.
        let mut watermark = start_after.clone();
        let mut blocked = false;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_start_after(start_after.clone())
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "listing s3://{}/{}: {}",
                        self.bucket,
                        self.prefix,
                        crate::retry::describe_s3(&e)
                    )
                })?;
            let mut found = Vec::new();
            for o in page.contents() {
                let (Some(key), Some(modified)) = (o.key(), o.last_modified()) else {
                    continue;
                };
                let modified = Timestamp::from_timestamp(modified.secs(), 0).unwrap_or_default();
                if modified > settled_before {
                    blocked = true; // perhaps still announced: next time
                    continue;
                }
                if !blocked {
                    watermark = Some(key.to_owned());
                }
                let listed = Listed {
                    key: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(|e| e.trim_matches('"').to_owned()),
                    modified,
                };
                if self.wanted(&listed.key) {
                    found.push(listed);
                }
            }
            queued += self.queue(found).await.map_err(|e| e.to_string())?;
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        self.watermark = watermark;
        Ok(queued)
    }

    /// Whether the object at `key` is a file to archive.
    fn wanted(&self, key: &str) -> bool {
        let name = key.rsplit('/').next().unwrap_or(key);
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        !name.is_empty()
            && !ext.is_some_and(|e| PIECES.contains(&e.as_str()))
            && self.glob.as_ref().is_none_or(|g| g.is_match(name))
    }

    /// Queues the objects no job knows; how many.
    async fn queue(&self, listed: Vec<Listed>) -> Result<usize, StateError> {
        let now = chrono::Utc::now();
        let mut events = Vec::new();
        for l in listed {
            let object = format!("{}/{}", self.bucket, l.key);
            let announced = FileIdentity::object(&self.source, &object, false);
            if self.repo.job_for(&announced).await?.is_some() {
                continue;
            }
            let event = self.found(&l, object, now);
            if let Some(file) = &event.file {
                // Swept before, this very version: nothing new.
                if self
                    .repo
                    .job_for(&FileIdentity::of(&self.source, file))
                    .await?
                    .is_some()
                {
                    continue;
                }
            }
            events.push(event);
        }
        let n = events.len();
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(BATCH));
            self.repo
                .record_callback(Callback::untold(events, now))
                .await?;
            events = rest;
        }
        Ok(n)
    }

    /// The event a listed object becomes, its facts read from its key.
    fn found(&self, l: &Listed, object: String, now: Timestamp) -> Event {
        let facts = layout::read(&l.key, self.provider, self.pattern.as_ref(), self.offset);
        let location = Location::Path(if self.in_bucket {
            l.key.clone()
        } else {
            object.clone()
        });
        let kind = match location.extension().as_deref() {
            Some("jpg" | "jpeg" | "png" | "webp") => EventKind::SnapshotReady,
            _ => EventKind::RecordingReady,
        };
        let mut e = ParsedEvent::new(self.provider, kind, "sweep");
        e.stream.domain = facts.domain;
        e.stream.app = facts.app;
        e.stream.name = facts.stream;
        e.occurred_at = facts.end.or(facts.start).or(Some(l.modified));
        e.file = Some(FileInfo {
            location,
            size: Some(l.size),
            facts: FileFacts {
                format: facts.format,
                started_at: facts.start,
                ended_at: facts.end.or(Some(l.modified)),
                object: Some(object),
                etag: l.etag.clone(),
                ..FileFacts::default()
            },
        });
        let raw = serde_json::json!({"found_by": "sweep", "bucket": self.bucket, "key": l.key,
            "size": l.size, "etag": l.etag,
            "last_modified": l.modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
        .to_string();
        let mut event = e.into_event(&self.source, now, &raw);
        event.found_by = FoundBy::Sweep;
        event
    }
}

#[async_trait::async_trait]
impl Worker for BucketSweep {
    fn name(&self) -> String {
        format!("bucket sweep of {}", self.source)
    }

    async fn work(&mut self) -> Next {
        match self.pass().await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(source = %self.source, bucket = %self.bucket, objects = n,
                    "the bucket sweep found recordings no callback announced");
                self.wake.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(source = %self.source, error = %e, "the bucket sweep failed; trying again later")
            }
        }
        Next::Idle
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await;
    }
}
