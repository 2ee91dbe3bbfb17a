//! The table of every rtpengine(8) daemon option.
//!
//! The table is the union of the rtpengine(8) man page and the options Debian's
//! rtpengine 10.5 accepts (`rtpengine --help`), because an existing command line
//! or config file written for either must be accepted. Short names follow the
//! 10.5 binary where the man page disagrees (the man page lists `-t` for both
//! `--table` and `--tos` and `-n` for `--listen-tcp-ng`; the binary uses `-T`
//! and `-N`).
//!
//! The table ends with rtpbolt's own options ([`EXTENSIONS_FROM`] on), which rtpengine
//! does not have; none of them is needed to run an rtpengine command line or config.
//!
//! `supported` says whether [`super::Config`] acts on the option; every other
//! option is parsed per its [`ArgKind`] (so a malformed value is still an
//! error, as in rtpengine) and then produces one "not supported yet" warning.

/// How an option takes its value, mirroring glib's `GOptionArg` kinds.
///
/// The kind decides the command-line grammar (does it consume an argument?),
/// the value syntax (glib parses integers with `strtol(.., 0)` on the command
/// line but base 10 in the config file) and repetition: only [`ArgKind::List`]
/// accumulates, every other kind keeps its last occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Present or absent; `true`/`false`/`1`/`0` in the config file.
    Flag,
    /// A C `int`.
    Int,
    /// A C `double`.
    Double,
    /// A string (or file name); the last occurrence wins.
    Str,
    /// A string array: repeated on the command line, `;`-separated in the
    /// config file.
    List,
}

/// One row of the option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// Long name without the leading `--`; also the config-file key.
    pub long: &'static str,
    /// Single-character name, if any.
    pub short: Option<char>,
    /// Value kind.
    pub kind: ArgKind,
    /// Placeholder shown in `--help` (empty for flags).
    pub metavar: &'static str,
    /// Whether rtpbolt acts on the option (otherwise: warning, ignored).
    pub supported: bool,
}

impl OptionSpec {
    /// Whether the option consumes a value on the command line.
    pub fn takes_value(&self) -> bool {
        self.kind != ArgKind::Flag
    }

    /// Whether repeated occurrences accumulate instead of overriding.
    pub fn repeatable(&self) -> bool {
        self.kind == ArgKind::List
    }
}

const fn o(
    long: &'static str,
    short: Option<char>,
    kind: ArgKind,
    metavar: &'static str,
    supported: bool,
) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind,
        metavar,
        supported,
    }
}

use ArgKind::{Double, Flag, Int, List, Str};

const Y: bool = true;
const N: bool = false;

/// Options handled before or outside [`super::Config`]: they are never
/// "unsupported" and are not valid config-file keys.
pub const META_OPTIONS: &[&str] = &["help", "version", "config-file", "config-section"];

