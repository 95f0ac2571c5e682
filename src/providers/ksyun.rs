//! Kingsoft Cloud live: the new JSON callbacks (`NotifyType` PubStart/PubEnd,
//! 13-digit millisecond times, a string at the start and a number at the end)
//! and the old form bodies (`call=user_publish|user_publish_done`).

use crate::body::{BodyError, Fields};
use crate::event::{EventKind, ParsedEvent};
use crate::providers::{required, time, unknown_event, Provider};

const P: Provider = Provider::Ksyun;

/// Parses one Kingsoft Cloud callback record of either version.
pub fn parse(f: &Fields) -> Result<ParsedEvent, BodyError> {
    if f.has("call") {
        parse_old(f)
    } else {
        parse_new(f)
    }
}

fn parse_new(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = required(f, "notifytype", "Kingsoft Cloud callback")?;
    let kind = match raw_name.to_ascii_lowercase().as_str() {
        "pubstart" => EventKind::StreamStarted,
        "pubend" => EventKind::StreamStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    e.stream.domain = f.text("pubdomain");
    e.stream.app = f.text("app");
    e.stream.name = f.text("stream");
    e.client_ip = f.text("clientip");
    e.params = f.params("pubparam");
    // The doc names the end time PubStartUnixTime in one place and
    // PubEndUnixTime in the example; take whichever fits the event first.
    e.occurred_at = match kind {
        EventKind::StreamStopped => time(f, "pubendunixtime")?.or(time(f, "pubstartunixtime")?),
        _ => time(f, "pubstartunixtime")?.or(time(f, "pubendunixtime")?),
    };
    e.error = f.text("pubendmessage");
    Ok(e)
}

/// Old form bodies write absent values as `nil`.
fn text(f: &Fields, key: &str) -> Option<String> {
    f.text(key).filter(|v| v != "nil")
}

fn parse_old(f: &Fields) -> Result<ParsedEvent, BodyError> {
    let raw_name = required(f, "call", "Kingsoft Cloud form callback")?;
    let kind = match raw_name.to_ascii_lowercase().as_str() {
        "user_publish" => EventKind::StreamStarted,
        "user_publish_done" => EventKind::StreamStopped,
        _ => return Err(unknown_event(P, &raw_name)),
    };
    let mut e = ParsedEvent::new(P, kind, raw_name);
    e.stream.app = text(f, "app");
    e.stream.name = text(f, "name");
    // The push domain only appears inside tcurl (rtmp://<domain>/<app>).
    if let Some(tcurl) = text(f, "tcurl") {
        e.stream.domain = tcurl
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(['/', '?', ':']).next())
            .filter(|h| !h.is_empty())
            .map(str::to_owned);
        if let Some((_, query)) = tcurl.split_once('?') {
            e.params = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .unwrap_or_default()
                .into_iter()
                .collect();
        }
    }
    if text(f, "close_mode").as_deref() == Some("2") {
        e.error = Some("stream pushing was interrupted abnormally (close_mode=2)".to_owned());
    }
    Ok(e)
}
