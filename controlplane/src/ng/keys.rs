//! ng dictionary key names and their accepted spellings.
//!
//! Key matching is exact and case-sensitive; rtpengine lists each accepted spelling
//! explicitly instead of normalising, so `"call_id"` or `"Call-ID"` are unknown keys while
//! `"call ID"` is `call-id`. The alias table below was verified key by key against
//! rtpengine 10.5 (an unknown key makes it log "Unknown dictionary key encountered").
//! The aliases apply where rtpengine runs its generic option parser (offer, answer and the
//! media-control commands); delete, query and list read only the canonical spellings.

/// `command`: the request type.
pub const COMMAND: &str = "command";
/// SIP Call-ID.
pub const CALL_ID: &str = "call-id";
/// SIP From tag.
pub const FROM_TAG: &str = "from-tag";
/// SIP To tag.
pub const TO_TAG: &str = "to-tag";
/// Via branch of the SIP transaction.
pub const VIA_BRANCH: &str = "via-branch";
/// Free-form label of the signalling party (alias `from-label`).
pub const LABEL: &str = "label";
/// SDP body.
pub const SDP: &str = "sdp";
/// `[family, address]` of the SIP message source.
pub const RECEIVED_FROM: &str = "received-from";
/// Address to advertise instead of the SDP's.
pub const MEDIA_ADDRESS: &str = "media-address";
/// `IP4`/`IP6` wanted by the recipient.
pub const ADDRESS_FAMILY: &str = "address-family";
/// List of two logical interface names.
pub const DIRECTION: &str = "direction";
/// Single interface selector.
pub const INTERFACE: &str = "interface";
/// ICE handling.
pub const ICE: &str = "ICE";
/// Transport protocol to offer.
pub const TRANSPORT_PROTOCOL: &str = "transport-protocol";
/// List of SDP parts to rewrite.
pub const REPLACE: &str = "replace";
/// List of rtcp-mux options.
pub const RTCP_MUX: &str = "rtcp-mux";
/// List of flags.
pub const FLAGS: &str = "flags";
/// IP TOS for the call.
pub const TOS: &str = "TOS";
/// DTLS-SRTP behaviour.
pub const DTLS: &str = "DTLS";
/// List of SDES options.
pub const SDES: &str = "SDES";
/// List of OSRTP options.
pub const OSRTP: &str = "OSRTP";
/// yes/no/on/off call recording.
pub const RECORD_CALL: &str = "record-call";
/// Recording metadata.
pub const METADATA: &str = "metadata";
/// Dictionary of codec operations.
pub const CODEC: &str = "codec";
/// Seconds before a deleted call is freed (delete).
pub const DELETE_DELAY: &str = "delete-delay";
/// Maximum number of call-ids returned (list).
pub const LIMIT: &str = "limit";
/// Whole flag string of newer Kamailio/OpenSIPS (not in rtpengine 10.5, see `flags`).
pub const RTPP_FLAGS: &str = "rtpp-flags";
/// `from-interface` / `to-interface`: what `direction=` means in `rtpp-flags`.
pub const FROM_INTERFACE: &str = "from-interface";
/// See [`FROM_INTERFACE`].
pub const TO_INTERFACE: &str = "to-interface";
/// Reply: `ok`, `pong`, `error`.
pub const RESULT: &str = "result";
/// Reply: human-readable error.
pub const ERROR_REASON: &str = "error-reason";
/// Reply: non-fatal problem.
pub const WARNING: &str = "warning";

