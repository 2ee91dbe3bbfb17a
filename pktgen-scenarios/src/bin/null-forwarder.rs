//! The floor for every relay figure: an ideal forwarder that only moves
//! datagrams. One UDP socket, one thread; `recvmmsg` up to 64 datagrams, then
//! `sendmmsg` each to the destination written in its probe payload. No
//! calls, no lookups, no rewriting, no counters.
//!
//! It exits by itself after `--idle-exit` seconds without input, so a script
//! that dies cannot leave it behind for long.

use std::io::ErrorKind;
use std::net::{SocketAddrV4, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use rtpbolt_pktgen::endpoints::SOCKET_BUFFER;
use rtpbolt_pktgen::payload::forward_dest;
use rtpbolt_pktgen::sys::{set_buffers, MsgBatch};

#[derive(Parser)]
#[command(
    version,
    about = "Null forwarder: recvmmsg + sendmmsg to the address in each probe payload"
)]
struct Cli {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddrV4,
    /// Exit after this many seconds without a datagram.
    #[arg(long, default_value_t = 600)]
    idle_exit: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.listen.ip().is_loopback(),
        "the null forwarder only listens on loopback"
    );
    let sock = UdpSocket::bind(cli.listen).with_context(|| format!("bind {}", cli.listen))?;
    set_buffers(&sock, SOCKET_BUFFER);
    sock.set_read_timeout(Some(Duration::from_secs(cli.idle_exit.max(1))))?;
    eprintln!("null-forwarder listening on {}", sock.local_addr()?);
    let mut batch = MsgBatch::new();
    loop {
        let n = match batch.recv(&sock, true) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                eprintln!("null-forwarder: idle for {} s, exiting", cli.idle_exit);
                return Ok(());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionRefused
                ) =>
            {
                continue
            }
            Err(e) => return Err(e).context("recvmmsg"),
        };
        for i in 0..n {
            // Only loopback destinations: this must never become a reflector.
            let dest = forward_dest(batch.packet(i)).filter(|d| d.ip().is_loopback());
            batch.set_dest(i, dest);
        }
        batch.send(&sock);
    }
}
