//! `rtpbolt-pktgen`: run a scenario against a relay, or compare the JSON
//! reports of several runs side by side.

use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use rtpbolt_pktgen::report::{Column, Comparison};
use rtpbolt_pktgen::run::{run, RunOptions, Target};
use rtpbolt_pktgen::scenario::Scenario;

#[derive(Parser)]
#[command(
    version,
    about = "Load generator for ng-driven media relays (rtpbolt, rtpengine)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario file against one target.
    Run(RunArgs),
    /// Print reports of the same scenario side by side, with ratios.
    Compare(CompareArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// A relay driven over ng at this address.
    #[arg(long, conflicts_with = "null", required_unless_present = "null")]
    ng: Option<SocketAddr>,
    /// The null forwarder at this address: no ng, every packet goes there.
    #[arg(long)]
    null: Option<SocketAddrV4>,
    /// PID of the relay, for its CPU time and RSS.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Name of this run in reports (e.g. rtpbolt, rtpengine, null).
    #[arg(long, default_value = "relay")]
    label: String,
    /// Generator sockets per side of the calls.
    #[arg(long, default_value_t = 4)]
    pool: usize,
    /// Address of the generator's sockets: 127.0.0.1, or an address on an
    /// interface the test created (e.g. inside a netns behind the DPDK data
    /// plane's wire TAP).
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: std::net::Ipv4Addr,
    /// Parallel ng clients for call setup and teardown.
    #[arg(long, default_value_t = 4)]
    setup_workers: usize,
    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct CompareArgs {
    /// Reports as LABEL=FILE, one column each, in this order.
    #[arg(required = true)]
    columns: Vec<String>,
    /// Ratio columns as LABEL/LABEL (repeatable).
    #[arg(long)]
    ratio: Vec<String>,
    /// Write all reports in one JSON document here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(a) => run_one(a),
        Command::Compare(a) => compare(a),
    }
}

fn run_one(a: RunArgs) -> Result<()> {
    let scenario = Scenario::load(&a.scenario)?;
    let target = match (a.ng, a.null) {
        (Some(ng), None) => Target::Ng(ng),
        (None, Some(null)) => Target::Null(null),
        _ => bail!("give exactly one of --ng and --null"),
    };
    let opts = RunOptions {
        target,
        relay_pid: a.relay_pid,
        pool: a.pool,
        local_ip: a.local_ip,
        setup_workers: a.setup_workers,
        label: a.label,
        quiet: a.quiet,
    };
    let report = run(&scenario, &opts)
        .with_context(|| format!("scenario {} against {target}", scenario.name))?;
    print!("{}", report.table());
    if let Some(path) = a.json {
        report.write_json(&path)?;
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<()> {
    let columns = a
        .columns
        .iter()
        .map(|c| {
            let (label, path) = c
                .split_once('=')
                .with_context(|| format!("{c:?} is not LABEL=FILE"))?;
            Ok(Column::load(label, path.as_ref())?)
        })
        .collect::<Result<Vec<_>>>()?;
    let cmp = Comparison::new(columns, &a.ratio)?;
    print!("{}", cmp.table());
    if let Some(path) = a.json {
        cmp.write_json(&path)?;
    }
    Ok(())
}
