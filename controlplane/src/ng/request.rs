//! Typed view of an ng request dictionary.
//!
//! [`NgRequest::from_value`] reads a request the way rtpengine 10.5 does:
//! - offer, answer and the media-control commands run the generic option parser: every
//!   entry is applied in dictionary order, so a later spelling of the same option wins,
//!   and keys are matched through [`keys::canonical_key`];
//! - delete, query, list, ping and statistics read only `call-id`, `from-tag`, `to-tag`,
//!   `via-branch` (exact spellings), plus `flags` and `delete-delay` (delete) and `limit`
//!   (list);
//! - a value of the wrong type is treated as absent, never as an error (rtpengine then
//!   fails later with "No call-id in message" etc., see the `require_*` helpers);
//! - unknown keys and flags are collected for logging, never rejected.
//!
//! On top of 10.5, `rtpp-flags` (newer rtpengine) is understood, see [`super::flags`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::error::NgError;
use super::flags::{hyphenate, parse_rtpp_flags, Flags, RtppItem};
use super::keys;
use super::value::{Dict, Value};

/// The `command` of a request. Matching is exact and case-sensitive (`"Offer"` is
/// unrecognized, as in rtpengine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ping,
    Offer,
    Answer,
    Delete,
    Query,
    List,
    Statistics,
    /// Any other string; see [`Command::is_recognized`].
    Other(String),
}

/// Commands rtpengine 10.5 serves besides the named variants.
const OTHER_COMMANDS: &[&str] = &[
    "start recording",
    "stop recording",
    "start forwarding",
    "stop forwarding",
    "block DTMF",
    "unblock DTMF",
    "block media",
    "unblock media",
    "silence media",
    "unsilence media",
    "play media",
    "stop media",
    "play DTMF",
    "publish",
    "subscribe request",
    "subscribe answer",
    "unsubscribe",
];

impl Command {
    /// Parses the `command` string.
    pub fn parse(s: &str) -> Command {
        match s {
            "ping" => Command::Ping,
            "offer" => Command::Offer,
            "answer" => Command::Answer,
            "delete" => Command::Delete,
            "query" => Command::Query,
            "list" => Command::List,
            "statistics" => Command::Statistics,
            other => Command::Other(other.to_owned()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Command::Ping => "ping",
            Command::Offer => "offer",
            Command::Answer => "answer",
            Command::Delete => "delete",
            Command::Query => "query",
            Command::List => "list",
            Command::Statistics => "statistics",
            Command::Other(s) => s,
        }
    }

    /// False for commands rtpengine answers with "Unrecognized command".
    pub fn is_recognized(&self) -> bool {
        match self {
            Command::Other(s) => OTHER_COMMANDS.contains(&s.as_str()),
            _ => true,
        }
    }

    /// True if rtpengine parses this command's dictionary with its generic option parser.
    fn uses_option_parser(&self) -> bool {
        matches!(self, Command::Offer | Command::Answer | Command::Other(_))
    }
}

/// `address family`: the family the recipient wants in the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    Ip4,
    Ip6,
}

/// `ICE` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceOption {
    /// Strip ICE attributes.
    Remove,
    /// Strip, then offer rtpengine as the only candidate.
    Force,
    /// Explicit default: add ICE if absent, else add rtpengine as low-priority candidate.
    Default,
    /// `optional`.
    Optional,
    /// Replace relay candidates by rtpengine; leave c=/m= alone.
    ForceRelay,
}

/// `replace` list: SDP parts to rewrite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replace {
    /// `origin`: address in `o=`.
    pub origin: bool,
    /// `session-connection`: session-level `c=`.
    pub session_connection: bool,
    /// `sdp-version`: bump the `o=` version.
    pub sdp_version: bool,
    /// `username`: `o=` username.
    pub username: bool,
    /// `session-name`: `s=`.
    pub session_name: bool,
    /// `zero-address`: replace 0.0.0.0 too.
    pub zero_address: bool,
    /// `origin-full` (newer rtpengine, `rtpp-flags` only).
    pub origin_full: bool,
    /// `force-increment-sdp-ver` (newer rtpengine, `rtpp-flags` only).
    pub force_increment_sdp_ver: bool,
}

impl Replace {
    /// Sets the item spelled `name` (hyphenated); `newer` admits the post-10.5 items.
    fn set(&mut self, name: &str, newer: bool) -> bool {
        match name {
            "origin" => self.origin = true,
            "session-connection" => self.session_connection = true,
            "sdp-version" | "SDP-version" => self.sdp_version = true,
            "username" => self.username = true,
            "session-name" => self.session_name = true,
            "zero-address" => self.zero_address = true,
            "origin-full" | "origin_full" if newer => self.origin_full = true,
            "force-increment-sdp-ver" | "force-increment-SDP-ver" if newer => {
                self.force_increment_sdp_ver = true
            }
            _ => return false,
        }
        true
    }
}

