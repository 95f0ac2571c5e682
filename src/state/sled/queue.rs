//! The queue's records in sled: jobs by id, the due index, the identities
//! that find a file's job. Every change goes through [`Inner::transition`],
//! which keeps the due index and the job counts in step with the job.

mod claim;
mod counts;
pub mod due;
pub mod push;

use std::time::Duration;

pub use counts::Counts;
use due::Lane;

use super::kv::{decode, encode, tx_get_json, Order, Tree, Tx, TxError};
use super::{Inner, SledRepo};
use crate::id::JobId;
use crate::queue::{FileIdentity, Job, JobState, UploadRecord};
use crate::state::moves::{self, Move};
use crate::state::queue::Guard;
use crate::state::{Gauges, Keep, NoticeTarget, Page, PageRequest, QueueRepo, StateError};
use crate::time::Timestamp;

/// Something else to write in the same transaction as a job's change.
pub type Also<'a> = &'a dyn Fn(&Tx) -> Result<(), TxError>;

impl Inner {
    /// Changes a job if `guard` admits it, keeping the due index in step, and
    /// writes `also` in the same transaction. `None` when the guard refused
    /// (the claim was lost, or the state moved on).
    pub(super) fn transition(
        &self,
        id: JobId,
        guard: Guard,
        change: impl Fn(&mut Job),
        also: Option<Also>,
    ) -> Result<Option<Job>, StateError> {
        let moved = self
            .db
            .transaction(|tx| transition_in(tx, id, guard, &change, also))?;
        Ok(moved.map(|(before, job)| {
            self.counts.moved(Some(before), Some(job.state));
            job
        }))
    }

    fn get(&self, id: JobId) -> Result<Option<Job>, StateError> {
        self.db.get_json(Tree::Jobs, id.key())
    }
}

/// [`Inner::transition`] inside a transaction; the state before and the job after.
fn transition_in(
    tx: &Tx,
    id: JobId,
    guard: Guard,
    change: &dyn Fn(&mut Job),
    also: Option<Also>,
) -> Result<Option<(JobState, Job)>, TxError> {
    let Some(mut job) = tx_get_json::<Job>(tx, Tree::Jobs, id.key())? else {
        return Ok(None);
    };
    if !guard.admits(&job) {
        return Ok(None);
    }
    let (due_before, state_before) = (job.due_at(), job.state);
    change(&mut job);
    due::reindex(tx, &id, Lane::of(job.kind), due_before, job.due_at())?;
    tx.insert(Tree::Jobs, id.key(), &encode(&job))?;
    if let Some(also) = also {
        also(tx)?;
    }
    Ok(Some((state_before, job)))
}

