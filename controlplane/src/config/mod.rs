//! Daemon configuration: rtpengine(8)'s options, from the command line and the
//! config file, into one validated [`Config`].
//!
//! Pipeline: [`args::parse_args`] and [`ini::parse_ini`] turn text into raw
//! [`settings::Settings`] (syntax errors, unknown options); the command line is
//! laid over the file; [`Config::from_settings`] applies rtpengine's defaults
//! and checks ranges. Options rtpengine has but rtpbolt does not act on yet are
//! still parsed per their type, then reported in [`Config::warnings`].
//!
//! Everything is sans-IO except [`SystemEnvironment`], which reads the config
//! file, lists local addresses (for `--interface=any` / `NAME/eth0`), resolves
//! host names and counts CPUs; tests substitute their own [`Environment`].

pub mod args;
pub mod error;
pub mod ini;
pub mod interface;
pub mod options;
pub mod settings;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, Origin};
pub use interface::{InterfaceArg, InterfaceHost, InterfaceSpec, LocalAddr};
use settings::{bad, Settings, Value};

/// The config file rtpengine reads when `--config-file` is not given. Its
/// absence is not an error; an explicitly named file must exist.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/rtpengine/rtpengine.conf";
/// The section read unless `--config-section` says otherwise.
pub const DEFAULT_CONFIG_SECTION: &str = "rtpengine";

/// What the daemon should do.
#[derive(Debug, Clone, PartialEq)]
// Built once at start-up; boxing `Config` would only complicate the lead's match.
#[allow(clippy::large_enum_variant)]
pub enum Startup {
    /// Run with this configuration.
    Run(Config),
    /// Print this usage text and exit 0.
    Help(String),
    /// Print this version line and exit 0.
    Version(String),
}

/// Syslog facilities accepted by `--log-facility` (rtpengine's table).
pub const LOG_FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// The validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Local media addresses, in the order given (the first is the default
    /// interface's primary address).
    pub interfaces: Vec<InterfaceSpec>,
    /// ng protocol over UDP. A bare `PORT` gives `0.0.0.0:PORT` and
    /// `[::]:PORT` (bind the latter with `IPV6_V6ONLY`).
    pub listen_ng: Vec<SocketAddr>,
    /// ng protocol over TCP; same address rules as `listen_ng`.
    pub listen_tcp_ng: Vec<SocketAddr>,
    /// CLI (TCP). A bare `PORT` gives `0.0.0.0:PORT` (rtpengine also binds
    /// `[::]`; a single address cannot say so).
    pub listen_cli: Option<SocketAddr>,
    /// Legacy rtpproxy UDP protocol; bare port as for `listen_cli`.
    pub listen_udp: Option<SocketAddr>,
    /// Obsolete TCP protocol; bare port as for `listen_cli`.
    pub listen_tcp: Option<SocketAddr>,
    /// Lowest media port (default 30000). RTP takes even ports, so an odd
    /// value effectively starts at the next even port.
    pub port_min: u16,
    /// Highest media port (default 40000).
    pub port_max: u16,
    /// No-media timeout (default 60 s; `<= 0` means the default).
    pub timeout: Duration,
    /// No-media timeout for muted/inactive streams (default 3600 s; `<= 0` means the default).
    pub silent_timeout: Duration,
    /// Maximum call lifetime; `None` (the default, or `<= 0`) disables it.
    pub final_timeout: Option<Duration>,
    /// Timeout for calls with an offer but no answer (default 3600 s; `<= 0`
    /// means the default, so it is always `Some`).
    pub offer_timeout: Option<Duration>,
    /// How long a deleted call lingers (default 30 s; `<= 0` means immediately).
    pub delete_delay: Duration,
    /// TOS byte for media packets; 0 (default) leaves it untouched.
    pub tos: u8,
    /// Worker threads (default: CPU cores, at least 4; `<= 0` means the default).
    pub num_threads: usize,
    /// Stay in the foreground.
    pub foreground: bool,
    /// Where to write the PID (an empty value counts as unset).
    pub pidfile: Option<PathBuf>,
    /// Highest syslog level logged, 0..=7 (default 6, LOG_INFO).
    pub log_level: u8,
    /// Log to stderr instead of syslog.
    pub log_stderr: bool,
    /// Syslog facility name, one of [`LOG_FACILITIES`] (default `daemon`).
    pub log_facility: String,
    /// Kernel forwarding table; negative disables in-kernel forwarding.
    /// Defaults to -1, rtpengine's built-in default (the man page's "0" is
    /// what the packaged config file sets).
    pub table: i32,
    /// `--flow-table` (rtpbolt's own): the flow table lives in this file (under
    /// `/dev/shm` or a hugetlbfs mount) instead of an anonymous memfd, so a separate data
    /// plane (`rtpbolt-dataplane`) can map it and a restarted daemon takes it over.
    pub flow_table: Option<PathBuf>,
    /// `--dataplane` (rtpbolt's own): which data plane forwards flow-table hits.
    pub dataplane: DataplaneChoice,
    /// `--xdp-interface` (rtpbolt's own): the interface the AF_XDP data plane attaches
    /// to; unset: the device holding the media addresses.
    pub xdp_interface: Option<String>,
    /// `--no-fallback` (rtpengine's "only start when the kernel module is available"):
    /// failing to start the chosen fast path is fatal instead of falling back to sockets.
    pub no_fallback: bool,
    /// The config file actually read, if any.
    pub config_file: Option<PathBuf>,
    /// One line per ignored option or value, for `main` to log.
    pub warnings: Vec<String>,
}

