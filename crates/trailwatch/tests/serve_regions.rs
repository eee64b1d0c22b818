//! Every region on one server, scoped as AWS scopes them: the same names in two regions are two
//! resources, ARNs carry each region's partition, notifications name their region, and
//! references across regions and partitions are answered as AWS answers them. Driven by the
//! AWS CLI and boto3 against the real `trailwatch serve`.

mod common;

use std::time::Duration;

use common::{Server, Subscriber, cloudtrail_event, now_ms};
use serde_json::{Value, json};

const GROUP: &str = "CloudTrail/DefaultLogGroup";
const PATTERN: &str = "{($.eventName=PutRolePolicy)||($.eventName=DeleteRolePolicy)}";
const WAIT: Duration = Duration::from_secs(30);

/// The AWS CLI in `region`.
fn aws_in(server: &Server, region: &str, args: &[&str]) -> Value {
    let mut all = vec!["--region", region];
    all.extend_from_slice(args);
    server.aws_ok(&all)
}

fn aws_err_in(server: &Server, region: &str, args: &[&str]) -> String {
    let mut all = vec!["--region", region];
    all.extend_from_slice(args);
    server.aws_err(&all)
}

/// The seed's control in `region`, every name the same in each region; answers the topic ARN.
fn set_up(server: &Server, region: &str, subscriber: &Subscriber) -> String {
    aws_in(
        server,
        region,
        &["logs", "create-log-group", "--log-group-name", GROUP],
    );
    aws_in(
        server,
        region,
        &[
            "logs",
            "create-log-stream",
            "--log-group-name",
            GROUP,
            "--log-stream-name",
            "trail",
        ],
    );
    aws_in(
        server,
        region,
        &[
            "logs",
            "put-metric-filter",
            "--log-group-name",
            GROUP,
            "--filter-name",
            "iam_changes_metric",
            "--metric-transformations",
            "metricName=iam_changes_metric,metricNamespace=CISBenchmark,metricValue=1",
            "--filter-pattern",
            PATTERN,
        ],
    );
    let topic = aws_in(
        server,
        region,
        &["sns", "create-topic", "--name", "cis-alarms"],
    );
    let topic_arn = topic["TopicArn"].as_str().expect("TopicArn").to_owned();
    aws_in(
        server,
        region,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic_arn,
            "--protocol",
            "http",
            "--notification-endpoint",
            &subscriber.url,
        ],
    );
    aws_in(
        server,
        region,
        &[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "iam_changes_alarm",
            "--metric-name",
            "iam_changes_metric",
            "--namespace",
            "CISBenchmark",
            "--statistic",
            "Sum",
            "--period",
            "300",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--evaluation-periods",
            "1",
            "--alarm-actions",
            &topic_arn,
        ],
    );
    topic_arn
}

fn put_event(server: &Server, region: &str, event_name: &str) {
    let events = json!([{"timestamp": now_ms(), "message": cloudtrail_event(event_name)}]);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), events.to_string()).expect("write events");
    aws_in(
        server,
        region,
        &[
            "logs",
            "put-log-events",
            "--log-group-name",
            GROUP,
            "--log-stream-name",
            "trail",
            "--log-events",
            &format!("file://{}", file.path().display()),
        ],
    );
}

fn alarm_state(server: &Server, region: &str) -> Value {
    let out = aws_in(
        server,
        region,
        &[
            "cloudwatch",
            "describe-alarms",
            "--alarm-names",
            "iam_changes_alarm",
        ],
    );
    out["MetricAlarms"][0]["StateValue"].clone()
}

fn cis_metrics(server: &Server, region: &str) -> Value {
    aws_in(
        server,
        region,
        &["cloudwatch", "list-metrics", "--namespace", "CISBenchmark"],
    )["Metrics"]
        .clone()
}

