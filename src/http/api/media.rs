//! What a browser page of this site plays and shows, served through the
//! daemon so that the page's CSP (`'self'`) and no bucket CORS rule stand
//! in the way: an HLS entry's playlist with each file it names rewritten
//! to `parts/{n}` (`GET /api/v1/catalog/{id}/playlist.m3u8`), each part
//! (`GET /api/v1/catalog/{id}/parts/{n}`), and a file's bytes
//! (`GET /api/v1/catalog/{id}/content`, a snapshot's thumbnail). Files are
//! passed on in pieces as the store gives them, one in memory at a time.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::{found, id_or_404, Authorized};
use crate::catalog::{CatalogEntry, Role, StoredAt};
use crate::http::{ApiError, AppState};
use crate::id::EntryId;
use crate::store::read::Reading;

/// The largest playlist read whole to be rewritten; a larger one is sent
/// to its download.
const PLAYLIST_MAX: u64 = 8 << 20;

async fn entry_of(state: &AppState, id: &str) -> Result<CatalogEntry, ApiError> {
    let id = id_or_404(EntryId::parse, id, "no_such_entry", "catalog entry")?;
    found(
        state.repo.entry(id).await,
        "no_such_entry",
        format!("no catalog entry {:?}", id.to_string()),
    )
}

/// The file stored at `at`, as it is read.
async fn reading(state: &AppState, at: &StoredAt) -> Result<Reading, ApiError> {
    match state.store.read(at).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "file_missing",
            "the archived file is not in this daemon's store",
        )),
        Err(f) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "store", f.message)),
    }
}

/// A stored file passed on in pieces, one in memory at a time.
fn passed_on(r: Reading, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("cache-control", "private, max-age=3600"))
        .body(actix_web::body::SizedStream::new(r.len, r.pieces))
}

fn see(to: String) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("location", to))
        .finish()
}

/// What a browser should take `name` for, by its extension.
fn type_of(name: &str) -> &'static str {
    let ext = name.split(['?', '#']).next().unwrap_or(name);
    match ext
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("ts") => "video/mp2t",
        Some("mp4" | "m4s" | "m4v") => "video/mp4",
        Some("aac") => "audio/aac",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The playlist `text` with every file it names (a URI line, an
/// `EXT-X-MAP` URI) that is one of `entry`'s parts replaced by `parts/{n}`.
pub fn rewritten(text: &str, entry: &CatalogEntry) -> String {
    let index = |uri: &str| {
        entry
            .parts
            .iter()
            .position(|p| p.role != Role::Playlist && p.uri == uri)
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#EXT-X-MAP:") {
            let replaced = t.split_once("URI=\"").and_then(|(head, rest)| {
                let (uri, tail) = rest.split_once('"')?;
                Some(format!("{head}URI=\"parts/{}\"{tail}", index(uri)?))
            });
            out.push_str(replaced.as_deref().unwrap_or(t));
        } else if !t.is_empty() && !t.starts_with('#') {
            match index(t) {
                Some(n) => out.push_str(&format!("parts/{n}")),
                None => out.push_str(t),
            }
        } else {
            out.push_str(t);
        }
        out.push('\n');
    }
    out
}

/// `GET /api/v1/catalog/{id}/playlist.m3u8`.
pub async fn playlist(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let entry = entry_of(&state, &id).await?;
    if entry.parts.is_empty() {
        return Err(ApiError::not_found(
            "not_hls",
            format!("catalog entry {} is not an HLS recording", entry.id),
        ));
    }
    if entry.size > PLAYLIST_MAX {
        return Ok(see(format!("/api/v1/catalog/{}/download", entry.id)));
    }
    let mut r = reading(&state, &entry.store).await?;
    let mut text = Vec::new();
    while let Some(piece) = r.pieces.next().await {
        let piece = piece.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "store",
                format!("reading the playlist: {e}"),
            )
        })?;
        if text.len() + piece.len() > PLAYLIST_MAX as usize {
            return Ok(see(format!("/api/v1/catalog/{}/download", entry.id)));
        }
        text.extend_from_slice(&piece);
    }
    let text = rewritten(&String::from_utf8_lossy(&text), &entry);
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("cache-control", "private, max-age=3600"))
        .body(text))
}

/// `GET /api/v1/catalog/{id}/parts/{n}`.
pub async fn part(
    _: Authorized,
    path: web::Path<(String, usize)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, n) = path.into_inner();
    let entry = entry_of(&state, &id).await?;
    let part = entry.parts.get(n).ok_or_else(|| {
        ApiError::not_found(
            "no_such_part",
            format!("catalog entry {id} has no part {n}"),
        )
    })?;
    let r = reading(&state, &part.store).await?;
    Ok(passed_on(r, type_of(&part.uri)))
}

/// `GET /api/v1/catalog/{id}/content`.
pub async fn content(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let entry = entry_of(&state, &id).await?;
    let r = reading(&state, &entry.store).await?;
    Ok(passed_on(r, type_of(entry.origin.file_name())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Part;
    use crate::event::{FileFacts, Location, StreamRef};
    use crate::id::{EventId, JobId};
    use crate::providers::Provider;
    use crate::queue::FileKind;

    fn part(role: Role, uri: &str) -> Part {
        Part {
            role,
            uri: uri.to_owned(),
            origin: Location::Url(format!("http://h/{uri}")),
            store: StoredAt::Fs {
                path: format!("/a/{uri}"),
            },
            size: 1,
            sha256: String::new(),
            md5: String::new(),
            duration_s: None,
            job_id: JobId::default(),
            archived_at: chrono::DateTime::from_timestamp_millis(0).unwrap(),
        }
    }

    #[test]
    fn every_file_a_playlist_names_becomes_one_of_its_parts() {
        let entry = CatalogEntry {
            id: EntryId::default(),
            found_by: Default::default(),
            kind: FileKind::Recording,
            source: "tc".into(),
            provider: Provider::Tencent,
            stream: StreamRef::default(),
            file: FileFacts::default(),
            origin: Location::Url("http://h/index.m3u8".into()),
            store: StoredAt::Fs {
                path: "/a/index.m3u8".into(),
            },
            size: 1,
            sha256: String::new(),
            md5: String::new(),
            archived_at: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            job_id: JobId::default(),
            event_id: EventId::default(),
            params: Default::default(),
            session: None,
            parts: vec![
                part(Role::Init, "init.mp4"),
                part(Role::Segment, "0.m4s"),
                part(Role::Segment, "sub/1.m4s?sign=abc"),
                part(Role::Playlist, "index.m3u8"),
            ],
            instance_id: None,
            local_file: None,
        };
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"10@0\"\n#EXTINF:1.0,\n\
                    0.m4s\n#EXTINF:1.0,\nsub/1.m4s?sign=abc\n#EXTINF:1.0,\nunknown.m4s\n\
                    #EXT-X-ENDLIST\n";
        assert_eq!(
            rewritten(text, &entry),
            "#EXTM3U\n#EXT-X-MAP:URI=\"parts/0\",BYTERANGE=\"10@0\"\n#EXTINF:1.0,\n\
             parts/1\n#EXTINF:1.0,\nparts/2\n#EXTINF:1.0,\nunknown.m4s\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(type_of("sub/1.ts?sign=abc"), "video/mp2t");
    }
}
