//! sipp as the SIP UAC and UAS of the end-to-end tests.
//!
//! Scenarios live in `tests/fixtures/sipp/`. sipp runs without a terminal
//! (`-nostdin`), writes its final statistics screen to stdout (kept in a file,
//! parsed by [`Sipp::counts`]) and unexpected messages to an error log. Its
//! `<exec>` helpers are double-forked by sipp itself, so sipp also runs in a
//! process group of its own, and on drop whatever is left of it is killed.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::kamailio::{require_program, stop_group, tail};
use crate::netns::NetNs;

/// `tests/fixtures/sipp/<name>`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("sipp")
        .join(name)
}

/// Writes a sipp injection file (`-inf`) with one field per line, used by one
/// call each, in order.
pub fn write_injection_file(path: &Path, values: &[u16]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = values.iter().map(|v| vec![v.to_string()]).collect();
    write_injection_rows(path, &rows)
}

/// Writes a sipp injection file (`-inf`) with one line per call, in order:
/// `[field0]`, `[field1]`, ... of each call are the fields of its row.
pub fn write_injection_rows(path: &Path, rows: &[Vec<String>]) -> io::Result<()> {
    let mut text = String::from("SEQUENTIAL\n");
    for row in rows {
        assert!(
            row.iter().all(|f| !f.contains([';', '\n'])),
            "injection fields must not contain sipp's separators: {row:?}"
        );
        text.push_str(&row.join(";"));
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// Calls sipp counted at the end of its run ("Cumulative" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallCounts {
    pub successful: u64,
    pub failed: u64,
}

/// A running sipp, killed by PID (and process group) when dropped.
pub struct Sipp {
    pub name: String,
    child: Child,
    status: Option<ExitStatus>,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl Sipp {
    /// Starts `sipp -sf <scenario> <args>` with its output files in `dir`,
    /// named after `name` (e.g. "uac").
    pub fn start(name: &str, dir: &Path, scenario: &Path, args: &[String]) -> io::Result<Sipp> {
        let program = require_program("sipp", "sip-tester");
        Sipp::spawn(name, dir, scenario, args, Command::new(program))
    }

    /// [`start`](Self::start) inside network namespace `ns` (`ip netns exec`,
    /// which execs sipp: the PID and process group stay sipp's).
    pub fn start_in(
        ns: &NetNs,
        name: &str,
        dir: &Path,
        scenario: &Path,
        args: &[String],
    ) -> io::Result<Sipp> {
        let program = require_program("sipp", "sip-tester");
        Sipp::spawn(
            name,
            dir,
            scenario,
            args,
            ns.command(&program.display().to_string()),
        )
    }

    fn spawn(
        name: &str,
        dir: &Path,
        scenario: &Path,
        args: &[String],
        mut command: Command,
    ) -> io::Result<Sipp> {
        let out_path = dir.join(format!("{name}.out"));
        let err_path = dir.join(format!("{name}_errors.log"));
        let out = std::fs::File::create(&out_path)?;
        let child = command
            .arg("-sf")
            .arg(scenario)
            .arg("-nostdin")
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&err_path)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()?;
        Ok(Sipp {
            name: name.to_string(),
            child,
            status: None,
            out_path,
            err_path,
        })
    }

    /// Waits up to `timeout` for sipp to exit; `None` if it is still running.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status.is_none() {
                self.status = self.child.try_wait().ok().flatten();
            }
            if self.status.is_some() || Instant::now() >= deadline {
                return self.status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Successful and failed calls from the final statistics screen, if sipp
    /// got as far as printing it.
    pub fn counts(&self) -> Option<CallCounts> {
        let out = std::fs::read_to_string(&self.out_path).ok()?;
        // "  Successful call  |  <periodic>  |  <cumulative>": the last screen
        // printed is the final one.
        let cumulative = |label: &str| -> Option<u64> {
            let line = out
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with(label))?;
            line.split('|').nth(2)?.trim().parse().ok()
        };
        Some(CallCounts {
            successful: cumulative("Successful call")?,
            failed: cumulative("Failed call")?,
        })
    }

    /// The tail of its output and error log, for failure messages.
    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(&self.out_path).unwrap_or_default();
        let err = std::fs::read_to_string(&self.err_path).unwrap_or_default();
        format!(
            "--- sipp {} output (tail) ---\n{}\n--- sipp {} error log (tail) ---\n{}",
            self.name,
            tail(&out, 40),
            self.name,
            tail(&err, 40)
        )
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(1));
    }
}
