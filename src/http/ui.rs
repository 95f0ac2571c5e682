//! `/ui/`: pages people read, server-rendered from the same records the API
//! serves, under the same rules (the `[api] token`, which a browser
//! presents once at `/ui/login` for a session; see `http::access`). Reading needs
//! no JavaScript; a line of it shows times in the viewer's time zone. The
//! jobs page reloads itself while transfers run. Retry and Replay are
//! forms that post back here.

mod assets;
mod chart;
mod jobs;
mod login;
mod overview;
mod page;
mod recordings;
mod rejected;
mod streams;

use actix_web::{web, HttpResponse};

use crate::state::PageRequest;

/// The most records a page reads.
const SHOWN: usize = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview::show))
        .route("/streams", web::get().to(streams::show))
        .route("/recordings", web::get().to(recordings::show))
        .route("/jobs", web::get().to(jobs::show))
        .route("/assets/hls.min.js", web::get().to(assets::hls_js))
        .route("/jobs/retry-failed", web::post().to(jobs::retry_all))
        .route("/jobs/dismiss-failed", web::post().to(jobs::dismiss_all))
        .route("/jobs/{id}/retry", web::post().to(jobs::retry))
        .route("/jobs/{id}/dismiss", web::post().to(jobs::dismiss))
        .route("/rejected", web::get().to(rejected::show))
        .route("/rejected/{id}/replay", web::post().to(rejected::replay))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::sign_in))
        .route("/logout", web::post().to(login::sign_out));
}

fn all(limit: usize) -> PageRequest {
    PageRequest { limit, after: None }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to))
        .finish()
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
