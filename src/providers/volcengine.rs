//! Volcengine live (火山引擎 视频直播; BytePlus MediaLive abroad): JSON
//! callbacks told apart by `event_type` (`push_start`, `push_end`, the
//! recording and screenshot events), signed with `sign = md5hex(key + t)`.
//! The documented example wraps the event in `{"code","message","data"}`
//! with its particulars under `data.detail`; a flat body is read alike.
//!
//! Documentation: <https://www.volcengine.com/docs/6469/1126932> (回调内容说明:
//! request, retries, `sign`/`t`, every event's fields) and
//! <https://docs.byteplus.com/en/docs/byteplus-media-live/docs-callback-description>
//! (the same in English, with the `push_start` example).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, Location, ParsedEvent, Status};
use crate::providers::{location, md5_hex, missing_file, size, unknown_event, Provider};

const P: Provider = Provider::Volcengine;

/// The fields of one callback with its envelope (`data`) and `detail`
/// opened: the event's own fields first, the envelope's where it has none.
pub fn unwrap(f: &Fields) -> Fields {
    let mut merged: Map<String, Value> = Map::new();
    let mut add = |obj: &Map<String, Value>| {
        for (k, v) in obj {
            merged
                .entry(k.trim().to_ascii_lowercase())
                .or_insert_with(|| v.clone());
        }
    };
    let top: Map<String, Value> = f
        .keys()
        .filter_map(|k| Some((k.to_owned(), f.get(k)?.clone())))
        .collect();
    let data = match top.get("data") {
        Some(Value::Object(d)) => Some(d.clone()),
        _ => None,
    };
    let inner = data.as_ref().unwrap_or(&top);
    if let Some(Value::Object(detail)) = inner.get("detail") {
        add(detail);
    }
    add(inner);
    if data.is_some() {
        add(&top);
    }
    Fields::from_object(merged)
}

/// True for Volcengine's shape: an `event_type` with a `vhost`, or inside
/// the `data` envelope.
pub fn looks_like(f: &Fields) -> bool {
    let in_envelope = matches!(f.get("data"), Some(Value::Object(d)) if d.keys().any(|k| k.eq_ignore_ascii_case("event_type")));
    in_envelope || (f.has("event_type") && f.has("vhost"))
}

/// Parses one Volcengine callback record.
pub fn parse(record: &Fields) -> Result<ParsedEvent, BodyError> {
    let f = unwrap(record);
    let raw_name = crate::providers::required(&f, "event_type", "Volcengine callback")?;
    let name = raw_name.to_ascii_lowercase();
    let file = file_location(&f);
    let failed = f
        .text("status")
        .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "fail" | "failed" | "error"))
        || name.contains("fail")
        || name.contains("error");
    let kind = match name.as_str() {
        "push_start" | "push" => EventKind::StreamStarted,
        "push_end" | "push_stop" => EventKind::StreamStopped,
        n if n.starts_with("snapshot") => EventKind::SnapshotReady,
        n if n.starts_with("record") && file.is_some() => EventKind::RecordingReady,
        n if n.starts_with("record") && n.contains("start") => EventKind::RecordingStarted,
        n if n.starts_with("record") => EventKind::RecordingStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name.clone());
    if failed {
        e.status = Status::Fail;
        e.error = ["error_msg", "err_msg", "message_detail", "reason"]
            .iter()
            .find_map(|k| f.text(k))
            .or_else(|| Some(format!("Volcengine reported {raw_name}")));
    }
    e.stream.domain = f.text("domain").or_else(|| f.text("vhost"));
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    e.client_ip = f.text("fp_client_ip");
    e.params = f.params("fp_user_url");
    e.occurred_at = time(&f, "time_ms")?.or(time(&f, "time")?);
    if kind.carries_file() {
        e.file = match file {
            Some(location) => Some(FileInfo {
                location,
                size: size(&f, "file_size").ok().flatten().or(size(&f, "size")?),
                facts: FileFacts {
                    format: f.text("format").map(|s| s.to_ascii_lowercase()),
                    started_at: time(&f, "start_time")?,
                    ended_at: time(&f, "end_time")?,
                    duration_s: f.number("duration")?,
                    platform_facts: platform_facts(&f),
                    ..FileFacts::default()
                },
            }),
            None if failed => None,
            None => return Err(missing_file(P, &raw_name)),
        };
    }
    Ok(e)
}

/// The file's URL, or its TOS object as `bucket/object` (resolved by the
/// source's S3 origin, as JD's legacy `bucket/key`).
fn file_location(f: &Fields) -> Option<Location> {
    ["url", "download_url", "file_url", "record_url"]
        .iter()
        .find_map(|k| location(f, k))
        .or_else(|| {
            let (bucket, object) = tos_object(f)?;
            Some(Location::Path(format!("{bucket}/{object}")))
        })
}

/// The TOS bucket and object key a recording names, if it does.
fn tos_object(f: &Fields) -> Option<(String, String)> {
    let bucket = ["bucket", "tos_bucket"].iter().find_map(|k| f.text(k))?;
    let object = [
        "object",
        "tos_object",
        "object_key",
        "key",
        "file_path",
        "path",
    ]
    .iter()
    .find_map(|k| f.text(k))?;
    Some((bucket, object.trim_start_matches('/').to_owned()))
}

