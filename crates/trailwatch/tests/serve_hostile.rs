//! Hostile clients and failing subscribers against the real `trailwatch serve`: each
//! `regression_…` test pins one of the failures found by trying (issue 10), and fails on a
//! build that has it (run the suite against another build with `TRAILWATCH_TEST_BINARY`).
//! All traffic stays on loopback; every loop is bounded in count and time.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Answer, Received, Server, Subscriber, http_get, split_url};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// The ARN of the topic's one subscription.
fn subscription_of(server: &Server, topic: &str) -> String {
    let subs = server.aws_ok(&["sns", "list-subscriptions-by-topic", "--topic-arn", topic]);
    subs["Subscriptions"][0]["SubscriptionArn"]
        .as_str()
        .expect("SubscriptionArn")
        .to_owned()
}

/// An alarm that fires on the first datapoint of `Test/<name>` and notifies `topic`.
fn alarm(server: &Server, name: &str, topic: &str) {
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        name,
        "--namespace",
        "Test",
        "--metric-name",
        name,
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
        topic,
    ]);
}

/// Message ids of the Notifications received, one per attempt.
fn notification_ids(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.body["Type"] == "Notification")
        .filter_map(|r| r.body["MessageId"].as_str().map(str::to_owned))
        .collect()
}

/// Publishes `count` messages to `topic` from `threads` boto3 clients at once; their ids.
fn publish_many(server: &Server, topic: &str, count: usize, threads: usize) -> Vec<String> {
    let out = server.python_ok(
        "publish_many.py",
        &[
            ("TOPIC_ARN", topic),
            ("COUNT", &count.to_string()),
            ("THREADS", &threads.to_string()),
        ],
    );
    out.lines().map(str::to_owned).collect()
}

/// Pending deliveries the server still has, by its operator API.
fn pending(server: &Server) -> usize {
    server.deliveries(&["list", "--state", "pending"])["deliveries"]
        .as_array()
        .map_or(0, Vec::len)
}

/// The first failed delivery, once there is one.
fn first_failed(server: &Server, what: &str) -> Value {
    let mut failed = Value::Null;
    eventually(what, || {
        failed = server.deliveries(&["list", "--state", "failed"]);
        failed["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
    });
    failed
}

/// Polls `check` until it holds, within `WAIT`.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 10, item 1: idle sockets from an unauthenticated client filled the server's file
/// limit, so requests timed out and an ALARM notification failed for "Too many open files".
#[test]
fn regression_idle_connections_exhaust_file_descriptors() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with_file_limit(&tmp.path().join("data"), &[], 256);
    let subscriber = Subscriber::start();
    let topic = server.subscribed_topic("fd-alarms", &subscriber);
    alarm(&server, "fd_alarm", &topic);

    // More idle connections than the server has file descriptors. A server that stops
    // accepting fills its backlog, and connecting then blocks: give up on it after a while.
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let mut idle = Vec::new();
    let mut refused = 0;
    while idle.len() < 400 && refused < 3 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => idle.push(s),
            Err(_) => refused += 1,
        }
    }

    let started = Instant::now();
    let out = server.aws(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "Test",
        "--metric-name",
        "fd_alarm",
        "--value",
        "5",
        "--cli-connect-timeout",
        "5",
        "--cli-read-timeout",
        "10",
    ]);
    assert!(
        out.status.success(),
        "a signed request failed beside 400 idle connections after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    let notification = subscriber.wait_for("Notification", WAIT);
    assert!(
        notification.body["Subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("ALARM: \"fd_alarm\"")),
        "{notification:?}"
    );
    println!(
        "beside {} idle connections under a file limit of 256: the request and the ALARM notification took {:?}",
        idle.len(),
        started.elapsed()
    );
    assert_eq!(
        idle.len(),
        400,
        "connecting stopped working after {} connections",
        idle.len()
    );
    assert!(
        !server.log().contains("Too many open files"),
        "{}",
        server.log()
    );
    drop(idle);
}

