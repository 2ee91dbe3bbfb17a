//! Choosing the data plane (`--dataplane`, `--xdp-interface`, `--no-fallback`, `--table`)
//! and connecting the AF_XDP one to the call registry.
//!
//! The sockets backend always runs: it owns every media port's socket, so the control
//! plane's own sends and whatever the XDP program passes to the kernel reach it. AF_XDP
//! runs next to it and takes the table hits of its interface.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use dataplane::backend::af_xdp::{AfXdpBackend, AfXdpConfig};
use dataplane::PuntSink;
use shared_tables::TableReader;

use crate::call::FlowSteering;
use crate::config::{Config, DataplaneChoice, Environment, LocalAddr, SystemEnvironment};

/// `--no-fallback` and the chosen fast path could not start.
#[derive(Debug, thiserror::Error)]
#[error("--dataplane={choice} and --no-fallback: AF_XDP could not start: {reason}")]
pub struct NoFallback {
    pub choice: &'static str,
    pub reason: String,
}

fn choice_name(c: DataplaneChoice) -> &'static str {
    match c {
        DataplaneChoice::Sockets => "sockets",
        DataplaneChoice::AfXdp => "af-xdp",
        DataplaneChoice::Auto => "auto",
    }
}

/// Starts AF_XDP if the configuration asks for it and it can run; logs one line saying
/// which data plane forwards table hits and why.
pub fn start(
    config: &Config,
    table: TableReader,
    punt: Arc<dyn PuntSink>,
) -> Result<Option<Arc<AfXdpBackend>>, NoFallback> {
    let choice = choice_name(config.dataplane);
    if config.dataplane == DataplaneChoice::Sockets {
        tracing::info!("data plane: sockets (--dataplane=sockets)");
        return Ok(None);
    }
    let attempt = || -> Result<AfXdpBackend, String> {
        if config.dataplane == DataplaneChoice::Auto && config.table < 0 {
            return Err(format!("--table={} disables the fast path", config.table));
        }
        let iface = match &config.xdp_interface {
            Some(i) => i.clone(),
            None => media_device(
                &config
                    .interfaces
                    .iter()
                    .map(|i| i.address)
                    .collect::<Vec<_>>(),
                &SystemEnvironment.local_addrs().unwrap_or_default(),
            )?,
        };
        AfXdpBackend::start(&AfXdpConfig::new(&iface), table, punt).map_err(|e| e.to_string())
    };
    match attempt() {
        Ok(b) => {
            tracing::info!("data plane: {} (--dataplane={choice})", b.describe());
            Ok(Some(Arc::new(b)))
        }
        Err(reason) if config.no_fallback => Err(NoFallback { choice, reason }),
        Err(reason) => {
            tracing::warn!(
                "data plane: sockets (--dataplane={choice}, AF_XDP not possible: {reason})"
            );
            Ok(None)
        }
    }
}

/// The one network device holding every media address, for AF_XDP to attach to.
pub fn media_device(media: &[IpAddr], local: &[LocalAddr]) -> Result<String, String> {
    let mut device: Option<&LocalAddr> = None;
    for ip in media {
        let Some(l) = local.iter().find(|l| l.ip == *ip) else {
            return Err(format!("media address {ip} is on no local device"));
        };
        match device {
            Some(d) if d.device != l.device => {
                return Err(format!(
                    "media addresses on several devices ({}, {}): name one with --xdp-interface",
                    d.device, l.device
                ))
            }
            _ => device = Some(l),
        }
    }
    match device {
        None => Err("no media address".into()),
        Some(d) if d.loopback => Err(format!(
            "media addresses are on loopback device {}, which has no XDP data path",
            d.device
        )),
        Some(d) => Ok(d.device.clone()),
    }
}

/// Steers the AF_XDP program's flow map from the registry's table writes.
pub struct XdpSteering(pub Arc<AfXdpBackend>);

impl FlowSteering for XdpSteering {
    fn steer(&self, local: SocketAddr) {
        tracing::debug!("AF_XDP: steering {local}");
        if let Err(e) = self.0.steer(local) {
            tracing::warn!("AF_XDP: cannot steer {local}, the sockets path relays it: {e}");
        }
    }

    fn unsteer(&self, local: SocketAddr) {
        tracing::debug!("AF_XDP: unsteering {local}");
        if let Err(e) = self.0.unsteer(local) {
            tracing::warn!("AF_XDP: cannot unsteer {local}: {e}");
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = self.0.stats();
        vec![
            ("redirected", s.redirected),
            ("passedtokernel", s.passed),
            ("rxpackets", s.rx),
            ("txpackets", s.tx),
            ("puntedpackets", s.punted),
            ("droppedpackets", s.dropped),
            ("rxdropped", s.rx_dropped),
            ("fillringempty", s.rx_fill_ring_empty),
            ("invaliddescriptors", s.invalid_descs),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(device: &str, ip: &str, loopback: bool) -> LocalAddr {
        LocalAddr {
            device: device.into(),
            ip: ip.parse().unwrap(),
            loopback,
        }
    }

    #[test]
    fn media_device_is_the_one_device_of_every_media_address() {
        let l = [
            local("lo", "127.0.0.1", true),
            local("eth0", "192.0.2.1", false),
            local("eth0", "2001:db8::1", false),
            local("eth1", "198.51.100.1", false),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            media_device(&[ip("192.0.2.1"), ip("2001:db8::1")], &l),
            Ok("eth0".into())
        );
        let e = media_device(&[ip("192.0.2.1"), ip("198.51.100.1")], &l).unwrap_err();
        assert!(e.contains("--xdp-interface"), "{e}");
        let e = media_device(&[ip("127.0.0.1")], &l).unwrap_err();
        assert!(e.contains("loopback device lo"), "{e}");
        assert!(media_device(&[ip("203.0.113.9")], &l).is_err());
        assert!(media_device(&[], &l).is_err());
    }
}
