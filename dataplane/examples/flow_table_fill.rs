//! Creates a flow table file with `N` forwarding entries, for benchmarks and manual runs
//! of `rtpbolt-dataplane` without a control plane:
//!
//! ```text
//! flow_table_fill PATH N LOCAL DST SRC
//! ```
//!
//! Entry `i` (0-based) is keyed on LOCAL's port + 2i and forwards to DST's port + 2i
//! from SRC's port + 2i (ports wrap within 1024..65535), no source check.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch};

fn port_at(base: SocketAddr, i: usize) -> SocketAddr {
    let span = 65536 - 1024;
    let p = (usize::from(base.port()) - 1024 + 2 * i) % span + 1024;
    SocketAddr::new(base.ip(), p as u16)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, n, local, dst, src] = args.as_slice() else {
        bail!("usage: flow_table_fill PATH N LOCAL DST SRC");
    };
    let n: usize = n.parse().context("N")?;
    let (local, dst, src): (SocketAddr, SocketAddr, SocketAddr) = (
        local.parse().context("LOCAL")?,
        dst.parse().context("DST")?,
        src.parse().context("SRC")?,
    );
    for a in [local, dst, src] {
        if a.port() < 1024 {
            bail!("{a}: ports start at 1024");
        }
    }
    let table = FlowTable::create_at(&PathBuf::from(path), n.max(1)).context("creating table")?;
    let mut w = table.writer()?;
    for i in 0..n {
        let action = FlowAction {
            dst: port_at(dst, i),
            src: port_at(src, i),
            expected_src: None,
            src_mismatch: SrcMismatch::Forward,
            tos: 0,
            flags: 0,
            stream_id: i as u64,
        };
        w.upsert(FlowKey::new(port_at(local, i)), &action)
            .with_context(|| format!("entry {i}"))?;
    }
    println!("{path}: {} entries", w.len());
    Ok(())
}
