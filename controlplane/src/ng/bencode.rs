//! Bencode codec with rtpengine's exact acceptance rules.
//!
//! Quirks copied from rtpengine's `bencode.c` (checked against rtpengine 10.5):
//! - integers are read with `strtoll`: leading whitespace, `+` and `-0` are accepted, `i03e`
//!   is not, and out-of-range values saturate to `i64::MIN`/`i64::MAX`;
//! - string lengths have no leading zeros (`03:abc` is an error);
//! - dictionary keys must be strings; duplicates are kept (see [`super::Dict`]).
//!
//! For UDP datagrams rtpengine also treats the end of the buffer as closing every open
//! list and dictionary (`d7:command4:ping` is a valid ping) and ignores bytes after the
//! first value; [`decode_datagram`] reproduces that. [`decode`] and [`decode_prefix`] are
//! strict: an unterminated container is incomplete, not valid.
//!
//! Nesting is limited to [`MAX_DEPTH`] so hostile input cannot exhaust the stack.

use super::value::{Dict, Value};

/// Deepest nesting of lists and dictionaries accepted (rtpengine has no limit; real
/// requests nest at most 3 levels).
pub const MAX_DEPTH: usize = 64;

/// Why a buffer is not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// The buffer ended inside a value.
    #[error("bencode truncated at offset {offset}")]
    Truncated { offset: usize },
    /// A byte that cannot start a value (or an `e` where a value is required).
    #[error("unexpected byte {byte:#04x} at offset {offset}")]
    UnexpectedByte { offset: usize, byte: u8 },
    /// An integer without digits, with a leading zero, or not closed by `e`.
    #[error("malformed integer at offset {offset}")]
    BadInteger { offset: usize },
    /// A string length with a leading zero, too large, or not followed by `:`.
    #[error("malformed string length at offset {offset}")]
    BadLength { offset: usize },
    /// A dictionary key that is not a string.
    #[error("dictionary key at offset {offset} is not a string")]
    NonStringKey { offset: usize },
    /// A dictionary key without a value before the closing `e`.
    #[error("dictionary key without value at offset {offset}")]
    MissingValue { offset: usize },
    /// More than [`MAX_DEPTH`] nested containers.
    #[error("nesting deeper than {MAX_DEPTH} at offset {offset}")]
    TooDeep { offset: usize },
    /// Bytes after a complete value where the whole buffer had to be one value.
    #[error("{extra} trailing bytes after the value at offset {offset}")]
    TrailingData { offset: usize, extra: usize },
}

/// How the end of the buffer inside a container is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Eof {
    /// Incomplete input (`Truncated`).
    Truncated,
    /// Closes all open containers, like rtpengine's datagram decoder.
    ClosesContainers,
}

/// Decodes a buffer holding exactly one value.
pub fn decode(buf: &[u8]) -> Result<Value, BencodeError> {
    let mut p = Parser {
        buf,
        pos: 0,
        eof: Eof::Truncated,
    };
    let v = p.value(0)?;
    if p.pos != buf.len() {
        return Err(BencodeError::TrailingData {
            offset: p.pos,
            extra: buf.len() - p.pos,
        });
    }
    Ok(v)
}

