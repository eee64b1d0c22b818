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

/// `all_real_events.jsonl` with every event's eventID made unique (no CIS pattern reads it), so
/// that every event counts, as in the independent implementation's counts.
fn unique_events(dir: &std::path::Path) -> PathBuf {
    let text =
        std::fs::read_to_string(testdata("cloudtrail/all_real_events.jsonl")).expect("corpus");
    let unique = dir.join("unique.jsonl");
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
    unique
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
    let unique = unique_events(tmp.path());
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

/// A configuration with one metric filter counting failed console sign-ins and an alarm that
/// fires when 2 of the last 3 one-minute periods have one.
const SIGN_IN_FAILURES: &str = r#"
[[log_groups]]
log_group_name = "CloudTrail/DefaultLogGroup"

[[metric_filters]]
log_group_name = "CloudTrail/DefaultLogGroup"
filter_name = "ConsoleSignInFailures"
filter_pattern = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'
metric_transformations = [{ metric_name = "ConsoleSignInFailureCount", metric_namespace = "CloudTrailMetrics", metric_value = "1" }]

[[alarms]]
alarm_name = "ConsoleSignInFailures"
namespace = "CloudTrailMetrics"
metric_name = "ConsoleSignInFailureCount"
statistic = "Sum"
period = 60
evaluation_periods = 3
datapoints_to_alarm = 2
threshold = 1
comparison_operator = "GreaterThanOrEqualToThreshold"
treat_missing_data = "notBreaching"
alarm_actions = ["security"]

[[topics]]
name = "security"
"#;

fn sign_in(id: &str, time: &str, failed: bool) -> String {
    let error = if failed {
        r#","errorMessage":"Failed authentication""#
    } else {
        ""
    };
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{id}","eventTime":"{time}","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"{error}}}"#
    )
}

#[test]
fn an_m_out_of_n_alarm_fires_at_the_event_that_completes_it_whatever_the_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("signin.toml");
    std::fs::write(&config, SIGN_IN_FAILURES).expect("write");
    // The later events in the first file: archives are not in time order across files.
    let later = dir.path().join("b-later.jsonl");
    std::fs::write(
        &later,
        [
            sign_in("3", "2024-05-01T10:02:30Z", true),
            sign_in("4", "2024-05-01T10:03:10Z", false),
        ]
        .join("\n"),
    )
    .expect("write");
    let earlier = dir.path().join("a-earlier.jsonl");
    std::fs::write(
        &earlier,
        [
            sign_in("1", "2024-05-01T09:58:00Z", false),
            sign_in("2", "2024-05-01T10:00:05Z", true),
        ]
        .join("\n"),
    )
    .expect("write");
    let out = replay(&[
        "--json",
        "--config",
        config.to_str().expect("utf-8"),
        later.to_str().expect("utf-8"),
        earlier.to_str().expect("utf-8"),
    ]);
    let s = summary(&out);
    assert_eq!(s["events"], 4);
    assert_eq!(s["filters"]["ConsoleSignInFailures"], 2);
    let moves: Vec<(String, String, String)> = s["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| {
            assert_eq!(t["alarm"], "ConsoleSignInFailures");
            (
                t["time"].as_str().expect("time").to_owned(),
                t["from"].as_str().expect("from").to_owned(),
                t["to"].as_str().expect("to").to_owned(),
            )
        })
        .collect();
    let expected = [
        // Made at the first datapoint, the alarm finds no breaching period: OK.
        ("2024-05-01T10:00:05.000Z", "INSUFFICIENT_DATA", "OK"),
        // One failure alone is 1 of 3; the second, two periods later, makes it 2 of 3.
        ("2024-05-01T10:02:30.000Z", "OK", "ALARM"),
        // With data missing, CloudWatch takes the 3 latest datapoints of a range of 3 + 2
        // periods: until the range closing at 10:06 (10:01 to 10:05) both failures are in it.
        ("2024-05-01T10:06:00.000Z", "ALARM", "OK"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(moves, expected);
    let fired = &s["transitions"][1];
    assert!(
        fired["reason"]
            .as_str()
            .expect("reason")
            .starts_with("Threshold Crossed: 2 out of the last 3 datapoints"),
        "{fired}"
    );
    assert_eq!(
        fired["actions"],
        serde_json::json!(["arn:aws:sns:us-east-1:000000000000:security"])
    );

    // The text summary: the first evaluation in one line, the rest each with its actions.
    let out = replay(&[
        "--config",
        config.to_str().expect("utf-8"),
        later.to_str().expect("utf-8"),
        earlier.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = [
        "Alarm transitions: 3",
        "  2024-05-01T10:00:05.000Z  1 alarm made at the first event: INSUFFICIENT_DATA -> OK at the first evaluation, no data yet",
        "  2024-05-01T10:02:30.000Z  ConsoleSignInFailures  OK -> ALARM  Threshold Crossed: 2 out of the last 3 datapoints",
        "      would notify arn:aws:sns:us-east-1:000000000000:security",
        "  2024-05-01T10:06:00.000Z  ConsoleSignInFailures  ALARM -> OK  ",
    ];
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Alarm transitions"))
        .collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(line.starts_with(start), "{line:?} is not {start:?}");
    }
}

#[test]
fn the_cis_configuration_counts_what_an_independent_implementation_counts_and_alarms() {
    let (_, expected) = cis_filters();
    let tmp = tempfile::tempdir().expect("temp dir");
    let unique = unique_events(tmp.path());
    let out = replay(&[
        "--json",
        "--config",
        testdata("config/cis.toml").to_str().expect("utf-8"),
        unique.to_str().expect("utf-8"),
    ]);
    let s = summary(&out);
    for (name, n) in &expected {
        assert_eq!(s["filters"][name], *n, "{name}");
    }
    let fired = s["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .filter(|t| t["to"] == "ALARM")
        .count();
    assert!(fired > 0, "the CIS alarms fire on the real events");
}

#[test]
fn a_configuration_error_names_the_file_line_and_key_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("signin.toml");
    let text = SIGN_IN_FAILURES.replace("period = 60\n", "period = 60\nperiods = 2\n");
    std::fs::write(&config, &text).expect("write");
    let line = text
        .lines()
        .position(|l| l.starts_with("periods"))
        .expect("the line")
        + 1;
    let out = replay(&[
        "--config",
        config.to_str().expect("utf-8"),
        testdata("cloudtrail/all_real_events.jsonl")
            .to_str()
            .expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:{line}: alarms[0].periods: unknown field",
        config.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}
