//! A tiny JSON reader and writer for the one JSON file Raft owns: `quorum-state`
//! (`docs/formats.md` §12), a single flat object of integers, strings and at most one array of
//! small objects.
//!
//! Hand-rolled rather than pulling `serde_json` into a core crate for one fixed shape. The
//! input is a file on disk, so it is untrusted: the reader is bounded (input size, nesting
//! depth, element count), accepts only what RFC 8259 allows, and returns errors, never
//! panics. Numbers must be integers that fit an `i64`; that is all `quorum-state` holds.

/// Largest document accepted; a real `quorum-state` is under 200 bytes.
pub const JSON_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting accepted (the real file nests 3 levels).
pub const JSON_DEPTH_MAX: usize = 16;
/// Most elements in one array or members in one object.
pub const JSON_ELEMENTS_MAX: usize = 4096;

/// A parsed JSON value. Objects keep their members in document order; a repeated key is
/// rejected rather than guessed about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a document is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {position}: {reason}")]
pub struct JsonError {
    pub position: usize,
    pub reason: &'static str,
}

/// Parses one JSON document; only whitespace may follow it.
pub fn parse(input: &str) -> Result<Json, JsonError> {
    if input.len() > JSON_BYTES_MAX {
        return Err(JsonError {
            position: JSON_BYTES_MAX,
            reason: "document too large",
        });
    }
    let mut p = Parser {
        bytes: input.as_bytes(),
        pos: 0,
    };
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.error("trailing characters after the document"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, literal: &'static [u8], value: Json) -> Result<Json, JsonError> {
        if self.bytes[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > JSON_DEPTH_MAX {
            return Err(self.error("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'n') => self.expect_literal(b"null", Json::Null),
            Some(b't') => self.expect_literal(b"true", Json::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = &self.bytes[digits_start..self.pos];
        if digits.is_empty() {
            return Err(self.error("a number needs digits"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(self.error("leading zeros are not allowed"));
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.error("only integers are expected here"));
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos])
            .map_err(|_| self.error("invalid number"))?;
        text.parse::<i64>().map(Json::Int).map_err(|_| JsonError {
            position: start,
            reason: "integer out of range",
        })
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(esc) = self.peek() else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&first) {
                                // A high surrogate must be followed by an escaped low one.
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err(self.error("unpaired surrogate"));
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&second) {
                                    return Err(self.error("unpaired surrogate"));
                                }
                                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                            } else {
                                first
                            };
                            out.push(
                                char::from_u32(c)
                                    .ok_or_else(|| self.error("unpaired surrogate"))?,
                            );
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                0x00..=0x1f => return Err(self.error("control character in string")),
                _ => {
                    // Copy one UTF-8 scalar; the input is a &str, so boundaries are valid.
                    let rest = &self.bytes[self.pos..];
                    let len = utf8_len(b);
                    let chunk = rest
                        .get(..len)
                        .ok_or_else(|| self.error("truncated UTF-8"))?;
                    out.push_str(
                        std::str::from_utf8(chunk).map_err(|_| self.error("invalid UTF-8"))?,
                    );
                    self.pos += len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("invalid \\u escape"))?;
        if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.error("invalid \\u escape"));
        }
        let v = u32::from_str_radix(text, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            if items.len() >= JSON_ELEMENTS_MAX {
                return Err(self.error("too many elements"));
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            if members.len() >= JSON_ELEMENTS_MAX {
                return Err(self.error("too many members"));
            }
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let key_pos = self.pos;
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(JsonError {
                    position: key_pos,
                    reason: "duplicate member name",
                });
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Appends `s` as a JSON string literal (Jackson's escaping, shared with the tools).
pub use protocol::json::write_string;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_quorum_state_shapes() {
        let v0 = r#"{"clusterId":"","leaderId":1,"leaderEpoch":5,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1}],"data_version":0}"#;
        let j = parse(v0).unwrap();
        assert_eq!(j.get("leaderEpoch"), Some(&Json::Int(5)));
        assert_eq!(
            j.get("currentVoters"),
            Some(&Json::Array(vec![Json::Object(vec![(
                "voterId".into(),
                Json::Int(1)
            )])]))
        );
        assert_eq!(
            parse(" {\"a\" : null , \"b\":[ true,false ]}\n")
                .unwrap()
                .get("a"),
            Some(&Json::Null)
        );
        assert_eq!(
            parse(r#""\u00e9\ud83d\ude00\n""#).unwrap(),
            Json::Str("é😀\n".into())
        );
    }

    #[test]
    fn hostile_documents_are_errors() {
        for bad in [
            "",
            "{",
            "}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[1 2]",
            "01",
            "-",
            "1.5",
            "1e3",
            "99999999999999999999",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"a\u{1}b\"",
            "nul",
            "{\"a\":1}{}",
            "{\"a\":1,\"a\":2}",
            "tru",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
        let huge = format!("\"{}\"", "a".repeat(JSON_BYTES_MAX));
        assert_eq!(parse(&huge).unwrap_err().reason, "document too large");
        let many = format!("[{}0]", "0,".repeat(JSON_ELEMENTS_MAX));
        assert_eq!(parse(&many).unwrap_err().reason, "too many elements");
    }

    #[test]
    fn strings_round_trip() {
        for s in ["", "plain", "quote\"back\\slash", "ctl\u{1}\n\t", "é😀"] {
            let mut out = String::new();
            write_string(&mut out, s);
            assert_eq!(parse(&out), Ok(Json::Str(s.into())), "{out}");
        }
    }
}
