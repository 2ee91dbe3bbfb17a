//! Getting every worker of a multi-queue frame backend (DPDK, AF_XDP) the next-hop MACs
//! it needs.
//!
//! Each worker's frame function learns MACs only from the frames its own queue receives,
//! and RSS puts a peer's frames on whichever queue their flow hashes to; so a worker
//! forwarding to B may never see a frame from B, and would hand B's media to the control
//! plane for ever. Two sources fill the gaps, both delivered between bursts, never per
//! packet:
//!
//! - the other workers: what one learns from traffic
//!   ([`crate::frame::FrameProcessor::drain_learned`]) goes to the others' inboxes;
//! - the kernel's IPv4 neighbour (ARP) cache on the interface, read once a second: the
//!   kernel sees everything not forwarded (ARP above all), including peers that never
//!   sent a frame the workers could learn from. IPv6 neighbours are not in procfs;
//!   workers learn those from traffic and each other.
//!
//! Inboxes are bounded channels allocated at start: a full inbox drops the update
//! (the next frame from that peer or the next kernel read brings it again).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use shared_tables::monotonic_now;

use crate::frame::{FrameProcessor, Mac};

/// One neighbour for a worker to learn.
pub type NeighbourUpdate = (IpAddr, Mac);

/// Updates a worker's inbox holds before new ones are dropped.
pub const INBOX_CAPACITY: usize = 4096;

/// A worker's ends of the neighbour mesh.
pub struct NeighbourLinks {
    /// What the other workers and the kernel feed send this worker.
    pub inbox: Receiver<NeighbourUpdate>,
    /// The other workers' inboxes.
    pub peers: Vec<SyncSender<NeighbourUpdate>>,
}

impl NeighbourLinks {
    /// Teaches `processor` what the other workers and the kernel feed sent (an empty
    /// inbox costs one atomic load). Call between bursts.
    pub fn learn_into(&self, processor: &mut FrameProcessor) {
        let mut now = None;
        while let Ok((ip, mac)) = self.inbox.try_recv() {
            let now = *now.get_or_insert_with(monotonic_now);
            processor.learn_neighbour(ip, mac, now);
        }
    }

    /// Hands what the last burst taught `processor` to the other workers; nothing to
    /// send, the usual case, costs a length check. Call once per burst.
    pub fn share_from(&self, processor: &mut FrameProcessor) {
        for update in processor.drain_learned() {
            for peer in &self.peers {
                // A full inbox drops the update; the peer's next frame teaches it again.
                let _ = peer.try_send(update);
            }
        }
    }
}

/// Links for `workers` workers, and senders to every inbox for the kernel feed.
pub fn neighbour_mesh(workers: usize) -> (Vec<NeighbourLinks>, Vec<SyncSender<NeighbourUpdate>>) {
    let (senders, inboxes): (Vec<_>, Vec<_>) =
        (0..workers).map(|_| sync_channel(INBOX_CAPACITY)).unzip();
    let links = inboxes
        .into_iter()
        .enumerate()
        .map(|(i, inbox)| NeighbourLinks {
            inbox,
            peers: senders
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, s)| s.clone())
                .collect(),
        })
        .collect();
    (links, senders)
}

/// Sends the kernel's neighbours to the workers, each entry once per change.
#[derive(Debug, Default)]
pub struct KernelFeed {
    delivered: HashMap<IpAddr, Mac>,
}

impl KernelFeed {
    /// Sends the entries of `cache` that every worker has not been sent yet (new, or with
    /// another MAC). One that finds an inbox full is sent again next time.
    pub fn feed(&mut self, cache: &[NeighbourUpdate], workers: &[SyncSender<NeighbourUpdate>]) {
        for &(ip, mac) in cache {
            if self.delivered.get(&ip) == Some(&mac) {
                continue;
            }
            let mut all = true;
            for w in workers {
                if let Err(TrySendError::Full(_)) = w.try_send((ip, mac)) {
                    all = false;
                }
            }
            if all {
                self.delivered.insert(ip, mac);
            }
        }
    }
}

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
    fn mesh_links_each_worker_to_the_others() {
        let (links, all) = neighbour_mesh(3);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        links[0]
            .peers
            .iter()
            .for_each(|p| p.send((ip, [2; 6])).unwrap());
        assert!(links[0].inbox.try_recv().is_err(), "not to itself");
        assert_eq!(links[1].inbox.try_recv().unwrap(), (ip, [2; 6]));
        assert_eq!(links[2].inbox.try_recv().unwrap(), (ip, [2; 6]));
        assert_eq!((links[1].peers.len(), all.len()), (2, 3));
    }

    #[test]
    fn kernel_feed_sends_changes_once_and_retries_full_inboxes() {
        let (tx, rx) = sync_channel(2);
        let ip = |h: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, h));
        let mut feed = KernelFeed::default();
        feed.feed(
            &[(ip(1), [2; 6]), (ip(2), [2; 6]), (ip(3), [2; 6])],
            std::slice::from_ref(&tx),
        );
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            got,
            [(ip(1), [2; 6]), (ip(2), [2; 6])],
            "inbox of 2 was full"
        );
        // Unchanged entries are not sent again; the one that did not fit is, and so is a
        // changed MAC.
        feed.feed(&[(ip(1), [2; 6]), (ip(2), [4; 6]), (ip(3), [2; 6])], &[tx]);
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(got, [(ip(2), [4; 6]), (ip(3), [2; 6])]);
    }

    #[test]
    fn reads_the_real_cache() {
        // Whatever is there must parse without error; `lo` never has ARP entries.
        assert!(read_arp_cache("lo").unwrap().is_empty());
    }
}
