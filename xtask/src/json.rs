//! A tiny JSON reader, enough for criterion's `estimates.json`/`benchmark.json` and the
//! asyncio bench's output, so that xtask needs no serde.

use anyhow::{Result, bail};

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// Any number.
    Number(f64),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in their order of appearance.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole document.
    pub(crate) fn parse(text: &str) -> Result<Json> {
        let mut parser = Parser { bytes: text.as_bytes(), pos: 0 };
        let value = parser.value()?;
        parser.skip_whitespace();
        if parser.pos != parser.bytes.len() {
            bail!("trailing characters at byte {}", parser.pos);
        }
        Ok(value)
    }

    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The members of an object (none for other values).
    pub(crate) fn members(&self) -> &[(String, Json)] {
        match self {
            Json::Object(members) => members,
            _ => &[],
        }
    }

    /// The value as a number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A recursive-descent parser over the bytes of a document.
#[derive(Debug)]
struct Parser<'a> {
    /// The document.
    bytes: &'a [u8],
    /// The next byte to read.
    pos: usize,
}

impl Parser<'_> {
    /// Skips spaces, tabs and newlines.
    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `literal` or fails.
    fn expect(&mut self, literal: &str) -> Result<()> {
        if !self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            bail!("expected `{literal}` at byte {}", self.pos);
        }
        self.pos += literal.len();
        Ok(())
    }

    /// Parses one value, with the whitespace around it.
    fn value(&mut self) -> Result<Json> {
        self.skip_whitespace();
        let value = match self.bytes.get(self.pos) {
            None => bail!("unexpected end of input"),
            Some(b'n') => self.expect("null").map(|()| Json::Null)?,
            Some(b't') => self.expect("true").map(|()| Json::Bool(true))?,
            Some(b'f') => self.expect("false").map(|()| Json::Bool(false))?,
            Some(b'"') => Json::String(self.string()?),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.sequence(b']', |parser| {
                    items.push(parser.value()?);
                    Ok(())
                })?;
                Json::Array(items)
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.sequence(b'}', |parser| {
                    parser.skip_whitespace();
                    let key = parser.string()?;
                    parser.skip_whitespace();
                    parser.expect(":")?;
                    members.push((key, parser.value()?));
                    Ok(())
                })?;
                Json::Object(members)
            }
            Some(_) => Json::Number(self.number()?),
        };
        self.skip_whitespace();
        Ok(value)
    }

    /// Parses comma-separated items up to `close`, just after the opening bracket.
    fn sequence(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(c) if *c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => bail!("expected `,` or `{}` at byte {}", close as char, self.pos),
            }
        }
    }

    /// Parses a number.
    fn number(&mut self) -> Result<f64> {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c)) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos])?;
        match text.parse() {
            Ok(number) => Ok(number),
            Err(_) => bail!("bad value `{text}` at byte {start}"),
        }
    }

    /// Parses a string, at its opening quote.
    fn string(&mut self) -> Result<String> {
        self.expect("\"")?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.bytes.get(self.pos).is_some_and(|c| *c != b'"' && *c != b'\\') {
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.pos])?);
            match self.bytes.get(self.pos) {
                None => bail!("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {
                    let Some(escape) = self.bytes.get(self.pos + 1) else {
                        bail!("unterminated string");
                    };
                    self.pos += 2;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        other => bail!("bad escape `\\{}`", *other as char),
                    }
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (just after the `u`), joining surrogate pairs.
    fn unicode_escape(&mut self) -> Result<char> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            self.expect("\\u")?;
            let low = self.hex4()?;
            0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            high
        };
        Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4).unwrap_or_default();
        let text = std::str::from_utf8(digits)?;
        let Ok(code) = u32::from_str_radix(text, 16) else {
            bail!("bad \\u escape at byte {}", self.pos);
        };
        self.pos += 4;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_files() {
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,
            "lower_bound":1.5e3,"upper_bound":1600.0},"point_estimate":1550.25,
            "standard_error":2.0},"median":{"point_estimate":1500}}"#;
        let json = Json::parse(estimates).unwrap();
        let median = json.get("median").and_then(|m| m.get("point_estimate"));
        assert_eq!(median.and_then(Json::as_f64), Some(1500.0));

        let benchmark = r#"{"group_id":"spawn_await/current_thread","function_id":"tokio",
            "value_str":null,"throughput":{"Elements":100000},"full_id":"a\/b \"c\" \u00e9\ud83d\ude00"}"#;
        let json = Json::parse(benchmark).unwrap();
        assert_eq!(json.get("value_str"), Some(&Json::Null));
        assert_eq!(json.get("function_id").and_then(Json::as_str), Some("tokio"));
        assert_eq!(json.get("full_id").and_then(Json::as_str), Some("a/b \"c\" é😀"));
        let elements = json.get("throughput").and_then(|t| t.get("Elements"));
        assert_eq!(elements.and_then(Json::as_f64), Some(100000.0));
    }

    #[test]
    fn parses_nesting_and_rejects_garbage() {
        let json = Json::parse(" [1, [], {}, [true, false, null], -2.5e-1] ").unwrap();
        let Json::Array(items) = json else { panic!("not an array") };
        assert_eq!(items.len(), 5);
        assert_eq!(items[4], Json::Number(-0.25));
        assert!(Json::parse("{\"a\": 1,}").is_err());
        assert!(Json::parse("[1 2]").is_err());
        assert!(Json::parse("\"open").is_err());
        assert!(Json::parse("1 1").is_err());
    }
}
