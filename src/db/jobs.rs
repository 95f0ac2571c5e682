//! The job queue's moves. The due index says when each job next needs
//! attention: its retry time while waiting, its lease end while running. So
//! one scan finds both due jobs and jobs whose worker died.

use std::time::Duration;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::keys::{due_key, TimeKey};
use super::{decode, encode, Db, DbError};
use crate::catalog::CatalogEntry;
use crate::event::Event;
use crate::queue::{Job, JobState, UploadRecord};
use crate::time::{from_millis, to_millis, Timestamp};

/// Which job may be changed.
#[derive(Debug, Clone, Copy)]
pub enum Guard {
    /// Only while this claim holds it: running, with this attempt number.
    Claim(u32),
    /// Only while it is in this state.
    State(JobState),
    /// Only if it may be claimed at this time: waiting and due, or running
    /// with its lease lapsed (its worker died).
    Claimable(Timestamp),
}

impl Guard {
    fn admits(self, job: &Job) -> bool {
        match self {
            Guard::Claim(attempt) => job.state == JobState::Running && job.attempts == attempt,
            Guard::State(s) => job.state == s,
            Guard::Claimable(now) => {
                job.state != JobState::Done
                    && job.state != JobState::Failed
                    && job.due_at().is_some_and(|d| d <= now)
            }
        }
    }
}

fn abort(e: DbError) -> ConflictableTransactionError<DbError> {
    ConflictableTransactionError::Abort(e)
}

fn tx_error(e: TransactionError<DbError>) -> DbError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => DbError::Sled(e),
    }
}

impl Db {
    /// Changes a job if `guard` admits it, keeping the due index in step, and
    /// files `entry` in the catalog in the same transaction. `None` when the
    /// guard refused (the claim was lost, or the state moved on).
    pub fn transition(
        &self,
        id: &str,
        guard: Guard,
        change: impl Fn(&mut Job),
        entry: Option<&CatalogEntry>,
    ) -> Result<Option<Job>, DbError> {
        let key = TimeKey::parse(id).ok_or_else(|| DbError::Corrupt {
            tree: "jobs",
            message: format!("{id:?} is not a job id"),
        })?;
        let t = self.trees();
        (&t.jobs, &t.due, &t.catalog, &t.catalog_by_stream)
            .transaction(|(jobs, due, catalog, by_stream)| {
                let Some(bytes) = jobs.get(key.as_bytes())? else {
                    return Ok(None);
                };
                let mut job: Job = decode("jobs", &bytes).map_err(abort)?;
                if !guard.admits(&job) {
                    return Ok(None);
                }
                let before = job.due_at();
                change(&mut job);
                let after = job.due_at();
                if before != after {
                    // The new entry is written in the same transaction that
                    // removes the old: a job never drops out of the index.
                    if let Some(b) = before {
                        due.remove(&due_key(to_millis(&b), &key)[..])?;
                    }
                    if let Some(a) = after {
                        due.insert(&due_key(to_millis(&a), &key)[..], &[])?;
                    }
                }
                jobs.insert(key.as_bytes(), encode(&job))?;
                if let Some(e) = entry {
                    let ekey = TimeKey::parse(&e.id).ok_or_else(|| {
                        abort(DbError::Corrupt {
                            tree: "catalog",
                            message: format!("{:?} is not an entry id", e.id),
                        })
                    })?;
                    catalog.insert(ekey.as_bytes(), encode(e))?;
                    by_stream.insert(
                        super::catalog::stream_index_key(e.stream.as_deref(), &ekey),
                        &[],
                    )?;
                }
                Ok(Some(job))
            })
            .map_err(tx_error)
    }

