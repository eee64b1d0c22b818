//! `trailwatch-bench` runs end to end (briefly): the benchmarks are tools users rely on, so a
//! broken one should fail CI. This checks that they work and report, never how fast.
//!
//! The server they start is the bench's default, the `trailwatch` beside it in the target
//! directory: `tools/test.sh` builds the whole workspace, so that is this build's. Testing this
//! crate alone, build it first (`cargo build -p trailwatch`), or name another with
//! `TRAILWATCH_BINARY`.

use std::path::Path;
use std::process::Command;

fn bench(args: &[&str]) -> String {
    // The benchmarks read testdata/ relative to the repository root, two levels up.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/bench lies two levels below the workspace");
    let out = Command::new(env!("CARGO_BIN_EXE_trailwatch-bench"))
        .args(args)
        .current_dir(workspace)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn ingest_reports_throughput_cpu_and_the_sqlite_baseline() {
    let out = bench(&["ingest", "--seconds", "1", "--connections", "2"]);
    assert!(
        out.contains("events/s") && out.contains("load generator"),
        "{out}"
    );
    assert!(
        out.contains("CIS metrics with datapoints: 15"),
        "every CIS filter matched: {out}"
    );
    assert!(out.contains("baseline, SQLite alone"), "{out}");
}

#[test]
fn latency_reports_percentiles_over_every_alarm() {
    let out = bench(&["latency", "--alarms", "3"]);
    assert!(out.contains("3 alarms tripped one at a time"), "{out}");
    assert!(out.contains("p99 "), "{out}");
}
