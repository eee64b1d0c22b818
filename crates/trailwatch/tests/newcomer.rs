//! What a newcomer runs after the two README commands: `trailwatch credentials` to prepare a
//! terminal, and `trailwatch listen` to see notifications arrive, signatures checked.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, Subscriber, binary, venv};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn credentials_prepare_a_terminal_for_the_server() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data = tmp.path().join("data");
    // No key in the environment: the server generates one and keeps it in the data directory.
    let server = Server::start_with_env(&data, &[], &[]);
    let data_arg = data.to_str().expect("a path");
    let out = common::trailwatch(&["credentials", "--data-dir", data_arg], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    let keys: Vec<&str> = lines
        .lines()
        .map(|l| l.split('=').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "export AWS_ACCESS_KEY_ID",
            "export AWS_SECRET_ACCESS_KEY",
            "export AWS_ENDPOINT_URL",
            "export AWS_REGION",
            "export AWS_DEFAULT_REGION"
        ]
    );
    assert!(
        lines.contains(&format!("export AWS_ENDPOINT_URL={}\n", server.url)),
        "{lines}"
    );
    assert!(
        server.log().contains(&format!(
            "To point a terminal's AWS tools at this server: eval \"$({} credentials --data-dir {data_arg})\"",
            binary().display()
        )),
        "{}",
        server.log()
    );
    // A shell that evals them reaches the server with the AWS CLI and nothing else set.
    let script = format!(
        "eval \"$({} credentials --data-dir {data_arg})\" && aws sts get-caller-identity --output json",
        binary().display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", format!("{}/bin:/usr/bin:/bin", venv().display()))
        .env("HOME", tmp.path())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(me["Account"], "000000000000");

    // A data directory no server has used says what to do.
    let out = common::trailwatch(
        &[
            "credentials",
            "--data-dir",
            tmp.path().join("none").to_str().expect("a path"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no credentials: start `trailwatch serve --data-dir"),
        "{stderr}"
    );
}

/// A running `trailwatch listen --json`, its lines as they come.
struct Listen {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
}

impl Listen {
    fn start() -> Listen {
        let mut child = Command::new(binary())
            .args(["listen", "--listen", "127.0.0.1:0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("listen starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(WAIT).expect("the first line");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        Listen { child, url, lines }
    }

    /// The next message it printed.
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("a message within the time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Stops it as Ctrl-C does; its exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                return exit;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "listen did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// POSTs a message to `url`; the status it answers.
fn post(url: &str, body: &str) -> u16 {
    common::http(
        url,
        "POST",
        "/",
        &[("Content-Type", "text/plain")],
        body.as_bytes(),
    )
    .expect("an answer")
    .status
}

#[test]
fn listen_confirms_checks_signatures_and_prints_each_notification() {
    let server = Server::start();
    let listen = Listen::start();
    // A second subscriber keeps the raw messages, to forge one from.
    let raw = Subscriber::start();
    let topic = server.subscribed_topic("alerts", &raw);
    server.aws_ok(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "http",
        "--notification-endpoint",
        &format!("{}/", listen.url),
    ]);
    let confirmed = listen.next();
    assert_eq!(confirmed["type"], "SubscriptionConfirmation");
    assert_eq!(confirmed["confirmed"], true, "{confirmed}");
    assert_eq!(
        confirmed["signature"],
        serde_json::json!({"verified": true, "version": "1"})
    );
    assert_eq!(confirmed["topic_arn"], topic.as_str());

    server.aws_ok(&[
        "sns",
        "publish",
        "--topic-arn",
        &topic,
        "--subject",
        "hi",
        "--message",
        "first",
    ]);
    let first = listen.next();
    assert_eq!(
        (
            first["type"].as_str(),
            first["message"].as_str(),
            first["subject"].as_str()
        ),
        (Some("Notification"), Some("first"), Some("hi"))
    );
    assert_eq!(first["signature"]["verified"], true);
    assert_eq!(first["refused"], false);

    // SignatureVersion 2 (SHA256withRSA).
    server.aws_ok(&[
        "sns",
        "set-topic-attributes",
        "--topic-arn",
        &topic,
        "--attribute-name",
        "SignatureVersion",
        "--attribute-value",
        "2",
    ]);
    server.aws_ok(&[
        "sns",
        "publish",
        "--topic-arn",
        &topic,
        "--message",
        "second",
    ]);
    let second = listen.next();
    assert_eq!(second["message"], "second");
    assert_eq!(
        second["signature"],
        serde_json::json!({"verified": true, "version": "2"})
    );

    // An alarm notification reads as one.
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "policy-changes",
        "--namespace",
        "CISBenchmark",
        "--metric-name",
        "m",
        "--statistic",
        "Sum",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--comparison-operator",
        "GreaterThanOrEqualToThreshold",
        "--alarm-actions",
        &topic,
    ]);
    server.aws_ok(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "policy-changes",
        "--state-value",
        "ALARM",
        "--state-reason",
        "a policy changed",
    ]);
    let alarm = listen.next();
    assert_eq!(alarm["alarm"]["name"], "policy-changes");
    assert_eq!(alarm["alarm"]["old_state"], "INSUFFICIENT_DATA");
    assert_eq!(alarm["alarm"]["new_state"], "ALARM");
    assert_eq!(alarm["alarm"]["reason"], "a policy changed");
    assert!(alarm["alarm"]["time"].is_string());

    // A genuine message altered on the way, and one that is not SNS's at all.
    let genuine = raw
        .wait_until(WAIT, |got| {
            got.iter().find(|r| r.body["Message"] == "first").cloned()
        })
        .expect("the raw message");
    let mut forged = genuine.body.clone();
    forged["Message"] = "transfer all the money".into();
    assert_eq!(post(&listen.url, &forged.to_string()), 403, "refused");
    let seen = listen.next();
    assert_eq!(seen["refused"], true);
    assert_eq!(seen["message"], "transfer all the money");
    assert_eq!(seen["signature"]["verified"], false);
    assert!(
        seen["signature"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not what") && e.contains("signed")),
        "{seen}"
    );
    let mut elsewhere = genuine.body.clone();
    elsewhere["SigningCertURL"] = "https://attacker.example/SimpleNotificationService-1.pem".into();
    assert_eq!(post(&listen.url, &elsewhere.to_string()), 403, "refused");
    let seen = listen.next();
    assert!(
        seen["signature"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("--trust-host attacker.example")),
        "{seen}"
    );

    assert!(listen.interrupt().success(), "Ctrl-C stops it cleanly");
}
