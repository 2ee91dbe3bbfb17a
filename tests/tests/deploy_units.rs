//! `deploy/`: the systemd units say what the DPDK deployment needs (the data plane starts
//! after, and survives, the control plane; hugepages come first), every variable they use
//! is set, `systemd-analyze verify` accepts them (when installed), and the sample config
//! starts the real daemon without a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rtpbolt_tests::{Daemon, DaemonKind};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy().join(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

/// `section.key` -> values, in order (systemd keys may repeat).
fn unit(name: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in read(name).lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            out.entry(format!("{section}.{k}"))
                .or_default()
                .push(v.to_owned());
        }
    }
    out
}

/// Every blank-separated word of every value of `key`.
fn words(u: &BTreeMap<String, Vec<String>>, key: &str) -> BTreeSet<String> {
    u.get(key)
        .into_iter()
        .flatten()
        .flat_map(|v| v.split_whitespace().map(str::to_owned))
        .collect()
}

fn one(u: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    match u.get(key).map(Vec::as_slice) {
        Some([v]) => v.clone(),
        other => panic!("{key}: expected one value, found {other:?}"),
    }
}

#[test]
fn units_order_and_survive_as_the_deployment_needs() {
    let dp = unit("rtpbolt-dataplane.service");
    for dep in ["rtpbolt.service", "rtpbolt-hugepages.service"] {
        assert!(
            words(&dp, "Unit.After").contains(dep),
            "data plane After= {dep}"
        );
        assert!(
            words(&dp, "Unit.Wants").contains(dep),
            "data plane Wants= {dep}"
        );
    }
    // Media must keep flowing while the control plane restarts.
    for tie in [
        "BindsTo",
        "PartOf",
        "Requires",
        "Requisite",
        "PropagatesStopTo",
    ] {
        assert!(
            !words(&dp, &format!("Unit.{tie}")).contains("rtpbolt.service"),
            "data plane {tie}=rtpbolt.service would stop it with the control plane"
        );
    }
    assert_eq!(one(&dp, "Service.Restart"), "on-failure");
    let exec = one(&dp, "Service.ExecStart");
    assert!(
        exec.contains("rtpbolt-dataplane --flow-table ${FLOW_TABLE}"),
        "{exec}"
    );
    assert!(exec.contains(" -- $EAL_ARGS"), "{exec}");

    let cp = unit("rtpbolt.service");
    let exec = one(&cp, "Service.ExecStart");
    assert!(
        exec.contains("--foreground") && exec.contains("--config-file=/etc/rtpbolt/rtpbolt.conf"),
        "{exec}"
    );
    assert!(words(&cp, "Unit.After").contains("rtpbolt-hugepages.service"));

    let hp = unit("rtpbolt-hugepages.service");
    assert_eq!(one(&hp, "Service.Type"), "oneshot");
    assert_eq!(one(&hp, "Service.RemainAfterExit"), "yes");
    assert!(one(&hp, "Service.ExecStart").contains("hugepages.sh --pages ${HUGEPAGES}"));
    assert!(
        !hp.contains_key("Service.ExecStop"),
        "stopping it must not unmount the table"
    );
}

/// Every `${VAR}`/`$VAR` a unit's command lines use is set by `dataplane.env` or the unit.
#[test]
fn unit_variables_are_all_set() {
    let env: BTreeSet<String> = read("dataplane.env")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    for name in ["rtpbolt-dataplane.service", "rtpbolt-hugepages.service"] {
        let u = unit(name);
        let mut set = env.clone();
        for e in u.get("Service.Environment").into_iter().flatten() {
            set.extend(e.split_once('=').map(|(k, _)| k.to_owned()));
        }
        for (key, values) in &u {
            if !key.starts_with("Service.Exec") {
                continue;
            }
            for v in values {
                // `$$` is a literal `$` for the shell; drop it before looking for ours.
                let v = v.replace("$$", "");
                for part in v.split('$').skip(1) {
                    let var: String = part
                        .trim_start_matches('{')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(set.contains(&var), "{name} {key} uses ${var}, never set");
                }
            }
        }
    }
    // The two processes must name the same table file.
    let conf_table = read("rtpbolt.conf")
        .lines()
        .find_map(|l| l.trim().strip_prefix("flow-table = ").map(str::to_owned))
        .expect("rtpbolt.conf sets flow-table");
    assert!(
        read("dataplane.env").contains(&format!("FLOW_TABLE={conf_table}\n")),
        "dataplane.env FLOW_TABLE differs from rtpbolt.conf's {conf_table}"
    );
}

/// `systemd-analyze verify` on copies whose paths point into a scratch directory (it
/// checks that every command exists): rtpbolt is this build, the script this tree's,
/// the data plane a stand-in when it is not built here.
#[test]
fn systemd_analyze_verifies_the_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no systemd-analyze");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let (bin, lib, etc) = (
        tmp.path().join("bin"),
        tmp.path().join("lib"),
        tmp.path().join("etc"),
    );
    for d in [&bin, &lib, &etc] {
        std::fs::create_dir(d).expect("mkdir");
    }
    let rtpbolt = rtpbolt_tests::daemon::rtpbolt_bin();
    let dataplane = rtpbolt.with_file_name("rtpbolt-dataplane");
    let dataplane = if dataplane.exists() {
        dataplane
    } else {
        PathBuf::from("/bin/true")
    };
    let link = |from: &Path, to: &Path| std::os::unix::fs::symlink(from, to).expect("symlink");
    link(&rtpbolt, &bin.join("rtpbolt"));
    link(&dataplane, &bin.join("rtpbolt-dataplane"));
    link(
        &deploy().join("../scripts/hugepages.sh"),
        &lib.join("hugepages.sh"),
    );
    for f in ["rtpbolt.conf", "dataplane.env"] {
        std::fs::copy(deploy().join(f), etc.join(f)).expect("copy");
    }
    let mut units = Vec::new();
    for name in [
        "rtpbolt.service",
        "rtpbolt-dataplane.service",
        "rtpbolt-hugepages.service",
    ] {
        let text = read(name)
            .replace("/usr/local/bin/", &format!("{}/", bin.display()))
            .replace("/usr/local/lib/rtpbolt/", &format!("{}/", lib.display()))
            .replace("/etc/rtpbolt/", &format!("{}/", etc.display()));
        let path = tmp.path().join(name);
        std::fs::write(&path, text).expect("write unit");
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It also reports on unrelated units of the host; what it says about ours counts.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("rtpbolt")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

/// The sample config starts the daemon and every key in it is one rtpbolt acts on. The
/// command line moves the addresses and the table to this test's own.
#[test]
fn sample_config_starts_the_daemon() {
    let table = PathBuf::from(format!(
        "/dev/shm/rtpbolt-test-deploy-{}",
        std::process::id()
    ));
    let d = Daemon::start(
        DaemonKind::Rtpbolt,
        &["127.0.0.1"],
        &[
            &format!("--config-file={}", deploy().join("rtpbolt.conf").display()),
            &format!("--flow-table={}", table.display()),
        ],
    );
    let log = d.log();
    drop(d);
    let made = table.exists();
    let _ = std::fs::remove_file(&table);
    assert!(!log.contains("not supported"), "{log}");
    assert!(made, "no flow table at {}\n{log}", table.display());
}
