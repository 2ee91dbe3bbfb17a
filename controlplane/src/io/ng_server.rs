//! The ng control sockets (UDP and TCP): cookies, the reply cache, framing.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::control::Control;
use crate::ng;

/// How long a reply stays cached under its cookie: Kamailio retransmits a
/// request whose reply got lost, and the retransmission must not execute the
/// command again (a second offer would allocate new ports).
const COOKIE_TTL: Duration = Duration::from_secs(30);

/// Upper bound on the bytes the cache holds (keys and replies). Kamailio gives
/// up on a request after `rtpengine_tout_ms * rtpengine_retr` (5 s by
/// default), so at up to ~10k requests/s of SIP-phone sized replies the
/// whole retransmission window fits; beyond that the oldest replies go first,
/// rather than the daemon's memory growing with the request rate.
const COOKIE_CACHE_MAX_BYTES: usize = 24 << 20;

/// Replies by cookie, expiring in arrival order.
#[derive(Default)]
pub struct CookieCache {
    replies: HashMap<Box<[u8]>, Box<[u8]>>,
    order: VecDeque<(Instant, Box<[u8]>)>,
    bytes: usize,
}

impl CookieCache {
    fn get(&mut self, cookie: &[u8], now: Instant) -> Option<Vec<u8>> {
        self.expire(now);
        self.replies.get(cookie).map(|r| r.to_vec())
    }

    fn put(&mut self, cookie: &[u8], reply: &[u8], now: Instant) {
        if self.replies.contains_key(cookie) {
            return;
        }
        self.bytes += 2 * cookie.len() + reply.len();
        self.replies.insert(cookie.into(), reply.into());
        self.order.push_back((now, cookie.into()));
        while self.bytes > COOKIE_CACHE_MAX_BYTES && self.pop_oldest() {}
    }

    /// Drops replies older than [`COOKIE_TTL`]; also run from the timer so
    /// an idle daemon gives the memory back.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < COOKIE_TTL {
                break;
            }
            self.pop_oldest();
        }
        // Hash tables keep their peak capacity; after a burst, return it.
        if self.replies.capacity() > 64 && self.replies.len() < self.replies.capacity() / 4 {
            self.replies.shrink_to_fit();
            self.order.shrink_to_fit();
        }
    }

    fn pop_oldest(&mut self) -> bool {
        let Some((_, c)) = self.order.pop_front() else {
            return false;
        };
        if let Some(r) = self.replies.remove(&c) {
            self.bytes = self.bytes.saturating_sub(2 * c.len() + r.len());
        }
        true
    }
}

/// Shared state of all ng front ends.
pub struct NgService {
    pub control: Arc<Mutex<Control>>,
    pub cache: Mutex<CookieCache>,
}

impl NgService {
    /// One request datagram/message in, the reply bytes out (None: not even
    /// a cookie could be read, so there is nobody to answer).
    pub fn handle_message(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        let parsed = match ng::parse_datagram(msg) {
            Ok(m) => m,
            Err(e) => {
                let cookie = msg.split(|&b| b == b' ').next().filter(|c| {
                    !c.is_empty() && c.len() < msg.len() && c.iter().all(|b| b.is_ascii_graphic())
                })?;
                tracing::warn!("malformed ng message: {}", e.reason());
                let reply = ng::error_reply(&e.reason());
                return Some(ng::encode_reply(cookie, ng::Encoding::Bencode, &reply));
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(r) = cache.get(parsed.cookie, now) {
                return Some(r);
            }
        }
        let reply = {
            // A panic while handling one request must not take every later
            // request down with a poisoned lock: the call state is still
            // consistent enough to serve the other calls.
            let mut control = self
                .control
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            control.handle_owned(now, SystemTime::now(), parsed.body)
        };
        let bytes = ng::encode_reply(parsed.cookie, parsed.encoding, &reply);
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(parsed.cookie, &bytes, now);
        }
        Some(bytes)
    }
}

/// Serves ng over UDP on a thread of its own. Each request is a short piece
/// of CPU work under the call-state lock (binding a socket at most), so the
/// thread answers it inline: a task per datagram plus a hop to the blocking
/// pool cost more than the request itself and added two thread wake-ups to
/// every round trip.
pub async fn serve_udp(sock: UdpSocket, svc: Arc<NgService>) {
    let local = sock.local_addr().ok();
    let sock = match sock.into_std().and_then(|s| {
        s.set_nonblocking(false)?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("ng udp {local:?}: cannot take over the socket: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("rtpbolt-ng".into())
        .spawn(move || serve_udp_blocking(&sock, &svc));
    if let Err(e) = spawned {
        tracing::error!("ng udp {local:?}: cannot start its thread: {e}");
    }
}

fn serve_udp_blocking(sock: &std::net::UdpSocket, svc: &NgService) {
    // Wakes an idle thread now and then to expire cached replies.
    if let Err(e) = sock.set_read_timeout(Some(Duration::from_secs(1))) {
        tracing::warn!("ng udp: {e}; cached replies expire only as requests arrive");
    }
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if let Ok(mut cache) = svc.cache.lock() {
                    cache.expire(Instant::now());
                }
                continue;
            }
            Err(e) => {
                tracing::warn!("ng udp receive: {e}");
                continue;
            }
        };
        let msg = buf.get(..n).unwrap_or_default();
        // One request that panics must not end ng service for every call.
        let reply =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| svc.handle_message(msg)))
                .unwrap_or_else(|_| {
                    tracing::error!("ng request from {peer} caused a panic; not answered");
                    None
                });
        if let Some(reply) = reply {
            if let Err(e) = sock.send_to(&reply, peer) {
                tracing::warn!("ng reply to {peer}: {e}");
            }
        }
    }
}

pub async fn serve_tcp(listener: TcpListener, svc: Arc<NgService>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve_tcp_conn(stream, peer, svc.clone()));
            }
            Err(e) => {
                tracing::warn!("ng tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Largest request we buffer on a TCP connection before giving up on it.
const MAX_TCP_MESSAGE: usize = 4 << 20;

async fn serve_tcp_conn(mut stream: TcpStream, peer: SocketAddr, svc: Arc<NgService>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        loop {
            match ng::frame_stream(&buf) {
                Ok(Some(len)) => {
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    let svc = svc.clone();
                    let reply = tokio::task::spawn_blocking(move || svc.handle_message(&msg)).await;
                    if let Ok(Some(reply)) = reply {
                        if stream.write_all(&reply).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("ng tcp from {peer}: {}", e.reason());
                    // The stream cannot be resynchronised; answer if we can
                    // and close.
                    if let Some(reply) = svc.handle_message(&buf) {
                        let _ = stream.write_all(&reply).await;
                    }
                    return;
                }
            }
        }
        if buf.len() > MAX_TCP_MESSAGE {
            tracing::warn!("ng tcp from {peer}: message too large, closing");
            return;
        }
    }
}