/// Every option rtpbolt recognises, in rtpengine's `--help` order.
pub const OPTIONS: &[OptionSpec] = &[
    o("help", Some('h'), Flag, "", Y),
    o("version", Some('v'), Flag, "", Y),
    o("config-file", None, Str, "FILE", Y),
    o("config-section", None, Str, "STRING", Y),
    o("log-facility", None, Str, "daemon|local0|...|local7", Y),
    o("log-level", Some('L'), Int, "INT", Y),
    o("log-level-core", None, Int, "INT", N),
    o("log-level-spandsp", None, Int, "INT", N),
    o("log-level-ffmpeg", None, Int, "INT", N),
    o("log-level-transcoding", None, Int, "INT", N),
    o("log-level-codec", None, Int, "INT", N),
    o("log-level-rtcp", None, Int, "INT", N),
    o("log-level-ice", None, Int, "INT", N),
    o("log-level-crypto", None, Int, "INT", N),
    o("log-level-srtp", None, Int, "INT", N),
    o("log-level-internals", None, Int, "INT", N),
    o("log-level-http", None, Int, "INT", N),
    o("log-level-control", None, Int, "INT", N),
    o("log-level-dtx", None, Int, "INT", N),
    o("log-stderr", Some('E'), Flag, "", Y),
    o("split-logs", None, Flag, "", N),
    o("max-log-line-length", None, Int, "INT", N),
    o("no-log-timestamps", None, Flag, "", N),
    o("log-name", None, Str, "STRING", N),
    o("log-mark-prefix", None, Str, "STRING", N),
    o("log-mark-suffix", None, Str, "STRING", N),
    o("pidfile", Some('p'), Str, "FILE", Y),
    o("foreground", Some('f'), Flag, "", Y),
    o("thread-stack", None, Int, "INT", N),
    o("table", Some('t'), Int, "INT", Y),
    o("no-fallback", Some('F'), Flag, "", Y),
    o("interface", Some('i'), List, "[NAME/]IP[!IP]", Y),
    o("save-interface-ports", Some('S'), Flag, "", N),
    o("subscribe-keyspace", Some('k'), List, "INT INT ...", N),
    o("listen-tcp", Some('l'), Str, "[IP:]PORT", Y),
    o("listen-udp", Some('u'), Str, "[IP46|HOSTNAME:]PORT", Y),
    o("listen-ng", Some('n'), Str, "[IP46|HOSTNAME:]PORT", Y),
    o("listen-tcp-ng", Some('N'), Str, "[IP46|HOSTNAME:]PORT", Y),
    o("listen-cli", Some('c'), Str, "[IP46|HOSTNAME:]PORT", Y),
    o("graphite", Some('g'), Str, "IP46|HOSTNAME:PORT", N),
    o("graphite-interval", Some('G'), Int, "INT", N),
    o("graphite-prefix", None, Str, "STRING", N),
    o("graphite-timeout", None, Int, "INT", N),
    o("tos", Some('T'), Int, "INT", Y),
    o("control-tos", None, Int, "INT", N),
    o("control-pmtu", None, Str, "want|dont", N),
    o("timeout", Some('o'), Int, "SECS", Y),
    o("silent-timeout", Some('s'), Int, "SECS", Y),
    o("final-timeout", Some('a'), Int, "SECS", Y),
    o("offer-timeout", None, Int, "SECS", Y),
    o("port-min", Some('m'), Int, "INT", Y),
    o("port-max", Some('M'), Int, "INT", Y),
    o("redis", Some('r'), Str, "[PW@]IP:PORT/INT", N),
    o("redis-write", Some('w'), Str, "[PW@]IP:PORT/INT", N),
    o("redis-num-threads", None, Int, "INT", N),
    o("redis-expires", None, Int, "INT", N),
    o("no-redis-required", Some('q'), Flag, "", N),
    o("redis-allowed-errors", None, Int, "INT", N),
    o("redis-disable-time", None, Int, "INT", N),
    o("redis-cmd-timeout", None, Int, "INT", N),
    o("redis-connect-timeout", None, Int, "INT", N),
    o("redis-delete-async", Some('y'), Flag, "", N),
    o("redis-delete-async-interval", None, Int, "INT", N),
    o("active-switchover", None, Flag, "", N),
    o("b2b-url", Some('b'), Str, "STRING", N),
    o("log-facility-cdr", None, Str, "daemon|local0|...|local7", N),
    o(
        "log-facility-rtcp",
        None,
        Str,
        "daemon|local0|...|local7",
        N,
    ),
    o(
        "log-facility-dtmf",
        None,
        Str,
        "daemon|local0|...|local7",
        N,
    ),
    o("dtmf-log-dest", None, Str, "IP46|HOSTNAME:PORT", N),
    o("dtmf-log-ng-tcp", None, Flag, "", N),
    o("dtmf-no-log-injects", None, Flag, "", N),
    o("dtmf-no-suppress", None, Flag, "", N),
    o("dtmf-digit-delay", None, Int, "INT", N),
    o("log-format", None, Str, "default|parsable", N),
    o("xmlrpc-format", Some('x'), Int, "INT", N),
    o("num-threads", None, Int, "INT", Y),
    o("media-num-threads", None, Int, "INT", N),
    o("delete-delay", Some('d'), Int, "INT", Y),
    o("sip-source", None, Flag, "", N),
    o("dtls-passive", None, Flag, "", N),
    o("max-sessions", None, Int, "INT", N),
    o("max-load", None, Double, "FLOAT", N),
    o("max-cpu", None, Double, "FLOAT", N),
    o("max-bandwidth", None, Int, "INT", N),
    o("homer", None, Str, "IP46|HOSTNAME:PORT", N),
    o("homer-protocol", None, Str, "udp|tcp", N),
    o("homer-id", None, Int, "INT", N),
    o("recording-dir", None, Str, "FILE", N),
    o("recording-method", None, Str, "pcap|proc|all", N),
    o("recording-format", None, Str, "raw|eth", N),
    o("record-egress", None, Flag, "", N),
    o("iptables-chain", None, Str, "STRING", N),
    o("codecs", None, Flag, "", N),
    o(
        "scheduling",
        None,
        Str,
        "default|none|fifo|rr|other|batch|idle",
        N,
    ),
    o("priority", None, Int, "INT", N),
    o(
        "idle-scheduling",
        None,
        Str,
        "default|none|fifo|rr|other|batch|idle",
        N,
    ),
    o("idle-priority", None, Int, "INT", N),
    o("log-srtp-keys", None, Flag, "", N),
    o("mysql-host", None, Str, "HOST|IP", N),
    o("mysql-port", None, Int, "INT", N),
    o("mysql-user", None, Str, "USERNAME", N),
    o("mysql-pass", None, Str, "PASSWORD", N),
    o("mysql-query", None, Str, "STRING", N),
    o(
        "endpoint-learning",
        None,
        Str,
        "delayed|immediate|off|heuristic",
        N,
    ),
    o("jitter-buffer", None, Int, "INT", N),
    o("jb-clock-drift", None, Flag, "", N),
    o("debug-srtp", None, Flag, "", N),
    o("reject-invalid-sdp", None, Flag, "", N),
    o("dtls-rsa-key-size", None, Int, "INT", N),
    o("dtls-cert-cipher", None, Str, "prime256v1|RSA", N),
    o("dtls-mtu", None, Int, "INT", N),
    o("dtls-ciphers", None, Str, "STRING", N),
    o("dtls-signature", None, Str, "SHA-256|SHA-1", N),
    o("listen-http", None, List, "[IP46|HOSTNAME:]PORT", N),
    o("listen-https", None, List, "[IP46|HOSTNAME:]PORT", N),
    o("https-cert", None, Str, "FILE", N),
    o("https-key", None, Str, "FILE", N),
    o("http-threads", None, Int, "INT", N),
    o("software-id", None, Str, "STRING", N),
    o("poller-per-thread", None, Flag, "", N),
    o("evs-lib-path", None, Str, "FILE", N),
    o("dtx-delay", None, Int, "INT", N),
    o("max-dtx", None, Int, "INT", N),
    o("dtx-buffer", None, Int, "INT", N),
    o("dtx-lag", None, Int, "INT", N),
    o("dtx-shift", None, Int, "INT", N),
    o("dtx-cn-params", None, List, "INT INT INT ...", N),
    o("amr-dtx", None, Str, "native|CN", N),
    o("silence-detect", None, Double, "FLOAT", N),
    o("cn-payload", None, List, "INT INT INT ...", N),
    o("player-cache", None, Flag, "", N),
    o("audio-buffer-length", None, Int, "INT", N),
    o("audio-buffer-delay", None, Int, "INT", N),
    o(
        "audio-player",
        None,
        Str,
        "on-demand|play-media|transcoding|always",
        N,
    ),
    o("mqtt-host", None, Str, "HOST|IP", N),
    o("mqtt-port", None, Int, "INT", N),
    o("mqtt-id", None, Str, "STRING", N),
    o("mqtt-keepalive", None, Int, "INT", N),
    o("mqtt-user", None, Str, "USERNAME", N),
    o("mqtt-pass", None, Str, "PASSWORD", N),
    o("mqtt-cafile", None, Str, "FILE", N),
    o("mqtt-capath", None, Str, "PATH", N),
    o("mqtt-certfile", None, Str, "FILE", N),
    o("mqtt-keyfile", None, Str, "FILE", N),
    o("mqtt-tls-alpn", None, Str, "STRING", N),
    o("mqtt-publish-qos", None, Int, "0|1|2", N),
    o("mqtt-publish-topic", None, Str, "STRING", N),
    o("mqtt-publish-interval", None, Int, "MILLISECONDS", N),
    o(
        "mqtt-publish-scope",
        None,
        Str,
        "global|summary|call|media",
        N,
    ),
    o("mos", None, Str, "CQ|LQ", N),
    o("measure-rtp", None, Flag, "", N),
    o("socket-cpu-affinity", None, Int, "INT", N),
    o("janus-secret", None, Str, "STRING", N),
    // rtpbolt's own options from here on (see EXTENSIONS_FROM).
    o("flow-table", None, Str, "FILE", Y),
    o("dataplane", None, Str, "sockets|af-xdp|auto", Y),
    o("xdp-interface", None, Str, "IFACE", Y),
];

