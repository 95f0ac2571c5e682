//! The queue in PostgreSQL: claims take the first due row of a lane with
//! `FOR UPDATE SKIP LOCKED`, so instances never wait on each other's
//! claims; every change to a job reads it `FOR UPDATE`, checks its guard
//! (the claim's generation fences a lapsed claimer out) and writes it back
//! with its columns in step.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::sql::{self, exec, opt, read, record, rows, E};
use super::{in_tx, PgRepo};
use crate::id::JobId;
use crate::queue::{FileIdentity, Job, JobState, Lane, UploadRecord};
use crate::state::moves::{self, Move};
use crate::state::queue::Guard;
use crate::state::{Gauges, Keep, NoticeTarget, Page, PageRequest, QueueRepo, StateError};
use crate::time::Timestamp;

/// Writes `job` whole, its columns in step; `insert` for a new one.
pub async fn put(c: &impl GenericClient, job: &Job, instance: &str, insert: bool) -> Result<(), E> {
    let lane = sql::lane(Lane::of(job.kind));
    let claimed_by = (job.state == JobState::Running).then_some(instance);
    let upload = job.upload.as_ref().map(|u| u.upload_id.as_str());
    let sql = if insert {
        "INSERT INTO jobs (id, lane, state, due_at, claimed_by, updated_at, upload_id, job) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    } else {
        "UPDATE jobs SET lane = $2, state = $3, due_at = $4, claimed_by = $5, updated_at = $6, \
         upload_id = $7, job = $8 WHERE id = $1"
    };
    let p: sql::Params = &[
        &&job.id.key()[..],
        &lane,
        &sql::state(job.state),
        &job.due_at(),
        &claimed_by,
        &job.updated_at,
        &upload,
        &sql::json(job),
    ];
    exec(c, sql, p).await.map(drop)
}

/// One job, locked for this transaction.
pub async fn locked(c: &impl GenericClient, id: JobId) -> Result<Option<Job>, E> {
    let row = opt(
        c,
        "SELECT job FROM jobs WHERE id = $1 FOR UPDATE",
        &[&&id.key()[..]],
    )
    .await?;
    row.map(|r| record(&r, 0, "jobs")).transpose()
}

/// Changes a job if `guard` admits it, in the transaction `c`; the state
/// before and the job after, or `None` when the guard refused.
pub async fn transition(
    c: &impl GenericClient,
    instance: &str,
    id: JobId,
    guard: Guard,
    change: impl FnOnce(&mut Job),
) -> Result<Option<(JobState, Job)>, E> {
    let Some(mut job) = locked(c, id).await? else {
        return Ok(None);
    };
    if !guard.admits(&job) {
        return Ok(None);
    }
    let before = job.state;
    change(&mut job);
    put(c, &job, instance, false).await?;
    Ok(Some((before, job)))
}

impl PgRepo {
    /// Changes a job under `guard`, one transaction; waking idle workers
    /// when it becomes due now.
    async fn moved(
        &self,
        id: JobId,
        guard: Guard,
        change: impl Fn(&mut Job) + Send + Sync,
        now: Option<Timestamp>,
    ) -> Result<Option<Job>, StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let moved = transition(&tx, instance, id, guard, &change).await?;
            let job = moved.map(|(_, j)| j);
            if let (Some(j), Some(now)) = (&job, now) {
                if j.due_at().is_some_and(|d| d <= now) && j.state != JobState::Running {
                    self.wake(Lane::of(j.kind));
                }
            }
            Ok(job)
        })
    }

    /// Ends `job`'s claim with `change` (a [`moves::ended`]) at `now`.
    async fn ending(
        &self,
        job: &Job,
        now: Timestamp,
        change: impl Move,
    ) -> Result<Option<Job>, StateError> {
        self.moved(job.id, Guard::Claim(job.claims), change, Some(now))
            .await
    }
}

