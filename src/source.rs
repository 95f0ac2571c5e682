//! Where archived bytes come from: a full http(s) URL, or a path inside the
//! source's configured origin (an HTTP base URL, an S3-protocol bucket or
//! local directories).
//! Only hosts a source allows are ever contacted, redirects included.

pub mod file;
mod http;
mod s3;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::config::{Config, OriginConfig, SourceConfig};
use crate::event::Location;
use crate::failure::Failure;

/// Downloads broken mid-body are continued with a Range request at most this
/// many times within one attempt.
pub const MAX_RESUMES: u32 = 5;

/// The hosts a source may fetch from.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<String>,
}

impl AllowList {
    /// `allow_hosts` as configured, or the origin's host when empty.
    pub fn for_source(s: &SourceConfig) -> AllowList {
        let mut patterns: Vec<String> = s
            .allow_hosts
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        if patterns.is_empty() {
            if let Some(host) = origin_host(s.origin.as_ref()) {
                patterns.push(host);
            }
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
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = Arc::clone(&self.allow);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let exact = allow.names_exactly(&host);
            let kept: Vec<std::net::SocketAddr> = addrs
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

fn origin_host(origin: Option<&OriginConfig>) -> Option<String> {
    let url = match origin? {
        OriginConfig::Http { base_url } => base_url.as_str(),
        OriginConfig::S3 { endpoint, .. } => endpoint.as_deref()?,
        OriginConfig::File { .. } => return None,
    };
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.to_ascii_lowercase())
}

/// A source's means to fetch.
pub struct SourceClient {
    name: String,
    allow: Arc<AllowList>,
    http: reqwest::Client,
    origin: Option<Origin>,
}

enum Origin {
    Http {
        base: String,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: Option<String>,
    },
    File {
        roots: Vec<std::path::PathBuf>,
    },
}

/// Every configured source's client, by name.
pub struct Sources(HashMap<String, SourceClient>);

impl Sources {
    /// Builds one client per source: its allow-list, redirect policy, proxy and timeouts.
    pub async fn build(config: &Config) -> Result<Sources, String> {
        let timeout = Duration::from_secs(config.transfer.request_timeout_secs);
        let mut map = HashMap::new();
        for s in &config.sources {
            let allow = Arc::new(AllowList::for_source(s));
            let policy_allow = Arc::clone(&allow);
            let mut b = reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver {
                    allow: Arc::clone(&allow),
                }))
                .connect_timeout(timeout)
                .read_timeout(timeout)
                .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= 5 {
                        attempt.error("more than 5 redirects")
                    } else if policy_allow.allows(attempt.url()) {
                        attempt.follow()
                    } else {
                        let to = attempt.url().host_str().unwrap_or("?").to_owned();
                        attempt.error(format!("redirect to {to} refused: not in allow_hosts"))
                    }
                }));
            if let Some(p) = &s.proxy {
                let proxy =
                    reqwest::Proxy::all(p).map_err(|e| format!("sources.{}.proxy: {e}", s.name))?;
                b = b.proxy(proxy);
            }
            let http = b.build().map_err(|e| format!("source {}: {e}", s.name))?;
            let origin = match &s.origin {
                None => None,
                Some(OriginConfig::Http { base_url }) => Some(Origin::Http {
                    base: base_url.trim_end_matches('/').to_owned(),
                }),
                Some(OriginConfig::S3 {
                    endpoint,
                    bucket,
                    region,
                    force_path_style,
                    access_key_id,
                    secret_access_key,
                }) => Some(Origin::S3 {
                    client: crate::store::s3::client(
                        endpoint.as_deref(),
                        region,
                        *force_path_style,
                        access_key_id.as_deref(),
                        secret_access_key.expose(),
                        timeout,
                    )
                    .await,
                    bucket: bucket.clone(),
                }),
                Some(OriginConfig::File { roots }) => Some(Origin::File {
                    roots: roots.clone(),
                }),
            };
            map.insert(
                s.name.clone(),
                SourceClient {
                    name: s.name.clone(),
                    allow,
                    http,
                    origin,
                },
            );
        }
        Ok(Sources(map))
    }

    pub fn get(&self, name: &str) -> Option<&SourceClient> {
        self.0.get(name)
    }
}

