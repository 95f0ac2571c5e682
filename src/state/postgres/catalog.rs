//! The catalog in PostgreSQL, and the two ends of a job others hear of:
//! filed with its entry, or failed for good; each one transaction with the
//! notifications it calls for.

use deadpool_postgres::GenericClient;

use super::hls;
use super::listing::{list, Listing};
use super::push::{push_notices, Notice};
use super::queue::transition;
use super::sql::{exec, json, opt, read, record, rows, E};
use super::{in_tx, PgRepo};
use crate::catalog::{CatalogEntry, Part};
use crate::id::{EntryId, JobId, TimeKey};
use crate::queue::{Job, Lane};
use crate::state::moves;
use crate::state::notices::{archived_body, failed_body};
use crate::state::queue::Guard;
use crate::state::{
    CatalogRepo, Filed, Filing, HlsRecording, HourTally, Keep, NoticeTarget, Page, PageRequest,
    StateError,
};
use crate::time::Timestamp;

/// Files and bytes by hour from `from` on: an entry id's first 8 bytes
/// are its filing time in milliseconds, big-endian.
async fn tally(c: &impl GenericClient, from: &TimeKey) -> Result<Vec<HourTally>, E> {
    let sql = "SELECT ('x' || encode(substring(id FROM 1 FOR 8), 'hex'))::bit(64)::bigint \
                      / 3600000 AS hour, count(*), sum((entry->>'size')::bigint)::bigint \
               FROM catalog WHERE id >= $1 GROUP BY 1 ORDER BY 1";
    let found = rows(c, sql, &[&&from.as_bytes()[..]]).await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(found
        .iter()
        .map(|r| HourTally {
            hour: r.get(0),
            files: n(r.get(1)),
            bytes: n(r.get::<_, Option<i64>>(2).unwrap_or(0)),
        })
        .collect())
}

/// Whether the catalog holds `id`.
async fn held(c: &impl GenericClient, id: &EntryId) -> Result<bool, E> {
    let row = opt(c, "SELECT 1 FROM catalog WHERE id = $1", &[&&id.key()[..]]).await?;
    Ok(row.is_some())
}

/// Files `entry` (again, if it was: the same id is the same file).
pub async fn file(c: &impl GenericClient, entry: &CatalogEntry) -> Result<(), E> {
    let sql = "INSERT INTO catalog (id, stream, entry) VALUES ($1, $2, $3) \
               ON CONFLICT (id) DO UPDATE SET stream = excluded.stream, entry = excluded.entry";
    let stream = entry.stream.name.clone().unwrap_or_default();
    exec(c, sql, &[&&entry.id.key()[..], &stream, &json(entry)])
        .await
        .map(drop)
}

/// Files an archived file: its entry (taking in the parts kept ahead of
/// it), or, for a segment ahead of its playlist, its part.
async fn file_entry(c: &impl GenericClient, entry: &CatalogEntry) -> Result<(), E> {
    if let Some(playlist) = &entry.file.playlist {
        let part = crate::state::catalog::segment_part(entry);
        let rec = HlsRecording::of(&entry.source, playlist, &entry.file);
        return hls::file_part(c, &rec, &part).await;
    }
    file(c, entry).await?;
    let rec = HlsRecording::of(&entry.source, entry.origin.as_str(), &entry.file);
    hls::consume(c, &rec, &entry.parts).await
}

/// Queues `entry` for this instance's next manifest.
pub async fn queue_manifest(c: &impl GenericClient, instance: &str, id: &EntryId) -> Result<(), E> {
    let sql =
        "INSERT INTO manifest_queue (instance, entry_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    exec(c, sql, &[&instance, &&id.key()[..]]).await.map(drop)
}

/// One entry by id.
pub async fn get(c: &impl GenericClient, id: EntryId) -> Result<Option<CatalogEntry>, E> {
    let row = opt(
        c,
        "SELECT entry FROM catalog WHERE id = $1",
        &[&&id.key()[..]],
    )
    .await?;
    row.map(|r| record(&r, 0, "catalog")).transpose()
}

