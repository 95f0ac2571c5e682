//! Where archived bytes come from: a full http(s) URL, or a path inside the
//! source's configured origin (an HTTP base URL, an S3-protocol bucket or
//! local directories).
//! Only hosts a source allows are ever contacted, redirects included.

pub mod file;
mod http;
mod resume;
mod s3;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::config::{Config, OriginConfig, SourceConfig};
use crate::event::Location;
use crate::net::{redirect_policy, AllowList, GuardedResolver};
use crate::retry::Failure;
use crate::upload::OriginMark;

// Here rather than in `net`: reading a source's config is the source's
// business, and the network policy stays free of it.
impl AllowList {
    /// `allow_hosts` as configured, or the origin's host when empty.
    pub fn for_source(s: &SourceConfig) -> AllowList {
        AllowList::new(&s.allow_hosts, origin_host(s.origin.as_ref()))
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
    /// Downloads go through the source's proxy.
    proxied: bool,
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
        delete_after_archive: bool,
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
            let proxy_host = crate::net::proxy_host(s.proxy.as_deref());
            let guard = GuardedResolver::new(Arc::clone(&allow), proxy_host);
            let mut b = reqwest::Client::builder()
                .dns_resolver(Arc::new(guard))
                .connect_timeout(timeout)
                .read_timeout(timeout)
                .redirect(redirect_policy(Arc::clone(&allow), s.proxy.is_some()))
                // A signed URL's query must not travel to the next hop.
                .referer(false);
            // Only the configured proxy: one from HTTP(S)_PROXY would resolve
            // names out of the guard's sight, unchecked.
            b = match &s.proxy {
                Some(p) => b.proxy(
                    reqwest::Proxy::all(p).map_err(|e| format!("sources.{}.proxy: {e}", s.name))?,
                ),
                None => b.no_proxy(),
            };
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
                    ..
                }) => Some(Origin::S3 {
                    client: crate::s3client::client(
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
                Some(OriginConfig::File {
                    roots,
                    delete_after_archive,
                    ..
                }) => Some(Origin::File {
                    roots: roots.clone(),
                    delete_after_archive: *delete_after_archive,
                }),
            };
            map.insert(
                s.name.clone(),
                SourceClient {
                    name: s.name.clone(),
                    allow,
                    http,
                    origin,
                    proxied: s.proxy.is_some(),
                },
            );
        }
        Ok(Sources(map))
    }

    pub fn get(&self, name: &str) -> Option<&SourceClient> {
        self.0.get(name)
    }
}

/// Where a location's bytes are.
enum Target<'a> {
    Url(reqwest::Url),
    File(&'a [std::path::PathBuf], &'a str),
    S3(&'a aws_sdk_s3::Client, String, String),
}

impl SourceClient {
    /// The roots local files are deleted under once archived, if they are.
    pub fn delete_roots(&self) -> Option<&[std::path::PathBuf]> {
        match &self.origin {
            Some(Origin::File {
                roots,
                delete_after_archive: true,
            }) => Some(roots),
            _ => None,
        }
    }

    /// Starts fetching a file.
    pub async fn open(&self, location: &Location) -> Result<Download, Failure> {
        match self.target(location)? {
            Target::Url(url) => {
                self.check_proxied(&url).await?;
                http::open(&self.http, url).await
            }
            Target::File(roots, p) => file::open(roots, p).await,
            Target::S3(client, bucket, key) => s3::open(client, bucket, key).await,
        }
    }

    /// Fetches the file `mark` describes from byte `from` on, to continue an
    /// upload an earlier attempt left; `None` when the origin cannot serve
    /// that very file from there (it changed, or cannot be told apart).
    pub async fn open_from(
        &self,
        location: &Location,
        from: u64,
        mark: &OriginMark,
    ) -> Result<Option<Download>, Failure> {
        let Some(validator) = &mark.validator else {
            return Ok(None);
        };
        let target = self.target(location)?;
        if Some(from) == mark.size {
            // Every byte is in the store already: nothing more to fetch.
            return Ok(Some(Download::finished(mark)));
        }
        match target {
            Target::Url(url) => {
                self.check_proxied(&url).await?;
                http::open_from(&self.http, url, from, mark).await
            }
            Target::File(roots, p) => file::open_from(roots, p, from, validator).await,
            Target::S3(client, bucket, key) => s3::open_from(client, bucket, key, from, mark).await,
        }
    }