/// `--dataplane`: which data plane forwards flow-table hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataplaneChoice {
    /// Worker threads on the ports' UDP sockets (the default).
    Sockets,
    /// An XDP program steering table hits to AF_XDP sockets, next to the sockets path
    /// for everything else.
    AfXdp,
    /// AF_XDP if the interface and kernel allow it (and `--table` is not negative),
    /// else sockets.
    Auto,
}

impl DataplaneChoice {
    fn parse(v: &str) -> Option<DataplaneChoice> {
        match v {
            "sockets" => Some(DataplaneChoice::Sockets),
            "af-xdp" | "af_xdp" | "xdp" => Some(DataplaneChoice::AfXdp),
            "auto" => Some(DataplaneChoice::Auto),
            _ => None,
        }
    }
}

/// The outside world as configuration parsing needs it.
pub trait Environment {
    /// Reads a config file.
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
    /// Addresses configured on local interfaces; `None` if unknown.
    fn local_addrs(&self) -> Option<Vec<LocalAddr>>;
    /// Resolves a DNS host name; `None` on failure.
    fn lookup_host(&self, name: &str) -> Option<Vec<IpAddr>>;
    /// Number of CPU cores; `None` if unknown.
    fn cpu_count(&self) -> Option<usize>;
}

/// The real host: filesystem, `ip -o addr show`, the system resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn local_addrs(&self) -> Option<Vec<LocalAddr>> {
        // getifaddrs needs unsafe FFI, which this crate forbids; iproute2's
        // one-line output carries the same information.
        let out = std::process::Command::new("ip")
            .args(["-o", "addr", "show"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| parse_ip_addr_output(&String::from_utf8_lossy(&out.stdout)))
    }

    fn lookup_host(&self, name: &str) -> Option<Vec<IpAddr>> {
        let addrs: Vec<IpAddr> = (name, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
        (!addrs.is_empty()).then_some(addrs)
    }

    fn cpu_count(&self) -> Option<usize> {
        std::thread::available_parallelism().ok().map(usize::from)
    }
}

/// Parses `ip -o addr show` output into local addresses.
pub fn parse_ip_addr_output(text: &str) -> Vec<LocalAddr> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _index = f.next()?;
            let device = f
                .next()?
                .split('@')
                .next()?
                .trim_end_matches(':')
                .to_owned();
            let family = f.next()?;
            if family != "inet" && family != "inet6" {
                return None;
            }
            let ip: IpAddr = f.next()?.split('/').next()?.parse().ok()?;
            let loopback = device == "lo" || ip.is_loopback();
            Some(LocalAddr {
                device,
                ip,
                loopback,
            })
        })
        .collect()
}

/// Parses the daemon's arguments (without `argv[0]`) and its config file
/// using the real host.
pub fn parse_startup(args: &[String]) -> Result<Startup, ConfigError> {
    parse_startup_with(args, &SystemEnvironment)
}

