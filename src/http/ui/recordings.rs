//! `/ui/recordings`: the catalog by publish session, filtered (source,
//! stream name prefix, dates) and paged with the listing's cursor.
//! Snapshots show as thumbnails; a recording gets its player only when
//! Play is clicked (HLS through the vendored hls.js).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::page::{duration, page, size, time};
use super::urlencode;
use crate::catalog::CatalogEntry;
use crate::http::api::Authorized;
use crate::http::{ApiError, AppState};
use crate::queue::FileKind;
use crate::state::PageRequest;

/// Recordings per page.
const PER_PAGE: usize = 100;

/// The recordings page's filters and page; empty fields are no filter.
#[derive(Deserialize, Default, Clone)]
pub struct RecordingsQuery {
    source: Option<String>,
    /// The stream's name exactly.
    stream: Option<String>,
    /// The stream's name starts with it.
    prefix: Option<String>,
    session: Option<String>,
    /// The entry a job filed.
    job: Option<String>,
    /// YYYY-MM-DD (UTC), on the recording's start.
    day: Option<String>,
    /// From this day on (YYYY-MM-DD, UTC), on the recording's start.
    from: Option<String>,
    /// Up to and including this day.
    to: Option<String>,
    /// The page: the listing's cursor.
    cursor: Option<String>,
    /// The cursors of the pages before ("-": the first), for Previous.
    back: Option<String>,
    /// Recordings per page (1 to 500; 100 unless given).
    limit: Option<usize>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

pub async fn show(
    _: Authorized,
    q: web::Query<RecordingsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let (source, prefix, session, job) = (
        given(&q.source),
        given(&q.prefix),
        given(&q.session),
        given(&q.job),
    );
    let day = given(&q.day);
    let from = given(&q.from).or(day.clone());
    let to = given(&q.to).or(day);
    let keep = move |e: &CatalogEntry| {
        let d = e.filed_at().format("%Y-%m-%d").to_string();
        source.as_ref().is_none_or(|w| *w == e.source)
            && prefix.as_ref().is_none_or(|p| {
                e.stream
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(p.as_str()))
            })
            && session
                .as_ref()
                .is_none_or(|w| e.session.as_ref() == Some(w))
            && job.as_ref().is_none_or(|w| e.job_id.to_string() == *w)
            && from.as_ref().is_none_or(|f| d >= *f)
            && to.as_ref().is_none_or(|t| d <= *t)
    };
    let cursor = given(&q.cursor);
    let per_page = q.limit.unwrap_or(PER_PAGE).clamp(1, 500);
    let request = PageRequest::new(per_page, cursor.as_deref()).ok_or_else(|| {
        ApiError::bad_request("bad_query", "cursor is not one this page gave out")
    })?;
    let listed = state
        .repo
        .entries(given(&q.stream), request, Box::new(keep));
    let listed = listed.await?;
    let entries = listed.items;
    let sources: Vec<String> = state
        .config
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let hls = entries.iter().any(|e| !e.parts.is_empty());
    let b = html! {
        (filters(&q, &sources))
        @for (session, group) in by_session(&entries) {
            (heading(&session, &group))
            table.recs {
                colgroup {
                    @for w in [17, 13, 9, 7, 9, 8, 12, 25] { col style=(format!("width:{w}%")); }
                }
                tr {
                    th { "Started" } th { "Stream" } th { "Source" } th { "Format" }
                    th { "Size" } th { "Duration" } th { "SHA-256" } th { "View" }
                }
                @for e in group { (recording_row(e)) }
            }
        }
        @if entries.is_empty() { p { "No recording matches." } }
        (pages(&q, cursor.as_deref(), listed.next_cursor.as_deref()))
        @if hls { script src="/ui/assets/hls.min.js" {} }
        script { (PreEscaped(PLAY)) }
    };
    Ok(page("Recordings", "Recordings", b, None))
}

/// Makes a row's player when its Play is clicked: one player at a time
/// per row, none before. HLS through hls.js where the browser has Media
/// Source Extensions, else natively (Safari).
const PLAY: &str = "document.addEventListener('click',e=>{const b=e.target.closest('button.play');\
if(!b)return;const v=document.createElement('video');v.controls=true;v.className='player';\
v.preload='auto';const h=b.dataset.hls;if(h&&window.Hls&&Hls.isSupported()){\
const p=new Hls({enableWorker:false});p.loadSource(h);p.attachMedia(v);}else{v.src=h||b.dataset.src;}\
b.replaceWith(v);v.play().catch(()=>{});});";

