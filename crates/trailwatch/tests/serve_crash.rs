//! Crashes under load: `trailwatch serve` is killed with SIGKILL while it ingests log events
//! and delivers notifications, and restarted on the same data directory, three times. Every
//! acknowledged event must be stored exactly once, the metric must equal a recount of the
//! stored events, and every acknowledged Publish must reach the subscriber, under its one
//! MessageId however often it is delivered.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server, Subscriber, free_port, venv};
use serde_json::Value;

const GROUP: &str = "crash";
const STREAM: &str = "load";
const KILLS: usize = 3;
const WAIT: Duration = Duration::from_secs(60);

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `path` has more than `count` lines; gives the count.
fn grown(path: &Path, count: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = lines(path).len();
        if now > count {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{} stopped growing",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_during_ingest_and_deliveries_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let out = tmp.path().join("load");
    std::fs::create_dir_all(&out).expect("load dir");
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["--listen", listen.as_str()];
    let mut server = Server::start_in(&data, &args);
    let subscriber = Subscriber::start();

    server.aws_ok(&["logs", "create-log-group", "--log-group-name", GROUP]);
    server.aws_ok(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        GROUP,
        "--log-stream-name",
        STREAM,
    ]);
    server.aws_ok(&[
        "logs",
        "put-metric-filter",
        "--log-group-name",
        GROUP,
        "--filter-name",
        "matches",
        "--filter-pattern",
        "{ $.kind = \"match\" }",
        "--metric-transformations",
        "metricName=matches,metricNamespace=Crash,metricValue=1",
    ]);
    let topic = server.subscribed_topic("crash", &subscriber);

    let mut load = Command::new(venv().join("bin/python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/chaos_load.py"))
        .env("TRAILWATCH_ENDPOINT", &server.url)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("GROUP", GROUP)
        .env("STREAM", STREAM)
        .env("TOPIC_ARN", &topic)
        .env("OUT", &out)
        .stdout(Stdio::null())
        .spawn()
        .expect("the load runs");

    let (events_file, messages_file) = (out.join("events"), out.join("messages"));
    let (mut events, mut messages) = (0, 0);
    for _ in 0..KILLS {
        // Kill while events are being acknowledged and messages published.
        events = grown(&events_file, events + 200);
        messages = grown(&messages_file, messages + 10);
        server.kill();
        server = Server::start_in(&data, &args);
    }
    events = grown(&events_file, events + 100);
    grown(&messages_file, messages);
    std::fs::write(out.join("STOP"), "").expect("stop file");
    assert!(load.wait().expect("the load ends").success());

    // Every acknowledged event is stored, and nothing is stored twice.
    let stored = server.aws_ok(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        GROUP,
        "--start-time",
        "0",
    ]);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut matching = 0;
    for e in stored["events"].as_array().expect("events") {
        let message: Value =
            serde_json::from_str(e["message"].as_str().expect("message")).expect("JSON");
        *seen
            .entry(message["id"].as_str().expect("id").to_owned())
            .or_default() += 1;
        if message["kind"] == "match" {
            matching += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let acknowledged: BTreeSet<String> = lines(&events_file).into_iter().collect();
    assert!(
        acknowledged.len() >= events,
        "{} acknowledged",
        acknowledged.len()
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The metric counts exactly the stored matching events.
    let now = common::now_ms() / 1000;
    let statistics = server.aws_ok(&[
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "Crash",
        "--metric-name",
        "matches",
        "--start-time",
        &(now - 3600).to_string(),
        "--end-time",
        &(now + 3600).to_string(),
        "--period",
        "3600",
        "--statistics",
        "Sum",
    ]);
    let sum: f64 = statistics["Datapoints"]
        .as_array()
        .expect("datapoints")
        .iter()
        .filter_map(|d| d["Sum"].as_f64())
        .sum();
    assert_eq!(sum, matching as f64, "the metric against a recount");

    // Every acknowledged Publish arrives, under its MessageId.
    let published: BTreeSet<String> = lines(&messages_file).into_iter().collect();
    subscriber
        .wait_until(WAIT, |got| {
            let arrived: BTreeSet<&str> = got
                .iter()
                .filter(|r| r.body["Type"] == "Notification")
                .filter_map(|r| r.body["MessageId"].as_str())
                .collect();
            published
                .iter()
                .all(|id| arrived.contains(id.as_str()))
                .then_some(())
        })
        .unwrap_or_else(|got| {
            let arrived: BTreeSet<String> = got
                .iter()
                .filter_map(|r| r.body["MessageId"].as_str().map(str::to_owned))
                .collect();
            let missing: Vec<_> = published.difference(&arrived).collect();
            panic!("acknowledged publishes never delivered: {missing:?}")
        });
    let deliveries = subscriber
        .all()
        .iter()
        .filter(|r| r.body["Type"] == "Notification")
        .count();
    println!(
        "{KILLS} kills: {} events acknowledged, {} stored, {matching} matching; {} publishes \
         acknowledged, {deliveries} deliveries",
        acknowledged.len(),
        seen.len(),
        published.len()
    );
}
