//! Seeds every worker's neighbour table from the kernel's IPv4 neighbour (ARP) cache on
//! the exception interface.
//!
//! Each worker learns next-hop MACs only from the frames its own queue receives, and RSS
//! puts a peer's frames on whichever queue its flow hashes to; so a worker forwarding to
//! B may never have seen a frame from B, and would hand B's media to the kernel forever.
//! The kernel has seen them all (ARP and everything else not forwarded goes through the
//! exception TAP), so its cache, read once a second off the packet path, fills the gaps.
//! IPv6 neighbours are not in procfs; workers learn those from traffic alone.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::frame::Mac;

/// A snapshot of the kernel's complete ARP entries on one interface.
pub type NeighbourSnapshot = Arc<[(IpAddr, Mac)]>;

/// `ATF_COM` in `/proc/net/arp`'s flags: the entry has a MAC.
const ATF_COM: u32 = 0x2;

/// Reads `/proc/net/arp` for `iface`.
pub fn read_arp_cache(iface: &str) -> std::io::Result<Vec<(IpAddr, Mac)>> {
    Ok(parse_arp_cache(
        &std::fs::read_to_string("/proc/net/arp")?,
        iface,
    ))
}

/// The complete entries of `iface` in `/proc/net/arp` text (`IP address  HW type  Flags
/// HW address  Mask  Device`); lines that do not parse are skipped.
pub fn parse_arp_cache(text: &str, iface: &str) -> Vec<(IpAddr, Mac)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [ip, _hw, flags, mac, _mask, dev] = f.as_slice() else {
                return None;
            };
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            if *dev != iface || flags & ATF_COM == 0 {
                return None;
            }
            Some((IpAddr::V4(ip.parse::<Ipv4Addr>().ok()?), parse_mac(mac)?))
        })
        .collect()
}

fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_NET_ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
10.77.0.3        0x1         0x2         02:77:00:00:00:02     *        rbx0
10.77.0.9        0x1         0x0         00:00:00:00:00:00     *        rbx0
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
10.77.0.4        0x1         0x6         02:77:00:00:00:04     *        rbx0
10.77.0.5        0x1         0x2         02:77:00:00:00        *        rbx0
bogus line
";

    #[test]
    fn keeps_complete_entries_of_the_interface() {
        let got = parse_arp_cache(PROC_NET_ARP, "rbx0");
        assert_eq!(
            got,
            [
                ("10.77.0.3".parse().unwrap(), [2, 0x77, 0, 0, 0, 2]),
                ("10.77.0.4".parse().unwrap(), [2, 0x77, 0, 0, 0, 4]),
            ]
        );
        assert_eq!(parse_arp_cache(PROC_NET_ARP, "eth0").len(), 1);
        assert!(parse_arp_cache(PROC_NET_ARP, "rbx1").is_empty());
        assert!(parse_arp_cache("", "rbx0").is_empty());
    }

    #[test]
    fn reads_the_real_cache() {
        // Whatever is there must parse without error; `lo` never has ARP entries.
        assert!(read_arp_cache("lo").unwrap().is_empty());
    }
}
