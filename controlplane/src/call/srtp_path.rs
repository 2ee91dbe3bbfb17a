//! SRTP on the control plane's own media path, and the keys and indices it hands
//! the flow table.
//!
//! A packet from party X to party Y is decrypted with the key X put in its SDP
//! and encrypted with the key we put in the SDP we sent Y (see
//! [`crate::sdes::MediaCrypto`]). Where both are the same key (SDES passthrough,
//! which rtpengine arranges whenever both sides share a suite) the packet
//! needs nothing, as in rtpengine. The work is kept per arriving stream in an
//! [`SrtpPath`]: the same shape as a flow entry's keys, so that while the
//! control plane relays a stream (before it latches) and after the fast path
//! takes over, the packet indices carry on from one to the other.

use shared_tables::{
    FlowCrypto, SrtpCounters, SrtpKey, SRTP_UNAUTHENTICATED_SRTP, SRTP_UNENCRYPTED_SRTCP,
    SRTP_UNENCRYPTED_SRTP,
};
use srtp::{RelayIndices, SrtpError, SrtpRelay};

use crate::sdes::{MediaCrypto, SdesCrypto};

/// The keys a packet from one party to another is transformed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRefs<'a> {
    /// Decrypts what the sender sent us.
    pub inbound: Option<&'a SdesCrypto>,
    /// Encrypts what we send the recipient.
    pub outbound: Option<&'a SdesCrypto>,
}

impl<'a> KeyRefs<'a> {
    /// The transform from a party with keys `from` to one with `to`, or `None`
    /// when packets pass unchanged: both sides plain, the same key on both
    /// sides, or an SRTP side whose keys we do not know (DTLS-SRTP, which
    /// rtpbolt does not terminate), where decrypting or encrypting would only
    /// garble what the endpoints may still understand.
    pub fn between(from: MediaCrypto<'a>, to: MediaCrypto<'a>) -> Option<KeyRefs<'a>> {
        if (from.srtp && from.from_party.is_none()) || (to.srtp && to.to_party.is_none()) {
            return None;
        }
        let refs = KeyRefs {
            inbound: from.from_party,
            outbound: to.to_party,
        };
        match (refs.inbound, refs.outbound) {
            (None, None) => None,
            (Some(i), Some(o)) if same_key(i, o) => None,
            _ => Some(refs),
        }
    }

    fn owned(self) -> OwnedKeys {
        OwnedKeys {
            inbound: self.inbound.cloned(),
            outbound: self.outbound.cloned(),
        }
    }
}

/// Whether two SDES lines protect packets identically (tags do not matter).
fn same_key(a: &SdesCrypto, b: &SdesCrypto) -> bool {
    a.suite == b.suite && a.key_salt == b.key_salt && a.mki == b.mki && a.flags == b.flags
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct OwnedKeys {
    inbound: Option<SdesCrypto>,
    outbound: Option<SdesCrypto>,
}

/// Why the control plane did not relay a packet of an SRTP path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A key is one rtpbolt cannot use (an MKI longer than 4 bytes).
    #[error("SRTP key unusable: {0}")]
    UnusableKey(SrtpError),
    #[error(transparent)]
    Srtp(#[from] SrtpError),
}

/// The SRTP state of one arriving stream towards its recipient (see the
/// module doc): the keys as the flow table holds them and the relay built from
/// them, which the data plane's workers build from the same table keys.
pub struct SrtpPath {
    keys: OwnedKeys,
    /// The table keys and the relay, or why a key cannot be used.
    relay: Result<(TableKeys, SrtpRelay), SrtpError>,
}

#[derive(Clone, Copy)]
struct TableKeys {
    inbound: Option<SrtpKey>,
    outbound: Option<SrtpKey>,
}

/// Keys stay out of logs.
impl std::fmt::Debug for SrtpPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpPath")
            .field("inbound", &self.keys.inbound)
            .field("outbound", &self.keys.outbound)
            .finish_non_exhaustive()
    }
}

