//! The call model, shaped like rtpengine's: a call holds monologues (one per
//! SIP tag), a monologue holds media (one per m= line), a media holds two
//! packet streams (RTP, RTCP).
//!
//! Every stream owns one local port that faces *its own* party: packets from
//! the party arrive there, and packets for the party leave from there. So for
//! caller A and callee B, the offer SDP sent to B carries B's monologue's ports
//! and the answer SDP sent to A carries A's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::sdes::{MediaCrypto, SdesState, SrtpSuite};
use crate::sdp::{Direction, TransportProtocol};

use super::srtp_path::SrtpPath;

/// Index of a monologue inside its call (monologues are never removed while the
/// call lives, so indices are stable).
pub type MonologueIdx = usize;

#[derive(Debug)]
pub struct Call {
    /// Shared with the registry's indexes, which would otherwise each hold
    /// a copy per call (and per stream).
    pub call_id: Arc<str>,
    pub created: SystemTime,
    pub last_signal: SystemTime,
    /// Monotonic time of the last signalling event: endpoint learning waits on it.
    pub last_signal_at: Instant,
    pub created_at: Instant,
    pub monologues: Vec<Monologue>,
    /// Set by `delete` with a delay: the call is destroyed at this time.
    pub delete_at: Option<Instant>,
    /// Untagged monologues created so far: rtpengine lists them as
    /// `<untagged N>` in query replies.
    pub untagged: usize,
    /// Creation order among the registry's calls (its key in `order`).
    pub seq: u64,
}

#[derive(Debug)]
pub struct Monologue {
    /// The SIP tag; empty while the callee's tag is not known yet (between
    /// offer and answer).
    pub tag: String,
    pub label: Option<String>,
    pub via_branch: Option<String>,
    pub created: SystemTime,
    /// The monologue this one exchanges media with.
    pub peer: Option<MonologueIdx>,
    pub medias: Vec<MediaLeg>,
    /// The logical interface this party's ports live on.
    pub interface: String,
    /// Address family this party wants to see (from its own SDP, or `address family`).
    pub family: Option<AddrFamily>,
    /// Deleted branches stay in the call (rtpengine keeps them for stats) but
    /// relay nothing.
    pub deleted: bool,
    /// Whether this party has sent an SDP body we accepted (offer or answer).
    pub has_sdp: bool,
    /// rtpengine marks the media of a party it first met as the recipient
    /// of an offer (or as an answerer) "ICE controlling", and keeps it.
    pub ice_controlling: bool,
    /// `strict source`: once latched, packets from elsewhere are dropped.
    pub strict_source: bool,
    /// `media handover`: once latched, a new source moves the endpoint.
    pub media_handover: bool,
    /// `<untagged N>` number while `tag` is empty.
    pub untagged_no: usize,
    /// The monologues that receive this one's media (rtpengine's
    /// "subscribers"), in the order they were added.
    pub subscribers: Vec<MonologueIdx>,
    /// The party does not do symmetric RTP: never learn its address.
    pub asymmetric: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrFamily {
    V4,
    V6,
}

impl AddrFamily {
    pub fn of(ip: &IpAddr) -> AddrFamily {
        match ip {
            IpAddr::V4(_) => AddrFamily::V4,
            IpAddr::V6(_) => AddrFamily::V6,
        }
    }
    /// rtpengine's spelling in query replies.
    pub fn name(self) -> &'static str {
        match self {
            AddrFamily::V4 => "IPv4",
            AddrFamily::V6 => "IPv6",
        }
    }
}

#[derive(Debug)]
pub struct MediaLeg {
    /// 1-based, as in rtpengine's query replies.
    pub index: usize,
    pub kind: String,
    /// The proto token of this party's last SDP, as written.
    pub protocol: String,
    /// The transport this party's side uses: from its own SDP, or what we
    /// offered it (`transport-protocol`, OSRTP). `None` for protocols
    /// rtpengine does not know, which are relayed as written.
    pub transport: Option<TransportProtocol>,
    /// SDES negotiation with this party (see [`crate::sdes`]); it records
    /// the keys, [`MediaLeg::crypto`] says which serves which direction.
    pub sdes: SdesState,
    /// Direction as this party declared it in its SDP.
    pub direction: Direction,
    /// This party declared port 0 (stream rejected / disabled).
    pub rejected: bool,
    pub rtcp_mux: bool,
    /// Our ports are closed (the stream was rejected, or the branch deleted);
    /// `rtp.local`/`rtcp.local` are stale.
    pub released: bool,
    /// Payload types of this party's last SDP, in its order.
    pub formats: Vec<u8>,
    /// `NAME/RATE[/CHANNELS]` per payload type of this party's SDP.
    pub codecs: Vec<(u8, String)>,
    /// This party's `a=ptime`.
    pub ptime: Option<i64>,
    /// Payload type of the last RTP packet this party sent.
    pub last_pt: Option<u8>,
    pub rtp: PacketStream,
    pub rtcp: PacketStream,
}

/// Which of a media's two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Rtp,
    Rtcp,
}