/// Decodes the first value of a stream: `Ok(None)` if `buf` holds only part of it, else the
/// value and how many bytes it used.
pub fn decode_prefix(buf: &[u8]) -> Result<Option<(Value, usize)>, BencodeError> {
    let mut p = Parser {
        buf,
        pos: 0,
        eof: Eof::Truncated,
    };
    match p.value(0) {
        Ok(v) => Ok(Some((v, p.pos))),
        Err(BencodeError::Truncated { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decodes an ng datagram body the way rtpengine does: the end of the buffer closes open
/// containers, and bytes after the first value are ignored. Returns the value and the bytes
/// it used.
pub fn decode_datagram(buf: &[u8]) -> Result<(Value, usize), BencodeError> {
    let mut p = Parser {
        buf,
        pos: 0,
        eof: Eof::ClosesContainers,
    };
    let v = p.value(0)?;
    Ok((v, p.pos))
}

/// Appends the canonical encoding of `v` (integers in decimal, keys in stored order).
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    out.reserve_exact(encoded_len(v));
    encode_into(v, out);
}

fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => {
            out.push(b'i');
            if *i < 0 {
                out.push(b'-');
            }
            push_decimal(i.unsigned_abs(), out);
            out.push(b'e');
        }
        Value::Bytes(b) => encode_bytes(b, out),
        Value::List(items) => {
            out.push(b'l');
            for item in items {
                encode_into(item, out);
            }
            out.push(b'e');
        }
        Value::Dict(d) => {
            out.push(b'd');
            for (k, item) in d.iter() {
                encode_bytes(k, out);
                encode_into(item, out);
            }
            out.push(b'e');
        }
    }
}

/// The exact size of `v` bencoded, so a reply is written into one allocation.
pub fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Int(i) => 2 + usize::from(*i < 0) + decimal_len(i.unsigned_abs()),
        Value::Bytes(b) => bytes_len(b),
        Value::List(items) => 2 + items.iter().map(encoded_len).sum::<usize>(),
        Value::Dict(d) => {
            2 + d
                .iter()
                .map(|(k, item)| bytes_len(k) + encoded_len(item))
                .sum::<usize>()
        }
    }
}

