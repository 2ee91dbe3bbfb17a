//! Network namespaces for tests whose endpoints must sit behind an interface
//! the test creates (the DPDK data plane's wire TAP): a namespace named after
//! the test and its PID, removed on drop, plus a way to create sockets inside
//! it from this process.
//!
//! A thread can enter another network namespace on its own (`setns` changes
//! only the calling thread), and a socket stays in the namespace it was
//! created in wherever it is used afterwards. So [`NetNs::run`] runs a closure
//! on a short-lived thread inside the namespace, and the sockets it returns
//! work from any thread of the test.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::process::{Command, Output};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// A network namespace this process created; deleted on drop.
pub struct NetNs {
    name: String,
}

fn checked(out: io::Result<Output>, what: &str) -> io::Result<()> {
    let out = out?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    checked(
        Command::new("ip").args(args).output(),
        &format!("ip {}", args.join(" ")),
    )
}

impl NetNs {
    /// `ip netns add NAME` with loopback up. A namespace of the same name left
    /// by a killed earlier run of the same test is replaced.
    pub fn create(name: &str) -> io::Result<NetNs> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        let ns = NetNs {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs PROGRAM inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread inside the namespace and returns its result;
    /// sockets it creates belong to the namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        run_in(&self.name, f)
    }
}

/// Runs `f` on a thread inside the named namespace (`ip netns add NAME`) and returns its
/// result; sockets it creates belong to the namespace.
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let ns = File::open(format!("/run/netns/{name}"))?;
    std::thread::spawn(move || -> io::Result<T> {
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("closure inside the namespace panicked"))?
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// A socket made inside the namespace talks to the namespace's loopback
    /// and not to ours: a socket bound on 127.0.0.1 here does not receive it.
    #[test]
    fn sockets_made_inside_stay_inside() {
        if !root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "network namespace tests need root under CI"
            );
            eprintln!("not root: skipping namespace test");
            return;
        }
        let ns = NetNs::create(&format!("rbt-ns-{}", std::process::id())).unwrap();
        let outside = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = outside.local_addr().unwrap().port();
        let (inner_rx, inner_tx) = ns
            .run(move || {
                let rx = UdpSocket::bind(("127.0.0.1", port)).unwrap();
                let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
                (rx, tx)
            })
            .unwrap();
        inner_tx.send_to(b"inside", ("127.0.0.1", port)).unwrap();
        inner_rx
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = inner_rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"inside");
        outside.set_nonblocking(true).unwrap();
        assert!(
            outside.recv_from(&mut buf).is_err(),
            "leaked out of the namespace"
        );
    }
}
