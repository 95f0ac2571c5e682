//! Multipart uploads no attempt will complete: aborted, and looked for.

use aws_sdk_s3::Client;

use crate::retry::Failure;
use crate::time::Timestamp;
use crate::upload::UploadRecord;

/// Aborts a multipart upload; says whether it is gone (a failure is logged).
pub(super) async fn abort_multipart(client: &Client, rec: &UploadRecord) -> bool {
    let r = client
        .abort_multipart_upload()
        .bucket(&rec.bucket)
        .key(&rec.key)
        .upload_id(&rec.upload_id)
        .send()
        .await;
    match r {
        Ok(_) => true,
        // NoSuchUpload: aborted or completed already.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => true,
        Err(e) => {
            let f = Failure::from_store("AbortMultipartUpload", e);
            tracing::warn!(key = %rec.key, upload_id = %rec.upload_id, error = %f, "multipart upload not aborted; kept, to be aborted once the store answers");
            false
        }
    }
}

/// The multipart uploads in `bucket` under `prefix`, with when each began.
pub(super) async fn list_uploads(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(UploadRecord, Option<Timestamp>)>, Failure> {
    let mut found = Vec::new();
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .send()
            .await
            .map_err(|e| Failure::from_store("ListMultipartUploads", e))?;
        for u in page.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            let initiated = u
                .initiated()
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
            let rec = UploadRecord {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                upload_id: id.to_owned(),
                progress: None,
            };
            found.push((rec, initiated));
        }
        if page.is_truncated() != Some(true) {
            return Ok(found);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && id_marker.is_none() {
            return Ok(found);
        }
    }
}
