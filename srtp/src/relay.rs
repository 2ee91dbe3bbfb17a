//! One direction of a relayed SRTP call: what the sender sends is unprotected with
//! the sender's key and protected again with the recipient's, with the stream state
//! both halves need. The control plane's userspace path and the data plane's
//! workers relay with this same type, so a stream handed from one to the other
//! carries on where it was ([`RelayIndices`]).
//!
//! A relayed call has one SSRC per direction, so one stream state per half is
//! kept. A new SSRC is a new stream: its first packet starts the state afresh
//! (RFC 3711 §3.3.1), and since the relay forwards it unchanged it is a new
//! stream to the recipient as well.

use crate::{RtcpStreamState, RtpStreamState, SrtpError, SrtpSession};

/// Where a relay's packet indices stand: what a hand-over between the control
/// plane and the fast path carries so that keystream is never reused and the
/// receiver sees no replays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayIndices {
    /// Highest SRTP index accepted from the sender, if any.
    pub in_index: Option<u64>,
    /// Highest SRTP index sent to the recipient, if any.
    pub out_index: Option<u64>,
    /// The next SRTCP index to send to the recipient.
    pub out_rtcp_next: u32,
    /// The SSRC `in_index` belongs to, if known: a packet of another SSRC is a
    /// new stream.
    pub in_ssrc: Option<u32>,
    /// The SSRC `out_index` belongs to, if known.
    pub out_ssrc: Option<u32>,
}

/// One direction of a relayed call (see the module doc).
#[derive(Clone)]
pub struct SrtpRelay {
    inbound: Option<SrtpSession>,
    outbound: Option<SrtpSession>,
    in_ssrc: Option<u32>,
    out_ssrc: Option<u32>,
    in_rtp: RtpStreamState,
    in_rtcp: RtcpStreamState,
    out_rtp: RtpStreamState,
    out_rtcp: RtcpStreamState,
}

/// Keys stay out of logs.
impl std::fmt::Debug for SrtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpRelay")
            .field("inbound", &self.inbound.as_ref().map(SrtpSession::suite))
            .field("outbound", &self.outbound.as_ref().map(SrtpSession::suite))
            .field("indices", &self.indices())
            .finish_non_exhaustive()
    }
}

impl SrtpRelay {
    /// A relay that unprotects with `inbound` (if the sender sends SRTP) and
    /// protects with `outbound` (if the recipient expects SRTP), continuing from
    /// `at`.
    pub fn new(
        inbound: Option<SrtpSession>,
        outbound: Option<SrtpSession>,
        at: RelayIndices,
    ) -> SrtpRelay {
        SrtpRelay {
            inbound,
            outbound,
            in_ssrc: at.in_ssrc,
            out_ssrc: at.out_ssrc,
            in_rtp: RtpStreamState::at_index(at.in_index),
            in_rtcp: RtcpStreamState::default(),
            out_rtp: RtpStreamState::at_index(at.out_index),
            out_rtcp: RtcpStreamState::new(at.out_rtcp_next),
        }
    }

    /// Whether arriving packets are unprotected.
    pub fn decrypts(&self) -> bool {
        self.inbound.is_some()
    }

    /// Whether leaving packets are protected.
    pub fn encrypts(&self) -> bool {
        self.outbound.is_some()
    }

    /// How much a packet may grow (MKI and tag of the outbound key).
    pub fn max_growth(&self) -> usize {
        self.outbound
            .as_ref()
            .map_or(0, |s| s.rtp_overhead().max(s.rtcp_overhead()))
    }

    /// Where the indices stand now.
    pub fn indices(&self) -> RelayIndices {
        RelayIndices {
            in_index: self.in_rtp.packet_index(),
            out_index: self.out_rtp.packet_index(),
            out_rtcp_next: self.out_rtcp.next_index(),
            in_ssrc: self.in_ssrc,
            out_ssrc: self.out_ssrc,
        }
    }

    /// Moves the indices on to `at` where it is further than this relay got (what
    /// another relay of the same stream did meanwhile), with the SSRC they belong
    /// to; never back.
    pub fn advance_to(&mut self, at: RelayIndices) {
        if at.in_index > self.in_rtp.packet_index() {
            self.in_rtp = RtpStreamState::at_index(at.in_index);
            self.in_ssrc = at.in_ssrc.or(self.in_ssrc);
        }
        if at.out_index > self.out_rtp.packet_index() {
            self.out_rtp = RtpStreamState::at_index(at.out_index);
            self.out_ssrc = at.out_ssrc.or(self.out_ssrc);
        }
        if at.out_rtcp_next > self.out_rtcp.next_index() {
            self.out_rtcp = RtcpStreamState::new(at.out_rtcp_next);
        }
    }

