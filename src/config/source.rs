//! `[[sources]]`: the platform accounts that call us back, what their
//! callbacks must prove, and where their files are fetched from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{default_region, default_true, Secret};
use crate::providers::Provider;

mod check;

pub use check::sweep_matcher;
pub(super) use check::validate_all;

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
        /// Also list the bucket under `sweep_prefix` every
        /// `sweep_interval_secs` and queue each object no job knows (a
        /// callback lost: nginx-rtmp and SRS never retry, Alibaba for seconds).
        #[serde(default)]
        sweep: bool,
        /// The bucket listed when the origin names none (its paths then start
        /// with their bucket, as JD's legacy `url` does).
        #[serde(default)]
        sweep_bucket: Option<String>,
        #[serde(default)]
        sweep_prefix: String,
        #[serde(default = "default_sweep_interval")]
        sweep_interval_secs: u64,
        /// An object is taken once this old: its callback has had the time to come.
        #[serde(default = "default_settle")]
        settle_secs: u64,
        /// Only objects whose name (after the last `/`) matches this glob.
        #[serde(default)]
        sweep_glob: Option<String>,
        /// How the stream's facts are read from a key the platform's own
        /// layout does not describe, e.g.
        /// `"rec/{app}/{stream}/{start}_{end}.{format}"`.
        #[serde(default)]
        sweep_key_pattern: Option<String>,
        /// The UTC offset of the times in keys (`+08:00`); default: the
        /// platform's (Beijing time for JD, Alibaba and Huawei), else UTC.
        #[serde(default)]
        sweep_key_utc_offset: Option<String>,
    },
    /// Plain HTTP(S): the path is appended to `base_url`.
    Http { base_url: String },
    /// Local directories (self-hosted nginx-rtmp / SRS): only files under
    /// `roots`, symlinks resolved, are ever read.
    File {
        roots: Vec<PathBuf>,
        /// Also queue, every `sweep_interval_secs`, each closed file under
        /// the roots that no job knows (a hook lost or skipped, files
        /// written while the daemon was down).
        #[serde(default)]
        sweep: bool,
        #[serde(default = "default_sweep_interval")]
        sweep_interval_secs: u64,
        /// A file is closed once unmodified this long.
        #[serde(default = "default_settle")]
        settle_secs: u64,
        /// Only file names matching this glob (`*`, `?`, `[abc]`, `{a,b}`),
        /// e.g. `"*.flv"`.
        #[serde(default)]
        sweep_glob: Option<String>,
        /// Delete a local file once its archive is verified and catalogued
        /// (and it has not changed since); never before.
        #[serde(default)]
        delete_after_archive: bool,
        /// When the disk under a root has less than this share free, the
        /// oldest files already archived are deleted first, never one that
        /// is not; checked every `sweep_interval_secs`.
        #[serde(default)]
        min_free_percent: Option<f64>,
    },
}

fn default_sweep_interval() -> u64 {
    60
}

/// Above nginx-rtmp's and SRS's idle timeouts: a stalled writer's file is
/// not taken for a closed one.
fn default_settle() -> u64 {
    120
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
    /// Alibaba signs recording and snapshot callbacks over the host of the
    /// callback URL set in its console: that host (no port). Default: the
    /// request's `Host` header without its port, which a reverse proxy may
    /// have rewritten. Stream-ingest callbacks are signed over their push
    /// domain (`app`) whatever this says.
    #[serde(default)]
    pub callback_host: Option<String>,
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

fn default_provider() -> Provider {
    Provider::Auto
}

impl OriginConfig {
    /// The object a relative path names at an S3 origin, as `bucket/key`:
    /// what an announced file and the bucket's sweep agree on. `None` for
    /// other origins.
    pub fn object_of(&self, path: &str) -> Option<String> {
        let OriginConfig::S3 { bucket, .. } = self else {
            return None;
        };
        let p = path.trim_start_matches('/');
        match bucket {
            Some(b) => Some(format!("{b}/{p}")),
            None => p.split_once('/').map(|_| p.to_owned()),
        }
    }
}

impl SourceConfig {
    /// A source called `name` with every other key at its default: the
    /// provider detected per callback, no secrets, no origin.
    pub(super) fn named(name: &str) -> SourceConfig {
        SourceConfig {
            name: name.to_owned(),
            provider: default_provider(),
            token: Secret::default(),
            tokens: Vec::new(),
            rate_per_sec: None,
            rate_burst: default_burst(),
            sign_key: Secret::default(),
            sign_window_secs: default_sign_window(),
            callback_host: None,
            auth: None,
            origin: None,
            allow_hosts: Vec::new(),
            proxy: None,
        }
    }

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

    /// What `check-config` warns about this source: one without a token
    /// takes callbacks from any program on this machine.
    pub fn warning(&self) -> Option<String> {
        if self.accepted_tokens().next().is_some() {
            return None;
        }
        let guard = if self.auth_mode() == AuthMode::Signature {
            "only its platform signature"
        } else {
            "no credential: any program on this machine may post to it (browsers and proxies \
             are refused with 403)"
        };
        Some(format!(
            "source {:?} has no token, so it takes callbacks with {guard}; set sources.token",
            self.name
        ))
    }
}
