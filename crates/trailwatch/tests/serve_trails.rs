//! Trails: the CloudTrail API as the AWS CLI and boto3 use it, and trails followed where
//! CloudTrail delivers — a folder (`--s3-dir`) and an S3-compatible server (moto's, with
//! objects put by boto3) — into the log group, the CIS metric filter, the alarm and the
//! subscriber.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ACCESS_KEY_ID, ACCOUNT, Server, Subscriber, delivery_file, delivery_key, event, free_port,
    now_ms, put_file, venv,
};
use serde_json::{Value, json};

const GROUP: &str = "CloudTrail/DefaultLogGroup";
const GROUP_ARN: &str =
    "arn:aws:logs:us-east-1:000000000000:log-group:CloudTrail/DefaultLogGroup:*";
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/CloudTrail_CloudWatchLogs_Role";

const PATTERN: &str = "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||($.eventName=DetachGroupPolicy)}";
const WAIT: Duration = Duration::from_secs(30);

/// The log group a trail delivers to, with the metric filter of the CIS control "IAM policy
/// changes".
fn cis_filter(server: &Server) {
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
}

/// The CIS control "IAM policy changes" (CIS 4.4 in v1.x), as its remediation sets it up,
/// with the log group a trail delivers to. The topic's ARN.
fn cis_control(server: &Server, subscriber: &Subscriber) -> String {
    cis_filter(server);
    let topic = server.subscribed_topic("cis-alarms", subscriber);
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
        &topic,
    ]);
    topic
}

fn logging_trail(server: &Server, name: &str, bucket: &str, extra: &[&str]) {
    let mut args = vec![
        "cloudtrail",
        "create-trail",
        "--name",
        name,
        "--s3-bucket-name",
        bucket,
    ];
    args.extend_from_slice(extra);
    server.aws_ok(&args);
    server.aws_ok(&["cloudtrail", "start-logging", "--name", name]);
}

fn delivering_trail(server: &Server, name: &str, bucket: &str) {
    logging_trail(
        server,
        name,
        bucket,
        &[
            "--is-multi-region-trail",
            "--cloud-watch-logs-log-group-arn",
            GROUP_ARN,
            "--cloud-watch-logs-role-arn",
            ROLE_ARN,
        ],
    );
}

/// The messages of the group's events, every page.
fn group_messages(server: &Server, group: &str) -> Vec<String> {
    let out = server.aws_ok(&["logs", "filter-log-events", "--log-group-name", group]);
    out["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["message"].as_str().expect("message").to_owned())
        .collect()
}

/// Polls `check` until it answers `Some`, failing after `WAIT`.
fn eventually<T>(what: &str, server: &Server, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}; server log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn folder_server(buckets: &Path) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let server = Server::start_in(
        &tmp.path().join("data"),
        &["--s3-dir", buckets.to_str().expect("a path")],
    );
    (tmp, server)
}

