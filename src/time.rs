//! Time as the platforms send it (unix seconds or milliseconds, numbers or
//! padded strings) and as we show it (RFC 3339 UTC).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A point in time, always UTC.
pub type Timestamp = DateTime<Utc>;

/// Values at or above this are milliseconds. As seconds, 10^10 is the year
/// 2286; as milliseconds it is 1970-04-26. No real callback is near either, so
/// the magnitude decides the unit for platforms that mix them (JD's legacy
/// format sends seconds, its v1.1 milliseconds, Kingsoft 13-digit ms).
const MILLIS_THRESHOLD: f64 = 1e10;

/// Interprets a unix time whose unit (s or ms) is decided by its magnitude.
pub fn from_unix_auto(value: f64) -> Option<Timestamp> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let millis = if value >= MILLIS_THRESHOLD {
        value
    } else {
        value * 1000.0
    };
    // Beyond year 9999 chrono refuses, and so do we.
    Utc.timestamp_millis_opt(millis.round() as i64).single()
}

/// Milliseconds since the epoch, for keys that sort by time.
pub fn to_millis(t: &Timestamp) -> u64 {
    t.timestamp_millis().max(0) as u64
}

/// The inverse of [`to_millis`].
pub fn from_millis(ms: u64) -> Timestamp {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_default()
}

/// Formats as RFC 3339 UTC with millisecond precision (`2024-05-01T12:00:00.000Z`).
pub fn rfc3339(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// serde helpers so every time in our JSON is RFC 3339 UTC.
pub mod serde_rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom(format!("not RFC 3339: {s}")))
    }

    /// The same for optional times.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&rfc3339(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| {
                parse_rfc3339(&s)
                    .ok_or_else(|| serde::de::Error::custom(format!("not RFC 3339: {s}")))
            })
            .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_digit_values_are_seconds() {
        let t = from_unix_auto(1524476982.0).unwrap();
        assert_eq!(rfc3339(&t), "2018-04-23T09:49:42.000Z");
    }

    #[test]
    fn thirteen_digit_values_are_milliseconds() {
        let t = from_unix_auto(1553741853968.0).unwrap();
        assert_eq!(rfc3339(&t), "2019-03-28T02:57:33.968Z");
    }

    #[test]
    fn jd_placeholder_event_time_is_read_as_documented_milliseconds() {
        // JD v1.1 documents eventTime in ms; its example value has 11 digits.
        let t = from_unix_auto(12312312312.0).unwrap();
        assert_eq!(rfc3339(&t), "1970-05-23T12:05:12.312Z");
    }

    #[test]
    fn negative_and_absurd_values_are_refused() {
        assert!(from_unix_auto(-1.0).is_none());
        assert!(from_unix_auto(f64::NAN).is_none());
        assert!(from_unix_auto(1e20).is_none());
    }
}

/// Now, by the wall clock: when jobs fall due, leases end, retries come.
/// In unit tests it follows tokio's clock, so that on a paused clock it
/// moves only with `tokio::time::advance`: time logic is tested without
/// sleeping.
pub fn now() -> Timestamp {
    #[cfg(not(test))]
    {
        chrono::Utc::now()
    }
    #[cfg(test)]
    {
        test_clock::now()
    }
}

#[cfg(test)]
mod test_clock {
    use std::sync::OnceLock;

    use super::Timestamp;

    /// The wall clock and tokio's, read together once.
    static BASE: OnceLock<(Timestamp, std::time::Instant)> = OnceLock::new();

    pub fn now() -> Timestamp {
        let (wall, at) = *BASE.get_or_init(|| (chrono::Utc::now(), std::time::Instant::now()));
        let tokio_now = tokio::time::Instant::now().into_std();
        match tokio_now.checked_duration_since(at) {
            Some(d) => wall + chrono::Duration::from_std(d).unwrap_or_default(),
            None => wall - chrono::Duration::from_std(at - tokio_now).unwrap_or_default(),
        }
    }
}
