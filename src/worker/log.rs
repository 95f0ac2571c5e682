//! The job's side of an upload's record: saved with the job, fenced by its
//! claim, durable before the upload goes on; abandoned uploads go to the
//! janitor.

use chrono::Utc;
use futures_util::future::BoxFuture;

use crate::db::{Db, Tx};
use crate::queue::{Job, Queue, UploadRecord};
use crate::retry::Failure;
use crate::store::UploadLog;

/// The upload log of one claim of a job.
pub(super) struct JobLog {
    pub db: Db,
    pub queue: Queue,
    pub job: Job,
}

impl UploadLog for JobLog {
    fn save(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>> {
        let saved = self.queue.set_upload(&self.job, Some(rec), None);
        self.durably(saved)
    }

    fn creating(&self, rec: UploadRecord) -> BoxFuture<'static, Result<(), Failure>> {
        let noted = self.queue.set_creating(&self.job, Some(rec));
        self.durably(noted)
    }

    fn forget(&self, rec: UploadRecord) -> Result<(), Failure> {
        let now = Utc::now();
        let keep = move |tx: &Tx| crate::janitor::abandon_in(tx, rec.clone(), now);
        match self.queue.set_upload(&self.job, None, Some(&keep)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(super::lease_lost()),
            Err(e) => Err(super::db_failure(e)),
        }
    }

    fn abandoned(&self, rec: UploadRecord) {
        if let Err(e) = crate::janitor::abandon(&self.db, rec.clone(), Utc::now()) {
            tracing::error!(error = %e, key = %rec.key, upload_id = %rec.upload_id,
                "cannot keep the upload being aborted; the hourly sweep will find it if it stays");
        }
    }

    fn aborted(&self, upload_id: &str) {
        if let Err(e) = crate::janitor::gone(&self.db, upload_id) {
            tracing::error!(error = %e, upload_id, "cannot drop the aborted upload from the kept ones; the janitor will find it gone");
        }
    }
}

impl JobLog {
    /// A write under the claim, waited for until it is on disk.
    fn durably(
        &self,
        written: Result<bool, crate::db::DbError>,
    ) -> BoxFuture<'static, Result<(), Failure>> {
        let queue = self.queue.clone();
        Box::pin(async move {
            match written {
                Ok(true) => queue.durable().await.map_err(super::db_failure),
                Ok(false) => Err(super::lease_lost()),
                Err(e) => Err(super::db_failure(e)),
            }
        })
    }
}
