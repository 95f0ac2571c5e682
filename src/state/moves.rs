//! What each queue operation does to a job, decided once for every engine;
//! an engine applies it under the operation's guard, in its transaction.

use crate::queue::{Job, JobState, UploadRecord};
use crate::time::Timestamp;

/// A change to a job, as an engine applies it (perhaps more than once,
/// should its transaction run again).
pub trait Move: Fn(&mut Job) + Send + Sync + 'static {}
impl<F: Fn(&mut Job) + Send + Sync + 'static> Move for F {}

/// Claimed at `now`, leased until `lease_until`: a new attempt, a new
/// claim generation.
pub fn claimed(now: Timestamp, lease_until: Timestamp) -> impl Move {
    move |j| {
        j.state = JobState::Running;
        j.attempts += 1;
        j.claims += 1;
        j.lease_until = Some(lease_until);
        j.updated_at = now;
    }
}

/// The lease renewed with the transfer's progress.
pub fn renewed(lease_until: Timestamp, bytes_done: u64, bytes_total: Option<u64>) -> impl Move {
    move |j| {
        j.lease_until = Some(lease_until);
        j.bytes_done = bytes_done;
        j.bytes_total = bytes_total;
    }
}

/// The multipart upload being created noted (or cleared).
pub fn creating(pending: Option<UploadRecord>) -> impl Move {
    move |j| j.creating = pending.clone()
}

/// The multipart upload saved (or cleared).
pub fn upload_saved(upload: Option<UploadRecord>) -> impl Move {
    move |j| {
        if upload.is_some() {
            j.creating = None;
        }
        j.upload = upload.clone();
    }
}

/// The upload forgotten (kept for the janitor in the same write).
pub fn upload_forgotten() -> impl Move {
    |j| j.upload = None
}

/// A claim ended at `now` as `change` says: the lease ends with it. Its
/// upload record stays: a suspended upload is the next attempt's.
pub fn ended(now: Timestamp, change: impl Move) -> impl Move {
    move |j| {
        change(j);
        j.lease_until = None;
        j.updated_at = now;
    }
}

/// Given back (a shutdown): due now, its attempt uncounted.
pub fn released(now: Timestamp) -> impl Move {
    ended(now, move |j| {
        j.state = JobState::Queued;
        j.attempts = j.attempts.saturating_sub(1);
        j.next_attempt_at = now;
    })
}

/// Cut short by the store's trouble: waits, due now, its attempt uncounted.
pub fn waiting_for_store(error: &str, now: Timestamp) -> impl Move {
    let error = error.to_owned();
    ended(now, move |j| {
        j.state = JobState::Retrying;
        j.attempts = j.attempts.saturating_sub(1);
        j.next_attempt_at = now;
        j.last_error = Some(error.clone());
    })
}

/// An attempt failed: due again at `at`.
pub fn retrying(error: &str, at: Timestamp, now: Timestamp) -> impl Move {
    let error = error.to_owned();
    ended(now, move |j| {
        j.state = JobState::Retrying;
        j.next_attempt_at = at;
        j.last_error = Some(error.clone());
    })
}

/// The last attempt failed: failed for good.
pub fn failed(error: &str, now: Timestamp) -> impl Move {
    let error = error.to_owned();
    ended(now, move |j| {
        j.state = JobState::Failed;
        j.last_error = Some(error.clone());
    })
}

/// A notification delivered.
pub fn delivered(now: Timestamp) -> impl Move {
    ended(now, |j| {
        j.state = JobState::Done;
        j.last_error = None;
        j.bytes_done = 0;
        j.bytes_total = Some(0);
        j.upload = None;
    })
}

/// Its file archived, `size` bytes, and filed.
pub fn archived(size: u64, now: Timestamp) -> impl Move {
    ended(now, move |j| {
        j.state = JobState::Done;
        j.last_error = None;
        j.bytes_done = size;
        j.bytes_total = Some(size);
        // Completed, or aborted as a second copy of bytes already stored.
        j.upload = None;
    })
}

/// A failed job put back by hand (or announced again): due now, fresh attempts.
pub fn retried(now: Timestamp) -> impl Move {
    move |j| {
        j.state = JobState::Queued;
        j.attempts = 0;
        j.next_attempt_at = now;
        j.updated_at = now;
    }
}

/// A failed job set aside by hand: its error kept, never due.
pub fn dismissed(now: Timestamp) -> impl Move {
    move |j| {
        j.state = JobState::Dismissed;
        j.updated_at = now;
    }
}

/// Left running by a crash: queued again, due now (its upload, if any,
/// stays recorded for the next claim to continue or abort).
pub fn requeued(now: Timestamp) -> impl Move {
    move |j| {
        j.state = JobState::Queued;
        j.next_attempt_at = now;
        j.lease_until = None;
        j.updated_at = now;
    }
}
