//! Tencent Cloud Streaming Services (CSS): JSON callbacks told apart by
//! `event_type` (1 push started, 0 push ended, 100 recording file,
//! 200 screenshot, 332 recording status), each signed in the body with
//! `t` (when the signature expires, unix seconds) and `sign = md5hex(key + t)`.

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, ParsedEvent, Status};
use crate::providers::{
    location, md5_hex, missing_file, required, size, time, unknown_event, Provider,
};

const P: Provider = Provider::Tencent;

/// True when a record has Tencent's shape: an `event_type` and a stream id.
pub fn looks_like(f: &Fields) -> bool {
    f.has("event_type") && (f.has("stream_id") || f.has("channel_id"))
}

/// Parses one Tencent CSS callback record.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_type = required(f, "event_type", "Tencent callback")?;
    let mut e = match raw_type.as_str() {
        "1" | "0" => parse_push(f, &raw_type)?,
        "100" => parse_recording(f, &raw_type)?,
        "200" => parse_snapshot(f, &raw_type)?,
        "332" => parse_record_status(f)?,
        _ => return Err(unknown_event(P, &format!("event_type {raw_type}"))),
    };
    e.stream.name = f.text("stream_id").or_else(|| f.text("channel_id"));
    e.stream.app = f.text("appname");
    // `app` is the push domain in these bodies; the status callback says `domain`.
    e.stream.domain = f.text("app").or_else(|| f.text("domain"));
    e.params = f.params("stream_param");
    if e.occurred_at.is_none() {
        e.occurred_at = time(f, "event_time")?;
    }
    Ok(e)
}

fn parse_push(f: &Fields, raw_type: &str) -> Result<ParsedEvent, BodyError> {
    let kind = if raw_type == "1" {
        EventKind::StreamStarted
    } else {
        EventKind::StreamStopped
    };
    let mut e = ParsedEvent::new(P, kind, format!("event_type {raw_type}"));
    e.client_ip = f.text("user_ip");
    if f.text("errcode").is_some_and(|c| c != "0") {
        e.error = f
            .text("errmsg")
            .or_else(|| Some(format!("errcode {}", f.text("errcode").unwrap_or_default())));
    }
    Ok(e)
}

fn parse_recording(f: &Fields, raw_type: &str) -> Result<ParsedEvent, BodyError> {
    let mut e = ParsedEvent::new(
        P,
        EventKind::RecordingReady,
        format!("event_type {raw_type}"),
    );
    let location = location(f, "video_url").ok_or_else(|| missing_file(P, "recording callback"))?;
    e.file = Some(FileInfo {
        location,
        size: size(f, "file_size")?,
        facts: FileFacts {
            format: f.text("file_format").map(|s| s.to_ascii_lowercase()),
            started_at: time(f, "start_time")?,
            ended_at: time(f, "end_time")?,
            duration_s: f.number("duration")?,
            group: Vec::new(),
            ..FileFacts::default()
        },
    });
    Ok(e)
}

fn parse_snapshot(f: &Fields, raw_type: &str) -> Result<ParsedEvent, BodyError> {
    let mut e = ParsedEvent::new(
        P,
        EventKind::SnapshotReady,
        format!("event_type {raw_type}"),
    );
    // `pic_full_url` is the whole URL; `pic_url` only its path in the bucket.
    let location = location(f, "pic_full_url")
        .or_else(|| location(f, "pic_url"))
        .ok_or_else(|| missing_file(P, "screenshot callback"))?;
    let taken_at = time(f, "create_time")?;
    e.occurred_at = taken_at;
    e.file = Some(FileInfo {
        location,
        size: size(f, "file_size")?,
        facts: FileFacts {
            format: None,
            started_at: taken_at,
            ended_at: taken_at,
            duration_s: None,
            group: Vec::new(),
            ..FileFacts::default()
        },
    });
    Ok(e)
}

fn parse_record_status(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = required(f, "record_event", "Tencent recording status callback")?;
    let (kind, status) = match raw_name.to_ascii_lowercase().as_str() {
        "record_start_succeeded" => (EventKind::RecordingStarted, Status::Success),
        "record_start_failed" => (EventKind::RecordingStarted, Status::Fail),
        "record_paused" => (EventKind::RecordingPaused, Status::Success),
        "record_resumed" => (EventKind::RecordingResumed, Status::Success),
        "record_ended" => (EventKind::RecordingStopped, Status::Success),
        "record_error" => (EventKind::RecordingStopped, Status::Fail),
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    e.status = status;
    if status == Status::Fail {
        e.error = f
            .text("record_detail")
            .or_else(|| Some(format!("Tencent reported {}", e.platform_event)));
    }
    Ok(e)
}

/// Why a Tencent signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    Missing,
    BadExpiry,
    Expired { secs_ago: i64 },
    Wrong,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Missing => f.write_str("the body carries no `t` and `sign`"),
            SignError::BadExpiry => f.write_str("`t` is not a unix time"),
            SignError::Expired { secs_ago } => {
                write!(f, "stale signature: it expired {secs_ago} s ago (`t`)")
            }
            SignError::Wrong => f.write_str("wrong signature (`sign`)"),
        }
    }
}