/// Issue 10, item 2: a notification whose retries ran out was dropped in silence, and alarm
/// history still said the action succeeded.
#[test]
fn regression_exhausted_retries_drop_notifications_in_silence() {
    let server = Server::start();
    let subscriber = Subscriber::answering(Answer::ServerError);
    let topic = server.subscribed_topic("down", &subscriber);
    let subscription = subscription_of(&server, &topic);
    // Two attempts, one second apart, instead of SNS's default four over a minute.
    server.aws_ok(&[
        "sns",
        "set-subscription-attributes",
        "--subscription-arn",
        &subscription,
        "--attribute-name",
        "DeliveryPolicy",
        "--attribute-value",
        r#"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":1,"maxDelayTarget":1}}"#,
    ]);
    alarm(&server, "down_alarm", &topic);
    server.aws_ok(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "Test",
        "--metric-name",
        "down_alarm",
        "--value",
        "5",
    ]);

    let failed = first_failed(&server, "the notification becomes a failed delivery");
    let delivery = &failed["deliveries"][0];
    assert_eq!(delivery["type"], "Notification");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    assert!(
        delivery["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{delivery}"
    );
    let message_id = delivery["messageId"]
        .as_str()
        .expect("messageId")
        .to_owned();
    let attempts = notification_ids(&subscriber.all());
    assert_eq!(
        attempts,
        vec![message_id.clone(); 2],
        "both attempts reached it"
    );
    let counts = &failed["subscriptions"][0];
    assert_eq!(
        (counts["failed"].as_i64(), counts["pending"].as_i64()),
        (Some(1), Some(0))
    );

    // The alarm's history says the action failed, as CloudWatch's does.
    let history = server.aws_ok(&[
        "cloudwatch",
        "describe-alarm-history",
        "--alarm-name",
        "down_alarm",
        "--history-item-type",
        "Action",
    ]);
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["HistorySummary"].as_str())
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with(&format!("Failed to execute action {topic}. Reason:"))),
        "{summaries:?}"
    );

    // The subscriber comes back; the operator sends the message again, with its MessageId.
    subscriber.answer(Answer::Ok);
    let redriven = server.deliveries(&["redrive", "--subscription", &subscription]);
    assert_eq!(redriven["redriven"][0]["messageId"], message_id.as_str());
    subscriber
        .wait_until(WAIT, |got| (notification_ids(got).len() == 3).then_some(()))
        .unwrap_or_else(|got| panic!("the redriven message did not arrive: {got:?}"));
    assert_eq!(
        notification_ids(&subscriber.all()),
        vec![message_id.clone(); 3]
    );
    eventually("the redriven delivery is recorded as delivered", || {
        let delivered = server.deliveries(&[
            "list",
            "--state",
            "delivered",
            "--subscription",
            &subscription,
        ]);
        delivered["deliveries"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["messageId"] == message_id.as_str()))
    });
}

/// Issue 10, item 3: with no fault at all, 243 of 3,000 publishes were delivered twice: the
/// delivery loop re-read messages before their attempt was recorded.
#[test]
fn regression_duplicate_deliveries_without_faults() {
    const COUNT: usize = 1000;
    let server = Server::start();
    let subscriber = Subscriber::start();
    let topic = server.subscribed_topic("busy", &subscriber);
    let published = publish_many(&server, &topic, COUNT, 8);
    assert_eq!(published.len(), COUNT);

    let count = |received: &[Received]| {
        let ids = notification_ids(received);
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        (ids.len(), distinct.len())
    };
    let (attempts, distinct) = subscriber
        .wait_until(Duration::from_secs(60), |got| {
            let (attempts, distinct) = count(got);
            (distinct == COUNT).then_some((attempts, distinct))
        })
        .unwrap_or_else(|got| panic!("not every message arrived: {:?}", count(&got)));
    println!("{COUNT} publishes: {attempts} deliveries, {distinct} distinct");
    assert_eq!(attempts - distinct, 0, "duplicate deliveries");
    eventually("the outbox drains", || pending(&server) == 0);
    let (attempts, distinct) = count(&subscriber.all());
    assert_eq!(
        (attempts, distinct),
        (COUNT, COUNT),
        "duplicates after the outbox drained"
    );
    let mut received = notification_ids(&subscriber.all());
    let mut published = published;
    received.sort();
    published.sort();
    assert_eq!(received, published, "the MessageIds Publish answered");
}

/// Issue 10, item 4: 70 messages for an endpoint that never answers delayed a healthy
/// subscriber's notification from milliseconds to 14.3 s, on every retry round.
#[test]
fn regression_one_hanging_subscriber_holds_up_everyone() {
    let server = Server::start();
    let hanging = Subscriber::answering(Answer::Hang);
    let healthy = Subscriber::start();
    let stuck = server.subscribed_topic("stuck", &hanging);
    let fine = server.subscribed_topic("fine", &healthy);
    publish_many(&server, &stuck, 70, 4);
    hanging
        .wait_until(WAIT, |got| {
            (!notification_ids(got).is_empty()).then_some(())
        })
        .unwrap_or_else(|got| panic!("the hanging endpoint got nothing: {got:?}"));

    let sent = Instant::now();
    server.aws_ok(&["sns", "publish", "--topic-arn", &fine, "--message", "hello"]);
    healthy.wait_for("Notification", WAIT);
    let took = sent.elapsed();
    println!(
        "beside 70 messages to a hanging endpoint: the healthy notification took {took:?}; \
         attempts to the hanging endpoint given up so far: {}",
        hanging.abandoned()
    );
    // An attempt is given up after 15 s: the healthy message went before any was.
    assert_eq!(
        hanging.abandoned(),
        0,
        "the healthy notification waited for the hanging endpoint ({took:?})"
    );
    // The hanging endpoint holds only its own few slots.
    assert!(
        notification_ids(&hanging.all()).len() <= 8,
        "{} attempts at once to one endpoint",
        notification_ids(&hanging.all()).len()
    );
}