#[test]
fn the_seed_flow_runs_in_two_regions_at_once_with_the_same_names() {
    let server = Server::start();
    let (virginia, ireland) = (Subscriber::start(), Subscriber::start());
    let virginia_topic = set_up(&server, "us-east-1", &virginia);
    let ireland_topic = set_up(&server, "eu-west-1", &ireland);
    assert_eq!(
        virginia_topic,
        "arn:aws:sns:us-east-1:000000000000:cis-alarms"
    );
    assert_eq!(
        ireland_topic,
        "arn:aws:sns:eu-west-1:000000000000:cis-alarms"
    );
    // Each subscriber confirmed through its own region's SubscribeURL.
    for (subscriber, topic) in [(&virginia, &virginia_topic), (&ireland, &ireland_topic)] {
        let confirmation = subscriber.wait_for("SubscriptionConfirmation", WAIT);
        assert_eq!(confirmation.body["TopicArn"], topic.as_str());
    }
    for region in ["us-east-1", "eu-west-1"] {
        let topics = aws_in(&server, region, &["sns", "list-topics"]);
        assert_eq!(
            topics["Topics"].as_array().map(Vec::len),
            Some(1),
            "{topics}"
        );
        let subs = aws_in(&server, region, &["sns", "list-subscriptions"]);
        assert_eq!(
            subs["Subscriptions"].as_array().map(Vec::len),
            Some(1),
            "{subs}"
        );
    }

    // A policy change in Ireland alarms Ireland only.
    put_event(&server, "eu-west-1", "PutRolePolicy");
    let note = ireland.wait_for("Notification", WAIT);
    assert_eq!(note.body["TopicArn"], ireland_topic.as_str());
    assert_eq!(
        note.body["Subject"],
        "ALARM: \"iam_changes_alarm\" in EU (Ireland)"
    );
    let message: Value =
        serde_json::from_str(note.body["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(message["Region"], "EU (Ireland)");
    assert_eq!(
        message["AlarmArn"],
        "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:iam_changes_alarm"
    );
    assert_eq!(alarm_state(&server, "eu-west-1"), "ALARM");
    assert_eq!(alarm_state(&server, "us-east-1"), "INSUFFICIENT_DATA");
    assert_eq!(
        cis_metrics(&server, "eu-west-1").as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(cis_metrics(&server, "us-east-1"), json!([]));

    // And one in Virginia alarms Virginia, in its own words.
    put_event(&server, "us-east-1", "DeleteRolePolicy");
    let note = virginia.wait_for("Notification", WAIT);
    assert_eq!(
        note.body["Subject"],
        "ALARM: \"iam_changes_alarm\" in US East (N. Virginia)"
    );
    assert_eq!(alarm_state(&server, "us-east-1"), "ALARM");
    assert!(
        ireland
            .all()
            .iter()
            .filter(|r| r.body["Type"] == "Notification")
            .count()
            == 1,
        "Ireland's subscriber heard of Virginia's alarm"
    );
}

#[test]
fn a_configured_region_is_the_scope_without_any_flag() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\nregion = eu-central-1\n").expect("config");
    let out = server.aws_with_profile(&["sns", "create-topic", "--name", "t"], &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topic: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(topic["TopicArn"], "arn:aws:sns:eu-central-1:000000000000:t");
    // boto3 with the same profile finds it there, and only there.
    let config = config.display().to_string();
    server.python_ok(
        "regions_profile.py",
        &[("AWS_CONFIG_FILE", config.as_str())],
    );
}

#[test]
fn china_and_govcloud_regions_have_their_partitions_arns() {
    let server = Server::start();
    let topic = aws_in(
        &server,
        "cn-north-1",
        &["sns", "create-topic", "--name", "t"],
    );
    assert_eq!(
        topic["TopicArn"],
        "arn:aws-cn:sns:cn-north-1:000000000000:t"
    );
    aws_in(
        &server,
        "cn-north-1",
        &["logs", "create-log-group", "--log-group-name", "g"],
    );
    let groups = aws_in(&server, "cn-north-1", &["logs", "describe-log-groups"]);
    assert_eq!(
        groups["logGroups"][0]["logGroupArn"],
        "arn:aws-cn:logs:cn-north-1:000000000000:log-group:g"
    );
    let topic = aws_in(
        &server,
        "us-gov-west-1",
        &["sns", "create-topic", "--name", "t"],
    );
    assert_eq!(
        topic["TopicArn"],
        "arn:aws-us-gov:sns:us-gov-west-1:000000000000:t"
    );
}

#[test]
fn references_across_regions_and_partitions_are_refused_as_aws_refuses_them() {
    let server = Server::start();
    let alarm_to = |region: &str, action: &str| {
        aws_err_in(
            &server,
            region,
            &[
                "cloudwatch",
                "put-metric-alarm",
                "--alarm-name",
                "a",
                "--metric-name",
                "m",
                "--namespace",
                "n",
                "--statistic",
                "Sum",
                "--period",
                "60",
                "--threshold",
                "1",
                "--comparison-operator",
                "GreaterThanThreshold",
                "--evaluation-periods",
                "1",
                "--alarm-actions",
                action,
            ],
        )
    };
    let err = alarm_to("us-east-1", "arn:aws:sns:eu-west-1:000000000000:t");
    assert!(err.contains("(ValidationError)"), "{err}");
    assert!(
        err.contains("Invalid region eu-west-1 specified. Only us-east-1 is supported."),
        "{err}"
    );
    let err = alarm_to("us-gov-west-1", "arn:aws:sns:us-gov-west-1:000000000000:t");
    assert!(
        err.contains("Invalid partition aws specified. Only aws-us-gov is supported."),
        "{err}"
    );

    // SNS calls on a topic of another region.
    let topic = aws_in(
        &server,
        "eu-west-1",
        &["sns", "create-topic", "--name", "t"],
    );
    let arn = topic["TopicArn"].as_str().expect("TopicArn");
    let err = aws_err_in(
        &server,
        "us-east-1",
        &["sns", "publish", "--topic-arn", arn, "--message", "m"],
    );
    assert!(err.contains("(InvalidParameter)"), "{err}");
    assert!(err.contains("Invalid parameter: TopicArn"), "{err}");
    let err = aws_err_in(
        &server,
        "us-east-1",
        &["sns", "get-topic-attributes", "--topic-arn", arn],
    );
    assert!(err.contains("Invalid parameter: TopicArn"), "{err}");
}

#[test]
fn a_region_no_partition_knows_is_refused_and_regions_can_be_limited() {
    let server = Server::start();
    let err = aws_err_in(&server, "eu-wst-1", &["sns", "list-topics"]);
    assert!(
        err.contains("'eu-wst-1' is not a region of any AWS partition"),
        "{err}"
    );

    let tmp = tempfile::tempdir().expect("temp dir");
    let limited = Server::start_in(&tmp.path().join("data"), &["--regions", "eu-west-1"]);
    aws_in(&limited, "eu-west-1", &["sns", "list-topics"]);
    let err = aws_err_in(&limited, "us-east-1", &["logs", "describe-log-groups"]);
    assert!(err.contains("This server answers only eu-west-1"), "{err}");
}