/// One `rtcp-mux` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpMux {
    Offer,
    Demux,
    Accept,
    Reject,
    Require,
}

impl RtcpMux {
    fn parse(s: &str) -> Option<RtcpMux> {
        Some(match s {
            "offer" => RtcpMux::Offer,
            "demux" => RtcpMux::Demux,
            "accept" => RtcpMux::Accept,
            "reject" => RtcpMux::Reject,
            "require" => RtcpMux::Require,
            _ => return None,
        })
    }
}

/// Codec operations (`codec` dictionary, `codec-*` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecOps {
    pub strip: Vec<String>,
    pub offer: Vec<String>,
    pub transcode: Vec<String>,
    pub mask: Vec<String>,
    pub set: Vec<String>,
    pub accept: Vec<String>,
    pub except: Vec<String>,
    pub consume: Vec<String>,
}

impl CodecOps {
    fn list_mut(&mut self, op: &str) -> Option<&mut Vec<String>> {
        Some(match op {
            "strip" => &mut self.strip,
            "offer" => &mut self.offer,
            "transcode" => &mut self.transcode,
            "mask" => &mut self.mask,
            "set" => &mut self.set,
            "accept" => &mut self.accept,
            "except" => &mut self.except,
            "consume" => &mut self.consume,
            _ => return None,
        })
    }
}

/// Transport protocols rtpengine 10.5 accepts in `transport-protocol` (others are ignored).
const TRANSPORT_PROTOCOLS: &[&str] = &[
    "RTP/AVP",
    "RTP/SAVP",
    "RTP/AVPF",
    "RTP/SAVPF",
    "UDP/TLS/RTP/SAVP",
    "UDP/TLS/RTP/SAVPF",
    "UDPTL",
];

/// A decoded ng request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgRequest {
    pub command: Command,
    pub call_id: Option<String>,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
    pub via_branch: Option<String>,
    pub label: Option<String>,
    pub sdp: Option<Vec<u8>>,
    /// `received-from`: `["IP4", "1.2.3.4"]` (the address must match the family).
    pub received_from: Option<IpAddr>,
    /// `media-address`; unparsable values are ignored like in rtpengine.
    pub media_address: Option<IpAddr>,
    /// `address-family`: exactly `IP4` or `IP6`; anything else is ignored.
    pub address_family: Option<AddressFamily>,
    /// `direction`: at most the first two interface names.
    pub direction: Vec<String>,
    /// `interface`.
    pub interface: Option<String>,
    pub ice: Option<IceOption>,
    /// One of the protocols rtpengine knows (`RTP/AVP`, ..., `UDPTL`).
    pub transport_protocol: Option<String>,
    pub replace: Replace,
    /// `rtcp-mux` options in request order, without duplicates.
    pub rtcp_mux: Vec<RtcpMux>,
    pub flags: Flags,
    /// `SDES` list and `SDES-` flags, values as given (`off`, `no-AES_CM_128_HMAC_SHA1_80`).
    pub sdes: Vec<String>,
    /// `OSRTP` list and `OSRTP-` flags.
    pub osrtp: Vec<String>,
    pub codec: CodecOps,
    /// `TOS` (rtpengine: negative = keep, >= 256 = default).
    pub tos: Option<i64>,
    /// `DTLS` value as given (`passive`, `off`, ...).
    pub dtls: Option<String>,
    /// `record-call` value (`yes`, `on`, ...).
    pub record_call: Option<String>,
    pub metadata: Option<String>,
    /// delete: seconds until the call is freed; negative or unparsable values mean default.
    pub delete_delay: Option<Duration>,
    /// list: maximum number of call-ids.
    pub limit: Option<u64>,
    /// Flags rtpengine would log as unknown (`ICE=x`, `replace-x`, `rtcp-mux-x` for bad values).
    pub unknown_flags: Vec<String>,
    /// Keys rtpengine would log as unknown.
    pub unknown_keys: Vec<String>,
    /// The request dictionary as received.
    pub raw: Dict,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn string_of(v: &Value) -> Option<String> {
    v.as_bytes().map(lossy)
}

/// C `str_to_i`: `strtol` on the string; `None` if no digits.
fn str_to_i(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let digits = digits.get(..end).filter(|d| !d.is_empty())?;
    let v = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg {
        v.checked_neg().unwrap_or(i64::MIN)
    } else {
        v
    })
}

/// An int, or a string holding one (rtpengine's `get_int_str`).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bytes(b) => str_to_i(b),
        _ => None,
    }
}

