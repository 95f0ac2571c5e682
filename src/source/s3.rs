//! An S3-protocol origin (Alibaba OSS, JD Cloud OSS, ...): GetObject, continued
//! with a ranged GetObject when the body breaks.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::{Body, Download};
use crate::retry::{Failure, MAX_RESUMES};

pub struct S3Body {
    client: Client,
    bucket: String,
    key: String,
    body: Option<ByteStream>,
    pos: u64,
    total: Option<u64>,
    resumes_left: u32,
}

pub(super) async fn open(
    client: &Client,
    bucket: String,
    key: String,
) -> Result<Download, Failure> {
    let what = format!("GetObject s3://{bucket}/{key}");
    let out = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| Failure::from_s3(&what, e))?;
    let total = out.content_length.and_then(|n| u64::try_from(n).ok());
    // A plain (non-multipart) ETag is the object's MD5.
    let md5 = out
        .e_tag
        .as_deref()
        .map(|t| t.trim_matches('"').to_ascii_lowercase())
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    Ok(Download {
        content_length: total,
        md5,
        body: Body::S3(S3Body {
            client: client.clone(),
            bucket,
            key,
            body: Some(out.body),
            pos: 0,
            total,
            resumes_left: MAX_RESUMES,
        }),
    })
}

impl S3Body {
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        loop {
            let body = match &mut self.body {
                Some(b) => b,
                None => {
                    let what = format!(
                        "GetObject s3://{}/{} from byte {}",
                        self.bucket, self.key, self.pos
                    );
                    let out = self
                        .client
                        .get_object()
                        .bucket(&self.bucket)
                        .key(&self.key)
                        .range(format!("bytes={}-", self.pos))
                        .send()
                        .await
                        .map_err(|e| Failure::from_s3(&what, e))?;
                    self.body.insert(out.body)
                }
            };
            let broke = match body.next().await {
                Some(Ok(bytes)) => {
                    self.pos += bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                None => match self.total {
                    Some(total) if self.pos < total => {
                        format!("body ended at byte {} of {total}", self.pos)
                    }
                    _ => return Ok(None),
                },
                Some(Err(e)) => format!("body broke at byte {}: {e}", self.pos),
            };
            self.body = None;
            if self.resumes_left == 0 {
                return Err(Failure::transient(format!(
                    "s3://{}/{}: {broke} (resumed too often)",
                    self.bucket, self.key
                )));
            }
            self.resumes_left -= 1;
            tracing::info!(bucket = %self.bucket, key = %self.key, "{broke}; continuing with a ranged GetObject");
        }
    }
}
