//! Tencent Cloud Streaming Services (CSS): JSON callbacks told apart by
//! `event_type` (1 push started, 0 push ended, 100 recording file,
//! 200 screenshot, 332 recording status, 341 recording exception), each
//! signed in the body with `t` (when the signature expires, unix seconds)
//! and `sign = md5hex(key + t)`.
//!
//! Documentation: <https://www.tencentcloud.com/document/product/267/38082>
//! (recording), <https://www.tencentcloud.com/document/product/267/58590>
//! (recording status), <https://www.tencentcloud.com/document/product/267/68622>
//! (recording exception).

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
        "341" => parse_record_exception(f)?,
        _ => return Err(unknown_event(P, &format!("event_type {raw_type}"))),
    };
    e.stream.name = f.text("stream_id").or_else(|| f.text("channel_id"));
    e.stream.app = f.text("appname");
    // `app` is the push domain in these bodies; the status callback says `domain`.
    e.stream.domain = f.text("app").or_else(|| f.text("domain"));
    e.params = f.params("stream_param");
    if e.occurred_at.is_none() {
        e.occurred_at = time(f, "event_time")?.or(time(f, "timestamp")?);
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
    let ended_at = time(f, "end_time")?;
    let duration_s = f.number("duration")?;
    // `start_time` is when the task began writing, not when the recording's
    // content starts: the documented example (start 1642089445, end
    // 1642089598, duration 154) starts at end − duration. It stays in
    // `platform_facts`.
    let started_at = match (ended_at, duration_s) {
        (Some(end), Some(d)) if d.is_finite() && d >= 0.0 => {
            Some(end - chrono::Duration::milliseconds((d * 1000.0).round() as i64))
        }
        _ => time(f, "start_time")?,
    };
    e.file = Some(FileInfo {
        location,
        size: size(f, "file_size")?,
        facts: FileFacts {
            format: f.text("file_format").map(|s| s.to_ascii_lowercase()),
            started_at,
            ended_at,
            duration_s,
            platform_facts: platform_facts(f),
            ..FileFacts::default()
        },
    });
    Ok(e)
}

/// Tencent's own ids and times of a recording, as sent.
fn platform_facts(f: &Fields) -> std::collections::BTreeMap<String, String> {
    [
        "file_id",
        "record_file_id",
        "task_id",
        "video_id",
        "start_time",
        "media_start_time",
        "start_time_usec",
        "end_time_usec",
        "record_bps",
        "callback_ext",
    ]
    .iter()
    .filter_map(|k| f.text(k).map(|v| ((*k).to_owned(), v)))
    .collect()
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

/// Event 341: an anomaly of the recording (`exception_level` info, warning
/// or error; `exception` its type, count and description). Our event model
/// has no kind for an anomaly that may not end the recording, so it is a
/// failed recording stop carrying the reason.
fn parse_record_exception(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let mut e = ParsedEvent::new(P, EventKind::RecordingStopped, "event_type 341");
    e.status = Status::Fail;
    let detail = match f.get("exception") {
        Some(serde_json::Value::Object(map)) => Fields::from_object(map.clone()),
        _ => Fields::default(),
    };
    let desc = detail
        .text("desc")
        .or_else(|| f.text("exception"))
        .unwrap_or_else(|| "no description".to_owned());
    let mut reason = format!(
        "Tencent recording exception ({}): {desc}",
        f.text("exception_level")
            .unwrap_or_else(|| "unknown level".to_owned())
    );
    if let Some(t) = detail.text("type") {
        reason.push_str(&format!(" (type {t}"));
        if let Some(n) = detail.text("occurs") {
            reason.push_str(&format!(", {n} times"));
        }
        reason.push(')');
    }
    e.error = Some(reason);
    Ok(e)
}

/// How far ahead of now a signature's expiry `t` may lie. Tencent's callback
/// documentation gives `t` as the notification's expiry, 10 minutes after
/// sending by default; no longer validity is documented, so 7 days bounds
/// any configuration generously while a `t` years ahead (a signature that
/// would never expire) is refused.
pub const MAX_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// The clock skew allowed between Tencent and this machine, on top of
/// [`MAX_VALIDITY_SECS`].
pub const CLOCK_SKEW_SECS: i64 = 300;

/// Why a Tencent signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    Missing,
    BadExpiry,
    Expired { secs_ago: i64 },
    TooFarAhead { secs_ahead: i64 },
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
            SignError::TooFarAhead { secs_ahead } => write!(
                f,
                "`t` lies {secs_ahead} s ahead; a Tencent signature expires within {} s \
                 (check this machine's clock)",
                MAX_VALIDITY_SECS + CLOCK_SKEW_SECS
            ),
            SignError::Wrong => f.write_str("wrong signature (`sign`)"),
        }
    }
}

/// Checks `sign == md5hex(key + t)` and that `t` (the expiry) has not passed
/// and is not further ahead than Tencent's validity allows.
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
        let ahead = expiry.saturating_sub(now_unix);
        if ahead > MAX_VALIDITY_SECS + CLOCK_SKEW_SECS {
            return Err(SignError::TooFarAhead { secs_ahead: ahead });
        }
        let expected = md5_hex(&format!("{key}{t}"));
        if !crate::auth::same_secret(&sign.to_ascii_lowercase(), &expected) {
            return Err(SignError::Wrong);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{decode_body, Encoding};
    use crate::event::Location;

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
    fn an_expiry_further_ahead_than_tencent_allows_is_refused() {
        let now = 1_700_000_000;
        let signed = |t: i64| {
            let sign = md5_hex(&format!("k{t}"));
            records(&format!(r#"{{"t":{t},"sign":"{sign}"}}"#))
        };
        let limit = MAX_VALIDITY_SECS + CLOCK_SKEW_SECS;
        assert_eq!(verify_sign(&signed(now + 600), "k", now), Ok(()));
        assert_eq!(verify_sign(&signed(now + limit), "k", now), Ok(()));
        assert_eq!(
            verify_sign(&signed(now + limit + 1), "k", now),
            Err(SignError::TooFarAhead {
                secs_ahead: limit + 1
            })
        );
        let ten_years = now + 10 * 365 * 24 * 3600;
        assert!(matches!(
            verify_sign(&signed(ten_years), "k", now),
            Err(SignError::TooFarAhead { .. })
        ));
        assert!(matches!(
            verify_sign(&signed(i64::MAX), "k", i64::MIN),
            Err(SignError::TooFarAhead { .. })
        ));
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
