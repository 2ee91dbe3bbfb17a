//! The `rtpbolt` daemon: parse options, set up logging, run.

use std::process::ExitCode;

use anyhow::Context;
use controlplane::config::{self, Config, Startup};

/// glibc's malloc kept what a burst of calls had used (its arenas only
/// shrink from the top) and its bin searches and consolidations were a fifth
/// of the ng thread's time. jemalloc is as fast as mimalloc here and, with
/// its background threads, gives freed pages back to the system after its
/// decay time (10 s) even when the daemon is idle, which mimalloc does not.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let allocator = controlplane::io::alloc::return_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse_startup(&args) {
        Ok(Startup::Run(c)) => c,
        Ok(Startup::Help(text)) | Ok(Startup::Version(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rtpbolt: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !config.foreground {
        return match daemonize(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rtpbolt: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(&config);
    if let Err(e) = allocator {
        tracing::warn!("allocator: {e}; freed memory stays in RSS until the kernel reclaims it");
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("rtpbolt: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    if let Some(pidfile) = &config.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pidfile {}", pidfile.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rtpbolt-ctl")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(controlplane::io::run::run(config.clone()));
    // Tasks blocked in accept/recv would otherwise hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    if let Some(pidfile) = &config.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    result.context("rtpbolt stopped")
}

/// Without `--foreground`, rtpengine detaches from the terminal. We re-run
/// ourselves in the foreground in a new session (no `fork` in a threaded
/// Rust program) and return once the child is running.
fn daemonize(args: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locating our own binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .arg("--foreground")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    cmd.spawn().context("starting the background daemon")?;
    Ok(())
}

/// Maps rtpengine's syslog-style `--log-level` (0 emerg .. 7 debug) onto
/// tracing levels. Logs go to stderr; syslog output is not built yet.
fn init_logging(config: &Config) {
    let level = match config.log_level {
        0..=3 => tracing::Level::ERROR,
        4 => tracing::Level::WARN,
        5 | 6 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
