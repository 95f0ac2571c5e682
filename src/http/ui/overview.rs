//! `/ui/`: the overview an operator keeps open. Each figure labelled: live
//! streams, archived today, the jobs by state, rejected and refused
//! callbacks; a banner when the archive store or the state store fails;
//! charts of what was archived per hour (24 hours, 7 days), the backlog
//! over the day, and failed jobs by reason.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::{TimeDelta, Timelike};
use maud::{html, Markup};

use super::chart::{self, Bar, Line};
use super::page::{page, size};
use super::streams::last_recordings;
use super::{all, SHOWN};
use crate::backlog::Sample;
use crate::http::api::Authorized;
use crate::http::{ApiError, AppState};
use crate::queue::{Job, JobState};
use crate::state::HourTally;
use crate::time::Timestamp;

/// A failure message's reason, for counting failures by kind. The
/// messages are the daemon's own (`retry::Failure`), so their words are known.
pub fn reason(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&["no longer configured"]) {
        "source not configured"
    } else if has(&["http 404", "http 410", "not found", "no such file"]) {
        "not found at the origin"
    } else if has(&["http 401", "http 403", "permission denied", "access denied"]) {
        "refused by the origin"
    } else if has(&[
        "checksum",
        "mismatch",
        "md5",
        "sha-256",
        "size differs",
        "0 bytes",
    ]) {
        "integrity"
    } else if has(&["timed out", "timeout"]) {
        "timed out"
    } else if has(&["connection refused", "dns", "resolve", "connect", "reset"]) {
        "origin unreachable"
    } else if has(&["internal address", "not allowed", "outbound"]) {
        "refused by policy"
    } else if has(&["store.", "bucket", "s3"]) {
        "archive store"
    } else if has(&["http 5", "http 429"]) {
        "origin error (5xx/429)"
    } else {
        "other"
    }
}

/// One labelled figure.
fn figure(label: &str, value: impl std::fmt::Display, id: &str, warn: bool) -> Markup {
    html! {
        div.figure.warn[warn] data-figure=(id) {
            div.value { (value) }
            div.label { (label) }
        }
    }
}

/// The overview page.
pub async fn show(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now();
    let week_ago = now - TimeDelta::days(7) + TimeDelta::hours(1);
    let tallies = state.repo.archived_by_hour(week_ago).await?;
    let gauges = Sample::of(&state.repo.gauges(now).await?, now);
    let rejected: u64 = state.repo.rejected_counts().await?.values().sum();
    let refused = state.refused.last_24h(now);
    let failed = Box::new(|j: &Job| j.state == JobState::Failed && j.notification.is_none());
    let failed = state.repo.jobs(all(SHOWN), failed).await?.items;
    let mut reasons: HashMap<&'static str, u64> = HashMap::new();
    for j in &failed {
        *reasons
            .entry(reason(j.last_error.as_deref().unwrap_or("")))
            .or_default() += 1;
    }
    let gap = Duration::from_secs(state.config.state.session_gap_secs);
    let streams = state.repo.streams(all(SHOWN), Box::new(|_| true)).await?;
    let last = last_recordings(&state).await?;
    let live = streams
        .items
        .iter()
        .filter(|s| {
            s.live_at(
                last.get(&(s.source.clone(), s.stream.clone())).copied(),
                gap,
                now,
            )
        })
        .count();
    let this_hour = now.timestamp().div_euclid(3600);
    let midnight = this_hour - i64::from(now.hour());
    let today = tallies.iter().filter(|t| t.hour >= midnight);
    let (files_today, bytes_today) = today.fold((0, 0), |(f, b), t| (f + t.files, b + t.bytes));
    let (state_ok, store) = crate::http::ops::health(&state).await;
    let store_down = store["ok"] != serde_json::json!(true);
    let by_status: Vec<String> = (refused.by_status.iter())
        .map(|(status, n)| format!("{n} × {status}"))
        .collect();
    let refused_label = match by_status.is_empty() {
        true => "callbacks refused in 24 h".to_owned(),
        false => format!("callbacks refused in 24 h ({})", by_status.join(", ")),
    };
    let b = html! {
        @if let Err(e) = &state_ok {
            div.banner role="alert" data-banner="state" {
                b { "The state store cannot write: " } (e)
                " Callbacks are answered 503 until it can."
            }
        }
        @if store_down {
            div.banner role="alert" data-banner="store" {
                b { "The archive store is failing: " }
                (store["reason"].as_str().unwrap_or("it does not answer"))
                " Transfers wait and resume once it answers; callbacks are still taken."
            }
        }
        div.figures {
            (figure("live streams", live, "live", false))
            (figure("files archived today (UTC)", files_today, "files_today", false))
            (figure("archived today (UTC)", size(bytes_today), "bytes_today", false))
            (figure("jobs queued or waiting to retry", gauges.waiting, "queued", false))
            (figure("jobs running", gauges.running, "running", false))
            (figure("jobs failed", gauges.failed, "failed", gauges.failed > 0))
            (figure("rejected callbacks kept", rejected, "rejected", rejected > 0))
            (figure(&refused_label, refused.total, "refused", refused.total > 0))
        }
        @if refused.total > 0 {
            p.muted {
                "Refused callbacks carried no valid token or signature, or named no configured source: "
                a href="/api/v1/refused" { "the latest" } " (also " code { "recording-archiver refused" } ")."
            }
        }
        div.charts {
            (archived_charts(&tallies, this_hour, 24, "last 24 hours"))
            (archived_charts(&tallies, this_hour, 24 * 7, "last 7 days"))
            (backlog_chart(&state.backlog.since(now - TimeDelta::hours(24)), gauges, now))
            (chart::ranking("Failed jobs by reason", reasons.into_iter().map(|(r, n)| (r.to_owned(), n)).collect()))
        }
    };
    Ok(page("Overview", "Overview", b, Some(60)))
}

