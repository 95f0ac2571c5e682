//! Jobs by state as counters: read from every job once, when the queue
//! opens, then moved by each change the queue commits, so a metrics scrape
//! reads five numbers instead of decoding every job.

use std::sync::atomic::{AtomicI64, Ordering};

use super::due;
use super::push::Pushed;
use crate::queue::{Job, JobState};
use crate::state::sled::kv::{decode, Db, DbError, Tree};
use crate::state::sled::Inner;
use crate::state::Gauges;
use crate::time::{to_millis, Timestamp};

impl Inner {
    /// Counts what [`super::push::push`] did, once its transaction is committed.
    pub fn pushed(&self, p: &Pushed) {
        match p {
            Pushed::New => self.counts.moved(None, Some(JobState::Queued)),
            Pushed::Requeued(_, was) => self.counts.moved(Some(*was), Some(JobState::Queued)),
            Pushed::Duplicate(_) => {}
        }
    }

    /// Counts `n` done jobs removed by retention.
    pub fn pruned_done(&self, n: u64) {
        for _ in 0..n {
            self.counts.moved(Some(JobState::Done), None);
        }
    }

    /// Jobs by state (counted, not read) and the due backlog (read from
    /// the due index: jobs waiting or running, never the finished ones).
    pub fn gauges(&self, now: Timestamp) -> Result<Gauges, DbError> {
        let mut due_now = 0u64;
        let mut oldest = None;
        for item in due::due_by(&self.db, &now) {
            oldest = oldest.or(item?.due_ms);
            due_now += 1;
        }
        Ok(Gauges {
            by_state: self.counts.by_state(),
            due_now,
            oldest_due_age_s: oldest
                .map_or(0.0, |ms| to_millis(&now).saturating_sub(ms) as f64 / 1000.0),
        })
    }
}

pub struct Counts([AtomicI64; JobState::ALL.len()]);

fn slot(s: JobState) -> usize {
    JobState::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Counts {
    /// Counts the jobs the state store holds.
    pub fn read(db: &Db) -> Result<Counts, DbError> {
        let counts = Counts(Default::default());
        for item in db.iter(Tree::Jobs) {
            let (_, v) = item?;
            let job: Job = decode(Tree::Jobs, &v)?;
            counts.moved(None, Some(job.state));
        }
        Ok(counts)
    }

    /// A job left `from` (`None`: it is new) for `to` (`None`: it is gone).
    pub fn moved(&self, from: Option<JobState>, to: Option<JobState>) {
        if from == to {
            return;
        }
        if let Some(f) = from {
            self.0[slot(f)].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(t) = to {
            self.0[slot(t)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Jobs in each state. Changes committed at once by several threads
    /// land in any order, so a count may dip below zero for an instant:
    /// read as zero.
    pub fn by_state(&self) -> Vec<(JobState, u64)> {
        JobState::ALL
            .iter()
            .map(|s| (*s, self.0[slot(*s)].load(Ordering::Relaxed).max(0) as u64))
            .collect()
    }
}
