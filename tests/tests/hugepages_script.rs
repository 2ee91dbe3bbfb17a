//! `scripts/hugepages.sh` against the real kernel: it reserves 2 MB pages and mounts
//! hugetlbfs, `--check` agrees, a second run changes nothing and says so, `--check` fails
//! when pages are short or nothing is mounted, a flow table on the mount is sized in
//! whole huge pages, and `--release` undoes what the script did.
//!
//! The host's page pool is shared (a DPDK test may be using it), so the test only ever
//! adds a few pages on top of what it finds, mounts its own directory, and puts the count
//! back only if nobody changed it meanwhile. Needs root and 2 MB hugepage support; says
//! so and passes without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared_tables::FlowTable;

const SYSFS_NR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const HUGE_PAGE: u64 = 2 << 20;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/hugepages.sh")
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run hugepages.sh")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}stderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn nr_hugepages() -> u64 {
    std::fs::read_to_string(SYSFS_NR)
        .expect("read nr_hugepages")
        .trim()
        .parse()
        .expect("nr_hugepages is a number")
}

fn mounts_at(dir: &Path) -> usize {
    let want = dir.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/mounts")
        .expect("read /proc/mounts")
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 2 && f[1] == want && f[2] == "hugetlbfs"
        })
        .count()
}

/// Puts the host back as found, even when an assertion failed half way.
struct Restore {
    orig: u64,
    ours: u64,
    mnt: PathBuf,
}

impl Drop for Restore {
    fn drop(&mut self) {
        while mounts_at(&self.mnt) > 0 {
            if !Command::new("umount")
                .arg(&self.mnt)
                .status()
                .is_ok_and(|s| s.success())
            {
                break;
            }
        }
        if nr_hugepages() == self.ours {
            let _ = std::fs::write(SYSFS_NR, self.orig.to_string());
        }
    }
}

#[test]
fn reserves_mounts_checks_and_releases() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root || !Path::new(SYSFS_NR).exists() {
        eprintln!("skipped: needs root and 2 MB hugepages (root: {root})");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let mnt = tmp.path().join("hugepages");
    let state = tmp.path().join("state");
    let orig = nr_hugepages();
    let want = orig + 4;
    let _restore = Restore {
        orig,
        ours: want,
        mnt: mnt.clone(),
    };
    let (pages, mount, state_arg) = (
        want.to_string(),
        mnt.to_string_lossy().to_string(),
        state.to_string_lossy().to_string(),
    );
    let base = ["--pages", &pages, "--mount", &mount, "--state", &state_arg];

    // Not in place yet: --check says what is missing.
    let o = run(&["--check", "--pages", &pages, "--mount", &mount]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("of {want} 2 MB pages reserved")),
        "{}",
        text(&o)
    );
    assert!(err.contains("no hugetlbfs mounted at"), "{}", text(&o));

    let o = run(&base);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("reserved {want} 2 MB pages (was {orig})")),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("mounted hugetlbfs (2 MB pages) at"),
        "{}",
        text(&o)
    );
    assert!(nr_hugepages() >= want);
    assert_eq!(mounts_at(&mnt), 1);

    let o = run(&["--check", "--pages", &pages, "--mount", &mount]);
    assert!(o.status.success(), "{}", text(&o));

    // Idempotent: the second run changes nothing and says so.
    let nr = nr_hugepages();
    let o = run(&base);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to do"),
        "{}",
        text(&o)
    );
    assert_eq!(nr_hugepages(), nr);
    assert_eq!(mounts_at(&mnt), 1, "mounted twice");

    // Short of pages: more than the host could ever have reserved.
    let short = (nr + 1_000_000).to_string();
    let o = run(&["--check", "--pages", &short, "--mount", &mount]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("of {short} 2 MB pages reserved")),
        "{}",
        text(&o)
    );

    // A flow table on the mount takes whole huge pages.
    let path = mnt.join("flows");
    let table = FlowTable::create_at(&path, 1000).expect("table on hugetlbfs");
    let len = std::fs::metadata(&path).expect("table file").len();
    assert!(
        len > 0 && len.is_multiple_of(HUGE_PAGE),
        "table file of {len} bytes"
    );
    assert_eq!(FlowTable::attach(&path).expect("attach").capacity(), 1000);
    // The writer lock (flock through /proc/self/fd) works on hugetlbfs too.
    let w = table.writer().expect("writer on hugetlbfs");
    assert!(matches!(
        FlowTable::attach(&path).expect("attach").writer(),
        Err(shared_tables::TableError::WriterBusy)
    ));
    drop((w, table));
    std::fs::remove_file(&path).expect("remove table");

    let o = run(&["--release", "--state", &state_arg]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("unmounted"),
        "{}",
        text(&o)
    );
    assert_eq!(mounts_at(&mnt), 0);
    assert!(!state.exists(), "state file left behind");
    let o = run(&["--release", "--state", &state_arg]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to release"),
        "{}",
        text(&o)
    );
}
