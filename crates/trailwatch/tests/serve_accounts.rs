//! Several keys, each of an account, on one server: `trailwatch keys` adds, lists and removes
//! them on a stopped or running server; a request is served in its key's account, which never
//! sees another account's resources; topics of another account answer as their policy says.
//! Driven by the AWS CLI against the real `trailwatch serve`.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Subscriber, http_get, split_url, trailwatch};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A key added with `trailwatch keys add`: its id and secret, read from the export lines.
struct Key {
    id: String,
    secret: String,
}

fn add_key(data_dir: &std::path::Path, account: &str) -> Key {
    let dir = data_dir.display().to_string();
    let out = trailwatch(
        &[
            "keys",
            "add",
            "--data-dir",
            &dir,
            "--account-id",
            account,
            "--description",
            "team",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    Key {
        id: value("AWS_ACCESS_KEY_ID"),
        secret: value("AWS_SECRET_ACCESS_KEY"),
    }
}

fn ok_as(server: &Server, key: &Key, args: &[&str]) -> Value {
    let out = server.aws_as(args, &key.id, &key.secret);
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON")
    }
}

fn err_as(server: &Server, key: &Key, args: &[&str]) -> String {
    let out = server.aws_as(args, &key.id, &key.secret);
    assert!(!out.status.success(), "aws {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The same resources, by the same names, in the key's account.
fn set_up(server: &Server, key: &Key) -> String {
    ok_as(
        server,
        key,
        &["logs", "create-log-group", "--log-group-name", "g"],
    );
    ok_as(
        server,
        key,
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
        ],
    );
    ok_as(
        server,
        key,
        &[
            "cloudwatch",
            "put-metric-data",
            "--namespace",
            "n",
            "--metric-name",
            "m",
            "--value",
            "1",
        ],
    );
    let topic = ok_as(server, key, &["sns", "create-topic", "--name", "t"]);
    topic["TopicArn"].as_str().expect("TopicArn").to_owned()
}

#[test]
fn keys_of_two_accounts_see_only_their_own_resources() {
    let server = Server::start();
    // Added while the server runs, and usable at once.
    let a = add_key(&server.data_dir, "111122223333");
    let b = add_key(&server.data_dir, "444455556666");
    let topic_a = set_up(&server, &a);
    let topic_b = set_up(&server, &b);
    assert_eq!(topic_a, "arn:aws:sns:us-east-1:111122223333:t");
    assert_eq!(topic_b, "arn:aws:sns:us-east-1:444455556666:t");

    for (key, account) in [(&a, "111122223333"), (&b, "444455556666")] {
        let topics = ok_as(&server, key, &["sns", "list-topics"]);
        assert_eq!(
            topics["Topics"],
            json!([{"TopicArn": format!("arn:aws:sns:us-east-1:{account}:t")}])
        );
        let groups = ok_as(&server, key, &["logs", "describe-log-groups"]);
        assert_eq!(
            groups["logGroups"][0]["logGroupArn"],
            format!("arn:aws:logs:us-east-1:{account}:log-group:g")
        );
        assert_eq!(groups["logGroups"].as_array().map(Vec::len), Some(1));
        let alarms = ok_as(&server, key, &["cloudwatch", "describe-alarms"]);
        assert_eq!(
            alarms["MetricAlarms"][0]["AlarmArn"],
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:a")
        );
        assert_eq!(alarms["MetricAlarms"].as_array().map(Vec::len), Some(1));
        let attributes = ok_as(
            &server,
            key,
            &[
                "sns",
                "get-topic-attributes",
                "--topic-arn",
                &format!("arn:aws:sns:us-east-1:{account}:t"),
            ],
        );
        assert_eq!(attributes["Attributes"]["Owner"], account);
    }
    // The server's own key sees neither.
    assert_eq!(server.aws_ok(&["sns", "list-topics"])["Topics"], json!([]));
    assert_eq!(
        server.aws_ok(&["cloudwatch", "list-metrics"])["Metrics"],
        json!([])
    );

    // Another account's topic answers as its policy says: by default, to its owner only.
    let err = err_as(
        &server,
        &b,
        &["sns", "publish", "--topic-arn", &topic_a, "--message", "m"],
    );
    assert!(err.contains("(AuthorizationError)"), "{err}");
    assert!(
        err.contains("User: arn:aws:iam::444455556666:root is not authorized to perform: SNS:Publish on resource: arn:aws:sns:us-east-1:111122223333:t"),
        "{err}"
    );
    let err = err_as(
        &server,
        &b,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic_a,
            "--protocol",
            "http",
            "--notification-endpoint",
            "http://127.0.0.1:9/",
        ],
    );
    assert!(err.contains("(AuthorizationError)"), "{err}");
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["SNS:Publish", "SNS:GetTopicAttributes", "SNS:Subscribe"],
        "Resource": topic_a,
    }]});
    ok_as(
        &server,
        &a,
        &[
            "sns",
            "set-topic-attributes",
            "--topic-arn",
            &topic_a,
            "--attribute-name",
            "Policy",
            "--attribute-value",
            &policy.to_string(),
        ],
    );
    ok_as(
        &server,
        &b,
        &["sns", "publish", "--topic-arn", &topic_a, "--message", "m"],
    );
    let attributes = ok_as(
        &server,
        &b,
        &["sns", "get-topic-attributes", "--topic-arn", &topic_a],
    );
    assert_eq!(attributes["Attributes"]["Owner"], "111122223333");
    // B's subscription to A's topic is B's: listed, read and removed by B, not by others.
    let sub = ok_as(
        &server,
        &b,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic_a,
            "--protocol",
            "http",
            "--notification-endpoint",
            "http://127.0.0.1:9/b",
            "--return-subscription-arn",
        ],
    );
    let sub_arn = sub["SubscriptionArn"].as_str().expect("SubscriptionArn");
    assert!(sub_arn.starts_with(&format!("{topic_a}:")), "{sub_arn}");
    let listed = ok_as(&server, &b, &["sns", "list-subscriptions"]);
    assert_eq!(listed["Subscriptions"][0]["TopicArn"], topic_a.as_str());
    assert_eq!(listed["Subscriptions"][0]["Owner"], "444455556666");
    let by_topic = ok_as(
        &server,
        &a,
        &[
            "sns",
            "list-subscriptions-by-topic",
            "--topic-arn",
            &topic_a,
        ],
    );
    assert_eq!(by_topic["Subscriptions"].as_array().map(Vec::len), Some(1));
    let c = add_key(&server.data_dir, "222233334444");
    let err = err_as(
        &server,
        &c,
        &["sns", "unsubscribe", "--subscription-arn", sub_arn],
    );
    assert!(err.contains("(AuthorizationError)"), "{err}");
    ok_as(
        &server,
        &b,
        &["sns", "unsubscribe", "--subscription-arn", sub_arn],
    );
    let err = err_as(
        &server,
        &b,
        &["sns", "delete-topic", "--topic-arn", &topic_a],
    );
    assert!(err.contains("(AuthorizationError)"), "{err}");

    // Listed without secrets; removed, a key is refused within a second or so.
    let dir = server.data_dir.display().to_string();
    let list = trailwatch(&["keys", "list", "--data-dir", &dir], &[]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&a.id) && listed.contains("111122223333"),
        "{listed}"
    );
    assert!(!listed.contains(&a.secret), "a secret was listed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data_dir.join("keys.json"))
            .expect("keys.json")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = trailwatch(&["keys", "remove", "--data-dir", &dir, &a.id], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let out = server.aws_as(&["sns", "list-topics"], &a.id, &a.secret);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("InvalidClientTokenId"), "{err}");
            break;
        }
        assert!(Instant::now() < deadline, "a removed key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok_as(&server, &b, &["sns", "list-topics"]);
    assert!(
        !server.log().contains(&b.secret),
        "a secret reached the log"
    );
}

