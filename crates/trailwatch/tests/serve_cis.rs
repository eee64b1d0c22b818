//! The seed flow of the CIS AWS Foundations control "Ensure a log metric filter and alarm exist
//! for IAM policy changes", driven by the unmodified AWS CLI running the benchmark's commands
//! as written, against the real `trailwatch serve`.

mod common;

use std::time::Duration;

use common::{Server, Subscriber, cloudtrail_event, now_ms};
use serde_json::{Value, json};

const GROUP: &str = "CloudTrail/DefaultLogGroup";
const PATTERN: &str = "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||($.eventName=DetachGroupPolicy)}";
const WAIT: Duration = Duration::from_secs(30);

/// The benchmark's four remediation commands, verbatim but for the placeholders, after
/// creating the log group. Returns the topic ARN.
fn set_up_cis_control(server: &Server, subscriber: &Subscriber) -> String {
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    server.aws_ok(&[
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
    ]);
    let topic = server.aws_ok(&["sns", "create-topic", "--name", "cis-alarms"]);
    let topic_arn = topic["TopicArn"].as_str().expect("TopicArn").to_owned();
    assert_eq!(topic_arn, "arn:aws:sns:us-east-1:000000000000:cis-alarms");
    let sub = server.aws_ok(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic_arn,
        "--protocol",
        "http",
        "--notification-endpoint",
        &subscriber.url,
    ]);
    assert_eq!(sub["SubscriptionArn"], "pending confirmation");
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "iam_changes_alarm",
        "--metric-name",
        "iam_changes_metric",
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
        "--namespace",
        "CISBenchmark",
        "--alarm-actions",
        &topic_arn,
    ]);
    topic_arn
}

fn create_trail_stream(server: &Server) {
    server.aws_ok(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        GROUP,
        "--log-stream-name",
        "trail",
    ]);
}

fn put_events(server: &Server, stream: &str, messages: &[String]) -> Value {
    let now = now_ms();
    let events: Vec<Value> = messages
        .iter()
        .map(|m| json!({"timestamp": now, "message": m}))
        .collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), Value::Array(events).to_string()).expect("write events");
    server.aws_ok(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        GROUP,
        "--log-stream-name",
        stream,
        "--log-events",
        &format!("file://{}", file.path().display()),
    ])
}

/// Sum and SampleCount of the CIS metric over the last hour, per `period` seconds.
fn iam_changes_statistics(server: &Server, period: &str) -> Value {
    let now = now_ms() / 1000;
    server.aws_ok(&[
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "CISBenchmark",
        "--metric-name",
        "iam_changes_metric",
        "--start-time",
        &(now - 3600).to_string(),
        "--end-time",
        &(now + 600).to_string(),
        "--period",
        period,
        "--statistics",
        "Sum",
        "SampleCount",
    ])
}

fn alarm(server: &Server) -> Value {
    let out = server.aws_ok(&[
        "cloudwatch",
        "describe-alarms",
        "--alarm-names",
        "iam_changes_alarm",
    ]);
    out["MetricAlarms"][0].clone()
}

