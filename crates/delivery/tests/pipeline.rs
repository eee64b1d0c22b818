//! The whole pipeline in process, on a manual clock: a CloudTrail event through PutLogEvents,
//! the metric filter's datapoint, the alarm's transition, its outbox message, and the delivery
//! worker's signed POST to a receiver on loopback.

use std::sync::Arc;
use std::time::Duration;

use delivery::{SignatureVersion, SigningKey, Worker, WorkerLimits};
use engine::{Config, Engine, ManualClock};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A receiver that answers every POST with 200 and hands over its JSON body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let mut stream = reader.into_inner();
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            });
        }
    });
    (url, rx)
}

async fn next_of(rx: &mut mpsc::UnboundedReceiver<Value>, kind: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let message = rx.recv().await.expect("the receiver runs");
            if message["Type"] == kind {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} within 30 s"))
}

/// Checks a message's signature as SNS validators do: the string to sign from the message's
/// own fields, against the signing certificate.
fn check_signature(message: &Value, key: &SigningKey) {
    let fields: &[&str] = if message["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut text = String::new();
    for f in fields {
        if let Some(v) = message[*f].as_str() {
            text.push_str(&format!("{f}\n{v}\n"));
        }
    }
    delivery::verify(
        key.cert_pem(),
        SignatureVersion::V1,
        text.as_bytes(),
        message["Signature"].as_str().expect("a signature"),
    )
    .expect("a valid signature");
}

fn request<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a well-formed request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_reaches_the_subscriber_through_every_stage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now_ms = 1_800_000_000_000;
    let clock = Arc::new(ManualClock::at(now_ms));
    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("store");
    let engine = Arc::new(Engine::with_clock(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        Arc::new(store),
        clock.clone(),
    ));
    let key = Arc::new(SigningKey::load_or_create(dir.path()).expect("a signing key"));
    let worker = Worker::new(
        engine.clone(),
        key.clone(),
        "https://sns.example/cert.pem",
        WorkerLimits::default(),
    )
    .expect("a worker");
    tokio::spawn(worker.run());
    let (url, mut received) = receiver().await;

    let logs = engine.logs(&Default::default());
    logs.create_log_group(request(json!({"logGroupName": "trail"})))
        .await
        .expect("group");
    logs.create_log_stream(request(
        json!({"logGroupName": "trail", "logStreamName": "s"}),
    ))
    .await
    .expect("stream");
    logs.put_metric_filter(request(json!({
        "logGroupName": "trail", "filterName": "iam",
        "filterPattern": "{ $.eventName = \"PutRolePolicy\" }",
        "metricTransformations": [{"metricName": "iam", "metricNamespace": "CIS", "metricValue": "1"}],
    })))
    .await
    .expect("filter");
    let topics = engine.topics(&Default::default());
    let topic = topics
        .create_topic(request(json!({"Name": "alarms"})))
        .await
        .expect("topic")
        .topic_arn;
    topics
        .subscribe(request(
            json!({"TopicArn": topic, "Protocol": "http", "Endpoint": url}),
        ))
        .await
        .expect("subscribe");
    let confirmation = next_of(&mut received, "SubscriptionConfirmation").await;
    check_signature(&confirmation, &key);
    topics
        .confirm_subscription(request(
            json!({"TopicArn": topic, "Token": confirmation["Token"]}),
        ))
        .await
        .expect("confirm");
    engine
        .alarms(&Default::default())
        .put_metric_alarm(request(json!({
            "AlarmName": "iam_changes", "Namespace": "CIS", "MetricName": "iam",
            "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": [topic],
        })))
        .await
        .expect("alarm");

    let event = json!({
        "eventVersion": "1.08", "eventSource": "iam.amazonaws.com",
        "eventName": "PutRolePolicy", "awsRegion": "us-east-1",
    });
    let put = logs
        .put_log_events(request(json!({
            "logGroupName": "trail", "logStreamName": "s",
            "logEvents": [{"timestamp": now_ms, "message": event.to_string()}],
        })))
        .await
        .expect("PutLogEvents");
    assert!(put.rejected_log_events_info.is_none());

    let notification = next_of(&mut received, "Notification").await;
    check_signature(&notification, &key);
    assert_eq!(
        notification["Subject"],
        "ALARM: \"iam_changes\" in US East (N. Virginia)"
    );
    let message: Value = serde_json::from_str(notification["Message"].as_str().expect("a message"))
        .expect("the alarm's JSON");
    assert_eq!(message["NewStateValue"], "ALARM");
    assert_eq!(message["OldStateValue"], "INSUFFICIENT_DATA");
    assert_eq!(message["Trigger"]["MetricName"], "iam");
}
