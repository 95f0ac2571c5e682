//! `/ui/`: pages people read, server-rendered from the same records the API
//! serves, under the same rules (the `[api] token`, which a browser
//! presents once at `/ui/login` for a session; see `http::access`). Reading needs
//! no JavaScript; a line of it shows times in the viewer's time zone. The
//! jobs page reloads itself while transfers run. Retry and Replay are
//! forms that post back here.

mod login;
mod page;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::api::{self, Authorized};
use super::{ApiError, AppState};
use crate::catalog::CatalogEntry;
use crate::queue::{Job, JobState};
use crate::rejected;
use crate::state::PageRequest;
use page::{duration, esc, page, size, time};

/// The most records a page reads.
const SHOWN: usize = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/streams", web::get().to(streams))
        .route("/recordings", web::get().to(recordings))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/{id}/retry", web::post().to(retry))
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
    let mut b = String::from(
        "<table><tr><th>Stream</th><th>Source</th><th>State</th><th>Last seen</th>\
         <th>Recordings</th></tr>",
    );
    for s in &streams {
        let n = counts
            .get(&(s.source.clone(), s.stream.clone()))
            .copied()
            .unwrap_or(0);
        let (class, state) = if s.live {
            ("live", "live")
        } else {
            ("offline", "offline")
        };
        let _ = write!(
            b,
            "<tr><td>{}/{}/<b>{}</b></td><td>{}</td><td class={class}>{state}</td><td>{}</td>\
             <td><a href=\"/ui/recordings?source={}&amp;stream={}\">{n}</a></td></tr>",
            esc(&s.domain),
            esc(&s.app),
            esc(&s.stream),
            esc(&s.source),
            time(&s.last_event_at),
            esc(&urlencode(&s.source)),
            esc(&urlencode(&s.stream)),
        );
    }
    b.push_str("</table>");
    if streams.is_empty() {
        b.push_str("<p>No stream seen yet.</p>");
    }
    Ok(page("Streams", "Streams", &b, None))
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
    let field = |name: &str, v: &Option<String>, kind: &str| {
        format!(
            "<label>{name} <input type={kind} name={} value=\"{}\"></label>",
            name.to_ascii_lowercase(),
            esc(v.as_deref().unwrap_or(""))
        )
    };
    let mut b = format!(
        "<form class=filters method=get>{}{}{}{}<button>Filter</button></form>",
        field("Source", &f.0, "text"),
        field("Stream", &f.1, "text"),
        field("Session", &f.2, "text"),
        field("Day", &f.3, "date"),
    );
    // Grouped by publish session, sessions newest first, each in order.
    let mut sessions: BTreeMap<String, Vec<&CatalogEntry>> = BTreeMap::new();
    for e in &entries {
        sessions
            .entry(e.session.clone().unwrap_or_default())
            .or_default()
            .push(e);
    }
    let mut sessions: Vec<(String, Vec<&CatalogEntry>)> = sessions.into_iter().collect();
    for (_, group) in &mut sessions {
        group.sort_by_key(|e| e.filed_at());
    }
    // Newest session first.
    sessions.sort_by_key(|(_, g)| std::cmp::Reverse(g.first().map(|e| e.filed_at())));
    for (session, group) in sessions {
        let heading = if session.is_empty() {
            "No session".to_owned()
        } else {
            format!(
                "Session <a href=\"/ui/recordings?session={}\"><code>{}</code></a>",
                esc(&urlencode(&session)),
                esc(&session)
            )
        };
        let _ = write!(
            b,
            "<h2>{heading}</h2><table><tr><th>Started</th><th>Stream</th><th>Source</th>\
             <th>Format</th><th>Size</th><th>Duration</th><th>SHA-256</th><th>Play</th></tr>"
        );
        for e in group {
            b.push_str(&recording_row(e));
        }
        b.push_str("</table>");
    }
    if entries.is_empty() {
        b.push_str("<p>No recording matches.</p>");
    }
    Ok(page("Recordings", "Recordings", &b, None))
}

fn recording_row(e: &CatalogEntry) -> String {
    let link = format!("/api/v1/catalog/{}/download", e.id);
    let format = e
        .file
        .format
        .clone()
        .or_else(|| e.origin.extension())
        .unwrap_or_default();
    let play = match format.as_str() {
        "mp4" => format!("<video controls preload=none src=\"{link}\"></video>"),
        _ => format!("<a href=\"{link}\" download>Download {}</a>", esc(&format)),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td><code title=\"{sha}\">{short}…</code></td><td>{play}</td></tr>",
        time(&e.filed_at()),
        esc(e.stream.name.as_deref().unwrap_or("")),
        esc(&e.source),
        esc(&format),
        size(e.size),
        duration(e.file.duration_s),
        sha = esc(&e.sha256),
        short = esc(&e.sha256.chars().take(12).collect::<String>()),
    )
}

