//! `trailwatch test-pattern`, run as a user runs it: the real binary, real files, stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .arg("test-pattern")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // A binary that rejects its pattern exits without reading: a closed pipe is fine then.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("the binary finishes")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

const APACHE: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

#[test]
fn json_output_has_one_object_per_line_in_order() {
    let input = format!("{APACHE}\nnot a web log\n\n{APACHE}\n");
    let out = run(
        &[
            "--json",
            "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "the empty line is an event too");
    assert_eq!(lines[0]["matched"], true);
    assert_eq!(lines[0]["extractedValues"]["$status_code"], "404");
    assert_eq!(
        lines[0]["extractedValues"]["$request"],
        "GET /index.html HTTP/1.0"
    );
    assert_eq!(lines[1], serde_json::json!({"matched": false}));
    assert_eq!(lines[2], serde_json::json!({"matched": false}));
    assert_eq!(lines[3]["matched"], true);
}

#[test]
fn explain_names_the_deciding_clause_and_value() {
    let event = r#"{"eventName":"PutRolePolicy","userIdentity":{"type":"Root"}}"#;
    let out = run(
        &[
            "--json",
            "--explain",
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
        ],
        event,
    );
    assert_eq!(out.status.code(), Some(0));
    let line = &json_lines(&out)[0];
    assert_eq!(line["matched"], false);
    let explain = line["explain"].to_string();
    // `!=` on a missing field is false: that is what decided it.
    assert!(
        explain.contains("$.eventType != \\\"AwsServiceEvent\\\""),
        "{explain}"
    );
    assert!(explain.contains("missing"), "{explain}");
}

#[test]
fn plain_output_lists_matching_lines_and_a_count() {
    let out = run(&["ERROR", "-"], "ERROR one\nfine\nERROR two\n");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 1: match: ERROR one"), "{text}");
    assert!(text.contains("line 3: match: ERROR two"), "{text}");
    assert!(!text.contains("line 2"), "{text}");
    assert!(text.contains("2 of 3 events matched"), "{text}");
}

#[test]
fn invalid_pattern_exits_2_with_the_reason_on_stderr() {
    let out = run(&["{ $.eventName = PutRolePolicy"], "x\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("If a filter pattern starts with '{' it must end with '}'"),
        "{err}"
    );

    let out = run(&["email@example.com"], "x\n");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Invalid character(s) in term 'email@example.com'"),
        "{err}"
    );
    assert!(
        err.contains('^'),
        "points at the offending character: {err}"
    );
}

#[test]
fn pattern_starting_with_a_dash_goes_after_double_dash() {
    let out = run(&["--json", "--", "-DEBUG"], "DEBUG x\nINFO y\n");
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["matched"], false);
    assert_eq!(lines[1]["matched"], true);
}

#[test]
fn unreadable_file_exits_1() {
    let out = run(&["ERROR", "/nonexistent/events.log"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/events.log"));
}

#[test]
fn reads_events_from_a_file() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/cloudtrail/all_real_events.jsonl"
    );
    let out = run(
        &[
            "--json",
            "{ $.eventName = CreateTrail || $.eventName = StopLogging }",
            path,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3777);
    let matched = lines.iter().filter(|l| l["matched"] == true).count();
    assert!(matched > 0 && matched < 3777, "{matched}");
    let first = lines
        .iter()
        .find(|l| l["matched"] == true)
        .expect("a match");
    let name = first["extractedValues"]["$.eventName"]
        .as_str()
        .expect("extracted");
    assert!(name == "CreateTrail" || name == "StopLogging", "{first}");
}
