//! Platform formats: which provider a body comes from and how it maps into
//! normalized events.

pub mod aliyun;
pub mod huawei;
pub mod jdcloud;
pub mod ksyun;
pub mod nginx_rtmp;
pub mod srs;
pub mod tencent;
pub mod volcengine;

use crate::body::{BodyError, Fields, Payload};
pub use crate::event::Provider;
use crate::event::{Location, ParsedEvent, Status};
use crate::time::{from_unix_auto, Timestamp};

/// Parses a decoded request with the given provider (or detects it).
pub fn parse(provider: Provider, payload: &Payload) -> Result<Vec<ParsedEvent>, BodyError> {
    payload
        .records()
        .iter()
        .map(|fields| {
            let provider = match provider {
                Provider::Auto => detect(fields, payload.is_form()).ok_or_else(|| {
                    BodyError::new(
                        "unknown_format",
                        format!(
                            "cannot tell which platform sent this (fields: {}); \
                             set the source's provider explicitly",
                            fields
                                .keys()
                                .map(|k| k.escape_debug().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?,
                p => p,
            };
            match provider {
                Provider::Jdcloud => jdcloud::parse(fields),
                Provider::Aliyun => aliyun::parse(fields),
                Provider::Ksyun => ksyun::parse(fields),
                Provider::Tencent => tencent::parse(fields),
                Provider::NginxRtmp => nginx_rtmp::parse(fields),
                Provider::Srs => srs::parse(fields),
                Provider::Huawei => huawei::parse(fields),
                Provider::Volcengine => volcengine::parse(fields),
                Provider::Auto => unreachable!("detect never answers Auto"),
            }
        })
        .collect()
}

/// Guesses the provider from the fields a body carries.
pub fn detect(fields: &Fields, is_form: bool) -> Option<Provider> {
    if is_form {
        if nginx_rtmp::looks_like(fields) {
            return Some(Provider::NginxRtmp);
        }
        if fields.has("call") {
            return Some(Provider::Ksyun);
        }
        if fields.has("action") {
            return Some(Provider::Aliyun);
        }
    }
    if srs::looks_like(fields) {
        return Some(Provider::Srs);
    }
    // Before JD's and Alibaba's tests: Huawei's push events share their names.
    if huawei::looks_like(fields) {
        return Some(Provider::Huawei);
    }
    if volcengine::looks_like(fields) {
        return Some(Provider::Volcengine);
    }
    // Before Alibaba's test: Tencent's bodies also carry `start_time`.
    if tencent::looks_like(fields) {
        return Some(Provider::Tencent);
    }
    if fields.has("notifytype") || fields.has("pubdomain") {
        return Some(Provider::Ksyun);
    }
    if jdcloud::is_v1_1(fields) {
        return Some(Provider::Jdcloud);
    }
    if fields.has("uri") || fields.has("push_args") || fields.has("start_time") {
        return Some(Provider::Aliyun);
    }
    if fields.has("event") {
        // JD's legacy body and Alibaba's recording status share their shape;
        // only JD's carries a status, an error or a storage `url`.
        return Some(
            if fields.has("status") || fields.has("errormsg") || fields.has("url") {
                Provider::Jdcloud
            } else {
                Provider::Aliyun
            },
        );
    }
    None
}

/// For a source with an S3 origin: a file the platform names both by URL
/// and as an object of its bucket (Huawei `obs_bucket`/`obs_object`,
/// Volcengine TOS `bucket`/`object`) is fetched from the bucket with the
/// origin's credentials, which a private bucket's URL would need too.
pub fn prefer_bucket(events: &mut [ParsedEvent]) {
    for e in events {
        let Some(file) = e.file.as_mut() else {
            continue;
        };
        let facts = &file.facts.platform_facts;
        let object = match e.provider {
            Provider::Huawei => facts.get("obs_bucket").zip(facts.get("obs_object")),
            Provider::Volcengine => facts.get("bucket").zip(facts.get("object")),
            _ => None,
        };
        if let Some((bucket, key)) = object {
            file.location = Location::Path(format!("{bucket}/{}", key.trim_start_matches('/')));
        }
    }
}

/// `md5hex(s)`, the digest Alibaba and Tencent sign callbacks with.
pub fn md5_hex(s: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// The event name as the platform sent it, trimmed, and its case-folded form for matching.
pub(crate) fn event_name(fields: &Fields, key: &str) -> Option<(String, String)> {
    fields.text(key).map(|raw| {
        let folded = raw.to_ascii_lowercase();
        (raw, folded)
    })
}

/// Reads a platform status, forgiving the documented `"sucess"` typo.
pub(crate) fn status(fields: &Fields, key: &str) -> Result<Status, BodyError> {
    let Some(raw) = fields.text(key) else {
        return Ok(Status::Success);
    };
    let s = raw.to_ascii_lowercase();
    if s.starts_with("suc") || s == "ok" || s == "0" || s == "true" {
        Ok(Status::Success)
    } else if s.starts_with("fail") || s.starts_with("err") || s == "false" {
        Ok(Status::Fail)
    } else {
        Err(BodyError::new(
            "invalid_field",
            format!("field `{key}`: unrecognized status {raw:?} (expected success or fail)"),
        ))
    }
}

/// A unix time in seconds or milliseconds (decided by magnitude).
pub(crate) fn time(fields: &Fields, key: &str) -> Result<Option<Timestamp>, BodyError> {
    match fields.number(key)? {
        None => Ok(None),
        Some(n) => from_unix_auto(n).map(Some).ok_or_else(|| {
            BodyError::new(
                "invalid_field",
                format!("field `{key}`: {n} is not a plausible unix time"),
            )
        }),
    }
}

/// A non-negative byte count.
pub(crate) fn size(fields: &Fields, key: &str) -> Result<Option<u64>, BodyError> {
    match fields.number(key)? {
        Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
        Some(n) => Err(BodyError::new(
            "invalid_field",
            format!("field `{key}`: {n} is not a byte count"),
        )),
        None => Ok(None),
    }
}

/// A file location: a full URL, or a path inside the platform's storage.
///
/// Senders break long URLs over lines and pad them; the doc tables even
/// leave `<br>` tags inside. None of that can be part of a URL, so it goes.
pub(crate) fn location(fields: &Fields, key: &str) -> Option<Location> {
    let raw = match fields.get(key)? {
        serde_json::Value::String(s) => s.as_str(),
        _ => return None,
    };
    let cleaned = remove_br_tags(raw);
    // Any `scheme://` is a URL, so that `file://` or `gopher://` meets the
    // source's scheme check instead of passing for a relative path.
    let is_url = has_scheme(cleaned.trim_start());
    let value: String = if is_url {
        cleaned.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        // A path may hold spaces; only line breaks and their indentation go.
        let mut out = String::with_capacity(cleaned.len());
        for (i, line) in cleaned.split('\n').enumerate() {
            let line = line.trim_end_matches('\r');
            out.push_str(if i == 0 { line } else { line.trim_start() });
        }
        out.trim().to_owned()
    };
    if value.is_empty() {
        return None;
    }
    Some(if is_url {
        Location::Url(value)
    } else {
        Location::Path(value)
    })
}

/// True for `scheme://...` (RFC 3986: a letter, then letters, digits, `+-.`).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn remove_br_tags(s: &str) -> String {
    const TAGS: [&str; 3] = ["<br/>", "<br />", "<br>"];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let tag = TAGS.iter().find(|t| {
            tail.len() >= t.len() && tail.as_bytes()[..t.len()].eq_ignore_ascii_case(t.as_bytes())
        });
        match tag {
            Some(t) => rest = &tail[t.len()..],
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A field that must be present for the event to mean anything.
pub(crate) fn required(fields: &Fields, key: &str, what: &str) -> Result<String, BodyError> {
    fields.text(key).ok_or_else(|| {
        BodyError::new(
            "missing_field",
            format!("{what}: field `{key}` is missing or empty"),
        )
    })
}

pub(crate) fn unknown_event(provider: Provider, name: &str) -> BodyError {
    BodyError::new(
        "unknown_event",
        format!("{provider} event {name:?} is not one we know"),
    )
}

pub(crate) fn missing_file(provider: Provider, name: &str) -> BodyError {
    BodyError::new(
        "missing_field",
        format!("{provider} {name} announces a file but carries no file location"),
    )
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
    fn urls_lose_line_breaks_padding_and_br_tags() {
        let f = fields("{\"u\": \"http://h/a/<br>\n\t    b.flv \"}");
        assert_eq!(
            location(&f, "u"),
            Some(Location::Url("http://h/a/b.flv".into()))
        );
    }

    #[test]
    fn other_schemes_are_urls_not_paths() {
        for u in ["file:///etc/passwd", "gopher://h:70/_x", "FTP://h/f"] {
            let f = fields(&format!("{{\"u\": \"{u}\"}}"));
            assert_eq!(location(&f, "u"), Some(Location::Url(u.into())), "{u}");
        }
        let f = fields(r#"{"u": "record/live/a:b.flv"}"#);
        assert!(matches!(location(&f, "u"), Some(Location::Path(_))));
    }

    #[test]
    fn paths_keep_inner_spaces_but_lose_line_breaks() {
        let f = fields("{\"u\": \"\nbucket/my file.flv\n\"}");
        assert_eq!(
            location(&f, "u"),
            Some(Location::Path("bucket/my file.flv".into()))
        );
    }

    #[test]
    fn the_sucess_typo_is_success() {
        assert_eq!(
            status(&fields(r#"{"s":"sucess"}"#), "s").unwrap(),
            Status::Success
        );
        assert_eq!(
            status(&fields(r#"{"s":" FAIL "}"#), "s").unwrap(),
            Status::Fail
        );
        assert!(status(&fields(r#"{"s":"maybe"}"#), "s").is_err());
    }

    #[test]
    fn shapes_are_detected() {
        assert_eq!(
            detect(&fields(r#"{"NotifyType":"PubStart"}"#), false),
            Some(Provider::Ksyun)
        );
        assert_eq!(
            detect(&fields(r#"{"version":"v1.1"}"#), false),
            Some(Provider::Jdcloud)
        );
        assert_eq!(
            detect(&fields(r#"{"uri":"a/b.flv"}"#), false),
            Some(Provider::Aliyun)
        );
        assert_eq!(
            detect(&fields(r#"{"event":"record_started","domain":"d"}"#), false),
            Some(Provider::Aliyun)
        );
        assert_eq!(
            detect(
                &fields(r#"{"event":"record_started","status":"success"}"#),
                false
            ),
            Some(Provider::Jdcloud)
        );
        assert_eq!(
            detect(
                &fields(r#"{"event_type":100,"stream_id":"s","start_time":1}"#),
                false
            ),
            Some(Provider::Tencent)
        );
        assert_eq!(detect(&fields(r#"{"hello":"world"}"#), false), None);
    }
}
