//! Files the pages load from the daemon itself (no CDN): hls.js, vendored
//! from npm under `assets/vendor/hls.js/` (its version and licence beside it).

use actix_web::HttpResponse;

/// hls.js's light build, as published.
const HLS_JS: &[u8] = include_bytes!("../../../assets/vendor/hls.js/hls.light.min.js");

/// `GET /ui/assets/hls.min.js`: public like any script a page names, and
/// cached for a long time (its bytes change only with a new daemon build,
/// whose pages may name a new one).
pub async fn hls_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(HLS_JS)
}