/// Checks `sign == md5hex(key + t)` and that `t` (the expiry) has not passed.
///
/// Every record of a body must be signed: a batch cannot smuggle an unsigned
/// record beside a signed one.
pub fn verify_sign(records: &[Fields], key: &str, now_unix: i64) -> Result<(), SignError> {
    if records.is_empty() {
        return Err(SignError::Missing);
    }
    for f in records {
        let (Some(t), Some(sign)) = (f.text("t"), f.text("sign")) else {
            return Err(SignError::Missing);
        };
        let expiry: i64 = t.parse().map_err(|_| SignError::BadExpiry)?;
        if now_unix > expiry {
            return Err(SignError::Expired {
                // saturating: an expiry near i64::MIN must not overflow.
                secs_ago: now_unix.saturating_sub(expiry),
            });
        }
        let expected = md5_hex(&format!("{key}{t}"));
        if !crate::auth::same_secret(&sign.to_ascii_lowercase(), &expected) {
            return Err(SignError::Wrong);
        }
    }
    Ok(())
}

/// `raw` with the value of every `"sign"` member replaced by `"***"`: the
/// signature is not bound to the body, so one shown (an event's raw body
/// through the API) would let anyone post other bodies until it expires.
pub fn redact_sign(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find("\"sign\"") {
        let (head, tail) = rest.split_at(at + "\"sign\"".len());
        out.push_str(head);
        rest = tail;
        let after_colon = tail.trim_start().strip_prefix(':').map(str::trim_start);
        let Some(value) = after_colon else { continue };
        let skipped = tail.len() - value.len();
        let end = if value.starts_with(['{', '[']) {
            None // not a signature: left as it is
        } else if let Some(quoted) = value.strip_prefix('"') {
            // A JSON string: up to its closing quote (escapes skipped).
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map(|(i, _)| i + 2)
        } else {
            // A bare number or word, up to the next delimiter.
            Some(
                value
                    .find([',', '}', ']', ' ', '\n', '\r', '\t'])
                    .unwrap_or(value.len()),
            )
        };
        let Some(end) = end.filter(|e| *e > 0) else {
            continue;
        };
        out.push_str(&tail[..skipped]);
        out.push_str("\"***\"");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{decode_body, Encoding};
    use crate::event::Location;

    #[test]
    fn signatures_are_redacted_and_nothing_else_changes() {
        let raw = r#"{"event_type":1, "sign" : "a1b2", "t":1700000000,"stream_id":"s"}"#;
        assert_eq!(
            redact_sign(raw),
            r#"{"event_type":1, "sign" : "***", "t":1700000000,"stream_id":"s"}"#
        );
        let batch = r#"[{"sign":"x\"y","a":1},{"sign":12345}]"#;
        assert_eq!(
            redact_sign(batch),
            r#"[{"sign":"***","a":1},{"sign":"***"}]"#
        );
        for untouched in [
            r#"{"signal":"x"}"#,
            r#"{"design":"sign"}"#,
            "no json",
            r#"{"sign""#,
            r#"{"sign":{"a":1}}"#,
        ] {
            assert_eq!(redact_sign(untouched), untouched);
        }
    }

    fn records(json: &str) -> Vec<Fields> {
        decode_body(Encoding::Json, json.as_bytes())
            .unwrap()
            .records()
            .to_vec()
    }

    #[test]
    fn signature_is_md5_of_key_and_expiry() {
        let t = 1_700_000_600;
        let sign = md5_hex(&format!("secret{t}"));
        let body = format!(r#"{{"event_type":1,"stream_id":"s","t":{t},"sign":"{sign}"}}"#);
        let r = records(&body);
        assert_eq!(verify_sign(&r, "secret", t - 10), Ok(()));
        assert_eq!(verify_sign(&r, "other", t - 10), Err(SignError::Wrong));
        assert_eq!(
            verify_sign(&r, "secret", t + 5),
            Err(SignError::Expired { secs_ago: 5 })
        );
        assert_eq!(
            verify_sign(&records(r#"{"event_type":1}"#), "secret", 0),
            Err(SignError::Missing)
        );
        assert_eq!(
            verify_sign(&records(r#"{"t":"soon","sign":"x"}"#), "k", 0),
            Err(SignError::BadExpiry)
        );
    }

    #[test]
    fn upper_case_hex_signatures_are_accepted() {
        let sign = md5_hex("k100").to_ascii_uppercase();
        let r = records(&format!(r#"{{"t":"100","sign":"{sign}"}}"#));
        assert_eq!(verify_sign(&r, "k", 50), Ok(()));
    }

    #[test]
    fn a_recording_file_becomes_a_job_worthy_event() {
        let r = records(
            r#"{"appid":12345,"app":"push.example.com","appname":"live","stream_id":"room1",
                "channel_id":"room1","event_type":100,"file_format":"MP4","file_size":2048,
                "start_time":1700000000,"end_time":1700000600,"duration":600,
                "video_url":"http://vod.example.com/a/f0.mp4","stream_param":"a=1&b=2",
                "t":1700001200,"sign":"x"}"#,
        );
        let e = parse(&r[0]).unwrap();
        assert_eq!(e.kind, EventKind::RecordingReady);
        assert_eq!(e.stream.name.as_deref(), Some("room1"));
        assert_eq!(e.stream.domain.as_deref(), Some("push.example.com"));
        assert_eq!(e.params.get("b").map(String::as_str), Some("2"));
        let file = e.file.unwrap();
        assert_eq!(
            file.location,
            Location::Url("http://vod.example.com/a/f0.mp4".into())
        );
        assert_eq!(file.size, Some(2048));
        assert_eq!(file.facts.format.as_deref(), Some("mp4"));
    }

    #[test]
    fn status_events_map_to_our_kinds() {
        let e = parse(
            &records(r#"{"event_type":332,"stream_id":"s","record_event":"record_start_failed"}"#)
                [0],
        )
        .unwrap();
        assert_eq!(
            (e.kind, e.status),
            (EventKind::RecordingStarted, Status::Fail)
        );
        assert!(parse(&records(r#"{"event_type":777,"stream_id":"s"}"#)[0]).is_err());
    }
}
