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
    logging_trail(&server);
    (buckets, server)
}

/// Trail `management`, multi-region, delivering bucket `audit-logs` into `GROUP`, logging.
fn logging_trail(server: &Server) {
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
}

fn run(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = server.trailwatch_sdk(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cis apply` of the latest version on `GROUP`, topic `cis-alarms`, subscribing `subscribe`.
fn apply_pack(server: &Server, subscribe: Option<&str>) -> (i32, String, String) {
    let mut args = vec![
        "cis",
        "apply",
        "--log-group",
        GROUP,
        "--topic",
        "cis-alarms",
    ];
    if let Some(endpoint) = subscribe {
        args.extend(["--subscribe", endpoint]);
    }
    run(server, &args)
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
    let (code, stdout, stderr) = apply_pack(&server, Some(&subscribe));
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
    let (code, stdout, _) = apply_pack(&server, Some(&subscribe));
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
    let (code, stdout, stderr) = apply_pack(&server, None);
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

/// The virtual environment holding Prowler, made by `tools/test.sh`.
fn prowler_venv() -> std::path::PathBuf {
    let dir = std::env::var_os("TRAILWATCH_PROWLER_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::workspace().join(".venv-prowler"));
    assert!(
        dir.join("bin/prowler").exists(),
        "the Prowler test needs Prowler in {}: run tools/test.sh (it installs it)",
        dir.display()
    );
    dir
}

/// Runs Prowler's CIS monitoring checks against the server; each check's status by check id.
fn prowler(server: &Server, out: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let checks: Vec<&str> = cis::Catalogue::get()
        .benchmark(cis::LATEST)
        .expect("the latest version")
        .controls
        .iter()
        .filter_map(|c| cis::auditors::prowler_check(c.id()))
        .chain([
            "cloudtrail_multi_region_enabled",
            "cloudtrail_cloudwatch_logging_enabled",
        ])
        .collect();
    assert_eq!(checks.len(), 17);
    let status = std::process::Command::new(prowler_venv().join("bin/prowler"))
        .args([
            "aws",
            "-f",
            "us-east-1",
            "--no-banner",
            "-M",
            "json-ocsf",
            "-F",
            "scan",
        ])
        .arg("-o")
        .arg(out)
        .arg("-c")
        .args(&checks)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", out)
        .env("TZ", "UTC")
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_ACCESS_KEY_ID", common::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", common::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("prowler runs");
    // 3: some check failed; anything else but 0 is Prowler's own trouble.
    assert!(
        matches!(status.status.code(), Some(0 | 3)),
        "prowler: {}\n{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let findings: Value = serde_json::from_slice(
        &std::fs::read(out.join("scan.ocsf.json")).expect("Prowler's OCSF output"),
    )
    .expect("JSON");
    let mut by_check = std::collections::BTreeMap::new();
    for f in findings.as_array().expect("findings") {
        let check = f["metadata"]["event_code"]
            .as_str()
            .expect("a check")
            .to_owned();
        let status = f["status_code"].as_str().expect("a status").to_owned();
        assert!(
            by_check.insert(check, status).is_none(),
            "one finding per check"
        );
    }
    assert_eq!(by_check.len(), 17, "{by_check:?}");
    by_check
}

/// For every control: our status, what we say Prowler decides, and what Prowler decided.
fn against_prowler(
    report: &Value,
    prowler: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let control = f["control"].as_str().expect("control").to_owned();
            let predicted = f["other_auditors"]
                .as_array()
                .expect("other auditors")
                .iter()
                .find(|a| a["auditor"] == "Prowler")
                .map_or("", |a| a["verdict"].as_str().unwrap_or_default())
                .to_owned();
            let check = cis::auditors::prowler_check(&control).expect("a Prowler check");
            (
                control,
                f["status"].as_str().unwrap_or_default().to_owned(),
                predicted,
                prowler[check].clone(),
            )
        })
        .collect()
}

#[test]
fn prowler_audits_trailwatch_to_the_end_and_the_reports_say_where_it_disagrees() {
    let (dir, server) = server_with_trail();
    let subscriber = Subscriber::start();
    let subscribe = format!("http:{}", subscriber.url);
    let (code, stdout, stderr) = apply_pack(&server, Some(&subscribe));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    wait_confirmed(&server, "arn:aws:sns:us-east-1:000000000000:cis-alarms");
    // A delivery, so the trail has sent events to CloudWatch Logs lately.
    let now = common::now_ms();
    common::put_file(
        &dir.path().join("audit-logs"),
        &common::delivery_key("", "us-east-1", now, "prowler"),
        &common::delivery_file(&[common::event("CreateUser", "prowler-1", now)]),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"])["LatestCloudWatchLogsDeliveryTime"].is_null() {
        assert!(Instant::now() < deadline, "the delivery never reached the log group");
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = tempfile::tempdir().expect("a temporary directory");
    let verdicts = prowler(&server, &out.path().join("compliant"));
    assert_eq!(verdicts["cloudtrail_multi_region_enabled"], "PASS");
    assert_eq!(verdicts["cloudtrail_cloudwatch_logging_enabled"], "PASS");
    let (code, report) = audit_json(&server);
    assert_eq!(code, 0, "{report}");
    let rows = against_prowler(&report, &verdicts);
    for (control, _, predicted, actual) in &rows {
        assert_eq!(
            predicted, actual,
            "what the report says Prowler decides on {control}"
        );
    }
    let disagreements: Vec<(&str, &str)> = rows
        .iter()
        .filter(|(_, ours, _, theirs)| ours != theirs)
        .map(|(c, _, _, theirs)| (c.as_str(), theirs.as_str()))
        .collect();
    // The benchmark's own strings, which Prowler's text rules reject.
    assert_eq!(
        disagreements,
        [
            ("route_table_changes", "FAIL"),
            ("organizations_changes", "FAIL")
        ]
    );

    // Broken: one call dropped from the IAM filter; the security-group filter's clauses all
    // joined with `&&`, so it can never match.
    put_filter(
        &server,
        "cis-iam_policy_changes",
        IAM_WITHOUT_DETACH_ROLE,
        "cis-iam_policy_changes",
    );
    put_filter(
        &server,
        "cis-security_group_changes",
        "{ ($.eventName = AuthorizeSecurityGroupIngress) && ($.eventName = AuthorizeSecurityGroupEgress) && ($.eventName = RevokeSecurityGroupIngress) && ($.eventName = RevokeSecurityGroupEgress) && ($.eventName = CreateSecurityGroup) && ($.eventName = DeleteSecurityGroup) && ($.eventName = ModifySecurityGroupRules) }",
        "cis-security_group_changes",
    );
    let verdicts = prowler(&server, &out.path().join("broken"));
    let (code, report) = audit_json(&server);
    assert_eq!(code, 1, "{report}");
    let rows = against_prowler(&report, &verdicts);
    for (control, _, predicted, actual) in &rows {
        assert_eq!(
            predicted, actual,
            "what the report says Prowler decides on {control}"
        );
    }
    let broken: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|(c, ..)| c == "iam_policy_changes" || c == "security_group_changes")
        .map(|(c, ours, _, theirs)| (c.as_str(), ours.as_str(), theirs.as_str()))
        .collect();
    assert_eq!(
        broken,
        [
            ("iam_policy_changes", "FAIL", "FAIL"),
            ("security_group_changes", "FAIL", "PASS")
        ]
    );
}

#[test]
fn the_calls_auditors_make_first_are_answered_as_for_an_empty_account() {
    let (_dir, server) = server_with_trail();
    // EC2 DescribeRegions: the regions served, in EC2's own dialect.
    let regions = server.aws_ok(&[
        "ec2",
        "describe-regions",
        "--region-names",
        "eu-west-1",
        "us-east-1",
    ]);
    assert_eq!(
        regions,
        serde_json::json!({"Regions": [
            {"Endpoint": "ec2.eu-west-1.amazonaws.com", "RegionName": "eu-west-1", "OptInStatus": "opt-in-not-required"},
            {"Endpoint": "ec2.us-east-1.amazonaws.com", "RegionName": "us-east-1", "OptInStatus": "opt-in-not-required"},
        ]})
    );
    let all = server.aws_ok(&["ec2", "describe-regions"]);
    assert!(
        all["Regions"].as_array().is_some_and(|r| r.len() > 20),
        "{all}"
    );
    let filtered = server.aws_ok(&[
        "ec2",
        "describe-regions",
        "--filters",
        "Name=region-name,Values=eu-west-?",
    ]);
    assert_eq!(
        filtered["Regions"].as_array().map(Vec::len),
        Some(3),
        "{filtered}"
    );
    assert!(
        server
            .aws_err(&["ec2", "describe-regions", "--region-names", "moon-1"])
            .contains("(InvalidParameterValue)")
    );
    assert!(
        server
            .aws_err(&["ec2", "describe-instances"])
            .contains("(InvalidAction)")
    );
    // Organizations: not a member of one.
    for args in [
        &["organizations", "describe-organization"][..],
        &[
            "organizations",
            "describe-account",
            "--account-id",
            "000000000000",
        ],
    ] {
        let e = server.aws_err(args);
        assert!(
            e.contains("(AWSOrganizationsNotInUseException)")
                && e.contains("Your account is not a member of an organization."),
            "{e}"
        );
    }
    // CloudTrail Insights: off.
    let e = server.aws_err(&[
        "cloudtrail",
        "get-insight-selectors",
        "--trail-name",
        "management",
    ]);
    assert!(
        e.contains("(InsightNotEnabledException)")
            && e.contains("Trail management does not have Insights enabled."),
        "{e}"
    );
    assert!(
        server
            .aws_err(&[
                "cloudtrail",
                "get-insight-selectors",
                "--trail-name",
                "nope"
            ])
            .contains("(TrailNotFoundException)")
    );
    // No resource policies; no tags on what exists, and an error for what does not.
    assert_eq!(
        server.aws_ok(&["logs", "describe-resource-policies"]),
        serde_json::json!({"resourcePolicies": []})
    );
    assert_eq!(
        server.aws_ok(&[
            "logs",
            "list-tags-for-resource",
            "--resource-arn",
            "arn:aws:logs:us-east-1:000000000000:log-group:CloudTrail/DefaultLogGroup"
        ]),
        serde_json::json!({"tags": {}})
    );
    assert!(
        server
            .aws_err(&[
                "logs",
                "list-tags-for-resource",
                "--resource-arn",
                "arn:aws:logs:us-east-1:000000000000:log-group:nope"
            ])
            .contains("(ResourceNotFoundException)")
    );
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "a",
        "--namespace",
        "N",
        "--metric-name",
        "M",
        "--statistic",
        "Sum",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--comparison-operator",
        "GreaterThanThreshold",
    ]);
    assert_eq!(
        server.aws_ok(&[
            "cloudwatch",
            "list-tags-for-resource",
            "--resource-arn",
            "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a"
        ]),
        serde_json::json!({"Tags": []})
    );
    assert!(
        server
            .aws_err(&[
                "cloudwatch",
                "list-tags-for-resource",
                "--resource-arn",
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm:b"
            ])
            .contains("(ResourceNotFoundException)")
    );
}

#[test]
fn serve_cis_installs_the_controls_and_a_delivered_policy_change_alarms() {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(buckets.path().join("audit-logs")).expect("a bucket");
    let data = buckets.path().join("data");
    let dir = buckets.path().to_str().expect("a path").to_owned();
    let mut server = Server::start_in(&data, &["--s3-dir", &dir, "--cis"]);
    let filters = server.aws_ok(&["logs", "describe-metric-filters", "--log-group-name", GROUP]);
    assert_eq!(
        filters["metricFilters"].as_array().map(Vec::len),
        Some(15),
        "{filters}"
    );
    assert!(
        server.log().contains(
            "CIS monitoring controls: 0 met already, 15 installed (32 created, 0 unchanged)."
        ),
        "{}",
        server.log()
    );
    // A restart installs nothing more.
    server.stop();
    let server = Server::start_in(&data, &["--s3-dir", &dir, "--cis"]);
    assert!(
        server
            .log()
            .contains("CIS monitoring controls: 15 met already, 0 installed (2 unchanged)."),
        "{}",
        server.log()
    );

    // A subscriber, a trail into the group, and CloudTrail's file with a policy change.
    let subscriber = Subscriber::start();
    let topic = server.subscribed_topic("cis-alarms", &subscriber);
    assert_eq!(topic, "arn:aws:sns:us-east-1:000000000000:cis-alarms");
    logging_trail(&server);
    let (code, report) = audit_json(&server);
    assert_eq!(code, 0, "{report}");
    let now = common::now_ms();
    common::put_file(
        &buckets.path().join("audit-logs"),
        &common::delivery_key("", "us-east-1", now, "policy"),
        &common::delivery_file(&[common::event("PutRolePolicy", "policy-1", now)]),
    );
    let alarm = subscriber
        .wait_until(Duration::from_secs(30), |got| {
            got.iter()
                .filter(|r| r.body["Type"] == "Notification")
                .find_map(|r| {
                    let message: Value = serde_json::from_str(r.body["Message"].as_str()?).ok()?;
                    (message["AlarmName"] == "cis-iam_policy_changes").then_some(message)
                })
        })
        .unwrap_or_else(|got| panic!("no alarm notification; got {got:?}"));
    assert_eq!(alarm["NewStateValue"], "ALARM");
    assert_eq!(alarm["Trigger"]["MetricName"], "cis-iam_policy_changes");
}

#[test]
fn cis_apply_can_write_its_plan_for_trailwatch_apply() {
    let (_dir, server) = server_with_trail();
    let subscriber = Subscriber::start();
    let subscribe = format!("http:{}", subscriber.url);
    let out = tempfile::tempdir().expect("a temporary directory");
    let pack = out.path().join("pack.toml");
    let pack = pack.to_str().expect("a path");
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
            "--style",
            "tight",
            "--config-out",
            pack,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout, format!("Wrote {pack}.\n"));
    // A dry run says what it would do; neither changes anything.
    let (code, stdout, _) = run(
        &server,
        &[
            "cis",
            "apply",
            "--log-group",
            GROUP,
            "--topic",
            "cis-alarms",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("31 to create, 1 unchanged.\nDry run: nothing was changed."),
        "{stdout}"
    );
    let filters = server.aws_ok(&["logs", "describe-metric-filters", "--log-group-name", GROUP]);
    assert_eq!(filters["metricFilters"], serde_json::json!([]));

    let text = std::fs::read_to_string(pack).expect("the pack");
    assert!(text.contains(r#"filter_pattern = '{ ($.eventSource = "kms.amazonaws.com") && (($.eventName = "DisableKey") || ($.eventName = "ScheduleKeyDeletion")) }'"#), "{text}");
    let (code, stdout, stderr) = run(&server, &["apply", pack]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Applied: 32 created, 1 unchanged."),
        "{stdout}"
    );
    wait_confirmed(&server, "arn:aws:sns:us-east-1:000000000000:cis-alarms");
    let (code, report) = audit_json(&server);
    assert_eq!(code, 0, "{report}");
    // Tight strings: Prowler's text rules find every clause they look for.
    let prowler: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| f["other_auditors"].as_array().into_iter().flatten())
        .filter(|a| a["agrees"] != true)
        .collect();
    assert_eq!(prowler.len(), 1, "{prowler:?}");
    assert!(
        prowler[0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("CancelHandshake")),
        "Prowler wants calls CIS does not: {prowler:?}"
    );
}
