//! An http(s) origin: GET, continued with a Range request from the byte
//! reached when the body breaks (see `resume`).

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, RANGE};
use reqwest::{Client, Response, StatusCode, Url};

use super::resume::{Reopen, Resuming};
use super::{Body, Download};
use crate::retry::Failure;
use crate::upload::OriginMark;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One URL, fetched again from a byte when its body breaks.
pub struct Get {
    client: Client,
    url: Url,
    /// The first response offered `Accept-Ranges: bytes`.
    ranges: bool,
    /// What identifies the bytes first served (a strong ETag, else
    /// Last-Modified): sent as `If-Range`, so a file replaced meanwhile is
    /// served whole (and the attempt restarts) instead of spliced.
    validator: Option<String>,
}

/// The URL as shown in errors: no query string (it may hold a signature).
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

pub(super) async fn open(client: &Client, url: Url) -> Result<Download, Failure> {
    let response = client.get(url.clone()).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::from_status(
            status.as_u16(),
            &format!("GET {}", shown(&url)),
        ));
    }
    let total = response.content_length();
    let md5 = response
        .headers()
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .filter(|b| b.len() == 16)
        .map(|b| hex::encode(&b));
    let ranges = response
        .headers()
        .get(ACCEPT_RANGES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    let validator = validator_of(&response);
    let get = Get {
        client: client.clone(),
        url,
        ranges,
        validator,
    };
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Download {
        content_length: total,
        md5,
        content_type,
        validator: get.validator.clone(),
        file_id: None,
        body: Body::Http(Resuming::new(get, response, total)),
    })
}

/// What identifies the file a response serves: its strong ETag, else its
/// Last-Modified.
fn validator_of(response: &Response) -> Option<String> {
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header(reqwest::header::ETAG)
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED))
}

/// Asks for the file first served (`validator`, sent as `If-Range`) from
/// byte `from` on; `None` when the origin serves anything else: a changed
/// file, a whole file, another range or size.
pub(super) async fn open_from(
    client: &Client,
    url: Url,
    from: u64,
    mark: &OriginMark,
) -> Result<Option<Download>, Failure> {
    let Some(validator) = mark.validator.clone() else {
        return Ok(None);
    };
    let get = Get {
        client: client.clone(),
        url,
        ranges: true,
        validator: Some(validator),
    };
    let response = match get.ranged(from).await? {
        Ranged::Part(r, total) if total.is_none() || total == mark.size => r,
        _ => return Ok(None),
    };
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Some(Download {
        content_length: mark.size,
        md5: mark.md5.clone(),
        content_type,
        validator: get.validator.clone(),
        file_id: None,
        body: Body::Http(Resuming::starting_at(get, response, from, mark.size)),
    }))
}

/// The answer to a Range request.
enum Ranged {
    /// The range asked for, and the file's size if stated.
    Part(Response, Option<u64>),
    /// The whole file again (it changed, or the origin ignores ranges).
    Whole,
    /// A part other than the one asked for, or a range not satisfiable.
    Other,
}

impl Get {
    /// GET from byte `from`, with `If-Range` when a validator is known.
    async fn ranged(&self, from: u64) -> Result<Ranged, Failure> {
        let mut request = self
            .client
            .get(self.url.clone())
            .header(RANGE, format!("bytes={from}-"));
        if let Some(v) = &self.validator {
            request = request.header(reqwest::header::IF_RANGE, v);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                // bytes <start>-<end>/<size or *>
                let range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split_once('/'))
                    .map(|(r, size)| {
                        (
                            r.split('-').next().and_then(|s| s.parse::<u64>().ok()),
                            size.parse::<u64>().ok(),
                        )
                    });
                // An origin that ignores If-Range serves a range of whatever
                // it holds now: the part's own validator must be the one asked.
                let served = validator_of(&response);
                if served.is_some() && self.validator.is_some() && served != self.validator {
                    return Ok(Ranged::Whole);
                }
                match range {
                    Some((Some(start), size)) if start == from => Ok(Ranged::Part(response, size)),
                    _ => Ok(Ranged::Other),
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(Ranged::Other),
            s if s.is_success() => Ok(Ranged::Whole),
            s => Err(Failure::from_status(
                s.as_u16(),
                &format!("GET {} (from byte {from})", shown(&self.url)),
            )),
        }
    }
}

impl Reopen for Get {
    type Body = Response;

    async fn reopen(&self, from: u64) -> Result<Response, Failure> {
        let what = format!("GET {} (from byte {from})", shown(&self.url));
        match self.ranged(from).await? {
            Ranged::Part(response, _) => Ok(response),
            Ranged::Whole => Err(Failure::transient(format!(
                "{what}: the origin sent the whole file again (it changed since the download \
                 began, or ignores Range requests), so the attempt restarts"
            ))),
            Ranged::Other => Err(Failure::transient(format!(
                "{what}: the origin answered a different range"
            ))),
        }
    }

    async fn chunk(response: &mut Response) -> Result<Option<Bytes>, String> {
        response
            .chunk()
            .await
            .map_err(|e| Failure::from(e).to_string())
    }

    /// Without a validator a replaced file could not be told from the one
    /// being read: such a download restarts rather than resumes.
    fn accepts_ranges(&self) -> bool {
        self.ranges && self.validator.is_some()
    }

    fn name(&self) -> String {
        format!("GET {}", shown(&self.url))
    }

    fn log_resume(&self, broke: &str) {
        tracing::info!(url = %shown(&self.url), "{broke}; continuing with a Range request");
    }
}

/// What a path segment may hold unencoded (RFC 3986 `pchar`), plus the `/`
/// between segments.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// Percent-encodes a storage path for a URL, keeping its `/`.
pub(super) fn encode_path(p: &str) -> String {
    utf8_percent_encode(p.trim_start_matches('/'), PATH).to_string()
}
