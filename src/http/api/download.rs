//! Download links: `GET /api/v1/catalog/{id}/download` sends the archived
//! file's client to a presigned GET (S3, valid `[catalog]
//! download_link_secs`) or streams the file (a directory store); `?links=1`
//! on the catalog adds each entry's `download_url`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::{id_or_404, Authorized};
use crate::catalog::{CatalogEntry, StoredAt};
use crate::http::{ApiError, AppState};
use crate::id::EntryId;

/// The route a client is given for an entry when no presigned URL exists.
fn route(id: &EntryId) -> String {
    format!("/api/v1/catalog/{id}/download")
}

fn expiry(state: &AppState) -> Duration {
    Duration::from_secs(state.config.catalog.download_link_secs)
}

/// Where `entry` may be downloaded: a presigned URL, or this API's route.
pub async fn url_of(state: &AppState, entry: &CatalogEntry) -> Result<String, ApiError> {
    match state.store.presign(&entry.store, expiry(state)).await {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Ok(route(&entry.id)),
        Err(f) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "store", f.message)),
    }
}

/// `value` (an entry, or a page of them) with each entry's `download_url`.
pub async fn with_links(state: &AppState, mut value: Value) -> Result<Value, ApiError> {
    let entries: Vec<&mut Value> = match value.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().collect(),
        _ => vec![&mut value],
    };
    for v in entries {
        let Ok(entry) = serde_json::from_value::<CatalogEntry>(v.clone()) else {
            continue;
        };
        let url = url_of(state, &entry).await?;
        if let Some(o) = v.as_object_mut() {
            o.insert("download_url".to_owned(), Value::String(url));
        }
    }
    Ok(value)
}

pub async fn download(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id_or_404(EntryId::parse, &id, "no_such_entry", "catalog entry")?;
    let entry =
        state.repo.entry(id).await?.ok_or_else(|| {
            ApiError::not_found("no_such_entry", format!("no catalog entry {id:?}"))
        })?;
    let elsewhere = || {
        ApiError::not_found(
            "not_in_store",
            format!("catalog entry {id} names a place outside this daemon's store"),
        )
    };
    match &entry.store {
        StoredAt::Fs { .. } => {
            let file = state.store.local_file(&entry.store).ok_or_else(elsewhere)?;
            stream(&file, &entry).await
        }
        StoredAt::S3 { .. } => match state.store.presign(&entry.store, expiry(&state)).await {
            Ok(Some(url)) => Ok(HttpResponse::Found()
                .insert_header(("location", url))
                .finish()),
            Ok(None) => Err(elsewhere()),
            Err(f) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "store", f.message)),
        },
    }
}

/// The file at `path`, streamed in 256 KiB pieces.
async fn stream(path: &std::path::Path, entry: &CatalogEntry) -> Result<HttpResponse, ApiError> {
    let gone = |e: std::io::Error| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "file_missing",
            format!("the archived file {} cannot be read: {e}", path.display()),
        )
    };
    let r = crate::store::read::file(path).await.map_err(gone)?;
    Ok(HttpResponse::Ok()
        .content_type(content_type(entry.origin.extension().as_deref()))
        .insert_header((
            "content-disposition",
            content_disposition(entry.origin.file_name()),
        ))
        // The type is ours to say: a browser must not guess HTML from the bytes.
        .insert_header(("x-content-type-options", "nosniff"))
        .body(actix_web::body::SizedStream::new(r.len, r.pieces)))
}

/// RFC 5987's attr-char: what `filename*` may carry unencoded.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` for a file called `name` (RFC 6266): the name
/// exactly in `filename*`, and an ASCII fallback for old clients with every
/// character a quoted string cannot hold safely replaced by `_`. Whatever the
/// name holds (control characters, quotes, non-ASCII), the value is visible
/// ASCII, so the header is always well-formed.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    format!("inline; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

/// What a browser should take a file for, by its extension.
fn content_type(ext: Option<&str>) -> &'static str {
    match ext {
        Some("mp4" | "m4s") => "video/mp4",
        Some("flv") => "video/x-flv",
        Some("ts") => "video/mp2t",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_file_name_gives_a_well_formed_disposition() {
        assert_eq!(
            content_disposition("a b.flv"),
            "inline; filename=\"a b.flv\"; filename*=UTF-8''a%20b.flv"
        );
        let hostile = "x\r\nSet-Cookie: a=1\"; \u{7f}\u{e9}.flv";
        let v = content_disposition(hostile);
        assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "{v}");
        assert!(actix_web::http::header::HeaderValue::from_str(&v).is_ok());
        assert_eq!(
            v,
            "inline; filename=\"x__Set-Cookie: a=1_; __.flv\"; \
             filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3D1%22%3B%20%7F%C3%A9.flv"
        );
    }
}
