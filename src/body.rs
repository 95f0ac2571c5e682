//! Reads a callback request (JSON, form or query string) into fields a
//! provider parser can look up, forgiving what real senders get wrong.

mod lenient_json;
pub mod redact;

use std::collections::BTreeMap;

use serde_json::Value;

pub use lenient_json::MAX_DEPTH;

/// The most values (fields, array items, nested members) one request may
/// carry. Real callbacks hold a few dozen; JD's point recordings list
/// segments, still far below this.
pub const MAX_FIELDS: usize = 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BodyError {
    /// Stable machine-readable code.
    pub code: &'static str,
    pub message: String,
}

impl BodyError {
    /// The message quotes what a sender wrote (keys, values), so control
    /// characters in it are escaped: a newline must not start a forged line
    /// in a text log.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.contains(char::is_control) {
            message
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_debug().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            message
        };
        BodyError { code, message }
    }
}

/// A decoded request: one or more records of fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON body: an object, or an array of objects (several callbacks at once).
    Json(Vec<Fields>),
    /// A form body or a GET query string.
    Form(Fields),
}

impl Payload {
    /// The records, whatever the encoding.
    pub fn records(&self) -> &[Fields] {
        match self {
            Payload::Json(v) => v,
            Payload::Form(f) => std::slice::from_ref(f),
        }
    }

    /// True for form or query-string requests.
    pub fn is_form(&self) -> bool {
        matches!(self, Payload::Form(_))
    }
}

/// How the request arrived, for choosing the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
    /// No usable Content-Type: sniff the body.
    Unknown,
}

impl Encoding {
    /// Classifies a Content-Type header value.
    pub fn from_content_type(ct: Option<&str>) -> Encoding {
        let ct = ct.unwrap_or("").to_ascii_lowercase();
        if ct.contains("json") {
            Encoding::Json
        } else if ct.contains("x-www-form-urlencoded") {
            Encoding::Form
        } else {
            Encoding::Unknown
        }
    }
}

/// Decodes a POST body. Senders mislabel bodies (Kingsoft's old form callback
/// has no Content-Type at all), so a body that starts like JSON is read as JSON
/// whatever the header says.
pub fn decode_body(encoding: Encoding, body: &[u8]) -> Result<Payload, BodyError> {
    let body = strip_bom(body);
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(BodyError::new("empty_body", "the request body is empty")),
        Some(b'{') | Some(b'[') => decode_json(body),
        _ if encoding == Encoding::Json => decode_json(body),
        _ => decode_form(body),
    }
}

/// Decodes a query string (GET callbacks), without our own `token`.
pub fn decode_query(query: &str) -> Result<Payload, BodyError> {
    let fields = form_fields(query.as_bytes())?;
    if fields.is_empty() {
        return Err(BodyError::new(
            "empty_body",
            "the request has neither a body nor query parameters",
        ));
    }
    Ok(Payload::Form(fields))
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn decode_json(body: &[u8]) -> Result<Payload, BodyError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| BodyError::new("malformed_body", format!("the body is not UTF-8: {e}")))?;
    // Strict first: exact and fast for the well-formed majority.
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(strict) => lenient_json::parse(text).map_err(|e| {
            BodyError::new(
                if e.too_deep {
                    "too_deep"
                } else {
                    "malformed_body"
                },
                format!(
                    "the body is not JSON we can read: {} (strict parser: {strict})",
                    e.message
                ),
            )
        })?,
    };
    let (depth, values) = lenient_json::shape(&value);
    if depth > MAX_DEPTH {
        return Err(BodyError::new(
            "too_deep",
            format!("the JSON nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    if values > MAX_FIELDS {
        return Err(too_many_fields(values));
    }
    match value {
        Value::Object(map) => Ok(Payload::Json(vec![Fields::from_object(map)])),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Fields::from_object(map)),
                other => Err(BodyError::new(
                    "malformed_body",
                    format!(
                        "item {i} of the JSON array is {}, not an object",
                        kind_of(&other)
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Payload::Json),
        other => Err(BodyError::new(
            "malformed_body",
            format!("the JSON body is {}, not an object", kind_of(&other)),
        )),
    }
}

fn decode_form(body: &[u8]) -> Result<Payload, BodyError> {
    let fields = form_fields(body)?;
    if fields.is_empty() {
        return Err(BodyError::new(
            "malformed_body",
            "the body is neither JSON nor a form (key=value&...)",
        ));
    }
    Ok(Payload::Form(fields))
}

fn form_fields(body: &[u8]) -> Result<Fields, BodyError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        BodyError::new(
            "malformed_body",
            format!("the form body cannot be decoded: {e}"),
        )
    })?;
    if pairs.len() > MAX_FIELDS {
        return Err(too_many_fields(pairs.len()));
    }
    // Without a single `=` this is prose or garbage, not a form.
    if !body.contains(&b'=') {
        return Ok(Fields::default());
    }
    let mut fields = Fields::default();
    for (k, v) in pairs {
        if k.trim() == "token" {
            continue;
        }
        // A parameter sent twice keeps its first value, as Alibaba documents.
        fields
            .map
            .entry(normalize_key(&k))
            .or_insert_with(|| Value::String(v));
    }
    Ok(fields)
}

