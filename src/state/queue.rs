//! The job queue's operations: claim (the claim is the lease, its
//! generation the fencing token), renew, release, fail an attempt, retry,
//! requeue, and the reads. Jobs are pushed by [`super::IntakeRepo`] (with
//! what brought them) and completed by [`super::CatalogRepo`] (with their
//! catalog entry): each in the one operation that makes them true.

use std::time::Duration;

use super::{Keep, NoticeTarget, Page, PageRequest, StateError};
use crate::id::JobId;
use crate::queue::{FileIdentity, Job, JobState, Lane, UploadRecord};
use crate::time::Timestamp;

/// Which job may be changed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard {
    /// Only while this claim holds it: running, with this claim generation.
    Claim(u64),
    /// Only while it is in this state.
    State(JobState),
    /// Only if it may be claimed at this time: waiting and due, or running
    /// with its lease lapsed (its worker died).
    Claimable(Timestamp),
}

impl Guard {
    pub(crate) fn admits(self, job: &Job) -> bool {
        match self {
            Guard::Claim(generation) => job.state == JobState::Running && job.claims == generation,
            Guard::State(s) => job.state == s,
            Guard::Claimable(now) => {
                !matches!(
                    job.state,
                    JobState::Done | JobState::Failed | JobState::Dismissed
                ) && job.due_at().is_some_and(|d| d <= now)
            }
        }
    }
}

/// What pushing a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued as a new job.
    New,
    /// The same file is already known: this job.
    Duplicate(JobId),
    /// The same file's job had failed (or its failure was dismissed): the
    /// platform says the file is there (again), so that job is queued
    /// again, due now, with fresh attempts. With the state it left.
    Requeued(JobId, JobState),
}

/// Jobs by state and the due backlog.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub by_state: Vec<(JobState, u64)>,
    /// Jobs waiting whose time has come.
    pub due_now: u64,
    /// Age of the longest-waiting due job, in seconds.
    pub oldest_due_age_s: f64,
}

/// The queue of jobs, in the domain's words. Every change to a claimed job
/// is fenced: it applies only while the job is `running` under that very
/// claim (`job.claims`), and returns `None`/`false` when the claim is lost.
#[async_trait::async_trait]
pub trait QueueRepo: Send + Sync {
    /// Claims the first job of `lane` due (or whose lease lapsed) at `now`,
    /// leasing it until `now + lease`.
    async fn claim(
        &self,
        lane: Lane,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Job>, StateError>;

    /// Refreshes a running job's lease and progress; `false` if the claim is lost.
    async fn renew(
        &self,
        job: &Job,
        lease_until: Timestamp,
        bytes_done: u64,
        bytes_total: Option<u64>,
    ) -> Result<bool, StateError>;

    /// Notes (or clears) the multipart upload being created for the job,
    /// durably; `false` if the claim is lost.
    async fn note_creating(
        &self,
        job: &Job,
        pending: Option<UploadRecord>,
    ) -> Result<bool, StateError>;

    /// Saves (or clears) the job's multipart upload, durably; `false` if
    /// the claim is lost.
    async fn save_upload(
        &self,
        job: &Job,
        upload: Option<UploadRecord>,
    ) -> Result<bool, StateError>;

    /// Forgets the job's upload and keeps it for the janitor to abort, in
    /// one write (a crash between the two must not lose it).
    async fn forget_upload(
        &self,
        job: &Job,
        upload: UploadRecord,
        now: Timestamp,
    ) -> Result<bool, StateError>;

    /// Gives a claimed job back, due now, its attempt uncounted (a shutdown).
    async fn release(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError>;

    /// Ends an attempt the store's trouble cut short: the job waits, due
    /// now, its attempt uncounted, `error` shown as its last.
    async fn wait_for_store(
        &self,
        job: &Job,
        error: &str,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError>;

    /// Ends an attempt that failed; the job is due again at `at`.
    async fn retry_at(
        &self,
        job: &Job,
        error: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError>;

    /// Ends a job's last attempt: it failed for good, and `notices` are
    /// told so, in the same write.
    async fn fail(
        &self,
        job: &Job,
        error: &str,
        notices: Vec<NoticeTarget>,
        now: Timestamp,
    ) -> Result<Option<Job>, StateError>;

    /// Ends a notification job's delivery.
    async fn delivered(&self, job: &Job, now: Timestamp) -> Result<Option<Job>, StateError>;

    /// Puts a failed job back in the queue, due now, with fresh attempts.
    async fn retry_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError>;

    /// Sets a failed job aside (`dismissed`): it stays in the record but
    /// leaves the failed list and its count; `None` unless it was failed.
    async fn dismiss_failed(&self, id: JobId, now: Timestamp) -> Result<Option<Job>, StateError>;

    /// Puts jobs a crash left `running` back to `queued`, due now; how many.
    async fn requeue_running(&self, now: Timestamp) -> Result<usize, StateError>;

    /// One job by id.
    async fn job(&self, id: JobId) -> Result<Option<Job>, StateError>;

    /// The job that holds the file `identity`, if any: its id, and the job
    /// unless retention pruned it (a local file's identity outlives its
    /// done job, so the file stays known as archived).
    async fn job_for(
        &self,
        identity: &FileIdentity,
    ) -> Result<Option<(JobId, Option<Job>)>, StateError>;

    /// Jobs, newest first, those `keep` accepts.
    async fn jobs(&self, page: PageRequest, keep: Keep<Job>) -> Result<Page<Job>, StateError>;

    /// When the next job of `lane` falls due, if the engine can tell cheaply
    /// (else `None`: poll).
    async fn next_due(&self, lane: Lane) -> Result<Option<Timestamp>, StateError>;

    /// Jobs by state and the due backlog at `now`.
    async fn gauges(&self, now: Timestamp) -> Result<Gauges, StateError>;

    /// Every multipart upload a job records (the janitor's sweep spares them).
    async fn uploads_in_jobs(&self) -> Result<Vec<String>, StateError>;

    /// Wakes `wake`'s waiters whenever another instance sharing this state
    /// pushes a job or makes one due now (an engine of one instance: never).
    fn wake_on_push(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }
}