/// `(spelling, canonical name)` for every key rtpengine 10.5 accepts in offer/answer,
/// plus the command-specific and newer keys this crate understands.
const ALIASES: &[(&str, &str)] = &[
    ("address", "address"),
    ("address family", ADDRESS_FAMILY),
    ("address-family", ADDRESS_FAMILY),
    ("blob", "blob"),
    ("call-id", CALL_ID),
    ("call-ID", CALL_ID),
    ("call id", CALL_ID),
    ("call ID", CALL_ID),
    ("code", "code"),
    ("codec", CODEC),
    ("command", COMMAND),
    ("db-id", "db-id"),
    ("delay-buffer", "delay-buffer"),
    ("delay buffer", "delay-buffer"),
    ("delete-delay", DELETE_DELAY),
    ("delete delay", DELETE_DELAY),
    ("digit", "digit"),
    ("direction", DIRECTION),
    ("drop-traffic", "drop-traffic"),
    ("drop traffic", "drop-traffic"),
    ("DTLS", DTLS),
    ("dtls", DTLS),
    ("DTLS-fingerprint", "DTLS-fingerprint"),
    ("DTLS fingerprint", "DTLS-fingerprint"),
    ("dtls-fingerprint", "DTLS-fingerprint"),
    ("dtls fingerprint", "DTLS-fingerprint"),
    ("DTLS-reverse", "DTLS-reverse"),
    ("DTLS reverse", "DTLS-reverse"),
    ("dtls-reverse", "DTLS-reverse"),
    ("dtls reverse", "DTLS-reverse"),
    ("DTMF-delay", "DTMF-delay"),
    ("DTMF delay", "DTMF-delay"),
    ("dtmf-delay", "DTMF-delay"),
    ("dtmf delay", "DTMF-delay"),
    ("DTMF-security", "DTMF-security"),
    ("DTMF security", "DTMF-security"),
    ("dtmf-security", "DTMF-security"),
    ("dtmf security", "DTMF-security"),
    ("DTMF-security-trigger", "DTMF-security-trigger"),
    ("DTMF security trigger", "DTMF-security-trigger"),
    ("dtmf-security-trigger", "DTMF-security-trigger"),
    ("dtmf security trigger", "DTMF-security-trigger"),
    ("duration", "duration"),
    ("endpoint-learning", "endpoint-learning"),
    ("endpoint learning", "endpoint-learning"),
    ("file", "file"),
    ("flags", FLAGS),
    ("frequency", "frequency"),
    ("from-interface", FROM_INTERFACE),
    ("from-label", LABEL),
    ("label", LABEL),
    ("from-tag", FROM_TAG),
    ("from-tags", "from-tags"),
    ("generate-RTCP", "generate-RTCP"),
    ("generate RTCP", "generate-RTCP"),
    ("generate-rtcp", "generate-RTCP"),
    ("generate rtcp", "generate-RTCP"),
    ("ICE", ICE),
    ("ice", ICE),
    ("ICE-lite", "ICE-lite"),
    ("ICE lite", "ICE-lite"),
    ("ice-lite", "ICE-lite"),
    ("ice lite", "ICE-lite"),
    ("interface", INTERFACE),
    ("limit", LIMIT),
    ("media-address", MEDIA_ADDRESS),
    ("media address", MEDIA_ADDRESS),
    ("media-echo", "media-echo"),
    ("media echo", "media-echo"),
    ("metadata", METADATA),
    ("OSRTP", OSRTP),
    ("osrtp", OSRTP),
    ("passthrough", "passthrough"),
    ("passthru", "passthrough"),
    ("pause", "pause"),
    ("ptime", "ptime"),
    ("ptime-reverse", "ptime-reverse"),
    ("ptime reverse", "ptime-reverse"),
    ("reverse-ptime", "ptime-reverse"),
    ("reverse ptime", "ptime-reverse"),
    ("received-from", RECEIVED_FROM),
    ("received from", RECEIVED_FROM),
    ("record-call", RECORD_CALL),
    ("record call", RECORD_CALL),
    ("repeat-times", "repeat-times"),
    ("replace", REPLACE),
    ("rtcp-mux", RTCP_MUX),
    ("RTCP-mux", RTCP_MUX),
    ("rtpp-flags", RTPP_FLAGS),
    ("rtpp_flags", RTPP_FLAGS),
    ("SDES", SDES),
    ("sdes", SDES),
    ("sdp", SDP),
    ("SDP", SDP),
    ("set-label", "set-label"),
    ("supports", "supports"),
    ("T38", "T.38"),
    ("T.38", "T.38"),
    ("t38", "T.38"),
    ("t.38", "T.38"),
    ("to-interface", TO_INTERFACE),
    ("to-label", "to-label"),
    ("to-tag", TO_TAG),
    ("TOS", TOS),
    ("tos", TOS),
    ("transport-protocol", TRANSPORT_PROTOCOL),
    ("transport protocol", TRANSPORT_PROTOCOL),
    ("trigger", "trigger"),
    ("trigger-end", "trigger-end"),
    ("trigger end", "trigger-end"),
    ("end-trigger", "trigger-end"),
    ("end trigger", "trigger-end"),
    ("trigger-end-time", "trigger-end-time"),
    ("trigger end time", "trigger-end-time"),
    ("end-trigger-time", "trigger-end-time"),
    ("end trigger time", "trigger-end-time"),
    ("trigger-end-digits", "trigger-end-digits"),
    ("trigger end digits", "trigger-end-digits"),
    ("end-trigger-digits", "trigger-end-digits"),
    ("end trigger digits", "trigger-end-digits"),
    ("via-branch", VIA_BRANCH),
    ("volume", "volume"),
    ("xmlrpc-callback", "xmlrpc-callback"),
    ("XMLRPC-callback", "xmlrpc-callback"),
];

/// The canonical name of a key spelled `name`, or `None` for a key rtpengine does not know.
pub fn canonical_key(name: &[u8]) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(alias, _)| alias.as_bytes() == name)
        .map(|&(_, canon)| canon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_exact_and_case_sensitive() {
        assert_eq!(canonical_key(b"call ID"), Some(CALL_ID));
        assert_eq!(canonical_key(b"received from"), Some(RECEIVED_FROM));
        assert_eq!(canonical_key(b"ice"), Some(ICE));
        // All refused by rtpengine 10.5:
        for unknown in [
            "call_id",
            "Call-ID",
            "from_tag",
            "from tag",
            "Ice",
            "rtcp mux",
            "trust-address",
        ] {
            assert_eq!(canonical_key(unknown.as_bytes()), None, "{unknown}");
        }
    }

    #[test]
    fn canonical_names_are_their_own_alias() {
        for &(_, canon) in ALIASES {
            assert_eq!(canonical_key(canon.as_bytes()), Some(canon), "{canon}");
        }
    }
}