#[test]
fn keys_added_to_a_stopped_server_work_when_it_starts() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let key = add_key(&data, "777788889999");
    let server = Server::start_in(&data, &[]);
    let topic = ok_as(&server, &key, &["sns", "create-topic", "--name", "t"]);
    assert_eq!(topic["TopicArn"], "arn:aws:sns:us-east-1:777788889999:t");
}

#[test]
fn a_link_of_one_region_does_not_act_on_another() {
    let server = Server::start();
    let subscriber = Subscriber::start().without_confirming();
    let arn = server.aws_ok(&[
        "--region",
        "eu-west-1",
        "sns",
        "create-topic",
        "--name",
        "t",
    ])["TopicArn"]
        .as_str()
        .expect("TopicArn")
        .to_owned();
    server.aws_ok(&[
        "--region",
        "eu-west-1",
        "sns",
        "subscribe",
        "--topic-arn",
        &arn,
        "--protocol",
        "http",
        "--notification-endpoint",
        &subscriber.url,
    ]);
    let confirmation = subscriber.wait_for("SubscriptionConfirmation", WAIT);
    let url = confirmation.body["SubscribeURL"]
        .as_str()
        .expect("SubscribeURL")
        .to_owned();
    assert!(
        url.contains("/eu-west-1/?Action=ConfirmSubscription"),
        "{url}"
    );
    let (base, path) = split_url(&url);
    let elsewhere = path.replace("/eu-west-1/", "/us-east-1/");
    let refused = http_get(&base, &elsewhere).expect("an answer");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("Invalid parameter: TopicArn"),
        "{}",
        refused.body
    );
    let confirmed = http_get(&base, &path).expect("an answer");
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    // An UnsubscribeURL likewise: Ireland's subscription through Virginia's link is refused,
    // through Ireland's removes it.
    let subs = server.aws_ok(&["--region", "eu-west-1", "sns", "list-subscriptions"]);
    let sub_arn = subs["Subscriptions"][0]["SubscriptionArn"]
        .as_str()
        .expect("SubscriptionArn")
        .to_owned();
    let unsubscribe = |region: &str| {
        let path = format!("/{region}/?Action=Unsubscribe&SubscriptionArn={sub_arn}");
        http_get(&base, &path).expect("an answer")
    };
    let refused = unsubscribe("us-east-1");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("Invalid parameter: SubscriptionArn"),
        "{}",
        refused.body
    );
    assert_eq!(unsubscribe("eu-west-1").status, 200);
    let subs = server.aws_ok(&["--region", "eu-west-1", "sns", "list-subscriptions"]);
    assert_eq!(subs["Subscriptions"], json!([]));
}