#[async_trait::async_trait]
impl QueueRepo for PgRepo {
    async fn claim(
        &self,
        lane: Lane,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Job>, StateError> {
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let sql = "SELECT job FROM jobs WHERE lane = $1 AND due_at <= $2 \
                       ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED";
            let Some(row) = opt(&tx, sql, &[&sql::lane(lane), &now]).await? else {
                return Ok(None);
            };
            let mut job: Job = record(&row, 0, "jobs")?;
            if !Guard::Claimable(now).admits(&job) {
                return Ok(None);
            }
            moves::claimed(now, lease_until)(&mut job);
            put(&tx, &job, instance, false).await?;
            Ok(Some(job))
        })
    }

    async fn renew(
        &self,
        job: &Job,
        lease_until: Timestamp,
        bytes_done: u64,
        bytes_total: Option<u64>,
    ) -> Result<bool, StateError> {
        let change = moves::renewed(lease_until, bytes_done, bytes_total);
        let renewed = self.moved(job.id, Guard::Claim(job.claims), change, None);
        renewed.await.map(|j| j.is_some())
    }

    async fn note_creating(
        &self,
        job: &Job,
        pending: Option<UploadRecord>,
    ) -> Result<bool, StateError> {
        let change = moves::creating(pending);
        let noted = self.moved(job.id, Guard::Claim(job.claims), change, None);
        noted.await.map(|j| j.is_some())
    }

    async fn save_upload(
        &self,
        job: &Job,
        upload: Option<UploadRecord>,
    ) -> Result<bool, StateError> {
        let change = moves::upload_saved(upload);
        let saved = self.moved(job.id, Guard::Claim(job.claims), change, None);
        saved.await.map(|j| j.is_some())
    }

    async fn forget_upload(
        &self,
        job: &Job,
        upload: UploadRecord,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let instance = &self.inner.instance;
        let (id, claims) = (job.id, job.claims);
        in_tx!(self, |tx| {
            let forget = moves::upload_forgotten();
            let moved = transition(&tx, instance, id, Guard::Claim(claims), forget).await?;
            if moved.is_some() {
                super::uploads::abandon_in(&tx, upload.clone(), now).await?;
            }
            Ok(moved.is_some())
        })
    }

    async fn release(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.ending(job, now, moves::released(now)).await
    }

    async fn wait_for_store(
        &self,
        job: &Job,
        error: &str,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        let change = moves::waiting_for_store(error, now);
        self.ending(job, now, change).await
    }

    async fn retry_at(
        &self,
        job: &Job,
        error: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        self.ending(job, now, moves::retrying(error, at, now)).await
    }

    async fn fail(
        &self,
        job: &Job,
        error: &str,
        notices: Vec<NoticeTarget>,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        self.fail_job(job, error, notices, now).await
    }

    async fn delivered(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.ending(job, now, moves::delivered(now)).await
    }

    async fn retry_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError> {
        let change = moves::retried(now);
        self.moved(id, Guard::State(JobState::Failed), change, Some(now))
            .await
    }

    async fn dismiss_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError> {
        let change = moves::dismissed(now);
        self.moved(id, Guard::State(JobState::Failed), change, None)
            .await
    }

    /// Only this instance's: another instance's running jobs are its own
    /// until their lease lapses.
    async fn requeue_running(&self, now: Timestamp) -> Result<usize, StateError> {
        let instance = &self.inner.instance;
        in_tx!(self, |tx| {
            let sql = "SELECT id FROM jobs WHERE state = 'running' AND claimed_by = $1 FOR UPDATE";
            let mut n = 0;
            for row in rows(&tx, sql, &[instance]).await? {
                let Some(id) = JobId::from_bytes(row.get::<_, &[u8]>(0)) else {
                    continue;
                };
                let change = moves::requeued(now);
                let guard = Guard::State(JobState::Running);
                n += usize::from(
                    transition(&tx, instance, id, guard, change)
                        .await?
                        .is_some(),
                );
            }
            if n > 0 {
                self.wake(Lane::Files);
                self.wake(Lane::Notifications);
            }
            Ok(n)
        })
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StateError> {
        read!(self, |c| {
            let row = opt(&c, "SELECT job FROM jobs WHERE id = $1", &[&&id.key()[..]]).await?;
            row.map(|r| record(&r, 0, "jobs")).transpose()
        })
    }

    async fn job_for(
        &self,
        identity: &FileIdentity,
    ) -> Result<Option<(JobId, Option<Job>)>, StateError> {
        let sql = "SELECT n.job_id, j.job FROM job_names n LEFT JOIN jobs j ON j.id = n.job_id \
                   WHERE n.identity = $1";
        read!(self, |c| {
            let Some(row) = opt(&c, sql, &[&identity.as_bytes()]).await? else {
                return Ok(None);
            };
            let Some(id) = JobId::from_bytes(row.get::<_, &[u8]>(0)) else {
                return Ok(None);
            };
            let job = match row.get::<_, Option<serde_json::Value>>(1) {
                Some(_) => Some(record(&row, 1, "jobs")?),
                None => None,
            };
            Ok(Some((id, job)))
        })
    }

    async fn jobs(&self, page: PageRequest, keep: Keep<Job>) -> Result<Page<Job>, StateError> {
        super::listing::newest_first(self, "jobs", "job", page, keep).await
    }

    async fn next_due(&self, lane: Lane) -> Result<Option<Timestamp>, StateError> {
        let sql = "SELECT min(due_at) FROM jobs WHERE lane = $1 AND due_at IS NOT NULL";
        read!(self, |c| {
            let row = opt(&c, sql, &[&sql::lane(lane)]).await?;
            Ok(row.and_then(|r| r.get::<_, Option<Timestamp>>(0)))
        })
    }

    async fn gauges(&self, now: Timestamp) -> Result<Gauges, StateError> {
        read!(self, |c| {
            let counted = rows(&c, "SELECT state, count(*) FROM jobs GROUP BY state", &[]).await?;
            let mut by_state: Vec<(JobState, u64)> =
                JobState::ALL.iter().map(|s| (*s, 0)).collect();
            for r in counted {
                if let Some(s) = sql::state_of(r.get(0)) {
                    let n: i64 = r.get(1);
                    by_state
                        .iter_mut()
                        .filter(|(x, _)| *x == s)
                        .for_each(|(_, c)| *c = n as u64);
                }
            }
            let sql = "SELECT count(*), min(due_at) FROM jobs WHERE due_at <= $1";
            let due = opt(&c, sql, &[&now]).await?;
            let (n, oldest) = due.map_or((0, None), |r| (r.get::<_, i64>(0), r.get(1)));
            let oldest: Option<Timestamp> = oldest;
            Ok(Gauges {
                by_state,
                due_now: n as u64,
                oldest_due_age_s: oldest
                    .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
            })
        })
    }

    async fn uploads_in_jobs(&self) -> Result<Vec<String>, StateError> {
        let sql = "SELECT upload_id FROM jobs WHERE upload_id IS NOT NULL";
        read!(self, |c| Ok(rows(&c, sql, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()))
    }

    fn wake_on_push(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        super::listen::spawn(self.inner.target.clone(), wake);
    }
}
