//! Calls over the ng protocol the way Kamailio's `rtpengine` module sets them
//! up: `offer` with the caller's SDP (`replace: [origin,
//! session-connection]`), `answer` with the callee's, `delete` at the end.
//!
//! The relay's rewritten SDPs say where to send: the offer's reply carries
//! the relay ports the callee talks to, the answer's reply those the caller
//! talks to. The bencode codec is the test harness's, independent of the
//! control plane's.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtpbolt_tests::bencode::dict;
use rtpbolt_tests::{Bencode, NgClient};
use thiserror::Error;

/// Setup and teardown requests get this long per attempt.
pub const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum NgError {
    #[error("ng {command} for call {call_id}: no reply within {timeout:?}")]
    Timeout {
        command: &'static str,
        call_id: String,
        timeout: Duration,
    },
    #[error("ng {command} for call {call_id}: socket error: {reason}")]
    Transport {
        command: &'static str,
        call_id: String,
        reason: String,
    },
    #[error("ng {command} for call {call_id}: undecodable reply: {reason}")]
    BadReply {
        command: &'static str,
        call_id: String,
        reason: String,
    },
    #[error("ng {command} for call {call_id}: result {result:?}: {reason}")]
    Rejected {
        command: &'static str,
        call_id: String,
        result: String,
        reason: String,
    },
    #[error("ng {command} for call {call_id}: reply SDP {problem}")]
    BadSdp {
        command: &'static str,
        call_id: String,
        problem: String,
    },
    #[error("ng relay at {addr} did not answer ping within {waited:?}")]
    NotReady { addr: SocketAddr, waited: Duration },
}

static COOKIE: AtomicU64 = AtomicU64::new(1);

/// One ng client socket. Requests on one connection are sequential; run
/// several connections for requests in flight in parallel.
pub struct NgConn {
    client: NgClient,
}

impl NgConn {
    pub fn new(relay: SocketAddr) -> NgConn {
        NgConn {
            client: NgClient::new(relay),
        }
    }

    /// One request, one attempt; returns the reply if its `result` is `ok`
    /// (or `pong`). A late reply to an earlier, timed-out request carries
    /// another cookie and is skipped.
    pub fn request(
        &self,
        command: &'static str,
        call_id: &str,
        msg: &Bencode,
        timeout: Duration,
    ) -> Result<Bencode, NgError> {
        let cookie = format!(
            "pg{}_{}",
            std::process::id(),
            COOKIE.fetch_add(1, Ordering::Relaxed)
        );
        let mut pkt = cookie.clone().into_bytes();
        pkt.push(b' ');
        pkt.extend_from_slice(&msg.encode());
        let transport = |reason: String| NgError::Transport {
            command,
            call_id: call_id.to_string(),
            reason,
        };
        self.client.send_raw(&pkt).map_err(transport)?;
        let deadline = Instant::now() + timeout;
        let prefix = format!("{cookie} ");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NgError::Timeout {
                    command,
                    call_id: call_id.to_string(),
                    timeout,
                });
            }
            // A receive timeout surfaces as an error string (and may fire a
            // hair before `deadline`); the check above turns it into `Timeout`.
            let Ok(raw) = self.client.recv_raw(left) else {
                continue;
            };
            let Some(body) = raw.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            let (reply, _) = Bencode::decode(body).map_err(|reason| NgError::BadReply {
                command,
                call_id: call_id.to_string(),
                reason,
            })?;
            return match reply.get_str("result") {
                Some("ok") | Some("pong") => Ok(reply),
                other => Err(NgError::Rejected {
                    command,
                    call_id: call_id.to_string(),
                    result: other.unwrap_or("(none)").to_string(),
                    reason: reply.get_str("error-reason").unwrap_or("").to_string(),
                }),
            };
        }
    }

    /// `offer` then `answer`: where each side has to send its streams.
    pub fn setup(
        &self,
        call: &CallIds,
        a: &[SocketAddrV4],
        b: &[SocketAddrV4],
        timeout: Duration,
    ) -> Result<CallRoute, NgError> {
        let cid = call.call_id.as_str();
        let offer = self.request(
            "offer",
            cid,
            &dict([
                ("command", Bencode::from("offer")),
                ("call-id", cid.into()),
                ("from-tag", call.from_tag.as_str().into()),
                ("sdp", sdp(a, call.session_id).into()),
                ("replace", vec!["origin", "session-connection"].into()),
            ]),
            timeout,
        )?;
        let for_b = reply_media(&offer, "offer", cid, a.len())?;
        let answer = self.request(
            "answer",
            cid,
            &dict([
                ("command", Bencode::from("answer")),
                ("call-id", cid.into()),
                ("from-tag", call.from_tag.as_str().into()),
                ("to-tag", call.to_tag.as_str().into()),
                ("sdp", sdp(b, call.session_id + 1).into()),
                ("replace", vec!["origin", "session-connection"].into()),
            ]),
            timeout,
        )?;
        let for_a = reply_media(&answer, "answer", cid, b.len())?;
        Ok(CallRoute { for_a, for_b })
    }

    pub fn delete(&self, call: &CallIds, timeout: Duration) -> Result<(), NgError> {
        let cid = call.call_id.as_str();
        self.request(
            "delete",
            cid,
            &dict([
                ("command", Bencode::from("delete")),
                ("call-id", cid.into()),
                ("from-tag", call.from_tag.as_str().into()),
                // Free the ports now, not after the daemon's delete delay
                // (30 s by default): thousands of deleted calls a second
                // would otherwise exhaust any port range, and the run would
                // measure the range instead of the relay.
                ("delete-delay", Bencode::Int(0)),
            ]),
            timeout,
        )
        .map(|_| ())
    }
}