#[derive(Debug)]
pub struct PacketStream {
    /// Our socket facing this stream's party.
    pub local: SocketAddr,
    /// The address we put into SDP for `local` (the interface's advertised address).
    pub advertised: IpAddr,
    /// Where this party receives media: from its SDP, then as learned from
    /// the packets it sends (latching).
    pub endpoint: Option<SocketAddr>,
    /// The address exactly as the party's SDP stated it.
    pub advertised_endpoint: Option<SocketAddr>,
    /// Latched for good: packets from elsewhere no longer move `endpoint`.
    pub confirmed: bool,
    /// `local` has a flow-table entry (only the control plane writes them).
    /// Streams without one are not looked up: a lookup faults in the
    /// table's page for the key, several kilobytes of shared memory per call
    /// for calls whose media never flowed.
    pub programmed: bool,
    /// SSRC of the last packet this party sent on the stream (RTCP: the
    /// sender SSRC).
    pub last_ssrc: Option<u32>,
    /// The suite rtpengine reports for this stream in `query` ("crypto
    /// suite"): that of the key we last set up towards the party. Like
    /// rtpengine it is only updated while SDES is in use with the party.
    pub crypto_suite: Option<SrtpSuite>,
    /// Decryption and encryption of this party's packets towards the
    /// recipient, when they need any (see [`super::srtp_path`]).
    pub srtp: Option<Box<SrtpPath>>,
    pub stats: StreamStats,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    pub packets: u64,
    pub bytes: u64,
    pub errors: u64,
    /// The part of the above the data plane's fast path counted (rtpengine's
    /// "kernel" figures); the rest went through the control plane.
    pub fast_packets: u64,
    pub fast_bytes: u64,
    pub fast_errors: u64,
    /// Wall-clock time of the last packet received on this stream.
    pub last_packet: Option<SystemTime>,
    /// Monotonic time of the last packet, for the timeouts.
    pub last_packet_at: Option<Instant>,
}

impl StreamStats {
    pub fn add(&mut self, other: &StreamStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.fast_packets += other.fast_packets;
        self.fast_bytes += other.fast_bytes;
        self.fast_errors += other.fast_errors;
    }
}

impl PacketStream {
    /// A stream with no socket yet.
    fn unbound() -> PacketStream {
        let nowhere = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
        PacketStream {
            local: nowhere,
            advertised: nowhere.ip(),
            endpoint: None,
            advertised_endpoint: None,
            confirmed: false,
            programmed: false,
            last_ssrc: None,
            crypto_suite: None,
            srtp: None,
            stats: StreamStats::default(),
        }
    }
}

impl MediaLeg {
    /// Media `index` (1-based) without ports: `released` until bound.
    pub fn unbound(index: usize, kind: &str, protocol: &str) -> MediaLeg {
        MediaLeg {
            index,
            kind: kind.to_string(),
            protocol: protocol.to_string(),
            transport: None,
            sdes: SdesState::default(),
            direction: Direction::SendRecv,
            rejected: false,
            rtcp_mux: false,
            released: true,
            formats: Vec::new(),
            codecs: Vec::new(),
            ptime: None,
            last_pt: None,
            rtp: PacketStream::unbound(),
            rtcp: PacketStream::unbound(),
        }
    }

    pub fn stream(&self, c: Component) -> &PacketStream {
        match c {
            Component::Rtp => &self.rtp,
            Component::Rtcp => &self.rtcp,
        }
    }
    pub fn stream_mut(&mut self, c: Component) -> &mut PacketStream {
        match c {
            Component::Rtp => &mut self.rtp,
            Component::Rtcp => &mut self.rtcp,
        }
    }
    /// The SRTP keys for this party's packets: `from_party` decrypts what
    /// it sends us, `to_party` encrypts what we send it.
    pub fn crypto(&self) -> MediaCrypto<'_> {
        MediaCrypto::of(self.transport, &self.sdes)
    }

    /// Whether this party is willing to receive media.
    pub fn receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
    }
    /// Whether this party says it sends media.
    pub fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }
}

impl Call {
    pub fn new(call_id: Arc<str>, now: Instant, wall: SystemTime) -> Call {
        Call {
            call_id,
            created: wall,
            last_signal: wall,
            last_signal_at: now,
            created_at: now,
            // Caller and callee.
            monologues: Vec::with_capacity(2),
            delete_at: None,
            untagged: 0,
            seq: 0,
        }
    }

    pub fn find_tag(&self, tag: &str) -> Option<MonologueIdx> {
        self.monologues.iter().position(|m| m.tag == tag)
    }

    /// Time of the most recent packet on any stream, or the call's creation.
    pub fn last_activity(&self) -> Instant {
        let mut last = self.last_signal_at;
        for ml in &self.monologues {
            for m in &ml.medias {
                for s in [&m.rtp, &m.rtcp] {
                    if let Some(t) = s.stats.last_packet_at {
                        last = last.max(t);
                    }
                }
            }
        }
        last
    }

    /// Age of the call, for `final-timeout`.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created_at)
    }
}
