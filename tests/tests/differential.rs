//! Differential test against Debian's rtpengine: every sequence in
//! `tests/corpus/` is replayed against rtpengine (the reference) and rtpbolt;
//! normalised replies and media paths must be equal.
//!
//! - `RTPBOLT_DIFF_SELF=1`: compare rtpengine with a second rtpengine, which
//!   validates the corpus and the normalisation rules.
//! - `RTPBOLT_DIFF_ONLY=name[,name]`: run only sequences whose file name
//!   contains one of these strings.
//! - `RTPBOLT_DIFF_JOBS=n`: sequences run in parallel (default 4).
//! - `RTPBOLT_DIFF_LOGS=1`: append both daemons' logs to failure reports.
//! - `RTPBOLT_DIFF_DUMP=1`: print the reference's normalised transcript of
//!   every sequence (for writing corpus files).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rtpbolt_tests::daemon::rtpengine_available;
use rtpbolt_tests::differential::{compare, load_corpus};
use rtpbolt_tests::DaemonKind;

/// The issue asks for at least this many sequences.
const MIN_SEQUENCES: usize = 40;

#[test]
fn differential_against_rtpengine() {
    assert!(
        rtpengine_available(),
        "the differential test needs Debian's rtpengine at /usr/bin/rtpengine"
    );
    let corpus = load_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let only = std::env::var("RTPBOLT_DIFF_ONLY").ok();
    assert!(
        only.is_some() || corpus.len() >= MIN_SEQUENCES,
        "corpus has {} sequences, want >= {MIN_SEQUENCES}",
        corpus.len()
    );
    let selected: Vec<_> = corpus
        .iter()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|o| s.name.contains(o)))
        })
        .collect();
    assert!(
        !selected.is_empty(),
        "RTPBOLT_DIFF_ONLY={only:?} matches no sequence"
    );
    let under_test = if std::env::var_os("RTPBOLT_DIFF_SELF").is_some_and(|v| v == "1") {
        DaemonKind::Rtpengine
    } else {
        DaemonKind::Rtpbolt
    };
    let jobs: usize = std::env::var("RTPBOLT_DIFF_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(4);

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(seq) = selected.get(i) else { return };
                let t = Instant::now();
                // A panic (daemon failed to start, harness bug) fails this
                // sequence only; the others still run and report.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    compare(seq, DaemonKind::Rtpengine, under_test)
                }))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Some(format!("panicked: {msg}"))
                });
                let verdict = if result.is_some() { "FAIL" } else { "ok" };
                eprintln!("{verdict:4} {} ({} ms)", seq.name, t.elapsed().as_millis());
                if let Some(report) = result {
                    failures
                        .lock()
                        .expect("failures lock")
                        .push((seq.name.clone(), report));
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures lock");
    failures.sort();
    eprintln!(
        "{} sequences, {} failed, {:.1} s (rtpengine vs {under_test:?})",
        selected.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        let mut msg = String::new();
        for (name, report) in &failures {
            let description = corpus
                .iter()
                .find(|s| &s.name == name)
                .map(|s| s.description.as_str())
                .unwrap_or_default();
            msg.push_str(&format!("\n===== {name}: {description}\n{report}"));
        }
        let names: Vec<&str> = failures.iter().map(|f| f.0.as_str()).collect();
        panic!("{msg}\nfailing sequences: {names:?}");
    }
}
