//! Kamailio as the SIP proxy of the end-to-end tests, driving the relay under
//! test through its `rtpengine` module exactly as in production.
//!
//! Kamailio forks worker processes, so it runs in a process group of its own:
//! on drop the main process gets SIGTERM (it then stops its workers), and
//! whatever is left of the group after a grace period gets SIGKILL.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The proxy configuration template (see its header for the placeholders).
pub const PROXY_CFG: &str = include_str!("../fixtures/kamailio/kamailio.cfg");

/// Path of `program` in `$PATH`. Panics naming the Debian package to install:
/// CI installs these, so a missing tool is a broken setup, not a skipped test.
pub fn require_program(program: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{program}` not found: install the Debian package `{debian_package}`")
        })
}

/// SIGTERM to `child`, up to `grace` for it to exit, then SIGKILL to its whole
/// process group (the child was started as the group's leader).
pub(crate) fn stop_group(child: &mut Child, grace: Duration) {
    let pid = child.id().to_string();
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Also reaches workers that outlived their parent; a no-op (ESRCH) when
    // the group is already gone.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

/// The last `n` lines of `text`, for failure messages that stay readable.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A running Kamailio, stopped (by PID and process group) when dropped.
pub struct Kamailio {
    child: Child,
    pub listen: SocketAddr,
    log_path: PathBuf,
    /// The network namespace it runs in (`ip netns add` name), if not ours.
    netns: Option<String>,
}

impl Kamailio {
    /// Writes `template` with its placeholders filled into `dir`, starts
    /// Kamailio in the foreground on it and waits until it answers SIP.
    ///
    /// `listen` is its SIP socket, `ng` the relay's control socket, `uas`
    /// where every initial INVITE is routed; `defines` are the template's
    /// pre-processor defines to set (its header lists them). It runs inside network
    /// namespace `netns` if given (`ip netns exec`, which execs Kamailio: the PID and
    /// process group stay its own), else in ours.
    pub fn start_in(
        netns: Option<&str>,
        dir: &Path,
        template: &str,
        defines: &[&str],
        listen: SocketAddr,
        ng: SocketAddr,
        uas: SocketAddr,
    ) -> io::Result<Kamailio> {
        let program = require_program("kamailio", "kamailio");
        let cfg = template
            .replace("@LISTEN@", &format!("udp:{listen}"))
            .replace("@NG_SOCK@", &format!("udp:{ng}"))
            .replace("@UAS_URI@", &format!("sip:{uas}"));
        assert!(
            !cfg.contains("@LISTEN@") && !cfg.contains("@NG_SOCK@") && !cfg.contains("@UAS_URI@"),
            "kamailio template placeholders left"
        );
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg)?;
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir)?;
        let log_path = dir.join("kamailio.log");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = match netns {
            None => Command::new(program),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
        };
        let child = cmd
            // -DD: stay in the foreground so the PID we hold is the main
            // process; -E: log to stderr (our file) instead of syslog; -Y: its
            // own runtime dir, not the system one under /run; small shm/pkg
            // pools: a few hundred test calls need little.
            .arg("-DD")
            .arg("-E")
            .arg("-f")
            .arg(&cfg_path)
            .arg("-Y")
            .arg(&run_dir)
            .arg("-w")
            .arg(dir)
            .args(["-m", "64", "-M", "8"])
            .args(defines.iter().flat_map(|d| ["-A", d]))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        let mut k = Kamailio {
            child,
            listen,
            log_path,
            netns: netns.map(String::from),
        };
        k.wait_ready(Duration::from_secs(10));
        Ok(k)
    }

    /// Ready once it answers an OPTIONS (the cfg refuses it with 405, which is
    /// still an answer from the routing script).
    fn wait_ready(&mut self, timeout: Duration) {
        let bind: SocketAddr = if self.listen.is_ipv4() {
            "127.0.0.1:0".parse().expect("addr")
        } else {
            "[::1]:0".parse().expect("addr")
        };
        // Inside Kamailio's namespace, where its address is reachable.
        let sock = match &self.netns {
            None => UdpSocket::bind(bind),
            Some(ns) => crate::netns::run_in(ns, move || UdpSocket::bind(bind)).and_then(|r| r),
        }
        .expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let me = sock.local_addr().expect("local addr");
        let host = |a: SocketAddr| match a {
            SocketAddr::V4(v) => v.ip().to_string(),
            SocketAddr::V6(v) => format!("[{}]", v.ip()),
        };
        let options = format!(
            "OPTIONS sip:probe@{to} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from_host}:{from_port};branch=z9hG4bKprobe{pid}\r\n\
             From: <sip:probe@{from_host}>;tag=probe\r\n\
             To: <sip:probe@{to}>\r\n\
             Call-ID: probe-{pid}@{from_host}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            to = self.listen,
            from_host = host(me),
            from_port = me.port(),
            pid = std::process::id(),
        );
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "kamailio exited during startup with {status}; log:\n{}",
                    tail(&self.log(), 60)
                );
            }
            let _ = sock.send_to(options.as_bytes(), self.listen);
            if let Ok(n) = sock.recv(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 ") {
                    return;
                }
            }
        }
        panic!(
            "kamailio did not answer OPTIONS on {}; log:\n{}",
            self.listen,
            tail(&self.log(), 60)
        );
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(3));
    }
}
