//! Logical interfaces: the `--interface` list grouped by name, and the choice
//! of local address for a party (by interface name and address family).

use std::net::IpAddr;

use super::model::AddrFamily;
use super::CallError;

/// One local address of a logical interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddress {
    pub local: IpAddr,
    /// What goes into SDP (`IP!ADVERTISED`); `local` when not given.
    pub advertised: IpAddr,
}

#[derive(Debug, Clone)]
pub struct LogicalInterface {
    pub name: String,
    pub addresses: Vec<LocalAddress>,
}

/// All logical interfaces in the order they were configured.
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    list: Vec<LogicalInterface>,
}

impl Interfaces {
    /// Groups `(name, local, advertised)` triples by name, keeping first-seen order
    /// (same-name interfaces form one logical interface, as in rtpengine).
    pub fn new(specs: impl IntoIterator<Item = (String, IpAddr, Option<IpAddr>)>) -> Interfaces {
        let mut list: Vec<LogicalInterface> = Vec::new();
        for (name, local, advertised) in specs {
            let addr = LocalAddress {
                local,
                advertised: advertised.unwrap_or(local),
            };
            match list.iter_mut().find(|l| l.name == name) {
                Some(l) => l.addresses.push(addr),
                None => list.push(LogicalInterface {
                    name,
                    addresses: vec![addr],
                }),
            }
        }
        Interfaces { list }
    }

    pub fn all(&self) -> &[LogicalInterface] {
        &self.list
    }

    /// The interface used when a request names none: "default" if it exists,
    /// else the first one configured.
    pub fn default_name(&self) -> &str {
        self.list
            .iter()
            .find(|l| l.name == "default")
            .or_else(|| self.list.first())
            .map(|l| l.name.as_str())
            .unwrap_or("default")
    }

    /// Resolves a `direction=` name; `internal`/`external` fall back to the
    /// default interface when not configured, as rtpengine's legacy names do.
    pub fn resolve(&self, name: Option<&str>) -> Result<&LogicalInterface, CallError> {
        let wanted = name.unwrap_or_else(|| self.default_name());
        self.list
            .iter()
            .find(|l| l.name == wanted)
            .or_else(|| {
                if name.is_none() || matches!(wanted, "internal" | "external") {
                    self.list.first()
                } else {
                    None
                }
            })
            .ok_or_else(|| CallError::UnknownInterface(wanted.to_string()))
    }

    /// The address of `iface` for `family`, or its first address when it has
    /// none of that family.
    pub fn address(iface: &LogicalInterface, family: Option<AddrFamily>) -> Option<&LocalAddress> {
        family
            .and_then(|f| {
                iface
                    .addresses
                    .iter()
                    .find(|a| AddrFamily::of(&a.local) == f)
            })
            .or_else(|| iface.addresses.first())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_name_interfaces_group_and_pick_by_family() {
        let ifs = Interfaces::new([
            ("pub".to_string(), ip("203.0.113.1"), None),
            ("pub".to_string(), ip("2001:db8::1"), None),
            ("priv".to_string(), ip("10.0.0.1"), Some(ip("198.51.100.9"))),
        ]);
        assert_eq!(ifs.all().len(), 2);
        assert_eq!(ifs.default_name(), "pub");
        let pubif = ifs.resolve(Some("pub")).unwrap();
        let v6 = Interfaces::address(pubif, Some(AddrFamily::V6)).unwrap();
        assert_eq!(v6.local, ip("2001:db8::1"));
        let privif = ifs.resolve(Some("priv")).unwrap();
        let a = Interfaces::address(privif, Some(AddrFamily::V4)).unwrap();
        assert_eq!(a.advertised, ip("198.51.100.9"));
        assert!(ifs.resolve(Some("nope")).is_err());
    }
}
