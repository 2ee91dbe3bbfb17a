//! A small bencode codec for the tests (independent of the control plane's).

use std::fmt;

/// A bencoded value. Dictionaries keep the order they were received in, as
/// rtpengine's replies are not sorted.
#[derive(Clone, PartialEq, Eq)]
pub enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(Vec<(Vec<u8>, Bencode)>),
}

impl fmt::Debug for Bencode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bencode::Int(i) => write!(f, "{i}"),
            Bencode::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Bencode::List(l) => f.debug_list().entries(l).finish(),
            Bencode::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
                .finish(),
        }
    }
}

impl From<&str> for Bencode {
    fn from(s: &str) -> Self {
        Bencode::Bytes(s.as_bytes().to_vec())
    }
}
impl From<String> for Bencode {
    fn from(s: String) -> Self {
        Bencode::Bytes(s.into_bytes())
    }
}
impl From<i64> for Bencode {
    fn from(i: i64) -> Self {
        Bencode::Int(i)
    }
}
impl<T: Into<Bencode>> From<Vec<T>> for Bencode {
    fn from(v: Vec<T>) -> Self {
        Bencode::List(v.into_iter().map(Into::into).collect())
    }
}

/// Builds a dictionary from `(key, value)` pairs: `dict([("command", "ping".into())])`.
pub fn dict<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, Bencode)>) -> Bencode {
    Bencode::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().as_bytes().to_vec(), v))
            .collect(),
    )
}

impl Bencode {
    pub fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Bencode::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            Bencode::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn list(&self) -> Option<&[Bencode]> {
        match self {
            Bencode::List(l) => Some(l),
            _ => None,
        }
    }
    /// `self[key]` as a string, for the common reply fields.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Bencode::str)
    }
    /// Walks a path of dictionary keys and list indices (`"tags/ft/medias/0"`).
    pub fn path(&self, path: &str) -> Option<&Bencode> {
        let mut cur = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = match cur {
                Bencode::List(l) => l.get(part.parse::<usize>().ok()?)?,
                _ => cur.get(part)?,
            };
        }
        Some(cur)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Bencode::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Bencode::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Bencode::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                    out.extend_from_slice(k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes one value; returns it and the unconsumed rest.
    pub fn decode(buf: &[u8]) -> Result<(Bencode, &[u8]), String> {
        let first = *buf.first().ok_or("unexpected end")?;
        match first {
            b'i' => {
                let end = buf
                    .iter()
                    .position(|&c| c == b'e')
                    .ok_or("unterminated int")?;
                let s = std::str::from_utf8(&buf[1..end]).map_err(|e| e.to_string())?;
                let i = s
                    .parse::<i64>()
                    .map_err(|e| format!("bad int {s:?}: {e}"))?;
                Ok((Bencode::Int(i), &buf[end + 1..]))
            }
            b'l' => {
                let mut rest = &buf[1..];
                let mut items = Vec::new();
                while rest.first() != Some(&b'e') {
                    let (v, r) = Bencode::decode(rest)?;
                    items.push(v);
                    rest = r;
                }
                Ok((Bencode::List(items), &rest[1..]))
            }
            b'd' => {
                let mut rest = &buf[1..];
                let mut items = Vec::new();
                while rest.first() != Some(&b'e') {
                    let (k, r) = Bencode::decode(rest)?;
                    let Bencode::Bytes(k) = k else {
                        return Err("dictionary key is not a string".into());
                    };
                    let (v, r) = Bencode::decode(r)?;
                    items.push((k, v));
                    rest = r;
                }
                Ok((Bencode::Dict(items), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = buf.iter().position(|&c| c == b':').ok_or("no colon")?;
                let len: usize = std::str::from_utf8(&buf[..colon])
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| format!("bad length: {e}"))?;
                let start = colon + 1;
                let bytes = buf
                    .get(start..start + len)
                    .ok_or("string overruns buffer")?;
                Ok((Bencode::Bytes(bytes.to_vec()), &buf[start + len..]))
            }
            c => Err(format!("unexpected byte {c:#x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_order() {
        let v = dict([("z", Bencode::from(1)), ("a", vec!["x", "y"].into())]);
        let enc = v.encode();
        assert_eq!(enc, b"d1:zi1e1:al1:x1:yee");
        let (dec, rest) = Bencode::decode(&enc).unwrap();
        assert!(rest.is_empty());
        assert_eq!(dec, v);
    }
}