impl SourceClient {
    /// Starts fetching a file.
    pub async fn open(&self, location: &Location) -> Result<Download, Failure> {
        match location {
            Location::Url(u) => self.open_url(u).await,
            Location::Path(p) => match &self.origin {
                None => Err(Failure::permanent(format!(
                    "source {:?} has no [sources.origin] to fetch the relative path {p:?} from",
                    self.name
                ))),
                Some(Origin::Http { base }) => {
                    if p.split(['/', '\\']).any(|seg| seg == "..") {
                        return Err(Failure::permanent(format!(
                            "the relative path {p:?} climbs out of the origin with `..`"
                        )));
                    }
                    self.open_url(&format!("{base}/{}", encode_path(p))).await
                }
                Some(Origin::File { roots }) => file::open(roots, p).await,
                Some(Origin::S3 { client, bucket }) => {
                    let p = p.trim_start_matches('/');
                    let (bucket, key) = match bucket {
                        Some(b) => (b.clone(), p.to_owned()),
                        None => match p.split_once('/') {
                            Some((b, k)) if !b.is_empty() && !k.is_empty() => (b.to_owned(), k.to_owned()),
                            _ => {
                                return Err(Failure::permanent(format!(
                                    "path {p:?} does not start with a bucket, and [sources.origin] names none"
                                )))
                            }
                        },
                    };
                    s3::open(client, bucket, key).await
                }
            },
        }
    }

    async fn open_url(&self, url: &str) -> Result<Download, Failure> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Failure::permanent(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure::permanent(format!(
                "{}:// URLs are never fetched (only http and https)",
                parsed.scheme()
            )));
        }
        if !self.allow.allows(&parsed) {
            return Err(Failure::permanent(format!(
                "{} is not an allowed host for source {:?} (allow_hosts: {})",
                parsed.host_str().unwrap_or(parsed.scheme()),
                self.name,
                self.allow.describe()
            )));
        }
        http::open(&self.http, parsed).await
    }
}

/// Percent-encodes a storage path for a URL, keeping its `/`.
fn encode_path(p: &str) -> String {
    percent_encode(p.trim_start_matches('/'), b"-._~!$&'()*+,;=:@/")
}

/// Percent-encodes every byte but ASCII letters, digits and `keep`.
pub(crate) fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A download in progress.
pub struct Download {
    /// The size the origin announced.
    pub content_length: Option<u64>,
    /// The MD5 the origin announced (Content-MD5, or a plain S3 ETag), hex.
    pub md5: Option<String>,
    body: Body,
}

enum Body {
    Http(http::HttpBody),
    S3(s3::S3Body),
    File(file::FileBody),
}

impl Download {
    /// The next bytes; `None` at the end. Breaks are resumed inside.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match &mut self.body {
            Body::Http(b) => b.next_chunk().await,
            Body::S3(b) => b.next_chunk().await,
            Body::File(b) => b.next_chunk().await,
        }
    }
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

    #[tokio::test]
    async fn a_relative_path_cannot_climb_out_of_an_http_origin() {
        let mut config = Config::default();
        config.sources[0].origin = Some(OriginConfig::Http {
            base_url: "http://203.0.113.9/records/".to_owned(),
        });
        let sources = Sources::build(&config).await.unwrap();
        let client = sources.get(&config.sources[0].name).unwrap();
        for p in ["../admin/x.flv", "live/../../x.flv", "a\\..\\..\\x"] {
            let e = client.open(&Location::Path(p.into())).await.err().unwrap();
            assert_eq!(e.kind, crate::failure::FailureKind::Permanent, "{p}");
            assert!(e.message.contains("climbs out"), "{p}: {}", e.message);
        }
    }

    #[test]
    fn paths_are_encoded_for_urls() {
        assert_eq!(
            encode_path("liveApp****/s 1/0_2017-03-08-23:09:46.flv"),
            "liveApp****/s%201/0_2017-03-08-23:09:46.flv"
        );
    }
}
