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

/// Replies by cookie, expiring in arrival order.
#[derive(Default)]
pub struct CookieCache {
    replies: HashMap<Vec<u8>, Vec<u8>>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl CookieCache {
    fn get(&mut self, cookie: &[u8], now: Instant) -> Option<Vec<u8>> {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < COOKIE_TTL {
                break;
            }
            if let Some((_, c)) = self.order.pop_front() {
                self.replies.remove(&c);
            }
        }
        self.replies.get(cookie).cloned()
    }

    fn put(&mut self, cookie: &[u8], reply: &[u8], now: Instant) {
        if self
            .replies
            .insert(cookie.to_vec(), reply.to_vec())
            .is_none()
        {
            self.order.push_back((now, cookie.to_vec()));
        }
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
            control.handle(now, SystemTime::now(), &parsed.body)
        };
        let bytes = ng::encode_reply(parsed.cookie, parsed.encoding, &reply);
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(parsed.cookie, &bytes, now);
        }
        Some(bytes)
    }
}

pub async fn serve_udp(sock: UdpSocket, svc: Arc<NgService>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("ng udp receive: {e}");
                continue;
            }
        };
        let msg = buf.get(..n).unwrap_or_default().to_vec();
        let svc = svc.clone();
        // Offers bind sockets; keep that off the receive loop.
        let reply = tokio::task::spawn_blocking(move || svc.handle_message(&msg)).await;
        if let Ok(Some(reply)) = reply {
            if let Err(e) = sock.send_to(&reply, peer).await {
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