impl SrtpPath {
    /// A path for `keys`, with fresh packet indices.
    pub fn new(keys: KeyRefs<'_>) -> SrtpPath {
        let keys = keys.owned();
        let relay = relay_for(&keys);
        SrtpPath { keys, relay }
    }

    /// Whether this path was built for `keys`.
    pub fn is_for(&self, keys: KeyRefs<'_>) -> bool {
        self.keys.inbound.as_ref() == keys.inbound && self.keys.outbound.as_ref() == keys.outbound
    }

    /// Decrypts and/or encrypts one packet; `rtcp` for SRTCP.
    pub fn transform(&mut self, rtcp: bool, data: &[u8]) -> Result<Vec<u8>, PathError> {
        let (_, relay) = self
            .relay
            .as_mut()
            .map_err(|e| PathError::UnusableKey(*e))?;
        let mut buf = data.to_vec();
        buf.resize(data.len() + relay.max_growth(), 0);
        let len = relay.transform(rtcp, &mut buf, data.len())?;
        buf.truncate(len);
        Ok(buf)
    }

    /// The keys and indices for the stream's flow entry, or `None` if a key is
    /// one the fast path cannot carry (the stream then stays with us).
    pub fn flow_crypto(&self) -> Option<FlowCrypto> {
        let (table, relay) = self.relay.as_ref().ok()?;
        let at = relay.indices();
        Some(FlowCrypto {
            generation: 0,
            inbound: table.inbound,
            outbound: table.outbound,
            in_index: at.in_index,
            out_index: at.out_index,
            out_rtcp_index: u64::from(at.out_rtcp_next),
        })
    }

    /// Makes `new` (or, if `None`, the current path) the stream's path in
    /// `slot`, continuing where the current path and the fast path (`progress`,
    /// what it published for the stream's entry) got to: a re-keyed path keeps
    /// the indices of the half whose key did not change, since that far end's
    /// stream goes on; the half with a new key starts a new stream.
    pub fn install(
        slot: &mut Option<Box<SrtpPath>>,
        new: Option<Box<SrtpPath>>,
        progress: Option<&SrtpCounters>,
    ) {
        if let (Some(old), Some(c)) = (slot.as_mut(), progress) {
            old.absorb(c);
        }
        let Some(mut new) = new else { return };
        if let Some(old) = slot.as_deref() {
            new.carry_on_from(old);
        }
        *slot = Some(new);
    }

    fn carry_on_from(&mut self, old: &SrtpPath) {
        let (Ok((_, relay)), Ok((_, old_relay))) = (self.relay.as_mut(), old.relay.as_ref()) else {
            return;
        };
        let unchanged = |a: &Option<SdesCrypto>, b: &Option<SdesCrypto>| match (a, b) {
            (Some(a), Some(b)) => same_key(a, b),
            _ => false,
        };
        let was = old_relay.indices();
        let inbound = unchanged(&self.keys.inbound, &old.keys.inbound);
        let outbound = unchanged(&self.keys.outbound, &old.keys.outbound);
        relay.advance_to(RelayIndices {
            in_index: was.in_index.filter(|_| inbound),
            out_index: was.out_index.filter(|_| outbound),
            out_rtcp_next: if outbound { was.out_rtcp_next } else { 0 },
            in_ssrc: was.in_ssrc.filter(|_| inbound),
            out_ssrc: was.out_ssrc.filter(|_| outbound),
        });
    }

    /// Continues from where the fast path got to with this stream, so that
    /// packets we relay after it hands the stream back neither reuse an
    /// index (keystream) nor look like replays.
    pub fn absorb(&mut self, c: &SrtpCounters) {
        if let Ok((_, relay)) = self.relay.as_mut() {
            relay.advance_to(RelayIndices {
                in_index: c.in_index,
                out_index: c.out_index,
                out_rtcp_next: c
                    .out_rtcp_index
                    .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
                in_ssrc: c.in_ssrc,
                out_ssrc: c.out_ssrc,
            });
        }
    }
}

