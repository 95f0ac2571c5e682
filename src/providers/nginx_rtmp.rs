//! nginx-rtmp-module's notify hooks (`on_publish`, `on_publish_done`,
//! `on_record_done`, `on_done`): form bodies (`call=publish&addr=..&app=..
//! &name=..`) over HTTP/1.0, the publisher's own query arguments appended
//! after the server's fields. `path` is the recorded file's absolute path on
//! the server, read through the source's `file` origin.

use std::collections::BTreeMap;

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, Location, ParsedEvent};
use crate::providers::{required, unknown_event, Provider};

const P: Provider = Provider::NginxRtmp;

/// The fields nginx-rtmp itself writes; the rest are the publisher's.
const SERVER_FIELDS: [&str; 14] = [
    "call", "addr", "clientid", "app", "flashver", "swfurl", "tcurl", "pageurl", "name", "type",
    "recorder", "path", "start", "duration",
];

/// True for an nginx-rtmp body: a form whose `call` is one of its hooks
/// (Kingsoft's old form bodies say `call=user_publish`).
pub fn looks_like(f: &Fields) -> bool {
    f.text("call").is_some_and(|c| {
        matches!(
            c.as_str(),
            "publish" | "publish_done" | "record_done" | "done" | "play" | "play_done"
        )
    })
}

/// Parses one nginx-rtmp notify body.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let call = required(f, "call", "nginx-rtmp notify")?;
    let kind = match call.as_str() {
        "publish" => EventKind::StreamStarted,
        "publish_done" => EventKind::StreamStopped,
        "record_done" => EventKind::RecordingReady,
        // A client, player or publisher, went away.
        "done" => EventKind::SessionEnded,
        _ => return Err(unknown_event(P, &call)),
    };
    let mut e = ParsedEvent::new(P, kind, call);
    e.stream.app = f.text("app");
    e.stream.name = f.text("name");
    e.stream.domain = f.text("tcurl").and_then(|t| host_of(&t));
    e.client_ip = f.text("addr");
    e.params = publisher_args(f);
    if kind == EventKind::RecordingReady {
        let path = required(f, "path", "nginx-rtmp on_record_done")?;
        e.file = Some(FileInfo {
            location: Location::Path(path),
            size: None,
            facts: FileFacts::default(),
        });
    }
    Ok(e)
}

/// `rtmp://host[:port]/app` → `host`.
pub(crate) fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?']).next()?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The publisher's query arguments: every field nginx-rtmp does not write
/// (on a key sent twice, the form reader keeps the first: the server's).
fn publisher_args(f: &Fields) -> BTreeMap<String, String> {
    f.keys()
        .filter(|k| !SERVER_FIELDS.contains(k))
        .filter_map(|k| Some((k.to_owned(), f.text(k)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::decode_body;
    use crate::body::Encoding;

    fn form(s: &str) -> Fields {
        decode_body(Encoding::Form, s.as_bytes()).unwrap().records()[0].clone()
    }

    #[test]
    fn a_record_done_announces_the_recorded_path_and_keeps_the_publishers_args() {
        let e = parse(&form(
            "call=record_done&addr=127.0.0.1&clientid=7&app=live&flashVer=FMLE%2F3.0&swfUrl=\
             &tcUrl=rtmp%3A%2F%2Fingest.example.com%3A1935%2Flive&pageUrl=&name=test\
             &recorder=rec1&path=%2Fvar%2Frec%2Flive%2Ftest-1.flv&name=evil&room=42",
        ))
        .unwrap();
        assert_eq!(e.kind, EventKind::RecordingReady);
        assert_eq!(
            e.stream.name.as_deref(),
            Some("test"),
            "the server's name wins"
        );
        assert_eq!(e.stream.domain.as_deref(), Some("ingest.example.com"));
        assert_eq!(e.stream.app.as_deref(), Some("live"));
        assert_eq!(
            e.file.unwrap().location,
            Location::Path("/var/rec/live/test-1.flv".into())
        );
        assert_eq!(e.params.get("room").map(String::as_str), Some("42"));
        assert!(!e.params.contains_key("recorder"));
    }

    #[test]
    fn hooks_map_to_our_kinds_and_others_are_refused() {
        for (call, kind) in [
            ("publish", EventKind::StreamStarted),
            ("publish_done", EventKind::StreamStopped),
            ("done", EventKind::SessionEnded),
        ] {
            let e = parse(&form(&format!("call={call}&app=live&name=s"))).unwrap();
            assert_eq!(e.kind, kind, "{call}");
        }
        assert!(
            parse(&form("call=record_done&app=live&name=s")).is_err(),
            "no path"
        );
        assert!(parse(&form("call=update&app=live&name=s")).is_err());
        assert!(looks_like(&form("call=publish&name=s")));
        assert!(!looks_like(&form("call=user_publish&name=s")));
    }
}