#[test]
fn put_role_policy_event_brings_the_subscriber_the_alarm_notification() {
    let server = Server::start();
    let subscriber = Subscriber::start();
    let topic_arn = set_up_cis_control(&server, &subscriber);

    // The subscriber confirmed through SubscribeURL.
    let confirmation = subscriber.wait_for("SubscriptionConfirmation", WAIT);
    assert_eq!(confirmation.body["TopicArn"], topic_arn.as_str());
    assert_eq!(
        confirmation.header("x-amz-sns-message-type"),
        Some("SubscriptionConfirmation")
    );
    let subs = server.aws_ok(&[
        "sns",
        "list-subscriptions-by-topic",
        "--topic-arn",
        &topic_arn,
    ]);
    let arn = subs["Subscriptions"][0]["SubscriptionArn"]
        .as_str()
        .expect("arn");
    assert!(
        arn.starts_with(&format!("{topic_arn}:")),
        "confirmed: {arn}"
    );

    let before = alarm(&server);
    assert_eq!(before["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(before["StateReason"], "Unchecked: Initial alarm creation");

    create_trail_stream(&server);
    let event = cloudtrail_event("PutRolePolicy");
    let put = put_events(&server, "trail", std::slice::from_ref(&event));
    assert!(put["nextSequenceToken"].is_string(), "{put}");
    assert!(put.get("rejectedLogEventsInfo").is_none(), "{put}");

    let n = subscriber.wait_for("Notification", WAIT);
    assert_eq!(n.header("x-amz-sns-message-type"), Some("Notification"));
    assert_eq!(n.header("x-amz-sns-topic-arn"), Some(topic_arn.as_str()));
    assert_eq!(n.header("x-amz-sns-subscription-arn"), Some(arn));
    assert_eq!(n.header("content-type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(
        n.body["Subject"],
        "ALARM: \"iam_changes_alarm\" in US East (N. Virginia)"
    );
    assert_eq!(n.body["SignatureVersion"], "1");
    assert!(n.body["Signature"].as_str().is_some_and(|s| !s.is_empty()));
    let message: Value =
        serde_json::from_str(n.body["Message"].as_str().expect("Message")).expect("JSON message");
    assert_eq!(message["AlarmName"], "iam_changes_alarm");
    assert_eq!(message["NewStateValue"], "ALARM");
    assert_eq!(message["OldStateValue"], "INSUFFICIENT_DATA");
    assert_eq!(message["Region"], "US East (N. Virginia)");
    assert_eq!(message["AWSAccountId"], "000000000000");
    assert_eq!(
        message["AlarmArn"],
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:iam_changes_alarm"
    );
    assert_eq!(message["AlarmActions"], json!([topic_arn]));
    let trigger = &message["Trigger"];
    assert_eq!(trigger["MetricName"], "iam_changes_metric");
    assert_eq!(trigger["Namespace"], "CISBenchmark");
    assert_eq!(trigger["Statistic"], "SUM");
    assert_eq!(trigger["Period"], 300);
    assert_eq!(trigger["Threshold"], 1.0);
    assert_eq!(
        trigger["ComparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    let reason = message["NewStateReason"].as_str().expect("reason");
    assert!(
        reason.starts_with("Threshold Crossed: 1 datapoint [1.0 (")
            && reason.ends_with(")] was greater than or equal to the threshold (1.0)."),
        "{reason}"
    );

    let after = alarm(&server);
    assert_eq!(after["StateValue"], "ALARM");
    assert_eq!(after["StateReason"], reason);

    // The metric holds exactly the one matching event.
    let stats = iam_changes_statistics(&server, "300");
    let points = stats["Datapoints"].as_array().expect("datapoints");
    assert_eq!(points.len(), 1, "{stats}");
    assert_eq!(points[0]["Sum"], 1.0);
    assert_eq!(points[0]["SampleCount"], 1.0);

    // The event itself was stored as given.
    let got = server.aws_ok(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        GROUP,
        "--log-stream-name",
        "trail",
        "--start-from-head",
    ]);
    assert_eq!(got["events"][0]["message"], event.as_str());
}

#[test]
fn unrelated_events_leave_the_alarm_and_the_metric_untouched() {
    let server = Server::start();
    let subscriber = Subscriber::start();
    set_up_cis_control(&server, &subscriber);
    subscriber.wait_for("SubscriptionConfirmation", WAIT);
    create_trail_stream(&server);
    // IAM events too, but none that changes a policy.
    let unrelated: Vec<String> = [
        "ConsoleLogin",
        "CreateUser",
        "DescribeInstances",
        "GetRolePolicy",
    ]
    .iter()
    .map(|name| cloudtrail_event(name))
    .collect();
    put_events(&server, "trail", &unrelated);
    // Time-driven evaluation gets its chance too: a witness alarm on another metric, which
    // only the tick at the end of its 10-second period can move, shows when it has run.
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "witness",
        "--namespace",
        "Witness",
        "--metric-name",
        "w",
        "--statistic",
        "Sum",
        "--period",
        "10",
        "--evaluation-periods",
        "1",
        "--threshold",
        "5",
        "--comparison-operator",
        "LessThanThreshold",
    ]);
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "Witness",
        "--metric-name",
        "w",
        "--value",
        "1",
        // High resolution, so that the datum lands in the current 10-second period rather
        // than at the start of its minute, which may already lie outside the alarm's range.
        "--storage-resolution",
        "1",
    ]);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let witness = server.aws_ok(&["cloudwatch", "describe-alarms", "--alarm-names", "witness"]);
        if witness["MetricAlarms"][0]["StateValue"] == "ALARM" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no tick evaluated the witness: {witness}\n{}",
            server.log()
        );
    }

    let a = alarm(&server);
    assert_eq!(a["StateValue"], "INSUFFICIENT_DATA", "{a}");
    let metrics = server.aws_ok(&["cloudwatch", "list-metrics", "--namespace", "CISBenchmark"]);
    assert_eq!(metrics["Metrics"], json!([]), "no datapoint was published");
    assert!(
        subscriber
            .all()
            .iter()
            .all(|r| r.body["Type"] != "Notification"),
        "no notification"
    );
}

#[test]
fn everything_survives_a_restart() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let subscriber = Subscriber::start();
    let mut server = Server::start_in(&data, &[]);
    let topic_arn = set_up_cis_control(&server, &subscriber);
    subscriber.wait_for("SubscriptionConfirmation", WAIT);
    create_trail_stream(&server);
    put_events(&server, "trail", &[cloudtrail_event("PutRolePolicy")]);
    subscriber.wait_for("Notification", WAIT);
    server.stop();

    let server = Server::start_in(&data, &[]);
    assert_eq!(alarm(&server)["StateValue"], "ALARM");
    let filters = server.aws_ok(&["logs", "describe-metric-filters", "--log-group-name", GROUP]);
    assert_eq!(filters["metricFilters"][0]["filterPattern"], PATTERN);
    let subs = server.aws_ok(&[
        "sns",
        "list-subscriptions-by-topic",
        "--topic-arn",
        &topic_arn,
    ]);
    assert_eq!(
        subs["Subscriptions"][0]["Endpoint"],
        subscriber.url.as_str()
    );
    let got = server.aws_ok(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        GROUP,
        "--log-stream-name",
        "trail",
    ]);
    assert_eq!(got["events"].as_array().map(Vec::len), Some(1));
    // The filter set is rebuilt from the store: a second matching event still counts.
    put_events(&server, "trail", &[cloudtrail_event("AttachRolePolicy")]);
    let stats = iam_changes_statistics(&server, "3600");
    let total: f64 = stats["Datapoints"]
        .as_array()
        .expect("datapoints")
        .iter()
        .filter_map(|p| p["Sum"].as_f64())
        .sum();
    assert_eq!(total, 2.0, "{stats}");
}