    /// Relays the packet `buf[..len]` in place (SRTCP when `rtcp`): unprotects it
    /// if the sender's side is SRTP, protects it if the recipient's is. `buf`
    /// beyond `len` is room for the outgoing MKI and tag. Returns the new length.
    pub fn transform(
        &mut self,
        rtcp: bool,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SrtpError> {
        let mut len = len;
        if let Some(session) = &self.inbound {
            let capacity = buf.len();
            let packet = buf.get_mut(..len).ok_or(SrtpError::BufferTooSmall {
                need: len,
                capacity,
            })?;
            len = if rtcp {
                session.unprotect_rtcp(&mut self.in_rtcp, packet)?
            } else {
                let ssrc = rtp_ssrc(packet);
                match (self.in_ssrc, ssrc) {
                    (Some(cur), Some(new)) if cur != new => {
                        self.in_ssrc = ssrc;
                        self.in_rtp = RtpStreamState::default();
                        session.unprotect_rtp(&mut self.in_rtp, packet)?
                    }
                    (None, Some(_)) => {
                        // Indices handed over belong to the stream they came from.
                        // A different stream (new SSRC, or new keys after a re-key)
                        // starts its own state: try that when they refuse the packet.
                        self.in_ssrc = ssrc;
                        match session.unprotect_rtp(&mut self.in_rtp, packet) {
                            Err(SrtpError::AuthFailed | SrtpError::Replay { .. })
                                if self.in_rtp.is_initialised() =>
                            {
                                let mut fresh = RtpStreamState::default();
                                let n = session.unprotect_rtp(&mut fresh, packet)?;
                                self.in_rtp = fresh;
                                self.out_rtp = RtpStreamState::default();
                                n
                            }
                            r => r?,
                        }
                    }
                    _ => session.unprotect_rtp(&mut self.in_rtp, packet)?,
                }
            };
        }
        if let Some(session) = &self.outbound {
            len = if rtcp {
                session.protect_rtcp(&mut self.out_rtcp, buf, len)?
            } else {
                // The recipient starts a new SSRC's rollover counter at zero; so must we.
                let ssrc = buf.get(..len).and_then(rtp_ssrc);
                if ssrc.is_some() {
                    if self.out_ssrc.is_some() && ssrc != self.out_ssrc {
                        self.out_rtp = RtpStreamState::default();
                    }
                    self.out_ssrc = ssrc;
                }
                session.protect_rtp(&mut self.out_rtp, buf, len)?
            };
        }
        Ok(len)
    }
}

fn rtp_ssrc(packet: &[u8]) -> Option<u32> {
    let b: [u8; 4] = packet.get(8..12)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MasterKey, SessionFlags, SrtpSuite};

    const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

