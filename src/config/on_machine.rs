//! What a loaded configuration tells of this machine and its start: where it
//! came from, what to warn of, whether the paths it names are there.

use std::path::Path;

use super::{layers, Config, ConfigError};

impl Config {
    /// What `check-config` and the daemon's start warn of: sources without
    /// a token, and `RECORDING_ARCHIVER_*` variables nobody reads.
    pub fn warnings(&self) -> Vec<String> {
        let sections: Vec<String> = toml::Table::try_from(Config::default())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let mut w: Vec<String> = self.sources.iter().filter_map(|s| s.warning()).collect();
        w.extend(layers::misspelt_env(std::env::vars(), &sections));
        w.extend(self.store.object_options().and_then(|o| o.warning()));
        w
    }

    /// Where the configuration came from, for people: the file, or the
    /// built-in defaults.
    pub fn origin(&self) -> String {
        match &self.file {
            Some(f) => f.display().to_string(),
            None => "built-in defaults".to_owned(),
        }
    }

    /// Why a job of `source` cannot run: no `[[sources]]` entry of that
    /// name, in which file, and what to do.
    pub fn source_gone(file: Option<&Path>, source: &str) -> String {
        let whence = match file {
            Some(f) => format!("{} has no [[sources]] entry named {source:?}", f.display()),
            None => format!("the built-in defaults have no source named {source:?}"),
        };
        let default = if source == "default" && file.is_some() {
            " (the built-in `default` source exists only while the config lists no [[sources]])"
        } else {
            ""
        };
        format!(
            "source {source:?} is no longer configured: {whence}{default}; add [[sources]] \
             name = {source:?} (with its origin) and restart, then retry the job"
        )
    }

    /// Checks what the configuration names on this machine (unlike
    /// [`Config::validate`], which the admin commands also run elsewhere):
    /// every `file` origin root is a directory here.
    pub fn check_paths(&self) -> Result<(), ConfigError> {
        for (i, s) in self.sources.iter().enumerate() {
            s.check_roots(i)?;
        }
        Ok(())
    }
}
