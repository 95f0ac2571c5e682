//! `[api]`: the read/admin API, the web UI and the details of `/metrics`
//! and `/readyz`, all behind one token.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, Secret};

/// The shortest `[api] token` a listener other machines reach may use:
/// shorter ones fall to guessing even at the rate failures are let through.
pub const MIN_REMOTE_TOKEN_LEN: usize = 16;

/// `[api]`: the read/admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// The bearer token; when empty, the daemon generates one into
    /// `<[state] dir>/api-token` at its first start and uses that.
    pub token: Secret,
    /// Answers callers on this machine without a token (the behaviour
    /// before the API was closed by default); loopback listeners only.
    pub loopback_without_token: bool,
    /// How long a browser's sign-in at `/ui/login` lasts, in seconds.
    pub ui_session_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token: Secret::default(),
            loopback_without_token: false,
            ui_session_secs: 12 * 3600,
        }
    }
}

impl ApiConfig {
    /// Checks the section against the listener: `listen` and whether only
    /// this machine reaches it.
    pub fn validate(&self, listen: &str, loopback: bool) -> Result<(), ConfigError> {
        if self.loopback_without_token && !loopback {
            return Err(invalid(
                "api.loopback_without_token",
                format!(
                    "[api] loopback_without_token = true opens the API to callers on this \
                     machine, but server.listen {listen} is reachable from other machines: \
                     remove it, or listen on a loopback address"
                ),
            ));
        }
        let len = self.token.expose().chars().count();
        if !loopback && !self.token.is_empty() && len < MIN_REMOTE_TOKEN_LEN {
            return Err(invalid(
                "api.token",
                format!(
                    "[api] token has {len} characters; server.listen {listen} is reachable \
                     from other machines, so it needs at least {MIN_REMOTE_TOKEN_LEN} (e.g. \
                     `openssl rand -hex 32`)"
                ),
            ));
        }
        if self.ui_session_secs == 0 {
            return Err(invalid(
                "api.ui_session_secs",
                "must be at least 1 (seconds a sign-in at /ui/login lasts)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(token: &str, loopback_without_token: bool) -> ApiConfig {
        ApiConfig {
            token: Secret::new(token),
            loopback_without_token,
            ..ApiConfig::default()
        }
    }

    #[test]
    fn a_short_token_is_refused_only_where_other_machines_reach() {
        let e = api("a", false)
            .validate("0.0.0.0:8080", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[api] token") && e.contains("0.0.0.0:8080"),
            "{e}"
        );
        assert!(api("a", false).validate("127.0.0.1:8080", true).is_ok());
        let long = "x".repeat(MIN_REMOTE_TOKEN_LEN);
        assert!(api(&long, false).validate("0.0.0.0:8080", false).is_ok());
    }

    #[test]
    fn loopback_without_token_is_refused_on_a_listener_others_reach() {
        let e = api("", true)
            .validate("0.0.0.0:8080", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("api.loopback_without_token"), "{e}");
        assert!(api("", true).validate("127.0.0.1:8080", true).is_ok());
    }
}
