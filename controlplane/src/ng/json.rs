//! JSON form of ng messages (a body starting with `{`), mapped onto [`Value`].
//!
//! rtpengine parses JSON with json-glib and converts the tree to bencode; this module
//! reproduces the observable rules (checked against rtpengine 10.5):
//! - strings become byte strings, integers and booleans become `Int` (`true` = 1);
//! - `null` and numbers with a fraction or exponent cannot be converted: the request is
//!   answered "Could not decode bencode dictionary" ([`JsonError::Unsupported`]), but only
//!   if the whole document is syntactically valid, since json-glib parses first;
//! - strings may be single-quoted (json-glib's scanner allows it), `\u0000` is rejected;
//! - integers out of `i64` range saturate;
//! - duplicate object keys: the last value wins, at the first key's position;
//! - further whitespace-separated documents after the first are parsed and ignored.
//!
//! Replies are written compactly (`{"result":"pong"}`) like json-glib's generator.

use super::value::{Dict, Value};

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not a JSON document (rtpengine: "Failed to parse JSON document").
    #[error("JSON syntax error at offset {offset}: {what}")]
    Syntax { offset: usize, what: &'static str },
    /// Valid JSON holding a value bencode cannot carry (rtpengine: "Could not decode
    /// bencode dictionary").
    #[error("JSON {what} at offset {offset} has no bencode form")]
    Unsupported { offset: usize, what: &'static str },
}

/// Decodes a JSON document.
pub fn decode(buf: &[u8]) -> Result<Value, JsonError> {
    let mut p = Parser {
        buf,
        pos: 0,
        unsupported: None,
    };
    p.skip_ws();
    let first = p.value(0)?;
    let first_unsupported = p.unsupported.take();
    loop {
        p.skip_ws();
        if p.pos >= buf.len() {
            break;
        }
        p.value(0)?;
    }
    match first_unsupported {
        Some(e) => Err(e),
        None => Ok(first),
    }
}

/// Appends `v` as compact JSON. Byte strings that are not UTF-8 have each invalid byte
/// written as `\u00XX` so the output is always valid JSON.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Bytes(b) => encode_str(b, out),
        Value::List(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                encode(item, out);
            }
            out.push(b']');
        }
        Value::Dict(d) => {
            out.push(b'{');
            for (n, (k, item)) in d.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                encode_str(k, out);
                out.push(b':');
                encode(item, out);
            }
            out.push(b'}');
        }
    }
}

fn encode_str(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20 => push_u_escape(c as u32, out),
                c => {
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
        for &byte in chunk.invalid() {
            push_u_escape(u32::from(byte), out);
        }
    }
    out.push(b'"');
}

fn push_u_escape(code: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("\\u{code:04x}").as_bytes());
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// First value without a bencode form; reported only if the syntax is valid.
    unsupported: Option<JsonError>,
}

