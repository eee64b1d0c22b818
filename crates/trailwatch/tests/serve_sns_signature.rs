//! SNS messages from `trailwatch serve` pass AWS's own signature validator (the Node.js
//! `sns-validator`), fetching the certificate from the message's `SigningCertURL`; altered
//! messages fail it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, Subscriber, free_port, node_checks};
use serde_json::Value;

#[test]
fn confirmation_and_notification_signatures_pass_sns_validator() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    // Validators accept certificates only from https URLs: the server is told the URL of the
    // TLS proxy that would front it (here the same address; the test reaches it over HTTP).
    let public = format!("https://127.0.0.1:{port}");
    let server = Server::start_in(
        &tmp.path().join("data"),
        &["--listen", &listen, "--public-url", &public],
    );
    let subscriber = Subscriber::start();
    let topic = server.aws_ok(&["sns", "create-topic", "--name", "signed"]);
    let arn = topic["TopicArn"].as_str().expect("arn").to_owned();
    server.aws_ok(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &arn,
        "--protocol",
        "http",
        "--notification-endpoint",
        &subscriber.url,
    ]);
    let confirmation = subscriber.wait_for("SubscriptionConfirmation", Duration::from_secs(30));
    let cert_url = confirmation.body["SigningCertURL"]
        .as_str()
        .expect("cert url");
    assert!(
        cert_url.starts_with(&format!("{public}/SimpleNotificationService-"))
            && cert_url.ends_with(".pem"),
        "{cert_url}"
    );
    server.aws_ok(&[
        "sns",
        "publish",
        "--topic-arn",
        &arn,
        "--subject",
        "Signed",
        "--message",
        "a message with \"quotes\", a newline\nand ünïcödé",
    ]);
    let notification = subscriber.wait_for("Notification", Duration::from_secs(30));
    assert_eq!(notification.body["SignatureVersion"], "1");

    // SignatureVersion 2 (SHA256withRSA), a topic attribute.
    server.aws_ok(&[
        "sns",
        "set-topic-attributes",
        "--topic-arn",
        &arn,
        "--attribute-name",
        "SignatureVersion",
        "--attribute-value",
        "2",
    ]);
    server.aws_ok(&[
        "sns",
        "publish",
        "--topic-arn",
        &arn,
        "--message",
        "version 2",
        "--message-attributes",
        r#"{"team":{"DataType":"String","StringValue":"security"}}"#,
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let v2 = loop {
        if let Some(r) = subscriber
            .all()
            .into_iter()
            .find(|r| r.body["SignatureVersion"] == "2")
        {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no version 2 message");
        std::thread::sleep(Duration::from_millis(50));
    };

    // Message attributes travel outside the signed text; validators accept them.
    assert_eq!(v2.body["MessageAttributes"]["team"]["Value"], "security");
    let messages = Value::Array(vec![confirmation.body, notification.body, v2.body]);
    let file = tmp.path().join("messages.json");
    std::fs::write(&file, messages.to_string()).expect("write");
    let dir = node_checks();
    let out = Command::new("node")
        .arg(dir.join("validate.js"))
        .arg(&file)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sns-validator: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("valid SubscriptionConfirmation"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("valid Notification").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("rejected").count(), 3, "{stdout}");
}