fn parse_ip(s: &str, family: Option<AddressFamily>) -> Option<IpAddr> {
    match family {
        Some(AddressFamily::Ip4) => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        Some(AddressFamily::Ip6) => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => s.parse().ok(),
    }
}

fn parse_family(s: &str) -> Option<AddressFamily> {
    match s {
        "IP4" => Some(AddressFamily::Ip4),
        "IP6" => Some(AddressFamily::Ip6),
        _ => None,
    }
}

/// Where a flag came from: the 10.5 `flags` list, or `rtpp-flags` (newer rtpengine).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagSource {
    List,
    Rtpp,
}

/// Value-carrying flag prefixes accepted in the `flags` list.
const LIST_PREFIXES: &[&str] = &[
    "SDES-",
    "OSRTP-",
    "codec-strip-",
    "codec-offer-",
    "codec-except-",
    "codec-transcode-",
    "transcode-",
    "codec-mask-",
    "codec-accept-",
    "codec-consume-",
    "codec-set-",
    "T38-",
    "T.38-",
    "from-tags-",
    "endpoint-learning-",
];

impl NgRequest {
    fn empty(command: Command, raw: Dict) -> NgRequest {
        NgRequest {
            command,
            call_id: None,
            from_tag: None,
            to_tag: None,
            via_branch: None,
            label: None,
            sdp: None,
            received_from: None,
            media_address: None,
            address_family: None,
            direction: Vec::new(),
            interface: None,
            ice: None,
            transport_protocol: None,
            replace: Replace::default(),
            rtcp_mux: Vec::new(),
            flags: Flags::default(),
            sdes: Vec::new(),
            osrtp: Vec::new(),
            codec: CodecOps::default(),
            tos: None,
            dtls: None,
            record_call: None,
            metadata: None,
            delete_delay: None,
            limit: None,
            unknown_flags: Vec::new(),
            unknown_keys: Vec::new(),
            raw,
        }
    }

    /// Reads a request dictionary. Fails only where rtpengine fails before running the
    /// command: no string `command` ([`NgError::NoCommand`]) and a negative list `limit`.
    pub fn from_value(v: &Value) -> Result<NgRequest, NgError> {
        let dict = v.as_dict().ok_or(NgError::NoCommand)?;
        let mut req = Self::read(dict)?;
        req.raw = dict.clone();
        Ok(req)
    }

    /// Like [`NgRequest::from_value`], keeping the dictionary as `raw` without
    /// copying it (an offer's carries the whole SDP).
    pub fn from_owned(v: Value) -> Result<NgRequest, NgError> {
        let Value::Dict(dict) = v else {
            return Err(NgError::NoCommand);
        };
        let mut req = Self::read(&dict)?;
        req.raw = dict;
        Ok(req)
    }

    /// Everything but `raw`.
    fn read(dict: &Dict) -> Result<NgRequest, NgError> {
        let command = dict
            .get(keys::COMMAND)
            .and_then(Value::as_bytes)
            .ok_or(NgError::NoCommand)?;
        let command = Command::parse(&lossy(command));
        let mut req = NgRequest::empty(command, Dict::new());
        if req.command.uses_option_parser() {
            for (k, val) in dict.iter() {
                match keys::canonical_key(k) {
                    Some(canon) => req.apply_key(canon, val),
                    None => req.unknown_keys.push(lossy(k)),
                }
            }
        } else {
            req.read_fixed_keys(dict)?;
        }
        Ok(req)
    }

