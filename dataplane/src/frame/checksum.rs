//! The Internet checksum (RFC 1071): ones'-complement sum of 16-bit big-endian words.
//!
//! The sum is byte-order independent (RFC 1071 §2(B)): summing native-endian words and
//! swapping the folded result gives the big-endian sum, so [`sum`] reads 4-byte native
//! words into a 64-bit accumulator (no carry handling per word, and a loop the compiler
//! vectorises) and swaps once at the end.
//!
//! Results here are folded big-endian sums, combined with [`combine`] and turned into the
//! header field with [`finish`].

use std::net::IpAddr;

/// IP protocol number of UDP (IANA), also the IPv6 next header value.
pub const PROTO_UDP: u8 = 17;

/// Folds a wide ones'-complement accumulator to 16 bits (end-around carries).
#[inline]
fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The folded sum of `data` as big-endian 16-bit words, an odd last byte padded with a
/// zero byte (RFC 1071 §4.1). `data` must start on a word boundary of what is summed.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut b = [0u8; 4];
        b.copy_from_slice(w);
        acc += u64::from(u32::from_ne_bytes(b));
    }
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_ne_bytes(tail));
    u16::from_be(fold(acc))
}

/// Ones'-complement sum of already folded sums and big-endian header words.
#[inline]
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| u64::from(p)).sum())
}

/// Ones'-complement sum of 32-bit numbers (each standing for its two big-endian 16-bit
/// halves: 2^16 ≡ 1 modulo 0xffff), folded.
#[inline]
pub fn combine32(words: &[u32]) -> u16 {
    fold(words.iter().map(|&w| u64::from(w)).sum())
}

/// The folded sum of the UDP pseudo-header (RFC 768; RFC 8200 §8.1 for IPv6) for a UDP
/// length `udp_len`. `src` and `dst` must be of one family.
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, udp_len: u16) -> u16 {
    // Addresses are added as 32-bit numbers: 2^16 ≡ 1 modulo 0xffff, so a 32-bit word
    // folds to the sum of its two 16-bit halves.
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => u64::from(s.to_bits()) + u64::from(d.to_bits()),
        (s, d) => words(v6_bits(s)) + words(v6_bits(d)),
    };
    // The IPv6 pseudo-header's 32-bit length and next-header fields sum to the same
    // words as IPv4's zero/protocol/length for lengths below 64 KiB.
    fold(addrs + u64::from(PROTO_UDP) + u64::from(udp_len))
}

/// The four 32-bit words of an IPv6 address, added.
#[inline]
fn words(v: u128) -> u64 {
    u64::from(v as u32)
        + u64::from((v >> 32) as u32)
        + u64::from((v >> 64) as u32)
        + u64::from((v >> 96) as u32)
}

#[inline]
fn v6_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// The checksum field for a folded sum of everything covered (with the field zero).
#[inline]
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// A UDP checksum field for a folded sum: as [`finish`], but a computed zero is sent as
/// all ones, since zero means "no checksum" (RFC 768).
#[inline]
pub fn finish_udp(sum: u16) -> u16 {
    match !sum {
        0 => 0xffff,
        c => c,
    }
}

/// Whether a folded sum over everything covered, checksum field included, verifies.
#[inline]
pub fn verifies(sum: u16) -> bool {
    sum == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The straightforward RFC 1071 definition, word by word, to compare against.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for w in data.chunks(2) {
            let word = u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    /// RFC 1071 §3 example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
    const RFC1071_EXAMPLE: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    #[test]
    fn rfc1071_example() {
        assert_eq!(sum(&RFC1071_EXAMPLE), 0xddf2);
        assert_eq!(finish(sum(&RFC1071_EXAMPLE)), !0xddf2);
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn pseudo_header_is_the_sum_of_its_words() {
        let (s4, d4) = ([192, 0, 2, 1], [198, 51, 100, 7]);
        let mut v4 = [0u8; 12];
        v4[..4].copy_from_slice(&s4);
        v4[4..8].copy_from_slice(&d4);
        v4[9] = PROTO_UDP;
        v4[10..].copy_from_slice(&300u16.to_be_bytes());
        assert_eq!(pseudo_header(s4.into(), d4.into(), 300), reference(&v4));
        let s6: std::net::Ipv6Addr = "2001:db8::ffff:1".parse().unwrap();
        let d6: std::net::Ipv6Addr = "fe80::1:2:3:4".parse().unwrap();
        let mut v6 = [0u8; 40];
        v6[..16].copy_from_slice(&s6.octets());
        v6[16..32].copy_from_slice(&d6.octets());
        v6[34..36].copy_from_slice(&300u16.to_be_bytes());
        v6[39] = PROTO_UDP;
        assert_eq!(pseudo_header(s6.into(), d6.into(), 300), reference(&v6));
    }

    #[test]
    fn udp_zero_is_sent_as_ones() {
        assert_eq!(finish_udp(0xffff), 0xffff);
        assert_eq!(finish_udp(0x1234), !0x1234);
    }

    proptest! {
        // Both sides are "total mod 0xffff, in 1..=0xffff unless every byte is zero", so
        // they agree exactly (no +0/-0 ambiguity).
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&data), reference(&data));
        }

        #[test]
        fn sums_of_parts_split_on_words_combine(data in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..150) {
            let cut = (cut * 2).min(data.len());
            prop_assert_eq!(sum(&data), combine(&[sum(&data[..cut]), sum(&data[cut..])]));
        }
    }
}
