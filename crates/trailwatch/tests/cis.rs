//! `trailwatch cis apply` and `trailwatch cis audit` against the real `trailwatch serve`: the
//! pack installed on a trail's log group, audited by meaning, broken and re-spaced by hand,
//! audited again.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Subscriber};
use serde_json::Value;

const GROUP: &str = "CloudTrail/DefaultLogGroup";
const GROUP_ARN: &str =
    "arn:aws:logs:us-east-1:000000000000:log-group:CloudTrail/DefaultLogGroup:*";

/// A server following a folder, with a multi-region trail logging into `GROUP`, empty.
fn server_with_trail() -> (tempfile::TempDir, Server) {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(buckets.path().join("audit-logs")).expect("a bucket");
    let data = buckets.path().join("data");
    let server = Server::start_in(
        &data,
        &["--s3-dir", buckets.path().to_str().expect("a path")],
    );
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    server.aws_ok(&[
        "cloudtrail",
        "create-trail",
        "--name",
        "management",
        "--s3-bucket-name",
        "audit-logs",
        "--is-multi-region-trail",
        "--cloud-watch-logs-log-group-arn",
        GROUP_ARN,
        "--cloud-watch-logs-role-arn",
        "arn:aws:iam::000000000000:role/CloudTrail_CloudWatchLogs_Role",
    ]);
    server.aws_ok(&["cloudtrail", "start-logging", "--name", "management"]);
    (buckets, server)
}

fn run(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = server.trailwatch_sdk(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn audit_json(server: &Server) -> (i32, Value) {
    let (code, stdout, stderr) = run(server, &["cis", "audit", "--format", "json"]);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("JSON from cis audit ({e}): {stdout}\n{stderr}"));
    (code, report)
}

fn finding<'a>(report: &'a Value, control: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["control"] == control)
        .unwrap_or_else(|| panic!("no finding for {control}: {report}"))
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["control"].as_str().unwrap_or_default().to_owned(),
                f["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until the topic's subscription is confirmed.
fn wait_confirmed(server: &Server, topic_arn: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let subs = server.aws_ok(&[
            "sns",
            "list-subscriptions-by-topic",
            "--topic-arn",
            topic_arn,
        ]);
        if subs["Subscriptions"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["SubscriptionArn"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("arn:"))
            })
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "never confirmed: {subs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put_filter(server: &Server, name: &str, pattern: &str, metric: &str) {
    server.aws_ok(&[
        "logs",
        "put-metric-filter",
        "--log-group-name",
        GROUP,
        "--filter-name",
        name,
        "--filter-pattern",
        pattern,
        "--metric-transformations",
        &format!("metricName={metric},metricNamespace=CISBenchmark,metricValue=1"),
    ]);
}

const IAM_WITHOUT_DETACH_ROLE: &str = "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||($.eventName=DetachGroupPolicy)}";

