//! `[state]`: where the daemon's state lives: the embedded store in `dir`,
//! or the PostgreSQL database `url` names, shared by several instances.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, Secret};

/// `[state]`: where the state lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// The embedded store's directory (and, on PostgreSQL, where the
    /// generated API token is kept).
    pub dir: PathBuf,
    /// Empty: the embedded store in `dir`. A `postgres://` URL: the state
    /// lives in that database, shared by every instance that names it.
    /// `sslmode` (disable, prefer, require, verify-ca, verify-full) and
    /// `sslrootcert` (a CA file; else the system's roots) as libpq reads them.
    pub url: Secret,
    /// Connections to the database each instance keeps at most.
    pub pool_size: usize,
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
            url: Secret::default(),
            pool_size: 16,
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
        if !self.url.is_empty() {
            crate::config::state_url::check(self.url.expose())
                .map_err(|m| invalid("state.url", m))?;
        }
        if self.pool_size == 0 || self.pool_size > 1000 {
            return Err(invalid("state.pool_size", "must be between 1 and 1000"));
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
