//! Why a frame was refused or could not be rewritten. Small `Copy` values: made per packet
//! on the hot path, never allocated.

use core::fmt;

/// The header a [`FrameError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Ethernet,
    Arp,
    Ipv4,
    Ipv6,
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Arp => "ARP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Udp => "UDP",
        })
    }
}

/// A frame the data plane refuses, or a rewrite it cannot do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the fixed header needs.
    #[error("{layer} header needs {need} bytes, {have} present")]
    Truncated {
        layer: Layer,
        need: usize,
        have: usize,
    },
    /// An IP header's version nibble disagrees with the ethertype.
    #[error("{layer} header with version {found}")]
    Version { layer: Layer, found: u8 },
    /// A length field is smaller than its header or larger than what is there.
    #[error("{layer} length field {field} does not fit the {have} bytes present")]
    Length {
        layer: Layer,
        field: usize,
        have: usize,
    },
    /// The IPv4 header or UDP checksum does not verify (including a zero UDP checksum
    /// over IPv6, RFC 8200 §8.1).
    #[error("{layer} checksum does not verify")]
    Checksum { layer: Layer },
    /// A well-formed header of a kind this data plane does not read (e.g. ARP for another
    /// hardware type); the frame is the kernel's business.
    #[error("{layer} header of an unsupported kind")]
    Unsupported { layer: Layer },
    /// Not enough headroom in front of the payload for the outgoing headers.
    #[error("rewrite needs {need} bytes of headers in front of the payload, {have} available")]
    Headroom { need: usize, have: usize },
    /// An outgoing source and destination of different address families.
    #[error("outgoing source and destination differ in address family")]
    FamilyMismatch,
}