#[test]
fn cis_apply_then_audit_passes_and_a_broken_filter_fails_by_name() {
    let (_dir, server) = server_with_trail();
    let subscriber = Subscriber::start();

    // Before: nothing on the group, every control fails.
    let (code, report) = audit_json(&server);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["cis_version"], "7.0.0");
    assert_eq!(report["account"], "000000000000");
    assert!(
        statuses(&report).iter().all(|(_, s)| s == "FAIL"),
        "{report}"
    );
    let iam = finding(&report, "iam_policy_changes");
    assert_eq!(iam["cis_number"], "5.4");
    assert_eq!(iam["title"], "Ensure IAM policy changes are monitored");

    // A filter of the user's own, one call short: the pack adds its filter beside it.
    put_filter(
        &server,
        "my-iam-changes",
        IAM_WITHOUT_DETACH_ROLE,
        "my-iam-changes",
    );

    let subscribe = format!("http:{}", subscriber.url);
    let (code, stdout, stderr) = run(
        &server,
        &[
            "cis",
            "apply",
            "--log-group",
            GROUP,
            "--topic",
            "cis-alarms",
            "--subscribe",
            &subscribe,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0 controls met already, 15 to install."),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "create    metric filter cis-iam_policy_changes on CloudTrail/DefaultLogGroup"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("my-iam-changes"),
        "the user's filter is not touched: {stdout}"
    );
    assert!(
        stdout.contains("Applied: 32 created, 1 unchanged."),
        "{stdout}"
    );
    let topic_arn = "arn:aws:sns:us-east-1:000000000000:cis-alarms";
    wait_confirmed(&server, topic_arn);

    let (code, report) = audit_json(&server);
    assert_eq!(code, 0, "{report}");
    assert_eq!(statuses(&report).len(), 15);
    assert!(
        statuses(&report).iter().all(|(_, s)| s == "PASS"),
        "{report}"
    );
    // The evidence chain, trail to subscriber.
    let iam = finding(&report, "iam_policy_changes");
    let evidence = &iam["evidence"];
    assert_eq!(evidence["trail"]["name"], "management");
    assert_eq!(evidence["trail"]["multi_region"], true);
    assert_eq!(evidence["trail"]["is_logging"], true);
    assert_eq!(evidence["log_group"]["name"], GROUP);
    let meeting: Vec<&Value> = evidence["filters"]
        .as_array()
        .expect("filters")
        .iter()
        .filter(|f| f["meets"] == true)
        .collect();
    assert_eq!(meeting.len(), 1, "{evidence}");
    let filter = meeting[0];
    assert_eq!(filter["name"], "cis-iam_policy_changes");
    assert_eq!(filter["metric"]["namespace"], "CISBenchmark");
    let verdicts = filter["verdicts"].as_array().expect("verdicts");
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| v["role"] == "required" && v["matched"] == true)
            .count(),
        16
    );
    assert!(
        verdicts
            .iter()
            .all(|v| v["explanation"]["summary"].is_string())
    );
    let alarm = &filter["alarms"][0];
    assert_eq!(alarm["name"], "cis-iam_policy_changes");
    assert_eq!(alarm["topics"][0]["arn"], topic_arn);
    assert_eq!(alarm["topics"][0]["subscriptions"][0]["protocol"], "http");
    // The user's filter is evidence too, one call short.
    let mine = evidence["filters"]
        .as_array()
        .expect("filters")
        .iter()
        .find(|f| f["name"] == "my-iam-changes")
        .expect("the user's filter judged");
    assert_eq!(mine["meets"], false);

    // A second run changes nothing.
    let (code, stdout, _) = run(
        &server,
        &[
            "cis",
            "apply",
            "--log-group",
            GROUP,
            "--topic",
            "cis-alarms",
            "--subscribe",
            &subscribe,
        ],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("15 controls met already, 0 to install."),
        "{stdout}"
    );
    assert!(stdout.contains("Nothing to change"), "{stdout}");

    // Break one filter (DetachRolePolicy dropped) and rewrite another in other words: the
    // first fails naming the call, the second still passes.
    put_filter(
        &server,
        "cis-iam_policy_changes",
        IAM_WITHOUT_DETACH_ROLE,
        "cis-iam_policy_changes",
    );
    put_filter(
        &server,
        "cis-cmk_disable_or_deletion",
        r#"{ (  $.eventName = "ScheduleKeyDeletion" ) || ( $.eventName = "DisableKey" ) && ( $.eventSource = "kms.amazonaws.com" ) }"#,
        "cis-cmk_disable_or_deletion",
    );
    let (code, report) = audit_json(&server);
    assert_eq!(code, 1, "{report}");
    let iam = finding(&report, "iam_policy_changes");
    assert_eq!(iam["status"], "FAIL", "{iam}");
    assert_eq!(
        iam["missing_events"],
        serde_json::json!(["DetachRolePolicy"])
    );
    assert_eq!(
        finding(&report, "cmk_disable_or_deletion")["status"],
        "PASS"
    );
    let failing: Vec<(String, String)> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s != "PASS")
        .collect();
    assert_eq!(
        failing,
        [("iam_policy_changes".to_owned(), "FAIL".to_owned())]
    );

    // The text report says the same for people.
    let (code, text, _) = run(&server, &["cis", "audit"]);
    assert_eq!(code, 1);
    assert!(text.contains("5.4   FAIL   iam_policy_changes"), "{text}");
    assert!(text.contains("missing: DetachRolePolicy"), "{text}");
    assert!(text.contains("15 controls: 14 PASS, 1 FAIL"), "{text}");

    // The HTML report, as a reader sees it in a real browser.
    let page = tempfile::tempdir().expect("a temporary directory");
    let html = page.path().join("report.html");
    let (code, _, stderr) = run(
        &server,
        &[
            "cis",
            "audit",
            "--format",
            "html",
            "-o",
            html.to_str().expect("a path"),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("14 PASS, 1 FAIL"), "{stderr}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cis-report.png");
    let out = std::process::Command::new("node")
        .arg(common::node_checks().join("report.js"))
        .args([html.as_os_str(), shot.as_os_str()])
        .arg("iam_policy_changes")
        .output()
        .expect("node runs");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(&seen).expect("the page's checks as JSON");
    assert_eq!(seen["sections"], 15);
    assert_eq!(seen["missing"], "Missing events: DetachRolePolicy");
    assert_eq!(
        seen["colours"][1],
        serde_json::json!(["FAIL", "rgb(198, 47, 47)"])
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot of the page"
    );
    eprintln!("the report, as Chromium shows it: {}", shot.display());

    // `cis apply` repairs its own filter, and only that.
    let (code, stdout, stderr) = run(
        &server,
        &[
            "cis",
            "apply",
            "--log-group",
            GROUP,
            "--topic",
            "cis-alarms",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("update    metric filter cis-iam_policy_changes"),
        "{stdout}"
    );
    let (code, report) = audit_json(&server);
    assert_eq!(code, 0, "{report}");
    let mine = server.aws_ok(&[
        "logs",
        "describe-metric-filters",
        "--log-group-name",
        GROUP,
        "--filter-name-prefix",
        "my-iam",
    ]);
    assert_eq!(
        mine["metricFilters"][0]["filterPattern"],
        IAM_WITHOUT_DETACH_ROLE
    );
}

#[test]
fn cis_audit_says_why_an_endpoint_cannot_be_audited() {
    let server = Server::start();
    let (code, _, stderr) = run(&server, &["cis", "audit", "--cis-version", "9.9"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no CIS version 9.9; the versions are 1.2.0"),
        "{stderr}"
    );
    let out = common::trailwatch(
        &[
            "cis",
            "audit",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the endpoint"), "{stderr}");
    // Without a trail, every control fails, saying so.
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    let (code, report) = audit_json(&server);
    assert_eq!(code, 1);
    assert!(
        finding(&report, "root_account_usage")["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("no trail in us-east-1")),
        "{report}"
    );
}
