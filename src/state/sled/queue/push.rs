//! Pushing a job: deduplicated by the file (or notification) it is for, in
//! the transaction recording what brought it.

use super::due::{self, Lane};
use crate::id::{EventId, JobId};
use crate::queue::{FileIdentity, Job, JobState, Notification};
use crate::state::sled::kv::{encode, tx_get_json, DbError, Tree, Tx, TxError};
use crate::state::NoticeTarget;
use crate::time::Timestamp;

/// What pushing a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Queued as a new job.
    New,
    /// The same file is already known: this job.
    Duplicate(JobId),
    /// The same file's job had failed: the platform says the file is there
    /// (again), so that job is queued again, due now, with fresh attempts.
    Requeued(JobId),
}

/// Queues `job`, the file `identity`, in the transaction `tx`, unless a job
/// for the same file exists: then that job, queued again if it had failed.
pub fn push(tx: &Tx, job: &Job, identity: &FileIdentity) -> Result<Pushed, TxError> {
    if let Some(existing) = tx.get(Tree::Dedupe, identity.as_bytes())? {
        let id = JobId::from_bytes(&existing).ok_or_else(|| DbError::Corrupt {
            tree: "dedupe",
            message: "job key is not 16 bytes".to_owned(),
        })?;
        return match tx_get_json::<Job>(tx, Tree::Jobs, id.key())? {
            Some(mut failed) if failed.state == JobState::Failed => {
                failed.state = JobState::Queued;
                failed.attempts = 0;
                failed.next_attempt_at = job.created_at;
                failed.updated_at = job.created_at;
                due::reindex(tx, &id, Lane::of(failed.kind), None, failed.due_at())?;
                tx.insert(Tree::Jobs, id.key(), &encode(&failed))?;
                Ok(Pushed::Requeued(id))
            }
            Some(_) => Ok(Pushed::Duplicate(id)),
            // The job was pruned (retention): the file is announced anew.
            None => {
                tx.insert(Tree::Jobs, job.id.key(), &encode(job))?;
                due::reindex(tx, &job.id, Lane::of(job.kind), None, job.due_at())?;
                tx.insert(Tree::Dedupe, identity.as_bytes(), job.id.key())?;
                Ok(Pushed::New)
            }
        };
    }
    tx.insert(Tree::Jobs, job.id.key(), &encode(job))?;
    due::reindex(tx, &job.id, Lane::of(job.kind), None, job.due_at())?;
    tx.insert(Tree::Dedupe, identity.as_bytes(), job.id.key())?;
    Ok(Pushed::New)
}

/// Makes `identity` another name of the job `id` pushed in `tx`: a later
/// announcement by that name is the same file.
pub fn also_known_as(tx: &Tx, identity: &FileIdentity, id: JobId) -> Result<(), TxError> {
    tx.insert(Tree::Dedupe, identity.as_bytes(), id.key())
}

/// What a notification tells, and of what.
pub struct Notice<'a> {
    /// Its kind: `archived`, `failed`, a stream's start...
    pub kind: &'a str,
    pub source: &'a str,
    /// What it is made once for (a catalog entry, a job, an event).
    pub subject: &'a str,
    pub event_id: EventId,
    pub body: &'a serde_json::Value,
}

/// Pushes, in `tx`, one notification job per target, each made once for
/// the notice's subject, with `ids` drawn before the transaction (a
/// transaction run again must not draw new ones).
pub fn push_notices(
    tx: &Tx,
    ids: &[JobId],
    targets: &[NoticeTarget],
    notice: &Notice,
    now: Timestamp,
) -> Result<Vec<Pushed>, TxError> {
    let mut pushed = Vec::new();
    for (t, id) in targets.iter().zip(ids) {
        let n = Notification {
            target: t.target.clone(),
            event: notice.kind.to_owned(),
            body: notice.body.to_string(),
            subject: notice.subject.to_owned(),
        };
        let job = Job::for_notification(*id, n, &t.url, notice.source, notice.event_id, now);
        let identity = FileIdentity::notification(&t.target, notice.kind, notice.subject);
        pushed.push(push(tx, &job, &identity)?);
    }
    Ok(pushed)
}