fn too_many_fields(n: usize) -> BodyError {
    BodyError::new(
        "too_many_fields",
        format!("the body holds {n} values; a callback holds at most {MAX_FIELDS}"),
    )
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn normalize_key(k: &str) -> String {
    k.trim().to_ascii_lowercase()
}

/// The fields of one callback record, looked up case-insensitively
/// (JD sends camelCase, Kingsoft PascalCase, Alibaba snake_case).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    map: BTreeMap<String, Value>,
}

impl Fields {
    /// Fields of a JSON object (keys trimmed and case-folded).
    pub fn from_object(map: serde_json::Map<String, Value>) -> Self {
        Fields {
            map: map
                .into_iter()
                .map(|(k, v)| (normalize_key(&k), v))
                .collect(),
        }
    }

    /// True when there are no fields at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// True when the field is present (even if empty).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The raw value of a field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// A field as trimmed text; numbers and booleans are written out; empty is absent.
    pub fn text(&self, key: &str) -> Option<String> {
        let s = match self.map.get(key)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    }

    /// A field as a number, accepting numbers sent as (padded) strings.
    pub fn number(&self, key: &str) -> Result<Option<f64>, BodyError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| {
                BodyError::new(
                    "invalid_field",
                    format!("field `{key}` should be a number, got {s:?}"),
                )
            }),
            Some(other) => Err(BodyError::new(
                "invalid_field",
                format!("field `{key}` should be a number, got {}", kind_of(other)),
            )),
        }
    }

    /// A field holding a nested object of parameters, flattened to text values.
    pub fn params(&self, key: &str) -> BTreeMap<String, String> {
        match self.map.get(key) {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.trim().to_owned(),
                        Value::Null => return None,
                        other => other.to_string(),
                    };
                    Some((k.trim().to_owned(), v))
                })
                .collect(),
            // Alibaba's `usrargs` and similar arrive as a query string.
            Some(Value::String(s)) => serde_urlencoded::from_str::<Vec<(String, String)>>(s.trim())
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !k.is_empty())
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// All fields, for diagnostics.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_without_content_type_is_read_as_a_form() {
        let p = decode_body(Encoding::Unknown, b"app=live&name=asdf&call=user_publish").unwrap();
        assert!(p.is_form());
        assert_eq!(p.records()[0].text("name").as_deref(), Some("asdf"));
    }

    #[test]
    fn json_labelled_as_form_is_still_json() {
        let p = decode_body(Encoding::Form, br#"{"App":"live"}"#).unwrap();
        assert_eq!(p.records()[0].text("app").as_deref(), Some("live"));
    }

    #[test]
    fn our_token_never_becomes_a_platform_field() {
        let p = decode_query("token=secret&action=publish").unwrap();
        assert!(!p.records()[0].has("token"));
    }

    #[test]
    fn numbers_as_padded_strings_are_numbers() {
        let p = decode_body(Encoding::Json, br#"{"t":" 1524476982 ","n":5,"bad":"x"}"#).unwrap();
        let f = &p.records()[0];
        assert_eq!(f.number("t").unwrap(), Some(1524476982.0));
        assert_eq!(f.number("n").unwrap(), Some(5.0));
        assert_eq!(f.number("bad").unwrap_err().code, "invalid_field");
    }

    #[test]
    fn empty_and_scalar_bodies_are_refused_with_a_reason() {
        assert_eq!(
            decode_body(Encoding::Json, b"  ").unwrap_err().code,
            "empty_body"
        );
        assert_eq!(
            decode_body(Encoding::Json, b"42").unwrap_err().code,
            "malformed_body"
        );
        assert_eq!(
            decode_body(Encoding::Unknown, b"hello").unwrap_err().code,
            "malformed_body"
        );
    }

    #[test]
    fn an_array_body_is_several_records() {
        let p = decode_body(Encoding::Json, br#"[{"a":1},{"a":2}]"#).unwrap();
        assert_eq!(p.records().len(), 2);
    }
}
