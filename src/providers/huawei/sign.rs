//! Huawei's `auth_sign`: HMAC-SHA256 (hex) under the callback key over the
//! documented fields, or, in the recording callback's other mode,
//! `md5hex(key + auth_timestamp)`. Which mode a console chose is not in the
//! body, so either is accepted: both need the key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::body::Fields;
use crate::providers::md5_hex;

/// How far ahead of now `auth_timestamp` may lie. The push callback's
/// documentation calls it the signature's expiry, yet both examples put it
/// at the moment of sending (the recording example's equals its `end_time`);
/// no validity is documented, so a day bounds it and a stamp years ahead
/// (a signature that would never lapse) is refused.
pub const MAX_AHEAD_SECS: i64 = 24 * 3600;

/// Why a Huawei signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    Missing,
    BadTimestamp,
    Expired { secs_ago: i64 },
    TooFarAhead { secs_ahead: i64 },
    Wrong,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Missing => f.write_str(
                "the body carries no `auth_sign` and `auth_timestamp` (enable callback \
                 authentication in the Huawei console with the source's sign_key)",
            ),
            SignError::BadTimestamp => f.write_str("`auth_timestamp` is not a unix time"),
            SignError::Expired { secs_ago } => write!(
                f,
                "stale signature: `auth_timestamp` is {secs_ago} s old, more than \
                 sign_window_secs allows"
            ),
            SignError::TooFarAhead { secs_ahead } => write!(
                f,
                "`auth_timestamp` lies {secs_ahead} s ahead (check this machine's clock)"
            ),
            SignError::Wrong => f.write_str("wrong signature (`auth_sign`)"),
        }
    }
}

/// Checks every record's `auth_sign`: a batch cannot smuggle an unsigned
/// record beside a signed one.
pub fn verify(
    records: &[Fields],
    key: &str,
    now_unix: i64,
    window_secs: u64,
) -> Result<(), SignError> {
    if records.is_empty() {
        return Err(SignError::Missing);
    }
    for f in records {
        let (Some(ts), Some(sign)) = (f.text("auth_timestamp"), f.text("auth_sign")) else {
            return Err(SignError::Missing);
        };
        let at: i64 = ts.parse().map_err(|_| SignError::BadTimestamp)?;
        let age = now_unix.saturating_sub(at);
        if age > i64::try_from(window_secs).unwrap_or(i64::MAX) {
            return Err(SignError::Expired { secs_ago: age });
        }
        if age < -MAX_AHEAD_SECS {
            return Err(SignError::TooFarAhead {
                secs_ahead: at.saturating_sub(now_unix),
            });
        }
        let presented = sign.to_ascii_lowercase();
        // Every candidate is compared, so timing does not tell which mode matched.
        let ok = candidates(f, key, &ts)
            .iter()
            .fold(false, |ok, c| crate::auth::same_secret(&presented, c) | ok);
        if !ok {
            return Err(SignError::Wrong);
        }
    }
    Ok(())
}

/// The signatures this record may carry under `key`.
fn candidates(f: &Fields, key: &str, ts: &str) -> Vec<String> {
    let v = |k: &str| raw(f, k);
    if f.has("event_type") {
        let signed = format!(
            "{ts}{}{}{}{}{}{}",
            v("event_type"),
            v("publish_domain"),
            v("app"),
            v("stream"),
            v("download_url"),
            v("play_url")
        );
        vec![hmac_hex(key, &signed), md5_hex(&format!("{key}{ts}"))]
    } else {
        let signed = format!(
            "{}{}{}{}{ts}",
            v("event"),
            v("domain"),
            v("app"),
            v("stream")
        );
        vec![hmac_hex(key, &signed)]
    }
}

/// A field exactly as sent (the platform signs what it sent), or "".
fn raw(f: &Fields, key: &str) -> String {
    match f.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn hmac_hex(key: &str, data: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
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
    fn the_recording_hmac_covers_the_documented_fields_in_order() {
        let signed = "1700000000RECORD_FILE_COMPLETEpush.example.comlivemystreamhttp://h/a.flv";
        let sign = hmac_hex("k", signed);
        let body = format!(
            r#"{{"event_type":"RECORD_FILE_COMPLETE","publish_domain":"push.example.com","app":"live",
                "stream":"mystream","download_url":"http://h/a.flv","auth_timestamp":1700000000,
                "auth_sign":"{sign}"}}"#
        );
        assert_eq!(verify(&records(&body), "k", 1_700_000_010, 300), Ok(()));
        assert_eq!(
            verify(&records(&body), "other", 1_700_000_010, 300),
            Err(SignError::Wrong)
        );
        assert_eq!(
            verify(&records(&body), "k", 1_700_000_400, 300),
            Err(SignError::Expired { secs_ago: 400 })
        );
        // The stream is signed: another stream's body does not pass.
        let moved = body.replace("mystream", "other");
        assert_eq!(
            verify(&records(&moved), "k", 1_700_000_010, 300),
            Err(SignError::Wrong)
        );
    }

    #[test]
    fn the_md5_mode_signs_key_and_timestamp() {
        let sign = md5_hex("k1700000000").to_ascii_uppercase();
        let body = format!(
            r#"{{"event_type":"RECORD_OVER","publish_domain":"d","auth_timestamp":"1700000000","auth_sign":"{sign}"}}"#
        );
        assert_eq!(verify(&records(&body), "k", 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn the_push_hmac_ends_with_the_timestamp() {
        let sign = hmac_hex("k", "PUBLISHpush.example.comlivex1700000000");
        let body = format!(
            r#"{{"event":"PUBLISH","domain":"push.example.com","app":"live","stream":"x",
                "auth_timestamp":1700000000,"auth_sign":"{sign}"}}"#
        );
        assert_eq!(verify(&records(&body), "k", 1_700_000_000, 300), Ok(()));
        // The recording callback's MD5 mode is not one the push callback has.
        let md5 = md5_hex("k1700000000");
        let body = body.replace(&sign, &md5);
        assert_eq!(
            verify(&records(&body), "k", 1_700_000_000, 300),
            Err(SignError::Wrong)
        );
    }

    #[test]
    fn a_stamp_far_ahead_is_refused() {
        let ts = 1_700_000_000 + MAX_AHEAD_SECS + 1;
        let sign = md5_hex(&format!("k{ts}"));
        let body =
            format!(r#"{{"event_type":"RECORD_OVER","auth_timestamp":{ts},"auth_sign":"{sign}"}}"#);
        assert!(matches!(
            verify(&records(&body), "k", 1_700_000_000, 300),
            Err(SignError::TooFarAhead { .. })
        ));
        assert_eq!(
            verify(&records(r#"{"event":"PUBLISH"}"#), "k", 0, 300),
            Err(SignError::Missing)
        );
    }
}
