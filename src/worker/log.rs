//! The job's side of an upload's record: saved with the job, fenced by its
//! claim, durable before the upload goes on; abandoned uploads go to the
//! janitor.

use chrono::Utc;
use futures_util::future::BoxFuture;

use crate::queue::{Job, UploadRecord};
use crate::retry::Failure;
use crate::state::{Repo, StateError};
use crate::store::UploadLog;

/// The upload log of one claim of a job.
pub(super) struct JobLog {
    pub repo: Repo,
    pub job: Job,
}

impl UploadLog for JobLog {
    fn save(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>> {
        let (repo, job) = (self.repo.clone(), self.job.clone());
        Box::pin(async move { fenced(repo.save_upload(&job, Some(rec)).await) })
    }

    fn creating(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>> {
        let (repo, job) = (self.repo.clone(), self.job.clone());
        Box::pin(async move { fenced(repo.note_creating(&job, Some(rec)).await) })
    }

    fn forget(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>> {
        let (repo, job) = (self.repo.clone(), self.job.clone());
        Box::pin(async move { fenced(repo.forget_upload(&job, rec, Utc::now()).await) })
    }

    fn abandoned(&self, rec: UploadRecord) -> BoxFuture<'static, ()> {
        let repo = self.repo.clone();
        Box::pin(async move {
            let (key, id) = (rec.key.clone(), rec.upload_id.clone());
            if let Err(e) = repo.abandon(rec, Utc::now()).await {
                tracing::error!(error = %e, key = %key, upload_id = %id,
                    "cannot keep the upload being aborted; the hourly sweep will find it if it stays");
            }
        })
    }

    fn aborted(&self, upload_id: &str) -> BoxFuture<'static, ()> {
        let (repo, upload_id) = (self.repo.clone(), upload_id.to_owned());
        Box::pin(async move {
            if let Err(e) = repo.abandoned_gone(&upload_id).await {
                tracing::error!(error = %e, upload_id, "cannot drop the aborted upload from the kept ones; the janitor will find it gone");
            }
        })
    }
}

/// A write under the claim: a lost claim, or the state's failure, fails it.
pub(super) fn fenced(written: Result<bool, StateError>) -> Result<(), Failure> {
    match written {
        Ok(true) => Ok(()),
        Ok(false) => Err(super::lease_lost()),
        Err(e) => Err(super::state_failure(e)),
    }
}
