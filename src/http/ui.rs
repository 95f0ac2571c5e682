//! `/ui/`: pages people read, server-rendered from the same records the API
//! serves, under the same rules (the `[api] token`, which a browser
//! presents once at `/ui/login` for a session; see `http::access`). Reading needs
//! no JavaScript; a line of it shows times in the viewer's time zone. The
//! jobs page reloads itself while transfers run. Retry and Replay are
//! forms that post back here.

mod jobs;
mod login;
mod page;

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::api::{self, Authorized};
use super::{ApiError, AppState};
use crate::catalog::CatalogEntry;
use crate::state::PageRequest;
use crate::{rejected, stream};
use page::{duration, page, size, time};

/// The most records a page reads.
const SHOWN: usize = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/streams", web::get().to(streams))
        .route("/recordings", web::get().to(recordings))
        .route("/jobs", web::get().to(jobs::show))
        .route("/jobs/{id}/retry", web::post().to(jobs::retry))
        .route("/rejected", web::get().to(rejected_page))
        .route("/rejected/{id}/replay", web::post().to(replay))
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

async fn index(_: Authorized) -> HttpResponse {
    see_other("/ui/recordings")
}

async fn streams(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let streams = state.repo.streams(all(SHOWN), Box::new(|_| true)).await?;
    let entries = state
        .repo
        .entries(None, all(10 * SHOWN), Box::new(|_| true));
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for e in entries.await?.items {
        let key = (e.source.clone(), e.stream.name.clone().unwrap_or_default());
        *counts.entry(key).or_default() += 1;
    }
    let streams = streams.items;
    let count = |s: &stream::StreamState| {
        counts
            .get(&(s.source.clone(), s.stream.clone()))
            .copied()
            .unwrap_or(0)
    };
    let b = html! {
        table {
            tr { th { "Stream" } th { "Source" } th { "State" } th { "Last seen" } th { "Recordings" } }
            @for s in &streams {
                tr {
                    td { (s.domain) "/" (s.app) "/" b { (s.stream) } }
                    td { (s.source) }
                    @if s.live { td.live { "live" } } @else { td.offline { "offline" } }
                    td { (time(&s.last_event_at)) }
                    td {
                        a href=(format!("/ui/recordings?source={}&stream={}",
                            urlencode(&s.source), urlencode(&s.stream))) { (count(s)) }
                    }
                }
            }
        }
        @if streams.is_empty() { p { "No stream seen yet." } }
    };
    Ok(page("Streams", "Streams", b, None))
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The recordings page's filters; empty fields are no filter.
#[derive(Deserialize, Default)]
struct RecordingsQuery {
    source: Option<String>,
    stream: Option<String>,
    session: Option<String>,
    /// YYYY-MM-DD (UTC), on the recording's start.
    day: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

async fn recordings(
    _: Authorized,
    q: web::Query<RecordingsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let f = (
        given(&q.source).map(str::to_owned),
        given(&q.stream).map(str::to_owned),
        given(&q.session).map(str::to_owned),
        given(&q.day).map(str::to_owned),
    );
    let (source, stream_name, session, day) = f.clone();
    let keep = move |e: &CatalogEntry| {
        source.as_ref().is_none_or(|w| *w == e.source)
            && session
                .as_ref()
                .is_none_or(|w| e.session.as_ref() == Some(w))
            && day
                .as_ref()
                .is_none_or(|d| e.filed_at().format("%Y-%m-%d").to_string() == *d)
    };
    let entries = state.repo.entries(stream_name, all(SHOWN), Box::new(keep));
    let entries = entries.await?.items;
    let b = html! {
        form.filters method="get" {
            (field("Source", &f.0, "text"))
            (field("Stream", &f.1, "text"))
            (field("Session", &f.2, "text"))
            (field("Day", &f.3, "date"))
            button { "Filter" }
        }
        @for (session, group) in by_session(&entries) {
            h2 {
                @if session.is_empty() {
                    "No session"
                } @else {
                    "Session "
                    a href=(format!("/ui/recordings?session={}", urlencode(&session))) {
                        code { (session) }
                    }
                }
            }
            table {
                tr {
                    th { "Started" } th { "Stream" } th { "Source" } th { "Format" }
                    th { "Size" } th { "Duration" } th { "SHA-256" } th { "Play" }
                }
                @for e in group { (recording_row(e)) }
            }
        }
        @if entries.is_empty() { p { "No recording matches." } }
    };
    Ok(page("Recordings", "Recordings", b, None))
}

/// One filter of the recordings page, showing the value asked for.
fn field(name: &str, v: &Option<String>, kind: &str) -> Markup {
    html! {
        label {
            (name) " "
            input type=(kind) name=(name.to_ascii_lowercase()) value=(v.as_deref().unwrap_or(""));
        }
    }
}

/// Recordings grouped by publish session, each in order, the newest
/// session first.
fn by_session(entries: &[CatalogEntry]) -> Vec<(String, Vec<&CatalogEntry>)> {
    let mut sessions: BTreeMap<String, Vec<&CatalogEntry>> = BTreeMap::new();
    for e in entries {
        sessions
            .entry(e.session.clone().unwrap_or_default())
            .or_default()
            .push(e);
    }
    let mut sessions: Vec<(String, Vec<&CatalogEntry>)> = sessions.into_iter().collect();
    for (_, group) in &mut sessions {
        group.sort_by_key(|e| e.filed_at());
    }
    sessions.sort_by_key(|(_, g)| std::cmp::Reverse(g.first().map(|e| e.filed_at())));
    sessions
}

fn recording_row(e: &CatalogEntry) -> Markup {
    let link = format!("/api/v1/catalog/{}/download", e.id);
    let format = e
        .file
        .format
        .clone()
        .or_else(|| e.origin.extension())
        .unwrap_or_default();
    html! {
        tr {
            td { (time(&e.filed_at())) }
            td { (e.stream.name.as_deref().unwrap_or("")) }
            td { (e.source) }
            td { (format) }
            td { (size(e.size)) }
            td { (duration(e.file.duration_s)) }
            td { code title=(e.sha256) { (e.sha256.chars().take(12).collect::<String>()) "…" } }
            td {
                @if format == "mp4" {
                    video controls preload="none" src=(link) {}
                } @else {
                    a href=(link) download { "Download " (format) }
                }
            }
        }
    }
}

async fn rejected_page(
    _: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let kept = state.repo.rejected_list(all(100), Box::new(|_| true));
    let kept = kept.await?.items;
    let b = html! {
        table {
            tr { th { "Received" } th { "Source" } th { "Reason" } th { "Body" } th {} }
            @for r in kept.into_iter().map(rejected::RejectedRequest::shown) {
                tr {
                    td { (time(&r.received_at)) }
                    td { (r.source) }
                    td.err { code { (r.error_code) } " " (r.error) }
                    td { pre { (shown_body(&r)) } }
                    td {
                        @match &r.replayed_as {
                            Some(events) => { "replayed as " (events.len()) " event(s)" }
                            None => {
                                form.inline method="post"
                                    action=(format!("/ui/rejected/{}/replay", r.id)) {
                                    button { "Replay" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Rejected callbacks", "Rejected callbacks", b, None))
}

async fn replay(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::replay(a, id, state).await?;
    Ok(see_other("/ui/rejected"))
}

/// A kept body as text, cut to 4 KiB of characters; binary as hex.
fn shown_body(r: &rejected::RejectedRequest) -> String {
    let body = r
        .body
        .clone()
        .unwrap_or_else(|| format!("(binary) {}", r.body_hex.clone().unwrap_or_default()));
    body.chars().take(4096).collect()
}
