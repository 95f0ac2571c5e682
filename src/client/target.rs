//! Which daemon an admin command talks to, and with which token: the
//! flags first, then the daemon's own configuration (its listen address,
//! `[api] token`, or the token it generated into `[state] dir`), so that
//! on the daemon's machine no flag is needed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::auth::token_file;
use crate::config::Config;

/// The environment variables the CLI takes its token from, in this order:
/// its own, then the daemon's `[api] token` override, so that one exported
/// variable serves both.
pub const TOKEN_VARS: [&str; 2] = [
    "RECORDING_ARCHIVER_API_TOKEN",
    "RECORDING_ARCHIVER__API__TOKEN",
];

/// The token the environment gives, by [`TOKEN_VARS`]' order.
pub fn token_from_env() -> Option<String> {
    TOKEN_VARS
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.is_empty()))
}

/// The API's base URL and the token to present.
pub struct Target {
    base: String,
    token: Option<String>,
    /// The generated token's file, named when the daemon refuses us.
    token_file: Option<PathBuf>,
}

impl Target {
    /// `api` and `token` as given (flags, environment); what is missing is
    /// read from the configuration at `config` (the built-in defaults and
    /// the environment without one).
    pub fn find(
        config: Option<&Path>,
        api: Option<String>,
        token: Option<String>,
    ) -> Result<Target, String> {
        if let (Some(base), Some(token)) = (&api, &token) {
            return Ok(Target {
                base: base.clone(),
                token: Some(token.clone()),
                token_file: None,
            });
        }
        let c = Config::load(config).map_err(|e| e.to_string())?;
        let base = match api {
            Some(b) => b,
            None => base_url(c.listen_addr().map_err(|e| e.to_string())?),
        };
        let file = token_file::path(&c.state.dir);
        let token = match token {
            Some(t) => Some(t),
            None if !c.api.token.is_empty() => Some(c.api.token.expose().to_owned()),
            None => token_file::read(&file).map_err(|e| {
                format!("{e} (run as the daemon's user, or give the token with --token)")
            })?,
        };
        Ok(Target {
            base,
            token,
            token_file: Some(file),
        })
    }

    /// Every page of a listing.
    pub fn get_all(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, String> {
        self.get_first(path, query, None)
    }

    /// The first `max` items of a listing (all of them without a `max`).
    pub fn get_first(
        &self,
        path: &str,
        query: &[(&str, String)],
        max: Option<usize>,
    ) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        self.get_pages(path, query, &mut |page| {
            items.extend(page);
            if let Some(m) = max {
                items.truncate(m);
            }
            max.is_none_or(|m| items.len() < m)
        })?;
        Ok(items)
    }

    /// A listing page by page, until `take` says it has enough.
    pub fn get_pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        take: &mut dyn FnMut(Vec<Value>) -> bool,
    ) -> Result<(), String> {
        super::get_pages(&self.base, path, query, self.token.as_deref(), take)
            .map_err(|e| self.explain(e))
    }

    /// One GET; the JSON answer.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        super::get_one(&self.base, path, self.token.as_deref()).map_err(|e| self.explain(e))
    }

    /// A POST with query parameters; the JSON answer.
    pub fn post(&self, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
        super::post_query(&self.base, path, query, self.token.as_deref())
            .map_err(|e| self.explain(e))
    }

    /// A refusal, with where the token is looked for.
    fn explain(&self, e: String) -> String {
        if !e.contains("HTTP 401") {
            return e;
        }
        let file = self
            .token_file
            .as_ref()
            .map(|f| format!(", or the daemon's {}", f.display()))
            .unwrap_or_default();
        format!(
            "{e} (the token is taken from --token, {}, {}, [api] token of --config{file})",
            TOKEN_VARS[0], TOKEN_VARS[1]
        )
    }
}

/// The URL that reaches a daemon listening on `addr` from this machine.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_own_token_variable_is_not_warned_of_as_a_misspelt_override() {
        assert!(crate::config::CLI_ENV_VARS.contains(&TOKEN_VARS[0]));
        assert!(TOKEN_VARS[1].starts_with(crate::config::ENV_PREFIX));
    }

    #[test]
    fn a_wildcard_listener_is_reached_on_loopback() {
        let url = |s: &str| base_url(s.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:9000"), "http://[::1]:9000");
        assert_eq!(url("10.0.0.5:8080"), "http://10.0.0.5:8080");
    }

    #[test]
    fn without_options_the_built_in_defaults_name_the_daemon() {
        let t = Target::find(None, None, Some("given".into())).unwrap();
        assert_eq!(t.base, "http://127.0.0.1:8080");
        let file = t.token_file.expect("the default state dir's file");
        assert_eq!(file, Path::new("var/state/api-token"));
    }

    #[test]
    fn the_token_comes_from_the_configuration_or_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let config = dir.path().join("c.toml");
        let write = |extra: &str| {
            std::fs::write(
                &config,
                format!(
                    "[server]\nlisten = \"127.0.0.1:8123\"\n[state]\ndir = \"{}\"\n{extra}",
                    state.display()
                ),
            )
            .unwrap()
        };
        write("[api]\ntoken = \"from-the-config\"\n");
        let t = Target::find(Some(&config), None, None).unwrap();
        assert_eq!(t.base, "http://127.0.0.1:8123");
        assert_eq!(t.token.as_deref(), Some("from-the-config"));
        write("");
        assert_eq!(Target::find(Some(&config), None, None).unwrap().token, None);
        std::fs::create_dir_all(&state).unwrap();
        let made = token_file::load_or_create(&state).unwrap();
        let t = Target::find(Some(&config), None, None).unwrap();
        assert_eq!(t.token, Some(made));
        let t = Target::find(
            Some(&config),
            Some("http://x:1".into()),
            Some("flag".into()),
        );
        let t = t.unwrap();
        assert_eq!(
            (t.base.as_str(), t.token.as_deref()),
            ("http://x:1", Some("flag"))
        );
    }
}
