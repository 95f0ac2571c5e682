//! SRS's HTTP callbacks (`http_hooks`): JSON with `action` = `on_publish`,
//! `on_unpublish`, `on_dvr` (a DVR file: `cwd` + `file`, relative to it) and
//! `on_hls` (one HLS segment: `file`, `url`, `m3u8`, `duration`, `seq_no`).
//! SRS 5 and later send `client_id`, `server_id` and `stream_id` as strings.
//! The reply SRS wants is HTTP 200 with `{"code": 0}`.

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, Location, ParsedEvent};
use crate::providers::{required, unknown_event, Provider};

const P: Provider = Provider::Srs;

/// True for an SRS body: an `action` naming one of its hooks.
pub fn looks_like(f: &Fields) -> bool {
    f.text("action").is_some_and(|a| a.starts_with("on_"))
        && (f.has("client_id") || f.has("server_id") || f.has("vhost"))
}

/// Parses one SRS callback.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let action = required(f, "action", "SRS callback")?;
    let kind = match action.as_str() {
        "on_publish" => EventKind::StreamStarted,
        "on_unpublish" => EventKind::StreamStopped,
        "on_dvr" | "on_hls" => EventKind::RecordingReady,
        "on_stop" | "on_close" => EventKind::SessionEnded,
        _ => return Err(unknown_event(P, &action)),
    };
    let mut e = ParsedEvent::new(P, kind, action.clone());
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    // `__defaultVhost__` names no domain. (Only on_publish carries tcUrl:
    // its host would key the start apart from the stop and the files.)
    e.stream.domain = f.text("vhost").filter(|v| v != "__defaultVhost__");
    e.client_ip = f.text("ip");
    // `param` is the publisher's query string, `?` and all.
    e.params = f
        .text("param")
        .map(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q.trim_start_matches('?'))
                .unwrap_or_default()
                .into_iter()
                // A publisher's token is a credential: not kept.
                .filter(|(k, _)| !k.is_empty() && k != "token")
                .collect()
        })
        .unwrap_or_default();
    if kind == EventKind::RecordingReady {
        let file = required(f, "file", "SRS recording callback")?;
        let mut facts = FileFacts {
            duration_s: f.number("duration")?,
            ..FileFacts::default()
        };
        if action == "on_hls" {
            facts.format = Location::Path(file.clone()).extension();
            // The segment is archived now, its playlist at on_unpublish.
            facts.playlist = f.text("m3u8").map(|m| joined(f.text("cwd").as_deref(), &m));
        }
        e.file = Some(FileInfo {
            location: Location::Path(joined(f.text("cwd").as_deref(), &file)),
            size: None,
            facts,
        });
    }
    Ok(e)
}

/// `file` as an absolute path: SRS writes it relative to its `cwd`.
fn joined(cwd: Option<&str>, file: &str) -> String {
    if file.starts_with('/') {
        return file.to_owned();
    }
    let file = file.trim_start_matches("./");
    match cwd {
        Some(c) => format!("{}/{file}", c.trim_end_matches('/')),
        None => file.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{decode_body, Encoding};

    fn json(s: &str) -> Fields {
        decode_body(Encoding::Json, s.as_bytes()).unwrap().records()[0].clone()
    }

    #[test]
    fn a_dvr_file_is_its_cwd_joined_with_its_relative_path() {
        let e = parse(&json(
            r#"{"server_id":"vid-0xk989d","action":"on_dvr","client_id":"341w361a","ip":"127.0.0.1",
                "vhost":"__defaultVhost__","app":"live","tcUrl":"rtmp://127.0.0.1:1935/live",
                "stream":"livestream","param":"?token=x","cwd":"/usr/local/srs",
                "file":"./objs/nginx/html/live/livestream.1420254068776.flv","stream_id":"vid-124q9y3"}"#,
        ))
        .unwrap();
        assert_eq!(e.kind, EventKind::RecordingReady);
        assert_eq!(
            e.file.unwrap().location,
            Location::Path(
                "/usr/local/srs/objs/nginx/html/live/livestream.1420254068776.flv".into()
            )
        );
        assert_eq!(e.stream.domain, None, "__defaultVhost__ names no domain");
        assert_eq!(e.stream.name.as_deref(), Some("livestream"));
    }

    #[test]
    fn publish_and_unpublish_are_stream_events_and_others_are_refused() {
        let body = |a: &str| {
            json(&format!(
                r#"{{"action":"{a}","client_id":"1","app":"live","stream":"s"}}"#
            ))
        };
        assert_eq!(
            parse(&body("on_publish")).unwrap().kind,
            EventKind::StreamStarted
        );
        assert_eq!(
            parse(&body("on_unpublish")).unwrap().kind,
            EventKind::StreamStopped
        );
        assert!(parse(&body("on_connect")).is_err());
        assert!(looks_like(&body("on_publish")));
    }
}