impl Parser<'_> {
    fn syntax(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.pos,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn note_unsupported(&mut self, offset: usize, what: &'static str) {
        if self.unsupported.is_none() {
            self.unsupported = Some(JsonError::Unsupported { offset, what });
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.syntax("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.syntax("unexpected end of document")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(q @ (b'"' | b'\'')) => self.string(q).map(Value::Bytes),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Int(1)),
            Some(b'f') => self.literal(b"false", Value::Int(0)),
            Some(b'n') => {
                let at = self.pos;
                self.literal(b"null", Value::Int(0))?;
                self.note_unsupported(at, "null");
                Ok(Value::Int(0))
            }
            Some(_) => Err(self.syntax("unexpected character")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.buf.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1; // '{'
        let mut d = Dict::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Dict(d));
        }
        loop {
            self.skip_ws();
            let key = match self.peek() {
                Some(q @ (b'"' | b'\'')) => self.string(q)?,
                _ => return Err(self.syntax("expected member name")),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth + 1)?;
            d.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Dict(d));
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.syntax("number without digits"));
        }
        let int_end = self.pos;
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            let frac_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == frac_start {
                return Err(self.syntax("fraction without digits"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == exp_start {
                return Err(self.syntax("exponent without digits"));
            }
        }
        if float {
            self.note_unsupported(start, "floating-point number");
            return Ok(Value::Int(0));
        }
        let negative = digits_start > start;
        let mut acc: i64 = 0;
        for &d in self.buf.get(digits_start..int_end).unwrap_or_default() {
            let digit = i64::from(d - b'0');
            let next = acc.checked_mul(10).and_then(|a| {
                if negative {
                    a.checked_sub(digit)
                } else {
                    a.checked_add(digit)
                }
            });
            match next {
                Some(a) => acc = a,
                None => {
                    acc = if negative { i64::MIN } else { i64::MAX };
                    break;
                }
            }
        }
        Ok(Value::Int(acc))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("short \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax("bad \\u escape"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self, quote: u8) -> Result<Vec<u8>, JsonError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.syntax("unterminated string"));
            };
            self.pos += 1;
            match c {
                c if c == quote => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.syntax("unterminated escape"));
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\'' => '\'',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.syntax("unknown escape")),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                c if c < 0x20 => return Err(self.syntax("control character in string")),
                c => out.push(c),
            }
        }
        if std::str::from_utf8(&out).is_err() {
            return Err(self.syntax("string is not UTF-8"));
        }
        Ok(out)
    }

    /// `\uXXXX`, joining surrogate pairs; json-glib refuses `\u0000` (C strings).
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err(self.syntax("lone surrogate"));
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xdc00..0xe000).contains(&lo) {
                return Err(self.syntax("bad low surrogate"));
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        match char::from_u32(code) {
            Some('\0') => Err(self.syntax("NUL in string")),
            Some(c) => Ok(c),
            None => Err(self.syntax("lone surrogate")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: &Value) -> String {
        let mut out = Vec::new();
        encode(v, &mut out);
        String::from_utf8(out).expect("encoder emits UTF-8")
    }

    #[test]
    fn mapping_matches_rtpengine() {
        let v = decode(br#"{"command":"ping","x":true,"y":[1,{"a":"b"}],'z':'q'}"#).expect("valid");
        let d = v.as_dict().expect("object");
        assert_eq!(d.get("x"), Some(&Value::Int(1)));
        assert_eq!(d.get("z").and_then(Value::as_str), Some("q"));
        assert_eq!(decode(b"99999999999999999999"), Ok(Value::Int(i64::MAX)));
        assert_eq!(decode(b"-5"), Ok(Value::Int(-5)));
    }

    #[test]
    fn errors_match_rtpengine() {
        for unsupported in [&br#"{"x":1.5}"#[..], br#"{"x":null}"#, br#"{"y":1e3}"#] {
            assert!(matches!(
                decode(unsupported),
                Err(JsonError::Unsupported { .. })
            ));
        }
        for syntax in [
            &br#"{"command":"ping""#[..],
            br#"{"command":"ping",}"#,
            br#"{"command":"ping"} x"#,
            br#"{"x":null} x"#,
            br#"{"a":"\u0000"}"#,
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                matches!(decode(syntax), Err(JsonError::Syntax { .. })),
                "{syntax:?}"
            );
        }
        // rtpengine answers the first of several documents.
        let v = decode(br#"{"command":"ping"}{"a":1}  "#).expect("valid");
        assert!(v.as_dict().and_then(|d| d.get("command")).is_some());
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let v = decode(br#"{"command":"ping","command":"bogus"}"#).expect("valid");
        let d = v.as_dict().expect("object");
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("command").and_then(Value::as_str), Some("bogus"));
    }

    #[test]
    fn encoding_is_compact_and_escaped() {
        let mut d = Dict::new();
        d.insert("sdp", "v=0\r\n\"x\"\\\u{1}é");
        d.insert(
            "n",
            Value::List(vec![Value::Int(-1), Value::Bytes(vec![0xff])]),
        );
        d.insert("result", "ok");
        assert_eq!(
            enc(&Value::Dict(d)),
            r#"{"sdp":"v=0\r\n\"x\"\\\u0001é","n":[-1,"\u00ff"],"result":"ok"}"#
        );
    }

    fn arb_json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            "[^\u{0}]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map("[^\u{0}]{0,6}", inner, 0..6).prop_map(|m| {
                    Value::Dict(m.into_iter().map(|(k, v)| (k.into_bytes(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_roundtrip(v in arb_json_value()) {
            let mut out = Vec::new();
            encode(&v, &mut out);
            prop_assert_eq!(decode(&out), Ok(v));
        }

        #[test]
        fn json_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
