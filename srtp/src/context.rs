//! A session with its own per-SSRC states, for the userspace path.

use crate::error::SrtpError;
use crate::rtcp::RtcpStreamState;
use crate::rtp::RtpStreamState;
use crate::session::{MasterKey, SessionFlags, SrtpSession};

/// How many SSRCs one context tracks before it forgets the least recently used.
/// A media stream rarely carries more than a couple (main, RTX, FEC).
pub const CONTEXT_SSRC_SLOTS: usize = 8;

/// The SRTP and SRTCP state of one SSRC.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct SsrcStates {
    pub rtp: RtpStreamState,
    pub rtcp: RtcpStreamState,
}

#[derive(Clone, Copy, Default, Debug)]
struct Slot {
    ssrc: u32,
    states: SsrcStates,
    /// 0 for a free slot, otherwise when it was last used: the LRU order.
    last_used: u64,
}

/// An [`SrtpSession`] plus a fixed array of per-SSRC states.
///
/// No allocation per packet. An SSRC gets a slot only once a packet of it was
/// protected or authenticated, so forged packets with made-up SSRCs cannot push
/// genuine streams out.
#[derive(Clone, Debug)]
pub struct SrtpContext {
    session: SrtpSession,
    slots: [Slot; CONTEXT_SSRC_SLOTS],
    clock: u64,
}

impl SrtpContext {
    pub fn new(master: &MasterKey, flags: SessionFlags) -> Result<Self, SrtpError> {
        Ok(Self::from_session(SrtpSession::new(master, flags)?))
    }

    pub fn from_session(session: SrtpSession) -> Self {
        SrtpContext {
            session,
            slots: [Slot::default(); CONTEXT_SSRC_SLOTS],
            clock: 0,
        }
    }

    pub fn session(&self) -> &SrtpSession {
        &self.session
    }

    /// The states kept for `ssrc`, if it has a slot.
    pub fn state_for(&self, ssrc: u32) -> Option<&SsrcStates> {
        self.slots
            .iter()
            .find(|slot| slot.last_used != 0 && slot.ssrc == ssrc)
            .map(|slot| &slot.states)
    }

    /// Sets the states of `ssrc`, e.g. a ROC learnt elsewhere; takes a slot if needed.
    pub fn set_state(&mut self, ssrc: u32, states: SsrcStates) {
        let slot = self.slot_for(ssrc);
        self.clock += 1;
        *slot_mut(&mut self.slots, slot) = Slot {
            ssrc,
            states,
            last_used: self.clock,
        };
    }

    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let ssrc = buf.get(..len).and_then(|packet| ssrc_at(packet, 8));
        self.with_states(ssrc, |session, states| {
            session.protect_rtp(&mut states.rtp, buf, len)
        })
    }

    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let ssrc = ssrc_at(buf, 8);
        self.with_states(ssrc, |session, states| {
            session.unprotect_rtp(&mut states.rtp, buf)
        })
    }

    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let ssrc = buf.get(..len).and_then(|packet| ssrc_at(packet, 4));
        self.with_states(ssrc, |session, states| {
            session.protect_rtcp(&mut states.rtcp, buf, len)
        })
    }

    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let ssrc = ssrc_at(buf, 4);
        self.with_states(ssrc, |session, states| {
            session.unprotect_rtcp(&mut states.rtcp, buf)
        })
    }

    /// Runs `operation` on the states of `ssrc`, or on fresh ones that take a slot only
    /// if it succeeds. Without an SSRC (a packet too short to carry one) the operation
    /// still runs on fresh states, to report the session's error for the packet.
    fn with_states<R>(
        &mut self,
        ssrc: Option<u32>,
        operation: impl FnOnce(&SrtpSession, &mut SsrcStates) -> Result<R, SrtpError>,
    ) -> Result<R, SrtpError> {
        let Some(ssrc) = ssrc else {
            return operation(&self.session, &mut SsrcStates::default());
        };
        let existing = self
            .slots
            .iter()
            .position(|slot| slot.last_used != 0 && slot.ssrc == ssrc);
        let mut states = existing.map_or_else(SsrcStates::default, |slot| self.slots[slot].states);
        let result = operation(&self.session, &mut states)?;
        let slot = existing.unwrap_or_else(|| self.slot_for(ssrc));
        self.clock += 1;
        *slot_mut(&mut self.slots, slot) = Slot {
            ssrc,
            states,
            last_used: self.clock,
        };
        Ok(result)
    }

    /// The slot of `ssrc`, else a free one, else the least recently used.
    fn slot_for(&self, ssrc: u32) -> usize {
        let mut chosen = 0;
        for (position, slot) in self.slots.iter().enumerate() {
            if slot.last_used != 0 && slot.ssrc == ssrc {
                return position;
            }
            if slot.last_used < self.slots[chosen].last_used {
                chosen = position;
            }
        }
        chosen
    }
}

