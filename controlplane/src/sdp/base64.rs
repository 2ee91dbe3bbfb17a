//! Base64 (RFC 4648 section 4) for SDES key material, decoding the way
//! rtpengine 10.5 does.
//!
//! rtpengine decodes `a=crypto` keys with GLib's streaming decoder, which
//! skips characters outside the alphabet instead of failing, treats `=` as a
//! zero digit that only drops output bytes when it closes a quartet, and is
//! fed exactly as many characters as the suite's key needs. A key is then
//! valid when that yields exactly the expected number of bytes. [`decode`]
//! reproduces this so that a key rtpengine accepts (even `A=AA...`) is
//! accepted here with the same bytes.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Value of one base64 digit; `=` counts as zero (see the module docs).
fn rank(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes `input` GLib-style; a trailing partial quartet yields nothing.
pub(crate) fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let (mut acc, mut n) = (0u32, 0u8);
    // The last digit taken: `=` there or just before shortens a quartet.
    let mut last = 0u8;
    for &c in input {
        let Some(r) = rank(c) else { continue };
        let prev = std::mem::replace(&mut last, c);
        acc = (acc << 6) | r;
        n += 1;
        if n == 4 {
            let [_, b0, b1, b2] = acc.to_be_bytes();
            out.push(b0);
            if prev != b'=' {
                out.push(b1);
            }
            if last != b'=' {
                out.push(b2);
            }
            acc = 0;
            n = 0;
        }
    }
    out
}

/// [`decode`] after completing the last quartet with `=`, the way rtpengine
/// flushes GLib's decoder after a key whose length is not a multiple of 4.
pub(crate) fn decode_flushed(input: &[u8]) -> Vec<u8> {
    let mut fed = input.to_vec();
    while !fed.len().is_multiple_of(4) {
        fed.push(b'=');
    }
    decode(&fed)
}

/// Number of base64 digits that carry `len` bytes without padding.
pub(crate) fn encoded_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}

/// Standard base64 of `data`, with `=` padding only when `pad`.
pub(crate) fn encode(data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let digits = chunk.len() + 1;
        for i in 0..4 {
            if i < digits {
                let idx = usize::try_from((v >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[idx]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4648 section 10 test vectors.
    const RFC4648_VECTORS: &[(&str, &str)] = &[
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, b64) in RFC4648_VECTORS {
            assert_eq!(encode(plain.as_bytes(), true), *b64);
            assert_eq!(encode(plain.as_bytes(), false), b64.trim_end_matches('='));
            assert_eq!(decode(b64.as_bytes()), plain.as_bytes());
        }
    }

    #[test]
    fn glib_quirks() {
        // Characters outside the alphabet are skipped.
        assert_eq!(decode(b"Zm!9v"), b"foo");
        // `=` inside a quartet is a zero digit.
        assert_eq!(decode(b"A=AA"), [0, 0, 0]);
        // An incomplete quartet produces nothing.
        assert_eq!(decode(b"Zm9vY"), b"foo");
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(data in proptest::collection::vec(any::<u8>(), 0..64), pad: bool) {
            let text = encode(&data, pad);
            if !pad {
                prop_assert_eq!(text.len(), encoded_len(data.len()));
            }
            prop_assert_eq!(decode_flushed(text.as_bytes()), data);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode(&data);
        }
    }
}
