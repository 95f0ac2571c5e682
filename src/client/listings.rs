//! Each listing of the API as a table, ending in a line that counts it
//! (the whole output when it is empty), so an empty answer reads as one.

use serde_json::Value;

use super::table::{table, Column, Fit};

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The table and its count line, or the count line alone when empty.
fn counted(columns: &[Column], rows: &[Vec<String>], count: String) -> String {
    let mut out = if rows.is_empty() {
        String::new()
    } else {
        table(columns, rows)
    };
    out.push_str(&count);
    out.push('\n');
    out
}

/// "1 job", "2 jobs".
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Human-readable byte counts.
pub fn size(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".to_owned(), bytes)
}

/// `n` bytes in the largest unit that keeps them above 1.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// A recording's length: the platform's `duration_s`, else from its start
/// and end times; "-" for a snapshot or when unknown.
fn duration(e: &Value) -> String {
    let secs = e["duration_s"].as_f64().or_else(|| {
        let at = |k: &str| e[k].as_str().and_then(crate::time::parse_rfc3339);
        let (start, end) = (at("started_at")?, at("ended_at")?);
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    });
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => hms(s.round() as u64),
        _ => "-".to_owned(),
    }
}

/// 45s, 3m05s, 1h02m03s.
fn hms(s: u64) -> String {
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// One session's entries as a table, in the order they were recorded.
pub fn session_table(items: &[Value]) -> String {
    let mut items = items.to_vec();
    let when = |e: &Value| {
        let t = e["started_at"].as_str().or(e["ended_at"].as_str());
        t.unwrap_or("").to_owned()
    };
    items.sort_by_key(when);
    catalog_table(&items)
}

/// The catalog as a table.
pub fn catalog_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            let at = match e["store"]["type"].as_str() {
                Some("s3") => format!(
                    "s3://{}/{}",
                    text(&e["store"]["bucket"]),
                    text(&e["store"]["key"])
                ),
                _ => text(&e["store"]["path"]),
            };
            vec![
                text(&e["started_at"]),
                text(&e["id"]),
                text(&e["kind"]),
                text(&e["source"]),
                format!("{}/{}", text(&e["app"]), text(&e["stream"])),
                duration(e),
                size(&e["size"]),
                text(&e["sha256"]).chars().take(12).collect(),
                at,
            ]
        })
        .collect();
    let columns = [
        ("STARTED", Fit::Short),
        ("ID", Fit::Whole),
        ("KIND", Fit::Short),
        ("SOURCE", Fit::Text),
        ("APP/STREAM", Fit::Text),
        ("DURATION", Fit::Short),
        ("SIZE", Fit::Short),
        ("SHA256", Fit::Short),
        ("STORED AT", Fit::Text),
    ];
    counted(&columns, &rows, plural(items.len(), "entry", "entries"))
}

/// Jobs as a table, each with its stream as the API gives it.
pub fn jobs_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|j| {
            let progress = match (j["bytes_done"].as_u64(), j["bytes_total"].as_u64()) {
                (Some(d), Some(t)) if t > 0 => format!("{}%", d * 100 / t),
                _ => "-".to_owned(),
            };
            // Only a waiting job has an attempt to come.
            let next = match j["state"].as_str() {
                Some("queued" | "retrying") => text(&j["next_attempt_at"]),
                _ => "-".to_owned(),
            };
            let stream = if j["stream"].is_string() {
                app_stream(j)
            } else {
                "-".to_owned()
            };
            vec![
                text(&j["id"]),
                text(&j["state"]),
                text(&j["source"]),
                stream,
                text(&j["attempts"]),
                progress,
                next,
                text(&j["origin"]["value"]),
                text(&j["last_error"]),
            ]
        })
        .collect();
    let columns = [
        ("ID", Fit::Whole),
        ("STATE", Fit::Short),
        ("SOURCE", Fit::Text),
        ("STREAM", Fit::Text),
        ("ATTEMPTS", Fit::Short),
        ("DONE", Fit::Short),
        ("NEXT ATTEMPT", Fit::Short),
        ("ORIGIN", Fit::Text),
        ("LAST ERROR", Fit::Text),
    ];
    counted(&columns, &rows, plural(items.len(), "job", "jobs"))
}

/// An event's stream as the tables show it: `app/stream`.
pub fn app_stream(e: &Value) -> String {
    format!("{}/{}", text(&e["app"]), text(&e["stream"]))
}

