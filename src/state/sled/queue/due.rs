//! The due index: when each job next needs attention, first first. Its
//! retry time while waiting, its lease end while running; so one scan finds
//! both due jobs and jobs whose worker died.

use std::ops::Bound::{Excluded, Unbounded};

use crate::id::JobId;
pub use crate::queue::Lane;
use crate::state::sled::kv::{Db, DbError, Order, Tree, Tx, TxError};
use crate::time::{to_millis, Timestamp};

/// The index key: when, then which job.
pub fn key(due: &Timestamp, job: &JobId) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&to_millis(due).to_be_bytes());
    k[8..].copy_from_slice(job.key());
    k
}

/// An index entry read back: when, and which job (`None` if malformed).
pub fn parse(k: &[u8]) -> (Option<u64>, Option<JobId>) {
    let due = k
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes);
    (due, k.get(8..24).and_then(JobId::from_bytes))
}

/// An entry's value: its lane, so a claim skips the other's jobs without
/// reading them.
fn mark(lane: Lane) -> &'static [u8] {
    match lane {
        Lane::Files => b"f",
        Lane::Notifications => b"n",
    }
}

/// The lane an entry's value names; `None` for entries written before
/// lanes (an empty value): the job says.
fn from_mark(v: &[u8]) -> Option<Lane> {
    match v {
        b"f" => Some(Lane::Files),
        b"n" => Some(Lane::Notifications),
        _ => None,
    }
}

/// Moves a job's entry from `before` to `after`. The new entry is written in
/// the same transaction that removes the old: a job never drops out.
pub fn reindex(
    tx: &Tx,
    job: &JobId,
    lane: Lane,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
) -> Result<(), TxError> {
    if before == after {
        return Ok(());
    }
    if let Some(b) = before {
        tx.remove(Tree::Due, &key(&b, job))?;
    }
    if let Some(a) = after {
        tx.insert(Tree::Due, &key(&a, job), mark(lane))?;
    }
    Ok(())
}

/// One index entry: its raw key, when it is due, which job, whose lane.
pub struct Entry {
    pub key: Vec<u8>,
    pub due_ms: Option<u64>,
    pub job: Option<JobId>,
    pub lane: Option<Lane>,
}

/// Entries due at or before `now`, first first.
pub fn due_by(db: &Db, now: &Timestamp) -> impl Iterator<Item = Result<Entry, DbError>> {
    let bound = (to_millis(now) + 1).to_be_bytes().to_vec();
    db.scan(Tree::Due, Unbounded, Excluded(bound), Order::Ascending)
        .map(|r| {
            r.map(|(k, v)| {
                let (due_ms, job) = parse(&k);
                Entry {
                    key: k.to_vec(),
                    due_ms,
                    job,
                    lane: from_mark(&v),
                }
            })
        })
}

/// When the first entry of `lane` falls due, looking at most at the first
/// `look` entries (past them, `None`: the caller polls).
pub fn first_in(db: &Db, lane: Lane, look: usize) -> Result<Option<u64>, DbError> {
    for r in db
        .scan(Tree::Due, Unbounded, Unbounded, Order::Ascending)
        .take(look)
    {
        let (k, v) = r?;
        if from_mark(&v).is_none_or(|l| l == lane) {
            return Ok(parse(&k).0);
        }
    }
    Ok(None)
}
