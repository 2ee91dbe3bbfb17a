//! Boolean ng flags (the `flags` list) and the `rtpp-flags` string grammar.
//!
//! # `flags` list (rtpengine 10.5, verified flag by flag)
//! Each list item has its spaces turned into `-` (`"trust address"` = `trust-address`);
//! matching is then exact and case-sensitive, with the explicit aliases of [`Flags`]
//! (`"detect-dtmf"`/`"detect-DTMF"`, `"reuse-codecs"`, ...). `_` is not normalised.
//! Items that are not strings, and a `flags` value that is not a list, are ignored.
//! Prefixed items carry a value: `SDES-`, `OSRTP-`, `codec-strip-`, `codec-offer-`,
//! `codec-except-`, `codec-transcode-`/`transcode-`, `codec-mask-`, `codec-accept-`,
//! `codec-consume-`, `codec-set-`, `T38-`/`T.38-`, `from-tags-`, `endpoint-learning-`.
//! rtpengine 10.5 does **not** accept `replace-*`, `rtcp-mux-*`, `ICE=...`, `direction=...`,
//! `symmetric`, `to-tag`, `internal`/`external` or transport names in the list: Kamailio's
//! module translates those into dictionary keys before sending. They end up in
//! `unknown_flags`, as rtpengine logs them as unknown.
//!
//! # `rtpp-flags` string (newer rtpengine's `control_ng_flags_parser.c`)
//! Newer Kamailio/OpenSIPS send the script's flag string as one key. Grammar:
//! ```text
//! rtpp-flags = *( *SP item )
//! item       = key [ "=" value ]                 ; split at the first "="
//! value      = word | "[" *( *SP element ) "]"   ; brackets span spaces
//! element    = word | key "=" value | "[" ... "]" ; a dict if the first element has "="
//! ```
//! Items are applied in order with these special cases:
//! - `RTP`, `SRTP`, `AVP`, `AVPF`, `DTLS` (without value) and the profile names `RTP/AVP`,
//!   `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`, `UDP/TLS/RTP/SAVPF` combine
//!   into one `transport-protocol`, applied after all items;
//! - `direction=NAME`, `internal`, `external`: the first two give the interface pair;
//! - `transcode`/`codec-transcode`, `codec-strip`, `codec-offer`, `codec-mask`,
//!   `codec-set`, `codec-accept`, `codec-except` as `name=a,b` or `name-a`: codec lists;
//! - an item without value (or with an empty one) is a flag; on top of the list flags it
//!   accepts the `replace-` and `rtcp-mux-` prefixes (`replace-origin`, `rtcp-mux-demux`);
//! - `key=value` is the dictionary entry `key: value` (`ICE=remove`, `call-id=abc`,
//!   `received-from=[IP4 1.2.3.4]`, `address-family=IP6`, `delete-delay=5`).
//!   `ICE-remove` or `address-family-IP6` are unknown flags in rtpengine too.

use super::value::{Dict, Value};