    fn session(fill: u8) -> SrtpSession {
        let master = MasterKey::from_inline(SUITE, &[fill; 30]).expect("valid length");
        SrtpSession::new(&master, SessionFlags::default()).expect("valid key")
    }

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend(ssrc.to_be_bytes());
        p.extend((0..160).map(|i| (i as u8) ^ (seq as u8)));
        p
    }

    fn relay(r: &mut SrtpRelay, rtcp: bool, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + r.max_growth(), 0);
        let n = r.transform(rtcp, &mut buf, packet.len())?;
        buf.truncate(n);
        Ok(buf)
    }

    #[test]
    fn re_keys_across_a_rollover_and_refuses_replays_and_forgeries() {
        let (a, b) = (session(1), session(2));
        let mut sender = SrtpRelay::new(None, Some(a.clone()), RelayIndices::default());
        let mut middle = SrtpRelay::new(Some(a), Some(b.clone()), RelayIndices::default());
        let mut receiver = SrtpRelay::new(Some(b), None, RelayIndices::default());
        let mut last = Vec::new();
        for seq in [65534u16, 65535, 0, 1] {
            let srtp = relay(&mut sender, false, &rtp(9, seq)).unwrap();
            last = srtp.clone();
            let rekeyed = relay(&mut middle, false, &srtp).unwrap();
            assert_ne!(rekeyed, srtp);
            assert_eq!(relay(&mut receiver, false, &rekeyed).unwrap(), rtp(9, seq));
        }
        assert_eq!(
            middle.indices(),
            RelayIndices {
                in_index: Some(1 << 16 | 1),
                out_index: Some(1 << 16 | 1),
                out_rtcp_next: 0,
                in_ssrc: Some(9),
                out_ssrc: Some(9),
            }
        );
        assert!(matches!(
            relay(&mut middle, false, &last),
            Err(SrtpError::Replay { .. })
        ));
        let mut forged = relay(&mut sender, false, &rtp(9, 2)).unwrap();
        forged[20] ^= 1;
        assert_eq!(
            relay(&mut middle, false, &forged),
            Err(SrtpError::AuthFailed)
        );
    }

    #[test]
    fn a_hand_over_continues_its_stream_and_a_new_stream_starts_afresh() {
        let (a, b) = (session(3), session(4));
        let at = RelayIndices {
            in_index: Some(3 << 16 | 100),
            out_index: Some(3 << 16 | 100),
            out_rtcp_next: 41,
            ..RelayIndices::default()
        };
        // The stream that was handed over, as both far ends have it.
        let mut tx = RtpStreamState::new(3, 100);
        let mut rx = RtpStreamState::new(3, 100);
        let mut buf = rtp(1, 101);
        let n = buf.len();
        buf.resize(n + 10, 0);
        let n = a.protect_rtp(&mut tx, &mut buf, n).unwrap();
        let mut middle = SrtpRelay::new(Some(a.clone()), Some(b.clone()), at);
        let n = middle.transform(false, &mut buf, n).unwrap();
        let n = b.unprotect_rtp(&mut rx, &mut buf[..n]).unwrap();
        assert_eq!(&buf[..n], &rtp(1, 101)[..]);
        assert_eq!(rx.roc(), 3);

        // Another stream meeting the handed-over indices starts at ROC 0 both ways.
        let mut middle = SrtpRelay::new(Some(a.clone()), Some(b.clone()), at);
        let mut tx2 = RtpStreamState::default();
        let mut rx2 = RtpStreamState::default();
        for seq in [5, 6] {
            let mut buf = rtp(2, seq);
            let n = buf.len();
            buf.resize(n + 10, 0);
            let n = a.protect_rtp(&mut tx2, &mut buf, n).unwrap();
            let n = middle.transform(false, &mut buf, n).unwrap();
            let n = b.unprotect_rtp(&mut rx2, &mut buf[..n]).unwrap();
            assert_eq!(&buf[..n], &rtp(2, seq)[..]);
        }
        assert_eq!(rx2.roc(), 0);
    }

    /// Encrypting only, a relay cannot tell a new stream from the old one by
    /// authentication: it needs the SSRC the handed-over index belongs to.
    #[test]
    fn a_known_ssrc_tells_an_encrypting_relay_that_a_stream_is_new() {
        let b = session(7);
        let at = RelayIndices {
            out_index: Some(2 << 16 | 7),
            out_ssrc: Some(1),
            ..RelayIndices::default()
        };
        let mut same = SrtpRelay::new(None, Some(b.clone()), at);
        let mut rx = RtpStreamState::new(2, 7);
        let mut out = relay(&mut same, false, &rtp(1, 8)).unwrap();
        let n = b.unprotect_rtp(&mut rx, &mut out).unwrap();
        assert_eq!(&out[..n], &rtp(1, 8)[..]);

        let mut other = SrtpRelay::new(None, Some(b.clone()), at);
        let mut rx = RtpStreamState::default();
        let mut out = relay(&mut other, false, &rtp(2, 8)).unwrap();
        let n = b.unprotect_rtp(&mut rx, &mut out).unwrap();
        assert_eq!(&out[..n], &rtp(2, 8)[..]);
        assert_eq!(rx.roc(), 0);
    }

    #[test]
    fn srtcp_continues_the_handed_over_index_and_advance_never_goes_back() {
        let b = session(5);
        let mut r = SrtpRelay::new(
            None,
            Some(b),
            RelayIndices {
                out_rtcp_next: 41,
                ..RelayIndices::default()
            },
        );
        let sr = [0x80, 200, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        let out = relay(&mut r, true, &sr).unwrap();
        let e_index = u32::from_be_bytes(out[8..12].try_into().unwrap());
        assert_eq!(e_index, 0x8000_0000 | 41);
        assert_eq!(r.indices().out_rtcp_next, 42);
        r.advance_to(RelayIndices {
            out_index: Some(500),
            out_rtcp_next: 7,
            ..RelayIndices::default()
        });
        assert_eq!(
            r.indices(),
            RelayIndices {
                in_index: None,
                out_index: Some(500),
                out_rtcp_next: 42,
                in_ssrc: None,
                out_ssrc: None,
            }
        );
    }

    #[test]
    fn short_packets_are_refused_without_disturbing_the_stream() {
        let a = session(6);
        let mut sender = SrtpRelay::new(None, Some(a.clone()), RelayIndices::default());
        let mut r = SrtpRelay::new(Some(a), None, RelayIndices::default());
        let first = relay(&mut sender, false, &rtp(7, 1)).unwrap();
        relay(&mut r, false, &first).unwrap();
        assert!(relay(&mut r, false, &[0x80; 11]).is_err());
        let second = relay(&mut sender, false, &rtp(7, 2)).unwrap();
        assert_eq!(relay(&mut r, false, &second).unwrap(), rtp(7, 2));
        assert_eq!(r.indices().in_index, Some(2));
    }
}