/// Streams as a table; `live_only` when only live ones were asked for.
pub fn streams_table(items: &[Value], live_only: bool) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|s| {
            vec![
                text(&s["source"]),
                text(&s["domain"]),
                app_stream(s),
                if s["live"] == Value::Bool(true) {
                    "live".to_owned()
                } else {
                    "-".to_owned()
                },
                text(&s["last_started_at"]),
                text(&s["last_stopped_at"]),
            ]
        })
        .collect();
    let columns = [
        ("SOURCE", Fit::Text),
        ("DOMAIN", Fit::Text),
        ("APP/STREAM", Fit::Text),
        ("LIVE", Fit::Short),
        ("STARTED", Fit::Short),
        ("STOPPED", Fit::Short),
    ];
    let count = if live_only {
        format!(
            "{} (--all for every stream seen)",
            plural(items.len(), "live stream", "live streams")
        )
    } else {
        plural(items.len(), "stream", "streams")
    };
    counted(&columns, &rows, count)
}

/// Rejected requests as a table.
/// `refused`: the last 24 hours' count, then the latest refusals.
pub fn refused_table(answer: &Value) -> String {
    let day = &answer["last_24h"];
    let by_status: Vec<String> = day["by_status"]
        .as_object()
        .map(|m| m.iter().map(|(s, n)| format!("{n} × {s}")).collect())
        .unwrap_or_default();
    let total = day["total"].as_u64().unwrap_or(0);
    let mut head = plural(total as usize, "callback refused", "callbacks refused");
    head.push_str(" in the last 24 hours");
    if !by_status.is_empty() {
        head.push_str(&format!(" ({})", by_status.join(", ")));
    }
    let recent = answer["recent"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = recent
        .iter()
        .map(|r| {
            vec![
                text(&r["at"]),
                text(&r["source"]),
                text(&r["status"]),
                text(&r["code"]),
                text(&r["remote_addr"]),
                text(&r["message"]),
            ]
        })
        .collect();
    let columns = [
        ("AT", Fit::Short),
        ("SOURCE", Fit::Text),
        ("STATUS", Fit::Whole),
        ("CODE", Fit::Short),
        ("FROM", Fit::Short),
        ("MESSAGE", Fit::Text),
    ];
    counted(&columns, &rows, head)
}

pub fn rejected_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            vec![
                text(&r["id"]),
                text(&r["received_at"]),
                text(&r["source"]),
                text(&r["error_code"]),
                if r["replayed_as"].is_array() {
                    "replayed".to_owned()
                } else {
                    "-".to_owned()
                },
                text(&r["error"]),
            ]
        })
        .collect();
    let columns = [
        ("ID", Fit::Whole),
        ("RECEIVED", Fit::Short),
        ("SOURCE", Fit::Text),
        ("CODE", Fit::Short),
        ("REPLAYED", Fit::Short),
        ("ERROR", Fit::Text),
    ];
    counted(
        &columns,
        &rows,
        plural(items.len(), "rejected request", "rejected requests"),
    )
}

/// Notification deliveries as a table.
pub fn notifications_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|j| {
            vec![
                text(&j["id"]),
                text(&j["state"]),
                text(&j["notification"]["target"]),
                text(&j["notification"]["event"]),
                j["attempts"].to_string(),
                text(&j["last_error"]),
            ]
        })
        .collect();
    let columns = [
        ("ID", Fit::Whole),
        ("STATE", Fit::Short),
        ("TARGET", Fit::Text),
        ("EVENT", Fit::Short),
        ("ATTEMPTS", Fit::Short),
        ("LAST ERROR", Fit::Text),
    ];
    counted(
        &columns,
        &rows,
        plural(items.len(), "notification", "notifications"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(duration(&json!({"duration_s": 59.6})), "1m00s");
        assert_eq!(duration(&json!({"duration_s": 3723})), "1h02m03s");
        let timed =
            json!({"started_at": "2026-12-01T10:00:00Z", "ended_at": "2026-12-01T10:00:45Z"});
        assert_eq!(duration(&timed), "45s");
        assert_eq!(duration(&json!({"kind": "snapshot"})), "-");
    }

    #[test]
    fn an_empty_listing_is_one_count_line() {
        assert_eq!(jobs_table(&[]), "0 jobs\n");
        assert_eq!(catalog_table(&[]), "0 entries\n");
    }
}
