//! Retention: the state store stays bounded. In the background, in small
//! batches that never hold up a callback, it drops events older than
//! `state.keep_events_days` (unless a job still to finish needs its event),
//! `done` jobs finished longer than `state.keep_finished_jobs_days` ago
//! (with their dedupe keys), and rejected requests older than
//! `state.keep_rejected_days`. The catalog is kept forever: it is the
//! product. Failed jobs are kept until they are retried or done.

use std::time::Duration;

use chrono::Utc;

use crate::config::StateConfig;
use crate::db::{decode, Db, DbError, Tree};
use crate::event::Event;
use crate::id::{EventId, TimeKey};
use crate::queue::{FileIdentity, Job, JobState, Queue};
use crate::time::{to_millis, Timestamp};

/// Items removed per transaction; between batches the pruner pauses, so
/// that the writer (and sled's single write lock) is free for callbacks.
const BATCH: usize = 256;
const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events: Duration,
    pub finished_jobs: Duration,
    pub rejected: Duration,
    /// How often the pruner runs.
    pub every: Duration,
}

impl Retention {
    pub fn of(c: &StateConfig) -> Retention {
        let days = |d: f64| Duration::try_from_secs_f64(d * 86_400.0).unwrap_or(Duration::MAX);
        Retention {
            events: days(c.keep_events_days),
            finished_jobs: days(c.keep_finished_jobs_days),
            rejected: days(c.keep_rejected_days),
            every: Duration::from_secs(c.prune_every_secs.max(1)),
        }
    }
}

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub jobs: u64,
    pub rejected: u64,
}

/// Prunes every `r.every`, forever (the task is aborted at shutdown).
pub async fn run(queue: Queue, r: Retention) {
    loop {
        tokio::time::sleep(r.every).await;
        let d = queue.db().clone();
        match tokio::task::spawn_blocking(move || prune(&d, &r, Utc::now())).await {
            Ok(Ok(p)) if p != Pruned::default() => {
                queue.pruned_done(p.jobs);
                tracing::info!(
                    events = p.events,
                    jobs = p.jobs,
                    rejected = p.rejected,
                    "pruned the state store"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning the state store failed; trying again later")
            }
            Err(e) => tracing::error!(error = %e, "the pruning task failed"),
        }
    }
}

fn cutoff(now: Timestamp, keep: Duration) -> u64 {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(keep).map_or(0, |t| to_millis(&t))
}

/// One pass over the three kinds of records.
pub fn prune(db: &Db, r: &Retention, now: Timestamp) -> Result<Pruned, DbError> {
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
