//! What a platform's object key tells of its recording: the stream and its
//! times, read from the platform's documented layout or from the source's
//! `sweep_key_pattern`.

use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use regex_lite::Regex;

use crate::event::Provider;
use crate::time::{from_unix_auto, Timestamp};

/// The facts a key gives; each may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyFacts {
    pub domain: Option<String>,
    pub app: Option<String>,
    pub stream: Option<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub format: Option<String>,
}

/// A `sweep_key_pattern`: literal text with `{domain}`, `{app}`,
/// `{stream}`, `{start}`, `{end}`, `{format}` and `{*}` (anything without
/// a `/`), matched against the whole key.
#[derive(Debug, Clone)]
pub struct KeyPattern(Regex);

const NAMES: [&str; 7] = ["domain", "app", "stream", "start", "end", "format", "*"];

impl KeyPattern {
    /// Compiles `pattern`; the reason when it cannot be.
    pub fn parse(pattern: &str) -> Result<KeyPattern, String> {
        let mut re = String::from("^");
        let mut rest = pattern;
        let mut seen = Vec::new();
        while let Some(open) = rest.find('{') {
            re.push_str(&regex_lite::escape(&rest[..open]));
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("{pattern:?}: a `{{` is never closed"));
            };
            let name = &rest[open + 1..open + close];
            if !NAMES.contains(&name) {
                return Err(format!(
                    "{pattern:?}: unknown placeholder {{{name}}} (known: {{domain}}, {{app}}, \
                     {{stream}}, {{start}}, {{end}}, {{format}}, {{*}})"
                ));
            }
            if name == "*" {
                re.push_str("[^/]*?");
            } else if seen.contains(&name) {
                return Err(format!("{pattern:?}: {{{name}}} appears twice"));
            } else {
                seen.push(name);
                re.push_str(&format!("(?P<{name}>[^/]+?)"));
            }
            rest = &rest[open + close + 1..];
        }
        re.push_str(&regex_lite::escape(rest));
        re.push('$');
        if !seen.contains(&"stream") {
            return Err(format!(
                "{pattern:?}: name where the stream is, with {{stream}}"
            ));
        }
        Regex::new(&re)
            .map(KeyPattern)
            .map_err(|e| format!("{pattern:?}: {e}"))
    }

    fn read(&self, key: &str, offset: FixedOffset) -> Option<KeyFacts> {
        facts_of(&self.0, key, offset)
    }
}

/// Reads `key` by `pattern` if given, else by `provider`'s documented
/// layout; what a key in no known layout still tells (its stream from its
/// directory, its times from its name) otherwise.
pub fn read(
    key: &str,
    provider: Provider,
    pattern: Option<&KeyPattern>,
    offset: FixedOffset,
) -> KeyFacts {
    if let Some(p) = pattern {
        if let Some(f) = p.read(key, offset) {
            return f;
        }
    }
    let layouts = layouts();
    let order: &[usize] = match provider {
        Provider::Jdcloud => &[0],
        Provider::Aliyun => &[1],
        _ => &[0, 1],
    };
    order
        .iter()
        .find_map(|i| facts_of(&layouts[*i], key, offset))
        .unwrap_or_else(|| any_layout(key, offset))
}

/// The offset of times in keys when the source names none: Beijing time
/// for the Chinese clouds, UTC for the rest.
pub fn default_offset(provider: Provider) -> FixedOffset {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("in range");
    match provider {
        Provider::Jdcloud | Provider::Aliyun | Provider::Ksyun | Provider::Tencent => beijing,
        p if matches!(p.as_str(), "huawei" | "volcengine") => beijing,
        _ => FixedOffset::east_opt(0).expect("in range"),
    }
}