/// Index in [`OPTIONS`] of the first option rtpengine does not have.
pub const EXTENSIONS_FROM: usize = OPTIONS.len() - 3;

/// Looks an option up by long name (without `--`).
pub fn by_long(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.long == name)
}

/// Looks an option up by short name.
pub fn by_short(c: char) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// Whether `name` is handled outside [`super::Config`] (help, version, config file).
pub fn is_meta(name: &str) -> bool {
    META_OPTIONS.contains(&name)
}

/// The `--help` text, generated from [`OPTIONS`] so it cannot drift.
pub fn usage() -> String {
    let mut out = String::from(
        "Usage:\n  rtpbolt [OPTION...]  - rtpengine-compatible media relay\n\nOptions:\n",
    );
    for spec in OPTIONS {
        let short = spec.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let value = if spec.takes_value() {
            format!("={}", spec.metavar)
        } else {
            String::new()
        };
        let left = format!("  {short}--{}{value}", spec.long);
        let note = if spec.supported || is_meta(spec.long) {
            ""
        } else {
            "(not supported yet, ignored)"
        };
        out.push_str(format!("{left:<60}{note}").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut longs = HashSet::new();
        let mut shorts = HashSet::new();
        for spec in OPTIONS {
            assert!(longs.insert(spec.long), "duplicate --{}", spec.long);
            if let Some(c) = spec.short {
                assert!(shorts.insert(c), "duplicate -{c}");
            }
        }
    }

    #[test]
    fn short_names_follow_rtpengine_10_5() {
        let short = |l: &str| by_long(l).and_then(|s| s.short);
        assert_eq!(short("table"), Some('t'));
        assert_eq!(short("tos"), Some('T'));
        assert_eq!(short("listen-ng"), Some('n'));
        assert_eq!(short("listen-tcp-ng"), Some('N'));
        assert_eq!(short("graphite-interval"), Some('G'));
        assert_eq!(short("redis-write"), Some('w'));
        assert_eq!(short("version"), Some('v'));
    }

    #[test]
    fn supported_long_names() {
        let supported: Vec<&str> = OPTIONS
            .iter()
            .filter(|s| s.supported && !is_meta(s.long))
            .map(|s| s.long)
            .collect();
        assert_eq!(
            supported,
            [
                "log-facility",
                "log-level",
                "log-stderr",
                "pidfile",
                "foreground",
                "table",
                "no-fallback",
                "interface",
                "listen-tcp",
                "listen-udp",
                "listen-ng",
                "listen-tcp-ng",
                "listen-cli",
                "tos",
                "timeout",
                "silent-timeout",
                "final-timeout",
                "offer-timeout",
                "port-min",
                "port-max",
                "num-threads",
                "delete-delay",
                "flow-table",
                "dataplane",
                "xdp-interface",
            ]
        );
    }

    #[test]
    fn extensions_are_rtpbolt_only() {
        let ext: Vec<&str> = OPTIONS[EXTENSIONS_FROM..].iter().map(|s| s.long).collect();
        assert_eq!(ext, ["flow-table", "dataplane", "xdp-interface"]);
        assert_eq!(OPTIONS[EXTENSIONS_FROM - 1].long, "janus-secret");
    }

    #[test]
    fn usage_lists_every_option() {
        let text = usage();
        for spec in OPTIONS {
            assert!(text.contains(&format!("--{}", spec.long)), "{}", spec.long);
        }
    }
}
