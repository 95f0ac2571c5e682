//! The archive job queue, in the domain's words: push (deduplicated by file),
//! claim (the claim is the lease), renew, complete, fail an attempt, release,
//! retry by hand, requeue after a crash. The queue keeps jobs; it never runs
//! them (that is the worker pool's). Its records live in the state store.

mod claim;
mod counts;
mod due;
mod job;
mod push;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use counts::Gauges;
pub use due::Lane;
pub use job::{FileIdentity, FileKind, Job, JobState, Notification, UploadRecord};
pub use push::{also_known_as, push, Pushed};

use crate::db::{
    decode, encode, tx_get_json, Db, DbError, Order, Page, PageRequest, Tree, Tx, TxError,
};
use crate::id::JobId;
use crate::time::Timestamp;

/// Which job may be changed.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// Only while this claim holds it: running, with this claim generation.
    Claim(u64),
    /// Only while it is in this state.
    State(JobState),
    /// Only if it may be claimed at this time: waiting and due, or running
    /// with its lease lapsed (its worker died).
    Claimable(Timestamp),
}

impl Guard {
    fn admits(self, job: &Job) -> bool {
        match self {
            Guard::Claim(generation) => job.state == JobState::Running && job.claims == generation,
            Guard::State(s) => job.state == s,
            Guard::Claimable(now) => {
                job.state != JobState::Done
                    && job.state != JobState::Failed
                    && job.due_at().is_some_and(|d| d <= now)
            }
        }
    }
}

/// Something else to write in the same transaction as a job's change (the
/// catalog entry of a completed job).
pub type Also<'a> = &'a dyn Fn(&Tx) -> Result<(), TxError>;

/// The queue over a state store. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    db: Db,
    counts: Arc<counts::Counts>,
    session_gap: Duration,
}

impl Queue {
    /// The queue of `db`'s jobs (read once, to count them by state).
    pub fn new(db: Db) -> Result<Queue, DbError> {
        let counts = Arc::new(counts::Counts::read(&db)?);
        let session_gap = Duration::from_secs(60);
        Ok(Queue {
            db,
            counts,
            session_gap,
        })
    }

    /// The same queue, a stream restarted within `gap` of its stop keeping
    /// its publish session (`state.session_gap_secs`).
    pub fn with_session_gap(mut self, gap: Duration) -> Queue {
        self.session_gap = gap;
        self
    }

    /// See [`Queue::with_session_gap`].
    pub fn session_gap(&self) -> Duration {
        self.session_gap
    }

    /// The state store the queue keeps its jobs in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A fresh job id for a job created at `at`.
    pub fn new_id(&self, at: &Timestamp) -> Result<JobId, DbError> {
        self.db.new_key(at).map(JobId)
    }

    /// One job by id.
    pub fn get(&self, id: JobId) -> Result<Option<Job>, DbError> {
        self.db.get_json(Tree::Jobs, id.key())
    }

    /// Jobs, newest first.
    pub fn list(
        &self,
        page: &PageRequest,
        keep: impl Fn(&Job) -> bool,
    ) -> Result<Page<Job>, DbError> {
        self.db.list(Tree::Jobs, Order::Descending, page, keep)
    }

    /// Resolves once every change made before the call is on disk.
    pub async fn durable(&self) -> Result<(), DbError> {
        self.db.durable().await
    }

    /// Changes a job if `guard` admits it, keeping the due index in step, and
    /// writes `also` in the same transaction. `None` when the guard refused
    /// (the claim was lost, or the state moved on).
    fn transition(
        &self,
        id: JobId,
        guard: Guard,
        change: impl Fn(&mut Job),
        also: Option<Also>,
    ) -> Result<Option<Job>, DbError> {
        let moved = self.db.transaction(|tx| {
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
        })?;
        Ok(moved.map(|(before, job)| {
            self.counts.moved(Some(before), Some(job.state));
            job
        }))
    }

    /// Puts jobs a crash left `running` back to `queued`, due now. Their
    /// multipart upload, if any, stays recorded so the next claim continues
    /// (or aborts) it.
    /// Returns how many.
    pub fn requeue_running(&self, now: Timestamp) -> Result<usize, DbError> {
        let mut ids = Vec::new();
        for item in self.db.iter(Tree::Jobs) {
            let (_, v) = item?;
            let job: Job = decode(Tree::Jobs, &v)?;
            if job.state == JobState::Running {
                ids.push(job.id);
            }
        }
        let mut n = 0;
        for id in ids {
            let moved = self.transition(
                id,
                Guard::State(JobState::Running),
                |j| {
                    j.state = JobState::Queued;
                    j.next_attempt_at = now;
                    j.lease_until = None;
                    j.updated_at = now;
                },
                None,
            )?;
            n += usize::from(moved.is_some());
        }
        Ok(n)
    }