/// `+08:00`, `-05:00` or `Z`, as `sweep_key_utc_offset` takes it.
pub fn utc_offset(s: &str) -> Result<FixedOffset, String> {
    if s == "Z" || s == "+00:00" || s == "UTC" {
        return Ok(FixedOffset::east_opt(0).expect("in range"));
    }
    let bad = || format!("{s:?} is not an offset such as +08:00 or -05:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// JD Cloud `record/{date}/{domain}/{app}/{stream}/{start}_{end}.{format}`
/// and Alibaba `{app}/{stream}/{seq}_{start}_{end}.{format}`, each under
/// any prefix.
fn layouts() -> &'static [Regex; 2] {
    static L: std::sync::OnceLock<[Regex; 2]> = std::sync::OnceLock::new();
    L.get_or_init(|| {
        [
            Regex::new(
                r"(?:^|/)record/\d{8}/(?P<domain>[^/]+)/(?P<app>[^/]+)/(?P<stream>[^/]+)/(?P<start>\d{14})_(?P<end>\d{14})\.(?P<format>[A-Za-z0-9]+)$",
            )
            .expect("a valid layout"),
            Regex::new(
                r"(?:^|/)(?P<app>[^/]+)/(?P<stream>[^/]+)/\d+_(?P<start>[^_/]+)_(?P<end>[^_/]+?)\.(?P<format>[A-Za-z0-9]+)$",
            )
            .expect("a valid layout"),
        ]
    })
}

fn facts_of(re: &Regex, key: &str, offset: FixedOffset) -> Option<KeyFacts> {
    let c = re.captures(key)?;
    let text = |n: &str| c.name(n).map(|m| m.as_str().to_owned());
    let start = text("start").map(|s| time(&s, offset));
    let end = text("end").map(|s| time(&s, offset));
    // A layout whose times do not read as times is not this key's.
    if start.as_ref().is_some_and(Option::is_none) || end.as_ref().is_some_and(Option::is_none) {
        return None;
    }
    Some(KeyFacts {
        domain: text("domain"),
        app: text("app"),
        stream: text("stream"),
        start: start.flatten(),
        end: end.flatten(),
        format: text("format").map(|f| f.to_ascii_lowercase()),
    })
}

/// A key in no known layout: the stream is its directory (or its name up
/// to the first `-`, `_` or `.` at the top), the app the directory above,
/// and the first two parts of its name that read as times its start and end.
fn any_layout(key: &str, offset: FixedOffset) -> KeyFacts {
    let mut segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    let name = segments.pop().unwrap_or_default();
    let (stem, format) = match name.rsplit_once('.') {
        Some((s, f)) => (s, Some(f.to_ascii_lowercase())),
        None => (name, None),
    };
    let mut times = stem.split('_').filter_map(|t| time(t, offset));
    let (start, end) = (times.next(), times.next());
    let stream = segments
        .last()
        .map(|s| (*s).to_owned())
        .or_else(|| crate::local::stream_of(stem));
    let app = segments
        .len()
        .checked_sub(2)
        .map(|i| segments[i].to_owned());
    KeyFacts {
        domain: None,
        app,
        stream,
        start,
        end,
        format,
    }
}

/// A time as keys write them: `20190319175419`, `2017-03-08-23:09:46`,
/// `2017-03-08-23-09-46`, `2017-03-08T23:09:46Z` (its own offset), or unix
/// seconds or milliseconds.
fn time(s: &str, offset: FixedOffset) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    if s.len() >= 10 && s.len() <= 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        return from_unix_auto(s.parse().ok()?);
    }
    const FORMATS: [&str; 4] = [
        "%Y%m%d%H%M%S",
        "%Y-%m-%d-%H:%M:%S",
        "%Y-%m-%d-%H-%M-%S",
        "%Y%m%dT%H%M%S",
    ];
    let naive = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f).ok())?;
    let offset = if s.ends_with('Z') {
        FixedOffset::east_opt(0)?
    } else {
        offset
    };
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beijing() -> FixedOffset {
        utc_offset("+08:00").unwrap()
    }

    fn at(s: &str) -> Option<Timestamp> {
        Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc),
        )
    }

    #[test]
    fn jd_keys_give_domain_app_stream_and_beijing_times() {
        let f = read(
            "record/20180423/push.test.com/app/live/20180423174942_20180423180942.flv",
            Provider::Jdcloud,
            None,
            beijing(),
        );
        assert_eq!(f.domain.as_deref(), Some("push.test.com"));
        assert_eq!(f.app.as_deref(), Some("app"));
        assert_eq!(f.stream.as_deref(), Some("live"));
        assert_eq!(f.start, at("2018-04-23T09:49:42Z"));
        assert_eq!(f.end, at("2018-04-23T10:09:42Z"));
        assert_eq!(f.format.as_deref(), Some("flv"));
    }

    #[test]
    fn alibaba_keys_give_app_stream_and_times() {
        let f = read(
            "record/liveApp/liveStream/0_2017-03-08-23:09:46_2017-03-08-23:10:40.flv",
            Provider::Aliyun,
            None,
            beijing(),
        );
        assert_eq!(f.app.as_deref(), Some("liveApp"));
        assert_eq!(f.stream.as_deref(), Some("liveStream"));
        assert_eq!(f.start, at("2017-03-08T15:09:46Z"));
        assert_eq!(f.end, at("2017-03-08T15:10:40Z"));
    }

    #[test]
    fn a_pattern_reads_a_custom_layout_and_is_checked() {
        let p = KeyPattern::parse("rec/{app}/{stream}/{*}-{start}.{format}").unwrap();
        let f = read(
            "rec/live/cam1/x-1700000000.mp4",
            Provider::Auto,
            Some(&p),
            beijing(),
        );
        assert_eq!(f.stream.as_deref(), Some("cam1"));
        assert_eq!(f.start, at("2023-11-14T22:13:20Z"));
        assert!(KeyPattern::parse("rec/{nope}")
            .unwrap_err()
            .contains("{nope}"));
        assert!(KeyPattern::parse("rec/{app}")
            .unwrap_err()
            .contains("{stream}"));
        assert!(KeyPattern::parse("rec/{stream")
            .unwrap_err()
            .contains("never closed"));
    }

    #[test]
    fn a_key_in_no_layout_still_names_its_stream() {
        let f = read("uploads/cam7/clip.mp4", Provider::Auto, None, beijing());
        assert_eq!(f.stream.as_deref(), Some("cam7"));
        assert_eq!(f.app.as_deref(), Some("uploads"));
        assert_eq!(f.start, None);
    }

    #[test]
    fn offsets_are_read_or_refused() {
        assert_eq!(
            utc_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert!(utc_offset("8").is_err());
        assert!(utc_offset("+25:00").is_err());
    }
}