fn bytes_len(b: &[u8]) -> usize {
    decimal_len(b.len() as u64) + 1 + b.len()
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// `n` in decimal, without the `String` that `to_string` would allocate.
fn push_decimal(n: u64, out: &mut Vec<u8>) {
    // Most numbers in a reply are string lengths and small counters.
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    push_decimal(b.len() as u64, out);
    out.push(b':');
    out.extend_from_slice(b);
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    eof: Eof,
}

/// What [`Parser::item`] found: a value, or the `e` closing the enclosing container.
enum Item {
    Value(Value),
    End,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn truncated(&self) -> BencodeError {
        BencodeError::Truncated { offset: self.pos }
    }

    /// A value where `e` is not allowed.
    fn value(&mut self, depth: usize) -> Result<Value, BencodeError> {
        let at = self.pos;
        match self.item(depth)? {
            Item::Value(v) => Ok(v),
            Item::End => Err(BencodeError::UnexpectedByte {
                offset: at,
                byte: b'e',
            }),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Item, BencodeError> {
        let Some(c) = self.peek() else {
            return Err(self.truncated());
        };
        match c {
            b'e' => {
                self.pos += 1;
                Ok(Item::End)
            }
            b'i' => self.integer().map(Item::Value),
            b'0'..=b'9' => self.bytes().map(|b| Item::Value(Value::Bytes(b))),
            b'l' | b'd' => {
                if depth >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep { offset: self.pos });
                }
                self.pos += 1;
                if c == b'l' {
                    self.list(depth + 1).map(Item::Value)
                } else {
                    self.dict(depth + 1).map(Item::Value)
                }
            }
            byte => Err(BencodeError::UnexpectedByte {
                offset: self.pos,
                byte,
            }),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Value, BencodeError> {
        let mut items = Vec::new();
        loop {
            if self.pos >= self.buf.len() && self.eof == Eof::ClosesContainers {
                break;
            }
            match self.item(depth)? {
                Item::Value(v) => items.push(v),
                Item::End => break,
            }
        }
        Ok(Value::List(items))
    }

    fn dict(&mut self, depth: usize) -> Result<Value, BencodeError> {
        let mut d = Dict::new();
        loop {
            if self.pos >= self.buf.len() && self.eof == Eof::ClosesContainers {
                break;
            }
            let key_at = self.pos;
            let key = match self.item(depth)? {
                Item::End => break,
                Item::Value(Value::Bytes(k)) => k,
                Item::Value(_) => return Err(BencodeError::NonStringKey { offset: key_at }),
            };
            // A key needs its value even in the lenient datagram mode (rtpengine returns
            // NULL for `d3:foo` at the end of the buffer).
            if self.pos >= self.buf.len() {
                return Err(self.truncated());
            }
            let val_at = self.pos;
            match self.item(depth)? {
                Item::Value(v) => d.push(key, v),
                Item::End => return Err(BencodeError::MissingValue { offset: val_at }),
            }
        }
        Ok(Value::Dict(d))
    }

    /// `i<strtoll>e`, with rtpengine's special case that a leading `0` must be followed by
    /// `e` directly.
    fn integer(&mut self) -> Result<Value, BencodeError> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let bad = BencodeError::BadInteger { offset: start };
        let Some(first) = self.peek() else {
            return Err(self.truncated());
        };
        let value = if first == b'0' {
            self.pos += 1;
            0
        } else {
            match self.strtoll() {
                Some(v) => v,
                // `i-` or `i ` at the end of a stream may still get its digits.
                None if self.strtoll_hit_end() => return Err(self.truncated()),
                None => return Err(bad),
            }
        };
        match self.peek() {
            None => Err(self.truncated()),
            Some(b'e') => {
                self.pos += 1;
                Ok(Value::Int(value))
            }
            Some(_) => Err(bad),
        }
    }

    /// True if everything after `self.pos` is whitespace or a sign, i.e. digits may follow.
    fn strtoll_hit_end(&self) -> bool {
        self.buf
            .get(self.pos..)
            .is_some_and(|rest| rest.iter().all(|b| b" \t\n\x0b\x0c\r+-".contains(b)))
    }

    /// C `strtoll(s, &end, 10)`: whitespace, optional sign, digits; saturating. `None` if no
    /// digits were read. Stops at the end of the buffer rather than at a NUL.
    fn strtoll(&mut self) -> Option<i64> {
        let mut p = self.pos;
        while matches!(
            self.buf.get(p),
            Some(b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
        ) {
            p += 1;
        }
        let negative = match self.buf.get(p) {
            Some(b'-') => {
                p += 1;
                true
            }
            Some(b'+') => {
                p += 1;
                false
            }
            _ => false,
        };
        let digits_start = p;
        let mut acc: i64 = 0;
        let mut saturated = false;
        while let Some(d @ b'0'..=b'9') = self.buf.get(p).copied() {
            let digit = i64::from(d - b'0');
            if !saturated {
                // Accumulate negatively so i64::MIN is representable, like glibc.
                match acc.checked_mul(10).and_then(|a| a.checked_sub(digit)) {
                    Some(a) => acc = a,
                    None => saturated = true,
                }
            }
            p += 1;
        }
        if p == digits_start {
            return None;
        }
        self.pos = p;
        Some(match (negative, saturated) {
            (true, true) => i64::MIN,
            (false, true) => i64::MAX,
            (true, false) => acc,
            (false, false) => acc.checked_neg().unwrap_or(i64::MAX),
        })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, BencodeError> {
        let start = self.pos;
        let bad = BencodeError::BadLength { offset: start };
        let mut len: usize = 0;
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            while let Some(d @ b'0'..=b'9') = self.peek() {
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(d - b'0')))
                    .ok_or(bad.clone())?;
                self.pos += 1;
            }
        }
        match self.peek() {
            None => return Err(self.truncated()),
            Some(b':') => self.pos += 1,
            Some(_) => return Err(bad),
        }
        let end = self.pos.checked_add(len).ok_or(bad)?;
        let Some(s) = self.buf.get(self.pos..end) else {
            return Err(BencodeError::Truncated {
                offset: self.buf.len(),
            });
        };
        self.pos = end;
        Ok(s.to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn ping_reply_layout() {
        let mut d = Dict::new();
        d.insert("result", "pong");
        assert_eq!(enc(&Value::Dict(d)), b"d6:result4:ponge");
    }

    #[test]
    fn integers_follow_strtoll() {
        for (src, want) in [
            (&b"i-0e"[..], 0),
            (b"i0e", 0),
            (b"i+5e", 5),
            (b"i 7e", 7),
            (b"i-12e", -12),
            (b"i99999999999999999999e", i64::MAX),
            (b"i-99999999999999999999e", i64::MIN),
        ] {
            assert_eq!(decode(src), Ok(Value::Int(want)), "{src:?}");
        }
        for bad in [&b"i03e"[..], b"ie", b"i-e", b"i5x"] {
            assert!(
                matches!(decode(bad), Err(BencodeError::BadInteger { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(decode(b"i5"), Err(BencodeError::Truncated { offset: 2 }));
    }

    #[test]
    fn string_lengths() {
        assert_eq!(decode(b"0:"), Ok(Value::Bytes(vec![])));
        assert!(matches!(
            decode(b"03:abc"),
            Err(BencodeError::BadLength { .. })
        ));
        assert!(matches!(
            decode(b"9:abc"),
            Err(BencodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode(b"99999999999999999999999:a"),
            Err(BencodeError::BadLength { .. })
        ));
    }

    #[test]
    fn strict_decode_rejects_trailing_and_unterminated() {
        assert!(matches!(
            decode(b"de "),
            Err(BencodeError::TrailingData {
                offset: 2,
                extra: 1
            })
        ));
        assert!(matches!(
            decode(b"d7:command4:ping"),
            Err(BencodeError::Truncated { .. })
        ));
        assert_eq!(decode_prefix(b"d7:command4:pi"), Ok(None));
        assert_eq!(
            decode_prefix(b"d1:ai1ee1:x").map(|o| o.map(|(_, n)| n)),
            Ok(Some(8))
        );
        assert!(matches!(
            decode(b"di1ei2ee"),
            Err(BencodeError::NonStringKey { offset: 1 })
        ));
        assert!(matches!(
            decode(b"d1:ae"),
            Err(BencodeError::MissingValue { offset: 4 })
        ));
        assert!(matches!(
            decode(b"x"),
            Err(BencodeError::UnexpectedByte { byte: b'x', .. })
        ));
    }

    #[test]
    fn datagram_mode_matches_rtpengine() {
        // Verified against rtpengine 10.5: these three get a pong.
        assert!(decode_datagram(b"d7:command4:ping").is_ok());
        assert!(decode_datagram(b"d7:command4:pingee").is_ok());
        assert!(decode_datagram(b"d7:command4:ping1:ald1:xi1e").is_ok());
        // ...and these get "Could not decode bencode dictionary".
        assert!(decode_datagram(b"d7:command4:ping3:foo").is_err());
        assert!(decode_datagram(b"d7:command4:ping3:fooe").is_err());
        assert!(decode_datagram(b"d7:command4:ping3:foo99:xe").is_err());
        assert!(decode_datagram(b"d7:command4:ping3:fooie3:bar3:baze").is_err());
    }

    #[test]
    fn integers_encode_like_to_string() {
        for i in [0, 7, -7, 10, -10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1] {
            let v = Value::Int(i);
            assert_eq!(enc(&v), format!("i{i}e").into_bytes());
            assert_eq!(encoded_len(&v), format!("i{i}e").len());
        }
    }

    #[test]
    fn depth_is_limited() {
        let mut deep = vec![b'l'; MAX_DEPTH + 1];
        deep.extend(vec![b'e'; MAX_DEPTH + 1]);
        assert!(matches!(decode(&deep), Err(BencodeError::TooDeep { .. })));
        let ok = [vec![b'l'; MAX_DEPTH], vec![b'e'; MAX_DEPTH]].concat();
        assert!(decode(&ok).is_ok());
    }

    pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>(), 0..8), inner),
                    0..6
                )
                .prop_map(|kv| Value::Dict(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(v in arb_value()) {
            let bytes = enc(&v);
            prop_assert_eq!(decode(&bytes), Ok(v.clone()));
            prop_assert_eq!(decode_prefix(&bytes), Ok(Some((v.clone(), bytes.len()))));
            prop_assert_eq!(decode_datagram(&bytes), Ok((v.clone(), bytes.len())));
            prop_assert_eq!(encoded_len(&v), bytes.len());
        }

        #[test]
        fn truncation_is_incomplete(v in arb_value(), cut in any::<prop::sample::Index>()) {
            let bytes = enc(&v);
            let cut = cut.index(bytes.len());
            prop_assert_eq!(decode_prefix(&bytes[..cut]), Ok(None));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
            let _ = decode_prefix(&bytes);
            let _ = decode_datagram(&bytes);
        }
    }
}
