//! Differential testing: replay one ng sequence against a reference daemon
//! (Debian's rtpengine) and a daemon under test, normalise the replies and
//! the observed media paths, and compare.
//!
//! A corpus file (`tests/corpus/NN-name.json`) is a JSON object:
//!
//! ```json
//! { "description": "...",
//!   "interfaces": ["127.0.0.1"],            // default: ["127.0.0.1"]
//!   "options": ["--delete-delay=0"],        // extra daemon options
//!   "endpoints": {"a": "127.1.0.1", "b": "127.2.0.1"},
//!   "steps": [
//!     {"id": "offer", "ng": {"command": "offer", "sdp": "...m=audio {{a}} ..."}},
//!     {"ng_json": {...}},                   // same, sent as a JSON body
//!     {"ng_raw": "d7:command4:pinge"},      // body sent verbatim
//!     {"media": {"from": "a", "to": "answer", "m": 0, "expect": "b"}} ] }
//! ```
//!
//! Every endpoint is a pair of sockets (RTP on an even port, RTCP on the next)
//! bound by the test; `{{a}}` and `{{a.rtcp}}` in request strings become their
//! ports. The same sockets, hence byte-identical requests, serve both daemons:
//! the runs are sequential.
//!
//! A media step sends RTP (or RTCP with `"rtcp": true`) from endpoint `from`
//! to the address and port that the reply of step `to` advertises for m-line
//! `m` (what the phone that got that SDP would do), then records which
//! endpoint sockets received what, from which relay port, and whether the
//! bytes arrived unmodified. `expect` (an endpoint, or `null` for "nothing
//! arrives") is checked on both daemons so a corpus mistake shows up on the
//! reference run.
//!
//! Normalisation: see [`Normaliser`]; everything it does not touch must be
//! equal, including dictionary key order. A failure report is a line diff
//! with full context, so it shows both normalised replies at once.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bencode::Bencode;
use crate::daemon::{Daemon, DaemonKind};
use crate::rtp::{self, MediaPair};

/// Options every sequence runs with: deletions take effect at once (the
/// default 30 s delay would make `delete` followed by `query` meaningless).
pub const BASE_OPTIONS: &[&str] = &["--delete-delay=0"];

/// How long to wait for an ng reply before recording "no reply".
const NG_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long media may take to cross the relay on loopback.
const MEDIA_DEADLINE: Duration = Duration::from_millis(1000);
/// How long to listen when nothing (more) is expected to arrive.
const MEDIA_QUIET: Duration = Duration::from_millis(250);

/// One corpus file.
pub struct Sequence {
    pub name: String,
    pub description: String,
    pub interfaces: Vec<String>,
    pub options: Vec<String>,
    /// Endpoint name and IP, in declaration order.
    pub endpoints: Vec<(String, String)>,
    pub steps: Vec<Value>,
}

impl Sequence {
    pub fn parse(name: &str, text: &str) -> Result<Sequence, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("{name}: bad JSON: {e}"))?;
        let strings = |key: &str, default: &[&str]| -> Result<Vec<String>, String> {
            match v.get(key) {
                None => Ok(default.iter().map(|s| s.to_string()).collect()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("{name}: {key} must be strings")),
                Some(_) => Err(format!("{name}: {key} must be a list")),
            }
        };
        let endpoints = match v.get("endpoints") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, ip)| {
                    let ip = ip.as_str().ok_or(format!("{name}: endpoint {k}"))?;
                    check_loopback(name, ip)?;
                    Ok((k.clone(), ip.to_string()))
                })
                .collect::<Result<Vec<_>, String>>()?,
            _ => Vec::new(),
        };
        let steps = v
            .get("steps")
            .and_then(Value::as_array)
            .ok_or(format!("{name}: no steps"))?
            .clone();
        let seq = Sequence {
            name: name.to_string(),
            description: v
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            interfaces: strings("interfaces", &["127.0.0.1"])?,
            options: strings("options", &[])?,
            endpoints,
            steps,
        };
        seq.check_addresses()?;
        Ok(seq)
    }

    /// The daemons send media wherever an SDP or flag tells them to; keep that
    /// inside loopback (127.0.0.0/8, ::1) whatever a corpus author writes.
    fn check_addresses(&self) -> Result<(), String> {
        fn walk(name: &str, v: &Value) -> Result<(), String> {
            match v {
                Value::String(s) => {
                    for line in s.split("\r\n") {
                        let addr = if let Some(rest) = line.strip_prefix("c=") {
                            rest.split(' ').nth(2)
                        } else if let Some(rest) = line.strip_prefix("a=rtcp:") {
                            rest.split(' ').nth(3)
                        } else {
                            None
                        };
                        if let Some(a) = addr {
                            check_loopback(name, a.split('/').next().unwrap_or(a))?;
                        }
                    }
                    Ok(())
                }
                Value::Array(a) => a.iter().try_for_each(|x| walk(name, x)),
                Value::Object(m) => m.iter().try_for_each(|(k, x)| {
                    if k == "media address" || k == "media-address" {
                        if let Some(a) = x.as_str() {
                            check_loopback(name, a)?;
                        }
                    }
                    walk(name, x)
                }),
                _ => Ok(()),
            }
        }
        walk(&self.name, &Value::Array(self.steps.clone()))
    }
}