fn slot_mut(slots: &mut [Slot; CONTEXT_SSRC_SLOTS], position: usize) -> &mut Slot {
    &mut slots[position % CONTEXT_SSRC_SLOTS]
}

fn ssrc_at(packet: &[u8], offset: usize) -> Option<u32> {
    let bytes = packet.get(offset..offset + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SrtpSuite;

    fn context() -> SrtpContext {
        let master =
            MasterKey::new(SrtpSuite::AesCm128HmacSha1_80, &[1; 16], &[2; 14]).expect("key");
        SrtpContext::new(&master, SessionFlags::default()).expect("context")
    }

    fn rtp(ssrc: u32, seq: u16) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        buf[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
        (buf, 40)
    }

    #[test]
    fn streams_get_slots_and_the_least_recently_used_goes() {
        let mut sender = context();
        let mut receiver = context();
        for ssrc in 1..=CONTEXT_SSRC_SLOTS as u32 + 1 {
            let (mut buf, len) = rtp(ssrc, 7);
            let len = sender.protect_rtp(&mut buf, len).expect("protect");
            receiver.unprotect_rtp(&mut buf[..len]).expect("unprotect");
            if ssrc == 2 {
                // Keep 1 fresh, so that 2 is the oldest when the ninth SSRC comes.
                let (mut buf, len) = rtp(1, 8);
                let len = sender.protect_rtp(&mut buf, len).expect("protect");
                receiver.unprotect_rtp(&mut buf[..len]).expect("unprotect");
            }
        }
        assert_eq!(
            receiver.state_for(1).map(|states| states.rtp.seq()),
            Some(8)
        );
        assert!(receiver.state_for(2).is_none());
        assert!(receiver.state_for(9).is_some());
    }

    #[test]
    fn refused_packets_take_no_slot() {
        let mut sender = context();
        let mut receiver = context();
        let (mut buf, len) = rtp(42, 1);
        let len = sender.protect_rtp(&mut buf, len).expect("protect");
        buf[20] ^= 1;
        assert_eq!(
            receiver.unprotect_rtp(&mut buf[..len]),
            Err(SrtpError::AuthFailed)
        );
        assert!(receiver.state_for(42).is_none());
        assert!(matches!(
            receiver.unprotect_rtp(&mut buf[..5]),
            Err(SrtpError::TooShort { .. })
        ));
        assert!(matches!(
            receiver.unprotect_rtcp(&mut buf[..3]),
            Err(SrtpError::TooShort { .. })
        ));
    }

    #[test]
    fn set_state_positions_a_stream() {
        let mut sender = context();
        sender.set_state(
            5,
            SsrcStates {
                rtp: RtpStreamState::new(3, 100),
                rtcp: RtcpStreamState::new(9),
            },
        );
        let (mut buf, len) = rtp(5, 101);
        sender.protect_rtp(&mut buf, len).expect("protect");
        let states = sender.state_for(5).expect("slot");
        assert_eq!(
            (states.rtp.roc(), states.rtp.seq(), states.rtcp.next_index()),
            (3, 101, 9)
        );

        let mut rtcp = [0u8; 64];
        rtcp[..8].copy_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 5]);
        let len = sender.protect_rtcp(&mut rtcp, 8).expect("protect");
        assert_eq!(rtcp[8..12], [0x80, 0, 0, 9]);
        assert_eq!(
            sender.state_for(5).map(|states| states.rtcp.next_index()),
            Some(10)
        );
        let mut receiver = context();
        assert_eq!(receiver.unprotect_rtcp(&mut rtcp[..len]), Ok(8));
        assert_eq!(
            receiver
                .state_for(5)
                .and_then(|states| states.rtcp.highest_index()),
            Some(9)
        );
    }
}
