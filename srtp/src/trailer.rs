//! Where the bytes protection appends sit: the SRTCP E|index word, the MKI and the tag.
//!
//! HMAC suites end with the tag, since it covers the index word (RFC 3711 §3.1, §3.4);
//! the AEAD suites put the tag right behind the ciphertext (RFC 7714 §8.1, §9.1).

use crate::error::SrtpError;

/// The sizes and order of one kind of trailer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrailerShape {
    pub(crate) aead: bool,
    /// 4 for SRTCP's E|index word, 0 for SRTP.
    pub(crate) index_len: usize,
    pub(crate) mki_len: usize,
    pub(crate) tag_len: usize,
}

/// Offsets of the trailer of one packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrailerLayout {
    /// Where the (S)RTP(C) packet proper ends and the trailer begins.
    pub(crate) payload_end: usize,
    pub(crate) index_start: usize,
    pub(crate) mki_start: usize,
    pub(crate) tag_start: usize,
    pub(crate) end: usize,
}

impl TrailerShape {
    pub(crate) fn len(&self) -> usize {
        self.index_len + self.mki_len + self.tag_len
    }

    /// The layout of a trailer appended at `payload_end`.
    pub(crate) fn at(&self, payload_end: usize) -> TrailerLayout {
        let (index_start, mki_start, tag_start) = if self.aead {
            let index_start = payload_end + self.tag_len;
            (index_start, index_start + self.index_len, payload_end)
        } else {
            let mki_start = payload_end + self.index_len;
            (payload_end, mki_start, mki_start + self.mki_len)
        };
        TrailerLayout {
            payload_end,
            index_start,
            mki_start,
            tag_start,
            end: payload_end + self.len(),
        }
    }

    /// The layout of the received packet `buf`, which must hold at least `min_packet`
    /// bytes before the trailer and carry the session's `mki`.
    pub(crate) fn locate(
        &self,
        buf: &[u8],
        min_packet: usize,
        mki: &[u8],
    ) -> Result<TrailerLayout, SrtpError> {
        let len = buf.len();
        let min = min_packet + self.len();
        if len < min {
            return Err(SrtpError::TooShort { len, min });
        }
        let layout = self.at(len - self.len());
        if buf.get(layout.mki_start..layout.mki_start + mki.len()) != Some(mki) {
            return Err(SrtpError::MkiMismatch);
        }
        Ok(layout)
    }
}

impl TrailerLayout {
    /// Writes the trailer pieces; `buf` must reach `self.end`.
    pub(crate) fn write(&self, buf: &mut [u8], index_word: &[u8], mki: &[u8], tag: &[u8]) {
        buf[self.index_start..self.index_start + index_word.len()].copy_from_slice(index_word);
        buf[self.mki_start..self.mki_start + mki.len()].copy_from_slice(mki);
        buf[self.tag_start..self.tag_start + tag.len()].copy_from_slice(tag);
    }

    /// The received tag of `len` bytes.
    pub(crate) fn tag<'a>(&self, buf: &'a [u8], len: usize) -> &'a [u8] {
        &buf[self.tag_start..self.tag_start + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_aead_orders() {
        let hmac = TrailerShape {
            aead: false,
            index_len: 4,
            mki_len: 2,
            tag_len: 10,
        };
        let layout = hmac.at(100);
        assert_eq!(
            (
                layout.index_start,
                layout.mki_start,
                layout.tag_start,
                layout.end
            ),
            (100, 104, 106, 116)
        );
        let aead = TrailerShape {
            aead: true,
            tag_len: 16,
            ..hmac
        };
        let layout = aead.at(100);
        assert_eq!(
            (
                layout.tag_start,
                layout.index_start,
                layout.mki_start,
                layout.end
            ),
            (100, 116, 120, 122)
        );
    }

    #[test]
    fn locate_checks_length_and_mki() {
        let shape = TrailerShape {
            aead: false,
            index_len: 0,
            mki_len: 1,
            tag_len: 4,
        };
        let mut packet = vec![0u8; 17];
        assert_eq!(
            shape.locate(&packet, 12, &[7]).map(|l| l.payload_end),
            Err(SrtpError::MkiMismatch)
        );
        packet[12] = 7;
        assert_eq!(
            shape.locate(&packet, 12, &[7]).map(|l| l.payload_end),
            Ok(12)
        );
        assert_eq!(
            shape.locate(&packet[..16], 12, &[7]).map(|l| l.payload_end),
            Err(SrtpError::TooShort { len: 16, min: 17 })
        );
    }
}