/// Issue 10, item 5: any caller could make the server POST to link-local, metadata, private
/// or malformed addresses.
#[test]
fn regression_ssrf_subscription_endpoints() {
    let server = Server::start();
    let topic = server.aws_ok(&["sns", "create-topic", "--name", "ssrf"]);
    let topic = topic["TopicArn"].as_str().expect("TopicArn").to_owned();
    for endpoint in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://user:pw@[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://a b/",
        "http:///nohost",
        "http://999.1.1.1/",
    ] {
        let err = server.aws_err(&[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "http",
            "--notification-endpoint",
            endpoint,
        ]);
        assert!(
            err.contains("InvalidParameter") && err.contains("Endpoint"),
            "{endpoint}: {err}"
        );
    }
    let subs = server.aws_ok(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic]);
    assert_eq!(subs["Subscriptions"], Value::Array(Vec::new()));
}

/// Operator rules are checked on the address connected to, after name resolution: a name
/// whose addresses are denied is never contacted, and its message is kept as failed.
#[test]
fn denied_endpoints_are_checked_at_connect_time() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Server::start_in(
        &tmp.path().join("data"),
        &[
            "--deny-endpoint",
            "127.0.0.0/8,::1",
            "--deny-endpoint",
            "10.0.0.0/8",
        ],
    );
    let subscriber = Subscriber::start();
    let topic = server.aws_ok(&["sns", "create-topic", "--name", "rules"]);
    let topic = topic["TopicArn"].as_str().expect("TopicArn").to_owned();
    for endpoint in ["http://user:pw@10.1.2.3/", subscriber.url.as_str()] {
        let err = server.aws_err(&[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "http",
            "--notification-endpoint",
            endpoint,
        ]);
        assert!(err.contains("denied"), "{endpoint}: {err}");
    }
    // By name: `localhost` passes the name rules; its addresses do not.
    let by_name = subscriber.url.replace("127.0.0.1", "localhost");
    server.aws_ok(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "http",
        "--notification-endpoint",
        &by_name,
    ]);
    let failed = first_failed(&server, "the confirmation becomes a failed delivery");
    let delivery = &failed["deliveries"][0];
    assert_eq!(delivery["type"], "SubscriptionConfirmation");
    assert_eq!(delivery["attempts"], 1, "a refused address is not retried");
    assert!(
        delivery["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("denied")),
        "{delivery}"
    );
    assert!(
        subscriber.all().is_empty(),
        "the denied endpoint was contacted"
    );
}

/// Issue 10, item 6: `AuthenticateOnUnsubscribe=true` was ignored, and a subscription's first
/// confirmation token restored it at any time after its owner deleted it.
#[test]
fn regression_unsubscribe_without_authentication() {
    let server = Server::start();
    let subscriber = Subscriber::start().without_confirming();
    let topic = server.subscribed_topic("guarded", &subscriber);
    let confirmation = subscriber.wait_for("SubscriptionConfirmation", WAIT);
    let token = confirmation.body["Token"].as_str().expect("Token");
    let subscribe_url = confirmation.body["SubscribeURL"]
        .as_str()
        .expect("SubscribeURL")
        .to_owned();
    let confirmed = server.aws_ok(&[
        "sns",
        "confirm-subscription",
        "--topic-arn",
        &topic,
        "--token",
        token,
        "--authenticate-on-unsubscribe",
        "true",
    ]);
    let arn = confirmed["SubscriptionArn"]
        .as_str()
        .expect("arn")
        .to_owned();
    server.aws_ok(&["sns", "publish", "--topic-arn", &topic, "--message", "hi"]);
    let notification = subscriber.wait_for("Notification", WAIT);
    let unsubscribe_url = notification.body["UnsubscribeURL"]
        .as_str()
        .expect("UnsubscribeURL");

    // Anyone holding a notification has its UnsubscribeURL; it must not work here.
    let (base, path) = split_url(unsubscribe_url);
    let answer = http_get(&base, &path).expect("an answer");
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("AuthorizationError"),
        "{}",
        answer.body
    );
    assert_eq!(subscription_of(&server, &topic), arn, "still subscribed");

    // The owner's signed Unsubscribe works; the first SubscribeURL cannot undo it.
    server.aws_ok(&["sns", "unsubscribe", "--subscription-arn", &arn]);
    let (base, path) = split_url(&subscribe_url);
    let answer = http_get(&base, &path).expect("an answer");
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("Invalid token"), "{}", answer.body);
    let subs = server.aws_ok(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic]);
    assert_eq!(subs["Subscriptions"], Value::Array(Vec::new()), "restored");
}

