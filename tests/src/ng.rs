//! An ng protocol client over UDP: `<cookie> <bencoded dictionary>`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::bencode::Bencode;

static COOKIE: AtomicU64 = AtomicU64::new(1);

pub struct NgClient {
    sock: UdpSocket,
    server: SocketAddr,
}

impl NgClient {
    pub fn new(server: SocketAddr) -> NgClient {
        // Loopback servers get a loopback client (the tests' usual case);
        // one behind an interface (a netns, a TAP) gets whatever source the
        // route picks.
        let bind = match (server.is_ipv4(), server.ip().is_loopback()) {
            (true, true) => "127.0.0.1:0",
            (true, false) => "0.0.0.0:0",
            (false, true) => "[::1]:0",
            (false, false) => "[::]:0",
        };
        let sock = UdpSocket::bind(bind).expect("bind ng client");
        NgClient { sock, server }
    }

    /// Sends one request and returns the reply dictionary (2 s timeout).
    pub fn request(&self, msg: &Bencode) -> Bencode {
        self.request_timeout(msg, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("ng request {msg:?}: {e}"))
    }

    pub fn request_timeout(&self, msg: &Bencode, timeout: Duration) -> Result<Bencode, String> {
        let cookie = format!(
            "{}_{}",
            std::process::id(),
            COOKIE.fetch_add(1, Ordering::Relaxed)
        );
        let raw = self.request_raw(cookie.as_bytes(), &msg.encode(), timeout)?;
        let body = raw
            .strip_prefix(format!("{cookie} ").as_bytes())
            .ok_or_else(|| format!("reply lacks cookie: {:?}", String::from_utf8_lossy(&raw)))?;
        let (v, _) = Bencode::decode(body)?;
        Ok(v)
    }

    /// Sends `cookie SP payload` verbatim and returns the raw reply datagram.
    pub fn request_raw(
        &self,
        cookie: &[u8],
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let mut pkt = cookie.to_vec();
        pkt.push(b' ');
        pkt.extend_from_slice(payload);
        self.send_raw(&pkt)?;
        self.recv_raw(timeout)
    }

    pub fn send_raw(&self, datagram: &[u8]) -> Result<(), String> {
        self.sock
            .send_to(datagram, self.server)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn recv_raw(&self, timeout: Duration) -> Result<Vec<u8>, String> {
        self.sock
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        buf.truncate(n);
        Ok(buf)
    }
}
