//! Multipart uploads no attempt will finish, cleaned away so none accrues
//! storage: an upload whose abort failed (the store was down) is kept here
//! and aborted again, on the retry schedule, until the store says it is
//! gone; and at start and then hourly, uploads under the archive's key
//! prefixes that no job knows, older than `store.orphan_upload_age_secs`,
//! are found (ListMultipartUploads) and aborted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::config::TransferConfig;
use crate::db::{decode, encode, Db, DbError, Tree, Tx, TxError};
use crate::queue::{Job, UploadRecord};
use crate::retry::delay_after;
use crate::store::Store;
use crate::time::{serde_rfc3339, Timestamp};

/// How often uploads no job knows are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How often the abandoned uploads due are looked at.
const TICK: Duration = Duration::from_secs(1);

/// An upload whose abort failed, to abort again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Abandoned {
    upload: UploadRecord,
    attempts: u32,
    #[serde(with = "serde_rfc3339")]
    next_at: Timestamp,
}

/// Keeps `rec`, about to be aborted, to be aborted later should that fail.
pub fn abandon(db: &Db, rec: UploadRecord, now: Timestamp) -> Result<(), DbError> {
    let (key, value) = abandoned_entry(rec, now);
    db.insert(Tree::Abandoned, key.as_bytes(), &value)
}

/// [`abandon`] within a transaction.
pub fn abandon_in(tx: &Tx, rec: UploadRecord, now: Timestamp) -> Result<(), TxError> {
    let (key, value) = abandoned_entry(rec, now);
    tx.insert(Tree::Abandoned, key.as_bytes(), &value)
}

fn abandoned_entry(rec: UploadRecord, now: Timestamp) -> (String, Vec<u8>) {
    let key = rec.upload_id.clone();
    let a = Abandoned {
        upload: UploadRecord {
            progress: None,
            ..rec
        },
        attempts: 1,
        // Not before the abort under way has had its chance.
        next_at: now + chrono::Duration::seconds(5),
    };
    (key, encode(&a))
}

/// The upload kept by [`abandon`] is aborted.
pub fn gone(db: &Db, upload_id: &str) -> Result<(), DbError> {
    db.remove(Tree::Abandoned, upload_id.as_bytes())
}

/// Uploads whose abort failed and that are still to abort.
pub fn abandoned(db: &Db) -> Result<Vec<UploadRecord>, DbError> {
    db.iter(Tree::Abandoned)
        .map(|item| {
            let (_, v) = item?;
            Ok(decode::<Abandoned>(Tree::Abandoned, &v)?.upload)
        })
        .collect()
}

/// What the janitor needs.
pub struct Janitor {
    pub db: Db,
    pub store: Arc<Store>,
    pub transfer: TransferConfig,
    /// Only uploads older than this are taken for orphans.
    pub orphan_age: Duration,
}

/// Runs until the task is aborted (it keeps nothing in memory).
pub async fn run(j: Arc<Janitor>) {
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        if let Err(e) = retry_abandoned(&j).await {
            tracing::error!(error = %e, "cannot read the abandoned uploads");
        }
        if tokio::time::Instant::now() >= next_sweep {
            next_sweep += SWEEP_EVERY;
            sweep(&j).await;
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn retry_abandoned(j: &Janitor) -> Result<(), DbError> {
    let now = Utc::now();
    let mut due = Vec::new();
    for item in j.db.iter(Tree::Abandoned) {
        let (_, v) = item?;
        let a: Abandoned = decode(Tree::Abandoned, &v)?;
        if a.next_at <= now {
            due.push(a);
        }
    }
    for mut a in due {
        let key = a.upload.upload_id.clone();
        if j.store.abort_upload(&a.upload).await {
            tracing::info!(key = %a.upload.key, upload_id = %key, "aborted a multipart upload kept since its abort failed");
            j.db.remove(Tree::Abandoned, key.as_bytes())?;
        } else {
            let wait = delay_after(a.attempts, &j.transfer);
            a.attempts = a.attempts.saturating_add(1);
            a.next_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            j.db.insert(Tree::Abandoned, key.as_bytes(), &encode(&a))?;
        }
    }
    Ok(())
}

/// Aborts the uploads under the archive's prefixes that no job knows.
async fn sweep(j: &Janitor) {
    let known = match known_uploads(&j.db) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the jobs' uploads; no sweep this time");
            return;
        }
    };
    let listed = match j.store.open_uploads().await {
        Ok(l) => l,
        Err(f) => {
            tracing::warn!(error = %f, "cannot list the store's multipart uploads; no sweep this time");
            return;
        }
    };
    // Read again: an upload begun while the list was made is recorded by now.
    let known = match known_uploads(&j.db) {
        Ok(again) => known.union(&again).cloned().collect::<HashSet<_>>(),
        Err(_) => return,
    };
    let age = chrono::Duration::from_std(j.orphan_age).unwrap_or(chrono::Duration::MAX);
    let now = Utc::now();
    let mut aborted = 0;
    for (rec, initiated) in listed {
        let old_enough = initiated.is_some_and(|t| now - t >= age);
        if known.contains(&rec.upload_id) || !old_enough {
            continue;
        }
        if j.store.abort_upload(&rec).await {
            tracing::info!(key = %rec.key, upload_id = %rec.upload_id, "aborted a multipart upload no job knows");
            aborted += 1;
        }
    }
    tracing::debug!(aborted, "multipart upload sweep done");
}

/// The upload ids the jobs (and the abandoned list) know.
fn known_uploads(db: &Db) -> Result<HashSet<String>, DbError> {
    let mut known: HashSet<String> = abandoned(db)?.into_iter().map(|u| u.upload_id).collect();
    for item in db.iter(Tree::Jobs) {
        let (_, v) = item?;
        let job: Job = decode(Tree::Jobs, &v)?;
        known.extend(job.upload.map(|u| u.upload_id));
    }
    Ok(known)
}
