//! A store written by the version before log events were stored a batch to a row opens with
//! everything in it: its events readable in order, and its outbox able to hold message
//! attributes.

use engine::{Config, Engine};
use serde_json::json;

#[tokio::test(flavor = "current_thread")]
async fn a_store_of_the_previous_layout_opens_with_its_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = rusqlite::Connection::open(dir.path().join("trailwatch.db")).expect("db");
    old.execute_batch(include_str!("data/schema-before-blocks.sql"))
        .expect("previous schema");
    old.execute_batch(
        "INSERT INTO log_groups (name, creation_ms) VALUES ('trail', 1);
         INSERT INTO log_streams (group_name, name, creation_ms) VALUES ('trail', 's', 1);",
    )
    .expect("group and stream");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // One message as stored before compression (text), one compressed (LZ4 blob), out of
    // time order by id.
    old.execute(
        "INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message)
         VALUES ('trail', 's', ?1, ?1, 'second'), ('trail', 's', ?2, ?2, ?3)",
        rusqlite::params![now, now - 1000, lz4_flex::compress_prepend_size(b"first")],
    )
    .expect("events");
    drop(old);

    let store = store::SqliteStore::open(dir.path()).expect("opens");
    let engine = Engine::new(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        std::sync::Arc::new(store),
    );
    let page = engine
        .logs()
        .get_log_events(
            serde_json::from_value(
                json!({"logGroupName": "trail", "logStreamName": "s", "startFromHead": true}),
            )
            .expect("request"),
        )
        .await
        .expect("GetLogEvents");
    let messages: Vec<&str> = page.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["first", "second"]);

    let topics = engine.topics();
    let topic = topics
        .create_topic(serde_json::from_value(json!({"Name": "alerts"})).expect("request"))
        .await
        .expect("CreateTopic");
    topics
        .subscribe(
            serde_json::from_value(json!({
                "TopicArn": topic.topic_arn, "Protocol": "http", "Endpoint": "http://127.0.0.1:9/",
            }))
            .expect("request"),
        )
        .await
        .expect("Subscribe queues its confirmation in the upgraded outbox");
}
