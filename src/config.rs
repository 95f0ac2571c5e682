//! Typed configuration: built-in defaults, then the TOML file, then
//! `RECORDING_ARCHIVER__SECTION__KEY` environment variables.

mod layers;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::providers::Provider;

/// The prefix of environment overrides; `__` separates the path.
pub const ENV_PREFIX: &str = "RECORDING_ARCHIVER__";

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

/// A secret string: shown as `***` in Debug, Display and printed config.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is compared or sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn redacted(&self) -> Secret {
        if self.0.is_empty() {
            Secret::default()
        } else {
            Secret("***".to_owned())
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub api: ApiConfig,
    pub state: StateConfig,
    pub store: StoreConfig,
    pub transfer: TransferConfig,
    pub log: LogConfig,
    pub sources: Vec<SourceConfig>,
}

/// `[log]`: how log lines look.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// Human-readable lines, or one JSON object per line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    pub http_workers: usize,
    /// Request headers, names and values together, may not exceed this (431).
    pub max_header_bytes: usize,
    /// Nor may a request carry more headers than this (431).
    pub max_headers: usize,
    /// A client has this long to send a request's head, else 408.
    pub request_timeout_secs: u64,
    /// And this long to send its body, else 408.
    pub body_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this long.
    pub keep_alive_secs: u64,
}

/// `[api]`: the read/admin API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub token: Secret,
}

/// `[state]`: where the sled database lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    pub dir: PathBuf,
    /// Rejected requests kept per source; past it, new ones are answered 400
    /// but not kept, and counted in `recording_archiver_rejected_dropped_total`.
    pub max_rejected_per_source: u64,
}

pub use crate::store::key::DEFAULT_KEY_TEMPLATE;

fn default_key_template() -> String {
    DEFAULT_KEY_TEMPLATE.to_owned()
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// `[store]`: where archived files go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// A local directory.
    Fs {
        #[serde(default = "default_archive_root")]
        root: PathBuf,
        #[serde(default = "default_key_template")]
        key_template: String,
    },
    /// An S3 bucket (AWS or any S3-compatible server).
    S3 {
        bucket: String,
        /// Omit for AWS.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        force_path_style: bool,
        /// Omit both keys to use the standard AWS credential chain.
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Secret,
        #[serde(default = "default_key_template")]
        key_template: String,
    },
}

impl StoreConfig {
    /// The object key layout.
    pub fn key_template(&self) -> &str {
        match self {
            StoreConfig::Fs { key_template, .. } | StoreConfig::S3 { key_template, .. } => {
                key_template
            }
        }
    }
}

/// `[transfer]`: the worker pool and its retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferConfig {
    /// Concurrent transfers; 0 = receive and queue only (no transfers here).
    pub workers: usize,
    /// Multipart part size in bytes (raised to ceil(size / 10000) for huge files).
    pub part_size: u64,
    /// Parts in memory at once per transfer (the one being filled included):
    /// memory per transfer is about parts_in_flight * part_size.
    pub parts_in_flight: usize,
    /// Attempts before a job is `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with jitter.
    pub retry_initial_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// Timeout for connecting and for each read of a download or request of an upload.
    pub request_timeout_secs: u64,
    /// A running job's lease; refreshed while it runs, taken over when it lapses.
    pub lease_secs: u64,
    /// A 404 counts as "not visible yet" (retried) within this many attempts.
    pub not_found_attempts: u32,
    /// On SIGTERM/SIGINT, running transfers get this long to finish before
    /// they are interrupted (uploads aborted, jobs queued again).
    pub shutdown_grace_secs: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            workers: 4,
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 2,
            max_attempts: 12,
            retry_initial_secs: 5,
            retry_max_secs: 1800,
            request_timeout_secs: 60,
            lease_secs: 60,
            not_found_attempts: 3,
            shutdown_grace_secs: 20,
        }
    }
}

