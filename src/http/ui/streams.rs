//! `/ui/streams`: every stream seen (by its start/stop callbacks or by its
//! recordings), whether it is live, when it was last recorded, and a
//! timeline of the day: its recordings along the hours, gaps between them
//! and failed recordings marked. A stream with a failed recording is shown
//! failing, never healthy.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, TimeDelta};
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{page, time};
use super::{all, urlencode, SHOWN};
use crate::catalog::CatalogEntry;
use crate::http::api::Authorized;
use crate::http::{ApiError, AppState};
use crate::queue::{Job, JobState};
use crate::stream::StreamState;
use crate::time::Timestamp;

/// The most catalog entries read to find each stream's recordings.
const ENTRIES_READ: usize = 10 * SHOWN;

/// A space between two recordings of one session longer than this is a gap.
const GAP_MIN: TimeDelta = TimeDelta::seconds(5);

/// A stream's (source, name).
type Key = (String, String);

/// Each stream's latest recording: its end and its length.
pub async fn last_recordings(
    state: &AppState,
) -> Result<HashMap<Key, (Timestamp, Option<f64>)>, ApiError> {
    let entries = state
        .repo
        .entries(None, all(ENTRIES_READ), Box::new(|_| true));
    let mut last: HashMap<Key, (Timestamp, Option<f64>)> = HashMap::new();
    for e in entries.await?.items {
        let end = ended(&e);
        let slot = last.entry(key_of(&e)).or_insert((end, e.file.duration_s));
        if end > slot.0 {
            *slot = (end, e.file.duration_s);
        }
    }
    Ok(last)
}

fn key_of(e: &CatalogEntry) -> Key {
    (e.source.clone(), e.stream.name.clone().unwrap_or_default())
}

/// When a recording ended: as the platform said, else its start plus its
/// length, else when it was archived.
fn ended(e: &CatalogEntry) -> Timestamp {
    let from_start = e
        .file
        .start()
        .zip(e.file.duration_s)
        .map(|(s, d)| s + TimeDelta::milliseconds((d.max(0.0) * 1000.0) as i64));
    e.file.ended_at.or(from_start).unwrap_or(e.archived_at)
}

/// When a recording began, when it says.
fn began(e: &CatalogEntry) -> Timestamp {
    let from_end = e
        .file
        .ended_at
        .zip(e.file.duration_s)
        .map(|(t, d)| t - TimeDelta::milliseconds((d.max(0.0) * 1000.0) as i64));
    e.file.start().or(from_end).unwrap_or_else(|| ended(e))
}

/// The page's query: `day` (YYYY-MM-DD, UTC), today unless given.
#[derive(Deserialize, Default)]
pub struct StreamsQuery {
    day: Option<String>,
}

/// One row of the page.
struct Row {
    source: String,
    name: String,
    /// domain/app, when a start/stop callback told them.
    place: String,
    state: Option<StreamState>,
    recordings: Vec<CatalogEntry>,
    /// Failed recordings: when each was announced.
    failed: Vec<Timestamp>,
    last: Option<Timestamp>,
    /// The latest recording's length.
    length: Option<f64>,
    total: usize,
}

/// The row of stream `k`, made empty when first met.
fn row<'a>(rows: &'a mut BTreeMap<Key, Row>, k: &Key) -> &'a mut Row {
    rows.entry(k.clone()).or_insert_with(|| Row {
        source: k.0.clone(),
        name: k.1.clone(),
        place: String::new(),
        state: None,
        recordings: Vec::new(),
        failed: Vec::new(),
        last: None,
        length: None,
        total: 0,
    })
}