    /// Refreshes a running job's lease and progress; `false` if the claim is lost.
    pub fn renew(
        &self,
        job: &Job,
        lease_until: Timestamp,
        bytes_done: u64,
        bytes_total: Option<u64>,
    ) -> Result<bool, DbError> {
        let got = self.transition(
            job.id,
            Guard::Claim(job.claims),
            |j| {
                j.lease_until = Some(lease_until);
                j.bytes_done = bytes_done;
                j.bytes_total = bytes_total;
            },
            None,
        )?;
        Ok(got.is_some())
    }

    /// Remembers (or forgets) the job's multipart upload, writing `also`
    /// in the same transaction.
    pub fn set_upload(
        &self,
        job: &Job,
        upload: Option<UploadRecord>,
        also: Option<Also>,
    ) -> Result<bool, DbError> {
        let got = self.transition(
            job.id,
            Guard::Claim(job.claims),
            |j| {
                if upload.is_some() {
                    j.creating = None;
                }
                j.upload = upload.clone();
            },
            also,
        )?;
        Ok(got.is_some())
    }

    /// Notes (or clears) the multipart upload being created for the job.
    pub fn set_creating(&self, job: &Job, pending: Option<UploadRecord>) -> Result<bool, DbError> {
        let got = self.transition(
            job.id,
            Guard::Claim(job.claims),
            |j| j.creating = pending.clone(),
            None,
        )?;
        Ok(got.is_some())
    }

    /// Ends a claim: `change` says what the job becomes; its lease ends with
    /// the claim. Its upload record stays: a suspended upload is the next
    /// attempt's to continue (the worker forgets the uploads it aborts).
    fn end_claim(
        &self,
        job: &Job,
        now: Timestamp,
        change: impl Fn(&mut Job),
        also: Option<Also>,
    ) -> Result<Option<Job>, DbError> {
        self.transition(
            job.id,
            Guard::Claim(job.claims),
            |j| {
                change(j);
                j.lease_until = None;
                j.updated_at = now;
            },
            also,
        )
    }

    /// Ends an attempt: retry at `next`, or fail for good when `next` is
    /// `None`, writing `also` in the same transaction.
    pub fn attempt_failed(
        &self,
        job: &Job,
        error: &str,
        next: Option<Timestamp>,
        now: Timestamp,
        also: Option<Also>,
    ) -> Result<Option<Job>, DbError> {
        let change = |j: &mut Job| {
            match next {
                Some(at) => {
                    j.state = JobState::Retrying;
                    j.next_attempt_at = at;
                }
                None => j.state = JobState::Failed,
            }
            j.last_error = Some(error.to_owned());
        };
        self.end_claim(job, now, change, also)
    }

    /// Gives a claimed job back to the queue, due now, its attempt uncounted
    /// (a shutdown interrupted it; nothing was wrong with it).
    pub fn release(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, DbError> {
        let change = |j: &mut Job| {
            j.state = JobState::Queued;
            j.attempts = j.attempts.saturating_sub(1);
            j.next_attempt_at = now;
        };
        self.end_claim(job, now, change, None)
    }

    /// Ends an attempt the store's trouble cut short: the job waits, due
    /// now (the workers hold back until the store answers), its attempt
    /// uncounted, `error` shown as its last.
    pub fn wait_for_store(
        &self,
        job: &Job,
        error: &str,
        now: Timestamp,
    ) -> Result<Option<Job>, DbError> {
        let change = |j: &mut Job| {
            j.state = JobState::Retrying;
            j.attempts = j.attempts.saturating_sub(1);
            j.next_attempt_at = now;
            j.last_error = Some(error.to_owned());
        };
        self.end_claim(job, now, change, None)
    }

    /// Ends a job successfully with `size` bytes archived, writing `also`
    /// (its catalog entry) in the same transaction.
    pub fn complete(
        &self,
        job: &Job,
        size: u64,
        now: Timestamp,
        also: Also,
    ) -> Result<Option<Job>, DbError> {
        let change = |j: &mut Job| {
            j.state = JobState::Done;
            j.last_error = None;
            j.bytes_done = size;
            j.bytes_total = Some(size);
            // Completed, or aborted as a second copy of bytes already stored.
            j.upload = None;
        };
        self.end_claim(job, now, change, Some(also))
    }

    /// Puts a failed job back in the queue, due now, with fresh attempts.
    pub fn retry_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, DbError> {
        self.transition(
            id,
            Guard::State(JobState::Failed),
            |j| {
                j.state = JobState::Queued;
                j.attempts = 0;
                j.next_attempt_at = now;
                j.updated_at = now;
            },
            None,
        )
    }
}