/// An unsigned POST declaring a large body: the answer must come before the body is sent.
fn refused_before_body(addr: &str, declared: usize) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Logs_20140328.PutLogEvents\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&vec![b' '; 64 * 1024]).ok()?;
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).ok()?;
    Some(String::from_utf8_lossy(&answer[..n]).into_owned())
}

/// Sends an unsigned POST with its whole body, then reads the answer.
fn unsigned_whole_body(addr: &str, size: usize) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: Logs_20140328.PutLogEvents\r\nContent-Length: {size}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&vec![b' '; size]).ok()?;
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).ok()?;
    Some(String::from_utf8_lossy(&answer[..n]).into_owned())
}

/// The server's peak resident memory, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Issue 10, item 7: bodies up to 8 MiB were read in full before the signature was checked
/// (30 concurrent unsigned 7.9 MB POSTs took the server from 65 to 134 MB).
#[test]
fn regression_unauthenticated_bodies_read_in_full() {
    let server = Server::start();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let at_start = peak_rss_kb(server.pid());
    let thirty = |send: fn(&str, usize) -> Option<String>| -> Vec<Option<String>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..30)
                .map(|_| scope.spawn(|| send(&addr, 7_900_000)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        })
    };
    // Clients that send their whole bodies: the server must not hold them.
    let whole = thirty(unsigned_whole_body);
    let peak = peak_rss_kb(server.pid());
    println!(
        "30 unsigned 7.9 MB POSTs sent whole: peak memory {at_start} kB at start, {peak} kB after"
    );
    // Clients that wait for an answer before sending the rest: it must come at once.
    let early = thirty(refused_before_body);
    for answer in whole.iter().chain(&early) {
        let answer = answer
            .as_deref()
            .expect("an answer (before the body was sent, for those that waited)");
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("MissingAuthenticationToken"), "{answer}");
    }
    assert!(
        peak < at_start + 24 * 1024,
        "the server held unsigned bodies: peak memory {at_start} kB -> {peak} kB"
    );
    // A declared body beyond any valid request is refused without reading it.
    let too_large = refused_before_body(&addr, 64 * 1024 * 1024).expect("an answer");
    assert!(
        too_large.starts_with("HTTP/1.1 403") || too_large.starts_with("HTTP/1.1 413"),
        "{too_large}"
    );
    // The server goes on serving.
    server.aws_ok(&["sns", "list-topics"]);
}

/// Issue 10, item 8: PutMetricData took 1e308 (two of them overflowed the Sum, which
/// GetMetricStatistics then left out), a second gzip member was ignored, and an unknown
/// Content-Encoding was read as if uncompressed.
#[test]
fn regression_out_of_range_metric_values_and_encodings() {
    let server = Server::start();
    server.python_ok("encodings.py", &[]);
}

/// Idle connections, slowly dripped request heads and stalled bodies at once, while a healthy
/// client's requests and notifications go through.
#[test]
fn hostile_clients_do_not_stop_a_healthy_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Server::start_in(
        &tmp.path().join("data"),
        &[
            "--max-connections",
            "32",
            "--header-timeout",
            "3",
            "--body-timeout",
            "2",
        ],
    );
    let subscriber = Subscriber::start();
    let topic = server.subscribed_topic("steady", &subscriber);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let stop = AtomicBool::new(false);
    let closed_by_server = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // 100 idle connections, reopened as the server closes them.
        for _ in 0..4 {
            scope.spawn(|| {
                let mut open = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    if open.len() < 25 {
                        open.extend(TcpStream::connect(&addr).ok());
                    } else {
                        open.clear();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Request heads dripped a byte at a time.
        for _ in 0..8 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut s) = TcpStream::connect(&addr) else {
                        continue;
                    };
                    for b in b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Logs_2014".iter() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if s.write_all(&[*b]).is_err() {
                            closed_by_server.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
            });
        }
        // Healthy traffic meanwhile: requests, and publishes that must reach the subscriber.
        for round in 0..5 {
            server.aws_ok(&["logs", "describe-log-groups"]);
            server.aws_ok(&[
                "sns",
                "publish",
                "--topic-arn",
                &topic,
                "--message",
                &format!("round {round}"),
            ]);
        }
        subscriber
            .wait_until(WAIT, |got| (notification_ids(got).len() >= 5).then_some(()))
            .unwrap_or_else(|got| panic!("notifications missing: {got:?}"));
        stop.store(true, Ordering::SeqCst);
    });
    assert!(
        closed_by_server.load(Ordering::SeqCst) > 0,
        "slow heads were never cut off"
    );
    server.aws_ok(&["sns", "list-topics"]);
}
