//! The ng data model: the four bencode types, shared by the bencode and JSON codecs.
//!
//! Strings are raw bytes because bencode strings are (SDP bodies and call-ids need not be
//! UTF-8). Dictionaries keep insertion order: rtpengine neither sorts keys on input nor on
//! output (its replies put e.g. `"sdp"` before `"result"`), and clients compare bytes.

use std::borrow::Cow;

/// One ng value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A signed 64-bit integer (`i42e`; JSON numbers without fraction, and booleans).
    Int(i64),
    /// A byte string (`4:spam`; JSON strings as UTF-8).
    Bytes(Vec<u8>),
    /// A list (`l...e`; JSON arrays).
    List(Vec<Value>),
    /// A dictionary (`d...e`; JSON objects).
    Dict(Dict),
}

/// An insertion-ordered dictionary.
///
/// Decoders keep duplicate keys as received (so `raw` is faithful); [`Dict::get`] returns
/// the first one, which is what rtpengine's `bencode_dictionary_get` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dict(Vec<(Key, Value)>);

/// A dictionary key. Replies are built from dozens of literal keys each; borrowing them
/// instead of copying each one to the heap saves an allocation per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Cow<'static, [u8]>);

impl Key {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&'static str> for Key {
    fn from(k: &'static str) -> Self {
        Key(Cow::Borrowed(k.as_bytes()))
    }
}

impl From<&'static [u8]> for Key {
    fn from(k: &'static [u8]) -> Self {
        Key(Cow::Borrowed(k))
    }
}

impl From<String> for Key {
    fn from(k: String) -> Self {
        Key(Cow::Owned(k.into_bytes()))
    }
}

impl From<Vec<u8>> for Key {
    fn from(k: Vec<u8>) -> Self {
        Key(Cow::Owned(k))
    }
}

impl Dict {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty dictionary with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_bytes(key.as_bytes())
    }

    /// Like [`Dict::get`] for a key that is not UTF-8.
    pub fn get_bytes(&self, key: &[u8]) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, v)| v)
    }

    /// Replaces the first entry named `key` in place, or appends one.
    pub fn insert(&mut self, key: impl Into<Key>, v: impl Into<Value>) {
        let key = key.into();
        let v = v.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = v,
            None => self.0.push((key, v)),
        }
    }

    /// Appends an entry even if the key exists; decoders use this to keep duplicates.
    pub fn push(&mut self, key: impl Into<Key>, v: impl Into<Value>) {
        self.0.push((key.into(), v.into()));
    }

    /// Removes and returns the first entry named `key`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .0
            .iter()
            .position(|(k, _)| k.as_bytes() == key.as_bytes())?;
        Some(self.0.remove(pos).1)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Value)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_bytes(), v))
    }

    /// Number of entries, duplicates included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(Vec<u8>, Value)> for Dict {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Value)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (Key::from(k), v)).collect())
    }
}

impl Value {
    /// The string, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Bytes(s.into_bytes())
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bytes(b.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u64> for Value {
    /// Saturates at `i64::MAX`: bencode integers are signed 64-bit in rtpengine.
    fn from(u: u64) -> Self {
        Value::Int(i64::try_from(u).unwrap_or(i64::MAX))
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut d = Dict::new();
        d.insert("sdp", "v=0");
        d.insert("result", "ok");
        d.insert("sdp", "v=1");
        let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"sdp".as_slice(), b"result".as_slice()]);
        assert_eq!(d.get("sdp").and_then(Value::as_str), Some("v=1"));
    }

    #[test]
    fn get_returns_first_duplicate() {
        let mut d = Dict::new();
        d.push("command", "ping");
        d.push("command", "offer");
        assert_eq!(d.get("command").and_then(Value::as_str), Some("ping"));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn accessors_reject_other_types() {
        let v = Value::from(5i64);
        assert_eq!(v.as_int(), Some(5));
        assert!(v.as_str().is_none() && v.as_list().is_none() && v.as_dict().is_none());
        assert_eq!(Value::from(u64::MAX), Value::Int(i64::MAX));
        assert!(Value::Bytes(vec![0xff]).as_str().is_none());
    }
}
