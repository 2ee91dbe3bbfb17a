//! Prerequisites of the AF_XDP tests: root (XDP attach, AF_XDP sockets, network
//! namespaces), `ip`, `ethtool`, `ping` and `python3` (a packet socket sends raw
//! frames). They must run, not skip, under CI and with `RTPBOLT_REQUIRE_AF_XDP` set.

use crate::netns::{ip, NetNs};
use crate::prereq::{env_flag, missing_tool, run_or_skip};

/// Whether the AF_XDP tests must run here rather than skip.
pub fn required() -> bool {
    env_flag("CI") || env_flag("RTPBOLT_REQUIRE_AF_XDP")
}

/// Why this machine cannot run the AF_XDP tests, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (XDP, AF_XDP and network namespaces need it)".into());
    }
    missing_tool(&["ip", "ethtool", "ping", "python3"])
}

/// `true` if an AF_XDP test should run; panics when it must but cannot.
pub fn prerequisites() -> bool {
    run_or_skip("AF_XDP", missing_prerequisite(), required())
}

/// The AF_XDP tests' wire: a veth pair between two network namespaces this process
/// creates, the phones' (`peer`, 10.79.0.2 and .3, fd00:79::2 and ::3) and the relay's
/// (`relay`, 10.79.0.1, fd00:79::1).
/// Dropping it deletes both namespaces, and with them the pair and any XDP program
/// attached to it.
///
/// A veth leaves UDP checksums to the receiver (CHECKSUM_PARTIAL), which is fine for the
/// kernel but not for a data plane that sees the raw frame: the peer's side has TX
/// checksum offload turned off, so it fills them in as a NIC would.
pub struct VethPair {
    pub peer: NetNs,
    pub relay: NetNs,
    pub peer_if: String,
    pub relay_if: String,
}

/// The relay side's MAC.
pub const RELAY_MAC: [u8; 6] = [0x02, 0x79, 0, 0, 0, 1];
/// The phones' side's MAC.
pub const PEER_MAC: [u8; 6] = [0x02, 0x79, 0, 0, 0, 2];
/// The relay's address.
pub const RELAY_IP: &str = "10.79.0.1";
/// The phones' addresses.
pub const PHONE_IPS: [&str; 2] = ["10.79.0.2", "10.79.0.3"];
/// The relay's IPv6 address.
pub const RELAY_IP6: &str = "fd00:79::1";
/// The phones' IPv6 addresses.
pub const PHONE_IP6S: [&str; 2] = ["fd00:79::2", "fd00:79::3"];

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl VethPair {
    /// Creates the namespaces (named after `tag` and this process) and the pair.
    pub fn create(tag: &str) -> std::io::Result<VethPair> {
        let pid = std::process::id();
        let peer = NetNs::create(&format!("rbx-{tag}-p-{pid}"))?;
        let relay = NetNs::create(&format!("rbx-{tag}-r-{pid}"))?;
        // Created straight inside the namespaces, so the names only need to be unique
        // there; short enough for IFNAMSIZ.
        let (peer_if, relay_if) = ("rbxp0".to_string(), "rbxr0".to_string());
        ip(&[
            "link",
            "add",
            &peer_if,
            "netns",
            peer.name(),
            "address",
            &mac_str(PEER_MAC),
            "type",
            "veth",
            "peer",
            "name",
            &relay_if,
            "netns",
            relay.name(),
            "address",
            &mac_str(RELAY_MAC),
        ])?;
        for a in PHONE_IPS {
            peer.ip(&["addr", "add", &format!("{a}/24"), "dev", &peer_if])?;
        }
        relay.ip(&["addr", "add", &format!("{RELAY_IP}/24"), "dev", &relay_if])?;
        // No duplicate address detection: the addresses are usable at once.
        for a in PHONE_IP6S {
            peer.ip(&["addr", "add", &format!("{a}/64"), "dev", &peer_if, "nodad"])?;
        }
        relay.ip(&[
            "addr",
            "add",
            &format!("{RELAY_IP6}/64"),
            "dev",
            &relay_if,
            "nodad",
        ])?;
        peer.ip(&["link", "set", &peer_if, "up"])?;
        relay.ip(&["link", "set", &relay_if, "up"])?;
        let out = peer
            .command("ethtool")
            .args(["-K", &peer_if, "tx", "off"])
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "ethtool -K {peer_if} tx off: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(VethPair {
            peer,
            relay,
            peer_if,
            relay_if,
        })
    }
}

impl VethPair {
    /// One ping from the peer to the relay's address (ICMP must reach the relay's
    /// kernel through the XDP program); panics with ping's output if it fails.
    pub fn assert_ping_reaches_relay(&self) {
        let out = self
            .peer
            .command("ping")
            .args(["-c", "1", "-W", "2", RELAY_IP])
            .output()
            .expect("run ping");
        assert!(
            out.status.success(),
            "ping through XDP_PASS failed: {out:?}"
        );
    }
}
