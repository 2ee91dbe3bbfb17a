//! The daemon's command line, config file and process behaviour: an existing
//! rtpengine invocation (the one from the issue) starts rtpbolt unchanged,
//! bad options fail loudly, unsupported ones warn once and are ignored, the
//! config file and `--config-section` work, SIGTERM/SIGINT exit 0 promptly,
//! `--listen-ng=PORT` covers IPv4 and IPv6 loopback, `--pidfile` is written,
//! and the legacy `--listen-cli`/`--listen-udp` sockets answer.
//!
//! Where rtpengine's behaviour is the spec the test also runs against it;
//! rtpbolt-only checks (our warnings and error messages) have no rtpengine
//! variant.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtpbolt_tests::bencode::{dict, Bencode};
use rtpbolt_tests::daemon::{port_block, rtpbolt_bin, rtpengine_available};
use rtpbolt_tests::media;
use rtpbolt_tests::{Daemon, DaemonKind, NgClient};

/// A daemon started with a hand-written command line (the harness's
/// `Daemon::start` adds options these tests must control), killed by PID on
/// drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(kind: DaemonKind, args: &[String]) -> Proc {
        let program = match kind {
            DaemonKind::Rtpbolt => rtpbolt_bin(),
            DaemonKind::Rtpengine => PathBuf::from("/usr/bin/rtpengine"),
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "rtpbolt-options-{kind:?}-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).expect("create log");
        let child = Command::new(&program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Exit status if it exits within `t`.
    fn wait_exit(&mut self, t: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + t;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `ng` answers ping; panics with the log if the process
    /// exits or stays silent.
    fn wait_ping(&mut self, ng: SocketAddr) {
        let client = NgClient::new(ng);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("exited during startup with {st}; log:\n{}", self.log());
            }
            if ping(&client) {
                return;
            }
        }
        panic!("no pong on {ng}; log:\n{}", self.log());
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: plain kill(2) on the PID of a child we spawned and have not
        // reaped, so the PID cannot have been reused.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A UDP port free on both IPv4 and IPv6 right now (a dual-stack wildcard
/// bind succeeds only then). Control ports come from here rather than from
/// `port_block()`, whose blocks other test processes on this machine may be
/// using at the same moment: a ping answered by someone else's daemon would
/// make these tests meaningless.
fn free_udp_port() -> u16 {
    UdpSocket::bind("[::]:0")
        .and_then(|s| s.local_addr())
        .expect("probe udp port")
        .port()
}

fn ping(client: &NgClient) -> bool {
    client
        .request_timeout(
            &dict([("command", Bencode::from("ping"))]),
            Duration::from_millis(200),
        )
        .is_ok_and(|r| r.get_str("result") == Some("pong"))
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn skip(kind: DaemonKind) -> bool {
    media::skip_without_rtpengine(kind)
}

/// Serialises the tests that need the issue's fixed ports, within this binary
/// (Mutex) and across processes (flock on a well-known file).
struct FixedPorts {
    _guard: std::sync::MutexGuard<'static, ()>,
    _file: std::fs::File,
}

fn lock_fixed_ports() -> FixedPorts {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("rtpbolt-tests-fixed-ports.lock"))
        .expect("open lock file");
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor we own; released when `file` closes.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock");
    FixedPorts {
        _guard: guard,
        _file: file,
    }
}

/// The exact command line from the issue: short options, a documentation
/// address that is not on this machine (media on it is never used here) and
/// an IPv6 one, fixed ports. It must start, answer ng on 2223 over IPv4 and
/// IPv6 loopback, and run the CLI on 12345 and the rtpproxy protocol on 2222.
fn issue_command_line(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    let _lock = lock_fixed_ports();
    let free = UdpSocket::bind("0.0.0.0:2223").is_ok()
        && UdpSocket::bind("0.0.0.0:2222").is_ok()
        && TcpListener::bind("0.0.0.0:12345").is_ok();
    if !free {
        eprintln!("skipped: port 2222, 2223 (udp) or 12345 (tcp) is in use on this machine");
        return;
    }
    let mut p = Proc::spawn(
        kind,
        &args(&[
            "--config-file=none",
            "-t",
            "-1",
            "-i",
            "203.0.113.1",
            "-i",
            "2001:db8:4321::1",
            "-n",
            "2223",
            "-c",
            "12345",
            "-f",
            "-L",
            "7",
            "-E",
            "-u",
            "2222",
        ]),
    );
    p.wait_ping("127.0.0.1:2223".parse().expect("addr"));
    assert!(
        ping(&NgClient::new("[::1]:2223".parse().expect("addr"))),
        "{kind:?}: no pong on [::1]:2223\n{}",
        p.log()
    );
    assert_cli_answers(kind, "127.0.0.1:12345".parse().expect("addr"));
    assert_udp_answers(kind, "127.0.0.1:2222".parse().expect("addr"));
    p.signal(libc::SIGTERM);
    let st = p.wait_exit(Duration::from_secs(2));
    assert!(
        st.is_some_and(|s| s.success()),
        "{kind:?}: SIGTERM gave {st:?}"
    );
}

/// The CLI socket takes a line and answers with something (rtpengine: the
/// command's output or an error; rtpbolt: "not supported" for now).
fn assert_cli_answers(kind: DaemonKind, addr: SocketAddr) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{kind:?}: connect to CLI {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.write_all(b"bogus-command\n").expect("write cli");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    assert!(n > 0, "{kind:?}: CLI on {addr} sent nothing back");
}

/// The rtpproxy-protocol socket answers an unknown command with an error
/// code (`<cookie> E<n>`), echoing the cookie.
fn assert_udp_answers(kind: DaemonKind, addr: SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.send_to(b"ck1 Xbogus", addr).expect("send");
    let mut buf = vec![0u8; 1500];
    let n = s
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("{kind:?}: no reply from --listen-udp {addr}: {e}"));
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(
        reply.starts_with("ck1 E"),
        "{kind:?}: --listen-udp reply {reply:?}"
    );
}

/// Common options for a hand-started daemon on a private port block; returns
/// them and the ng address.
fn base_args(extra: &[&str]) -> (Vec<String>, SocketAddr, u16) {
    let (_, min, max) = port_block();
    let ng = free_udp_port();
    let mut a = args(&[
        "--config-file=none",
        "--table=-1",
        "--foreground",
        "--log-stderr",
        "--interface=127.0.0.1",
    ]);
    a.push(format!("--listen-ng=127.0.0.1:{ng}"));
    a.push(format!("--port-min={min}"));
    a.push(format!("--port-max={max}"));
    a.extend(args(extra));
    (a, format!("127.0.0.1:{ng}").parse().expect("addr"), ng)
}

/// An unknown option and a malformed value each make startup fail with a
/// non-zero status (rtpengine: 255, silently with -E).
fn bad_options(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    for (bad, named) in [("--bogus", "bogus"), ("--port-min=abc", "port-min")] {
        let (a, _, _) = base_args(&[bad]);
        let mut p = Proc::spawn(kind, &a);
        let st = p.wait_exit(Duration::from_secs(5));
        assert!(
            st.is_some_and(|s| !s.success()),
            "{kind:?} {bad}: exit status {st:?}\n{}",
            p.log()
        );
        if kind == DaemonKind::Rtpbolt {
            assert!(
                p.log().contains(named),
                "{bad}: stderr does not name it:\n{}",
                p.log()
            );
        }
    }
}

/// Options rtpbolt does not implement yet still start it, with exactly one
/// warning line each.
#[test]
fn unsupported_options_warn_once_rtpbolt() {
    let opts = [
        ("redis", "--redis=127.0.0.1:6379/1"),
        ("recording-dir", "--recording-dir=/tmp"),
        ("homer", "--homer=127.0.0.1:9060"),
    ];
    let extra: Vec<&str> = opts.iter().map(|(_, o)| *o).collect();
    let mut d = Daemon::start(DaemonKind::Rtpbolt, &["127.0.0.1"], &extra);
    assert!(ping(&d.client()));
    let log = d.log();
    for (name, _) in opts {
        let warnings = log
            .lines()
            .filter(|l| {
                l.contains(&format!("--{name} ")) && l.contains("not supported yet, ignored")
            })
            .count();
        assert_eq!(warnings, 1, "--{name}: {warnings} warning lines in:\n{log}");
    }
    assert!(d.is_running());
}

/// Every option rtpengine's `--help` lists is known to rtpbolt's `--help`,
/// so no existing command line is rejected as "unknown option".
#[test]
fn every_upstream_option_is_recognised_rtpbolt() {
    if !rtpengine_available() {
        eprintln!("skipped: /usr/bin/rtpengine is not installed");
        return;
    }
    let help = |program: &Path| {
        let out = Command::new(program)
            .arg("--help")
            .output()
            .expect("run --help");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let long_options = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split("--").nth(1))
            .map(|o| {
                o.split(|c: char| c == '=' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .filter(|o| !o.is_empty())
            .collect()
    };
    let theirs = long_options(&help(Path::new("/usr/bin/rtpengine")));
    assert!(
        theirs.len() > 100,
        "rtpengine --help parsed to only {theirs:?}"
    );
    let ours = long_options(&help(&rtpbolt_bin()));
    let missing: Vec<&String> = theirs.iter().filter(|o| !ours.contains(o)).collect();
    assert!(
        missing.is_empty(),
        "options rtpbolt does not know: {missing:?}"
    );
}

/// A config file's `[rtpengine]` section configures the daemon, and
/// `--config-section` picks another section instead.
fn config_file(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    let (_, min, max) = port_block();
    let (ng_a, ng_b) = (free_udp_port(), free_udp_port());
    let path = std::env::temp_dir().join(format!(
        "rtpbolt-conf-{kind:?}-{}-{ng_a}.conf",
        std::process::id()
    ));
    let half = min + (max - min) / 2;
    std::fs::write(
        &path,
        format!(
            "[rtpengine]\ntable = -1\ninterface = 127.0.0.1\nlisten-ng = 127.0.0.1:{ng_a}\n\
             port-min = {min}\nport-max = {half}\ntimeout = 30\n\n\
             [other]\ntable = -1\ninterface = 127.0.0.1\nlisten-ng = 127.0.0.1:{ng_b}\n\
             port-min = {}\nport-max = {max}\n",
            half + 1
        ),
    )
    .expect("write config");
    for (section, ng, range) in [
        (None, ng_a, (min, half)),
        (Some("other"), ng_b, (half + 1, max)),
    ] {
        let mut a = vec![format!("--config-file={}", path.display())];
        a.extend(args(&["--foreground", "--log-stderr"]));
        if let Some(s) = section {
            a.push(format!("--config-section={s}"));
        }
        let mut p = Proc::spawn(kind, &a);
        let ng_addr: SocketAddr = format!("127.0.0.1:{ng}").parse().expect("addr");
        p.wait_ping(ng_addr);
        let client = NgClient::new(ng_addr);
        let c = media::establish(
            &client,
            "conf",
            media::phone(media::CALLER_IP),
            media::phone(media::CALLEE_IP),
            vec![],
            vec![],
        );
        for port in [c.relay_for_caller.port(), c.relay_for_callee.port()] {
            assert!(
                (range.0..=range.1).contains(&port),
                "{kind:?} section {section:?}: media port {port} outside {range:?}"
            );
        }
        // The other section's control port is not in use.
        let other = if ng == ng_a { ng_b } else { ng_a };
        assert!(
            !ping(&NgClient::new(
                format!("127.0.0.1:{other}").parse().expect("addr")
            )),
            "{kind:?} section {section:?}: the other section's listen-ng answers"
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// SIGTERM and SIGINT each end the daemon with status 0 within 2 s, also with
/// a call up.
fn signals(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let (a, ng, _) = base_args(&[]);
        let mut p = Proc::spawn(kind, &a);
        p.wait_ping(ng);
        let _call = media::establish(
            &NgClient::new(ng),
            "sig",
            media::phone(media::CALLER_IP),
            media::phone(media::CALLEE_IP),
            vec![],
            vec![],
        );
        p.signal(sig);
        let st = p.wait_exit(Duration::from_secs(2));
        assert!(
            st.is_some_and(|s| s.code() == Some(0)),
            "{kind:?} signal {sig}: {st:?}\n{}",
            p.log()
        );
    }
}

/// `--listen-ng=PORT` without an address answers on IPv4 and IPv6 loopback.
fn listen_ng_port_only(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    let (mut a, _, port) = base_args(&[]);
    // Replace the address:port form with the bare port.
    a.retain(|x| !x.starts_with("--listen-ng="));
    a.push(format!("--listen-ng={port}"));
    let mut p = Proc::spawn(kind, &a);
    p.wait_ping(format!("127.0.0.1:{port}").parse().expect("addr"));
    assert!(
        ping(&NgClient::new(
            format!("[::1]:{port}").parse().expect("addr")
        )),
        "{kind:?}: --listen-ng={port} does not answer on [::1]\n{}",
        p.log()
    );
}

/// `--pidfile` holds the daemon's PID once it answers.
fn pidfile(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    let path =
        std::env::temp_dir().join(format!("rtpbolt-pid-{kind:?}-{}.pid", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (a, ng, _) = base_args(&[&format!("--pidfile={}", path.display())]);
    let mut p = Proc::spawn(kind, &a);
    p.wait_ping(ng);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        text.trim(),
        p.child.id().to_string(),
        "{kind:?}: pidfile contents"
    );
    let _ = std::fs::remove_file(&path);
}

/// `--listen-cli` and `--listen-udp` on private ports are bound and answer.
fn legacy_listeners(kind: DaemonKind) {
    if skip(kind) {
        return;
    }
    let cli = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe tcp port")
        .port();
    let udp = free_udp_port();
    let (a, ng, _) = base_args(&[
        &format!("--listen-cli=127.0.0.1:{cli}"),
        &format!("--listen-udp=127.0.0.1:{udp}"),
    ]);
    let mut p = Proc::spawn(kind, &a);
    p.wait_ping(ng);
    assert_cli_answers(kind, format!("127.0.0.1:{cli}").parse().expect("addr"));
    assert_udp_answers(kind, format!("127.0.0.1:{udp}").parse().expect("addr"));
}

macro_rules! both {
    ($f:ident, $bolt:ident, $engine:ident) => {
        #[test]
        fn $bolt() {
            $f(DaemonKind::Rtpbolt);
        }
        #[test]
        fn $engine() {
            $f(DaemonKind::Rtpengine);
        }
    };
}

both!(
    issue_command_line,
    issue_command_line_rtpbolt,
    issue_command_line_rtpengine
);
both!(bad_options, bad_options_rtpbolt, bad_options_rtpengine);
both!(config_file, config_file_rtpbolt, config_file_rtpengine);
both!(signals, signals_rtpbolt, signals_rtpengine);
both!(
    listen_ng_port_only,
    listen_ng_port_only_rtpbolt,
    listen_ng_port_only_rtpengine
);
both!(pidfile, pidfile_rtpbolt, pidfile_rtpengine);
both!(
    legacy_listeners,
    legacy_listeners_rtpbolt,
    legacy_listeners_rtpengine
);

/// `--dataplane=auto` where AF_XDP cannot run (media on loopback; `--table=-1`) starts
/// on sockets with one line saying why; with `--no-fallback` the same start fails with a
/// non-zero status and the reason, and so does `--dataplane=af-xdp` on an interface
/// that does not exist (or in a build without AF_XDP).
#[test]
fn dataplane_fallback_and_no_fallback_rtpbolt() {
    for (extra, reason) in [
        (
            &["--table=0", "--dataplane=auto"][..],
            "media addresses are on loopback device lo",
        ),
        (
            &["--dataplane=auto"][..],
            "--table=-1 disables the fast path",
        ),
    ] {
        let (a, ng, _) = base_args(extra);
        let mut p = Proc::spawn(DaemonKind::Rtpbolt, &a);
        p.wait_ping(ng);
        let log = p.log();
        let chosen: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("data plane: sockets (--dataplane=auto"))
            .collect();
        assert_eq!(chosen.len(), 1, "{extra:?}: {log}");
        assert!(chosen[0].contains(reason), "{extra:?}: {log}");

        let mut fatal = extra.to_vec();
        fatal.push("--no-fallback");
        let (a, _, _) = base_args(&fatal);
        let mut p = Proc::spawn(DaemonKind::Rtpbolt, &a);
        let st = p.wait_exit(Duration::from_secs(10));
        assert!(st.is_some_and(|s| !s.success()), "{fatal:?}: {st:?}");
        let log = p.log();
        assert!(
            log.contains("--no-fallback: AF_XDP could not start") && log.contains(reason),
            "{fatal:?}: {log}"
        );
    }
    let (a, _, _) = base_args(&[
        "--table=0",
        "--dataplane=af-xdp",
        "--xdp-interface=rbx-no-such0",
        "--no-fallback",
    ]);
    let mut p = Proc::spawn(DaemonKind::Rtpbolt, &a);
    let st = p.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| !s.success()), "{st:?}");
    let log = p.log();
    assert!(
        log.contains("rbx-no-such0") || log.contains("built without AF_XDP support"),
        "{log}"
    );
}
