//! `trailwatch replay` as a user runs it: real CloudTrail archives in their shapes, the CIS
//! patterns as ad-hoc metric filters, the `--json` summary checked against independent counts,
//! duplicates across files, standard input, malformed input and usage errors.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{binary, trailwatch, workspace};
use serde_json::Value;

fn testdata(path: &str) -> PathBuf {
    workspace().join("testdata").join(path)
}

fn replay(args: &[&str]) -> Output {
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    trailwatch(&all, &[])
}

fn summary(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

/// The 15 CIS v5 patterns as `--metric-filter` arguments, with the counts an independent
/// implementation of the filter language found in `all_real_events.jsonl`.
fn cis_filters() -> (Vec<String>, Vec<(String, u64)>) {
    let text = std::fs::read_to_string(testdata("reference/cis-v5-patterns.json")).expect("file");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let controls = doc["controls"].as_object().expect("controls");
    let mut args = Vec::new();
    let mut expected = Vec::new();
    for (name, control) in controls {
        args.push("--metric-filter".to_owned());
        args.push(format!(
            "{name}={}",
            control["pattern"].as_str().expect("pattern")
        ));
        let n = control["matches_in_all_real_events"]
            .as_u64()
            .expect("count");
        expected.push((name.clone(), n));
    }
    (args, expected)
}

#[test]
fn the_cis_patterns_count_what_an_independent_implementation_counts() {
    let (filters, expected) = cis_filters();
    let corpus = testdata("cloudtrail/all_real_events.jsonl");
    let text = std::fs::read_to_string(&corpus).expect("corpus");
    // The corpus repeats eventIDs (rule fixtures reuse "1", …): each repeat is a duplicate.
    let mut seen = std::collections::HashSet::new();
    let repeats = text
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<Value>(l).ok()?["eventID"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|id| !seen.insert(id.clone()))
        .count();
    assert!(repeats > 0);
    let mut args: Vec<&str> = filters.iter().map(String::as_str).collect();
    args.extend(["--json", corpus.to_str().expect("path")]);
    let out = summary(&replay(&args));
    assert_eq!(out["events"], text.lines().count());
    assert_eq!(out["duplicates"], repeats);
    assert_eq!(out["malformed"], 0);
    assert_eq!(out["files"], 1);

    // With every event's eventID made unique (no CIS pattern reads it), every event counts,
    // as in the independent implementation's counts.
    let tmp = tempfile::tempdir().expect("temp dir");
    let unique = tmp.path().join("unique.jsonl");
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut event: Value = serde_json::from_str(l).expect("json");
            event["eventID"] = Value::String(format!("event-{i}"));
            event.to_string()
        })
        .collect();
    std::fs::write(&unique, lines.join("\n")).expect("write");
    let mut args: Vec<&str> = filters.iter().map(String::as_str).collect();
    args.extend(["--json", unique.to_str().expect("path")]);
    let out = summary(&replay(&args));
    assert_eq!(out["duplicates"], 0);
    for (name, n) in expected {
        assert_eq!(out["filters"][&name], n, "{name}");
    }
    assert_eq!(out["transitions"], Value::Array(Vec::new()));
}

#[test]
fn an_event_delivered_twice_counts_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let source = testdata("cloudtrail/shapes/stratus/aws.defense-evasion.cloudtrail-stop.json");
    let copy = tmp.path().join("again.json");
    std::fs::copy(&source, &copy).expect("copy");
    let filter = "--metric-filter=stops={ $.eventName = StopLogging }";
    let once = summary(&replay(&[filter, "--json", source.to_str().expect("path")]));
    let twice = summary(&replay(&[
        filter,
        "--json",
        source.to_str().expect("path"),
        copy.to_str().expect("path"),
    ]));
    let events = once["events"].as_u64().expect("events");
    assert!(events > 0);
    assert_eq!(twice["events"], 2 * events);
    assert_eq!(twice["duplicates"], events);
    assert!(once["filters"]["stops"].as_u64().expect("count") >= 1);
    assert_eq!(twice["filters"]["stops"], once["filters"]["stops"]);
}

#[test]
fn a_delivery_folder_and_standard_input_are_read() {
    let folder = testdata("cloudtrail/shapes/invictus-s3");
    let out = summary(&replay(&["--json", folder.to_str().expect("path")]));
    assert_eq!(out["files"], 55);
    assert_eq!(out["events"], 2_900);

    let gz = std::fs::read(testdata(
        "cloudtrail/shapes/processing-library/SerializerTestFileCompact.json.gz",
    ))
    .expect("file");
    let mut child = Command::new(binary())
        .args(["replay", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("replay runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gz)
        .expect("written");
    let out = summary(&child.wait_with_output().expect("replay ends"));
    assert_eq!(out["files"], 1);
    assert!(out["events"].as_u64().expect("events") > 0);
}

#[test]
fn malformed_input_is_told_and_counted_and_the_run_still_succeeds() {
    let folder = testdata("cloudtrail/shapes/processing-library");
    let out = replay(&["--json", folder.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let out = summary(&out);
    assert_eq!(out["malformed"], 1, "{stderr}");
    assert!(
        stderr.contains("SerializerTestFileBadJsonFormat.json: not JSON"),
        "{stderr}"
    );
    // SQSMessageBody has no JSON name: met in a folder, it is another object, skipped.
    assert_eq!(out["skipped_files"], 1);
}

#[test]
fn usage_errors_and_unreadable_paths_exit_2() {
    let missing = replay(&["/nonexistent/trail"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/trail"));
    let corpus = testdata("cloudtrail/all_real_events.jsonl");
    let bad = replay(&[
        "--metric-filter",
        "broken={ $.eventName = ",
        corpus.to_str().expect("path"),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("metric filter broken:"));
    assert_eq!(replay(&[]).status.code(), Some(2));
    assert_eq!(
        replay(&["--metric-filter", "no-equals-sign", "x"])
            .status
            .code(),
        Some(2)
    );
}
