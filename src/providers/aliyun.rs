//! Alibaba Cloud ApsaraVideo Live: the stream-ingest callback (GET with query
//! parameters), recording status callbacks and recording generation callbacks
//! (JSON, unix seconds, `uri` relative to the recording OSS bucket), signed
//! in two headers.

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, FileFacts, FileInfo, ParsedEvent};
use crate::providers::{event_name, location, md5_hex, required, time, unknown_event, Provider};

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
            ..FileFacts::default()
        },
    });
    Ok(e)
}

/// Why an Alibaba signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// `ALI-LIVE-TIMESTAMP` or `ALI-LIVE-SIGNATURE` is absent.
    Missing,
    /// `ALI-LIVE-TIMESTAMP` is not a unix time.
    BadTimestamp,
    /// Signed further from now, either way, than the accepted window.
    Stale { age_secs: u64, window_secs: u64 },
    /// The signature is not the key's for this host and timestamp.
    Wrong,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Missing => {
                f.write_str("needs signed callbacks (ALI-LIVE-TIMESTAMP, ALI-LIVE-SIGNATURE)")
            }
            SignError::BadTimestamp => f.write_str("ALI-LIVE-TIMESTAMP is not a unix time"),
            SignError::Stale {
                age_secs,
                window_secs,
            } => write!(
                f,
                "stale signature: {age_secs} s old, {window_secs} s accepted"
            ),
            SignError::Wrong => f.write_str("wrong signature"),
        }
    }
}

/// The domain Alibaba signs a callback over ("callback authentication"):
/// for a stream-ingest callback (`action=publish`...), its push domain, the
/// `app` field; for recording and snapshot callbacks, the host of the
/// callback URL configured in the console: `callback_host` when the source
/// names it, else the request's `Host` without its port.
pub fn signed_domain(record: Option<&Fields>, callback_host: Option<&str>, host: &str) -> String {
    if let Some(push_domain) = record
        .filter(|f| f.has("action"))
        .and_then(|f| f.text("app"))
    {
        return push_domain.trim().to_ascii_lowercase();
    }
    if let Some(h) = callback_host {
        return h.trim().to_ascii_lowercase();
    }
    // "[::1]:8080" keeps its brackets; "example.com:8080" loses the port;
    // a bare IPv6 address has none to lose.
    let host = host.trim();
    let bare = match host.rsplit_once(':') {
        Some((h, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    };
    bare.to_ascii_lowercase()
}

/// Checks `ALI-LIVE-SIGNATURE = md5hex("{domain}|{ALI-LIVE-TIMESTAMP}|{key}")`,
/// `domain` being [`signed_domain`]'s, and that the timestamp lies within
/// `window_secs` of `now_unix`.
pub fn verify_signature(
    host: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    key: &str,
    now_unix: i64,
    window_secs: u64,
) -> Result<(), SignError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SignError::Missing);
    };
    let when: i64 = ts.parse().map_err(|_| SignError::BadTimestamp)?;
    // abs_diff: a timestamp near i64::MIN cannot overflow the subtraction.
    let age_secs = now_unix.abs_diff(when);
    if age_secs > window_secs {
        return Err(SignError::Stale {
            age_secs,
            window_secs,
        });
    }
    let expected = md5_hex(&format!("{host}|{ts}|{key}"));
    if crate::auth::same_secret(&sig.to_ascii_lowercase(), &expected) {
        Ok(())
    } else {
        Err(SignError::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn signed(host: &str, ts: i64, key: &str) -> String {
        md5_hex(&format!("{host}|{ts}|{key}"))
    }

    fn verify(ts: Option<&str>, sig: Option<&str>) -> Result<(), SignError> {
        verify_signature("cb.example.com", ts, sig, "k", NOW, 300)
    }

    #[test]
    fn the_signature_is_md5_of_host_timestamp_and_key() {
        let ts = NOW.to_string();
        let sig = signed("cb.example.com", NOW, "k");
        assert_eq!(verify(Some(&ts), Some(&sig)), Ok(()));
        assert_eq!(
            verify(Some(&ts), Some(&sig.to_ascii_uppercase())),
            Ok(()),
            "upper-case hex"
        );
        let other_key = signed("cb.example.com", NOW, "other");
        assert_eq!(verify(Some(&ts), Some(&other_key)), Err(SignError::Wrong));
        let other_host = signed("elsewhere.example.com", NOW, "k");
        assert_eq!(verify(Some(&ts), Some(&other_host)), Err(SignError::Wrong));
    }

    #[test]
    fn the_documents_example_verifies() {
        // "Callback authentication": ALI-LIVE-SIGNATURE =
        // md5sum(learn.aliyundoc.com|1519375990|yourkey), the callback URL
        // being https://learn.aliyundoc.com/your/callback.
        let sig = "9e226fc2c250be266e3657e156f68c12";
        let domain = signed_domain(None, None, "learn.aliyundoc.com");
        assert_eq!(
            verify_signature(
                &domain,
                Some("1519375990"),
                Some(sig),
                "yourkey",
                1_519_375_990,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn the_signed_domain_is_the_console_host_or_the_push_domain() {
        // Behind a proxy that forwards Host: 127.0.0.1:8080, the console's host.
        assert_eq!(
            signed_domain(None, Some("learn.aliyundoc.com"), "127.0.0.1:8080"),
            "learn.aliyundoc.com"
        );
        // Without it, the Host header, never its port.
        assert_eq!(
            signed_domain(None, None, "Cb.Example.com:8443"),
            "cb.example.com"
        );
        assert_eq!(signed_domain(None, None, "[::1]:8080"), "[::1]");
        assert_eq!(signed_domain(None, None, "::1"), "::1", "no port to strip");
        assert_eq!(
            signed_domain(None, Some("2001:db8::1:2"), "h:1"),
            "2001:db8::1:2",
            "the configured host is taken whole"
        );
        assert_eq!(
            signed_domain(None, None, "cb.example.com"),
            "cb.example.com"
        );
        // A stream-ingest callback: its push domain, whatever the host.
        let ingest = crate::body::decode_query(
            "action=publish&app=demo.aliyundoc.com&appname=liveApp&id=s&ip=1.2.3.4&node=n&time=1",
        )
        .unwrap();
        assert_eq!(
            signed_domain(
                ingest.records().first(),
                Some("cb.example.com"),
                "127.0.0.1:8080"
            ),
            "demo.aliyundoc.com"
        );
    }

    #[test]
    fn a_timestamp_outside_the_window_either_way_is_stale() {
        for ts in [NOW - 301, NOW + 301] {
            let sig = signed("cb.example.com", ts, "k");
            assert_eq!(
                verify(Some(&ts.to_string()), Some(&sig)),
                Err(SignError::Stale {
                    age_secs: 301,
                    window_secs: 300
                })
            );
        }
        let sig = signed("cb.example.com", NOW - 300, "k");
        assert_eq!(verify(Some(&(NOW - 300).to_string()), Some(&sig)), Ok(()));
        // As far from now as an i64 goes: stale, not an overflow.
        assert!(matches!(
            verify(Some(&i64::MIN.to_string()), Some("x")),
            Err(SignError::Stale { .. })
        ));
    }

    #[test]
    fn a_missing_header_or_a_timestamp_that_is_no_number_is_refused() {
        let ts = NOW.to_string();
        assert_eq!(verify(None, Some("x")), Err(SignError::Missing));
        assert_eq!(verify(Some(&ts), None), Err(SignError::Missing));
        assert_eq!(
            verify(Some("soon"), Some("x")),
            Err(SignError::BadTimestamp)
        );
    }
}