impl PgRepo {
    /// See [`crate::state::QueueRepo::fail`].
    pub(super) async fn fail_job(
        &self,
        job: &Job,
        error: &str,
        notices: Vec<NoticeTarget>,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        let ids = self.job_ids(notices.len(), &now).await?;
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let change = moves::failed(error, now);
            let guard = Guard::Claim(job.claims);
            let Some((_, failed)) = transition(&tx, instance, job.id, guard, change).await? else {
                return Ok(None);
            };
            let body = failed_body(&failed, error);
            let subject = crate::state::notices::failed_subject(job);
            let notice = Notice {
                kind: "failed",
                source: &job.source,
                subject: &subject,
                event_id: job.event_id,
                body: &body,
            };
            let told = push_notices(&tx, &ids, &notices, &notice, now, instance).await?;
            if !told.is_empty() {
                self.wake(Lane::Notifications);
            }
            Ok(Some(failed))
        })
    }
}

#[async_trait::async_trait]
impl CatalogRepo for PgRepo {
    async fn new_entry_id(&self, at: Timestamp) -> Result<EntryId, StateError> {
        Ok(EntryId(self.new_key(&at).await?))
    }

    async fn file_archived(&self, job: &Job, filing: Filing) -> Result<Filed, StateError> {
        let Filing {
            entry,
            manifest,
            notices,
            now,
        } = filing;
        let ids = self.job_ids(notices.len(), &now).await?;
        let instance = &self.inner.instance;
        let done = moves::archived(entry.size, now);
        in_tx!(self, |tx| {
            let guard = Guard::Claim(job.claims);
            let Some((_, done)) = transition(&tx, instance, job.id, guard, &done).await? else {
                return Ok(Filed {
                    job: None,
                    notified: false,
                });
            };
            // An entry filed before is in the manifests and told of already.
            let again = held(&tx, &entry.id).await?;
            file_entry(&tx, &entry).await?;
            if manifest && !again && entry.file.playlist.is_none() {
                queue_manifest(&tx, instance, &entry.id).await?;
            }
            let mut notified = false;
            if !again {
                let (subject, body) = (entry.id.to_string(), archived_body(&entry));
                let notice = Notice {
                    kind: "archived",
                    source: &job.source,
                    subject: &subject,
                    event_id: entry.event_id,
                    body: &body,
                };
                notified = !push_notices(&tx, &ids, &notices, &notice, now, instance)
                    .await?
                    .is_empty();
                if notified {
                    self.wake(Lane::Notifications);
                }
            }
            Ok(Filed {
                job: Some(done),
                notified,
            })
        })
    }

    async fn file_found(&self, entry: CatalogEntry, manifest: bool) -> Result<bool, StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            if held(&tx, &entry.id).await? {
                return Ok(false);
            }
            file(&tx, &entry).await?;
            if manifest {
                queue_manifest(&tx, instance, &entry.id).await?;
            }
            Ok(true)
        })
    }

    async fn entry(&self, id: EntryId) -> Result<Option<CatalogEntry>, StateError> {
        read!(self, |c| get(&c, id).await)
    }

    async fn entries(
        &self,
        stream: Option<String>,
        page: PageRequest,
        keep: Keep<CatalogEntry>,
    ) -> Result<Page<CatalogEntry>, StateError> {
        let l = Listing {
            table: "catalog",
            key: "id",
            column: "entry",
            newest_first: true,
            only: stream.map(|s| ("stream", s)),
        };
        list(self, &l, page, keep).await
    }

    async fn archived_by_hour(&self, since: Timestamp) -> Result<Vec<HourTally>, StateError> {
        let hour = since.timestamp().div_euclid(3600);
        let from = TimeKey::new(u64::try_from(hour * 3600 * 1000).unwrap_or(0), 0);
        read!(self, |c| tally(&c, &from).await)
    }

    async fn hls_parts(&self, rec: &HlsRecording) -> Result<Vec<Part>, StateError> {
        read!(self, |c| hls::parts_of(&c, rec).await)
    }

    async fn keep_hls_part(&self, rec: &HlsRecording, part: Part) -> Result<(), StateError> {
        in_tx!(self, |tx| hls::file_part(&tx, rec, &part).await)
    }

    async fn hls_pending(&self, rec: &HlsRecording) -> Result<Vec<JobId>, StateError> {
        read!(self, |c| hls::pending_of(&c, rec).await)
    }

    async fn hls_not_pending(&self, rec: &HlsRecording, job: JobId) -> Result<(), StateError> {
        read!(self, |c| hls::not_pending(&c, rec, job).await)
    }

    async fn hls_unclosed(
        &self,
        source: &str,
        playlist: &str,
    ) -> Result<Option<Timestamp>, StateError> {
        read!(self, |c| hls::unclosed(&c, source, playlist).await)
    }
}