/// Decoded length of unpadded standard base64, `None` if it is not that.
fn base64_len(text: &str) -> Option<usize> {
    let valid = !text.is_empty()
        && text.len() % 4 != 1
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    valid.then_some(text.len() * 3 / 4)
}

fn check_loopback(name: &str, ip: &str) -> Result<(), String> {
    match ip.parse::<std::net::IpAddr>() {
        Ok(a) if a.is_loopback() => Ok(()),
        // rtpengine never sends to 0.0.0.0 (hold) or ::
        Ok(a) if a.is_unspecified() => Ok(()),
        _ => Err(format!("{name}: address {ip:?} is not loopback")),
    }
}

/// Loads every `*.json` in `dir`, sorted by file name.
pub fn load_corpus(dir: &Path) -> Vec<Sequence> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p).expect("read corpus file");
            Sequence::parse(&name, &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// The phones of one sequence: bound once, used by both daemons' runs.
pub struct Phones {
    pairs: Vec<(String, MediaPair)>,
}

impl Phones {
    pub fn bind(seq: &Sequence) -> Phones {
        Phones {
            pairs: seq
                .endpoints
                .iter()
                .map(|(n, ip)| (n.clone(), MediaPair::bind(ip)))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Result<&MediaPair, String> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| format!("unknown endpoint {name:?}"))
    }

    /// Throws away whatever is queued (e.g. late packets of the other run).
    fn drain_all(&self) {
        for (_, p) in &self.pairs {
            rtp::drain(&p.rtp);
            rtp::drain(&p.rtcp);
        }
    }

    /// Replaces `{{name}}` / `{{name.rtcp}}` with the endpoint's ports.
    fn substitute(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("unterminated {{{{ in {s:?}"))?
                + start;
            let key = &rest[start + 2..end];
            let (name, rtcp) = match key.strip_suffix(".rtcp") {
                Some(n) => (n, true),
                None => (key, false),
            };
            let pair = self.get(name)?;
            let port = pair.rtp_port() + u16::from(rtcp);
            write!(out, "{port}").expect("write to string");
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A reply or observation after normalisation: a tree that renders to text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Norm {
    Int(i64),
    Str(String),
    /// A normalised value (`port#3`, `time`), kept distinct from real strings.
    Sym(String),
    List(Vec<Norm>),
    Dict(Vec<(String, Norm)>),
}

impl Norm {
    fn from_bencode(b: &Bencode) -> Norm {
        match b {
            Bencode::Int(i) => Norm::Int(*i),
            Bencode::Bytes(s) => Norm::Str(String::from_utf8_lossy(s).into_owned()),
            Bencode::List(l) => Norm::List(l.iter().map(Norm::from_bencode).collect()),
            Bencode::Dict(d) => Norm::Dict(
                d.iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            Norm::from_bencode(v),
                        )
                    })
                    .collect(),
            ),
        }
    }

    fn from_json(v: &Value) -> Norm {
        match v {
            Value::Null => Norm::Sym("null".into()),
            Value::Bool(b) => Norm::Sym(b.to_string()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Norm::Int(i),
                None => Norm::Sym(n.to_string()),
            },
            Value::String(s) => Norm::Str(s.clone()),
            Value::Array(a) => Norm::List(a.iter().map(Norm::from_json).collect()),
            // serde_json is built with preserve_order in this workspace, so
            // the daemon's key order survives.
            Value::Object(m) => Norm::Dict(
                m.iter()
                    .map(|(k, v)| (k.clone(), Norm::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Norm> {
        match self {
            Norm::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Multi-line text, one leaf per line, SDP bodies split at CRLF, so that
    /// a line diff points at the field that differs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    fn render_into(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        match self {
            Norm::Int(i) => writeln!(out, "{i}").expect("write"),
            Norm::Sym(s) => writeln!(out, "<{s}>").expect("write"),
            Norm::Str(s) if s.contains("\r\n") => {
                out.push_str("|sdp\n");
                let mut lines: Vec<&str> = s.split("\r\n").collect();
                let complete = lines.last() == Some(&"");
                if complete {
                    lines.pop();
                }
                for l in lines {
                    // Debug-escape lone CR/LF so they cannot pass for CRLF.
                    let l = format!("{l:?}");
                    writeln!(out, "{pad}  | {}", &l[1..l.len() - 1]).expect("write");
                }
                if !complete {
                    writeln!(out, "{pad}  (no final CRLF)").expect("write");
                }
            }
            Norm::Str(s) => writeln!(out, "{s:?}").expect("write"),
            Norm::List(l) if l.is_empty() => out.push_str("[]\n"),
            Norm::List(l) => {
                out.push('\n');
                for v in l {
                    write!(out, "{pad}  - ").expect("write");
                    v.render_into(out, depth + 2);
                }
            }
            Norm::Dict(d) if d.is_empty() => out.push_str("{}\n"),
            Norm::Dict(d) => {
                out.push('\n');
                for (k, v) in d {
                    write!(out, "{pad}  {k:?}: ").expect("write");
                    v.render_into(out, depth + 1);
                }
            }
        }
    }
}

/// Replaces what legitimately differs between two daemons with symbols. One
/// instance per run, so symbols are stable across all replies of a sequence:
/// "the re-offer reuses the offer's port" stays checked.
///
/// Rules (nothing else is touched):
/// - Relay ports: each daemon has its own port range, and rtpengine picks ports
///   at random inside it. A port inside the daemon's range becomes `port#N`,
///   N by first appearance in the run. Only port positions are mapped: SDP
///   `m=` ports, `a=rtcp:` ports, `a=candidate` ports, and the `local port`
///   and `port` fields of query replies; the same map names the source port of
///   relayed media. A port outside the range stays literal (phone ports are
///   identical in both runs; a relay port outside the range is a bug).
/// - Wall-clock times (`created`, `created_us`, `last signal`, `last packet`,
///   ...): become `time`, keeping the key and that it was an integer.
/// - Hash-ordered collections: rtpengine emits the `calls` list of `list` in
///   GLib hash-table order, which is not part of the protocol; it is sorted
///   before comparing. (`tags` in `query` follows creation order, stable over
///   repeated runs, so its order is compared.)
/// - SDES keys: a daemon's own keys are random. In an SDP `a=crypto` line,
///   an `inline:` key that is valid base64 and does not occur in any request
///   of the sequence becomes `<key#N NNB>`: N by first appearance (so "the
///   re-offer keeps its key" stays checked), NNB its decoded length. `=`
///   padding stays literal, and so does everything else on the line (tag,
///   suite, lifetime, MKI, session parameters) and any key a request
///   contained (a key passed through from the other party must be equal).
pub struct Normaliser {
    port_min: u16,
    port_max: u16,
    ports: HashMap<u16, usize>,
    /// Keys (base64 digits only) the sequence's requests contain.
    known_keys: Vec<String>,
    keys: HashMap<String, usize>,
}

/// Reply keys whose integer value is a wall-clock time.
const TIME_KEYS: &[&str] = &[
    "created",
    "created_us",
    "last signal",
    "last packet",
    "last redis update",
    "last kernel packet",
    "last user packet",
];
/// Reply keys whose integer value is a port.
const PORT_KEYS: &[&str] = &["local port", "port"];
/// Collections rtpengine emits in hash order.
const UNORDERED_KEYS: &[&str] = &["calls"];

impl Normaliser {
    pub fn new(port_min: u16, port_max: u16) -> Normaliser {
        Normaliser {
            port_min,
            port_max,
            ports: HashMap::new(),
            known_keys: Default::default(),
            keys: HashMap::new(),
        }
    }

    /// Marks every `inline:` key in `text` (a request) as known: it stays
    /// literal wherever a reply repeats it. A daemon re-encodes the keys it
    /// accepts, dropping padding and stray characters after the key, so a
    /// known key is the run of base64 digits after `inline:` (any case) and a
    /// reply key is known when such a run starts with it.
    pub fn know_keys(&mut self, text: &str) {
        let lower = text.to_ascii_lowercase();
        for (i, _) in lower.match_indices("inline:") {
            let rest = &text[i + 7..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
                .unwrap_or(rest.len());
            self.known_keys.push(rest[..end].to_string());
        }
    }

    /// `inline:<key>` of a reply, normalised (see the type docs).
    fn key_param(&mut self, param: &str) -> String {
        let Some(body) = param.strip_prefix("inline:") else {
            return param.to_string();
        };
        let end = body.find(['|', ';']).unwrap_or(body.len());
        let (key, tail) = body.split_at(end);
        let text = key.trim_end_matches('=');
        let padding = &key[text.len()..];
        let Some(len) = base64_len(text) else {
            return param.to_string();
        };
        if self.known_keys.iter().any(|k| k.starts_with(text)) {
            return param.to_string();
        }
        let n = self.keys.len() + 1;
        let n = *self.keys.entry(text.to_string()).or_insert(n);
        format!("inline:<key#{n} {len}B>{padding}{tail}")
    }

    /// `port#N` for a relay port, the number itself otherwise.
    pub fn port(&mut self, port: i64) -> Norm {
        match u16::try_from(port) {
            Ok(p) if (self.port_min..=self.port_max).contains(&p) => {
                let n = self.ports.len() + 1;
                let n = *self.ports.entry(p).or_insert(n);
                Norm::Sym(format!("port#{n}"))
            }
            _ => Norm::Int(port),
        }
    }

    fn port_text(&mut self, token: &str) -> String {
        match token.parse::<i64>() {
            Ok(p) => match self.port(p) {
                Norm::Sym(s) => format!("<{s}>"),
                _ => token.to_string(),
            },
            Err(_) => token.to_string(),
        }
    }

    /// Maps the port fields of one SDP line.
    fn sdp_line(&mut self, line: &str) -> String {
        let mut tokens: Vec<String> = line.split(' ').map(str::to_string).collect();
        if line.starts_with("m=") && tokens.len() > 1 {
            // m=<media> <port>[/<count>] <proto> ...
            let (port, count) = match tokens[1].split_once('/') {
                Some((p, c)) => (p.to_string(), format!("/{c}")),
                None => (tokens[1].clone(), String::new()),
            };
            tokens[1] = format!("{}{count}", self.port_text(&port));
        } else if line.starts_with("a=crypto:") && tokens.len() > 2 {
            // a=crypto:<tag> <suite> <key-param>[;<key-param>...] [<session-param>...]
            let params: Vec<String> = tokens[2].split(';').map(|p| self.key_param(p)).collect();
            tokens[2] = params.join(";");
        } else if let Some(port) = tokens[0].strip_prefix("a=rtcp:") {
            tokens[0] = format!("a=rtcp:{}", self.port_text(port));
        } else if line.starts_with("a=candidate:") && tokens.len() > 5 {
            // a=candidate:<foundation> <component> <transport> <priority> <addr> <port> typ ...
            tokens[5] = self.port_text(&tokens[5]);
            if let Some(i) = tokens.iter().position(|t| t == "rport") {
                if i + 1 < tokens.len() {
                    tokens[i + 1] = self.port_text(&tokens[i + 1]);
                }
            }
        }
        tokens.join(" ")
    }

    fn sdp(&mut self, sdp: &str) -> String {
        sdp.split("\r\n")
            .map(|l| self.sdp_line(l))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// Normalises a whole reply.
    pub fn reply(&mut self, v: &Norm) -> Norm {
        self.value(None, v)
    }

    fn value(&mut self, key: Option<&str>, v: &Norm) -> Norm {
        match v {
            Norm::Int(i) if key.is_some_and(|k| TIME_KEYS.contains(&k)) => {
                let _ = i;
                Norm::Sym("time".into())
            }
            Norm::Int(i) if key.is_some_and(|k| PORT_KEYS.contains(&k)) => self.port(*i),
            Norm::Str(s) if key == Some("sdp") => Norm::Str(self.sdp(s)),
            Norm::List(l) => {
                let mut l: Vec<Norm> = l.iter().map(|x| self.value(None, x)).collect();
                if key.is_some_and(|k| UNORDERED_KEYS.contains(&k)) {
                    l.sort_by_key(Norm::render);
                }
                Norm::List(l)
            }
            Norm::Dict(d) => {
                // Map ports in a fixed order (sorted by key) for hash-ordered
                // dictionaries, so port numbering does not depend on it.
                let mut entries: Vec<(String, &Norm)> =
                    d.iter().map(|(k, x)| (k.clone(), x)).collect();
                let unordered = key.is_some_and(|k| UNORDERED_KEYS.contains(&k));
                if unordered {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Norm::Dict(
                    entries
                        .into_iter()
                        .map(|(k, x)| {
                            let n = self.value(Some(&k), x);
                            (k, n)
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
}

/// One compared entry of a run: a label (`step 3 offer`) and normalised text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub text: String,
}

/// What one daemon did with one sequence.
pub struct Run {
    pub entries: Vec<Entry>,
    /// Broken expectations of media steps (`expect`).
    pub problems: Vec<String>,
    pub log: String,
}

/// Destination of a media step, from an SDP.
struct MediaDest {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
}

/// Finds where the phone that received `sdp` sends m-line `index`'s RTP and
/// RTCP: media-level `c=` over session-level, `a=rtcp:` over port + 1
/// (RFC 3605, RFC 3550 §11); port 0 means the stream was rejected.
fn media_dest(sdp: &str, index: usize) -> Result<MediaDest, String> {
    let mut session_c: Option<String> = None;
    let mut current: Option<usize> = None;
    let mut count = 0usize;
    let (mut port, mut media_c, mut rtcp_attr) = (None, None, None::<(u16, Option<String>)>);
    for line in sdp.split("\r\n") {
        if let Some(rest) = line.strip_prefix("m=") {
            current = Some(count);
            count += 1;
            if current == Some(index) {
                let p = rest.split(' ').nth(1).ok_or("bad m= line")?;
                port = Some(
                    p.split('/')
                        .next()
                        .unwrap_or(p)
                        .parse::<u16>()
                        .map_err(|e| e.to_string())?,
                );
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let addr = rest.split(' ').nth(2).ok_or("bad c= line")?.to_string();
            match current {
                None => session_c = Some(addr),
                Some(i) if i == index => media_c = Some(addr),
                Some(_) => {}
            }
        } else if let Some(rest) = line.strip_prefix("a=rtcp:") {
            if current == Some(index) {
                let mut t = rest.split(' ');
                let p = t
                    .next()
                    .unwrap_or_default()
                    .parse::<u16>()
                    .map_err(|e| e.to_string())?;
                rtcp_attr = Some((p, t.nth(2).map(str::to_string)));
            }
        }
    }
    let port = port.ok_or_else(|| format!("no m-line {index}"))?;
    let addr = media_c.or(session_c).ok_or("no c= line")?;
    let ip: std::net::IpAddr = addr.parse().map_err(|e| format!("c= {addr}: {e}"))?;
    if port == 0 || ip.is_unspecified() {
        return Ok(MediaDest {
            rtp: None,
            rtcp: None,
        });
    }
    let rtcp = match rtcp_attr {
        Some((p, Some(a))) => {
            SocketAddr::new(a.parse().map_err(|e| format!("a=rtcp {a}: {e}"))?, p)
        }
        Some((p, None)) => SocketAddr::new(ip, p),
        None => SocketAddr::new(ip, port + 1),
    };
    Ok(MediaDest {
        rtp: Some(SocketAddr::new(ip, port)),
        rtcp: Some(rtcp),
    })
}

/// Runs `seq` against a fresh daemon of `kind`.
pub fn run(seq: &Sequence, kind: DaemonKind, phones: &Phones) -> Result<Run, String> {
    phones.drain_all();
    let interfaces: Vec<&str> = seq.interfaces.iter().map(String::as_str).collect();
    let mut options: Vec<&str> = BASE_OPTIONS.to_vec();
    options.extend(seq.options.iter().map(String::as_str));
    let daemon = start_daemon(kind, &interfaces, &options)?;
    let client = daemon.client();
    let mut norm = Normaliser::new(daemon.port_min, daemon.port_max);
    for step in &seq.steps {
        norm.know_keys(&step.to_string());
    }
    let mut run = Run {
        entries: Vec::new(),
        problems: Vec::new(),
        log: String::new(),
    };
    // Raw (unnormalised) replies by step id, for media destinations.
    let mut replies: HashMap<String, Norm> = HashMap::new();
    for (i, step) in seq.steps.iter().enumerate() {
        let id = step.get("id").and_then(Value::as_str);
        let (label, text) = if let Some(media) = step.get("media") {
            let label = format!("step {i} media");
            let text = media_step(i, media, &replies, phones, &mut norm, &mut run.problems)
                .map_err(|e| format!("{label}: {e}"))?;
            (label, text)
        } else {
            let (form, body) = request_body(step, kind, phones)?;
            let command = step
                .get(form)
                .and_then(|r| r.get("command"))
                .and_then(Value::as_str)
                .unwrap_or(form);
            let label = format!("step {i} {form} {command}");
            let cookie = format!("s{i}");
            let reply = match client.request_raw(cookie.as_bytes(), &body, NG_TIMEOUT) {
                Err(e) => Norm::Sym(format!("no reply: {e}")),
                Ok(raw) => parse_reply(&cookie, &raw),
            };
            if let Some(id) = id {
                replies.insert(id.to_string(), reply.clone());
            }
            (label, norm.reply(&reply).render())
        };
        run.entries.push(Entry { label, text });
    }
    run.log = daemon.log();
    Ok(run)
}

/// Starts a daemon, retrying with the next port block: other test binaries
/// running alongside draw from the same 22000..58000 blocks, so a startup
/// failure can be a port clash rather than a fault of the daemon. A daemon
/// that fails three times in a row is reported.
fn start_daemon(kind: DaemonKind, interfaces: &[&str], options: &[&str]) -> Result<Daemon, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match std::panic::catch_unwind(|| Daemon::start(kind, interfaces, options)) {
            Ok(d) => return Ok(d),
            Err(p) => {
                last = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
            }
        }
    }
    Err(format!("{kind:?} failed to start 3 times; last: {last}"))
}

/// The request body of an ng step, in the form the step asks for.
///
/// `ng_rtpengine` is what rtpengine gets instead of `ng`, for requests whose
/// form rtpengine 10.5 predates (the `rtpp-flags` string): the step then
/// checks that rtpbolt's reply to the new form equals rtpengine's reply to
/// the equivalent old form.
fn request_body(
    step: &Value,
    kind: DaemonKind,
    phones: &Phones,
) -> Result<(&'static str, Vec<u8>), String> {
    if let (DaemonKind::Rtpengine, Some(r)) = (kind, step.get("ng_rtpengine")) {
        Ok(("ng", to_bencode(r, phones)?.encode()))
    } else if let Some(r) = step.get("ng") {
        Ok(("ng", to_bencode(r, phones)?.encode()))
    } else if let Some(r) = step.get("ng_json") {
        let r = substitute_json(r, phones)?;
        Ok((
            "ng_json",
            serde_json::to_vec(&r).map_err(|e| e.to_string())?,
        ))
    } else if let Some(Value::String(r)) = step.get("ng_raw") {
        Ok(("ng_raw", phones.substitute(r)?.into_bytes()))
    } else {
        Err(format!("unknown step {step}"))
    }
}

fn substitute_json(v: &Value, phones: &Phones) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(phones.substitute(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_json(x, phones))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_json(x, phones)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn to_bencode(v: &Value, phones: &Phones) -> Result<Bencode, String> {
    Ok(match v {
        Value::String(s) => Bencode::from(phones.substitute(s)?),
        Value::Number(n) => Bencode::Int(n.as_i64().ok_or("non-integer number")?),
        Value::Array(a) => Bencode::List(
            a.iter()
                .map(|x| to_bencode(x, phones))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Bencode::Dict(
            m.iter()
                .map(|(k, x)| Ok((k.as_bytes().to_vec(), to_bencode(x, phones)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Bool(_) | Value::Null => return Err(format!("bencode has no {v}")),
    })
}

/// Decodes `cookie SP body`; the body is JSON if it starts with `{`. The
/// form is part of the result: a JSON request must get a JSON reply.
fn parse_reply(cookie: &str, raw: &[u8]) -> Norm {
    let Some(body) = raw.strip_prefix(format!("{cookie} ").as_bytes()) else {
        return Norm::Sym(format!(
            "reply without cookie: {:?}",
            String::from_utf8_lossy(raw)
        ));
    };
    if body.first() == Some(&b'{') {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => Norm::Dict(vec![("(json)".into(), Norm::from_json(&v))]),
            Err(e) => Norm::Sym(format!(
                "bad JSON reply ({e}): {:?}",
                String::from_utf8_lossy(body)
            )),
        }
    } else {
        match Bencode::decode(body) {
            Ok((v, [])) => Norm::from_bencode(&v),
            Ok((_, rest)) => Norm::Sym(format!("{} trailing bytes after reply", rest.len())),
            Err(e) => Norm::Sym(format!(
                "bad bencode reply ({e}): {:?}",
                String::from_utf8_lossy(body)
            )),
        }
    }
}

fn reply_sdp(reply: &Norm) -> Option<&str> {
    let reply = reply.get("(json)").unwrap_or(reply);
    match reply.get("sdp") {
        Some(Norm::Str(s)) => Some(s),
        _ => None,
    }
}

/// Sends a burst for one media step and records what arrived where.
fn media_step(
    step_no: usize,
    m: &Value,
    replies: &HashMap<String, Norm>,
    phones: &Phones,
    norm: &mut Normaliser,
    problems: &mut Vec<String>,
) -> Result<String, String> {
    let field = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .ok_or(format!("media step needs {k:?}"))
    };
    let from = field("from")?;
    let to = field("to")?;
    let index = m.get("m").and_then(Value::as_u64).unwrap_or(0) as usize;
    let rtcp = m.get("rtcp").and_then(Value::as_bool).unwrap_or(false);
    let count = m.get("count").and_then(Value::as_u64).unwrap_or(3) as usize;
    let pt = m.get("pt").and_then(Value::as_u64).unwrap_or(0) as u8;
    let expect = match m.get("expect") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Null) => None,
        _ => return Err("media step needs \"expect\" (an endpoint or null)".into()),
    };
    if let Some(e) = expect {
        phones.get(e)?;
    }
    let sender = phones.get(from)?;
    let reply = replies.get(to).ok_or(format!("no reply with id {to:?}"))?;
    let mut text = format!(
        "{from}.{} -> {to}/m{index}: ",
        if rtcp { "rtcp" } else { "rtp" }
    );
    let sdp = match reply_sdp(reply) {
        Some(s) => s,
        None => {
            // The daemon under test may have sent no SDP: that is a
            // difference to report, not a harness failure.
            text.push_str("no SDP in that reply\n");
            return Ok(text);
        }
    };
    let dest = media_dest(sdp, index)?;
    let Some(dest) = (if rtcp { dest.rtcp } else { dest.rtp }) else {
        text.push_str("stream rejected or on hold, nothing sent\n");
        return Ok(text);
    };
    let dest_port = norm.port(i64::from(dest.port()));
    writeln!(
        text,
        "to {} port {}",
        dest.ip(),
        Norm::render(&dest_port).trim_end()
    )
    .expect("write");

    // Per-step SSRC so that query statistics are the same in both runs.
    let ssrc = 0x5eed_0000 + step_no as u32;
    let packets: Vec<Vec<u8>> = (0..count)
        .map(|k| {
            let seq = (step_no * 100 + k) as u16;
            if rtcp {
                rtp::rtcp_sender_report(
                    ssrc,
                    0xe000_0000_0000_0000 + k as u64,
                    160 * k as u32,
                    k as u32,
                    160 * k as u32,
                )
            } else {
                rtp::rtp_packet(pt, seq, 160 * seq as u32, ssrc, 160)
            }
        })
        .collect();
    let sock: &UdpSocket = if rtcp { &sender.rtcp } else { &sender.rtp };
    for p in &packets {
        // An error here (ICMP unreachable queued from earlier) is not
        // about this packet; the arrival check below is what counts.
        let _ = sock.send_to(p, dest);
        std::thread::sleep(Duration::from_millis(2));
    }

    // Collect until the expected burst is complete, then listen a little
    // longer for strays (duplicates, packets to other endpoints).
    let mut arrivals: Vec<(String, &'static str, SocketAddr, Vec<u8>)> = Vec::new();
    let start = Instant::now();
    let mut quiet_from: Option<Instant> = if expect.is_none() { Some(start) } else { None };
    loop {
        for (name, pair) in &phones.pairs {
            for (kind, s) in [("rtp", &pair.rtp), ("rtcp", &pair.rtcp)] {
                for (src, data) in rtp::drain(s) {
                    // ICE connectivity checks towards a phone that offered
                    // ICE carry random transaction ids and are paced by the
                    // daemon's timers: how many fall into this window is
                    // not deterministic, so they are not media to compare.
                    if !is_stun(&data) {
                        arrivals.push((name.clone(), kind, src, data));
                    }
                }
            }
        }
        let done = expect.is_some_and(|e| {
            let kind = if rtcp { "rtcp" } else { "rtp" };
            arrivals.iter().filter(|a| a.0 == e && a.1 == kind).count() >= count
        });
        if done && quiet_from.is_none() {
            quiet_from = Some(Instant::now());
        }
        let now = Instant::now();
        match quiet_from {
            Some(q) if now.duration_since(q) >= MEDIA_QUIET => break,
            None if now.duration_since(start) >= MEDIA_DEADLINE => break,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }

    // Group by receiving socket and source, keeping first-arrival order.
    let mut groups: Vec<(String, &str, SocketAddr, usize, usize)> = Vec::new();
    for (name, kind, src, data) in &arrivals {
        let intact = packets.contains(data);
        match groups
            .iter_mut()
            .find(|g| &g.0 == name && g.1 == *kind && g.2 == *src)
        {
            Some(g) => {
                g.3 += 1;
                g.4 += usize::from(intact);
            }
            None => groups.push((name.clone(), kind, *src, 1, usize::from(intact))),
        }
    }
    if groups.is_empty() {
        text.push_str("  nothing arrived\n");
    }
    for (name, kind, src, n, intact) in &groups {
        let src_port = norm.port(i64::from(src.port()));
        writeln!(
            text,
            "  {name}.{kind} <- {} port {}: {n} packets, {intact} unmodified",
            src.ip(),
            src_port.render().trim_end()
        )
        .expect("write");
    }

    let want_kind = if rtcp { "rtcp" } else { "rtp" };
    let ok = match expect {
        None => groups.is_empty(),
        Some(e) => {
            groups.len() == 1 && {
                let g = &groups[0];
                g.0 == e && g.1 == want_kind && g.3 == count && g.4 == count
            }
        }
    };
    if !ok {
        problems.push(format!(
            "step {step_no}: expected {} of {count} {want_kind} packets, got:\n{text}",
            expect.map_or("no arrival".to_string(), |e| format!("{e} to receive all")),
        ));
    }
    Ok(text)
}

/// A STUN message (RFC 5389 §6): top two bits zero and the magic cookie.
fn is_stun(p: &[u8]) -> bool {
    p.len() >= 20 && p[0] >> 6 == 0 && p[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// A line diff (longest common subsequence) of two texts: `-` lines only in
/// `a`, `+` lines only in `b`.
pub fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            writeln!(out, "  {}", a[i]).expect("write");
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals first, as in a unified diff.
            writeln!(out, "- {}", a[i]).expect("write");
            i += 1;
        } else {
            writeln!(out, "+ {}", b[j]).expect("write");
            j += 1;
        }
    }
    out
}

/// Runs one sequence on both daemons and returns a failure report, if any.
pub fn compare(seq: &Sequence, reference: DaemonKind, under_test: DaemonKind) -> Option<String> {
    let phones = Phones::bind(seq);
    let a = match run(seq, reference, &phones) {
        Ok(r) => r,
        Err(e) => return Some(format!("reference run failed: {e}")),
    };
    let b = match run(seq, under_test, &phones) {
        Ok(r) => r,
        Err(e) => return Some(format!("run under test failed: {e}")),
    };
    if std::env::var_os("RTPBOLT_DIFF_DUMP").is_some() {
        let mut dump = format!("===== {} ({reference:?})\n", seq.name);
        for e in &a.entries {
            writeln!(dump, "{}: {}", e.label, e.text).expect("write");
        }
        eprintln!("{dump}");
    }
    let mut report = String::new();
    for p in &a.problems {
        writeln!(
            report,
            "reference ({reference:?}) broke a corpus expectation: {p}"
        )
        .expect("write");
    }
    for p in &b.problems {
        writeln!(report, "{under_test:?} broke a corpus expectation: {p}").expect("write");
    }
    for (i, ea) in a.entries.iter().enumerate() {
        let Some(eb) = b.entries.get(i) else { break };
        if ea != eb {
            writeln!(
                report,
                "--- {} differs ({reference:?} '-', {under_test:?} '+'):\n{}",
                ea.label,
                diff(
                    &format!("{}\n{}", ea.label, ea.text),
                    &format!("{}\n{}", eb.label, eb.text)
                )
            )
            .expect("write");
        }
    }
    if report.is_empty() {
        return None;
    }
    if std::env::var_os("RTPBOLT_DIFF_LOGS").is_some() {
        writeln!(
            report,
            "--- {reference:?} log:\n{}\n--- {under_test:?} log:\n{}",
            a.log, b.log
        )
        .expect("write");
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_numbered_by_first_appearance() {
        let mut n = Normaliser::new(30000, 30100);
        let sdp = "m=audio 30050 RTP/AVP 0\r\na=rtcp:30051\r\nm=video 30050 RTP/AVP 96\r\nm=audio 5000 RTP/AVP 0\r\n";
        assert_eq!(
            n.sdp(sdp),
            "m=audio <port#1> RTP/AVP 0\r\na=rtcp:<port#2>\r\nm=video <port#1> RTP/AVP 96\r\nm=audio 5000 RTP/AVP 0\r\n"
        );
    }

    #[test]
    fn sdes_keys_numbered_unless_known() {
        let mut n = Normaliser::new(30000, 30100);
        n.know_keys(r#"{"sdp": "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^20\r\n"}"#);
        let sdp = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n\
            a=crypto:2 AEAD_AES_128_GCM inline:6tNYWmB8cvctxLixKYEuep67HDUpleMpXD714w==|2^31|1:4 UNENCRYPTED_SRTP\r\n\
            a=crypto:3 AEAD_AES_128_GCM inline:6tNYWmB8cvctxLixKYEuep67HDUpleMpXD714w\r\n\
            a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:not*base64\r\n";
        assert_eq!(
            n.sdp(sdp),
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n\
            a=crypto:2 AEAD_AES_128_GCM inline:<key#1 28B>==|2^31|1:4 UNENCRYPTED_SRTP\r\n\
            a=crypto:3 AEAD_AES_128_GCM inline:<key#1 28B>\r\n\
            a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:not*base64\r\n"
        );
    }

    #[test]
    fn media_dest_prefers_media_level() {
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\na=rtcp:6000\r\n";
        let d = media_dest(sdp, 1).unwrap();
        assert_eq!(d.rtp, Some("127.0.0.2:5000".parse().unwrap()));
        assert_eq!(d.rtcp, Some("127.0.0.2:6000".parse().unwrap()));
        assert_eq!(
            media_dest(sdp, 0).unwrap().rtcp,
            Some("127.0.0.1:4001".parse().unwrap())
        );
    }

    #[test]
    fn diff_marks_changes() {
        assert_eq!(diff("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
    }
}
