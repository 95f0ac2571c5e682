//! Before anything starts, as `check-config` does: what the configuration
//! names must be usable on this machine (file origin roots there, the
//! archive directory writable), and what to warn of.

use std::path::Path;

use crate::config::{Config, StoreConfig};

/// Loads the configuration and checks it against this machine: the config
/// and its warnings, or why it is refused (one line, naming the key).
pub fn checked_config(path: Option<&Path>) -> Result<(Config, Vec<String>), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    config.check_paths().map_err(|e| e.to_string())?;
    let warnings = preflight(&config)?;
    Ok((config, warnings))
}

/// The warnings of a loaded configuration, or the reason not to start. A
/// `file` origin root not there yet is a warning here, not a refusal:
/// the server that records into it (nginx-rtmp, SRS) may start after the
/// daemon and make it, and its callbacks are then taken. `check-config`
/// refuses it ([`checked_config`]).
pub fn preflight(config: &Config) -> Result<Vec<String>, String> {
    let mut warnings = config.warnings();
    if let Err(e) = config.check_paths() {
        warnings.push(format!(
            "{e}; until it does, that source's files cannot be read"
        ));
    }
    if let StoreConfig::Fs { root, .. } = &config.store {
        match crate::store::fs::probe_root(root) {
            Ok(()) => {}
            // A full disk is the disk's state, not the config's: the jobs
            // wait for space (store trouble), the daemon still starts.
            Err(t) if t.full => warnings.push(t.message),
            Err(t) => return Err(t.message),
        }
    }
    Ok(warnings)
}
