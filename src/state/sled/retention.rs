//! Pruning in sled: in small batches, each its own transaction, pausing
//! between them so callbacks and workers are never held up for long.

use std::time::Duration;

use super::kv::{decode, Db, DbError, Tree};
use super::SledRepo;
use crate::event::Event;
use crate::id::{EventId, TimeKey};
use crate::queue::{FileIdentity, Job, JobState};
use crate::state::{Pruned, Retention, RetentionRepo, StateError};
use crate::time::{to_millis, Timestamp};

const BATCH: usize = 256;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

#[async_trait::async_trait]
impl RetentionRepo for SledRepo {
    async fn prune(&self, r: Retention, now: Timestamp) -> Result<Pruned, StateError> {
        self.blocking(move |i| {
            let pruned = prune(&i.db, &r, now)?;
            i.pruned_done(pruned.jobs);
            Ok(pruned)
        })
        .await
    }
}

fn cutoff(now: Timestamp, keep: Duration) -> u64 {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(keep).map_or(0, |t| to_millis(&t))
}

/// One pass over the three kinds of records.
fn prune(db: &Db, r: &Retention, now: Timestamp) -> Result<Pruned, DbError> {
    Ok(Pruned {
        jobs: prune_jobs(db, cutoff(now, r.finished_jobs))?,
        events: prune_events(db, cutoff(now, r.events))?,
        rejected: prune_by_age(db, Tree::Rejected, cutoff(now, r.rejected))?,
    })
}

/// A record decoded, or `None` (logged) if it cannot be: one bad record is
/// left where it is and does not stop the pass.
fn readable<T: serde::de::DeserializeOwned>(tree: Tree, v: &[u8]) -> Option<T> {
    decode(tree, v)
        .map_err(|e| tracing::warn!(error = %e, "pruning skips a record it cannot read"))
        .ok()
}

/// The time a record's key was made at.
fn key_millis(k: &[u8]) -> Option<u64> {
    TimeKey::from_bytes(k).map(|t| t.millis())
}

/// Removes `keys` from `tree` (and `dedupe` keys), one transaction.
fn remove(db: &Db, tree: Tree, keys: &[Vec<u8>], dedupe: &[Vec<u8>]) -> Result<(), DbError> {
    db.transaction(|tx| {
        for k in keys {
            tx.remove(tree, k)?;
        }
        for k in dedupe {
            tx.remove(Tree::Dedupe, k)?;
        }
        Ok(())
    })
}

/// What becomes of a record past the cutoff.
enum Verdict {
    Keep,
    /// Removed, with the dedupe key naming it, if any.
    Remove(Option<Vec<u8>>),
}

/// Walks `tree` (keyed by time) from its oldest record to `cutoff`,
/// removing in batches what `judge` says of each value.
fn sweep(
    db: &Db,
    tree: Tree,
    cutoff: u64,
    judge: impl Fn(&[u8]) -> Result<Verdict, DbError>,
) -> Result<u64, DbError> {
    let (mut keys, mut dedupe, mut n) = (Vec::new(), Vec::new(), 0);
    for item in db.iter(tree) {
        let (k, v) = item?;
        match key_millis(&k) {
            Some(t) if t >= cutoff => break,
            Some(_) => {}
            None => continue,
        }
        match judge(&v)? {
            Verdict::Keep => continue,
            Verdict::Remove(d) => {
                keys.push(k.to_vec());
                dedupe.extend(d);
            }
        }
        if keys.len() >= BATCH {
            n += keys.len() as u64;
            remove(db, tree, &keys, &dedupe)?;
            (keys, dedupe) = (Vec::new(), Vec::new());
            std::thread::sleep(PAUSE);
        }
    }
    n += keys.len() as u64;
    remove(db, tree, &keys, &dedupe)?;
    Ok(n)
}

/// Done jobs finished before `cutoff`, and the dedupe keys naming them.
/// (Keys sort by creation; a job created after the cutoff finished after it.)
fn prune_jobs(db: &Db, cutoff: u64) -> Result<u64, DbError> {
    sweep(db, Tree::Jobs, cutoff, |v| {
        let Some(job) = readable::<Job>(Tree::Jobs, v) else {
            return Ok(Verdict::Keep);
        };
        if job.state != JobState::Done || to_millis(&job.updated_at) >= cutoff {
            return Ok(Verdict::Keep);
        }
        // Only the dedupe key that still names this job; a local file's
        // stays (a sweep must not take the file for a new one).
        let identity = match &job.notification {
            Some(n) => Some(FileIdentity::notification(&n.target, &n.event, &n.subject)),
            None => identity_of(db, job.event_id)?,
        };
        let dedupe = match identity {
            Some(identity)
                if !identity.is_local_file()
                    && db.get(Tree::Dedupe, identity.as_bytes())?.as_deref()
                        == Some(&job.id.key()[..]) =>
            {
                Some(identity.as_bytes().to_vec())
            }
            _ => None,
        };
        Ok(Verdict::Remove(dedupe))
    })
}

/// The file identity an event announced, if it still exists and names one.
fn identity_of(db: &Db, id: EventId) -> Result<Option<FileIdentity>, DbError> {
    let event: Option<Event> = db.get_json(Tree::Events, id.key())?;
    Ok(event.and_then(|e| e.job_file().map(|f| FileIdentity::of(&e.source, f))))
}

/// Events recorded before `cutoff`, but not one a kept job was made from
/// (a job reads its event when it runs).
fn prune_events(db: &Db, cutoff: u64) -> Result<u64, DbError> {
    sweep(db, Tree::Events, cutoff, |v| {
        let Some(event) = readable::<Event>(Tree::Events, v) else {
            return Ok(Verdict::Keep);
        };
        // (Also a stop's, whose job archives the HLS playlist it closed.)
        if let Some(id) = event.job_id {
            let job = db.get_json::<Job>(Tree::Jobs, id.key())?;
            if job.is_some_and(|j| j.event_id == event.id) {
                return Ok(Verdict::Keep);
            }
        }
        Ok(Verdict::Remove(None))
    })
}

/// Records of `tree` (keyed by time) made before `cutoff`.
fn prune_by_age(db: &Db, tree: Tree, cutoff: u64) -> Result<u64, DbError> {
    sweep(db, tree, cutoff, |_| Ok(Verdict::Remove(None)))
}
