//! JD Cloud live callbacks: the v1.1 JSON (`publishDomain`, `downloadUrl`,
//! milliseconds) and the legacy JSON (`domain`, `url` = `bucket/key`, seconds).

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, ParsedEvent, Segment, Status};
use crate::providers::{
    event_name, location, missing_file, required, size, status, time, unknown_event, Provider,
};

const P: Provider = Provider::Jdcloud;

/// True for the v1.1 body (it names its fields differently from the legacy one).
pub fn is_v1_1(f: &Fields) -> bool {
    [
        "version",
        "publishdomain",
        "appname",
        "streamname",
        "downloadurl",
    ]
    .iter()
    .any(|k| f.has(k))
}

/// Parses one JD Cloud callback record of either version.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    if is_v1_1(f) {
        parse_v1_1(f)
    } else {
        parse_legacy(f)
    }
}

fn parse_v1_1(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let file_location = location(f, "downloadurl");
    // The snapshot callback has no `event` at all.
    let (raw_name, name) =
        match event_name(f, "event") {
            Some(n) => n,
            None if f.has("snapshottime") => ("snapshot".to_owned(), "snapshot".to_owned()),
            None => return Err(BodyError::new(
                "missing_field",
                "JD Cloud v1.1 callback: field `event` is missing or empty (and no `snapshotTime`)",
            )),
        };
    let st = status(f, "status")?;
    let kind = match name.as_str() {
        "publish_started" | "publish_start" => EventKind::StreamStarted,
        "publish_done" | "publish_stopped" => EventKind::StreamStopped,
        "record_started" | "record_part_started" => EventKind::RecordingStarted,
        "record_done" | "record_part_done" if file_location.is_some() || st == Status::Fail => {
            EventKind::RecordingReady
        }
        "record_done" => EventKind::RecordingStopped,
        n if n.contains("snapshot") => EventKind::SnapshotReady,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name.clone());
    e.status = st;
    e.error = f.text("errormsg");
    e.stream.domain = f.text("publishdomain");
    e.stream.app = f.text("appname");
    e.stream.name = f.text("streamname");
    e.client_ip = f.text("clientip");
    e.params = f.params("pushparams");
    e.occurred_at = time(f, "eventtime")?.or(time(f, "snapshottime")?);
    if kind.carries_file() {
        e.file = match file_location {
            Some(location) => Some(FileInfo {
                location,
                size: size(f, "filesize")?,
                facts: FileFacts {
                    format: f.text("format"),
                    started_at: time(f, "begintime")?,
                    ended_at: time(f, "endtime")?.or(time(f, "snapshottime")?),
                    // Documented as ms for point recordings, yet the example's
                    // 18439.0 matches its file name's five hours in seconds.
                    duration_s: f.number("duration")?,
                    group: group(f)?,
                    ..FileFacts::default()
                },
            }),
            None if st == Status::Fail => None,
            None => return Err(missing_file(P, &raw_name)),
        };
    }
    Ok(e)
}

fn group(f: &Fields) -> Result<Vec<Segment>, BodyError> {
    let Some(serde_json::Value::Array(items)) = f.get("group") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let seg =
                match item {
                    serde_json::Value::Object(map) => Fields::from_object(map.clone()),
                    _ => return Err(BodyError::new(
                        "invalid_field",
                        "field `group`: every item should be an object with beginTime and endTime",
                    )),
                };
            Ok(Segment {
                started_at: time(&seg, "begintime")?,
                ended_at: time(&seg, "endtime")?,
            })
        })
        .collect()
}

fn parse_legacy(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = required(f, "event", "JD Cloud callback")?;
    let name = raw_name.to_ascii_lowercase();
    let file_location = location(f, "url");
    let st = status(f, "status")?;
    let kind = match name.as_str() {
        "publish_started" => EventKind::StreamStarted,
        "publish_done" => EventKind::StreamStopped,
        "record_started" | "record_part_started" => EventKind::RecordingStarted,
        "record_part_done" => EventKind::RecordingReady,
        "record_done" if file_location.is_some() => EventKind::RecordingReady,
        "record_done" => EventKind::RecordingStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name.clone());
    e.status = st;
    e.error = f.text("errormsg");
    e.stream.domain = f.text("domain");
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    if kind.carries_file() {
        e.file = match file_location {
            Some(location) => Some(FileInfo {
                location,
                size: None,
                facts: FileFacts {
                    format: None,
                    started_at: time(f, "starttime")?,
                    ended_at: time(f, "stoptime")?,
                    duration_s: f.number("duration")?,
                    group: Vec::new(),
                    ..FileFacts::default()
                },
            }),
            None if st == Status::Fail => None,
            None => return Err(missing_file(P, &raw_name)),
        };
    }
    Ok(e)
}
