//! `[[notify]]`: where the team's app is told what was archived, signed the
//! Standard Webhooks way.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, Secret};

/// What a notification may be about.
pub const NOTIFY_EVENTS: [&str; 6] = [
    "archived",
    "failed",
    "stream_started",
    "stream_stopped",
    "recording_started",
    "recording_stopped",
];

/// One `[[notify]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Names the entry in jobs, listings and logs; optional: unnamed, it
    /// is its URL's host and its position (`hooks.example.com-0`).
    pub name: String,
    pub url: String,
    /// `whsec_` and the base64 of the signing key, as Standard Webhooks
    /// libraries take it.
    pub secret: Secret,
    pub events: Vec<String>,
    /// Only these sources' files and streams; every source when empty.
    pub sources: Vec<String>,
    /// Hosts that may be internal addresses (loopback, private networks),
    /// named outright; every other host must resolve to public addresses.
    pub allow_hosts: Vec<String>,
}

impl NotifyConfig {
    /// The entry's name.
    pub fn id(&self) -> &str {
        &self.name
    }

    /// The signing key's bytes.
    pub fn key(&self) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let s = self.secret.expose();
        let b64 = s.strip_prefix("whsec_").unwrap_or(s);
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("not base64 after `whsec_`: {e}"))
            .and_then(|k| {
                if k.len() < 16 {
                    Err("the key must be at least 16 bytes (24 in base64)".to_owned())
                } else {
                    Ok(k)
                }
            })
    }

    /// True when this entry wants `event` about `source`.
    pub fn wants(&self, event: &str, source: &str) -> bool {
        self.events.iter().any(|e| e == event)
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == source))
    }
}

/// Names every unnamed entry after its URL's host and its position in the
/// list (`notify[i]`): stable while the list is, and never the URL itself,
/// which may hold a secret.
pub fn name_unnamed(entries: &mut [NotifyConfig]) {
    for (i, n) in entries.iter_mut().enumerate() {
        if !n.name.is_empty() {
            continue;
        }
        let Some(host) = reqwest::Url::parse(&n.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        else {
            continue; // the URL's own error is told
        };
        let host: String = host
            .chars()
            .map(|c| if name_char(c) { c } else { '-' })
            .take(50)
            .collect();
        n.name = format!("{host}-{i}");
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Checks every entry: a URL, a key, known events, unique names, known sources.
pub fn validate_all(entries: &[NotifyConfig], sources: &[String]) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, n) in entries.iter().enumerate() {
        let key = |k: &str| format!("notify[{i}].{k}");
        let url = reqwest::Url::parse(&n.url).map_err(|e| invalid(key("url"), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(key("url"), "must be an http(s) URL"));
        }
        if n.secret.is_empty() {
            return Err(invalid(
                key("secret"),
                "required: receivers verify every notification with it (whsec_...)",
            ));
        }
        n.key().map_err(|e| invalid(key("secret"), e))?;
        if n.events.is_empty() {
            return Err(invalid(
                key("events"),
                format!("name at least one of {}", NOTIFY_EVENTS.join(", ")),
            ));
        }
        if let Some(bad) = n
            .events
            .iter()
            .find(|e| !NOTIFY_EVENTS.contains(&e.as_str()))
        {
            return Err(invalid(
                key("events"),
                format!(
                    "unknown event {bad:?} (known: {})",
                    NOTIFY_EVENTS.join(", ")
                ),
            ));
        }
        if let Some(bad) = n.sources.iter().find(|s| !sources.contains(s)) {
            return Err(invalid(key("sources"), format!("no source named {bad:?}")));
        }
        // Never the URL itself (which may hold a secret): it names the
        // entry in every listing and log line.
        if n.name.is_empty() || n.name.len() > 64 || !n.name.chars().all(name_char) {
            return Err(invalid(
                key("name"),
                "1 to 64 of letters, digits, '-', '_' and '.' (or leave it out: the URL's host and the position)",
            ));
        }
        if !names.insert(n.id()) {
            return Err(invalid(key("name"), format!("{:?} is used twice", n.id())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, url: &str) -> NotifyConfig {
        NotifyConfig {
            name: name.to_owned(),
            url: url.to_owned(),
            secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            events: vec!["archived".to_owned()],
            ..NotifyConfig::default()
        }
    }

    #[test]
    fn an_entry_written_to_the_url_secret_events_contract_needs_no_name() {
        let mut entries = vec![
            entry("", "https://hooks.example.com/a?sig=secret"),
            entry("", "https://hooks.example.com/b"),
            entry("mine", "http://10.0.0.5:9000/"),
        ];
        name_unnamed(&mut entries);
        let names: Vec<&str> = entries.iter().map(|e| e.id()).collect();
        assert_eq!(
            names,
            ["hooks.example.com-0", "hooks.example.com-1", "mine"]
        );
        validate_all(&entries, &[]).unwrap();
    }
}