#[async_trait::async_trait]
impl QueueRepo for SledRepo {
    async fn claim(
        &self,
        lane: Lane,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Job>, StateError> {
        self.blocking(move |i| i.claim_in(lane, now, lease)).await
    }

    async fn renew(
        &self,
        job: &Job,
        lease_until: Timestamp,
        bytes_done: u64,
        bytes_total: Option<u64>,
    ) -> Result<bool, StateError> {
        let renewed = self.under_claim(job, moves::renewed(lease_until, bytes_done, bytes_total));
        renewed.await.map(|j| j.is_some())
    }

    async fn note_creating(
        &self,
        job: &Job,
        pending: Option<UploadRecord>,
    ) -> Result<bool, StateError> {
        let noted = self.under_claim(job, moves::creating(pending));
        self.durably(noted.await?.is_some()).await
    }

    async fn save_upload(
        &self,
        job: &Job,
        upload: Option<UploadRecord>,
    ) -> Result<bool, StateError> {
        let saved = self.under_claim(job, moves::upload_saved(upload));
        self.durably(saved.await?.is_some()).await
    }

    async fn forget_upload(
        &self,
        job: &Job,
        upload: UploadRecord,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let (id, claims) = (job.id, job.claims);
        let keep = move |tx: &Tx| super::uploads::abandon_in(tx, upload.clone(), now);
        self.blocking(move |i| {
            let forget = moves::upload_forgotten();
            i.transition(id, Guard::Claim(claims), forget, Some(&keep))
        })
        .await
        .map(|j| j.is_some())
    }

    async fn release(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.ending(job, moves::released(now)).await
    }

    async fn wait_for_store(
        &self,
        job: &Job,
        error: &str,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        self.ending(job, moves::waiting_for_store(error, now)).await
    }

    async fn retry_at(
        &self,
        job: &Job,
        error: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        self.ending(job, moves::retrying(error, at, now)).await
    }

    async fn fail(
        &self,
        job: &Job,
        error: &str,
        notices: Vec<NoticeTarget>,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError> {
        let (job, error) = (job.clone(), error.to_owned());
        self.blocking(move |i| i.fail(&job, &error, &notices, now))
            .await
    }

    async fn delivered(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.ending(job, moves::delivered(now)).await
    }

    async fn retry_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.blocking(move |i| {
            i.transition(
                id,
                Guard::State(JobState::Failed),
                moves::retried(now),
                None,
            )
        })
        .await
    }

    async fn dismiss_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError> {
        self.blocking(move |i| {
            let guard = Guard::State(JobState::Failed);
            i.transition(id, guard, moves::dismissed(now), None)
        })
        .await
    }

    async fn requeue_running(&self, now: Timestamp) -> Result<usize, StateError> {
        self.blocking(move |i| i.requeue_running(now)).await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StateError> {
        self.blocking(move |i| i.get(id)).await
    }

    async fn job_for(
        &self,
        identity: &FileIdentity,
    ) -> Result<Option<(JobId, Option<Job>)>, StateError> {
        let identity = identity.clone();
        self.blocking(move |i| {
            let id = i.db.get(Tree::Dedupe, identity.as_bytes())?;
            match id.and_then(|id| JobId::from_bytes(&id)) {
                Some(id) => Ok(Some((id, i.get(id)?))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn jobs(&self, page: PageRequest, keep: Keep<Job>) -> Result<Page<Job>, StateError> {
        self.blocking(move |i| i.db.list(Tree::Jobs, Order::Descending, &page, keep))
            .await
    }

    async fn next_due(&self, lane: Lane) -> Result<Option<Timestamp>, StateError> {
        self.blocking(move |i| Ok(due::first_in(&i.db, lane, 512)?.map(crate::time::from_millis)))
            .await
    }

    async fn gauges(&self, now: Timestamp) -> Result<Gauges, StateError> {
        self.blocking(move |i| i.gauges(now)).await
    }

    async fn uploads_in_jobs(&self) -> Result<Vec<String>, StateError> {
        self.blocking(|i| {
            let mut ids = Vec::new();
            for item in i.db.iter(Tree::Jobs) {
                let (_, v) = item?;
                let job: Job = decode(Tree::Jobs, &v)?;
                ids.extend(job.upload.map(|u| u.upload_id));
            }
            Ok(ids)
        })
        .await
    }
}

impl SledRepo {
    /// Changes `job` while its claim holds, on the blocking pool.
    async fn under_claim(
        &self,
        job: &Job,
        change: impl Fn(&mut Job) + Send + 'static,
    ) -> Result<Option<Job>, StateError> {
        let (id, claims) = (job.id, job.claims);
        self.blocking(move |i| i.transition(id, Guard::Claim(claims), change, None))
            .await
    }

    /// Ends `job`'s claim with `change` (a [`moves::ended`]), on the blocking pool.
    async fn ending(&self, job: &Job, change: impl Move) -> Result<Option<Job>, StateError> {
        let (id, claims) = (job.id, job.claims);
        self.blocking(move |i| i.transition(id, Guard::Claim(claims), change, None))
            .await
    }

    /// `Ok(done)`, once every write before it is durable when `done`.
    async fn durably(&self, done: bool) -> Result<bool, StateError> {
        if done {
            self.inner.db.durable().await?;
        }
        Ok(done)
    }
}

impl Inner {
    /// Puts jobs a crash left `running` back to `queued`, due now. Their
    /// multipart upload, if any, stays recorded so the next claim
    /// continues (or aborts) it.
    fn requeue_running(&self, now: Timestamp) -> Result<usize, StateError> {
        let mut ids = Vec::new();
        for item in self.db.iter(Tree::Jobs) {
            let (_, v) = item?;
            let job: Job = decode(Tree::Jobs, &v)?;
            if job.state == JobState::Running {
                ids.push(job.id);
            }
        }
        let mut n = 0;
        let change = moves::requeued(now);
        for id in ids {
            let moved = self.transition(id, Guard::State(JobState::Running), &change, None)?;
            n += usize::from(moved.is_some());
        }
        Ok(n)
    }
}