/// The table keys of `keys` and a relay built from them.
fn relay_for(keys: &OwnedKeys) -> Result<(TableKeys, SrtpRelay), SrtpError> {
    let table = TableKeys {
        inbound: keys.inbound.as_ref().map(table_key).transpose()?,
        outbound: keys.outbound.as_ref().map(table_key).transpose()?,
    };
    let session = |k: &Option<SrtpKey>| k.as_ref().map(dataplane::srtp::session).transpose();
    let relay = SrtpRelay::new(
        session(&table.inbound)?,
        session(&table.outbound)?,
        RelayIndices::default(),
    );
    Ok((table, relay))
}

/// A key as the flow table stores it, which is also what both planes build
/// their sessions from. Fails for an MKI longer than the table's 4 bytes.
fn table_key(k: &SdesCrypto) -> Result<SrtpKey, SrtpError> {
    let m = srtp::MasterKey::from_inline(k.suite, &k.key_salt)?;
    let mki = match k.mki {
        None => None,
        Some(mki) => {
            let len = u8::try_from(mki.len)
                .ok()
                .filter(|l| (1..=4).contains(l))
                .ok_or(SrtpError::InvalidMki {
                    value: mki.value,
                    len: u8::try_from(mki.len).unwrap_or(u8::MAX),
                })?;
            Some((mki.value, len))
        }
    };
    let f = k.flags;
    let params = [
        (f.unencrypted_srtp, SRTP_UNENCRYPTED_SRTP),
        (f.unencrypted_srtcp, SRTP_UNENCRYPTED_SRTCP),
        (f.unauthenticated_srtp, SRTP_UNAUTHENTICATED_SRTP),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit);
    Ok(SrtpKey {
        suite: m.suite.to_id(),
        params,
        kdr: m.kdr,
        mki,
        key: m.key,
        salt: m.salt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdes::SessionFlags as SdesFlags;
    use srtp::SrtpSuite;

    fn key(fill: u8) -> SdesCrypto {
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        SdesCrypto {
            tag: 1,
            suite,
            key_salt: vec![fill; suite.key_salt_len()],
            mki: None,
            flags: SdesFlags::default(),
            lifetime: None,
        }
    }

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend(ssrc.to_be_bytes());
        p.extend([0x55; 160]);
        p
    }

    fn crypto<'a>(
        srtp: bool,
        from: Option<&'a SdesCrypto>,
        to: Option<&'a SdesCrypto>,
    ) -> MediaCrypto<'a> {
        MediaCrypto {
            srtp,
            from_party: from,
            to_party: to,
        }
    }

    #[test]
    fn which_packets_need_work() {
        let (a, b) = (key(1), key(2));
        let plain = crypto(false, None, None);
        assert_eq!(KeyRefs::between(plain, plain), None);
        // SDES passthrough: the sender's key is the one we gave the recipient.
        let same = KeyRefs::between(crypto(true, Some(&a), None), crypto(true, None, Some(&a)));
        assert_eq!(same, None);
        let rekey = KeyRefs::between(crypto(true, Some(&a), None), crypto(true, None, Some(&b)));
        assert_eq!(
            rekey,
            Some(KeyRefs {
                inbound: Some(&a),
                outbound: Some(&b)
            })
        );
        // DTLS-SRTP (no SDES keys) on either side: relayed as is.
        assert_eq!(
            KeyRefs::between(crypto(true, None, None), crypto(true, None, Some(&b))),
            None
        );
        assert!(KeyRefs::between(plain, crypto(true, None, Some(&b))).is_some());
    }

    #[test]
    fn rtp_to_srtp_to_rtp_and_indices_for_the_table() {
        let k = key(7);
        let mut enc = SrtpPath::new(KeyRefs {
            inbound: None,
            outbound: Some(&k),
        });
        let mut dec = SrtpPath::new(KeyRefs {
            inbound: Some(&k),
            outbound: None,
        });
        for seq in [65534u16, 65535, 0, 1] {
            let srtp = enc.transform(false, &rtp(9, seq)).unwrap();
            assert_eq!(srtp.len(), rtp(9, seq).len() + 10);
            assert_eq!(dec.transform(false, &srtp).unwrap(), rtp(9, seq));
        }
        let fc = enc.flow_crypto().unwrap();
        assert_eq!((fc.in_index, fc.out_index), (None, Some(1 << 16 | 1)));
        assert_eq!(
            fc.outbound.unwrap().suite,
            SrtpSuite::AesCm128HmacSha1_80.to_id()
        );
        let fc = dec.flow_crypto().unwrap();
        assert_eq!(fc.in_index, Some(1 << 16 | 1));

        // Tampered and replayed packets are refused.
        let srtp = enc.transform(false, &rtp(9, 2)).unwrap();
        let replay = srtp;
        assert!(dec.transform(false, &replay).is_ok());
        assert!(matches!(
            dec.transform(false, &replay),
            Err(PathError::Srtp(SrtpError::Replay { .. }))
        ));
        let mut srtp = enc.transform(false, &rtp(9, 3)).unwrap();
        srtp[20] ^= 1;
        assert_eq!(
            dec.transform(false, &srtp),
            Err(PathError::Srtp(SrtpError::AuthFailed))
        );

        // After the fast path sent further, we continue past it.
        enc.absorb(&SrtpCounters {
            out_index: Some(1 << 16 | 500),
            out_rtcp_index: Some(9),
            ..SrtpCounters::default()
        });
        let fc = enc.flow_crypto().unwrap();
        assert_eq!((fc.out_index, fc.out_rtcp_index), (Some(1 << 16 | 500), 9));
    }

    #[test]
    fn a_re_keyed_path_continues_only_the_half_whose_key_stayed() {
        let (a, b, a2) = (key(1), key(2), key(3));
        let mut slot = Some(Box::new(SrtpPath::new(KeyRefs {
            inbound: None,
            outbound: Some(&b),
        })));
        let old = slot.as_mut().unwrap();
        for seq in [65535u16, 0] {
            old.transform(false, &rtp(4, seq)).unwrap();
        }
        // The fast path took the stream further meanwhile.
        let progress = SrtpCounters {
            out_index: Some(1 << 16 | 40),
            out_rtcp_index: Some(3),
            ..SrtpCounters::default()
        };
        // The sender turns to SRTP with key a; our key to the recipient stays b.
        let new = SrtpPath::new(KeyRefs {
            inbound: Some(&a),
            outbound: Some(&b),
        });
        SrtpPath::install(&mut slot, Some(Box::new(new)), Some(&progress));
        let fc = slot.as_ref().unwrap().flow_crypto().unwrap();
        assert_eq!(
            (fc.in_index, fc.out_index, fc.out_rtcp_index),
            (None, Some(1 << 16 | 40), 3)
        );
        // A new key to the recipient: a new stream there.
        let new = SrtpPath::new(KeyRefs {
            inbound: Some(&a),
            outbound: Some(&a2),
        });
        SrtpPath::install(&mut slot, Some(Box::new(new)), None);
        let fc = slot.as_ref().unwrap().flow_crypto().unwrap();
        assert_eq!((fc.out_index, fc.out_rtcp_index), (None, 0));
    }

    #[test]
    fn an_mki_too_long_for_us_is_refused_not_garbled() {
        let mut k = key(3);
        k.mki = Some(crate::sdp::crypto::Mki::new(1, 8));
        let mut p = SrtpPath::new(KeyRefs {
            inbound: None,
            outbound: Some(&k),
        });
        assert!(matches!(
            p.transform(false, &rtp(1, 1)),
            Err(PathError::UnusableKey(_))
        ));
        assert_eq!(p.flow_crypto(), None);
    }
}
