//! Huawei Cloud Live (华为云直播): recording callbacks (`event_type`
//! `RECORD_START`, `RECORD_NEW_FILE_START`, `RECORD_FILE_COMPLETE`,
//! `RECORD_OVER`, `RECORD_FAILED`; RFC 3339 times; the file at
//! `download_url` and in OBS as `obs_bucket`/`obs_object`) and stream push
//! callbacks (`event` `PUBLISH` / `PUBLISH_DONE`), each signed in the body
//! with `auth_sign` and `auth_timestamp`.
//!
//! Documentation: <https://support.huaweicloud.com/iLive-live/live_01_0035.html>
//! (recording callback, its example and both signing modes) and
//! <https://support.huaweicloud.com/bestpractice-live/live_14_0003.html>
//! (push callback, its example and its signature).

mod sign;

pub use sign::{verify, SignError, MAX_AHEAD_SECS};

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, Location, ParsedEvent, Status};
use crate::providers::{location, missing_file, size, unknown_event, Provider};
use crate::time::{from_unix_auto, parse_rfc3339, Timestamp};

const P: Provider = Provider::Huawei;

/// True when a record has one of Huawei's shapes: a `RECORD_*` event type
/// with a `publish_domain`, or a `PUBLISH`/`PUBLISH_DONE` event with a
/// field no other platform's push callback carries.
pub fn looks_like(f: &Fields) -> bool {
    let recording = f
        .text("event_type")
        .is_some_and(|t| t.to_ascii_uppercase().starts_with("RECORD_"))
        && f.has("publish_domain");
    let push = f
        .text("event")
        .is_some_and(|e| matches!(e.to_ascii_uppercase().as_str(), "PUBLISH" | "PUBLISH_DONE"))
        && ["publish_timestamp", "node_ip", "user_args", "auth_sign"]
            .iter()
            .any(|k| f.has(k));
    recording || push
}

/// Parses one Huawei Cloud Live callback record.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    if f.has("event_type") {
        parse_recording(f)
    } else {
        parse_push(f)
    }
}

