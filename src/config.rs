//! Typed configuration: built-in defaults, then the TOML file, then
//! `RECORDING_ARCHIVER__SECTION__KEY` environment variables.
//!
//! One file per section, each with the rules its own keys must keep; the
//! layering itself is in `layers`.

mod api;
mod catalog;
mod layers;
mod log;
mod notify;
mod on_machine;
mod secret;
mod server;
mod source;
mod state;
pub mod state_url;
mod store;
mod transfer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use api::ApiConfig;
pub use catalog::CatalogConfig;
pub use log::{LogConfig, LogFormat};
pub use notify::{NotifyConfig, NOTIFY_EVENTS};
pub use secret::Secret;
pub use server::ServerConfig;
pub use source::{sweep_matcher, AuthMode, OriginConfig, SourceConfig};
pub use state::StateConfig;
pub use store::{ObjectOptions, StoreConfig, DEFAULT_KEY_TEMPLATE};
pub use transfer::TransferConfig;

/// The prefix of environment overrides; `__` separates the path.
pub const ENV_PREFIX: &str = "RECORDING_ARCHIVER__";

/// The variables the command line (not the daemon) reads: not warned of as
/// misspelt daemon overrides.
pub const CLI_ENV_VARS: [&str; 2] = [
    "RECORDING_ARCHIVER_API_TOKEN",
    "RECORDING_ARCHIVER_STATE_COPY_TO",
];

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The region of an S3 store or origin that names none.
fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_true() -> bool {
    true
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Names this instance in catalog entries, manifests and metrics when
    /// several run against one bucket (default: the host name).
    pub instance_id: String,
    pub server: ServerConfig,
    pub api: ApiConfig,
    pub state: StateConfig,
    pub store: StoreConfig,
    pub transfer: TransferConfig,
    pub log: LogConfig,
    pub catalog: CatalogConfig,
    pub sources: Vec<SourceConfig>,
    pub notify: Vec<NotifyConfig>,
    /// The file this was read from (`--config`); `None` on built-in defaults.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance_id: hostname(),
            server: ServerConfig::default(),
            api: ApiConfig::default(),
            state: StateConfig::default(),
            store: StoreConfig::default(),
            transfer: TransferConfig::default(),
            log: LogConfig::default(),
            catalog: CatalogConfig::default(),
            sources: vec![SourceConfig::named("default")],
            notify: Vec::new(),
            file: None,
        }
    }
}

/// This machine's host name, made fit for an object key; `archiver` when
/// it has none.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // what fits, and the last byte stays 0 whatever it writes.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    let name: String = String::from_utf8_lossy(&buf[..if ok { end } else { 0 }])
        .chars()
        .map(|c| if instance_char(c) { c } else { '-' })
        .collect();
    if name.is_empty() {
        "archiver".to_owned()
    } else {
        name
    }
}

/// The characters an instance id may hold: it names manifest objects.
fn instance_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl Config {
    /// Loads defaults, then `path` (if any), then the environment, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// [`Config::load`] with the environment given, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // The defaults hold no secrets, so serializing them (a secret would
        // print as `***`) loses nothing; the file and the environment are
        // merged as TOML values and deserialized once, secrets and all.
        let mut table =
            toml::Table::try_from(Config::default()).map_err(|e| invalid("", e.to_string()))?;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            // Typed parse of the file alone first: its errors carry line and key.
            toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            let file: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            layers::merge(&mut table, file);
        }
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        let before = table.clone();
        for (var, value) in &vars {
            layers::apply_env(&mut table, var, value)?;
        }
        let read = |t: &toml::Table| toml::Value::Table(t.clone()).try_into::<Config>();
        let mut config: Config = match read(&table) {
            Ok(c) => c,
            Err(e) => {
                // The file alone was read above: replay the variables one
                // by one to name the one at fault, with its key.
                let mut t = before;
                for (var, value) in &vars {
                    layers::apply_env(&mut t, var, value)?;
                    read(&t).map_err(|e| layers::env_error(var, &e))?;
                }
                return Err(invalid("", e.message().to_owned()));
            }
        };
        notify::name_unnamed(&mut config.notify);
        config.file = path.map(Path::to_owned);
        config.validate()?;
        Ok(config)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen_addr()
    }

    /// True when only this machine can reach the listener.
    pub fn listens_on_loopback(&self) -> bool {
        self.listen_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false)
    }

    /// Checks what types alone cannot, section by section; the first problem wins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.state.validate()?;
        self.store.validate()?;
        self.transfer.validate()?;
        self.catalog.validate()?;
        source::validate_all(&self.sources, self.listen_addr()?)?;
        let names: Vec<String> = self.sources.iter().map(|s| s.name.clone()).collect();
        notify::validate_all(&self.notify, &names)?;
        if self.instance_id.is_empty()
            || self.instance_id.len() > 64
            || !self.instance_id.chars().all(instance_char)
        {
            return Err(invalid(
                "instance_id",
                format!(
                    "{:?}: 1 to 64 of letters, digits, '-', '_' and '.' (it names manifest \
                     objects)",
                    self.instance_id
                ),
            ));
        }
        self.api
            .validate(&self.server.listen, self.listens_on_loopback())?;
        if self.api.token.is_empty() && !self.listens_on_loopback() {
            return Err(invalid(
                "api.token",
                format!(
                    "server.listen {} is reachable from other machines, so the API (events with \
                     their signatures, rejected bodies, retry, replay) needs a token those \
                     callers are given: set [api] token (at least 16 characters), or \
                     RECORDING_ARCHIVER__API__TOKEN",
                    self.server.listen
                ),
            ));
        }
        Ok(())
    }

    /// The source configured under `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// A copy fit to print. Secrets serialize as `***` by themselves; this
    /// also hides the passwords that proxy and origin URLs may carry.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for s in &mut c.sources {
            if let Some(p) = &mut s.proxy {
                *p = without_password(p);
            }
            if let Some(OriginConfig::Http { base_url }) = &mut s.origin {
                *base_url = without_password(base_url);
            }
        }
        c
    }

    /// The effective configuration as TOML, secrets hidden.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(&self.redacted())
            .unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

