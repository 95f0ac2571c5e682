//! An S3-protocol origin (Alibaba OSS, JD Cloud OSS, ...): GetObject, continued
//! with a ranged GetObject when the body breaks (see `resume`).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::resume::{Reopen, Resuming};
use super::{Body, Download};
use crate::retry::Failure;
use crate::upload::OriginMark;

/// One object, fetched again from a byte when its body breaks.
pub struct GetObject {
    client: Client,
    bucket: String,
    key: String,
    /// The object's ETag when the download began: a ranged GetObject asks
    /// for that version only (`If-Match`), so a replaced object is not spliced.
    etag: Option<String>,
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
    let get = GetObject {
        client: client.clone(),
        bucket,
        key,
        etag: out.e_tag.clone(),
    };
    Ok(Download {
        content_length: total,
        md5,
        content_type: out.content_type.clone(),
        validator: get.etag.clone(),
        file_id: None,
        body: Body::S3(Resuming::new(get, out.body, total)),
    })
}

/// The object first read (`mark`'s ETag, as `If-Match`) from byte `from`
/// on; `None` when it changed since, or no ETag was known.
pub(super) async fn open_from(
    client: &Client,
    bucket: String,
    key: String,
    from: u64,
    mark: &OriginMark,
) -> Result<Option<Download>, Failure> {
    let Some(etag) = mark.validator.clone() else {
        return Ok(None);
    };
    let get = GetObject {
        client: client.clone(),
        bucket,
        key,
        etag: Some(etag),
    };
    let out = match get.ranged(from).await {
        // A server that ignores If-Match serves whatever it holds now.
        Ok(out) if out.e_tag.is_some() && out.e_tag != get.etag => return Ok(None),
        Ok(out) => out,
        Err(e)
            if matches!(
                e.raw_response().map(|r| r.status().as_u16()),
                Some(412 | 416)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(Failure::from_s3(&get.what(from), e)),
    };
    Ok(Some(Download {
        content_length: mark.size,
        md5: mark.md5.clone(),
        content_type: out.content_type.clone(),
        validator: get.etag.clone(),
        file_id: None,
        body: Body::S3(Resuming::starting_at(get, out.body, from, mark.size)),
    }))
}

type GetError = aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::get_object::GetObjectError,
    aws_sdk_s3::config::http::HttpResponse,
>;

impl GetObject {
    fn what(&self, from: u64) -> String {
        format!(
            "GetObject s3://{}/{} from byte {from}",
            self.bucket, self.key
        )
    }

    /// A ranged GetObject of the version first read.
    async fn ranged(
        &self,
        from: u64,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, GetError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .range(format!("bytes={from}-"))
            .set_if_match(self.etag.clone())
            .send()
            .await
    }
}

impl Reopen for GetObject {
    type Body = ByteStream;

    async fn reopen(&self, from: u64) -> Result<ByteStream, Failure> {
        let what = self.what(from);
        let changed = || {
            Failure::transient(format!(
                "{what}: the object changed since the download began, so the attempt restarts"
            ))
        };
        let out = self.ranged(from).await.map_err(|e| {
            if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) {
                changed()
            } else {
                Failure::from_s3(&what, e)
            }
        })?;
        if out.e_tag.is_some() && out.e_tag != self.etag {
            return Err(changed());
        }
        Ok(out.body)
    }

    async fn chunk(body: &mut ByteStream) -> Result<Option<Bytes>, String> {
        body.next().await.transpose().map_err(|e| e.to_string())
    }

    fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn log_resume(&self, broke: &str) {
        tracing::info!(bucket = %self.bucket, key = %self.key, "{broke}; continuing with a ranged GetObject");
    }
}