/// [`parse_startup`] with an explicit [`Environment`].
pub fn parse_startup_with(args: &[String], env: &dyn Environment) -> Result<Startup, ConfigError> {
    let cl = args::parse_args(args)?;
    if cl.help {
        return Ok(Startup::Help(options::usage()));
    }
    if cl.version {
        return Ok(Startup::Version(format!(
            "Version: {}",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let str_opt = |k: &str| match cl.settings.get(k).map(|s| &s.value) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let explicit = str_opt("config-file");
    let section = str_opt("config-section").unwrap_or_else(|| DEFAULT_CONFIG_SECTION.to_owned());
    let mut warnings = cl.warnings.clone();
    let mut config_file = None;
    let mut settings = Settings::default();
    if explicit.as_deref() != Some("none") {
        let path = PathBuf::from(explicit.as_deref().unwrap_or(DEFAULT_CONFIG_FILE));
        match env.read_file(&path) {
            Ok(text) => {
                let sec = ini::parse_ini(&text, &path, &section)?;
                warnings.extend(sec.warnings);
                settings = sec.settings;
                config_file = Some(path);
            }
            Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::ConfigRead { path, source }),
        }
    }
    let merged = settings.overlay(cl.settings);
    let mut config = Config::from_settings(&merged, env)?;
    config.config_file = config_file;
    warnings.append(&mut config.warnings);
    config.warnings = warnings;
    Ok(Startup::Run(config))
}

impl Config {
    /// Interprets merged settings: defaults, ranges, addresses, warnings.
    pub fn from_settings(s: &Settings, env: &dyn Environment) -> Result<Config, ConfigError> {
        let int = |k: &str| match s.get(k) {
            Some(settings::Setting {
                value: Value::Int(v),
                origin,
            }) => Some((i64::from(*v), origin.clone())),
            _ => None,
        };
        let flag = |k: &str| matches!(s.get(k).map(|x| &x.value), Some(Value::Flag(true)));
        let string = |k: &str| match s.get(k) {
            Some(settings::Setting {
                value: Value::Str(v),
                origin,
            }) if !v.is_empty() => Some((v.clone(), origin.clone())),
            _ => None,
        };
        let secs = |k: &str| int(k).map(|(v, _)| v);
        let positive_secs = |v: Option<i64>| {
            v.filter(|v| *v > 0)
                .map(|v| Duration::from_secs(v.unsigned_abs()))
        };

        let mut warnings = Vec::new();
        for name in s.values.keys() {
            let supported =
                options::by_long(name).is_some_and(|o| o.supported) || options::is_meta(name);
            if !supported {
                warnings.push(format!("option --{name} is not supported yet, ignored"));
            }
        }

        // Interfaces.
        let iface_raw: Vec<(String, Origin)> = match s.get("interface") {
            Some(settings::Setting {
                value: Value::List(l),
                origin,
            }) => l.iter().map(|v| (v.clone(), origin.clone())).collect(),
            _ => Vec::new(),
        };
        if iface_raw.is_empty() {
            return Err(ConfigError::NoInterface);
        }
        let mut iface_args = Vec::new();
        for (raw, origin) in &iface_raw {
            iface_args.push(interface::parse_interface(raw).map_err(|e| match e {
                ConfigError::BadValue {
                    option,
                    value,
                    reason,
                    ..
                } => ConfigError::BadValue {
                    option,
                    value,
                    reason,
                    origin: origin.clone(),
                },
                other => other,
            })?);
        }
        let needs_local = iface_args
            .iter()
            .any(|a| !matches!(a.host, InterfaceHost::Ip(_)));
        let local = if needs_local { env.local_addrs() } else { None };
        let mut lookup = |n: &str| env.lookup_host(n);
        let interfaces = interface::resolve_interfaces(&iface_args, local.as_deref(), &mut lookup)?;

        // Listeners.
        let listen_list = |k: &str| -> Result<Vec<SocketAddr>, ConfigError> {
            let Some((v, origin)) = string(k) else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            // Newer rtpengine takes several ng listeners, `;`-separated in the file.
            for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                for a in parse_listen(k, part, &origin, env, true)? {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
            Ok(out)
        };
        let listen_ng = listen_list("listen-ng")?;
        let listen_tcp_ng = listen_list("listen-tcp-ng")?;
        let listen_single = |k: &str| -> Result<Option<SocketAddr>, ConfigError> {
            match string(k) {
                None => Ok(None),
                Some((v, origin)) => Ok(parse_listen(k, v.trim(), &origin, env, false)?
                    .first()
                    .copied()),
            }
        };
        let listen_cli = listen_single("listen-cli")?;
        let listen_udp = listen_single("listen-udp")?;
        let listen_tcp = listen_single("listen-tcp")?;
        if listen_ng.is_empty()
            && listen_tcp_ng.is_empty()
            && listen_udp.is_none()
            && listen_tcp.is_none()
        {
            return Err(ConfigError::NoListener);
        }

        // Ports.
        let port_min = int("port-min").map_or(30000, |(v, _)| v);
        let port_max = int("port-max").map_or(40000, |(v, _)| v);
        if !(1..=65535).contains(&port_min)
            || !(1..=65535).contains(&port_max)
            || port_min > port_max
        {
            return Err(ConfigError::PortRange {
                min: port_min,
                max: port_max,
            });
        }

        let tos = match int("tos") {
            None => 0,
            Some((v, origin)) => u8::try_from(v)
                .map_err(|_| bad("tos", &v.to_string(), "must be 0..=255", &origin))?,
        };
        let log_level = match int("log-level") {
            None => 6,
            Some((v, origin)) => u8::try_from(v).ok().filter(|l| *l <= 7).ok_or_else(|| {
                bad(
                    "log-level",
                    &v.to_string(),
                    "must be 0 (emerg) ..= 7 (debug)",
                    &origin,
                )
            })?,
        };
        let log_facility = match string("log-facility") {
            None => "daemon".to_owned(),
            Some((v, origin)) if !LOG_FACILITIES.contains(&v.as_str()) => {
                return Err(bad(
                    "log-facility",
                    &v,
                    format!("must be one of {}", LOG_FACILITIES.join(", ")),
                    &origin,
                ))
            }
            Some((v, _)) => v,
        };
        let dataplane = match string("dataplane") {
            None => DataplaneChoice::Sockets,
            Some((v, origin)) => DataplaneChoice::parse(&v)
                .ok_or_else(|| bad("dataplane", &v, "must be sockets, af-xdp or auto", &origin))?,
        };
        let num_threads = match secs("num-threads") {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => env.cpu_count().unwrap_or(4).max(4),
        };

        Ok(Config {
            interfaces,
            listen_ng,
            listen_tcp_ng,
            listen_cli,
            listen_udp,
            listen_tcp,
            port_min: u16::try_from(port_min).unwrap_or(u16::MAX),
            port_max: u16::try_from(port_max).unwrap_or(u16::MAX),
            timeout: positive_secs(secs("timeout")).unwrap_or(Duration::from_secs(60)),
            silent_timeout: positive_secs(secs("silent-timeout"))
                .unwrap_or(Duration::from_secs(3600)),
            final_timeout: positive_secs(secs("final-timeout")),
            offer_timeout: Some(
                positive_secs(secs("offer-timeout")).unwrap_or(Duration::from_secs(3600)),
            ),
            delete_delay: match secs("delete-delay") {
                None => Duration::from_secs(30),
                Some(v) => positive_secs(Some(v)).unwrap_or(Duration::ZERO),
            },
            tos,
            num_threads,
            foreground: flag("foreground"),
            pidfile: string("pidfile").map(|(v, _)| PathBuf::from(v)),
            log_level,
            log_stderr: flag("log-stderr"),
            log_facility,
            table: int("table").map_or(-1, |(v, _)| i32::try_from(v).unwrap_or(-1)),
            flow_table: string("flow-table").map(|(v, _)| PathBuf::from(v)),
            dataplane,
            xdp_interface: string("xdp-interface").map(|(v, _)| v),
            no_fallback: flag("no-fallback"),
            config_file: None,
            warnings,
        })
    }
}

/// Parses `[IP46|HOSTNAME:]PORT`. A bare port yields the IPv4 and (when
/// `both_families`) IPv6 wildcard addresses, as rtpengine binds both.
fn parse_listen(
    option: &str,
    v: &str,
    origin: &Origin,
    env: &dyn Environment,
    both_families: bool,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let err = |reason: &str| bad(option, v, reason, origin);
    let port = |p: &str| match p.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(err("port must be 1..=65535")),
    };
    if v.bytes().all(|b| b.is_ascii_digit()) {
        let p = port(v)?;
        let mut out = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p)];
        if both_families {
            out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), p));
        }
        return Ok(out);
    }
    if let Ok(sa) = v.parse::<SocketAddr>() {
        port(&sa.port().to_string())?;
        return Ok(vec![sa]);
    }
    let (host, p) = v
        .rsplit_once(':')
        .ok_or_else(|| err("expected PORT, IP:PORT, [IPv6]:PORT or HOSTNAME:PORT"))?;
    let p = port(p)?;
    if host.contains(':') || host.is_empty() {
        return Err(err("an IPv6 address needs brackets: [IPv6]:PORT"));
    }
    // Resolved without DNS so the packaged config (`listen-ng = localhost:2223`)
    // works on hosts whose resolver lists ::1 first or is unavailable.
    if host == "localhost" {
        return Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p)]);
    }
    let ip = env
        .lookup_host(host)
        .and_then(|a| a.first().copied())
        .ok_or_else(|| err("host name does not resolve"))?;
    Ok(vec![SocketAddr::new(ip, p)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A host with fixed files, addresses and 2 CPUs.
    #[derive(Default)]
    struct FakeEnv {
        files: HashMap<PathBuf, String>,
    }

    impl Environment for FakeEnv {
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
        fn local_addrs(&self) -> Option<Vec<LocalAddr>> {
            Some(parse_ip_addr_output(
                "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                 4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n\
                 4: eth0    inet6 fd00::2/64 scope global nodad \\       valid_lft forever preferred_lft forever\n",
            ))
        }
        fn lookup_host(&self, name: &str) -> Option<Vec<IpAddr>> {
            (name == "media.example.net").then(|| vec![IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))])
        }
        fn cpu_count(&self) -> Option<usize> {
            Some(2)
        }
    }

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn run(args: &str, env: &FakeEnv) -> Result<Config, ConfigError> {
        match parse_startup_with(&argv(args), env)? {
            Startup::Run(c) => Ok(c),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    fn with_file(path: &str, text: &str) -> FakeEnv {
        let mut env = FakeEnv::default();
        env.files.insert(PathBuf::from(path), text.to_owned());
        env
    }

    #[test]
    fn issue_command_line() {
        let c = run(
            "--config-file=none -t -1 -i 203.0.113.1 -i 2001:db8:4321::1 -n 2223 -c 12345 -f -L 7 -E -u 2222",
            &FakeEnv::default(),
        )
        .expect("parses");
        assert_eq!(c.table, -1);
        assert_eq!(c.interfaces.len(), 2);
        assert!(c
            .interfaces
            .iter()
            .all(|i| i.name == "default" && i.advertised.is_none()));
        assert_eq!(c.listen_ng, [sa("0.0.0.0:2223"), sa("[::]:2223")]);
        assert_eq!(c.listen_cli, Some(sa("0.0.0.0:12345")));
        assert_eq!(c.listen_udp, Some(sa("0.0.0.0:2222")));
        assert!(c.foreground && c.log_stderr);
        assert_eq!(c.log_level, 7);
        assert_eq!((c.port_min, c.port_max), (30000, 40000));
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert_eq!(c.silent_timeout, Duration::from_secs(3600));
        assert_eq!(c.final_timeout, None);
        assert_eq!(c.offer_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(c.delete_delay, Duration::from_secs(30));
        assert_eq!(c.num_threads, 4);
        assert_eq!(c.config_file, None);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// The file Debian's rtpengine-daemon package installs (abridged comments).
    const DEBIAN_CONF: &str = "[rtpengine]\n\ntable = 0\n# no-fallback = false\n\ninterface = any\n\n\
        listen-ng = localhost:2223\n# listen-tcp = 25060\nlisten-http = localhost:2225\nlisten-cli = localhost:2224\n\n\
        timeout = 60\nsilent-timeout = 3600\ntos = 184\n# delete-delay = 30\n\nport-min = 30000\nport-max = 40000\n\n\
        recording-dir = /var/spool/rtpengine\nrecording-method = proc\n# mysql-query = select data from voip.files where id = %llu\n\n\
        [rtpengine-testing]\ntable = -1\ninterface = 10.15.20.121\nlisten-ng = 2223\nforeground = true\nlog-stderr = true\nlog-level = 7\n";

    #[test]
    fn debian_default_config() {
        let env = with_file(DEFAULT_CONFIG_FILE, DEBIAN_CONF);
        let c = run("", &env).expect("default file is read");
        assert_eq!(
            c.config_file.as_deref(),
            Some(Path::new(DEFAULT_CONFIG_FILE))
        );
        assert_eq!(c.table, 0);
        let addrs: Vec<IpAddr> = c.interfaces.iter().map(|i| i.address).collect();
        assert_eq!(
            addrs,
            [IpAddr::from([192, 0, 2, 2]), "fd00::2".parse().expect("v6")]
        );
        assert_eq!(c.listen_ng, [sa("127.0.0.1:2223")]);
        assert_eq!(c.listen_cli, Some(sa("127.0.0.1:2224")));
        assert_eq!(c.tos, 184);
        assert_eq!(
            c.warnings,
            [
                "option --listen-http is not supported yet, ignored",
                "option --recording-dir is not supported yet, ignored",
                "option --recording-method is not supported yet, ignored",
            ]
        );

        let c = run("--config-section=rtpengine-testing", &env).expect("testing section");
        assert_eq!(
            (c.table, c.log_level, c.foreground, c.log_stderr),
            (-1, 7, true, true)
        );
        assert_eq!(c.listen_ng, [sa("0.0.0.0:2223"), sa("[::]:2223")]);
    }

    #[test]
    fn dataplane_choice_interface_and_no_fallback() {
        let base = "--config-file=none -i 10.0.0.1 -n 2223";
        let c = run(base, &FakeEnv::default()).expect("parses");
        assert_eq!(
            (c.dataplane, c.xdp_interface.as_deref(), c.no_fallback),
            (DataplaneChoice::Sockets, None, false)
        );
        let c = run(
            &format!("{base} --dataplane=af-xdp --xdp-interface=eth1 -F"),
            &FakeEnv::default(),
        )
        .expect("parses");
        assert_eq!(
            (c.dataplane, c.xdp_interface.as_deref(), c.no_fallback),
            (DataplaneChoice::AfXdp, Some("eth1"), true)
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = run(&format!("{base} --dataplane=auto"), &FakeEnv::default()).expect("auto");
        assert_eq!(c.dataplane, DataplaneChoice::Auto);
        let e = run(&format!("{base} --dataplane=dpdk"), &FakeEnv::default()).expect_err("dpdk");
        assert!(e.to_string().contains("sockets, af-xdp or auto"), "{e}");
    }

    #[test]
    fn flow_table_path_from_file_or_command_line() {
        let base = "--config-file=none -i 10.0.0.1 -n 2223";
        let c = run(base, &FakeEnv::default()).expect("parses");
        assert_eq!(c.flow_table, None, "memfd unless asked");
        let env = with_file(
            "/etc/rtpbolt.conf",
            "[rtpengine]\ninterface = 10.0.0.1\nlisten-ng = 2223\nflow-table = /dev/hugepages/rtpbolt-flows\n",
        );
        let c = run("--config-file=/etc/rtpbolt.conf", &env).expect("file");
        assert_eq!(
            c.flow_table.as_deref(),
            Some(Path::new("/dev/hugepages/rtpbolt-flows"))
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = run(
            "--config-file=/etc/rtpbolt.conf --flow-table=/dev/shm/other",
            &env,
        )
        .expect("override");
        assert_eq!(c.flow_table.as_deref(), Some(Path::new("/dev/shm/other")));
        let c = run(&format!("{base} --flow-table="), &FakeEnv::default()).expect("empty");
        assert_eq!(c.flow_table, None, "an empty value counts as unset");
    }

    #[test]
    fn command_line_overrides_file() {
        let env = with_file(DEFAULT_CONFIG_FILE, DEBIAN_CONF);
        let c = run(
            "-i 10.0.0.1 -n 127.0.0.1:43001 --tos=0x2e -t -1 -m 43100 -M 43200",
            &env,
        )
        .expect("parses");
        assert_eq!(c.interfaces.len(), 1);
        assert_eq!(c.listen_ng, [sa("127.0.0.1:43001")]);
        assert_eq!(
            (c.tos, c.table, c.port_min, c.port_max),
            (46, -1, 43100, 43200)
        );
        assert_eq!(
            c.listen_cli,
            Some(sa("127.0.0.1:2224")),
            "kept from the file"
        );
    }

    #[test]
    fn multi_interface_config_with_named_and_advertised() {
        let conf = "[rtpengine]\ntable = -1\n\
            interface = internal/10.35.2.75;external/192.0.2.67!203.0.113.9;external/2001:db8::4f3:3d;pub:1/ext/eth0\n\
            listen-ng = 127.0.0.1:2223\nlisten-tcp-ng = [::1]:2223\nlisten-udp = 127.0.0.1:22222\n\
            timeout = 30\nsilent-timeout = -1\nfinal-timeout = 10800\noffer-timeout = 0\ndelete-delay = 0\n\
            num-threads = 16\npidfile = /run/rtpengine.pid\nforeground = false\nlog-facility = local3\n\
            log-level = 5\nredis = 127.0.0.1:6379/5\nno-redis-required = true\ncn-payload = 20;40;60\n";
        let env = with_file("/etc/rtpbolt.conf", conf);
        let e = run("--config-file=/etc/rtpbolt.conf", &env).expect_err("NAME/x/y is malformed");
        assert!(e.to_string().contains("pub:1/ext/eth0"), "{e}");

        let env = with_file(
            "/etc/rtpbolt.conf",
            &conf.replace(";pub:1/ext/eth0", ";pub:1/eth0"),
        );
        let c = run("--config-file=/etc/rtpbolt.conf", &env).expect("parses");
        let got: Vec<(&str, String, Option<IpAddr>)> = c
            .interfaces
            .iter()
            .map(|i| (i.name.as_str(), i.address.to_string(), i.advertised))
            .collect();
        assert_eq!(
            got,
            [
                ("internal", "10.35.2.75".to_owned(), None),
                (
                    "external",
                    "192.0.2.67".to_owned(),
                    Some(IpAddr::from([203, 0, 113, 9]))
                ),
                ("external", "2001:db8::4f3:3d".to_owned(), None),
                ("pub:1", "192.0.2.2".to_owned(), None),
                ("pub:1", "fd00::2".to_owned(), None),
            ]
        );
        assert_eq!(c.listen_tcp_ng, [sa("[::1]:2223")]);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.silent_timeout, Duration::from_secs(3600));
        assert_eq!(c.final_timeout, Some(Duration::from_secs(10800)));
        assert_eq!(c.delete_delay, Duration::ZERO);
        assert_eq!(c.num_threads, 16);
        assert!(!c.foreground);
        assert_eq!(c.log_facility, "local3");
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    }

    #[test]
    fn config_file_presence_rules() {
        let env = FakeEnv::default();
        let e = run("-i 10.0.0.1 -n 2223", &env);
        assert!(e.is_ok(), "absent default file is fine: {e:?}");
        let e = run("--config-file=/nonexistent -i 10.0.0.1 -n 2223", &env)
            .expect_err("explicit file must exist");
        assert!(
            matches!(e, ConfigError::ConfigRead { .. }) && e.to_string().contains("/nonexistent")
        );
        let env = with_file(DEFAULT_CONFIG_FILE, "[rtpengine]\ntos = 999\n");
        let c = run("--config-file=none -i 10.0.0.1 -n 2223", &env).expect("none skips the file");
        assert_eq!(c.tos, 0);
        let e = run("-i 10.0.0.1 -n 2223", &env).expect_err("tos out of range");
        assert!(
            e.to_string().contains("--tos") && e.to_string().contains("rtpengine.conf:2"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_name_the_option() {
        let env = FakeEnv::default();
        let base = "--config-file=none -i 10.0.0.1 -n 2223";
        let cases = [
            ("--tos=256", "--tos"),
            ("-L 8", "--log-level"),
            ("--log-facility=local9", "--log-facility"),
            ("-n 70000", "--listen-ng"),
            ("-n ::1:2223", "--listen-ng"),
            ("-c nowhere.invalid:1", "--listen-cli"),
            ("-i 10.0.0.1!eth0", "--interface"),
        ];
        for (extra, needle) in cases {
            let e = run(&format!("{base} {extra}"), &env).expect_err(extra);
            assert!(e.to_string().contains(needle), "{extra}: {e}");
        }
        let e = run(&format!("{base} -m 40000 -M 30000"), &env).expect_err("range");
        assert!(matches!(e, ConfigError::PortRange { .. }));
        assert!(matches!(
            run("--config-file=none -n 1", &env),
            Err(ConfigError::NoInterface)
        ));
        assert!(matches!(
            run("--config-file=none -i 10.0.0.1 -c 1", &env),
            Err(ConfigError::NoListener)
        ));
    }

    #[test]
    fn unsupported_options_warn_once_each() {
        let c = run(
            "--config-file=none -i 10.0.0.1 -n 2223 --redis 127.0.0.1:6379/1 --cn-payload 1 --cn-payload 2 --max-load 2.5",
            &FakeEnv::default(),
        )
        .expect("parses");
        assert_eq!(
            c.warnings,
            [
                "option --cn-payload is not supported yet, ignored",
                "option --max-load is not supported yet, ignored",
                "option --redis is not supported yet, ignored",
            ]
        );
    }

    #[test]
    fn help_and_version() {
        let env = FakeEnv::default();
        assert!(
            matches!(parse_startup_with(&argv("--help"), &env), Ok(Startup::Help(t)) if t.contains("--interface"))
        );
        assert!(matches!(
            parse_startup_with(&argv("-v"), &env),
            Ok(Startup::Version(_))
        ));
    }

    #[test]
    fn every_option_accepted_in_a_file() {
        let mut text = String::from("[rtpengine]\ninterface = 10.0.0.1\nlisten-ng = 2223\n");
        for spec in options::OPTIONS
            .iter()
            .filter(|o| !options::is_meta(o.long))
        {
            if matches!(spec.long, "interface" | "listen-ng") {
                continue;
            }
            let v = match spec.kind {
                options::ArgKind::Flag => "true",
                options::ArgKind::Int => "1",
                options::ArgKind::Double => "1.5",
                _ if spec.long.starts_with("listen-") => "127.0.0.1:1",
                _ if spec.long == "log-facility" => "local0",
                _ if spec.long == "dataplane" => "auto",
                _ => "x",
            };
            text.push_str(&format!("{} = {v}\n", spec.long));
        }
        let c = run("", &with_file(DEFAULT_CONFIG_FILE, &text)).expect("parses");
        assert!(c
            .warnings
            .iter()
            .all(|w| w.ends_with("is not supported yet, ignored")));
    }

    fn arb_config() -> impl Strategy<Value = Config> {
        let iface = (
            prop_oneof![Just("default".to_owned()), "[a-z]{1,6}(:[0-9])?"],
            any::<IpAddr>(),
            proptest::option::of(any::<IpAddr>()),
        )
            .prop_map(|(name, address, advertised)| InterfaceSpec {
                name,
                address,
                advertised,
            });
        (
            (
                proptest::collection::vec(iface, 1..4),
                any::<SocketAddr>(),
                1u16..,
                1u16..,
            ),
            (
                1u32..100_000,
                1u32..100_000,
                proptest::option::of(1u32..100_000),
                1u32..100_000,
                0u32..1000,
            ),
            (
                any::<u8>(),
                1usize..64,
                any::<bool>(),
                any::<bool>(),
                0u8..8,
                any::<i32>(),
            ),
            proptest::option::of("/[a-z]{1,8}\\.pid"),
            proptest::option::of("/dev/(shm|hugepages)/[a-z.-]{1,12}"),
            (
                prop_oneof![
                    Just(DataplaneChoice::Sockets),
                    Just(DataplaneChoice::AfXdp),
                    Just(DataplaneChoice::Auto),
                ],
                proptest::option::of("[a-z]{1,8}[0-9]"),
                any::<bool>(),
            ),
        )
            .prop_filter_map(
                "valid ports",
                |(
                    (ifs, ng, a, b),
                    (t, st, ft, ot, dd),
                    (tos, nt, fg, ls, ll, table),
                    pid,
                    ft_path,
                    (dataplane, xdp_interface, no_fallback),
                )| {
                    // The resolver keeps the first of identical specs, wherever they are.
                    let mut unique: Vec<InterfaceSpec> = Vec::new();
                    for i in ifs {
                        if !unique.contains(&i) {
                            unique.push(i);
                        }
                    }
                    let ifs = unique;
                    (ng.port() != 0).then(|| Config {
                        interfaces: ifs,
                        // Display drops flowinfo, so generate addresses it can express.
                        listen_ng: vec![SocketAddr::new(ng.ip(), ng.port())],
                        listen_tcp_ng: Vec::new(),
                        listen_cli: None,
                        listen_udp: None,
                        listen_tcp: None,
                        port_min: a.min(b),
                        port_max: a.max(b),
                        timeout: Duration::from_secs(t.into()),
                        silent_timeout: Duration::from_secs(st.into()),
                        final_timeout: ft.map(|v| Duration::from_secs(v.into())),
                        offer_timeout: Some(Duration::from_secs(ot.into())),
                        delete_delay: Duration::from_secs(dd.into()),
                        tos,
                        num_threads: nt,
                        foreground: fg,
                        pidfile: pid.map(PathBuf::from),
                        log_level: ll,
                        log_stderr: ls,
                        log_facility: "daemon".to_owned(),
                        table,
                        flow_table: ft_path.map(PathBuf::from),
                        dataplane,
                        xdp_interface,
                        no_fallback,
                        config_file: None,
                        warnings: Vec::new(),
                    })
                },
            )
    }

    /// Renders `c` as (long option, value) pairs; `None` for flags.
    fn render(c: &Config) -> Vec<(&'static str, Option<String>)> {
        let mut v: Vec<(&'static str, Option<String>)> = Vec::new();
        for i in &c.interfaces {
            let adv = i.advertised.map(|a| format!("!{a}")).unwrap_or_default();
            v.push(("interface", Some(format!("{}/{}{adv}", i.name, i.address))));
        }
        v.push(("listen-ng", Some(c.listen_ng[0].to_string())));
        v.push(("port-min", Some(c.port_min.to_string())));
        v.push(("port-max", Some(c.port_max.to_string())));
        v.push(("timeout", Some(c.timeout.as_secs().to_string())));
        v.push((
            "silent-timeout",
            Some(c.silent_timeout.as_secs().to_string()),
        ));
        if let Some(f) = c.final_timeout {
            v.push(("final-timeout", Some(f.as_secs().to_string())));
        }
        if let Some(o) = c.offer_timeout {
            v.push(("offer-timeout", Some(o.as_secs().to_string())));
        }
        v.push(("delete-delay", Some(c.delete_delay.as_secs().to_string())));
        v.push(("tos", Some(c.tos.to_string())));
        v.push(("num-threads", Some(c.num_threads.to_string())));
        v.push(("log-level", Some(c.log_level.to_string())));
        v.push(("table", Some(c.table.to_string())));
        if let Some(p) = &c.pidfile {
            v.push(("pidfile", Some(p.display().to_string())));
        }
        if let Some(p) = &c.flow_table {
            v.push(("flow-table", Some(p.display().to_string())));
        }
        let dataplane = match c.dataplane {
            DataplaneChoice::Sockets => "sockets",
            DataplaneChoice::AfXdp => "af-xdp",
            DataplaneChoice::Auto => "auto",
        };
        v.push(("dataplane", Some(dataplane.to_owned())));
        if let Some(i) = &c.xdp_interface {
            v.push(("xdp-interface", Some(i.clone())));
        }
        if c.no_fallback {
            v.push(("no-fallback", None));
        }
        if c.foreground {
            v.push(("foreground", None));
        }
        if c.log_stderr {
            v.push(("log-stderr", None));
        }
        v
    }

    proptest! {
        #[test]
        fn args_and_ini_round_trip(c in arb_config(), long_eq in any::<bool>()) {
            let pairs = render(&c);
            // Command line: alternate `--k=v` / `--k v`, short forms where they exist.
            let mut args = vec!["--config-file=none".to_owned()];
            for (k, v) in &pairs {
                let spec = options::by_long(k).expect("known option");
                match (v, spec.short) {
                    (None, _) => args.push(format!("--{k}")),
                    (Some(v), Some(s)) if !long_eq => { args.push(format!("-{s}")); args.push(v.clone()); }
                    (Some(v), _) if long_eq => args.push(format!("--{k}={v}")),
                    (Some(v), _) => { args.push(format!("--{k}")); args.push(v.clone()); }
                }
            }
            let from_args = match parse_startup_with(&args, &FakeEnv::default()) {
                Ok(Startup::Run(c)) => c,
                other => panic!("{args:?}: {other:?}"),
            };
            prop_assert_eq!(&from_args, &c);

            // Config file: lists joined with `;`, flags as true.
            let mut lists: Vec<String> = Vec::new();
            let mut text = String::from("[rtpengine]\n");
            for (k, v) in &pairs {
                match (k, v) {
                    (&"interface", Some(v)) => lists.push(v.clone()),
                    (_, Some(v)) => text.push_str(&format!("{k} = {v}\n")),
                    (_, None) => text.push_str(&format!("{k} = true\n")),
                }
            }
            text.push_str(&format!("interface = {}\n", lists.join(";")));
            let mut from_file = match parse_startup_with(&[], &with_file(DEFAULT_CONFIG_FILE, &text)) {
                Ok(Startup::Run(c)) => c,
                other => panic!("{text}: {other:?}"),
            };
            prop_assert_eq!(from_file.config_file.take(), Some(PathBuf::from(DEFAULT_CONFIG_FILE)));
            prop_assert_eq!(&from_file, &c);
        }
    }
}