pub async fn show(
    _: Authorized,
    q: web::Query<StreamsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now();
    let day = q
        .day
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .unwrap_or_else(|| now.date_naive());
    let from = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let to = from + TimeDelta::days(1);
    let gap = Duration::from_secs(state.config.state.session_gap_secs);
    let streams = state.repo.streams(all(SHOWN), Box::new(|_| true)).await?;
    let entries = state
        .repo
        .entries(None, all(ENTRIES_READ), Box::new(|_| true));
    let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
    for s in streams.items {
        let k = (s.source.clone(), s.stream.clone());
        let r = row(&mut rows, &k);
        r.place = format!("{}/{}", s.domain, s.app);
        r.state = Some(s);
    }
    for e in entries.await?.items {
        let k = key_of(&e);
        let r = row(&mut rows, &k);
        r.total += 1;
        let end = ended(&e);
        if r.last.is_none_or(|l| end > l) {
            (r.last, r.length) = (Some(end), e.file.duration_s);
        }
        if end >= from && began(&e) < to {
            r.recordings.push(e);
        }
    }
    for (k, at) in failed_recordings(&state).await? {
        if at >= from && at < to {
            let r = row(&mut rows, &k);
            r.failed.push(at);
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    rows.sort_by_key(|r| std::cmp::Reverse((!r.failed.is_empty(), r.last)));
    let prev = (day - TimeDelta::days(1)).format("%Y-%m-%d");
    let next = (day + TimeDelta::days(1)).format("%Y-%m-%d");
    let b = html! {
        p.daynav {
            a href=(format!("/ui/streams?day={prev}")) { "← " (prev) }
            " " b { (day.format("%Y-%m-%d")) " (UTC)" } " "
            a href=(format!("/ui/streams?day={next}")) { (next) " →" }
        }
        p.legend {
            span.key.rec { "■" } " recording " span.key.gap { "■" } " gap in a session "
            span.key.fail { "▲" } " failed recording"
        }
        table.streams {
            tr {
                th { "Stream" } th { "Source" } th { "State" } th { "Last recording" }
                th { "Recordings" } th.timeline { "The day, 00:00–24:00 UTC" }
            }
            @for r in &rows {
                @let last = r.last.map(|t| (t, r.length));
                @let live = r.state.as_ref().is_some_and(|s| s.live_at(last, gap, now));
                @let stale = r.state.as_ref().is_some_and(|s| s.live) && !live;
                tr data-stream=(r.name) {
                    td { @if !r.place.is_empty() { (r.place) "/" } b { (r.name) } }
                    td { (r.source) }
                    @if !r.failed.is_empty() {
                        td.err { "failing: " (r.failed.len()) " failed recording(s) this day" }
                    } @else if live {
                        td.live { "live" }
                    } @else if stale {
                        td.offline title="started, with no stop callback, and quiet since" { "ended (no stop callback)" }
                    } @else {
                        td.offline { "offline" }
                    }
                    td { @match r.last { Some(t) => (time(&t)), None => "–" } }
                    td {
                        a href=(format!("/ui/recordings?source={}&stream={}",
                            urlencode(&r.source), urlencode(&r.name))) { (r.total) }
                    }
                    td.timeline { (timeline(&r.recordings, &r.failed, from)) }
                }
            }
        }
        @if rows.is_empty() { p { "No stream seen yet." } }
    };
    Ok(page("Streams", "Streams", b, None))
}

/// The failed recordings' streams and times, from their events.
async fn failed_recordings(state: &AppState) -> Result<Vec<(Key, Timestamp)>, ApiError> {
    let failed = Box::new(|j: &Job| j.state == JobState::Failed && j.notification.is_none());
    let jobs = state.repo.jobs(all(SHOWN), failed).await?.items;
    let mut out = Vec::new();
    for j in jobs {
        if let Some(e) = state.repo.event(j.event_id).await? {
            let name = e.stream.name.clone().unwrap_or_default();
            out.push(((j.source.clone(), name), e.occurred_at));
        }
    }
    Ok(out)
}

/// One day as an SVG strip: recordings, the gaps between those of one
/// session, failed recordings.
fn timeline(recordings: &[CatalogEntry], failed: &[Timestamp], from: Timestamp) -> Markup {
    let x = |t: Timestamp| {
        ((t - from).num_milliseconds() as f64 / 86_400_000.0 * 1000.0).clamp(0.0, 1000.0)
    };
    let mut spans: Vec<(Timestamp, Timestamp, &CatalogEntry)> =
        recordings.iter().map(|e| (began(e), ended(e), e)).collect();
    spans.sort_by_key(|s| s.0);
    let gaps: Vec<(Timestamp, Timestamp)> = spans
        .windows(2)
        .filter(|w| w[0].2.session.is_some() && w[0].2.session == w[1].2.session)
        .filter(|w| w[1].0 - w[0].1 > GAP_MIN)
        .map(|w| (w[0].1, w[1].0))
        .collect();
    html! {
        svg.timeline viewBox="0 0 1000 20" preserveAspectRatio="none" role="img"
            aria-label=(format!("{} recordings, {} gaps, {} failed", spans.len(), gaps.len(), failed.len())) {
            @for h in (0..=24).step_by(6) {
                line.hour x1=(h * 1000 / 24) y1="0" x2=(h * 1000 / 24) y2="20" {}
            }
            @for (a, b) in &gaps {
                rect.gap x=(format!("{:.1}", x(*a))) y="4" width=(format!("{:.1}", (x(*b) - x(*a)).max(1.0))) height="12" {
                    title { "gap " (a.format("%H:%M:%S")) "–" (b.format("%H:%M:%S")) " UTC" }
                }
            }
            @for (a, b, e) in &spans {
                rect.rec x=(format!("{:.1}", x(*a))) y="4" width=(format!("{:.1}", (x(*b) - x(*a)).max(2.0))) height="12" {
                    title { (a.format("%H:%M:%S")) "–" (b.format("%H:%M:%S")) " UTC · " (e.origin.file_name()) }
                }
            }
            @for t in failed {
                path.fail d=(format!("M{:.1} 2 l5 14 h-10 z", x(*t))) {
                    title { "failed recording announced at " (t.format("%H:%M:%S")) " UTC" }
                }
            }
        }
    }
}
