//! The XDP program and its maps: load, attach to an interface, keep the flow map in step
//! with the flow table, register sockets, read the steering counters.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use aya::maps::{HashMap, MapData, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;

use super::XdpError;

/// The compiled program (`build.rs` runs clang on `bpf/rtpbolt_xdp.c`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/rtpbolt_xdp.o"));

/// `struct flow_key` of the program: family (4/6), pad, UDP port in network byte order,
/// 16 address bytes (IPv4 in the first four). A byte array, so aya can copy it without
/// an `unsafe impl Pod`.
pub type XdpFlowKey = [u8; 20];

const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Index of the `stats` map's counters.
const STAT_REDIRECTED: u32 = 0;
const STAT_PASSED: u32 = 1;

/// The map key for packets to `local` (the flow table's key; an IPv6 scope id is not
/// part of it: one interface, one scope).
pub fn flow_key(local: SocketAddr) -> XdpFlowKey {
    let mut k = [0u8; 20];
    k[2..4].copy_from_slice(&local.port().to_be_bytes());
    match local {
        SocketAddr::V4(a) => {
            k[0] = FAMILY_V4;
            k[4..8].copy_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            k[0] = FAMILY_V6;
            k[4..20].copy_from_slice(&a.ip().octets());
        }
    }
    k
}

/// Where the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver, before an skb exists (native XDP).
    Driver,
    /// In the generic hook after the skb is built (any interface, slower).
    Generic,
}

/// What the program did so far, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpProgramStats {
    /// Table hits handed to `bpf_redirect_map` (those of a queue without a socket were
    /// passed to the kernel by the helper's fallback).
    pub redirected: u64,
    /// Packets passed to the kernel (not UDP to a port in the map).
    pub passed: u64,
}

/// The loaded program, attached to one interface while this lives (an XDP link: closing
/// it on drop detaches the program, whatever namespace the dropping thread is in).
pub struct XdpProgram {
    flows: HashMap<MapData, XdpFlowKey, u32>,
    xsks: XskMap<MapData>,
    stats: PerCpuArray<MapData, u64>,
    mode: AttachMode,
    // Last: owns the program and its link.
    _ebpf: Ebpf,
}

fn program_err(what: &'static str) -> impl Fn(String) -> XdpError {
    move |message| XdpError::Program { what, message }
}

impl XdpProgram {
    /// Loads the program and attaches it to `iface` (in the calling thread's network
    /// namespace): in the driver if it can, else generic unless `driver_only`.
    pub fn attach(iface: &str, driver_only: bool) -> Result<XdpProgram, XdpError> {
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| program_err("load object")(e.to_string()))?;
        let take = |ebpf: &mut Ebpf, name: &'static str| {
            ebpf.take_map(name)
                .ok_or_else(|| program_err("find map")(name.into()))
        };
        let flows = HashMap::try_from(take(&mut ebpf, "flows")?)
            .map_err(|e| program_err("flows map")(e.to_string()))?;
        let xsks = XskMap::try_from(take(&mut ebpf, "xsks")?)
            .map_err(|e| program_err("xsks map")(e.to_string()))?;
        let stats = PerCpuArray::try_from(take(&mut ebpf, "stats")?)
            .map_err(|e| program_err("stats map")(e.to_string()))?;
        let prog: &mut Xdp = ebpf
            .program_mut("rtpbolt_xdp")
            .ok_or_else(|| program_err("find program")("rtpbolt_xdp".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| program_err("program type")(e.to_string()))?;
        prog.load()
            .map_err(|e| program_err("verify and load")(format!("{e:?}")))?;
        let mode = match prog.attach(iface, XdpFlags::DRV_MODE) {
            Ok(_) => AttachMode::Driver,
            Err(e) if driver_only => {
                return Err(program_err("attach in driver mode")(format!(
                    "{iface}: {e}"
                )))
            }
            Err(_) => {
                prog.attach(iface, XdpFlags::SKB_MODE)
                    .map_err(|e| program_err("attach")(format!("{iface}: {e}")))?;
                AttachMode::Generic
            }
        };
        Ok(XdpProgram {
            flows,
            xsks,
            stats,
            mode,
            _ebpf: ebpf,
        })
    }

    /// Where the program runs.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// Steers packets to `local` to the sockets.
    pub fn insert_flow(&mut self, local: SocketAddr) -> Result<(), XdpError> {
        self.flows
            .insert(flow_key(local), 0, 0)
            .map_err(|e| program_err("insert flow")(format!("{local}: {e}")))
    }

    /// Lets packets to `local` through to the kernel again. Removing a key that is not
    /// there is not an error.
    pub fn remove_flow(&mut self, local: SocketAddr) -> Result<(), XdpError> {
        match self.flows.remove(&flow_key(local)) {
            Ok(()) => Ok(()),
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(program_err("remove flow")(format!("{local}: {e}"))),
        }
    }

    /// Whether packets to `local` are steered.
    pub fn has_flow(&self, local: SocketAddr) -> bool {
        self.flows.get(&flow_key(local), 0).is_ok()
    }

    /// Sends the hits of RX queue `queue` to `socket`.
    pub fn register_socket(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), XdpError> {
        self.xsks
            .set(queue, socket.as_raw_fd(), 0)
            .map_err(|e| program_err("register socket")(format!("queue {queue}: {e}")))
    }

    /// The program's counters, summed over CPUs.
    pub fn stats(&self) -> Result<XdpProgramStats, XdpError> {
        let sum = |i: u32| -> Result<u64, XdpError> {
            let v = self
                .stats
                .get(&i, 0)
                .map_err(|e| program_err("read stats")(e.to_string()))?;
            Ok(v.iter().sum())
        };
        Ok(XdpProgramStats {
            redirected: sum(STAT_REDIRECTED)?,
            passed: sum(STAT_PASSED)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_programs_layout() {
        let k = flow_key("192.0.2.1:30000".parse().unwrap());
        assert_eq!(&k[..8], &[4, 0, 0x75, 0x30, 192, 0, 2, 1]);
        assert!(k[8..].iter().all(|&b| b == 0));
        let k = flow_key("[2001:db8::1]:5004".parse().unwrap());
        assert_eq!(&k[..4], &[6, 0, 0x13, 0x8c]);
        assert_eq!(&k[4..6], &[0x20, 0x01]);
        assert_eq!(k[19], 1);
    }
}
