//! The job queue's vocabulary: a job and its states, the identity of the
//! file it is for, the lane it is claimed in. Pure data: the queue's
//! operations are [`crate::state::QueueRepo`], the worker pool runs jobs.

mod job;

pub use job::{FileIdentity, FileKind, Job, JobState, Notification, UploadRecord};

/// Who takes a job: the transfer workers, or the notification deliverers,
/// which run whatever `transfer.workers` says and while the store is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Files,
    Notifications,
}

impl Lane {
    /// The lane of a job of `kind`.
    pub fn of(kind: FileKind) -> Lane {
        match kind {
            FileKind::Notification => Lane::Notifications,
            FileKind::Recording | FileKind::Snapshot => Lane::Files,
        }
    }
}