/// A URL with any password it carries (`http://user:pass@proxy`) replaced by `***`.
fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Provider;
    use std::io::Write;

    /// A config file holding `text`, removed when dropped.
    pub(super) fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_listen_on_loopback_with_one_auto_source() {
        let c = Config::load_with_env(None, []).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].provider, Provider::Auto);
    }

    #[test]
    fn an_unknown_key_is_named_in_the_error() {
        let f = file("[server]\nlisten_on = \"1.2.3.4:1\"\n");
        let e = Config::load_with_env(Some(f.path()), [])
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_on"), "{e}");
    }

    /// Every kind of secret, each with a value that names it.
    const WITH_SECRETS: &str = concat!(
        "[api]\ntoken = \"api-secret\"\n",
        "[store]\ntype = \"s3\"\nbucket = \"b\"\naccess_key_id = \"AK\"\nsecret_access_key = \"store-secret\"\n",
        "[[sources]]\nname = \"jd\"\ntoken = \"src-secret\"\ntokens = [\"old-secret\"]\n",
        "sign_key = \"sign-secret\"\nproxy = \"http://u:proxy-secret@proxy:3128\"\n",
        "[sources.origin]\ntype = \"s3\"\naccess_key_id = \"AK2\"\nsecret_access_key = \"origin-secret\"\n",
    );

    const SECRETS: [&str; 6] = [
        "api-secret",
        "store-secret",
        "src-secret",
        "old-secret",
        "sign-secret",
        "origin-secret",
    ];

    #[test]
    fn secrets_never_print() {
        let f = file(WITH_SECRETS);
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        let printed = c.to_redacted_toml();
        let debug = format!("{c:?}");
        for s in SECRETS {
            assert!(!printed.contains(s) && !debug.contains(s), "{s}");
        }
        assert!(!printed.contains("proxy-secret"), "{printed}");
        assert!(printed.contains("***"));
    }

    #[test]
    fn serializing_the_config_never_writes_a_secret() {
        let f = file(WITH_SECRETS);
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        let as_toml = toml::to_string(&c).unwrap();
        let as_json = serde_json::to_string(&c).unwrap();
        for s in SECRETS {
            assert!(!as_toml.contains(s), "{s} in TOML:\n{as_toml}");
            assert!(!as_json.contains(s), "{s} in JSON:\n{as_json}");
        }
    }

    #[test]
    fn secrets_from_the_file_and_the_environment_survive_the_layering() {
        // Layers merge as TOML values and are deserialized once: no secret
        // passes through Secret's Serialize, which would leave only `***`.
        let f = file(WITH_SECRETS);
        let env = [(
            "RECORDING_ARCHIVER__SOURCES__JD__SIGN_KEY".to_owned(),
            "env-secret".to_owned(),
        )];
        let c = Config::load_with_env(Some(f.path()), env).unwrap();
        assert_eq!(c.api.token.expose(), "api-secret");
        let StoreConfig::S3 {
            secret_access_key, ..
        } = &c.store
        else {
            panic!("an s3 store: {:?}", c.store);
        };
        assert_eq!(secret_access_key.expose(), "store-secret");
        let jd = &c.sources[0];
        assert_eq!(jd.token.expose(), "src-secret");
        assert_eq!(jd.tokens[0].expose(), "old-secret");
        assert_eq!(jd.sign_key.expose(), "env-secret");
        let Some(OriginConfig::S3 {
            secret_access_key, ..
        }) = &jd.origin
        else {
            panic!("an s3 origin: {:?}", jd.origin);
        };
        assert_eq!(secret_access_key.expose(), "origin-secret");
    }
}
