//! The transport protocol of an `m=` line, as rtpengine 10.5 classifies it.
//!
//! rtpengine knows the RTP profiles (RFC 3551, 3711, 4585, 5124, 5764), UDPTL,
//! and two internal ones: plain `RTP/AVP` or `RTP/AVPF` that carries
//! `a=crypto` or `a=fingerprint` is opportunistic SRTP (RFC 8643, "OSRTP"):
//! printed as the plain profile but negotiated and relayed as SRTP. Names
//! match case-insensitively and are printed in canonical case; anything
//! else is an unknown protocol that is left as written.

/// A transport protocol rtpengine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    RtpAvp,
    RtpSavp,
    RtpAvpf,
    RtpSavpf,
    UdpTlsRtpSavp,
    UdpTlsRtpSavpf,
    Udptl,
    /// `RTP/AVP` carrying SRTP parameters (RFC 8643).
    OsrtpAvp,
    /// `RTP/AVPF` carrying SRTP parameters (RFC 8643).
    OsrtpAvpf,
}

impl TransportProtocol {
    /// The protocol named `name` (case-insensitive); OSRTP is never named,
    /// see [`TransportProtocol::of_media`].
    pub fn parse(name: &str) -> Option<TransportProtocol> {
        use TransportProtocol::*;
        Some(match name.to_ascii_uppercase().as_str() {
            "RTP/AVP" => RtpAvp,
            "RTP/SAVP" => RtpSavp,
            "RTP/AVPF" => RtpAvpf,
            "RTP/SAVPF" => RtpSavpf,
            "UDP/TLS/RTP/SAVP" => UdpTlsRtpSavp,
            "UDP/TLS/RTP/SAVPF" => UdpTlsRtpSavpf,
            "UDPTL" => Udptl,
            _ => return None,
        })
    }

    /// The protocol of an `m=` line whose proto token is `name`; plain RTP
    /// with SRTP parameters (`srtp_params`: a usable `a=crypto` or
    /// `a=fingerprint`) is OSRTP.
    pub fn of_media(name: &str, srtp_params: bool) -> Option<TransportProtocol> {
        let p = TransportProtocol::parse(name)?;
        Some(match p.osrtp() {
            Some(o) if srtp_params => o,
            _ => p,
        })
    }

    /// How the protocol is written in SDP.
    pub fn name(self) -> &'static str {
        use TransportProtocol::*;
        match self {
            RtpAvp | OsrtpAvp => "RTP/AVP",
            RtpSavp => "RTP/SAVP",
            RtpAvpf | OsrtpAvpf => "RTP/AVPF",
            RtpSavpf => "RTP/SAVPF",
            UdpTlsRtpSavp => "UDP/TLS/RTP/SAVP",
            UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            // rtpengine spells this one in lower case.
            Udptl => "udptl",
        }
    }

    /// Carries RTP (plain or secure).
    pub fn is_rtp(self) -> bool {
        self != TransportProtocol::Udptl
    }

    /// Carries SRTP, OSRTP included.
    pub fn is_srtp(self) -> bool {
        use TransportProtocol::*;
        matches!(
            self,
            RtpSavp | RtpSavpf | UdpTlsRtpSavp | UdpTlsRtpSavpf | OsrtpAvp | OsrtpAvpf
        )
    }

    /// The opportunistic variant of a plain RTP profile.
    pub fn osrtp(self) -> Option<TransportProtocol> {
        match self {
            TransportProtocol::RtpAvp => Some(TransportProtocol::OsrtpAvp),
            TransportProtocol::RtpAvpf => Some(TransportProtocol::OsrtpAvpf),
            _ => None,
        }
    }

    /// Whether this is an OSRTP profile.
    pub fn is_osrtp(self) -> bool {
        matches!(
            self,
            TransportProtocol::OsrtpAvp | TransportProtocol::OsrtpAvpf
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_osrtp() {
        assert_eq!(
            TransportProtocol::parse("rtp/savpf"),
            Some(TransportProtocol::RtpSavpf)
        );
        assert_eq!(TransportProtocol::parse("RTP/FOO"), None);
        let o = TransportProtocol::of_media("RTP/AVP", true).unwrap();
        assert!(o.is_osrtp() && o.is_srtp() && o.name() == "RTP/AVP");
        assert_eq!(
            TransportProtocol::of_media("RTP/SAVP", true),
            Some(TransportProtocol::RtpSavp)
        );
        assert!(!TransportProtocol::Udptl.is_rtp());
    }
}
