//! The `--interface` grammar: `[NAME/]ADDR[!ADVERTISED]`.
//!
//! `NAME` is the logical interface name (`default` when omitted; may be
//! `BASE:SUFFIX` for round-robin groups). `ADDR` is an IPv4 or IPv6 address,
//! the keyword `any` (every non-loopback local address), a system network
//! interface name (`eth0`: all its addresses), or a DNS host name (resolved
//! once at start-up). `ADVERTISED` must be an address. Several specs may share
//! a name; the first address of each family is the primary one.
//!
//! Parsing is pure ([`parse_interface`]); turning `any`, device names and
//! host names into addresses ([`resolve_interfaces`]) takes the host's
//! addresses and a resolver as input, so it is testable without a network.

use std::net::IpAddr;

use super::error::ConfigError;

/// One local media address of a logical interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterfaceSpec {
    /// Logical interface name (`default` if none was given).
    pub name: String,
    /// Local address media sockets bind to.
    pub address: IpAddr,
    /// Address written into SDP instead of `address` (`!ADVERTISED`).
    pub advertised: Option<IpAddr>,
}

/// What stands in the `ADDR` position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceHost {
    /// A literal address.
    Ip(IpAddr),
    /// The `any` keyword.
    Any,
    /// A system interface name or a DNS host name; which one is decided at
    /// resolution time, interface names first (as rtpengine does).
    Name(String),
}

/// One parsed `--interface` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceArg {
    /// The value as given, for messages.
    pub raw: String,
    /// Logical name.
    pub name: String,
    /// Local address, keyword or name.
    pub host: InterfaceHost,
    /// Advertised address.
    pub advertised: Option<IpAddr>,
}

/// An address configured on a local network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// System interface name (`eth0`).
    pub device: String,
    /// The address.
    pub ip: IpAddr,
    /// Whether the device is a loopback device.
    pub loopback: bool,
}

/// Parses one `--interface` value.
pub fn parse_interface(raw: &str) -> Result<InterfaceArg, ConfigError> {
    let err = |reason: &str| ConfigError::BadValue {
        option: "interface".to_owned(),
        value: raw.to_owned(),
        reason: reason.to_owned(),
        origin: super::error::Origin::CommandLine,
    };
    let (name, rest) = match raw.split_once('/') {
        Some((n, r)) => (n, r),
        None => ("default", raw),
    };
    if name.is_empty() {
        return Err(err("empty interface name before '/'"));
    }
    let (addr, adv) = match rest.split_once('!') {
        Some((a, v)) => (a, Some(v)),
        None => (rest, None),
    };
    let host = if addr == "any" {
        InterfaceHost::Any
    } else if let Ok(ip) = strip_brackets(addr).parse::<IpAddr>() {
        InterfaceHost::Ip(ip)
    } else if is_name(addr) {
        InterfaceHost::Name(addr.to_owned())
    } else {
        return Err(err(
            "expected an IP address, `any`, an interface name or a host name",
        ));
    };
    let advertised = match adv {
        None => None,
        Some(a) => Some(
            strip_brackets(a)
                .parse::<IpAddr>()
                .map_err(|_| err("the advertised address after '!' must be an IP address"))?,
        ),
    };
    Ok(InterfaceArg {
        raw: raw.to_owned(),
        name: name.to_owned(),
        host,
        advertised,
    })
}

fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

/// Interface names and DNS names: letters, digits, `-`, `_`, `.`, `:` (VLAN
/// aliases like `eth0:1`), `@`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
}

