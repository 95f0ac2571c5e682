//! `[state]`: where the sled database lives.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[state]`: where the sled database lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    pub dir: PathBuf,
    /// Rejected requests kept per source; past it, new ones are answered 400
    /// but not kept, and counted in `recording_archiver_rejected_dropped_total`.
    pub max_rejected_per_source: u64,
    /// Events are kept this many days (fractions allowed), unless a job
    /// still to finish was made from one.
    pub keep_events_days: f64,
    /// `done` jobs are kept this many days after they finished, and their
    /// dedupe keys with them; failed jobs stay until retried.
    pub keep_finished_jobs_days: f64,
    /// Rejected requests are kept this many days.
    pub keep_rejected_days: f64,
    /// How often, in seconds, what is past its keeping is pruned.
    pub prune_every_secs: u64,
    /// A stream started again within this many seconds of its stop is the
    /// same publish session (a reconnect): its recordings share a session id.
    pub session_gap_secs: u64,
    /// The state store's page cache, in MiB: most of the daemon's memory
    /// beside the transfers' parts (sled's own default would be 1 GiB).
    pub cache_mb: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("var/state"),
            max_rejected_per_source: 1000,
            keep_events_days: 30.0,
            keep_finished_jobs_days: 30.0,
            keep_rejected_days: 30.0,
            prune_every_secs: 300,
            session_gap_secs: 60,
            cache_mb: 256,
        }
    }
}

impl StateConfig {
    /// Checks that there is a directory to keep the state in.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("state.dir", "must not be empty"));
        }
        if self.cache_mb == 0 {
            return Err(invalid("state.cache_mb", "must be at least 1 (MiB)"));
        }
        for (key, days) in [
            ("state.keep_events_days", self.keep_events_days),
            (
                "state.keep_finished_jobs_days",
                self.keep_finished_jobs_days,
            ),
            ("state.keep_rejected_days", self.keep_rejected_days),
        ] {
            if !(days.is_finite() && days > 0.0) {
                return Err(invalid(
                    key,
                    "must be a number of days above 0 (fractions allowed)",
                ));
            }
        }
        if self.prune_every_secs == 0 {
            return Err(invalid("state.prune_every_secs", "must be at least 1"));
        }
        Ok(())
    }
}
