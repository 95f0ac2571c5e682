//! `/ui/recordings`: the catalog by publish session, with filters.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{duration, page, size, time};
use super::{all, urlencode, SHOWN};
use crate::catalog::CatalogEntry;
use crate::http::api::Authorized;
use crate::http::{ApiError, AppState};

/// The recordings page's filters; empty fields are no filter.
#[derive(Deserialize, Default)]
pub struct RecordingsQuery {
    source: Option<String>,
    stream: Option<String>,
    session: Option<String>,
    /// YYYY-MM-DD (UTC), on the recording's start.
    day: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub async fn show(
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