/// `[sources.origin]`: where a source's relative file paths are fetched from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OriginConfig {
    /// An S3-protocol bucket (Alibaba OSS, JD Cloud OSS, AWS, ...).
    S3 {
        #[serde(default)]
        endpoint: Option<String>,
        /// Omit when paths start with the bucket (JD legacy `url` = `bucket/key`).
        #[serde(default)]
        bucket: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default = "default_true")]
        force_path_style: bool,
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Secret,
    },
    /// Plain HTTP(S): the path is appended to `base_url`.
    Http { base_url: String },
    /// Local directories (self-hosted nginx-rtmp / SRS): only files under
    /// `roots`, symlinks resolved, are ever read.
    File { roots: Vec<PathBuf> },
}

fn default_true() -> bool {
    true
}

/// `[[sources]]`: one platform account calling us back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    #[serde(default = "default_provider")]
    pub provider: Provider,
    #[serde(default)]
    pub token: Secret,
    /// More accepted tokens, for rotation: deploy the new one here, move the
    /// platforms over, then remove the old.
    #[serde(default)]
    pub tokens: Vec<Secret>,
    /// Callbacks per second accepted from this source (after authentication);
    /// beyond it, 429. Bursts of up to `rate_burst` pass. Unset: no limit.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    #[serde(default = "default_burst")]
    pub rate_burst: u32,
    /// The key platforms sign callbacks with (Alibaba `ALI-LIVE-SIGNATURE`).
    #[serde(default)]
    pub sign_key: Secret,
    /// Accepted signature age, in seconds.
    #[serde(default = "default_sign_window")]
    pub sign_window_secs: u64,
    /// What a callback must prove: "token", "signature", or "both".
    /// Default: "both" when sign_key is set, else "token".
    #[serde(default)]
    pub auth: Option<AuthMode>,
    /// Where relative paths (Alibaba `uri`, JD legacy `url`) are fetched from.
    #[serde(default)]
    pub origin: Option<OriginConfig>,
    /// Hosts downloads may come from: `host`, `*.domain` or `*`. Default: the origin's host.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// An HTTP proxy for this source's downloads (`http://host:port`).
    #[serde(default)]
    pub proxy: Option<String>,
}

fn default_burst() -> u32 {
    50
}

fn default_sign_window() -> u64 {
    300
}

/// What a source's callbacks must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Token,
    Signature,
    Both,
}

impl SourceConfig {
    /// What this source's callbacks must carry.
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.unwrap_or(if self.sign_key.is_empty() {
            AuthMode::Token
        } else {
            AuthMode::Both
        })
    }

    /// Every token this source accepts.
    pub fn accepted_tokens(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.token)
            .chain(&self.tokens)
            .filter(|t| !t.is_empty())
    }
}

fn default_provider() -> Provider {
    Provider::Auto
}

