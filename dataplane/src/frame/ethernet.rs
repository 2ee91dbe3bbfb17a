//! Ethernet II header view (IEEE 802.3 clause 3.2.6 type field), with at most one
//! IEEE 802.1Q tag. A second tag (QinQ) is not looked into: its inner ethertype reads as
//! 0x8100 and the frame goes to the kernel like any other unknown type.

use super::error::{FrameError, Layer};

/// IPv4 ethertype.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// ARP ethertype (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IPv6 ethertype (RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IEEE 802.1Q tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// Untagged header length.
pub const HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const TYPE: Range<usize> = 12..14;
    /// With a tag: TCI after the TPID at `TYPE`, then the inner type.
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_TYPE: Range<usize> = 16..18;
}

/// A MAC address.
pub type Mac = [u8; 6];

/// Whether `mac` is a unicast station address (I/G bit clear, not all zero), i.e. one
/// that can be some host's own address.
#[inline]
pub fn is_unicast(mac: &Mac) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// A view of an Ethernet II frame, header length checked.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<B> {
    buf: B,
}

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl<B: AsRef<[u8]>> EthernetFrame<B> {
    /// Checks that the header (and the 802.1Q tag, if the type says there is one) fits.
    pub fn new_checked(buf: B) -> Result<Self, FrameError> {
        let f = EthernetFrame { buf };
        let have = f.buf.as_ref().len();
        let need = if have >= HEADER_LEN && be16(&f.buf.as_ref()[field::TYPE]) == ETHERTYPE_VLAN {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        };
        if have < need {
            return Err(FrameError::Truncated {
                layer: Layer::Ethernet,
                need,
                have,
            });
        }
        Ok(f)
    }

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> Mac {
        mac(&self.buf.as_ref()[field::DST])
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> Mac {
        mac(&self.buf.as_ref()[field::SRC])
    }

    /// The 802.1Q tag control information (PCP, DEI, VID), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        let b = self.buf.as_ref();
        (be16(&b[field::TYPE]) == ETHERTYPE_VLAN).then(|| be16(&b[field::TCI]))
    }

    /// The type of the payload (behind the tag, if tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let b = self.buf.as_ref();
        match be16(&b[field::TYPE]) {
            ETHERTYPE_VLAN => be16(&b[field::INNER_TYPE]),
            t => t,
        }
    }

    /// Header length including the tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        match self.vlan_tci() {
            Some(_) => HEADER_LEN + VLAN_TAG_LEN,
            None => HEADER_LEN,
        }
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
}

#[inline]
fn mac(b: &[u8]) -> Mac {
    let mut m = [0; 6];
    m.copy_from_slice(b);
    m
}

/// Header length of a frame with or without a tag.
#[inline]
pub fn header_len(vlan_tci: Option<u16>) -> usize {
    HEADER_LEN + vlan_tci.map_or(0, |_| VLAN_TAG_LEN)
}

/// Writes an Ethernet header (with the tag if `vlan_tci` is set) at the start of `buf`.
///
/// # Panics
/// If `buf` is shorter than [`header_len`]`(vlan_tci)`.
#[inline]
pub fn emit(buf: &mut [u8], dst: &Mac, src: &Mac, vlan_tci: Option<u16>, ethertype: u16) {
    buf[field::DST].copy_from_slice(dst);
    buf[field::SRC].copy_from_slice(src);
    match vlan_tci {
        Some(tci) => {
            buf[field::TYPE].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            buf[field::TCI].copy_from_slice(&tci.to_be_bytes());
            buf[field::INNER_TYPE].copy_from_slice(&ethertype.to_be_bytes());
        }
        None => buf[field::TYPE].copy_from_slice(&ethertype.to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An untagged IPv4 frame header: dst 02:00:00:00:00:01, src 02:00:00:00:00:02.
    const UNTAGGED: [u8; 14] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    /// The same with VLAN 100, PCP 5 (TCI 0xa064), carrying IPv6.
    const TAGGED: [u8; 18] = [
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0xa0, 0x64, 0x86, 0xdd,
    ];

    #[test]
    fn deconstruct() {
        let f = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.src(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(
            (f.ethertype(), f.vlan_tci(), f.header_len()),
            (0x0800, None, 14)
        );
        let t = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(
            (t.ethertype(), t.vlan_tci()),
            (ETHERTYPE_IPV6, Some(0xa064))
        );
        assert_eq!((t.header_len(), t.payload().len()), (18, 0));
    }

    #[test]
    fn truncated_at_every_length() {
        for n in 0..14 {
            assert!(EthernetFrame::new_checked(&UNTAGGED[..n]).is_err(), "{n}");
        }
        for n in 0..18 {
            assert_eq!(
                EthernetFrame::new_checked(&TAGGED[..n]).err(),
                Some(FrameError::Truncated {
                    layer: Layer::Ethernet,
                    need: if n < 14 { 14 } else { 18 },
                    have: n
                })
            );
        }
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 18];
        emit(
            &mut b,
            &[2, 0, 0, 0, 0, 1],
            &[2, 0, 0, 0, 0, 2],
            Some(0xa064),
            0x86dd,
        );
        assert_eq!(b, TAGGED);
        let mut b = [0u8; 14];
        emit(
            &mut b,
            &[2, 0, 0, 0, 0, 1],
            &[2, 0, 0, 0, 0, 2],
            None,
            0x0800,
        );
        assert_eq!(b, UNTAGGED);
    }

    #[test]
    fn unicast() {
        assert!(is_unicast(&[2, 0, 0, 0, 0, 1]));
        assert!(!is_unicast(&[0xff; 6]));
        assert!(!is_unicast(&[0x01, 0, 0x5e, 0, 0, 1]));
        assert!(!is_unicast(&[0; 6]));
    }
}