    /// The fixed-key commands (delete, query, list, ping, statistics).
    fn read_fixed_keys(&mut self, dict: &Dict) -> Result<(), NgError> {
        let get = |k: &str| dict.get(k).and_then(string_of);
        self.call_id = get(keys::CALL_ID);
        self.from_tag = get(keys::FROM_TAG);
        self.to_tag = get(keys::TO_TAG);
        self.via_branch = get(keys::VIA_BRANCH);
        match self.command {
            Command::Delete => {
                if let Some(list) = dict.get(keys::FLAGS).and_then(Value::as_list) {
                    // 10.5's delete only looks at the items, it reports nothing unknown.
                    for name in list.iter().filter_map(Value::as_str) {
                        self.flags.set_by_name(name);
                    }
                }
                let delay = ["delete-delay", "delete delay"]
                    .iter()
                    .find_map(|k| dict.get(k).and_then(int_of).filter(|d| *d != -1));
                self.delete_delay = delay
                    .and_then(|d| u64::try_from(d).ok())
                    .map(Duration::from_secs);
            }
            Command::List => {
                if let Some(limit) = dict.get(keys::LIMIT).and_then(int_of) {
                    self.limit =
                        Some(u64::try_from(limit).map_err(|_| NgError::NegativeLimit(limit))?);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies one dictionary entry of the generic option parser (`canon` from
    /// [`keys::canonical_key`]).
    fn apply_key(&mut self, canon: &str, v: &Value) {
        let s = string_of(v);
        match canon {
            keys::CALL_ID => self.call_id = s,
            keys::FROM_TAG => self.from_tag = s,
            keys::TO_TAG => self.to_tag = s,
            keys::VIA_BRANCH => self.via_branch = s,
            keys::LABEL => self.label = s,
            keys::SDP => self.sdp = v.as_bytes().map(<[u8]>::to_vec),
            keys::INTERFACE => self.interface = s,
            keys::METADATA => self.metadata = s,
            keys::RECORD_CALL => self.record_call = s,
            keys::DTLS => self.dtls = s.or(self.dtls.take()),
            keys::TOS => self.tos = int_of(v).or(self.tos),
            keys::RECEIVED_FROM => self.received_from = received_from(v),
            keys::MEDIA_ADDRESS => {
                if let Some(ip) = s.as_deref().and_then(|s| parse_ip(s, None)) {
                    self.media_address = Some(ip);
                }
            }
            keys::ADDRESS_FAMILY => {
                if let Some(s) = s {
                    self.address_family = parse_family(&s);
                }
            }
            keys::DIRECTION | keys::FROM_INTERFACE | keys::TO_INTERFACE => {
                self.apply_direction(canon, v)
            }
            keys::ICE => match s.as_deref() {
                Some("remove") => self.ice = Some(IceOption::Remove),
                Some("force") => self.ice = Some(IceOption::Force),
                Some("default") => self.ice = Some(IceOption::Default),
                Some("optional") => self.ice = Some(IceOption::Optional),
                Some("force-relay" | "force_relay" | "force relay") => {
                    self.ice = Some(IceOption::ForceRelay)
                }
                other => self
                    .unknown_flags
                    .push(format!("ICE={}", other.unwrap_or_default())),
            },
            keys::TRANSPORT_PROTOCOL => {
                if let Some(p) = s.filter(|p| TRANSPORT_PROTOCOLS.contains(&p.as_str())) {
                    self.transport_protocol = Some(p);
                }
            }
            keys::REPLACE => {
                for item in list_strings(v) {
                    self.apply_replace(&hyphenate(&item), FlagSource::List);
                }
            }
            keys::RTCP_MUX => {
                for item in list_strings(v) {
                    self.apply_rtcp_mux(&item);
                }
            }
            keys::FLAGS => {
                for item in list_strings(v) {
                    self.apply_flag(&hyphenate(&item), FlagSource::List);
                }
            }
            keys::SDES => self.sdes.extend(list_strings(v)),
            keys::OSRTP => self.osrtp.extend(list_strings(v)),
            keys::CODEC => {
                if let Some(d) = v.as_dict() {
                    for (op, codecs) in d.iter() {
                        let names = list_strings(codecs);
                        if let Some(list) = self.codec.list_mut(&lossy(op)) {
                            list.extend(names);
                        }
                    }
                }
            }
            keys::DELETE_DELAY => {
                self.delete_delay = int_of(v)
                    .and_then(|d| u64::try_from(d).ok())
                    .map(Duration::from_secs);
            }
            keys::LIMIT => self.limit = int_of(v).and_then(|l| u64::try_from(l).ok()),
            keys::RTPP_FLAGS => {
                if let Some(s) = s {
                    self.apply_rtpp_flags(&s);
                }
            }
            // Known to rtpengine but not modelled here: still available in `raw`.
            _ => {}
        }
    }

    fn apply_direction(&mut self, canon: &str, v: &Value) {
        match canon {
            keys::DIRECTION => {
                if let Some(list) = v.as_list() {
                    let names: Vec<String> = list.iter().filter_map(string_of).take(2).collect();
                    for (i, name) in names.into_iter().enumerate() {
                        match self.direction.get_mut(i) {
                            Some(slot) => *slot = name,
                            None => self.direction.push(name),
                        }
                    }
                }
            }
            _ => {
                let idx = usize::from(canon == keys::TO_INTERFACE);
                if let Some(name) = string_of(v) {
                    while self.direction.len() < idx {
                        self.direction.push(String::new());
                    }
                    match self.direction.get_mut(idx) {
                        Some(slot) => *slot = name,
                        None => self.direction.push(name),
                    }
                }
            }
        }
    }

    fn apply_replace(&mut self, item: &str, src: FlagSource) {
        if !self.replace.set(item, src == FlagSource::Rtpp) {
            self.unknown_flags.push(format!("replace-{item}"));
        }
    }

    fn apply_rtcp_mux(&mut self, item: &str) {
        match RtcpMux::parse(item) {
            Some(m) if !self.rtcp_mux.contains(&m) => self.rtcp_mux.push(m),
            Some(_) => {}
            None => self.unknown_flags.push(format!("rtcp-mux-{item}")),
        }
    }

    /// One flag, already hyphenated.
    fn apply_flag(&mut self, name: &str, src: FlagSource) {
        if self.flags.set_by_name(name) {
            return;
        }
        if src == FlagSource::Rtpp {
            if let Some(item) = name.strip_prefix("replace-") {
                return self.apply_replace(item, src);
            }
            if let Some(item) = name.strip_prefix("rtcp-mux-") {
                return self.apply_rtcp_mux(item);
            }
        }
        let Some((prefix, rest)) = LIST_PREFIXES
            .iter()
            .find_map(|p| name.strip_prefix(p).map(|rest| (*p, rest.to_owned())))
        else {
            self.unknown_flags.push(name.to_owned());
            return;
        };
        match prefix {
            "SDES-" => self.sdes.push(rest),
            "OSRTP-" => self.osrtp.push(rest),
            "transcode-" | "codec-transcode-" => self.codec.transcode.push(rest),
            "codec-strip-" => self.codec.strip.push(rest),
            "codec-offer-" => self.codec.offer.push(rest),
            "codec-except-" => self.codec.except.push(rest),
            "codec-mask-" => self.codec.mask.push(rest),
            "codec-accept-" => self.codec.accept.push(rest),
            "codec-consume-" => self.codec.consume.push(rest),
            "codec-set-" => self.codec.set.push(rest),
            // T.38, from-tags and endpoint-learning are known but not modelled.
            _ => {}
        }
    }

    fn apply_rtpp_flags(&mut self, s: &str) {
        for item in parse_rtpp_flags(s) {
            match item {
                RtppItem::Flag(f) => self.apply_flag(&f, FlagSource::Rtpp),
                RtppItem::Direction(d) => {
                    if self.direction.len() < 2 {
                        self.direction.push(d);
                    }
                }
                RtppItem::Codec(op, codecs) => {
                    if let Some(list) = self.codec.list_mut(op) {
                        list.extend(codecs);
                    }
                }
                RtppItem::Transport(p) => self.transport_protocol = Some(p.to_owned()),
                RtppItem::Entry(k, v) => match keys::canonical_key(k.as_bytes()) {
                    // rtpp-flags cannot recurse: newer rtpengine ignores it there too.
                    Some(keys::RTPP_FLAGS) | Some(keys::COMMAND) => {}
                    // List-valued keys given one word (`replace=origin`) act as a list.
                    Some(
                        canon @ (keys::REPLACE
                        | keys::RTCP_MUX
                        | keys::FLAGS
                        | keys::SDES
                        | keys::OSRTP),
                    ) if v.as_bytes().is_some() => {
                        self.apply_key(canon, &Value::List(vec![v]));
                    }
                    Some(canon) => self.apply_key(canon, &v),
                    None => self.unknown_keys.push(k),
                },
            }
        }
    }

    /// The key checks rtpengine makes before running the command, in its order (verified
    /// on 10.5): offer/answer need `sdp`, `call-id`, `from-tag`, and answer `to-tag`;
    /// delete and query need `call-id`.
    pub fn check_required(&self) -> Result<(), NgError> {
        match self.command {
            Command::Offer | Command::Answer => {
                self.require_sdp()?;
                self.require_call_id()?;
                self.require_from_tag()?;
                if self.command == Command::Answer {
                    self.require_to_tag()?;
                }
            }
            Command::Delete | Command::Query => {
                self.require_call_id()?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `call-id`, or rtpengine's "No call-id in message".
    pub fn require_call_id(&self) -> Result<&str, NgError> {
        self.call_id.as_deref().ok_or(NgError::MissingCallId)
    }

    /// `from-tag`, or "No from-tag in message".
    pub fn require_from_tag(&self) -> Result<&str, NgError> {
        self.from_tag.as_deref().ok_or(NgError::MissingFromTag)
    }

    /// `to-tag`, or "No to-tag in message".
    pub fn require_to_tag(&self) -> Result<&str, NgError> {
        self.to_tag.as_deref().ok_or(NgError::MissingToTag)
    }

    /// `sdp`, or "No SDP body in message".
    pub fn require_sdp(&self) -> Result<&[u8], NgError> {
        self.sdp.as_deref().ok_or(NgError::MissingSdp)
    }
}

/// String items of a list value; rtpengine 10.5 ignores non-list values and non-string
/// items for `flags`, `replace`, `rtcp-mux`, `SDES`, `OSRTP`.
fn list_strings(v: &Value) -> Vec<String> {
    v.as_list()
        .map(|l| l.iter().filter_map(string_of).collect())
        .unwrap_or_default()
}

/// `["IP4", "1.2.3.4"]`; a bare address string is accepted as newer rtpengine does.
fn received_from(v: &Value) -> Option<IpAddr> {
    match v {
        Value::List(items) => {
            let family = items
                .first()
                .and_then(Value::as_str)
                .and_then(parse_family)?;
            parse_ip(items.get(1)?.as_str()?, Some(family))
        }
        Value::Bytes(_) => parse_ip(v.as_str()?, None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ng::bencode;
    use proptest::prelude::*;

    fn req(pairs: Vec<(&str, Value)>) -> NgRequest {
        let d: Dict = pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect();
        NgRequest::from_value(&Value::Dict(d)).expect("valid request")
    }

    fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn kamailio_offer() {
        let wire =
            b"d7:command5:offer7:call-id3:abc8:from-tag2:ft3:sdp3:v=05:flagsl13:trust-address\
            12:loop protect5:boguse7:replacel6:origin18:session connectione3:ICE6:remove\
            9:directionl8:internal8:externale13:received fromi5e14:address family3:IP6\
            18:transport protocol8:RTP/SAVP8:rtcp-muxl5:demux5:demuxe13:media address7:1.2.3.4\
            7:foo-bar1:xe";
        let r = NgRequest::from_value(&bencode::decode(wire).expect("bencode")).expect("request");
        assert_eq!(r.command, Command::Offer);
        assert_eq!(r.call_id.as_deref(), Some("abc"));
        assert!(r.flags.trust_address && r.flags.loop_protect);
        assert_eq!(r.unknown_flags, vec!["bogus".to_owned()]);
        assert!(r.replace.origin && r.replace.session_connection);
        assert_eq!(r.ice, Some(IceOption::Remove));
        assert_eq!(
            r.direction,
            vec!["internal".to_owned(), "external".to_owned()]
        );
        assert_eq!(r.received_from, None, "wrong type is ignored");
        assert_eq!(r.address_family, Some(AddressFamily::Ip6));
        assert_eq!(r.transport_protocol.as_deref(), Some("RTP/SAVP"));
        assert_eq!(r.rtcp_mux, vec![RtcpMux::Demux]);
        assert_eq!(r.media_address, Some("1.2.3.4".parse().expect("ip")));
        assert_eq!(r.unknown_keys, vec!["foo-bar".to_owned()]);
        assert_eq!(r.require_sdp(), Ok(&b"v=0"[..]));
    }

    #[test]
    fn behaviour_seen_on_rtpengine_10_5() {
        // "call ID" is call-id for offer, but delete reads only "call-id".
        let r = req(vec![("command", "offer".into()), ("call ID", "x".into())]);
        assert_eq!(r.call_id.as_deref(), Some("x"));
        let r = req(vec![("command", "delete".into()), ("call ID", "x".into())]);
        assert_eq!(r.require_call_id(), Err(NgError::MissingCallId));
        // Non-string call-id means no call-id.
        let r = req(vec![
            ("command", "offer".into()),
            ("call-id", Value::Int(5)),
        ]);
        assert_eq!(
            r.require_call_id().map_err(|e| e.reason()),
            Err("No call-id in message".into())
        );
        // Flags must be a list; strings are ignored.
        let r = req(vec![
            ("command", "offer".into()),
            ("flags", "trust-address".into()),
        ]);
        assert!(!r.flags.trust_address && r.unknown_flags.is_empty());
        // Things Kamailio translates before sending are unknown in the list.
        let r = req(vec![
            ("command", "offer".into()),
            (
                "flags",
                list(&["replace-origin", "symmetric", "ICE=remove"]),
            ),
        ]);
        assert_eq!(
            r.unknown_flags,
            vec!["replace-origin", "symmetric", "ICE=remove"]
        );
        assert!(!r.replace.origin);
        // Top-level flag keys are unknown keys.
        let r = req(vec![
            ("command", "offer".into()),
            ("trust-address", "yes".into()),
        ]);
        assert_eq!(r.unknown_keys, vec!["trust-address"]);
        // received-from must match its family; direction keeps two names.
        let r = req(vec![
            ("command", "offer".into()),
            ("received-from", list(&["IP6", "9.8.7.6"])),
            ("direction", list(&["a", "b", "c"])),
        ]);
        assert_eq!(r.received_from, None);
        assert_eq!(r.direction, vec!["a", "b"]);
        // Unknown replace/rtcp-mux/ICE values.
        let r = req(vec![
            ("command", "offer".into()),
            ("replace", list(&["origin-full", "zero address"])),
            ("rtcp-mux", list(&["Offer"])),
            ("ICE", "REMOVE".into()),
        ]);
        assert!(r.replace.zero_address && !r.replace.origin_full);
        assert_eq!(
            r.unknown_flags,
            vec!["replace-origin-full", "rtcp-mux-Offer", "ICE=REMOVE"]
        );
    }

    #[test]
    fn delete_and_list_values() {
        let dd = |v: Value| {
            req(vec![
                ("command", "delete".into()),
                ("call-id", "c".into()),
                ("delete-delay", v),
            ])
            .delete_delay
        };
        assert_eq!(dd(Value::Int(5)), Some(Duration::from_secs(5)));
        assert_eq!(dd("7".into()), Some(Duration::from_secs(7)));
        assert_eq!(dd("12abc".into()), Some(Duration::from_secs(12)));
        assert_eq!(dd(Value::Int(0)), Some(Duration::ZERO));
        assert_eq!(dd(Value::Int(-3)), None);
        assert_eq!(dd("abc".into()), None);
        let r = req(vec![
            ("command", "delete".into()),
            ("delete delay", Value::Int(9)),
            ("flags", list(&["fatal"])),
        ]);
        assert_eq!(r.delete_delay, Some(Duration::from_secs(9)));
        assert!(r.flags.fatal);
        let r = req(vec![("command", "list".into()), ("limit", "1".into())]);
        assert_eq!(r.limit, Some(1));
        let bad = Value::Dict(
            [
                (b"command".to_vec(), "list".into()),
                (b"limit".to_vec(), Value::Int(-1)),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(
            NgRequest::from_value(&bad).map_err(|e| e.reason()),
            Err("invalid limit, must be >= 0".into())
        );
    }

    #[test]
    fn required_keys_in_rtpengine_order() {
        let check = |pairs: Vec<(&str, Value)>| req(pairs).check_required().map_err(|e| e.reason());
        assert_eq!(
            check(vec![("command", "offer".into())]),
            Err("No SDP body in message".into())
        );
        assert_eq!(
            check(vec![("command", "offer".into()), ("sdp", "x".into())]),
            Err("No call-id in message".into())
        );
        assert_eq!(
            check(vec![
                ("command", "offer".into()),
                ("sdp", "x".into()),
                ("call-id", "y".into())
            ]),
            Err("No from-tag in message".into())
        );
        assert_eq!(
            check(vec![
                ("command", "answer".into()),
                ("sdp", "x".into()),
                ("call-id", "y".into()),
                ("from-tag", "z".into())
            ]),
            Err("No to-tag in message".into())
        );
        assert_eq!(
            check(vec![("command", "query".into())]),
            Err("No call-id in message".into())
        );
        assert_eq!(check(vec![("command", "ping".into())]), Ok(()));
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse("ping"), Command::Ping);
        assert!(!Command::parse("PING").is_recognized());
        assert!(Command::parse("block media").is_recognized());
        let no_cmd = Value::Dict([(b"command".to_vec(), Value::Int(1))].into_iter().collect());
        assert_eq!(NgRequest::from_value(&no_cmd), Err(NgError::NoCommand));
    }

    #[test]
    fn rtpp_flags_example() {
        let r = req(vec![
            ("command", "offer".into()),
            ("call-id", "c".into()),
            (
                "rtpp-flags",
                "replace-origin replace-session-connection ICE=remove trust-address direction=ext \
                 direction=int transport-protocol=RTP/AVP received-from=[IP4 1.2.3.4] \
                 from-tag=ft codec-strip-PCMA rtcp-mux-demux SDES-off bogus"
                    .into(),
            ),
        ]);
        assert!(r.replace.origin && r.replace.session_connection && r.flags.trust_address);
        assert_eq!(r.ice, Some(IceOption::Remove));
        assert_eq!(r.direction, vec!["ext", "int"]);
        assert_eq!(r.transport_protocol.as_deref(), Some("RTP/AVP"));
        assert_eq!(r.received_from, Some("1.2.3.4".parse().expect("ip")));
        assert_eq!(r.from_tag.as_deref(), Some("ft"));
        assert_eq!(r.codec.strip, vec!["PCMA"]);
        assert_eq!(r.rtcp_mux, vec![RtcpMux::Demux]);
        assert_eq!(r.sdes, vec!["off"]);
        assert_eq!(r.unknown_flags, vec!["bogus"]);
    }

    /// A request expressed both as dictionary keys and as an `rtpp-flags` string.
    #[derive(Debug, Clone)]
    struct Spec {
        flags: Vec<&'static str>,
        replace: Vec<&'static str>,
        rtcp_mux: Vec<&'static str>,
        ice: Option<&'static str>,
        direction: Option<(String, String)>,
        transport: Option<&'static str>,
        family: Option<&'static str>,
        media: Option<Ipv4Addr>,
        received: Option<Ipv4Addr>,
        call_id: String,
        from_tag: String,
    }

    fn arb_spec() -> impl Strategy<Value = Spec> {
        let pick = |all: &'static [&'static str]| {
            proptest::sample::subsequence(all.to_vec(), 0..=all.len())
        };
        let ident = "[a-z][a-z0-9]{0,7}";
        (
            (
                pick(Flags::ALL),
                pick(&[
                    "origin",
                    "session-connection",
                    "sdp-version",
                    "username",
                    "session-name",
                    "zero-address",
                ]),
                pick(&["offer", "demux", "accept", "reject", "require"]),
                proptest::option::of(proptest::sample::select(vec![
                    "remove",
                    "force",
                    "default",
                    "optional",
                    "force-relay",
                ])),
                proptest::option::of((ident, ident)),
            ),
            (
                proptest::option::of(proptest::sample::select(&TRANSPORT_PROTOCOLS[..6])),
                proptest::option::of(proptest::sample::select(vec!["IP4", "IP6"])),
                proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
                proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
                ident,
                ident,
            ),
        )
            .prop_map(
                |(
                    (flags, replace, rtcp_mux, ice, direction),
                    (transport, family, media, received, call_id, from_tag),
                )| Spec {
                    flags,
                    replace,
                    rtcp_mux,
                    ice,
                    direction,
                    transport,
                    family,
                    media,
                    received,
                    call_id,
                    from_tag,
                },
            )
    }

    fn as_dict(s: &Spec) -> NgRequest {
        let mut d = vec![
            ("command", "offer".into()),
            ("call-id", Value::from(s.call_id.as_str())),
            ("from-tag", Value::from(s.from_tag.as_str())),
            ("flags", list(&s.flags)),
            ("replace", list(&s.replace)),
            ("rtcp-mux", list(&s.rtcp_mux)),
        ];
        if let Some(i) = s.ice {
            d.push(("ICE", i.into()));
        }
        if let Some((a, b)) = &s.direction {
            d.push(("direction", list(&[a, b])));
        }
        if let Some(t) = s.transport {
            d.push(("transport protocol", t.into()));
        }
        if let Some(f) = s.family {
            d.push(("address family", f.into()));
        }
        if let Some(m) = s.media {
            d.push(("media address", m.to_string().into()));
        }
        if let Some(r) = s.received {
            d.push(("received from", list(&["IP4", &r.to_string()])));
        }
        req(d)
    }

    fn as_rtpp(s: &Spec) -> NgRequest {
        let mut items = vec![
            format!("call-id={}", s.call_id),
            format!("from-tag={}", s.from_tag),
        ];
        items.extend(s.flags.iter().map(|f| f.to_string()));
        items.extend(s.replace.iter().map(|r| format!("replace-{r}")));
        items.extend(s.rtcp_mux.iter().map(|r| format!("rtcp-mux-{r}")));
        items.extend(s.ice.map(|i| format!("ICE={i}")));
        if let Some((a, b)) = &s.direction {
            items.push(format!("direction={a}"));
            items.push(format!("direction={b}"));
        }
        items.extend(s.transport.map(str::to_owned));
        items.extend(s.family.map(|f| format!("address-family={f}")));
        items.extend(s.media.map(|m| format!("media-address={m}")));
        items.extend(s.received.map(|r| format!("received-from=[IP4 {r}]")));
        req(vec![
            ("command", "offer".into()),
            ("rtpp-flags", items.join(" ").into()),
        ])
    }

    proptest! {
        #[test]
        fn rtpp_flags_equal_dict_form(spec in arb_spec()) {
            let mut a = as_dict(&spec);
            let mut b = as_rtpp(&spec);
            a.raw = Dict::new();
            b.raw = Dict::new();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn from_value_never_panics(v in crate::ng::bencode::tests::arb_value()) {
            let _ = NgRequest::from_value(&v);
            let mut d = Dict::new();
            d.push("command", "offer");
            d.push("rtpp-flags", Value::Bytes(bencode_bytes(&v)));
            d.push("flags", v.clone());
            d.push("replace", v.clone());
            d.push("received-from", v.clone());
            d.push("codec", v);
            let _ = NgRequest::from_value(&Value::Dict(d));
        }

        #[test]
        fn rtpp_flags_never_panic(s in "[ a-zA-Z=\\[\\]/,.-]{0,64}") {
            let mut d = Dict::new();
            d.push("command", "offer");
            d.push("rtpp-flags", s);
            let _ = NgRequest::from_value(&Value::Dict(d));
        }
    }

    fn bencode_bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        bencode::encode(v, &mut out);
        out
    }
}