fn default_archive_root() -> PathBuf {
    PathBuf::from("var/archive")
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 65536,
            http_workers: 0,
            max_header_bytes: 8192,
            max_headers: 64,
            request_timeout_secs: 5,
            body_timeout_secs: 10,
            keep_alive_secs: 30,
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("var/state"),
            max_rejected_per_source: 1000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Fs {
            root: default_archive_root(),
            key_template: default_key_template(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            api: ApiConfig::default(),
            state: StateConfig::default(),
            store: StoreConfig::default(),
            transfer: TransferConfig::default(),
            log: LogConfig::default(),
            sources: vec![SourceConfig {
                name: "default".to_owned(),
                provider: Provider::Auto,
                token: Secret::default(),
                tokens: Vec::new(),
                rate_per_sec: None,
                rate_burst: default_burst(),
                sign_key: Secret::default(),
                sign_window_secs: default_sign_window(),
                auth: None,
                origin: None,
                allow_hosts: Vec::new(),
                proxy: None,
            }],
        }
    }
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
        for (var, value) in vars {
            layers::apply_env(&mut table, &var, &value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid("", e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|e| {
            invalid(
                "server.listen",
                format!("{:?} is not an address:port ({e})", self.server.listen),
            )
        })
    }

    /// True when only this machine can reach the listener.
    pub fn listens_on_loopback(&self) -> bool {
        self.listen_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let addr = self.listen_addr()?;
        if !(1024..=32768).contains(&self.server.max_header_bytes) {
            return Err(invalid(
                "server.max_header_bytes",
                "must be between 1024 and 32768 (the HTTP parser's own ceiling)",
            ));
        }
        if !(8..=96).contains(&self.server.max_headers) {
            return Err(invalid(
                "server.max_headers",
                "must be between 8 and 96 (the HTTP parser's own ceiling)",
            ));
        }
        for (k, v) in [
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            ("server.body_timeout_secs", self.server.body_timeout_secs),
        ] {
            if v == 0 {
                return Err(invalid(k, "must be at least 1 second"));
            }
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid(
                "server.max_body_bytes",
                "must be at least 1024: platform callbacks are a few hundred bytes to a few KiB",
            ));
        }
        if self.state.dir.as_os_str().is_empty() {
            return Err(invalid("state.dir", "must not be empty"));
        }
        match &self.store {
            StoreConfig::Fs { root, .. } if root.as_os_str().is_empty() => {
                return Err(invalid("store.root", "must not be empty"))
            }
            StoreConfig::S3 { bucket, .. } if bucket.is_empty() => {
                return Err(invalid("store.bucket", "must name the bucket to archive into"))
            }
            StoreConfig::S3 {
                access_key_id,
                secret_access_key,
                ..
            } if access_key_id.is_some() == secret_access_key.is_empty() => {
                return Err(invalid(
                    "store.secret_access_key",
                    "set access_key_id and secret_access_key together, or neither (AWS credential chain)",
                ))
            }
            _ => {}
        }
        crate::store::key::KeyTemplate::parse(self.store.key_template())
            .map_err(|e| invalid("store.key_template", e))?;
        let t = &self.transfer;
        for (key, value) in [
            ("transfer.parts_in_flight", t.parts_in_flight as u64),
            ("transfer.max_attempts", u64::from(t.max_attempts)),
            ("transfer.retry_initial_secs", t.retry_initial_secs),
            ("transfer.request_timeout_secs", t.request_timeout_secs),
            ("transfer.lease_secs", t.lease_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if t.part_size < 5 * 1024 * 1024 || t.part_size > 5 * 1024 * 1024 * 1024 {
            return Err(invalid(
                "transfer.part_size",
                "must be between 5 MiB and 5 GiB (S3's limits for a part)",
            ));
        }
        if t.retry_max_secs < t.retry_initial_secs {
            return Err(invalid(
                "transfer.retry_max_secs",
                "must not be below retry_initial_secs",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let key = |k: &str| format!("sources[{i}].{k}");
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    key("name"),
                    format!(
                        "{:?}: use letters, digits, '-' and '_' (it is a URL path segment)",
                        s.name
                    ),
                ));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("{:?} is defined twice", s.name),
                ));
            }
            if let Some(OriginConfig::Http { base_url }) = &s.origin {
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    return Err(invalid(
                        key("origin.base_url"),
                        format!("{base_url:?} is not an http(s) URL"),
                    ));
                }
            }
            if let Some(OriginConfig::S3 {
                access_key_id,
                secret_access_key,
                ..
            }) = &s.origin
            {
                if access_key_id.is_some() == secret_access_key.is_empty() {
                    return Err(invalid(
                        key("origin.secret_access_key"),
                        "set access_key_id and secret_access_key together, or neither",
                    ));
                }
            }
            if let Some(OriginConfig::File { roots }) = &s.origin {
                if roots.is_empty() {
                    return Err(invalid(
                        key("origin.roots"),
                        "list at least one directory files may be read from",
                    ));
                }
                if let Some(r) = roots.iter().find(|r| !r.is_absolute()) {
                    return Err(invalid(
                        key("origin.roots"),
                        format!("{} is not an absolute path", r.display()),
                    ));
                }
            }
            if let Some(p) = &s.proxy {
                if !p.starts_with("http://")
                    && !p.starts_with("https://")
                    && !p.starts_with("socks5://")
                {
                    return Err(invalid(key("proxy"), format!("{p:?} is not a proxy URL")));
                }
            }
            if let Some(r) = s.rate_per_sec {
                if !(r.is_finite() && r > 0.0) {
                    return Err(invalid(key("rate_per_sec"), "must be a positive number"));
                }
            }
            if s.auth_mode() != AuthMode::Token && s.sign_key.is_empty() {
                return Err(invalid(
                    key("sign_key"),
                    format!(
                        "source {:?} requires a signature but has no sign_key",
                        s.name
                    ),
                ));
            }
            if s.auth_mode() != AuthMode::Token
                && matches!(s.provider, Provider::Jdcloud | Provider::Ksyun)
            {
                return Err(invalid(
                    key("auth"),
                    format!(
                        "source {:?}: {} does not sign its callbacks; only aliyun, tencent \
                         and auto sources can require a signature",
                        s.name, s.provider
                    ),
                ));
            }
            if s.auth_mode() != AuthMode::Signature
                && s.accepted_tokens().next().is_none()
                && !addr.ip().is_loopback()
            {
                return Err(invalid(
                    key("token"),
                    format!(
                        "source {:?} has no token, but server.listen {addr} is reachable from other machines",
                        s.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The source configured under `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// A copy with every secret replaced by `***`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        c.api.token = c.api.token.redacted();
        if let StoreConfig::S3 {
            secret_access_key, ..
        } = &mut c.store
        {
            *secret_access_key = secret_access_key.redacted();
        }
        for s in &mut c.sources {
            s.token = s.token.redacted();
            for t in &mut s.tokens {
                *t = t.redacted();
            }
            s.sign_key = s.sign_key.redacted();
            if let Some(p) = &mut s.proxy {
                *p = without_password(p);
            }
            if let Some(OriginConfig::Http { base_url }) = &mut s.origin {
                *base_url = without_password(base_url);
            }
            if let Some(OriginConfig::S3 {
                secret_access_key, ..
            }) = &mut s.origin
            {
                *secret_access_key = secret_access_key.redacted();
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

    #[test]
    fn a_public_listener_requires_source_tokens() {
        let f = file("[server]\nlisten = \"0.0.0.0:8080\"\n[[sources]]\nname = \"jd\"\n");
        let e = Config::load_with_env(Some(f.path()), [])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sources[0].token"), "{e}");
    }

    #[test]
    fn only_platforms_that_sign_can_require_a_signature() {
        let load = |provider: &str| {
            let f = file(&format!(
                "[[sources]]\nname = \"s\"\nprovider = \"{provider}\"\nsign_key = \"k\"\n"
            ));
            Config::load_with_env(Some(f.path()), []).map_err(|e| e.to_string())
        };
        for p in ["jdcloud", "ksyun"] {
            let e = load(p).unwrap_err();
            assert!(e.contains("does not sign"), "{p}: {e}");
        }
        for p in ["aliyun", "tencent", "auto"] {
            assert!(load(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        for (key, v) in [
            ("MAX_HEADER_BYTES", "100000"),
            ("MAX_HEADERS", "200"),
            ("BODY_TIMEOUT_SECS", "0"),
        ] {
            let env = [(format!("RECORDING_ARCHIVER__SERVER__{key}"), v.to_owned())];
            let e = Config::load_with_env(None, env).unwrap_err().to_string();
            assert!(e.contains(&key.to_ascii_lowercase()), "{key}: {e}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let f = file(concat!(
            "[api]\ntoken = \"api-secret\"\n",
            "[store]\ntype = \"s3\"\nbucket = \"b\"\naccess_key_id = \"AK\"\nsecret_access_key = \"store-secret\"\n",
            "[[sources]]\nname = \"jd\"\ntoken = \"src-secret\"\n",
            "[sources.origin]\ntype = \"s3\"\naccess_key_id = \"AK2\"\nsecret_access_key = \"origin-secret\"\n",
        ));
        let c = Config::load_with_env(Some(f.path()), []).unwrap();
        let printed = c.to_redacted_toml();
        let debug = format!("{c:?}");
        for s in ["api-secret", "src-secret", "store-secret", "origin-secret"] {
            assert!(!printed.contains(s) && !debug.contains(s), "{s}");
        }
        assert!(printed.contains("***"));
    }
}