/// Files and bytes archived per hour over the last `hours`.
fn archived_charts(tallies: &[HourTally], this_hour: i64, hours: i64, span: &str) -> Markup {
    let by_hour: HashMap<i64, &HourTally> = tallies.iter().map(|t| (t.hour, t)).collect();
    let first = this_hour - hours + 1;
    let at = |h: i64| chrono::DateTime::from_timestamp(h * 3600, 0).unwrap_or_default();
    let label = |h: i64| {
        if hours <= 24 {
            at(h).format("%H:00").to_string()
        } else {
            at(h).format("%a %d").to_string()
        }
    };
    let labelled = |h: i64| {
        if hours <= 24 {
            h % 6 == 0
        } else {
            h.rem_euclid(24) == 0
        }
    };
    let bars = |what: &dyn Fn(&HourTally) -> u64, unit: &dyn Fn(u64) -> String| -> Vec<Bar> {
        (first..=this_hour)
            .map(|h| {
                let v = by_hour.get(&h).map_or(0, |t| what(t));
                Bar {
                    label: label(h),
                    tip: format!("{} UTC: {}", at(h).format("%Y-%m-%d %H:00"), unit(v)),
                    value: v as f64,
                    labelled: labelled(h),
                }
            })
            .collect()
    };
    let files = bars(&|t| t.files, &|v| format!("{v} files"));
    let bytes = bars(&|t| t.bytes, &|v| size(v));
    html! {
        (chart::bars(&format!("Files archived per hour, {span} (UTC)"), &files, |v| format!("{v}")))
        (chart::bars(&format!("Bytes archived per hour, {span} (UTC)"), &bytes, |v| size(v as u64)))
    }
}

/// Jobs waiting, running and failed over the last 24 hours.
fn backlog_chart(samples: &[Sample], now_counts: Sample, now: Timestamp) -> Markup {
    let from = now - TimeDelta::hours(24);
    let pos = |t: Timestamp| (t - from).num_seconds() as f64 / 86_400.0;
    let mut samples = samples.to_vec();
    samples.push(now_counts);
    let line = |name, class, v: fn(&Sample) -> u64| Line {
        name,
        class,
        points: samples.iter().map(|s| (pos(s.at), v(s) as f64)).collect(),
    };
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            let t = from + TimeDelta::hours(i * 6);
            (pos(t), t.format("%H:%M").to_string())
        })
        .collect();
    let since = samples.first().map_or(now, |s| s.at);
    html! { div.chartbox {
        (chart::lines("Jobs waiting, running and failed, last 24 hours (UTC)",
            &[line("waiting", "waiting", |s| s.waiting),
              line("running", "running", |s| s.running),
              line("failed", "failed", |s| s.failed)], &ticks))
        p.muted {
            "Sampled each minute"
            @if since > from { " since the daemon started, at " (since.format("%H:%M UTC")) }
            "."
        }
    } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_their_reason() {
        assert_eq!(
            reason("http://o/x.mp4: HTTP 404"),
            "not found at the origin"
        );
        assert_eq!(
            reason("source \"default\" is no longer configured"),
            "source not configured"
        );
        assert_eq!(reason("https://o/a: HTTP 403"), "refused by the origin");
        assert_eq!(
            reason("error sending request: operation timed out"),
            "timed out"
        );
        assert_eq!(reason("size mismatch: 10 of 12 bytes"), "integrity");
        assert_eq!(reason("something new"), "other");
    }
}