fn parse_push(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = crate::providers::required(f, "event", "Huawei Cloud Live push callback")?;
    let kind = match raw_name.to_ascii_uppercase().as_str() {
        "PUBLISH" => EventKind::StreamStarted,
        "PUBLISH_DONE" => EventKind::StreamStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    e.stream.domain = f.text("domain");
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    e.client_ip = f.text("client_ip");
    e.params = f.params("user_args");
    // One push's start and stop carry the same `publish_timestamp`: it
    // names the push, and is when it started, not when it stopped.
    let published = unix(f, "publish_timestamp")?;
    if kind == EventKind::StreamStarted {
        e.occurred_at = published;
    }
    for key in ["node_ip", "publish_timestamp"] {
        if let Some(v) = f.text(key) {
            e.params.entry(key.to_owned()).or_insert(v);
        }
    }
    Ok(e)
}

fn parse_recording(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name =
        crate::providers::required(f, "event_type", "Huawei Cloud Live recording callback")?;
    let (kind, status) = match raw_name.to_ascii_uppercase().as_str() {
        "RECORD_START" | "RECORD_NEW_FILE_START" => (EventKind::RecordingStarted, Status::Success),
        "RECORD_FILE_COMPLETE" => (EventKind::RecordingReady, Status::Success),
        "RECORD_OVER" => (EventKind::RecordingStopped, Status::Success),
        "RECORD_FAILED" => (EventKind::RecordingStopped, Status::Fail),
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name.clone());
    e.status = status;
    e.stream.domain = f.text("publish_domain");
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    if status == Status::Fail {
        e.error = ["error_message", "detail_message", "message"]
            .iter()
            .find_map(|k| f.text(k))
            .or_else(|| Some(format!("Huawei Cloud Live reported {raw_name}")));
    }
    let facts = FileFacts {
        format: f.text("record_format").map(|s| s.to_ascii_lowercase()),
        started_at: time(f, "start_time")?,
        ended_at: time(f, "end_time")?,
        duration_s: f.number("record_duration")?,
        platform_facts: platform_facts(f),
        ..FileFacts::default()
    };
    if kind == EventKind::RecordingReady {
        let location = file_location(f).ok_or_else(|| missing_file(P, &raw_name))?;
        e.file = Some(FileInfo {
            location,
            size: size(f, "file_size")?,
            facts,
        });
    }
    Ok(e)
}

/// `download_url` when given; else the OBS object as `bucket/object`, which
/// the source's S3 origin resolves (as JD's legacy `bucket/key`).
fn file_location(f: &Fields) -> Option<Location> {
    location(f, "download_url").or_else(|| {
        let bucket = f.text("obs_bucket")?;
        let object = f.text("obs_object")?;
        Some(Location::Path(format!(
            "{bucket}/{}",
            object.trim_start_matches('/')
        )))
    })
}

/// Huawei's own ids and the OBS address, kept with the file.
fn platform_facts(f: &Fields) -> std::collections::BTreeMap<String, String> {
    [
        "project_id",
        "job_id",
        "task_id",
        "asset_id",
        "obs_location",
        "obs_bucket",
        "obs_object",
        "play_url",
        "width",
        "height",
    ]
    .iter()
    .filter_map(|k| f.text(k).map(|v| ((*k).to_owned(), v)))
    .collect()
}

/// A time as Huawei writes it (`2020-03-08T14:10:25Z`), or a unix time.
pub(crate) fn time(f: &Fields, key: &str) -> Result<Option<Timestamp>, BodyError> {
    let Some(text) = f.text(key) else {
        return Ok(None);
    };
    if let Some(t) = parse_rfc3339(&text) {
        return Ok(Some(t));
    }
    unix(f, key)
}

/// A unix time (s or ms), forgiving the trailing comma the push example
/// leaves inside `"publish_timestamp":"1587954134,"`.
fn unix(f: &Fields, key: &str) -> Result<Option<Timestamp>, BodyError> {
    let Some(text) = f.text(key) else {
        return Ok(None);
    };
    let bad = || {
        BodyError::new(
            "invalid_field",
            format!("field `{key}`: {text:?} is neither an RFC 3339 nor a unix time"),
        )
    };
    let n: f64 = text
        .trim_end_matches(',')
        .trim()
        .parse()
        .map_err(|_| bad())?;
    from_unix_auto(n).map(Some).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{decode_body, Encoding};

    fn fields(json: &str) -> Fields {
        decode_body(Encoding::Json, json.as_bytes())
            .unwrap()
            .records()[0]
            .clone()
    }

    #[test]
    fn a_file_in_obs_only_is_a_bucket_path() {
        let f = fields(
            r#"{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"d","app":"live",
                "stream":"s","obs_bucket":"b","obs_object":"/live/x.flv"}"#,
        );
        let e = parse(&f).unwrap();
        assert_eq!(
            e.file.unwrap().location,
            Location::Path("b/live/x.flv".into())
        );
    }

    #[test]
    fn a_failure_is_a_failed_stop_with_its_reason() {
        let f = fields(
            r#"{"event_type":"RECORD_FAILED","publish_domain":"d","app":"a","stream":"s",
                "error_message":"upload to OBS failed"}"#,
        );
        let e = parse(&f).unwrap();
        assert_eq!(
            (e.kind, e.status),
            (EventKind::RecordingStopped, Status::Fail)
        );
        assert_eq!(e.error.as_deref(), Some("upload to OBS failed"));
    }

    #[test]
    fn publish_done_does_not_take_the_pushs_start_as_its_time() {
        let f = fields(
            r#"{"event":"PUBLISH_DONE","domain":"d","app":"a","stream":"s",
                "publish_timestamp":"1587954134,"}"#,
        );
        let e = parse(&f).unwrap();
        assert_eq!(e.kind, EventKind::StreamStopped);
        assert_eq!(e.occurred_at, None);
        assert_eq!(e.params["publish_timestamp"], "1587954134,");
    }

    #[test]
    fn shapes_are_told_apart() {
        assert!(looks_like(&fields(
            r#"{"event_type":"RECORD_OVER","publish_domain":"d"}"#
        )));
        assert!(looks_like(&fields(r#"{"event":"PUBLISH","node_ip":"1"}"#)));
        // JD's legacy body names its events alike, with none of Huawei's fields.
        assert!(!looks_like(&fields(
            r#"{"event":"publish_done","domain":"d","status":"success"}"#
        )));
    }
}
