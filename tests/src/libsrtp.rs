//! libsrtp, through pylibsrtp, as the SRTP implementation of the test phones
//! (`tests/peers/libsrtp_codec.py`): the packets our phones send and check are
//! protected and unprotected by an implementation independent of ours.
//!
//! The Python is `$RTPBOLT_PYTHON`, else the virtualenv `scripts/test.sh`
//! creates in the target directory (`pyvenv`, with pylibsrtp installed).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running codec process.
pub struct LibSrtp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("RTPBOLT_PYTHON") {
        return PathBuf::from(p);
    }
    crate::daemon::target_dir().join("pyvenv/bin/python")
}

/// Whether a missing pylibsrtp must fail the test rather than skip it: in CI,
/// whose script installs it.
fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("RTPBOLT_REQUIRE_LIBSRTP").is_some()
}

impl LibSrtp {
    /// Starts the codec; `None` (test skipped) without pylibsrtp outside CI.
    pub fn start() -> Option<LibSrtp> {
        let py = python();
        let usable = Command::new(&py)
            .args(["-c", "import pylibsrtp"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            let msg = format!(
                "{} cannot import pylibsrtp (scripts/test.sh installs it)",
                py.display()
            );
            assert!(!required(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/libsrtp_codec.py");
        let mut child = Command::new(&py)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start libsrtp codec");
        let stdin = child.stdin.take().expect("codec stdin");
        let stdout = BufReader::new(child.stdout.take().expect("codec stdout"));
        Some(LibSrtp {
            child,
            stdin,
            stdout,
        })
    }

    fn call(&mut self, line: &str) -> Result<String, String> {
        self.calls(std::slice::from_ref(&line.to_string()))
            .pop()
            .expect("one reply per request")
    }

    /// The replies to `lines`, in order. Requests go out in chunks without
    /// waiting for each reply, so that thousands of packets cost one pipe
    /// round trip per chunk rather than per packet; a chunk's requests and
    /// replies each fit in a pipe buffer, so neither side blocks on a full
    /// pipe while the other waits for it.
    fn calls(&mut self, lines: &[String]) -> Vec<Result<String, String>> {
        const CHUNK: usize = 64;
        let mut replies = Vec::with_capacity(lines.len());
        for chunk in lines.chunks(CHUNK) {
            for line in chunk {
                writeln!(self.stdin, "{line}").expect("write to codec");
            }
            self.stdin.flush().expect("flush to codec");
            for line in chunk {
                let mut reply = String::new();
                self.stdout.read_line(&mut reply).expect("read from codec");
                let reply = reply.trim_end();
                replies.push(match reply.split_once(' ').unwrap_or((reply, "")) {
                    ("ok", rest) => Ok(rest.to_string()),
                    ("err", why) => Err(why.to_string()),
                    _ => panic!("codec said {reply:?} to {line:?}"),
                });
            }
        }
        replies
    }

    /// A libsrtp session `name` for SDES suite `suite` with the base64
    /// `inline:` key of an `a=crypto` line; `tx` protects, else unprotects.
    pub fn session(&mut self, name: &str, suite: &str, inline_key: &str, tx: bool) {
        self.try_session(name, suite, inline_key, tx)
            .unwrap_or_else(|e| panic!("libsrtp session {name} {suite}: {e}"));
    }

    /// [`session`](Self::session) for a key from the relay under test, which
    /// libsrtp may refuse (an unknown suite, a key that is not base64).
    pub fn try_session(
        &mut self,
        name: &str,
        suite: &str,
        inline_key: &str,
        tx: bool,
    ) -> Result<(), String> {
        let dir = if tx { "tx" } else { "rx" };
        self.call(&format!("new {name} {suite} {inline_key} {dir}"))
            .map(drop)
    }

    pub fn protect(&mut self, name: &str, rtcp: bool, packet: &[u8]) -> Vec<u8> {
        let kind = if rtcp { "rtcp" } else { "rtp" };
        let out = self
            .call(&format!("protect {name} {kind} {}", hex(packet)))
            .unwrap_or_else(|e| panic!("libsrtp protect {name}: {e}"));
        unhex(&out)
    }

    /// The plain packet, or libsrtp's reason for refusing it.
    pub fn unprotect(&mut self, name: &str, rtcp: bool, packet: &[u8]) -> Result<Vec<u8>, String> {
        let kind = if rtcp { "rtcp" } else { "rtp" };
        self.call(&format!("unprotect {name} {kind} {}", hex(packet)))
            .map(|h| unhex(&h))
    }

    /// [`protect`](Self::protect) of each RTP packet of `packets`, in order.
    pub fn protect_rtp_all(&mut self, name: &str, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        self.rtp_all("protect", name, packets)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("libsrtp protect {name}: {e}")))
            .collect()
    }

    /// [`unprotect`](Self::unprotect) of each RTP packet of `packets`, in
    /// order (the order matters: it is the replay window's).
    pub fn unprotect_rtp_all(
        &mut self,
        name: &str,
        packets: &[Vec<u8>],
    ) -> Vec<Result<Vec<u8>, String>> {
        self.rtp_all("unprotect", name, packets)
    }

    fn rtp_all(
        &mut self,
        op: &str,
        name: &str,
        packets: &[Vec<u8>],
    ) -> Vec<Result<Vec<u8>, String>> {
        let lines: Vec<String> = packets
            .iter()
            .map(|p| format!("{op} {name} rtp {}", hex(p)))
            .collect();
        self.calls(&lines)
            .into_iter()
            .map(|r| r.map(|h| unhex(&h)))
            .collect()
    }
}

impl Drop for LibSrtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("codec hex"))
        .collect()
}

/// One `a=crypto` line of an SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub suite: String,
    /// The base64 key||salt of the first `inline:` parameter.
    pub key: String,
}

/// The `a=crypto` lines of an SDP, in order.
pub fn crypto_lines(sdp: &str) -> Vec<CryptoLine> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=crypto:"))
        .filter_map(|v| {
            let mut w = v.split_whitespace();
            let tag = w.next()?.parse().ok()?;
            let suite = w.next()?.to_string();
            let inline = w.next()?.strip_prefix("inline:")?;
            let key = inline.split('|').next()?.to_string();
            Some(CryptoLine { tag, suite, key })
        })
        .collect()
}

/// A random master key||salt for `suite` in an `a=crypto` line with `tag`.
pub fn fresh_key(tag: u32, suite: &str) -> CryptoLine {
    // RFC 4568 6.2 and RFC 7714 12: 16-byte key and 14-byte salt for
    // AES-CM, 12-byte salt for AEAD.
    let len = match suite {
        "AEAD_AES_128_GCM" => 28,
        "AEAD_AES_256_GCM" => 44,
        _ => 30,
    };
    let mut b = vec![0u8; len];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("open /dev/urandom"),
        &mut b,
    )
    .expect("random key");
    CryptoLine {
        tag,
        suite: suite.into(),
        key: base64(&b),
    }
}

/// RFC 4648 base64 with padding.
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        for _ in c.len()..3 {
            out.push('=');
        }
    }
    out
}