macro_rules! flag_table {
    ($( $(#[$doc:meta])* $field:ident => [$($alias:literal),+] ),* $(,)?) => {
        /// Boolean flags from the `flags` list (and `rtpp-flags`).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Flags {
            /// `trust-address`: use SDP addresses (rtpengine's default unless `--sip-source`).
            /// Cleared by a later `SIP-source-address`: the last one wins.
            pub trust_address: bool,
            /// `SIP-source-address`/`sip-source-address`: use `received-from` instead of the
            /// SDP addresses. Cleared by a later `trust-address`.
            pub sip_source_address: bool,
            $( $(#[$doc])* pub $field: bool, )*
        }

        impl Flags {
            /// Sets the flag spelled `name` (already hyphenated); false if unknown.
            pub fn set_by_name(&mut self, name: &str) -> bool {
                match name {
                    "trust-address" => {
                        self.trust_address = true;
                        self.sip_source_address = false;
                    }
                    "SIP-source-address" | "sip-source-address" => {
                        self.sip_source_address = true;
                        self.trust_address = false;
                    }
                    $( $($alias)|+ => self.$field = true, )*
                    _ => return false,
                }
                true
            }

            /// Canonical spellings of every set flag, in declaration order.
            pub fn names(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                if self.trust_address { v.push("trust-address"); }
                if self.sip_source_address { v.push("SIP-source-address"); }
                $( if self.$field { v.push(flag_table!(@first $($alias),+)); } )*
                v
            }

            /// Canonical spelling of every known flag (for tests and documentation).
            pub const ALL: &'static [&'static str] = &[
                "trust-address", "SIP-source-address", $( flag_table!(@first $($alias),+), )*
            ];
        }
    };
    (@first $first:literal $(, $rest:literal)*) => { $first };
}

flag_table! {
    /// `all`: delete/unblock all participants.
    all => ["all"],
    /// `allow-transcoding`.
    allow_transcoding => ["allow-transcoding"],
    /// `always-transcode`.
    always_transcode => ["always-transcode"],
    /// `asymmetric`: do not learn endpoint addresses from received media.
    asymmetric => ["asymmetric"],
    /// `asymmetric-codecs`.
    asymmetric_codecs => ["asymmetric-codecs"],
    /// `debug`/`debugging`: per-call debug logging.
    debug => ["debug", "debugging"],
    /// `detect-DTMF`.
    detect_dtmf => ["detect-DTMF", "detect-dtmf"],
    /// `egress`.
    egress => ["egress"],
    /// `fatal` (delete): unknown call-id is an error, not a warning.
    fatal => ["fatal"],
    /// `fragment`.
    fragment => ["fragment"],
    /// `full-rtcp-attribute`: `a=rtcp:PORT IN IP4 ADDR`.
    full_rtcp_attribute => ["full-rtcp-attribute", "full-RTCP-attribute"],
    /// `generate-mid`.
    generate_mid => ["generate-mid"],
    /// `generate-RTCP`.
    generate_rtcp => ["generate-RTCP", "generate-rtcp"],
    /// `ICE-reject`.
    ice_reject => ["ICE-reject", "ice-reject", "reject-ice", "reject-ICE"],
    /// `inject-DTMF`.
    inject_dtmf => ["inject-DTMF", "inject-dtmf"],
    /// `loop-protect`: mark the SDP and leave marked SDPs alone.
    loop_protect => ["loop-protect"],
    /// `media-handover`: re-learn the endpoint on a source change.
    media_handover => ["media-handover"],
    /// `mirror-RTCP`.
    mirror_rtcp => ["mirror-RTCP", "mirror-rtcp", "RTCP-mirror", "rtcp-mirror"],
    /// `NAT-wait`.
    nat_wait => ["NAT-wait", "nat-wait"],
    /// `no-codec-renegotiation`/`reuse-codecs`.
    no_codec_renegotiation => ["no-codec-renegotiation", "reuse-codecs"],
    /// `no-jitter-buffer`.
    no_jitter_buffer => ["no-jitter-buffer"],
    /// `no-passthrough`.
    no_passthrough => ["no-passthrough"],
    /// `no-port-latching`.
    no_port_latching => ["no-port-latching"],
    /// `no-redis-update`.
    no_redis_update => ["no-redis-update"],
    /// `no-rtcp-attribute`: omit `a=rtcp`.
    no_rtcp_attribute => ["no-rtcp-attribute", "no-RTCP-attribute"],
    /// `original-sendrecv`: keep the direction attributes.
    original_sendrecv => ["original-sendrecv"],
    /// `pad-crypto`: keep base64 padding in `a=crypto`.
    pad_crypto => ["pad-crypto"],
    /// `passthrough`.
    passthrough => ["passthrough"],
    /// `pierce-NAT`.
    pierce_nat => ["pierce-NAT", "pierce-nat"],
    /// `port-latching`: keep local ports when the remote port changes.
    port_latching => ["port-latching"],
    /// `record-call`.
    record_call => ["record-call"],
    /// `reorder-codecs`.
    reorder_codecs => ["reorder-codecs"],
    /// `reset`: forget learned ICE/SRTP support.
    reset => ["reset"],
    /// `single-codec`.
    single_codec => ["single-codec"],
    /// `SIPREC`.
    siprec => ["SIPREC", "siprec"],
    /// `strict-source`: drop media from unexpected sources after learning.
    strict_source => ["strict-source"],
    /// `strip-extmap`.
    strip_extmap => ["strip-extmap"],
    /// `symmetric-codecs`.
    symmetric_codecs => ["symmetric-codecs"],
    /// `trickle-ICE`.
    trickle_ice => ["trickle-ICE", "trickle-ice"],
    /// `unidirectional`: kernelize one-way media too.
    unidirectional => ["unidirectional"],
}

/// rtpengine's `str_hyphenate`: spaces become hyphens, nothing else changes.
pub fn hyphenate(s: &str) -> String {
    s.replace(' ', "-")
}

/// One item of an `rtpp-flags` string, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtppItem {
    /// A flag without value (`trust-address`, `replace-origin`).
    Flag(String),
    /// A dictionary entry (`ICE=remove` is `("ICE", "remove")`).
    Entry(String, Value),
    /// One of the two logical interfaces (`direction=pub`, `internal`).
    Direction(String),
    /// A codec list: the `codec` sub-key (`strip`, `transcode`, ...) and its codecs.
    Codec(&'static str, Vec<String>),
    /// The transport profile combined from all transport items.
    Transport(&'static str),
}

/// Splits an `rtpp-flags` string into items (see the module docs for the grammar).
pub fn parse_rtpp_flags(s: &str) -> Vec<RtppItem> {
    let mut items = Vec::new();
    let mut transport: u32 = 0;
    let mut p = Cursor {
        s: s.as_bytes(),
        pos: 0,
    };
    loop {
        p.skip_spaces();
        if p.at_end() {
            break;
        }
        let key = p.until(|c| c == b' ' || c == b'=');
        let value = if p.peek() == Some(b'=') {
            p.pos += 1;
            if p.peek() == Some(b'[') {
                Some(p.bracket(0))
            } else {
                let w = p.until(|c| c == b' ');
                (!w.is_empty()).then(|| Value::from(w))
            }
        } else {
            None
        };
        if let Some(item) = classify(&key, value, &mut transport) {
            items.push(item);
        }
    }
    if transport != 0 {
        // Index by the SRTP/AVPF/DTLS bits, as rtpengine's `transports[]` table does.
        let profile = match transport & 0x7 {
            0 => Some("RTP/AVP"),
            1 => Some("RTP/SAVP"),
            2 => Some("RTP/AVPF"),
            3 => Some("RTP/SAVPF"),
            4 => Some("UDP/TLS/RTP/SAVP"),
            6 => Some("UDP/TLS/RTP/SAVPF"),
            _ => None,
        };
        if let Some(profile) = profile {
            items.push(RtppItem::Transport(profile));
        }
    }
    items
}

/// Codec keys of `rtpp-flags`: (accepted names, `codec` sub-key).
const CODEC_KEYS: &[(&[&str], &str)] = &[
    (&["transcode", "codec-transcode"], "transcode"),
    (&["codec-strip"], "strip"),
    (&["codec-offer"], "offer"),
    (&["codec-mask"], "mask"),
    (&["codec-set"], "set"),
    (&["codec-accept"], "accept"),
    (&["codec-except"], "except"),
];

fn classify(key: &str, value: Option<Value>, transport: &mut u32) -> Option<RtppItem> {
    let word = value.as_ref().and_then(Value::as_str).map(str::to_owned);
    // `name=a,b` or `name-a`.
    for &(names, sub) in CODEC_KEYS {
        for name in names {
            let codecs = if key == *name {
                word.as_deref().filter(|w| !w.is_empty())
            } else {
                key.strip_prefix(name)
                    .and_then(|r| r.strip_prefix('-'))
                    .filter(|r| !r.is_empty())
            };
            if let Some(c) = codecs {
                return Some(RtppItem::Codec(
                    sub,
                    c.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ));
            }
        }
    }
    if value.is_none() {
        let bits = match key {
            "RTP" => Some((*transport | 0x100) & !0x001),
            "AVP" => Some((*transport | 0x100) & !0x002),
            "SRTP" => Some(*transport | 0x101),
            "AVPF" => Some(*transport | 0x102),
            "DTLS" => Some(*transport | 0x104),
            "RTP/AVP" => Some(0x100),
            "RTP/SAVP" => Some(0x101),
            "RTP/AVPF" => Some(0x102),
            "RTP/SAVPF" => Some(0x103),
            "UDP/TLS/RTP/SAVP" => Some(0x104),
            "UDP/TLS/RTP/SAVPF" => Some(0x106),
            _ => None,
        };
        if let Some(bits) = bits {
            *transport = bits;
            return None;
        }
    }
    if key == "internal" || key == "external" {
        return Some(RtppItem::Direction(key.to_owned()));
    }
    match (key, value) {
        ("direction", Some(Value::Bytes(b))) => Some(RtppItem::Direction(
            String::from_utf8_lossy(&b).into_owned(),
        )),
        (k, None) => Some(RtppItem::Flag(k.to_owned())),
        (k, Some(v)) => Some(RtppItem::Entry(k.to_owned(), v)),
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn until(&mut self, stop: impl Fn(u8) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !stop(c)) {
            self.pos += 1;
        }
        String::from_utf8_lossy(self.s.get(start..self.pos).unwrap_or_default()).into_owned()
    }

    /// `[ ... ]` at the cursor: a dict if its first element is `k=v`, else a list. An
    /// unterminated bracket ends at the end of the string.
    fn bracket(&mut self, depth: usize) -> Value {
        self.pos += 1; // '['
        let mut list = Vec::new();
        let mut dict: Option<Dict> = None;
        loop {
            self.skip_spaces();
            match self.peek() {
                None => break,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                Some(b'[') if depth < 8 => {
                    let v = self.bracket(depth + 1);
                    list.push(v);
                }
                Some(_) => {
                    let word = self.until(|c| c == b' ' || c == b']' || c == b'=');
                    if self.peek() == Some(b'=') {
                        self.pos += 1;
                        let v = if self.peek() == Some(b'[') && depth < 8 {
                            self.bracket(depth + 1)
                        } else {
                            Value::from(self.until(|c| c == b' ' || c == b']'))
                        };
                        if list.is_empty() {
                            dict.get_or_insert_with(Dict::new).push(word, v);
                            continue;
                        }
                        list.push(Value::from(format!(
                            "{word}={}",
                            v.as_str().unwrap_or_default()
                        )));
                    } else if dict.is_some() {
                        // rtpengine aborts a dictionary at an entry without `=`.
                        self.until(|c| c == b']');
                    } else {
                        list.push(Value::from(word));
                    }
                }
            }
        }
        match dict {
            Some(d) => Value::Dict(d),
            None => Value::List(list),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_aliases_and_last_wins() {
        let mut f = Flags::default();
        assert!(f.set_by_name("SIP-source-address"));
        assert!(f.set_by_name("trust-address"));
        assert!(f.trust_address && !f.sip_source_address);
        assert!(f.set_by_name("reject-ICE") && f.ice_reject);
        assert!(!f.set_by_name("symmetric"));
        assert!(!f.set_by_name("trust_address"));
        assert_eq!(hyphenate("loop protect"), "loop-protect");
        for name in Flags::ALL {
            assert!(Flags::default().set_by_name(name), "{name}");
        }
    }

    #[test]
    fn rtpp_grammar() {
        let items = parse_rtpp_flags(
            "replace-origin  ICE=remove trust-address direction=ext direction=int \
             received-from=[IP4 1.2.3.4] codec-strip=PCMA,G722 transcode-opus RTP SRTP AVPF \
             x= codec=[strip=[PCMU] offer=G722]",
        );
        assert_eq!(
            items,
            vec![
                RtppItem::Flag("replace-origin".into()),
                RtppItem::Entry("ICE".into(), "remove".into()),
                RtppItem::Flag("trust-address".into()),
                RtppItem::Direction("ext".into()),
                RtppItem::Direction("int".into()),
                RtppItem::Entry(
                    "received-from".into(),
                    Value::List(vec!["IP4".into(), "1.2.3.4".into()])
                ),
                RtppItem::Codec("strip", vec!["PCMA".into(), "G722".into()]),
                RtppItem::Codec("transcode", vec!["opus".into()]),
                RtppItem::Flag("x".into()),
                RtppItem::Entry("codec".into(), {
                    let mut d = Dict::new();
                    d.push("strip", Value::List(vec!["PCMU".into()]));
                    d.push("offer", Value::from("G722"));
                    Value::Dict(d)
                }),
                RtppItem::Transport("RTP/SAVPF"),
            ]
        );
    }

    #[test]
    fn rtpp_transport_combinations() {
        let t = |s: &str| {
            parse_rtpp_flags(s).into_iter().find_map(|i| match i {
                RtppItem::Transport(p) => Some(p),
                _ => None,
            })
        };
        assert_eq!(t("RTP/AVP"), Some("RTP/AVP"));
        assert_eq!(t("RTP"), Some("RTP/AVP"));
        assert_eq!(t("SRTP"), Some("RTP/SAVP"));
        assert_eq!(t("DTLS AVPF"), Some("UDP/TLS/RTP/SAVPF"));
        assert_eq!(t("RTP/SAVPF AVP"), Some("RTP/SAVP"));
        assert_eq!(t("DTLS=passive"), None);
        assert_eq!(t(""), None);
    }
}
