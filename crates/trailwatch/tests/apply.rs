//! Monitoring as a configuration file, as a user runs it: `trailwatch apply` and
//! `trailwatch config export` through the AWS SDK against real servers, `serve --config`, and
//! the AWS CLI to see what they made.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Server, workspace};

fn cis() -> PathBuf {
    workspace().join("testdata/config/cis.toml")
}

/// The CIS file with `region = "eu-west-1"`, written in `dir`.
fn cis_in_eu_west_1(dir: &Path) -> PathBuf {
    let file = dir.join("cis.toml");
    let original = std::fs::read_to_string(cis()).expect("read");
    let text = original.replace("region = \"us-east-1\"", "region = \"eu-west-1\"");
    std::fs::write(&file, text).expect("write");
    file
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        text(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out)
}

fn apply(server: &Server, file: &Path, extra: &[&str]) -> String {
    let mut args = vec!["apply", file.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    ok(server.trailwatch_sdk(&args))
}

/// An export without its first comment line, which names the endpoint.
fn export(server: &Server) -> String {
    let out = ok(server.trailwatch_sdk(&["config", "export"]));
    out.lines().skip(1).collect::<Vec<_>>().join("\n")
}

fn alarms(server: &Server) -> Vec<serde_json::Value> {
    server.aws_ok(&["cloudwatch", "describe-alarms"])["MetricAlarms"]
        .as_array()
        .expect("alarms")
        .clone()
}

#[test]
fn apply_is_idempotent_and_an_export_applied_to_a_fresh_server_makes_the_same() {
    let first = Server::start();
    let out = apply(&first, &cis(), &[]);
    assert!(
        out.contains("  create    alarm root_account_usage_alarm"),
        "{out}"
    );
    assert!(out.contains("Applied: 32 created, 0 unchanged."), "{out}");
    let again = apply(&first, &cis(), &[]);
    assert!(
        again.contains("Nothing to change: 32 unchanged."),
        "{again}"
    );

    // What the AWS CLI sees: 15 alarms notifying the topic the file named.
    let made = alarms(&first);
    assert_eq!(made.len(), 15);
    let topic = "arn:aws:sns:us-east-1:000000000000:cis-alarms";
    assert!(
        made.iter()
            .all(|a| a["AlarmActions"] == serde_json::json!([topic]))
    );

    let exported = export(&first);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("export.toml");
    std::fs::write(&file, &exported).expect("write");
    let second = Server::start();
    let out = apply(&second, &file, &[]);
    assert!(out.contains("Applied: 32 created, 0 unchanged."), "{out}");
    assert_eq!(export(&second), exported);
    assert!(apply(&second, &file, &[]).contains("Nothing to change: 32 unchanged."));
    assert!(apply(&second, &cis(), &[]).contains("Nothing to change: 32 unchanged."));
}

#[test]
fn dry_run_changes_nothing_and_prune_deletes_only_what_the_file_manages() {
    let server = Server::start();
    apply(&server, &cis(), &[]);
    for (name, namespace) in [("stale", "CISBenchmark"), ("billing", "AWS/Billing")] {
        server.aws_ok(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            name,
            "--namespace",
            namespace,
            "--metric-name",
            "M",
            "--statistic",
            "Sum",
            "--period",
            "300",
            "--evaluation-periods",
            "1",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
        ]);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let changed = tmp.path().join("cis.toml");
    let original = std::fs::read_to_string(cis()).expect("read");
    // The first alarm's threshold goes up.
    std::fs::write(
        &changed,
        original.replacen("threshold = 1", "threshold = 3", 1),
    )
    .expect("write");

    let out = apply(&server, &changed, &["--dry-run", "--prune"]);
    assert!(
        out.contains("update    alarm unauthorized_api_calls_alarm (threshold)"),
        "{out}"
    );
    assert!(out.contains("delete    alarm stale"), "{out}");
    assert!(!out.contains("billing"), "{out}");
    assert!(out.contains("Dry run: nothing was changed."), "{out}");
    assert_eq!(alarms(&server).len(), 17);

    let out = apply(&server, &changed, &[]);
    assert!(out.contains("Applied: 1 updated, 31 unchanged."), "{out}");
    assert_eq!(
        alarms(&server).len(),
        17,
        "nothing is deleted without --prune"
    );
    let out = apply(&server, &changed, &["--prune"]);
    assert!(out.contains("Applied: 1 deleted, 32 unchanged."), "{out}");
    let left = alarms(&server);
    let names: Vec<&str> = left
        .iter()
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    assert!(
        names.contains(&"billing") && !names.contains(&"stale"),
        "{names:?}"
    );
    let first = left
        .iter()
        .find(|a| a["AlarmName"] == "unauthorized_api_calls_alarm")
        .expect("the alarm");
    assert_eq!(first["Threshold"], 3.0);
}

#[test]
fn a_problem_in_the_file_is_told_with_its_line_and_nothing_is_applied() {
    let server = Server::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("cis.toml");
    let original = std::fs::read_to_string(cis()).expect("read");
    // The last alarm gets a period CloudWatch refuses: the whole file is refused first.
    let at = original.rfind("period = 300").expect("an alarm");
    let broken = format!("{}period = 7{}", &original[..at], &original[at + 12..]);
    std::fs::write(&file, &broken).expect("write");
    let out = server.trailwatch_sdk(&["apply", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = broken[..at].lines().count() + 1;
    let expected = format!(
        "{}:{line}: alarms[14].period: alarm organizations_changes_alarm: ",
        file.display(),
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("Period must be"), "{stderr}");
    let groups = server.aws_ok(&["logs", "describe-log-groups"]);
    assert_eq!(groups["logGroups"], serde_json::json!([]));

    // An unknown key is named as such, before anything is read from the endpoint.
    std::fs::write(&file, original.replacen("threshold", "treshold", 1)).expect("write");
    let out = common::trailwatch(&["config", "check", file.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alarms[0].treshold: unknown field `treshold`"),
        "{stderr}"
    );
}

#[test]
fn serve_config_sets_up_at_start_and_a_restart_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let config = cis();
    let args = ["--config", config.to_str().expect("utf-8")];
    let mut server = Server::start_in(&data, &args);
    assert!(
        server
            .log()
            .contains("Configuration applied: 32 created, 0 unchanged.")
    );
    assert!(apply(&server, &cis(), &[]).contains("Nothing to change: 32 unchanged."));
    server.stop();
    let server = Server::start_in(&data, &args);
    assert!(
        server
            .log()
            .contains("Configuration applied: 32 unchanged."),
        "{}",
        server.log()
    );
}

#[test]
fn the_region_is_the_flags_then_the_environments_then_the_files() {
    let server = Server::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = cis_in_eu_west_1(tmp.path());
    let path = file.to_str().expect("utf-8");
    let plan_region = |args: &[&str], env: &[(&str, Option<&str>)]| {
        let out = ok(server.trailwatch_sdk_env(args, env));
        let first = out.lines().next().expect("a plan").to_owned();
        first
            .rsplit(" in ")
            .next()
            .expect("a region")
            .trim_end_matches(':')
            .to_owned()
    };
    let no_env = [("AWS_DEFAULT_REGION", None), ("AWS_REGION", None)];
    assert_eq!(
        plan_region(&["apply", path, "--dry-run"], &no_env),
        "eu-west-1"
    );
    let env = [
        ("AWS_DEFAULT_REGION", None),
        ("AWS_REGION", Some("ap-south-1")),
    ];
    assert_eq!(
        plan_region(&["apply", path, "--dry-run"], &env),
        "ap-south-1"
    );
    let flag = ["apply", path, "--dry-run", "--region", "ca-central-1"];
    assert_eq!(plan_region(&flag, &env), "ca-central-1");
    // The file's region is where it was applied: the topic is there.
    ok(server.trailwatch_sdk_env(&["apply", path], &no_env));
    let topics = server.aws_ok(&["sns", "list-topics", "--region", "eu-west-1"]);
    assert_eq!(
        topics["Topics"][0]["TopicArn"],
        "arn:aws:sns:eu-west-1:000000000000:cis-alarms"
    );
}

#[test]
fn serve_sets_up_in_the_flags_region_then_the_environments_then_the_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = cis_in_eu_west_1(tmp.path());
    let config = file.to_str().expect("utf-8");
    let credentials = [
        ("TRAILWATCH_ACCESS_KEY_ID", common::ACCESS_KEY_ID),
        ("TRAILWATCH_SECRET_ACCESS_KEY", common::SECRET_ACCESS_KEY),
    ];
    let topic_in = |server: &Server, region: &str| {
        let topics = server.aws_ok(&["sns", "list-topics", "--region", region]);
        topics["Topics"][0]["TopicArn"].as_str().map(str::to_owned)
    };
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (&[], None, "eu-west-1"),
        (&[], Some("ap-south-1"), "ap-south-1"),
        (
            &["--region", "ca-central-1"],
            Some("ap-south-1"),
            "ca-central-1",
        ),
    ];
    for (i, (flags, env, expected)) in cases.into_iter().enumerate() {
        let data = tmp.path().join(format!("data-{i}"));
        let mut args = vec!["--config", config];
        args.extend_from_slice(flags);
        let mut vars = credentials.to_vec();
        if let Some(region) = env {
            vars.push(("TRAILWATCH_REGION", region));
        }
        let server = Server::start_with_env(&data, &args, &vars);
        assert_eq!(
            topic_in(&server, expected),
            Some(format!("arn:aws:sns:{expected}:000000000000:cis-alarms")),
            "{flags:?} {env:?}"
        );
        if expected != "eu-west-1" {
            assert_eq!(topic_in(&server, "eu-west-1"), None);
        }
    }
}

/// The CIS file with a trail delivering to its log group, written in `dir`.
fn cis_with_trail(dir: &Path, logging: bool) -> PathBuf {
    let file = dir.join(format!("cis-trail-{logging}.toml"));
    let mut text = std::fs::read_to_string(cis()).expect("read");
    text.push_str(&format!(
        r#"
[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
cloud_watch_logs_log_group_arn = "CloudTrail/DefaultLogGroup"
cloud_watch_logs_role_arn = "arn:aws:iam::000000000000:role/CloudTrail_CloudWatchLogs_Role"
is_logging = {logging}
tags = {{ team = "security" }}
"#
    ));
    std::fs::write(&file, text).expect("write");
    file
}

/// A server whose buckets are folders of a temporary directory, with bucket `audit-logs`.
fn server_with_buckets() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("buckets/audit-logs")).expect("a bucket");
    let buckets = tmp.path().join("buckets");
    let server = Server::start_in(
        &tmp.path().join("data"),
        &["--s3-dir", buckets.to_str().expect("utf-8")],
    );
    (tmp, server)
}