    fn target<'a>(&'a self, location: &'a Location) -> Result<Target<'a>, Failure> {
        let p = match location {
            Location::Url(u) => return self.checked_url(u).map(Target::Url),
            Location::Path(p) => p,
        };
        match &self.origin {
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
                self.checked_url(&format!("{base}/{}", http::encode_path(p)))
                    .map(Target::Url)
            }
            Some(Origin::File { roots, .. }) => Ok(Target::File(roots, p)),
            Some(Origin::S3 { client, bucket }) => {
                let p = p.trim_start_matches('/');
                let (bucket, key) = match bucket {
                    Some(b) => (b.clone(), p.to_owned()),
                    None => match p.split_once('/') {
                        Some((b, k)) if !b.is_empty() && !k.is_empty() => {
                            (b.to_owned(), k.to_owned())
                        }
                        _ => {
                            return Err(Failure::permanent(format!(
                                "path {p:?} does not start with a bucket, and [sources.origin] names none"
                            )))
                        }
                    },
                };
                Ok(Target::S3(client, bucket, key))
            }
        }
    }

    /// Through a proxy, refuses a name resolving to an internal address
    /// (the resolver's guard never sees it).
    async fn check_proxied(&self, url: &reqwest::Url) -> Result<(), Failure> {
        if !self.proxied {
            return Ok(());
        }
        crate::net::check_proxied(&self.allow, url)
            .await
            .map_err(|e| Failure::permanent(e.to_string()))
    }

    /// `url` parsed, if it is http(s) and its host allowed.
    fn checked_url(&self, url: &str) -> Result<reqwest::Url, Failure> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Failure::permanent(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure::permanent(format!(
                "{}:// URLs are never fetched (only http and https)",
                parsed.scheme()
            )));
        }
        if let Some(why) = crate::net::refuse_own_listener(&parsed) {
            return Err(Failure::permanent(why));
        }
        if !self.allow.allows(&parsed) {
            return Err(Failure::permanent(format!(
                "{} is not an allowed host for source {:?} (allow_hosts: {})",
                parsed.host_str().unwrap_or(parsed.scheme()),
                self.name,
                self.allow.describe()
            )));
        }
        Ok(parsed)
    }
}

/// The failure for a file of zero bytes.
pub fn empty_file() -> Failure {
    Failure::permanent(
        "the origin sent 0 bytes: no recording or snapshot is empty; retry the job by hand once \
         the file is there",
    )
}

/// A download in progress.
pub struct Download {
    /// The size the origin announced.
    pub content_length: Option<u64>,
    /// The MD5 the origin announced (Content-MD5, or a plain S3 ETag), hex.
    pub md5: Option<String>,
    /// The media type the origin announced, if any.
    pub content_type: Option<String>,
    /// What identifies the file served (see [`OriginMark::validator`]).
    pub validator: Option<String>,
    /// A local file's device and inode.
    pub file_id: Option<crate::upload::FileId>,
    body: Body,
}

enum Body {
    Http(resume::Resuming<http::Get>),
    S3(resume::Resuming<s3::GetObject>),
    File(file::FileBody),
    /// Nothing left to read.
    Done,
}

impl Download {
    /// Why this is no recording or snapshot, when the origin's own answer
    /// says so: an error page or an API error served with status 200, or an
    /// empty body. Such a download is never archived.
    pub fn suspect(&self) -> Option<Failure> {
        let media = self
            .content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        if let Some(t) = media.filter(|t| t == "text/html" || t == "application/json") {
            return Some(Failure::permanent(format!(
                "the origin answered with {t}, not a recording or snapshot (an error page?); \
                 retry the job by hand once the file is there"
            )));
        }
        (self.content_length == Some(0)).then(empty_file)
    }

    /// The next bytes; `None` at the end. Breaks are resumed inside.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match &mut self.body {
            Body::Http(b) => b.next_chunk().await,
            Body::S3(b) => b.next_chunk().await,
            Body::File(b) => b.next_chunk().await,
            Body::Done => Ok(None),
        }
    }

    /// A download with nothing left to read: every byte of the file `mark`
    /// describes is in the store already.
    pub fn finished(mark: &OriginMark) -> Download {
        Download {
            content_length: mark.size,
            md5: mark.md5.clone(),
            content_type: None,
            validator: mark.validator.clone(),
            file_id: mark.file_id,
            body: Body::Done,
        }
    }

    /// The file as first seen, to continue it later.
    pub fn mark(&self) -> OriginMark {
        OriginMark {
            validator: self.validator.clone(),
            file_id: self.file_id,
            size: self.content_length,
            md5: self.md5.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(e.kind, crate::retry::FailureKind::Permanent, "{p}");
            assert!(e.message.contains("climbs out"), "{p}: {}", e.message);
        }
    }

    #[test]
    fn paths_are_encoded_for_urls() {
        assert_eq!(
            http::encode_path("liveApp****/s 1/0_2017-03-08-23:09:46.flv"),
            "liveApp****/s%201/0_2017-03-08-23:09:46.flv"
        );
        assert_eq!(
            http::encode_path("/a#b?c%d/录像.flv"),
            "a%23b%3Fc%25d/%E5%BD%95%E5%83%8F.flv"
        );
    }
}
