//! Pushing a job: deduplicated by the file (or notification) it is for, in
//! the transaction recording what brought it.

use super::due::{self, Lane};
use crate::id::JobId;
use crate::queue::{FileIdentity, Job};
use crate::state::moves;
use crate::state::notices::notification_job;
pub use crate::state::notices::Notice;
pub(crate) use crate::state::queue::Pushed;
use crate::state::sled::kv::{encode, tx_get_json, DbError, Tree, Tx, TxError};
use crate::state::NoticeTarget;
use crate::time::Timestamp;

/// Queues `job`, the file `identity`, in the transaction `tx`, unless a job
/// for the same file exists: then that job, queued again if it had failed.
pub fn push(tx: &Tx, job: &Job, identity: &FileIdentity) -> Result<Pushed, TxError> {
    if let Some(existing) = tx.get(Tree::Dedupe, identity.as_bytes())? {
        let id = JobId::from_bytes(&existing).ok_or_else(|| DbError::Corrupt {
            tree: "dedupe",
            message: "job key is not 16 bytes".to_owned(),
        })?;
        return match tx_get_json::<Job>(tx, Tree::Jobs, id.key())? {
            Some(mut failed) if failed.state.given_up() => {
                let was = failed.state;
                moves::retried(job.created_at)(&mut failed);
                due::reindex(tx, &id, Lane::of(failed.kind), None, failed.due_at())?;
                tx.insert(Tree::Jobs, id.key(), &encode(&failed))?;
                Ok(Pushed::Requeued(id, was))
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
        let (job, identity) = notification_job(*id, t, notice, now);
        pushed.push(push(tx, &job, &identity)?);
    }
    Ok(pushed)
}