#[test]
fn trail_operations_answer_as_cloudtrail_does() {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(buckets.path().join("audit-logs")).expect("a bucket");
    let (_tmp, server) = folder_server(buckets.path());
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);

    // Create, and the documented refusals.
    let created = server.aws_ok(&[
        "cloudtrail",
        "create-trail",
        "--name",
        "management",
        "--s3-bucket-name",
        "audit-logs",
        "--s3-key-prefix",
        "ct",
        "--is-multi-region-trail",
        "--cloud-watch-logs-log-group-arn",
        GROUP_ARN,
        "--cloud-watch-logs-role-arn",
        ROLE_ARN,
        "--tags-list",
        "Key=team,Value=security",
    ]);
    let arn = "arn:aws:cloudtrail:us-east-1:000000000000:trail/management";
    assert_eq!(created["TrailARN"], arn);
    assert_eq!(created["IsMultiRegionTrail"], true);
    assert_eq!(created["S3KeyPrefix"], "ct");
    for (args, code) in [
        (
            vec!["--name", "management", "--s3-bucket-name", "audit-logs"],
            "TrailAlreadyExistsException",
        ),
        (
            vec!["--name", "ab", "--s3-bucket-name", "audit-logs"],
            "InvalidTrailNameException",
        ),
        (
            vec!["--name", "bad--name", "--s3-bucket-name", "audit-logs"],
            "InvalidTrailNameException",
        ),
        (
            vec!["--name", "other", "--s3-bucket-name", "no-such-bucket"],
            "S3BucketDoesNotExistException",
        ),
        (
            vec!["--name", "other", "--s3-bucket-name", "Not_A_Bucket"],
            "InvalidS3BucketNameException",
        ),
        (
            vec![
                "--name",
                "other",
                "--s3-bucket-name",
                "audit-logs",
                "--cloud-watch-logs-log-group-arn",
                GROUP_ARN,
            ],
            "InvalidCloudWatchLogsRoleArnException",
        ),
        (
            vec![
                "--name",
                "other",
                "--s3-bucket-name",
                "audit-logs",
                "--cloud-watch-logs-log-group-arn",
                "arn:aws:logs:us-east-1:000000000000:log-group:missing:*",
                "--cloud-watch-logs-role-arn",
                ROLE_ARN,
            ],
            "InvalidCloudWatchLogsLogGroupArnException",
        ),
        (
            vec![
                "--name",
                "other",
                "--s3-bucket-name",
                "audit-logs",
                "--sns-topic-name",
                "no-such-topic",
            ],
            "InsufficientSnsTopicPolicyException",
        ),
    ] {
        let mut all = vec!["cloudtrail", "create-trail"];
        all.extend(args);
        let err = server.aws_err(&all);
        assert!(err.contains(code), "{all:?}: {err}");
    }

    // Read back, here and as a shadow trail in another region.
    let got = server.aws_ok(&["cloudtrail", "get-trail", "--name", "management"]);
    assert_eq!(got["Trail"]["HomeRegion"], "us-east-1");
    assert_eq!(got["Trail"]["HasCustomEventSelectors"], false);
    let by_arn = server.aws_ok(&["cloudtrail", "get-trail", "--name", arn]);
    assert_eq!(by_arn["Trail"]["Name"], "management");
    let elsewhere = server.aws_ok(&["--region", "eu-west-1", "cloudtrail", "describe-trails"]);
    assert_eq!(elsewhere["trailList"][0]["TrailARN"], arn);
    let own_only = server.aws_ok(&[
        "--region",
        "eu-west-1",
        "cloudtrail",
        "describe-trails",
        "--no-include-shadow-trails",
    ]);
    assert_eq!(own_only["trailList"], json!([]));
    let listed = server.aws_ok(&["--region", "eu-west-1", "cloudtrail", "list-trails"]);
    assert_eq!(
        listed["Trails"],
        json!([{"TrailARN": arn, "Name": "management", "HomeRegion": "us-east-1"}])
    );
    let err = server.aws_err(&[
        "--region",
        "eu-west-1",
        "cloudtrail",
        "stop-logging",
        "--name",
        arn,
    ]);
    assert!(err.contains("InvalidHomeRegionException"), "{err}");
    let err = server.aws_err(&["cloudtrail", "get-trail", "--name", "nothing"]);
    assert!(
        err.contains("TrailNotFoundException")
            && err.contains("arn:aws:cloudtrail:us-east-1:000000000000:trail/nothing"),
        "{err}"
    );
    let err = server.aws_err(&["cloudtrail", "get-trail", "--name", "arn:aws:s3:::bucket"]);
    assert!(err.contains("CloudTrailARNInvalidException"), "{err}");

    // Logging: stopped until started, with the times.
    let status = server.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    assert_eq!(status["IsLogging"], false);
    assert!(status.get("StartLoggingTime").is_none());
    server.aws_ok(&["cloudtrail", "start-logging", "--name", "management"]);
    server.aws_ok(&["cloudtrail", "stop-logging", "--name", "management"]);
    let status = server.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    assert_eq!(status["IsLogging"], false);
    let (started, stopped) = (
        status["StartLoggingTime"].as_f64().expect("a start"),
        status["StopLoggingTime"].as_f64().expect("a stop"),
    );
    assert!(started <= stopped && stopped <= now_ms() as f64 / 1000.0 + 1.0);

    // Update: a member given replaces, an empty one clears, the others stay.
    let updated = server.aws_ok(&[
        "cloudtrail",
        "update-trail",
        "--name",
        "management",
        "--s3-key-prefix",
        "",
        "--enable-log-file-validation",
    ]);
    assert!(updated.get("S3KeyPrefix").is_none(), "{updated}");
    assert_eq!(updated["LogFileValidationEnabled"], true);
    assert_eq!(updated["CloudWatchLogsLogGroupArn"], GROUP_ARN);
    let err = server.aws_err(&[
        "cloudtrail",
        "update-trail",
        "--name",
        "management",
        "--no-include-global-service-events",
    ]);
    assert!(
        err.contains("InvalidParameterCombinationException"),
        "{err}"
    );

    // Selectors: the default, basic ones, advanced ones, and not both.
    let selectors = server.aws_ok(&[
        "cloudtrail",
        "get-event-selectors",
        "--trail-name",
        "management",
    ]);
    assert_eq!(
        selectors["EventSelectors"],
        json!([{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [], "ExcludeManagementEventSources": []}])
    );
    server.aws_ok(&[
        "cloudtrail",
        "put-event-selectors",
        "--trail-name",
        "management",
        "--event-selectors",
        r#"[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true, "ExcludeManagementEventSources": ["kms.amazonaws.com"]}]"#,
    ]);
    let advanced = server.aws_ok(&[
        "cloudtrail",
        "put-event-selectors",
        "--trail-name",
        "management",
        "--advanced-event-selectors",
        r#"[{"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]"#,
    ]);
    assert_eq!(
        advanced["AdvancedEventSelectors"][0]["FieldSelectors"][0]["Field"],
        "eventCategory"
    );
    let got = server.aws_ok(&[
        "cloudtrail",
        "get-event-selectors",
        "--trail-name",
        "management",
    ]);
    assert!(got.get("EventSelectors").is_none(), "{got}");
    assert_eq!(
        got["AdvancedEventSelectors"],
        advanced["AdvancedEventSelectors"]
    );
    let err = server.aws_err(&[
        "cloudtrail",
        "put-event-selectors",
        "--trail-name",
        "management",
        "--event-selectors",
        r#"[{"ReadWriteType": "All"}]"#,
        "--advanced-event-selectors",
        r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]"#,
    ]);
    assert!(
        err.contains("InvalidParameterCombinationException"),
        "{err}"
    );
    let err = server.aws_err(&[
        "cloudtrail",
        "put-event-selectors",
        "--trail-name",
        "management",
        "--advanced-event-selectors",
        r#"[{"FieldSelectors": [{"Field": "eventName", "Equals": ["PutRolePolicy"]}]}]"#,
    ]);
    assert!(err.contains("InvalidEventSelectorsException"), "{err}");
    let got = server.aws_ok(&["cloudtrail", "get-trail", "--name", "management"]);
    assert_eq!(got["Trail"]["HasCustomEventSelectors"], true);

    // Tags.
    server.aws_ok(&[
        "cloudtrail",
        "add-tags",
        "--resource-id",
        arn,
        "--tags-list",
        "Key=env,Value=prod",
    ]);
    server.aws_ok(&[
        "cloudtrail",
        "remove-tags",
        "--resource-id",
        arn,
        "--tags-list",
        "Key=team",
    ]);
    let tags = server.aws_ok(&["cloudtrail", "list-tags", "--resource-id-list", arn]);
    assert_eq!(
        tags["ResourceTagList"],
        json!([{"ResourceId": arn, "TagsList": [{"Key": "env", "Value": "prod"}]}])
    );
    let err = server.aws_err(&[
        "cloudtrail",
        "list-tags",
        "--resource-id-list",
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/gone",
    ]);
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    // At most five trails a region; deleting one makes room, and it is gone.
    for n in 2..=5 {
        server.aws_ok(&[
            "cloudtrail",
            "create-trail",
            "--name",
            &format!("trail-{n}"),
            "--s3-bucket-name",
            "audit-logs",
        ]);
    }
    let err = server.aws_err(&[
        "cloudtrail",
        "create-trail",
        "--name",
        "trail-6",
        "--s3-bucket-name",
        "audit-logs",
    ]);
    assert!(
        err.contains("MaximumNumberOfTrailsExceededException"),
        "{err}"
    );
    server.aws_ok(&["cloudtrail", "delete-trail", "--name", "trail-5"]);
    let err = server.aws_err(&["cloudtrail", "get-trail-status", "--name", "trail-5"]);
    assert!(err.contains("TrailNotFoundException"), "{err}");

    // Who is calling: the key, in its account.
    let me = server.aws_ok(&["sts", "get-caller-identity"]);
    assert_eq!(me["Account"], ACCOUNT);
    assert_eq!(me["UserId"], ACCESS_KEY_ID);
    assert_eq!(
        me["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/{ACCESS_KEY_ID}")
    );
}