/// The filter form: source menu, stream prefix, dates.
fn filters(q: &RecordingsQuery, sources: &[String]) -> Markup {
    let chosen = given(&q.source).unwrap_or_default();
    let value = |v: &Option<String>| given(v).unwrap_or_default();
    html! {
        form.filters method="get" action="/ui/recordings" {
            label {
                "Source "
                select name="source" {
                    option value="" { "all" }
                    @for s in sources {
                        option value=(s) selected[*s == chosen] { (s) }
                    }
                }
            }
            label { "Stream prefix " input type="text" name="prefix" value=(value(&q.prefix)); }
            label { "From " input type="date" name="from" value=(value(&q.from)); }
            label { "To " input type="date" name="to" value=(value(&q.to)); }
            @if let Some(s) = given(&q.stream) { input type="hidden" name="stream" value=(s); }
            @if let Some(s) = given(&q.session) { input type="hidden" name="session" value=(s); }
            @if let Some(n) = q.limit { input type="hidden" name="limit" value=(n); }
            button { "Filter" }
            " "
            a href="/ui/recordings" { "Clear" }
        }
    }
}

/// This page's query with the page changed.
fn with_page(q: &RecordingsQuery, cursor: Option<&str>, back: &[&str]) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("source", &q.source),
        ("stream", &q.stream),
        ("prefix", &q.prefix),
        ("session", &q.session),
        ("job", &q.job),
        ("day", &q.day),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = given(v) {
            pairs.push((k, v));
        }
    }
    if let Some(n) = q.limit {
        pairs.push(("limit", n.to_string()));
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c.to_owned()));
    }
    if !back.is_empty() {
        pairs.push(("back", back.join(",")));
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    format!("/ui/recordings?{}", query.join("&"))
}

/// Previous and Next.
fn pages(q: &RecordingsQuery, cursor: Option<&str>, next: Option<&str>) -> Markup {
    let back = given(&q.back).unwrap_or_default();
    let back: Vec<&str> = back.split(',').filter(|c| !c.is_empty()).collect();
    let previous = (cursor.is_some()).then(|| {
        let (last, rest) = back.split_last().map_or(("-", &[][..]), |(l, r)| (*l, r));
        with_page(q, (last != "-").then_some(last), rest)
    });
    let next = next.map(|n| {
        let mut b = back.clone();
        b.push(cursor.unwrap_or("-"));
        with_page(q, Some(n), &b)
    });
    html! {
        div.pages {
            @if let Some(p) = previous { a.previous href=(p) { "← Previous" } }
            @if let Some(n) = next { a.next href=(n) { "Next →" } }
        }
    }
}

/// "stream · start–end · N files", linked to the session's recordings.
fn heading(session: &str, group: &[&CatalogEntry]) -> Markup {
    let stream = group
        .iter()
        .find_map(|e| e.stream.name.clone())
        .unwrap_or_else(|| "(no stream name)".to_owned());
    let start = group.iter().map(|e| e.filed_at()).min();
    let end = group
        .iter()
        .map(|e| e.file.ended_at.unwrap_or_else(|| e.filed_at()))
        .max();
    let files = if group.len() == 1 {
        "1 file".to_owned()
    } else {
        format!("{} files", group.len())
    };
    html! {
        h2 title=(session) {
            @if session.is_empty() {
                (stream)
            } @else {
                a href=(format!("/ui/recordings?session={}", urlencode(session))) { (stream) }
            }
            @if let (Some(s), Some(e)) = (start, end) {
                " · " (time(&s)) "–"
                // Its date is left out in the viewer's zone when it is the start's.
                time.until datetime=(crate::time::rfc3339(&e)) { (e.format("%Y-%m-%d %H:%M:%S UTC")) }
            }
            " · " span.files { (files) }
        }
    }
}

/// Recordings grouped by publish session (those of none: by stream), each
/// in order, the newest session first.
fn by_session(entries: &[CatalogEntry]) -> Vec<(String, Vec<&CatalogEntry>)> {
    let mut sessions: BTreeMap<(String, String), Vec<&CatalogEntry>> = BTreeMap::new();
    for e in entries {
        let stream = e.stream.name.clone().unwrap_or_default();
        let key = match &e.session {
            Some(s) => (s.clone(), String::new()),
            None => (String::new(), stream),
        };
        sessions.entry(key).or_default().push(e);
    }
    let mut sessions: Vec<(String, Vec<&CatalogEntry>)> =
        sessions.into_iter().map(|((s, _), g)| (s, g)).collect();
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
                @if e.kind == FileKind::Snapshot {
                    a href=(link) {
                        img.thumb loading="lazy" alt=(format!("snapshot of {}", e.stream.name.as_deref().unwrap_or("")))
                            src=(format!("/api/v1/catalog/{}/content", e.id));
                    }
                } @else if !e.parts.is_empty() {
                    button.play type="button"
                        data-hls=(format!("/api/v1/catalog/{}/playlist.m3u8", e.id)) { "Play" }
                } @else if format == "mp4" {
                    button.play type="button" data-src=(link) { "Play" }
                    " "
                }
                @if e.parts.is_empty() && e.kind != FileKind::Snapshot {
                    a href=(link) download { "Download " (format) }
                }
            }
        }
    }
}