async fn jobs(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let files = |j: &Job| j.notification.is_none();
    let jobs = state.repo.jobs(all(SHOWN), Box::new(files)).await?.items;
    let of = |st: JobState| jobs.iter().filter(move |j| j.state == st);
    let mut b = String::new();
    let running: Vec<&Job> = of(JobState::Running).collect();
    let _ = write!(b, "<h2>Running ({})</h2><table><tr><th>Job</th><th>File</th><th>Progress</th><th>Started</th></tr>", running.len());
    for j in &running {
        let progress = match j.bytes_total {
            Some(t) if t > 0 => format!(
                "<progress value={} max={t}></progress> {} of {}",
                j.bytes_done,
                size(j.bytes_done),
                size(t)
            ),
            _ => format!("<progress></progress> {}", size(j.bytes_done)),
        };
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{progress}</td><td>{}</td></tr>",
            j.id,
            esc(j.origin.file_name()),
            time(&j.updated_at)
        );
    }
    b.push_str("</table>");
    let waiting: Vec<&Job> = of(JobState::Queued).chain(of(JobState::Retrying)).collect();
    let _ = write!(b, "<h2>Queued and retrying ({})</h2><table><tr><th>Job</th><th>File</th><th>State</th><th>Next attempt</th><th>Attempts</th><th>Last error</th></tr>", waiting.len());
    for j in &waiting {
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=err>{}</td></tr>",
            j.id,
            esc(j.origin.file_name()),
            j.state.as_str(),
            time(&j.next_attempt_at),
            j.attempts,
            esc(j.last_error.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table>");
    let failed: Vec<&Job> = of(JobState::Failed).collect();
    let _ = write!(b, "<h2>Failed ({})</h2><table><tr><th>Job</th><th>File</th><th>Attempts</th><th>Last error</th><th></th></tr>", failed.len());
    for j in &failed {
        let _ = write!(
            b,
            "<tr><td><code>{id}</code></td><td>{}</td><td>{}</td><td class=err>{}</td>\
             <td><form class=inline method=post action=\"/ui/jobs/{id}/retry\">\
             <button>Retry</button></form></td></tr>",
            esc(j.origin.file_name()),
            j.attempts,
            esc(j.last_error.as_deref().unwrap_or("")),
            id = j.id,
        );
    }
    b.push_str("</table>");
    let done: Vec<&Job> = of(JobState::Done).take(50).collect();
    let _ = write!(
        b,
        "<h2>Done (latest {})</h2><table><tr><th>Job</th><th>File</th><th>Size</th><th>Finished</th></tr>",
        done.len()
    );
    for j in &done {
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            j.id,
            esc(j.origin.file_name()),
            size(j.bytes_done),
            time(&j.updated_at)
        );
    }
    b.push_str("</table>");
    // Progress without script: the page reloads while a transfer runs or
    // one is due within seconds.
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(10);
    let moving = !running.is_empty() || waiting.iter().any(|j| j.next_attempt_at <= soon);
    Ok(page("Jobs", "Jobs", &b, moving.then_some(3)))
}

async fn retry(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::retry_job(a, id, state).await?;
    Ok(see_other("/ui/jobs"))
}

async fn rejected_page(
    _: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let kept = state.repo.rejected_list(all(100), Box::new(|_| true));
    let kept = kept.await?.items;
    let mut b = String::from(
        "<table><tr><th>Received</th><th>Source</th><th>Reason</th><th>Body</th><th></th></tr>",
    );
    for r in kept.into_iter().map(rejected::RejectedRequest::shown) {
        let body = r
            .body
            .clone()
            .unwrap_or_else(|| format!("(binary) {}", r.body_hex.clone().unwrap_or_default()));
        let body: String = body.chars().take(4096).collect();
        let action = match &r.replayed_as {
            Some(events) => format!("replayed as {} event(s)", events.len()),
            None => format!(
                "<form class=inline method=post action=\"/ui/rejected/{}/replay\">\
                 <button>Replay</button></form>",
                r.id
            ),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=err><code>{}</code> {}</td><td><pre>{}</pre></td>\
             <td>{action}</td></tr>",
            time(&r.received_at),
            esc(&r.source),
            esc(&r.error_code),
            esc(&r.error),
            esc(&body),
        );
    }
    b.push_str("</table>");
    Ok(page("Rejected callbacks", "Rejected callbacks", &b, None))
}

async fn replay(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::replay(a, id, state).await?;
    Ok(see_other("/ui/rejected"))
}