#[test]
fn a_trail_of_the_file_is_made_logging_into_its_log_group_and_exported_by_name() {
    let (tmp, first) = server_with_buckets();
    let file = cis_with_trail(tmp.path(), true);
    let out = apply(&first, &file, &[]);
    assert!(out.contains("  create    trail management"), "{out}");
    assert!(out.contains("Applied: 33 created, 0 unchanged."), "{out}");
    let trail = &first.aws_ok(&["cloudtrail", "describe-trails"])["trailList"][0];
    assert_eq!(
        trail["CloudWatchLogsLogGroupArn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:CloudTrail/DefaultLogGroup:*"
    );
    assert_eq!(trail["IsMultiRegionTrail"], true);
    let status = first.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    assert_eq!(status["IsLogging"], true);
    let arn = trail["TrailARN"].as_str().expect("an ARN");
    let tags = first.aws_ok(&["cloudtrail", "list-tags", "--resource-id-list", arn]);
    assert_eq!(
        tags["ResourceTagList"][0]["TagsList"],
        serde_json::json!([{"Key": "team", "Value": "security"}])
    );
    assert!(apply(&first, &file, &[]).contains("Nothing to change: 33 unchanged."));

    // Stopped by the file, and said so.
    let stopped = cis_with_trail(tmp.path(), false);
    let out = apply(&first, &stopped, &[]);
    assert!(
        out.contains("  update    trail management (is_logging)"),
        "{out}"
    );
    let status = first.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    assert_eq!(status["IsLogging"], false);

    // The export names the trail's log group by name, and makes the same elsewhere.
    let exported = export(&first);
    assert!(
        exported.contains("cloud_watch_logs_log_group_arn = \"CloudTrail/DefaultLogGroup\""),
        "{exported}"
    );
    let again = tmp.path().join("export.toml");
    std::fs::write(&again, &exported).expect("write");
    let (_other, second) = server_with_buckets();
    let out = apply(&second, &again, &[]);
    assert!(out.contains("Applied: 33 created, 0 unchanged."), "{out}");
    assert_eq!(export(&second), exported);
}

#[test]
fn a_cis_table_installs_the_controls_the_files_own_filters_do_not_meet() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("mine.toml");
    // The file's own IAM filter meets that control (the benchmark's calls in another order,
    // scoped to IAM); the table brings the other 14.
    std::fs::write(
        &file,
        r#"
[[log_groups]]
log_group_name = "CloudTrail/DefaultLogGroup"
retention_in_days = 90

[[metric_filters]]
log_group_name = "CloudTrail/DefaultLogGroup"
filter_name = "iam"
filter_pattern = '{ $.eventSource = "iam.amazonaws.com" && ($.eventName = "DetachGroupPolicy" || $.eventName = "AttachGroupPolicy" || $.eventName = "DetachUserPolicy" || $.eventName = "AttachUserPolicy" || $.eventName = "DetachRolePolicy" || $.eventName = "AttachRolePolicy" || $.eventName = "DeletePolicyVersion" || $.eventName = "CreatePolicyVersion" || $.eventName = "DeletePolicy" || $.eventName = "CreatePolicy" || $.eventName = "PutUserPolicy" || $.eventName = "PutRolePolicy" || $.eventName = "PutGroupPolicy" || $.eventName = "DeleteUserPolicy" || $.eventName = "DeleteRolePolicy" || $.eventName = "DeleteGroupPolicy") }'
metric_transformations = [{ metric_name = "iam", metric_namespace = "Mine", metric_value = "1" }]

[cis]
cis_version = "5.0.0"
style = "tight"
"#,
    )
    .expect("write");
    let out = apply(&server, &file, &[]);
    assert!(
        out.contains("create    metric filter cis-vpc_changes on CloudTrail/DefaultLogGroup"),
        "{out}"
    );
    assert!(!out.contains("cis-iam_policy_changes"), "{out}");
    assert!(out.contains("create    topic cis-alarms"), "{out}");
    assert!(out.contains("Applied: 31 created, 0 unchanged."), "{out}");
    let groups = server.aws_ok(&["logs", "describe-log-groups"]);
    assert_eq!(
        groups["logGroups"][0]["retentionInDays"], 90,
        "the file's retention"
    );
    let filters = server.aws_ok(&[
        "logs",
        "describe-metric-filters",
        "--log-group-name",
        "CloudTrail/DefaultLogGroup",
    ]);
    assert_eq!(filters["metricFilters"].as_array().map(Vec::len), Some(15));
    assert_eq!(alarms(&server).len(), 14);
    let out = apply(&server, &file, &[]);
    assert!(out.contains("Nothing to change"), "{out}");

    // A file of only [cis], with --prune: the pack's filters stay declared, and what others
    // made on its log group, its topic and its namespace is left alone.
    server.aws_ok(&[
        "logs",
        "put-metric-filter",
        "--log-group-name",
        "CloudTrail/DefaultLogGroup",
        "--filter-name",
        "someone-elses",
        "--filter-pattern",
        "ERROR",
        "--metric-transformations",
        "metricName=errors,metricNamespace=Theirs,metricValue=1",
    ]);
    server.aws_ok(&[
        "sns",
        "subscribe",
        "--topic-arn",
        "arn:aws:sns:us-east-1:000000000000:cis-alarms",
        "--protocol",
        "email",
        "--notification-endpoint",
        "secops@example.com",
    ]);
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "theirs",
        "--namespace",
        "CISBenchmark",
        "--metric-name",
        "x",
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
    let pack_only = dir.path().join("pack.toml");
    std::fs::write(
        &pack_only,
        "[cis]\ncis_version = \"5.0.0\"\nstyle = \"tight\"\n",
    )
    .expect("write");
    // The file's IAM filter has no alarm: the pack's comes beside it.
    let out = apply(&server, &pack_only, &["--prune"]);
    assert!(out.contains("Applied: 2 created, 34 unchanged."), "{out}");
    assert!(!out.contains("delete"), "{out}");
    let out = apply(&server, &pack_only, &["--prune"]);
    assert!(out.contains("Nothing to change"), "{out}");
    let filters = server.aws_ok(&[
        "logs",
        "describe-metric-filters",
        "--log-group-name",
        "CloudTrail/DefaultLogGroup",
    ]);
    assert_eq!(filters["metricFilters"].as_array().map(Vec::len), Some(17));
    assert_eq!(alarms(&server).len(), 16);
    let subs = server.aws_ok(&[
        "sns",
        "list-subscriptions-by-topic",
        "--topic-arn",
        "arn:aws:sns:us-east-1:000000000000:cis-alarms",
    ]);
    assert_eq!(subs["Subscriptions"].as_array().map(Vec::len), Some(1));

    // A version the catalogue lacks is told with its line.
    std::fs::write(&file, "[cis]\ncis_version = \"9.0\"\n").expect("write");
    let out = common::trailwatch(&["config", "check", file.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mine.toml:2: cis.cis_version: no CIS version 9.0; the versions are 1.2.0"),
        "{stderr}"
    );
}
