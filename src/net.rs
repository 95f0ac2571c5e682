//! The outbound network policy: which hosts may be fetched from, which
//! addresses count as internal, and the resolver and redirect policy that
//! enforce both on every connection a download makes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Redirects followed before a download fails.
const MAX_REDIRECTS: usize = 5;

/// The hosts a source may fetch from.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<String>,
}

impl AllowList {
    /// `patterns` (exact hosts, `*.suffix` or `*`), or only `origin_host`
    /// when there are none: a source with an origin may always reach it.
    pub fn new(patterns: &[String], origin_host: Option<String>) -> AllowList {
        let mut patterns: Vec<String> = patterns
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        if patterns.is_empty() {
            patterns.extend(origin_host);
        }
        AllowList { patterns }
    }

    /// True when `url` may be fetched: http(s) only, and its host listed.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        // Internal addresses only when named outright, never through a wildcard.
        if let Ok(ip) = host.parse::<IpAddr>() {
            if is_internal(&ip) {
                return self.names_exactly(&host);
            }
        }
        self.patterns.iter().any(|p| {
            p == "*"
                || *p == host
                || p.strip_prefix("*.")
                    .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")))
        })
    }

    /// True when `host` is listed as itself, not through a wildcard.
    pub fn names_exactly(&self, host: &str) -> bool {
        self.patterns.iter().any(|p| p.eq_ignore_ascii_case(host))
    }

    /// For error messages.
    pub fn describe(&self) -> String {
        if self.patterns.is_empty() {
            "nothing (set allow_hosts or an origin)".to_owned()
        } else {
            self.patterns.join(", ")
        }
    }
}

/// Loopback, private, link-local (the cloud metadata service), unspecified:
/// addresses a callback must not be able to point us at.
pub fn is_internal(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || o[0] == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
        }
    }
}

/// A name that resolves only to addresses the source may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses ({addrs}); list it exactly in allow_hosts to fetch from it")]
pub struct InternalAddress {
    pub host: String,
    pub addrs: String,
}

/// Resolves names for one source's downloads and drops internal addresses
/// unless the name is listed exactly: the check sees the address actually
/// connected to, for every redirect hop, so DNS rebinding gains nothing.
pub struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl GuardedResolver {
    /// A resolver enforcing `allow`.
    pub fn new(allow: Arc<AllowList>) -> GuardedResolver {
        GuardedResolver { allow }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = Arc::clone(&self.allow);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let exact = allow.names_exactly(&host);
            let kept: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| exact || !is_internal(&a.ip()))
                .collect();
            if kept.is_empty() {
                let addrs = addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(InternalAddress { host, addrs })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Follows a redirect only to a host `allow` lists, and at most
/// `MAX_REDIRECTS` of them.
pub fn redirect_policy(allow: Arc<AllowList>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if allow.allows(attempt.url()) {
            attempt.follow()
        } else {
            let to = attempt.url().host_str().unwrap_or("?").to_owned();
            attempt.error(format!("redirect to {to} refused: not in allow_hosts"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> AllowList {
        AllowList {
            patterns: p.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn url(u: &str) -> reqwest::Url {
        reqwest::Url::parse(u).unwrap()
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard_suffix() {
        let a = list(&["*.jcloudcs.com", "oss.example.com"]);
        assert!(a.allows(&url("http://s3.cn-north-1.jcloudcs.com/x")));
        assert!(a.allows(&url("https://OSS.example.com/x")));
        assert!(!a.allows(&url("http://jcloudcs.com.evil.net/x")));
        assert!(!a.allows(&url("http://evil-jcloudcs.com/x")));
        assert!(!a.allows(&url("http://other.example.com/x")));
    }

    #[test]
    fn only_http_schemes_are_fetched() {
        let a = list(&["*"]);
        assert!(!a.allows(&url("file:///etc/passwd")));
        assert!(!a.allows(&url("gopher://h/x")));
        assert!(a.allows(&url("https://anything.example/x")));
    }

    #[test]
    fn internal_addresses_need_to_be_named_outright() {
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://[::1]/x",
            "http://[fd00:ec2::254]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
        ] {
            assert!(!list(&["*"]).allows(&url(u)), "{u}");
        }
        assert!(list(&["169.254.169.254"]).allows(&url("http://169.254.169.254/x")));
        assert!(list(&["127.0.0.1"]).allows(&url("http://127.0.0.1:8080/x")));
        assert!(list(&["*"]).allows(&url("http://8.8.8.8/x")));
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        assert!(!list(&[]).allows(&url("http://h/x")));
    }

    #[test]
    fn the_origin_host_is_allowed_only_when_no_patterns_are_given() {
        let origin = AllowList::new(&[], Some("oss.example.com".to_owned()));
        assert!(origin.allows(&url("http://oss.example.com/x")));
        let listed = AllowList::new(
            &[" CDN.example.com ".to_owned()],
            Some("oss.example.com".to_owned()),
        );
        assert!(listed.allows(&url("http://cdn.example.com/x")));
        assert!(!listed.allows(&url("http://oss.example.com/x")));
    }
}
