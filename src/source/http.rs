//! An http(s) download that continues with a Range request from the byte
//! reached when the body breaks, and never takes a short body for a whole one.

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, RANGE};
use reqwest::{Client, Response, StatusCode, Url};

use super::{Body, Download};
use crate::db::keys::hex_encode;
use crate::retry::{Failure, MAX_RESUMES};

pub struct HttpBody {
    client: Client,
    url: Url,
    response: Option<Response>,
    pos: u64,
    total: Option<u64>,
    ranges: bool,
    resumes_left: u32,
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
        .map(|b| hex_encode(&b));
    let ranges = response
        .headers()
        .get(ACCEPT_RANGES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    Ok(Download {
        content_length: total,
        md5,
        body: Body::Http(HttpBody {
            client: client.clone(),
            url,
            response: Some(response),
            pos: 0,
            total,
            ranges,
            resumes_left: MAX_RESUMES,
        }),
    })
}

impl HttpBody {
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let response = match &mut self.response {
                Some(r) => r,
                None => self.response.insert(self.resume().await?),
            };
            let broke = match response.chunk().await {
                Ok(Some(bytes)) => {
                    self.pos += bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                Ok(None) => match self.total {
                    Some(total) if self.pos < total => {
                        format!("body ended at byte {} of {total}", self.pos)
                    }
                    _ => return Ok(None),
                },
                Err(e) => format!("body broke at byte {}: {}", self.pos, Failure::from(e)),
            };
            self.response = None;
            if !self.ranges || self.resumes_left == 0 {
                let why = if self.ranges {
                    "resumed too often"
                } else {
                    "the origin does not accept ranges, so the attempt restarts"
                };
                return Err(Failure::transient(format!(
                    "GET {}: {broke} ({why})",
                    shown(&self.url)
                )));
            }
            self.resumes_left -= 1;
            tracing::info!(url = %shown(&self.url), "{broke}; continuing with a Range request");
        }
    }

    async fn resume(&self) -> Result<Response, Failure> {
        let response = self
            .client
            .get(self.url.clone())
            .header(RANGE, format!("bytes={}-", self.pos))
            .send()
            .await?;
        let what = format!("GET {} (from byte {})", shown(&self.url), self.pos);
        match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if start != Some(self.pos) {
                    return Err(Failure::transient(format!(
                        "{what}: the origin answered a different range"
                    )));
                }
                Ok(response)
            }
            s if s.is_success() => Err(Failure::transient(format!(
                "{what}: the origin ignored the Range request"
            ))),
            s => Err(Failure::from_status(s.as_u16(), &what)),
        }
    }
}