/// Volcengine's ids, and the TOS object as `bucket` and `object` (which
/// [`crate::providers::prefer_bucket`] reads).
fn platform_facts(f: &Fields) -> BTreeMap<String, String> {
    let mut facts: BTreeMap<String, String> =
        ["vhost", "session_id", "sequence_id", "task_id", "vid"]
            .iter()
            .filter_map(|k| f.text(k).map(|v| ((*k).to_owned(), v)))
            .collect();
    if let Some((bucket, object)) = tos_object(f) {
        facts.insert("bucket".to_owned(), bucket);
        facts.insert("object".to_owned(), object);
    }
    facts
}

fn time(f: &Fields, key: &str) -> Result<Option<crate::time::Timestamp>, BodyError> {
    crate::providers::huawei::time(f, key)
}

/// Why a Volcengine signature was refused.
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
            SignError::Missing => f.write_str(
                "the body carries no `sign` and `t` (turn on callback authentication in the \
                 Volcengine console with the source's sign_key)",
            ),
            SignError::BadExpiry => f.write_str("`t` is not a unix time"),
            SignError::Expired { secs_ago } => write!(
                f,
                "stale signature: `t` passed {secs_ago} s ago, more than sign_window_secs allows"
            ),
            SignError::TooFarAhead { secs_ahead } => {
                write!(
                    f,
                    "`t` lies {secs_ahead} s ahead (check this machine's clock)"
                )
            }
            SignError::Wrong => f.write_str("wrong signature (`sign`)"),
        }
    }
}

/// Checks `sign == md5hex(key + t)` on every record. Volcengine documents
/// `t` as the expiry (10 minutes after sending), BytePlus as the sending
/// time: a `t` up to `window_secs` past is accepted, which the expiry
/// reading tightens and the sending reading needs.
pub fn verify(
    records: &[Fields],
    key: &str,
    now_unix: i64,
    window_secs: u64,
) -> Result<(), SignError> {
    if records.is_empty() {
        return Err(SignError::Missing);
    }
    for record in records {
        let f = unwrap(record);
        let (Some(t), Some(sign)) = (f.text("t"), f.text("sign")) else {
            return Err(SignError::Missing);
        };
        let at: i64 = t.parse().map_err(|_| SignError::BadExpiry)?;
        // `t` 0 is what an unauthenticated callback carries.
        if at == 0 {
            return Err(SignError::Missing);
        }
        let past = now_unix.saturating_sub(at);
        if past > i64::try_from(window_secs).unwrap_or(i64::MAX) {
            return Err(SignError::Expired { secs_ago: past });
        }
        if past < -crate::providers::huawei::MAX_AHEAD_SECS {
            return Err(SignError::TooFarAhead {
                secs_ahead: at.saturating_sub(now_unix),
            });
        }
        if !crate::auth::same_secret(&sign.to_ascii_lowercase(), &md5_hex(&format!("{key}{t}"))) {
            return Err(SignError::Wrong);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{decode_body, Encoding};

    fn records(json: &str) -> Vec<Fields> {
        decode_body(Encoding::Json, json.as_bytes())
            .unwrap()
            .records()
            .to_vec()
    }

    #[test]
    fn the_envelope_and_detail_are_opened() {
        let r = records(
            r#"{"code":0,"message":"ok","data":{"vhost":"v","domain":"d","app":"live",
                "stream":"s","event_type":"push_start","sign":"","t":0,
                "detail":{"time":1640849510,"fp_client_ip":"10.0.0.2","fp_user_url":"a=1"}}}"#,
        );
        assert!(looks_like(&r[0]));
        let e = parse(&r[0]).unwrap();
        assert_eq!(e.kind, EventKind::StreamStarted);
        assert_eq!(e.stream.name.as_deref(), Some("s"));
        assert_eq!(e.client_ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(e.params["a"], "1");
        assert_eq!(verify(&r, "k", 1_640_849_510, 300), Err(SignError::Missing));
    }

    #[test]
    fn a_recording_in_tos_is_a_bucket_path() {
        let r = records(
            r#"{"vhost":"v","app":"live","stream":"s","event_type":"record",
                "bucket":"b","object":"live/s/1.flv","duration":60}"#,
        );
        let e = parse(&r[0]).unwrap();
        assert_eq!(e.kind, EventKind::RecordingReady);
        assert_eq!(
            e.file.unwrap().location,
            Location::Path("b/live/s/1.flv".into())
        );
    }

    #[test]
    fn sign_is_md5_of_key_and_t() {
        let t = 1_700_000_600;
        let sign = md5_hex(&format!("k{t}"));
        let r = records(&format!(
            r#"{{"data":{{"event_type":"push_end","sign":"{sign}","t":{t}}}}}"#
        ));
        assert_eq!(verify(&r, "k", t - 5, 300), Ok(()));
        assert_eq!(verify(&r, "x", t - 5, 300), Err(SignError::Wrong));
        assert_eq!(
            verify(&r, "k", t + 301, 300),
            Err(SignError::Expired { secs_ago: 301 })
        );
    }
}
