//! Alibaba Cloud ApsaraVideo Live: the stream-ingest callback (GET with query
//! parameters), recording status callbacks and recording generation callbacks
//! (JSON, unix seconds, `uri` relative to the recording OSS bucket).

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, ParsedEvent};
use crate::providers::{event_name, location, required, time, unknown_event, Provider};

const P: Provider = Provider::Aliyun;

/// Parses one Alibaba Cloud callback record.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    if f.has("action") {
        return parse_ingest(f);
    }
    if f.has("uri") {
        return parse_recording(f);
    }
    let (raw_name, name) = match event_name(f, "event") {
        Some(n) => n,
        None => {
            return Err(BodyError::new(
                "missing_field",
                "Alibaba Cloud callback: neither `event`, `uri` nor `action` is present",
            ))
        }
    };
    let kind = match name.as_str() {
        "record_started" => EventKind::RecordingStarted,
        "record_paused" => EventKind::RecordingPaused,
        "record_resumed" => EventKind::RecordingResumed,
        "record_stopped" | "record_ended" | "record_done" => EventKind::RecordingStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    set_names(&mut e, f);
    Ok(e)
}

fn set_names(e: &mut ParsedEvent, f: &Fields) {
    e.stream.domain = f.text("domain");
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
}

/// `GET ?action=publish|publish_done&app=<push domain>&appname=<app>&id=<stream>&ip=..&node=..&time=..&usrargs=..`
fn parse_ingest(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = required(f, "action", "Alibaba Cloud stream-ingest callback")?;
    let kind = match raw_name.to_ascii_lowercase().as_str() {
        "publish" => EventKind::StreamStarted,
        "publish_done" => EventKind::StreamStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    // In this callback `app` is the push domain and `appname` the application.
    e.stream.domain = f.text("app");
    e.stream.app = f.text("appname");
    e.stream.name = f.text("id");
    e.client_ip = f.text("ip");
    e.occurred_at = time(f, "time")?;
    e.params = f.params("usrargs");
    if let Some(node) = f.text("node") {
        e.params.entry("node".to_owned()).or_insert(node);
    }
    Ok(e)
}

fn parse_recording(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = f
        .text("event")
        .unwrap_or_else(|| "record_generated".to_owned());
    let mut e = ParsedEvent::new(P, EventKind::RecordingReady, raw_name);
    set_names(&mut e, f);
    e.params = f.params("push_args");
    let location = location(f, "uri").ok_or_else(|| {
        BodyError::new(
            "missing_field",
            "Alibaba Cloud recording callback: field `uri` is empty",
        )
    })?;
    e.file = Some(FileInfo {
        location,
        size: None,
        facts: FileFacts {
            format: None,
            started_at: time(f, "start_time")?,
            ended_at: time(f, "stop_time")?,
            duration_s: f.number("duration")?,
            group: Vec::new(),
        },
    });
    Ok(e)
}
