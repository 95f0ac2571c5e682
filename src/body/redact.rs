//! Signatures hidden from what is kept to be shown (an event's raw body, a
//! rejected request through the API). No platform binds its signature to
//! the body (Tencent's `sign`, Alibaba's `auth_key` and signature headers),
//! so one shown would let its reader post other bodies until it expires.
//! Every encoding a callback arrives in is covered: JSON, form bodies and
//! query strings, and a query nested in a field (Alibaba's `usrargs`).

/// The fields that carry a signature, compared without case.
const SIGNATURE_FIELDS: &[&str] = &["sign", "auth_key", "auth_sign", "signature"];

/// What a hidden value reads as.
const HIDDEN: &str = "***";

/// True for a header that carries a signature (`ALI-LIVE-SIGNATURE`, ...).
pub fn is_signature_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("signature") || SIGNATURE_FIELDS.contains(&name.as_str())
}

/// `raw` (a JSON body, a form body or a query string) with the value of
/// every signature field replaced by `***`; everything else unchanged.
pub fn redact(raw: &str) -> String {
    let json = redact_json(raw);
    let t = json.trim_start();
    if t.starts_with(['{', '[']) {
        json
    } else {
        redact_form(&json)
    }
}

fn is_signature_field(name: &str) -> bool {
    SIGNATURE_FIELDS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

/// `a=1&sign=x`: each pair whose decoded name is a signature field gets
/// `***`; a value that is itself a query (decoded) is redacted inside.
fn redact_form(raw: &str) -> String {
    let pairs: Vec<String> = raw
        .split('&')
        .map(|pair| {
            let Some((name, value)) = pair.split_once('=') else {
                return pair.to_owned();
            };
            if is_signature_field(decode(name).trim()) {
                return format!("{name}={HIDDEN}");
            }
            let inner = decode(value);
            if inner.contains('=') {
                let redacted = redact_form(&inner);
                if redacted != inner {
                    return format!("{name}={}", encode(&redacted));
                }
            }
            pair.to_owned()
        })
        .collect();
    pairs.join("&")
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The value of every `"<signature field>"` member replaced by `"***"`.
fn redact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((at, len)) = next_signature_key(rest) {
        let (head, tail) = rest.split_at(at + len);
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
        out.push('"');
        out.push_str(HIDDEN);
        out.push('"');
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Where the first quoted signature field name starts in `s`, and its length.
fn next_signature_key(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = s[from..].find('"') {
        let start = from + i;
        let close = s[start + 1..].find('"')?;
        let name = &s[start + 1..start + 1 + close];
        if is_signature_field(name) {
            return Some((start, close + 2));
        }
        from = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_signatures_are_redacted_and_nothing_else_changes() {
        let raw = r#"{"event_type":1, "sign" : "a1b2", "t":1700000000,"stream_id":"s"}"#;
        assert_eq!(
            redact(raw),
            r#"{"event_type":1, "sign" : "***", "t":1700000000,"stream_id":"s"}"#
        );
        let batch = r#"[{"sign":"x\"y","a":1},{"sign":12345},{"auth_key":"1-0-0-ab"}]"#;
        assert_eq!(
            redact(batch),
            r#"[{"sign":"***","a":1},{"sign":"***"},{"auth_key":"***"}]"#
        );
        for untouched in [
            r#"{"signal":"x"}"#,
            r#"{"design":"sign"}"#,
            "no json",
            r#"{"sign""#,
            r#"{"sign":{"a":1}}"#,
        ] {
            assert_eq!(redact(untouched), untouched);
        }
    }

    #[test]
    fn form_and_query_signatures_are_redacted() {
        assert_eq!(
            redact("event_type=100&sign=dbb34d88&t=1700000000&stream_id=s"),
            "event_type=100&sign=***&t=1700000000&stream_id=s"
        );
        assert_eq!(
            redact("a=1&AUTH_KEY=1-0-0-abc&auth_sign=zz&signal=keep"),
            "a=1&AUTH_KEY=***&auth_sign=***&signal=keep"
        );
        // Alibaba's usrargs: the publisher's own query, percent-encoded.
        let shown = redact("action=publish&id=s&usrargs=auth_key%3D1-0-0-abc%26x%3D1");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("action=publish&id=s&usrargs="), "{shown}");
        assert!(decode(&shown).contains("auth_key=***&x=1"), "{shown}");
        for untouched in ["a=1&b=2", "", "sign", "x=design%3D1"] {
            assert_eq!(redact(untouched), untouched);
        }
    }

    #[test]
    fn signature_headers_are_known() {
        for h in ["ALI-LIVE-SIGNATURE", "x-signature", "sign"] {
            assert!(is_signature_header(h), "{h}");
        }
        assert!(!is_signature_header("ali-live-timestamp"));
    }
}
