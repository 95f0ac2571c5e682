//! Pruning by retention: events, `done` jobs (and the identities that
//! find them) and rejected requests past their keep_* days; never the
//! catalog, a failed job, or an event a kept job needs.

use std::time::Duration;

use super::StateError;
use crate::config::StateConfig;
use crate::time::Timestamp;

/// How long records are kept (`[state]` keep_*_days).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events: Duration,
    pub finished_jobs: Duration,
    pub rejected: Duration,
    /// How often to prune (`prune_every_secs`).
    pub every: Duration,
}

impl Retention {
    /// The retention `[state]` asks for.
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

/// How many records a pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub jobs: u64,
    pub rejected: u64,
}

/// Pruning.
#[async_trait::async_trait]
pub trait RetentionRepo: Send + Sync {
    /// Removes what `r` no longer keeps at `now`, in small batches.
    async fn prune(&self, r: Retention, now: Timestamp) -> Result<Pruned, StateError>;
}