#[test]
fn a_folder_trail_carries_a_policy_change_to_the_cis_alarm_and_the_event_history() {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    let bucket = buckets.path().join("audit-logs");
    std::fs::create_dir(&bucket).expect("a bucket");
    let (_tmp, server) = folder_server(buckets.path());
    let subscriber = Subscriber::start();
    cis_control(&server, &subscriber);
    delivering_trail(&server, "management", "audit-logs");

    let now = now_ms();
    let change = event("PutRolePolicy", "policy-change-1", now);
    let unrelated = event("DescribeInstances", "unrelated-1", now);
    put_file(
        &bucket,
        &delivery_key("", "us-east-1", now, "a1"),
        &delivery_file(&[change.clone(), unrelated.clone()]),
    );

    let alarm = subscriber.wait_for("Notification", WAIT);
    let message: Value =
        serde_json::from_str(alarm.body["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(message["AlarmName"], "iam_changes_alarm");
    assert_eq!(message["NewStateValue"], "ALARM");

    // As CloudTrail delivers: one log event per event, in the account's and region's stream,
    // stamped with eventTime.
    let streams = server.aws_ok(&["logs", "describe-log-streams", "--log-group-name", GROUP]);
    assert_eq!(
        streams["logStreams"][0]["logStreamName"],
        "000000000000_CloudTrail_us-east-1"
    );
    let events = server.aws_ok(&["logs", "filter-log-events", "--log-group-name", GROUP]);
    let delivered = events["events"].as_array().expect("events");
    assert_eq!(delivered.len(), 2);
    // The message is the event's JSON exactly as the file held it.
    let mut messages: Vec<&str> = delivered
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    messages.sort();
    let mut written = vec![change.to_string(), unrelated.to_string()];
    written.sort();
    assert_eq!(messages, written);
    assert_eq!(delivered[0]["timestamp"], now / 1000 * 1000);

    let status = server.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    assert_eq!(status["IsLogging"], true);
    assert!(status["LatestDeliveryTime"].as_f64().is_some(), "{status}");
    assert!(
        status["LatestCloudWatchLogsDeliveryTime"]
            .as_f64()
            .is_some(),
        "{status}"
    );
    assert!(status.get("LatestDeliveryError").is_none(), "{status}");

    // The event history finds the event by name and by user.
    let by_name = server.aws_ok(&[
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=PutRolePolicy",
    ]);
    let found = &by_name["Events"];
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{by_name}");
    assert_eq!(found[0]["EventId"], "policy-change-1");
    let user = change["userIdentity"]["userName"]
        .as_str()
        .or_else(|| {
            change["userIdentity"]["arn"]
                .as_str()
                .and_then(|a| a.rsplit('/').next())
        })
        .expect("the event's user");
    let by_user = server.aws_ok(&[
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        &format!("AttributeKey=Username,AttributeValue={user}"),
    ]);
    let ids: Vec<&str> = by_user["Events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["EventId"].as_str())
        .collect();
    assert!(ids.contains(&"policy-change-1"), "{by_user}");
    let cloudtrail_event: Value =
        serde_json::from_str(found[0]["CloudTrailEvent"].as_str().expect("the event"))
            .expect("JSON");
    assert_eq!(cloudtrail_event["eventID"], "policy-change-1");
}

/// A folder server with two logging trails: `management` delivering bucket `audit-logs` to
/// `GROUP`, and `witness` delivering `witness-logs` to group `witness`, whose deliveries show
/// that the follower has looked since a file was written.
fn with_witness() -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    for b in ["audit-logs", "witness-logs"] {
        std::fs::create_dir(buckets.path().join(b)).expect("a bucket");
    }
    let (data, server) = folder_server(buckets.path());
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", "witness"]);
    delivering_trail(&server, "management", "audit-logs");
    logging_trail(
        &server,
        "witness",
        "witness-logs",
        &[
            "--cloud-watch-logs-log-group-arn",
            "arn:aws:logs:us-east-1:000000000000:log-group:witness:*",
            "--cloud-watch-logs-role-arn",
            ROLE_ARN,
        ],
    );
    (buckets, data, server)
}

#[test]
fn stop_logging_holds_intake_and_start_logging_reads_what_was_written_meanwhile() {
    let (buckets, _tmp, server) = with_witness();
    server.aws_ok(&["cloudtrail", "stop-logging", "--name", "management"]);

    let now = now_ms();
    put_file(
        &buckets.path().join("audit-logs"),
        &delivery_key("", "us-east-1", now, "while-stopped"),
        &delivery_file(&[event("PutRolePolicy", "while-stopped", now)]),
    );
    // A file for the witness trail, written after: once it is read, the follower has looked
    // since the first was written.
    put_file(
        &buckets.path().join("witness-logs"),
        &delivery_key("", "us-east-1", now, "witness"),
        &delivery_file(&[event("CreateUser", "witness", now)]),
    );
    eventually("the witness trail's delivery", &server, || {
        (!group_messages(&server, "witness").is_empty()).then_some(())
    });
    // Two more looks, to be sure the stopped trail is passed over and not merely late.
    for n in 0..2 {
        let key = delivery_key("", "us-east-1", now, &format!("witness-{n}"));
        put_file(
            &buckets.path().join("witness-logs"),
            &key,
            &delivery_file(&[event("CreateUser", &format!("witness-{n}"), now)]),
        );
        eventually("another witness delivery", &server, || {
            (group_messages(&server, "witness").len() == n + 2).then_some(())
        });
    }
    assert!(group_messages(&server, GROUP).is_empty());

    server.aws_ok(&["cloudtrail", "start-logging", "--name", "management"]);
    let messages = eventually("the delivery after StartLogging", &server, || {
        let m = group_messages(&server, GROUP);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("while-stopped"));
}

#[test]
fn a_malformed_object_shows_in_the_status_and_the_follower_goes_on() {
    let buckets = tempfile::tempdir().expect("a temporary directory");
    let bucket = buckets.path().join("audit-logs");
    std::fs::create_dir(&bucket).expect("a bucket");
    let (_tmp, server) = folder_server(buckets.path());
    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    delivering_trail(&server, "management", "audit-logs");

    let now = now_ms();
    let bad_key = delivery_key("", "us-east-1", now, "0-broken");
    let bad = put_file(
        &bucket,
        &bad_key,
        b"\x1f\x8b\x08\x00 this is no gzip stream",
    );
    // Written a while ago: whole, not in the middle of being written.
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&bad)
        .and_then(|f| f.set_modified(past))
        .expect("set the time");
    put_file(
        &bucket,
        &delivery_key("", "us-east-1", now, "1-good"),
        &delivery_file(&[event("PutRolePolicy", "after-the-broken-one", now)]),
    );
    eventually("the good file's delivery", &server, || {
        (!group_messages(&server, GROUP).is_empty()).then_some(())
    });
    let status = server.aws_ok(&["cloudtrail", "get-trail-status", "--name", "management"]);
    let error = status["LatestDeliveryError"].as_str().unwrap_or_default();
    assert!(error.contains(&bad_key), "{status}");
    assert_eq!(status["IsLogging"], true);
    assert!(server.log().contains("Malformed CloudTrail input"));
}

/// Events stored in the group, by id, every page (boto3's paginator).
fn stored_ids(server: &Server) -> Vec<String> {
    let out = server.python_ok("group_event_ids.py", &[("GROUP", GROUP)]);
    out.lines().map(str::to_owned).collect()
}

/// How many objects the trail's follower has recorded as read, from the store itself, read
/// as the server writes it (or after it is down): to kill it, and to know that the kill came,
/// in the middle of the backlog.
fn objects_read(data: &Path) -> usize {
    let store = rusqlite::Connection::open_with_flags(
        data.join("trailwatch.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the store opens");
    store
        .busy_timeout(WAIT)
        .and_then(|()| {
            store.query_row("SELECT count(*) FROM trail_objects", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| n as usize)
        .expect("the objects read")
}

#[test]
fn a_kill_in_the_middle_of_a_backlog_loses_nothing_and_counts_nothing_twice() {
    const FILES: usize = 400;
    const PER_FILE: usize = 40;
    let buckets = tempfile::tempdir().expect("a temporary directory");
    let bucket = buckets.path().join("audit-logs");
    std::fs::create_dir(&bucket).expect("a bucket");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data = tmp.path().join("data");
    let dir = buckets.path().to_str().expect("a path").to_owned();

    // The backlog: every other event a policy change; every tenth file delivers again five
    // events of the file before it, as CloudTrail may.
    let start = now_ms() - 30 * 60 * 1000;
    let mut unique = std::collections::BTreeSet::new();
    let mut changes = 0;
    let mut previous: Vec<Value> = Vec::new();
    for f in 0..FILES {
        let time = start + f as i64 * 1000;
        let mut events: Vec<Value> = (0..PER_FILE)
            .map(|i| {
                let id = format!("e-{f:04}-{i:02}");
                let name = if i % 2 == 0 {
                    "PutRolePolicy"
                } else {
                    "DescribeInstances"
                };
                if unique.insert(id.clone()) && i % 2 == 0 {
                    changes += 1;
                }
                event(name, &id, time)
            })
            .collect();
        if f % 10 == 9 {
            events.extend(previous.iter().take(5).cloned());
        }
        put_file(
            &bucket,
            &delivery_key("", "us-east-1", time, &format!("{f:04}")),
            &delivery_file(&events),
        );
        previous = events;
    }

    let mut server = Server::start_in(&data, &["--s3-dir", &dir]);
    cis_filter(&server);
    delivering_trail(&server, "management", "audit-logs");
    // Killed as soon as the first delivery is in the store, looked at every millisecond: the
    // whole backlog takes a fraction of a second, less than asking the server's API does.
    let deadline = Instant::now() + WAIT;
    while objects_read(&data) == 0 {
        assert!(
            Instant::now() < deadline,
            "no delivery within {WAIT:?}; server log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    let read_before = objects_read(&data);
    assert!(
        read_before > 0 && read_before < FILES,
        "the kill came after {read_before} of {FILES} objects: not in the middle"
    );

    let server = Server::start_in(&data, &["--s3-dir", &dir]);
    eventually("the rest of the backlog", &server, || {
        (objects_read(&data) == FILES).then_some(())
    });
    let mut ids = stored_ids(&server);
    ids.sort();
    let expected: Vec<String> = unique.iter().cloned().collect();
    assert_eq!(ids, expected, "every event once");

    let now = now_ms() / 1000;
    let stats = server.aws_ok(&[
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "CISBenchmark",
        "--metric-name",
        "iam_changes_metric",
        "--start-time",
        &(now - 7200).to_string(),
        "--end-time",
        &(now + 600).to_string(),
        "--period",
        "86400",
        "--statistics",
        "Sum",
    ]);
    let sum: f64 = stats["Datapoints"]
        .as_array()
        .expect("datapoints")
        .iter()
        .map(|d| d["Sum"].as_f64().expect("a sum"))
        .sum();
    assert_eq!(
        sum, changes as f64,
        "the metric counts each policy change once"
    );
}

/// moto's S3 server on a free port, until dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let child = Command::new(venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }

    /// Runs a boto3 S3 snippet against moto; `s3` is the client, `sys.argv[1:]` the args.
    fn s3(&self, code: &str, args: &[&str]) {
        let script = format!(
            "import sys, boto3\ns3 = boto3.client('s3', endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='moto', aws_secret_access_key='moto')\n{code}",
            self.url
        );
        let out = Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(script)
            .args(args)
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_s3_trail_carries_a_policy_change_put_by_boto3_to_the_cis_alarm() {
    let moto = Moto::start();
    moto.s3("s3.create_bucket(Bucket='org-audit-logs')", &[]);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let server = Server::start_with_env(
        &tmp.path().join("data"),
        &["--s3-endpoint-url", &moto.url],
        &[
            ("TRAILWATCH_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("TRAILWATCH_SECRET_ACCESS_KEY", common::SECRET_ACCESS_KEY),
            ("AWS_ACCESS_KEY_ID", "moto"),
            ("AWS_SECRET_ACCESS_KEY", "moto"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let subscriber = Subscriber::start();
    cis_control(&server, &subscriber);
    let err = server.aws_err(&[
        "cloudtrail",
        "create-trail",
        "--name",
        "elsewhere",
        "--s3-bucket-name",
        "no-such-bucket",
    ]);
    assert!(err.contains("S3BucketDoesNotExistException"), "{err}");
    delivering_trail(&server, "management", "org-audit-logs");
    server.aws_ok(&[
        "cloudtrail",
        "update-trail",
        "--name",
        "management",
        "--s3-key-prefix",
        "ct",
    ]);

    let now = now_ms();
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(
        file.path(),
        delivery_file(&[event("PutRolePolicy", "s3-policy-change", now)]),
    )
    .expect("write");
    let key = delivery_key("ct", "eu-west-1", now, "s3");
    moto.s3(
        "s3.put_object(Bucket='org-audit-logs', Key=sys.argv[1], Body=open(sys.argv[2], 'rb').read())",
        &[&key, file.path().to_str().expect("a path")],
    );

    let alarm = subscriber.wait_for("Notification", WAIT);
    let message: Value =
        serde_json::from_str(alarm.body["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(message["AlarmName"], "iam_changes_alarm");
    let streams = server.aws_ok(&["logs", "describe-log-streams", "--log-group-name", GROUP]);
    assert_eq!(
        streams["logStreams"][0]["logStreamName"],
        "000000000000_CloudTrail_eu-west-1"
    );
}

#[test]
fn a_file_seen_empty_while_it_is_copied_in_is_read_once_it_is_whole() {
    let (buckets, _tmp, server) = with_witness();

    // As `cp` does: the file is there, empty, before its bytes are.
    let now = now_ms();
    let path = buckets
        .path()
        .join("audit-logs")
        .join(delivery_key("", "us-east-1", now, "copied"));
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
    std::fs::write(&path, b"").expect("an empty file");
    // The follower has looked since the empty file appeared once the witness is in.
    put_file(
        &buckets.path().join("witness-logs"),
        &delivery_key("", "us-east-1", now, "witness"),
        &delivery_file(&[event("CreateUser", "witness", now)]),
    );
    eventually("the witness trail's delivery", &server, || {
        (!group_messages(&server, "witness").is_empty()).then_some(())
    });
    std::fs::write(
        &path,
        delivery_file(&[event("PutRolePolicy", "copied-in", now)]),
    )
    .expect("the file's bytes");
    let messages = eventually("the copied file's event", &server, || {
        let m = group_messages(&server, GROUP);
        (!m.is_empty()).then_some(m)
    });
    assert!(messages[0].contains("copied-in"));
}