/// Pings `relay` until it answers or `wait` has passed (a relay just started
/// by a script may not be listening yet).
pub fn wait_ready(relay: SocketAddr, wait: Duration) -> Result<(), NgError> {
    let conn = NgConn::new(relay);
    let deadline = Instant::now() + wait;
    let ping = dict([("command", Bencode::from("ping"))]);
    while Instant::now() < deadline {
        if conn
            .request("ping", "-", &ping, Duration::from_millis(200))
            .is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(NgError::NotReady {
        addr: relay,
        waited: wait,
    })
}

/// The identifiers of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallIds {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    session_id: u64,
}

impl CallIds {
    /// Unique per generator process and `run` (a nonce), so runs against a
    /// long-lived relay never reuse a call.
    pub fn new(run: u64, call: u64) -> CallIds {
        let call_id = format!("pg-{}-{run:x}-{call}", std::process::id());
        CallIds {
            from_tag: format!("{call_id}-a"),
            to_tag: format!("{call_id}-b"),
            session_id: 1_000_000 + call * 2,
            call_id,
        }
    }
}

/// Where each side sends its streams (index = stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRoute {
    /// Relay ports the caller (A) sends to, from the answer's reply.
    pub for_a: Vec<SocketAddrV4>,
    /// Relay ports the callee (B) sends to, from the offer's reply.
    pub for_b: Vec<SocketAddrV4>,
}

/// A phone's SDP with one PCMU `m=audio` line per address.
pub fn sdp(streams: &[SocketAddrV4], session_id: u64) -> String {
    let ip = streams
        .first()
        .map_or(std::net::Ipv4Addr::LOCALHOST, |a| *a.ip());
    let mut s =
        format!("v=0\r\no=- {session_id} 1 IN IP4 {ip}\r\ns=pktgen\r\nc=IN IP4 {ip}\r\nt=0 0\r\n");
    for a in streams {
        s.push_str(&format!(
            "m=audio {} RTP/AVP 0\r\nc=IN IP4 {}\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
            a.port(),
            a.ip()
        ));
    }
    s
}

/// The media address of every `m=` line: its own `c=` if it has one, else
/// the session's (RFC 4566 §5.7).
pub fn media_addrs(sdp: &str) -> Result<Vec<SocketAddrV4>, String> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media: Vec<(u16, Option<IpAddr>)> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split(' ')
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("has an unreadable line {line:?}"))?;
            match media.last_mut() {
                Some(m) => m.1 = Some(ip),
                None => session_ip = Some(ip),
            }
        } else if let Some(m) = line.strip_prefix("m=") {
            let port = m
                .split(' ')
                .nth(1)
                .and_then(|p| p.split('/').next())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("has an unreadable line {line:?}"))?;
            media.push((port, None));
        }
    }
    media
        .into_iter()
        .enumerate()
        .map(|(i, (port, ip))| match ip.or(session_ip) {
            Some(IpAddr::V4(ip)) if port != 0 => Ok(SocketAddrV4::new(ip, port)),
            Some(IpAddr::V4(_)) => Err(format!("rejects stream {i} (port 0)")),
            Some(IpAddr::V6(ip)) => Err(format!("puts stream {i} on IPv6 {ip}")),
            None => Err(format!("has no c= line for stream {i}")),
        })
        .collect()
}

fn reply_media(
    reply: &Bencode,
    command: &'static str,
    call_id: &str,
    streams: usize,
) -> Result<Vec<SocketAddrV4>, NgError> {
    let bad = |problem: String| NgError::BadSdp {
        command,
        call_id: call_id.to_string(),
        problem,
    };
    let sdp = reply
        .get_str("sdp")
        .ok_or_else(|| bad("is missing".into()))?;
    let addrs = media_addrs(sdp).map_err(bad)?;
    if addrs.len() != streams {
        return Err(bad(format!(
            "has {} m= lines, offered {streams}",
            addrs.len()
        )));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn sdp_has_one_media_line_per_stream() {
        let a = [
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40002),
        ];
        let s = sdp(&a, 7);
        assert!(s.starts_with("v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\n"));
        assert_eq!(s.matches("m=audio").count(), 2);
        assert_eq!(media_addrs(&s).unwrap(), a);
    }

    #[test]
    fn media_level_connection_overrides_the_session() {
        let s =
            "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 2000 RTP/AVP 0\r\nm=audio 2002/2 RTP/AVP 0\r\n\
                 c=IN IP4 127.0.0.9/127\r\n";
        assert_eq!(
            media_addrs(s).unwrap(),
            [
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2000),
                SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 9), 2002)
            ]
        );
    }

    #[test]
    fn unusable_media_is_an_error() {
        assert!(media_addrs("m=audio 2000 RTP/AVP 0\r\n")
            .unwrap_err()
            .contains("no c= line"));
        assert!(media_addrs("c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n")
            .unwrap_err()
            .contains("port 0"));
        assert!(media_addrs("c=IN IP6 ::1\r\nm=audio 9 RTP/AVP 0\r\n")
            .unwrap_err()
            .contains("IPv6"));
        assert!(media_addrs("c=IN\r\n").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn call_ids_are_unique_per_run_and_call() {
        let a = CallIds::new(1, 5);
        assert_ne!(a, CallIds::new(1, 6));
        assert_ne!(a.call_id, CallIds::new(2, 5).call_id);
        assert_ne!(a.from_tag, a.to_tag);
    }
}