    /// Claims the first job that is due (or whose lease lapsed) at `now`,
    /// leasing it for `lease`. The claim is the lease.
    pub fn claim(&self, now: Timestamp, lease: Duration) -> Result<Option<Job>, DbError> {
        let t = self.trees();
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let bound = (to_millis(&now) + 1).to_be_bytes();
        for item in t.due.range(..&bound[..]) {
            let (k, _) = item?;
            let Some(job_key) = k.get(8..24).and_then(TimeKey::from_bytes) else {
                t.due.remove(&k)?;
                continue;
            };
            let claimed = self.transition(
                &job_key.to_string(),
                Guard::Claimable(now),
                |j| {
                    j.state = JobState::Running;
                    j.attempts += 1;
                    j.lease_until = Some(lease_until);
                    j.updated_at = now;
                },
                None,
            )?;
            match claimed {
                Some(job) => return Ok(Some(job)),
                // Another worker took it first, or the entry is stale (a
                // crash between index and job writes); only a stale one goes.
                None => {
                    let current = self.job(&job_key.to_string())?;
                    let due_ms = k
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_be_bytes);
                    if current.and_then(|j| j.due_at()).map(|d| to_millis(&d)) != due_ms {
                        t.due.remove(&k)?;
                    }
                }
            }
        }
        Ok(None)
    }

    /// Jobs by state and the due backlog, for metrics. Reads every job: fine
    /// for a scrape every few seconds at the scale one instance holds.
    pub fn queue_gauges(&self, now: Timestamp) -> Result<crate::metrics::QueueGauges, DbError> {
        let mut by_state = std::collections::BTreeMap::new();
        for s in ["queued", "running", "retrying", "failed", "done"] {
            by_state.insert(s, 0u64);
        }
        for item in self.trees().jobs.iter() {
            let (_, v) = item?;
            let job: Job = decode("jobs", &v)?;
            let name = match job.state {
                JobState::Queued => "queued",
                JobState::Running => "running",
                JobState::Retrying => "retrying",
                JobState::Failed => "failed",
                JobState::Done => "done",
            };
            *by_state.entry(name).or_default() += 1;
        }
        let bound = (to_millis(&now) + 1).to_be_bytes();
        let mut due_now = 0u64;
        let mut oldest = None;
        for item in self.trees().due.range(..&bound[..]) {
            let (k, _) = item?;
            if oldest.is_none() {
                oldest = k
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes);
            }
            due_now += 1;
        }
        let oldest_due_age_s =
            oldest.map_or(0.0, |ms| to_millis(&now).saturating_sub(ms) as f64 / 1000.0);
        Ok(crate::metrics::QueueGauges {
            jobs_by_state: by_state,
            due_now,
            oldest_due_age_s,
        })
    }

    /// When the next job falls due (or lease lapses), if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>, DbError> {
        Ok(self
            .trees()
            .due
            .first()?
            .and_then(|(k, _)| {
                k.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
            })
            .map(from_millis))
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
            &job.id,
            Guard::Claim(job.attempts),
            |j| {
                j.lease_until = Some(lease_until);
                j.bytes_done = bytes_done;
                j.bytes_total = bytes_total;
            },
            None,
        )?;
        Ok(got.is_some())
    }

    /// Remembers (or forgets) the job's multipart upload.
    pub fn set_upload(&self, job: &Job, upload: Option<UploadRecord>) -> Result<bool, DbError> {
        let got = self.transition(
            &job.id,
            Guard::Claim(job.attempts),
            |j| j.upload = upload.clone(),
            None,
        )?;
        Ok(got.is_some())
    }

    /// Ends a claim: `change` says what the job becomes; its lease and its
    /// upload record end with the claim.
    fn end_claim(
        &self,
        job: &Job,
        now: Timestamp,
        change: impl Fn(&mut Job),
        entry: Option<&CatalogEntry>,
    ) -> Result<Option<Job>, DbError> {
        self.transition(
            &job.id,
            Guard::Claim(job.attempts),
            |j| {
                change(j);
                j.lease_until = None;
                j.upload = None;
                j.updated_at = now;
            },
            entry,
        )
    }

    /// Ends an attempt: retry at `next`, or fail for good when `next` is `None`.
    pub fn attempt_failed(
        &self,
        job: &Job,
        error: &str,
        next: Option<Timestamp>,
        now: Timestamp,
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
        self.end_claim(job, now, change, None)
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

    /// Ends a job successfully, filing its catalog entry in the same transaction.
    pub fn complete(
        &self,
        job: &Job,
        entry: &CatalogEntry,
        now: Timestamp,
    ) -> Result<Option<Job>, DbError> {
        let change = |j: &mut Job| {
            j.state = JobState::Done;
            j.last_error = None;
            j.bytes_done = entry.size;
            j.bytes_total = Some(entry.size);
        };
        self.end_claim(job, now, change, Some(entry))
    }

    /// Puts a failed job back in the queue, due now, with fresh attempts.
    pub fn retry_failed(&self, id: &str, now: Timestamp) -> Result<Option<Job>, DbError> {
        if TimeKey::parse(id).is_none() {
            return Ok(None);
        }
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

    /// One event by id.
    pub fn event(&self, id: &str) -> Result<Option<Event>, DbError> {
        super::by_id(&self.trees().events, "events", id)
    }

    /// A fresh id for a catalog entry archived at `at`.
    pub fn new_entry_id(&self, at: &Timestamp) -> Result<String, DbError> {
        Ok(self.new_key(at)?.to_string())
    }
}
