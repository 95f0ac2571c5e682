//! Pushing a job in PostgreSQL: the file's identity is a unique row of
//! `job_names`, so two instances recording the same file at once make one
//! job (the second waits on the first's row, then finds its job).

use deadpool_postgres::GenericClient;

use super::queue::{locked, put};
use super::sql::{exec, opt, E};
use crate::id::JobId;
use crate::queue::{FileIdentity, Job};
use crate::state::moves;
use crate::state::notices::notification_job;
pub use crate::state::notices::Notice;
pub(crate) use crate::state::queue::Pushed;
use crate::state::NoticeTarget;
use crate::time::Timestamp;

/// Queues `job`, the file `identity`, in the transaction `c`, unless a job
/// for the same file exists: then that job, queued again if it had failed.
pub async fn push(
    c: &impl GenericClient,
    job: &Job,
    identity: &FileIdentity,
    instance: &str,
) -> Result<Pushed, E> {
    let claim = "INSERT INTO job_names (identity, job_id) VALUES ($1, $2) \
                 ON CONFLICT (identity) DO NOTHING";
    let key = &job.id.key()[..];
    if exec(c, claim, &[&identity.as_bytes(), &key]).await? == 1 {
        put(c, job, instance, true).await?;
        return Ok(Pushed::New);
    }
    let named = "SELECT job_id FROM job_names WHERE identity = $1 FOR UPDATE";
    let row = opt(c, named, &[&identity.as_bytes()]).await?;
    let Some(id) = row.and_then(|r| JobId::from_bytes(r.get::<_, &[u8]>(0))) else {
        return Err(E::State(crate::state::StateError::Corrupt {
            tree: "job_names",
            message: "a name's job id is not 16 bytes".to_owned(),
        }));
    };
    match locked(c, id).await? {
        Some(mut failed) if failed.state.given_up() => {
            let was = failed.state;
            moves::retried(job.created_at)(&mut failed);
            put(c, &failed, instance, false).await?;
            Ok(Pushed::Requeued(id, was))
        }
        Some(_) => Ok(Pushed::Duplicate(id)),
        // The job was pruned (retention): the file is announced anew.
        None => {
            let rename = "UPDATE job_names SET job_id = $2 WHERE identity = $1";
            exec(c, rename, &[&identity.as_bytes(), &key]).await?;
            put(c, job, instance, true).await?;
            Ok(Pushed::New)
        }
    }
}

/// Makes `identity` another name of the job `id`.
pub async fn also_known_as(
    c: &impl GenericClient,
    identity: &FileIdentity,
    id: JobId,
) -> Result<(), E> {
    let sql = "INSERT INTO job_names (identity, job_id) VALUES ($1, $2) \
               ON CONFLICT (identity) DO UPDATE SET job_id = excluded.job_id";
    exec(c, sql, &[&identity.as_bytes(), &&id.key()[..]])
        .await
        .map(drop)
}

/// Pushes one notification job per target, each made once for the
/// notice's subject, with `ids` drawn before the transaction.
pub async fn push_notices(
    c: &impl GenericClient,
    ids: &[JobId],
    targets: &[NoticeTarget],
    notice: &Notice<'_>,
    now: Timestamp,
    instance: &str,
) -> Result<Vec<Pushed>, E> {
    let mut pushed = Vec::new();
    for (t, id) in targets.iter().zip(ids) {
        let (job, identity) = notification_job(*id, t, notice, now);
        pushed.push(push(c, &job, &identity, instance).await?);
    }
    Ok(pushed)
}
