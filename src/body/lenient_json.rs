//! A forgiving JSON reader for bodies that strict JSON refuses.
//!
//! The platforms' own examples, which real senders copy, contain: trailing
//! commas, raw line breaks and tabs inside strings, a missing comma between
//! two members, strings opened or closed with curly quotes (`“status"`,
//! `...mp4”`), and the `<br>` tags of the HTML table they were published in.
//! Everything else follows JSON; the result is an ordinary `serde_json::Value`.

use serde_json::{Map, Number, Value};

/// The deepest nesting accepted; deeper bodies are refused, never recursed into.
pub const MAX_DEPTH: usize = 32;

/// Why the lenient reader gave up.
#[derive(Debug)]
pub struct LenientError {
    pub message: String,
    pub too_deep: bool,
}

/// Parses `text` forgivingly.
pub fn parse(text: &str) -> Result<Value, LenientError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let v = p.value(0)?;
    p.skip_space();
    if p.pos < p.chars.len() {
        return Err(p.error("unexpected text after the JSON value"));
    }
    Ok(v)
}

/// How deep a value nests (a scalar is 0) and how many values it holds in all.
pub fn shape(v: &Value) -> (usize, usize) {
    // Iterative, so a hostile body cannot exhaust the stack here either.
    let (mut max, mut nodes) = (0, 0);
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        nodes += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    (max, nodes)
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}')
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, what: &str) -> LenientError {
        let (line, col) = self.line_col();
        LenientError {
            message: format!("{what} at line {line}, column {col}"),
            too_deep: false,
        }
    }

    fn line_col(&self) -> (usize, usize) {
        let before = &self.chars[..self.pos.min(self.chars.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        (line, col)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Skips whitespace and HTML line-break tags (`<br>`, `<br/>`, `<br />`).
    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += 1,
                Some('<') => match self.br_tag_len(self.pos) {
                    Some(n) => self.pos += n,
                    None => return,
                },
                _ => return,
            }
        }
    }

    fn br_tag_len(&self, at: usize) -> Option<usize> {
        let rest: String = self.chars[at..].iter().take(8).collect();
        let lower = rest.to_ascii_lowercase();
        ["<br/>", "<br />", "<br>"]
            .iter()
            .find(|t| lower.starts_with(*t))
            .map(|t| t.chars().count())
    }

    fn value(&mut self, depth: usize) -> Result<Value, LenientError> {
        if depth > MAX_DEPTH {
            let mut e = self.error(&format!("nesting deeper than {MAX_DEPTH} levels"));
            e.too_deep = true;
            return Err(e);
        }
        self.skip_space();
        match self.peek() {
            None => Err(self.error("unexpected end of body")),
            Some('{') => self.object(depth),
            Some('[') => self.array(depth),
            Some(c) if is_quote(c) => self.string().map(Value::String),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(_) => self.literal(),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, LenientError> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                Some(',') => {
                    // Trailing or doubled comma.
                    self.pos += 1;
                    continue;
                }
                Some(c) if is_quote(c) => {}
                None => return Err(self.error("unterminated object")),
                Some(_) => return Err(self.error("expected a member name in quotes")),
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek() != Some(':') {
                return Err(self.error(&format!("expected ':' after {key:?}")));
            }
            self.pos += 1;
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            // A missing comma before the next member is forgiven: the next
            // iteration sees a quote and reads on.
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, LenientError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(',') => {
                    self.pos += 1;
                    continue;
                }
                None => return Err(self.error("unterminated array")),
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    /// A string opened by any double quote (straight or curly) and closed by
    /// the next unescaped one. Raw control characters inside are kept.
    fn string(&mut self) -> Result<String, LenientError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                c if is_quote(c) => return Ok(out),
                '\\' => {
                    let esc = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.pos += 1;
                    match esc {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' => out.push(self.unicode_escape()?),
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        self.pos = start;
        Err(self.error("unterminated string"))
    }

    fn hex4(&mut self) -> Result<u32, LenientError> {
        let digits: String = self.chars.iter().skip(self.pos).take(4).collect();
        let v = u32::from_str_radix(&digits, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, LenientError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.chars.get(self.pos) == Some(&'\\') {
            let save = self.pos;
            self.pos += 1;
            if self.peek() == Some('u') {
                self.pos += 1;
                let lo = self.hex4()?;
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn number(&mut self) -> Result<Value, LenientError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| {
                self.pos = start;
                self.error(&format!("bad number {text:?}"))
            })
    }

    fn literal(&mut self) -> Result<Value, LenientError> {
        for (word, v) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            let end = self.pos + word.len();
            if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(word.chars())
            {
                self.pos = end;
                return Ok(v);
            }
        }
        Err(self.error("unexpected character"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_forgiven() {
        let v = parse(r#"{"a": [1, 2,], "b": "x",}"#).unwrap();
        assert_eq!(v["a"][1], 2);
        assert_eq!(v["b"], "x");
    }

    #[test]
    fn raw_line_breaks_inside_strings_are_kept() {
        let v = parse("{\"url\": \"\nbucket/key.flv\n\"}").unwrap();
        assert_eq!(v["url"], "\nbucket/key.flv\n");
    }

    #[test]
    fn curly_quotes_open_and_close_strings() {
        let v = parse("{\"u\": \"a.mp4\u{201D}, \u{201C}status\": \"success\"}").unwrap();
        assert_eq!(v["u"], "a.mp4");
        assert_eq!(v["status"], "success");
    }

    #[test]
    fn a_missing_comma_between_members_is_forgiven() {
        let v = parse("{\"a\": \"x\" \"b\": 2}").unwrap();
        assert_eq!(v["b"], 2);
    }

    #[test]
    fn html_line_breaks_between_tokens_are_whitespace() {
        let v = parse("{<br>\"a\": 1,<br/>\n\"b\": 2<br />}").unwrap();
        assert_eq!(v["b"], 2);
    }

    #[test]
    fn escapes_are_decoded() {
        let v = parse(r#"{"a": "\u00e9\n\ud83d\ude00",}"#).unwrap();
        assert_eq!(v["a"], "é\n😀");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_further() {
        let body = "[".repeat(10_000);
        let e = parse(&body).unwrap_err();
        assert!(e.too_deep);
    }

    #[test]
    fn garbage_is_an_error_with_a_position() {
        let e = parse("{\"a\": nope}").unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
    }
}