/// Expands parsed interface values into concrete addresses.
///
/// `local` lists the host's addresses (for `any` and device names);
/// `lookup` resolves DNS names (`None` when resolution is unavailable).
/// `any` skips loopback devices and IPv6 link-local addresses, which cannot
/// be used without a scope id.
pub fn resolve_interfaces(
    args: &[InterfaceArg],
    local: Option<&[LocalAddr]>,
    lookup: &mut dyn FnMut(&str) -> Option<Vec<IpAddr>>,
) -> Result<Vec<InterfaceSpec>, ConfigError> {
    let mut out: Vec<InterfaceSpec> = Vec::new();
    for arg in args {
        let unsupported = |what: &str| ConfigError::InterfaceNotSupported {
            value: arg.raw.clone(),
            reason: format!(
                "{what} needs the list of local addresses, which is unavailable; give IP addresses"
            ),
        };
        let addrs: Vec<IpAddr> = match &arg.host {
            InterfaceHost::Ip(ip) => vec![*ip],
            InterfaceHost::Any => local
                .ok_or_else(|| unsupported("`any`"))?
                .iter()
                .filter(|l| !l.loopback && !is_v6_link_local(l.ip))
                .map(|l| l.ip)
                .collect(),
            InterfaceHost::Name(n) => {
                let on_device: Vec<IpAddr> = local
                    .unwrap_or_default()
                    .iter()
                    .filter(|l| &l.device == n)
                    .map(|l| l.ip)
                    .collect();
                if !on_device.is_empty() {
                    on_device
                } else {
                    lookup(n).unwrap_or_default()
                }
            }
        };
        if addrs.is_empty() {
            return Err(ConfigError::InterfaceUnresolved {
                value: arg.raw.clone(),
                reason: "no local interface or host name with that name has an address".to_owned(),
            });
        }
        for address in addrs {
            let spec = InterfaceSpec {
                name: arg.name.clone(),
                address,
                advertised: arg.advertised,
            };
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    Ok(out)
}

fn is_v6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn grammar() {
        let a = parse_interface("203.0.113.1").expect("v4");
        assert_eq!(
            (a.name.as_str(), a.host, a.advertised),
            ("default", InterfaceHost::Ip(ip("203.0.113.1")), None)
        );
        let a = parse_interface("2001:db8:4321::1").expect("v6");
        assert_eq!(a.host, InterfaceHost::Ip(ip("2001:db8:4321::1")));
        let a = parse_interface("pub:1/10.65.76.2!192.0.2.4").expect("named, advertised");
        assert_eq!(a.name, "pub:1");
        assert_eq!(a.host, InterfaceHost::Ip(ip("10.65.76.2")));
        assert_eq!(a.advertised, Some(ip("192.0.2.4")));
        let a = parse_interface("ext/fe80::800:27ff:fe00:0!2001:db8::1").expect("v6 advertised");
        assert_eq!(a.advertised, Some(ip("2001:db8::1")));
        assert_eq!(
            parse_interface("int/eth0").expect("device").host,
            InterfaceHost::Name("eth0".into())
        );
        assert_eq!(
            parse_interface("any").expect("any").host,
            InterfaceHost::Any
        );
        assert!(parse_interface("int/10.0.0.1!eth0").is_err());
        assert!(parse_interface("/10.0.0.1").is_err());
        assert!(parse_interface("int/").is_err());
        assert!(parse_interface("a b").is_err());
    }

    #[test]
    fn resolution() {
        let local = [
            LocalAddr {
                device: "lo".into(),
                ip: ip("127.0.0.1"),
                loopback: true,
            },
            LocalAddr {
                device: "eth0".into(),
                ip: ip("192.168.1.120"),
                loopback: false,
            },
            LocalAddr {
                device: "eth0".into(),
                ip: ip("2001:db8:85a3::7334"),
                loopback: false,
            },
            LocalAddr {
                device: "eth0".into(),
                ip: ip("fe80::1"),
                loopback: false,
            },
        ];
        let args: Vec<_> = ["ext/eth0", "any", "10.0.0.1", "h/media.example.net"]
            .iter()
            .map(|s| parse_interface(s).expect("parses"))
            .collect();
        let mut lookup = |n: &str| (n == "media.example.net").then(|| vec![ip("198.51.100.7")]);
        let specs = resolve_interfaces(&args, Some(&local), &mut lookup).expect("resolves");
        let got: Vec<(String, IpAddr)> =
            specs.iter().map(|s| (s.name.clone(), s.address)).collect();
        assert_eq!(
            got,
            [
                ("ext".into(), ip("192.168.1.120")),
                ("ext".into(), ip("2001:db8:85a3::7334")),
                ("ext".into(), ip("fe80::1")),
                ("default".into(), ip("192.168.1.120")),
                ("default".into(), ip("2001:db8:85a3::7334")),
                ("default".into(), ip("10.0.0.1")),
                ("h".into(), ip("198.51.100.7")),
            ]
        );
        let e = resolve_interfaces(&args[1..2], None, &mut lookup).expect_err("no local list");
        assert!(matches!(e, ConfigError::InterfaceNotSupported { .. }));
        let e = resolve_interfaces(
            &[parse_interface("eth9").expect("parses")],
            Some(&local),
            &mut lookup,
        )
        .expect_err("unknown device");
        assert!(e.to_string().contains("eth9"));
    }
}
