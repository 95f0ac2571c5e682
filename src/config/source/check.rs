//! Checks a `[[sources]]` entry: each error names the key to fix.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::{AuthMode, OriginConfig, SourceConfig};
use crate::config::{invalid, ConfigError};
use crate::providers::Provider;

impl SourceConfig {
    /// Checks source `i` (named `sources[i]` in errors); a source without a
    /// token is refused unless only this machine can reach `listen`.
    pub fn validate(&self, i: usize, listen: SocketAddr) -> Result<(), ConfigError> {
        let key = |k: &str| format!("sources[{i}].{k}");
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                key("name"),
                format!(
                    "{:?}: use letters, digits, '-' and '_' (it is a URL path segment)",
                    self.name
                ),
            ));
        }
        self.validate_origin(&key)?;
        if let Some(p) = &self.proxy {
            if !p.starts_with("http://") && !p.starts_with("https://") {
                return Err(invalid(
                    key("proxy"),
                    format!("{p:?} is not an http:// or https:// proxy URL"),
                ));
            }
        }
        if let Some(r) = self.rate_per_sec {
            if !(r.is_finite() && r > 0.0) {
                return Err(invalid(key("rate_per_sec"), "must be a positive number"));
            }
        }
        if let Some(h) = &self.callback_host {
            if h.is_empty() || h.contains(['/', ' ', '?', '#']) {
                return Err(invalid(
                    key("callback_host"),
                    format!(
                        "{h:?}: the host of the console's callback URL alone, no scheme or path"
                    ),
                ));
            }
        }
        self.validate_auth(&key, listen)
    }

    /// Checks where files are read from (`origin.*`).
    fn validate_origin(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        if let Some(OriginConfig::Http { base_url }) = &self.origin {
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
            bucket,
            sweep,
            sweep_bucket,
            sweep_glob,
            sweep_key_pattern,
            sweep_key_utc_offset,
            ..
        }) = &self.origin
        {
            if access_key_id.is_some() == secret_access_key.is_empty() {
                return Err(invalid(
                    key("origin.secret_access_key"),
                    "set access_key_id and secret_access_key together, or neither",
                ));
            }
            if *sweep && bucket.is_none() && sweep_bucket.is_none() {
                return Err(invalid(
                    key("origin.bucket"),
                    "the sweep lists one bucket: name it (or sweep_bucket, when the \
                     platform's paths start with their bucket)",
                ));
            }
            if let Some(Err(e)) = sweep_glob.as_deref().map(sweep_matcher) {
                return Err(invalid(
                    key("origin.sweep_glob"),
                    format!("{:?}: {}", e.glob().unwrap_or_default(), e.kind()),
                ));
            }
            if let Some(Err(e)) = sweep_key_pattern
                .as_deref()
                .map(crate::bucket_sweep::KeyPattern::parse)
            {
                return Err(invalid(key("origin.sweep_key_pattern"), e));
            }
            if let Some(Err(e)) = sweep_key_utc_offset
                .as_deref()
                .map(crate::bucket_sweep::utc_offset)
            {
                return Err(invalid(key("origin.sweep_key_utc_offset"), e));
            }
        }
        if let Some(OriginConfig::File {
            roots, sweep_glob, ..
        }) = &self.origin
        {
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
            if let Some(Err(e)) = sweep_glob.as_deref().map(sweep_matcher) {
                return Err(invalid(
                    key("origin.sweep_glob"),
                    format!("{:?}: {}", e.glob().unwrap_or_default(), e.kind()),
                ));
            }
        }
        Ok(())
    }

    /// Checks that callbacks can be told from forgeries: a token, a
    /// signature, or both, as the platform allows.
    fn validate_auth(
        &self,
        key: &dyn Fn(&str) -> String,
        listen: SocketAddr,
    ) -> Result<(), ConfigError> {
        if self.auth_mode() != AuthMode::Token && self.sign_key.is_empty() {
            return Err(invalid(
                key("sign_key"),
                format!(
                    "source {:?} requires a signature but has no sign_key",
                    self.name
                ),
            ));
        }
        if self.auth_mode() != AuthMode::Token
            && matches!(self.provider, Provider::Jdcloud | Provider::Ksyun)
        {
            return Err(invalid(
                key("auth"),
                format!(
                    "source {:?}: {} does not sign its callbacks; only aliyun, tencent \
                     and auto sources can require a signature",
                    self.name, self.provider
                ),
            ));
        }
        if self.auth_mode() == AuthMode::Signature
            && matches!(
                self.provider,
                Provider::Tencent | Provider::Volcengine | Provider::Huawei | Provider::Auto
            )
        {
            return Err(invalid(
                key("auth"),
                format!(
                    "source {:?}: {}'s signature is not bound to the whole body, so anyone \
                     who saw one could post other bodies while it is fresh; use auth = \"both\" \
                     (the default) with a token",
                    self.name, self.provider
                ),
            ));
        }
        if self.auth_mode() == AuthMode::Both && self.accepted_tokens().next().is_none() {
            return Err(invalid(
                key("token"),
                format!(
                    "source {:?} requires a token beside its signature (auth = \"both\", the \
                     default with a sign_key) but has none: a signature is not bound to the body",
                    self.name
                ),
            ));
        }
        if self.auth_mode() != AuthMode::Signature
            && self.accepted_tokens().next().is_none()
            && !listen.ip().is_loopback()
        {
            return Err(invalid(
                key("token"),
                format!(
                    "source {:?} has no token, but server.listen {listen} is reachable from other machines",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}

impl SourceConfig {
    /// Checks, on this machine, that each `file` origin root of source `i`
    /// is a directory there: a root mistyped would otherwise pass until the
    /// first recording fails to be found.
    pub fn check_roots(&self, i: usize) -> Result<(), ConfigError> {
        let Some(OriginConfig::File { roots, .. }) = &self.origin else {
            return Ok(());
        };
        for root in roots {
            let why = match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => "is a file, not a directory".to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                Err(e) => format!("cannot be read: {e}"),
            };
            return Err(invalid(
                format!("sources[{i}].origin.roots"),
                format!(
                    "source {:?}: {} {why}: create it (the directory the server records \
                     into) or fix the path",
                    self.name,
                    root.display()
                ),
            ));
        }
        Ok(())
    }
}

/// The sweep's file-name matcher for `sweep_glob`: `*` and `?` within a
/// name, `[abc]` and `{a,b}` as in a shell.
pub fn sweep_matcher(glob: &str) -> Result<globset::GlobMatcher, globset::Error> {
    Ok(globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// Checks every source, and that no two share a name: it is their URL path.
pub(in crate::config) fn validate_all(
    sources: &[SourceConfig],
    listen: SocketAddr,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, s) in sources.iter().enumerate() {
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(
                format!("sources[{i}].name"),
                format!("{:?} is defined twice", s.name),
            ));
        }
        s.validate(i, listen)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::file;
    use crate::config::Config;

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
        let load = |provider: &str, token: &str| {
            let f = file(&format!(
                "[[sources]]\nname = \"s\"\nprovider = \"{provider}\"\nsign_key = \"k\"\n{token}"
            ));
            Config::load_with_env(Some(f.path()), []).map_err(|e| e.to_string())
        };
        for p in ["jdcloud", "ksyun"] {
            let e = load(p, "token = \"t\"\n").unwrap_err();
            assert!(e.contains("does not sign"), "{p}: {e}");
        }
        for p in ["aliyun", "tencent", "auto"] {
            assert!(load(p, "token = \"t\"\n").is_ok(), "{p}");
            // A signature is not bound to the body: alone it proves little.
            let e = load(p, "").unwrap_err();
            assert!(
                e.contains("sources[0].token") && e.contains("beside"),
                "{p}: {e}"
            );
        }
    }
}
