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
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("var/state"),
            max_rejected_per_source: 1000,
        }
    }
}

impl StateConfig {
    /// Checks that there is a directory to keep the state in.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("state.dir", "must not be empty"));
        }
        Ok(())
    }
}
