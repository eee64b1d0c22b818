//! Stores written by earlier versions open with everything in them: log events kept a row per
//! event (readable in order, the outbox able to hold message attributes), data kept before
//! scopes, and the event history and trails' sightings kept a row per event.

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

    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("opens");
    let engine = Engine::new(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        std::sync::Arc::new(store),
    );
    let page = engine
        .logs(&Default::default())
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

    let topics = engine.topics(&Default::default());
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

/// A block of events as stores kept them: each event's timestamp, length and text, LZ4'd.
fn block(events: &[(i64, &str)]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (t, m) in events {
        raw.extend_from_slice(&t.to_le_bytes());
        raw.extend_from_slice(&(m.len() as u32).to_le_bytes());
        raw.extend_from_slice(m.as_bytes());
    }
    lz4_flex::compress_prepend_size(&raw)
}

/// Writes a store of the layout before scopes: a log group with a stream, its events and a
/// metric filter, a metric with a datapoint, an alarm with history, and (if asked) a topic.
fn store_before_scopes(dir: &std::path::Path, topic_arn: Option<&str>, now: i64) {
    let old = rusqlite::Connection::open(dir.join("trailwatch.db")).expect("db");
    old.execute_batch(include_str!("data/schema-before-scopes.sql"))
        .expect("previous schema");
    old.execute_batch(
        r#"INSERT INTO log_groups (name, creation_ms) VALUES ('trail', 1);
           INSERT INTO log_streams (group_name, name, creation_ms) VALUES ('trail', 's', 1);
           INSERT INTO metric_filters VALUES ('trail', 'f', '{ $.eventName = "PutRolePolicy" }',
               '{"metricName":"m","metricNamespace":"CIS","metricValue":"1"}', 1);
           INSERT INTO metrics (id, namespace, name, dimensions, last_ms) VALUES (7, 'CIS', 'm', '[]', 1);
           INSERT INTO alarms (name, config, namespace, metric_name, dimensions, state, state_reason,
                               state_updated_ms, state_transitioned_ms, config_updated_ms)
               VALUES ('a', '{"AlarmName":"a","MetricName":"m","Namespace":"CIS","Statistic":"Sum","Period":60,"EvaluationPeriods":1,"Threshold":1.0,"ComparisonOperator":"GreaterThanOrEqualToThreshold"}',
                       'CIS', 'm', '[]', 'OK', 'old', 1, 1, 1);
           INSERT INTO alarm_history (alarm_name, timestamp_ms, item_type, summary, data)
               VALUES ('a', 1, 'StateUpdate', 'Alarm updated from INSUFFICIENT_DATA to OK', '{}');"#,
    )
    .expect("resources");
    old.execute(
        "INSERT INTO metric_data VALUES (7, 'None', ?1, 3.0, 3.0, 1.0, 1.0)",
        [now / 1000 / 60 * 60],
    )
    .expect("datapoint");
    old.execute(
        "INSERT INTO log_event_blocks (group_name, stream_name, first_ms, last_ms, ingestion_ms, events)
         VALUES ('trail', 's', ?1, ?1, ?1, ?2)",
        rusqlite::params![now, block(&[(now, "kept")])],
    )
    .expect("events");
    if let Some(arn) = topic_arn {
        old.execute(
            "INSERT INTO topics (arn, name, attributes) VALUES (?1, 'alerts', '{}')",
            [arn],
        )
        .expect("topic");
    }
}

macro_rules! request {
    ($v:expr $(,)?) => {
        serde_json::from_value($v).expect("request")
    };
}

/// What the scope holds of the old store: its group's events, filters, metrics and alarms.
async fn holds_the_old_resources(engine: &Engine, scope: &engine::scope::Scope) {
    let logs = engine.logs(scope);
    let page = logs
        .get_log_events(request!(
            json!({"logGroupName": "trail", "logStreamName": "s", "startFromHead": true}),
        ))
        .await
        .expect("GetLogEvents");
    assert_eq!(page.events[0].message, "kept");
    let filters = logs
        .describe_metric_filters(request!(json!({"logGroupName": "trail"})))
        .await
        .expect("filters");
    assert_eq!(filters.metric_filters.len(), 1);
    let alarms = engine
        .alarms(scope)
        .describe_alarms(request!(json!({})))
        .await
        .expect("alarms");
    let alarm = &alarms.metric_alarms[0];
    assert_eq!(alarm.state_value, "OK");
    assert_eq!(alarm.alarm_arn, scope.arn("cloudwatch", "alarm:a"));
    let history = engine
        .alarms(scope)
        .describe_alarm_history(request!(json!({"AlarmName": "a"})))
        .await
        .expect("history");
    assert_eq!(history.alarm_history_items.len(), 1);
    let metrics = engine
        .metrics(scope)
        .list_metrics(request!(json!({"Namespace": "CIS"})))
        .await
        .expect("metrics");
    assert_eq!(metrics.metrics.len(), 1);
}

async fn holds_nothing(engine: &Engine, scope: &engine::scope::Scope) {
    let groups = engine
        .logs(scope)
        .describe_log_groups(request!(json!({})))
        .await
        .expect("groups");
    assert!(groups.log_groups.is_empty(), "{scope:?}");
    let alarms = engine
        .alarms(scope)
        .describe_alarms(request!(json!({})))
        .await
        .expect("alarms");
    assert!(alarms.metric_alarms.is_empty(), "{scope:?}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_from_before_scopes_keeps_everything_in_the_scope_it_was_served_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    store_before_scopes(dir.path(), None, now_ms());
    let mut config = Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9");
    config.region = engine::scope::Region::named("eu-central-1").expect("region");
    config.account_id = "111122223333".into();
    let home = config.home();
    let store = store::SqliteStore::open(dir.path(), &home).expect("opens");
    let engine = Engine::new(config, std::sync::Arc::new(store));
    holds_the_old_resources(&engine, &home).await;
    holds_nothing(&engine, &engine::scope::Scope::default()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_from_before_scopes_follows_its_topics_arns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let arn = "arn:aws:sns:eu-west-1:123456789012:alerts";
    store_before_scopes(dir.path(), Some(arn), now_ms());
    // Served now with the defaults: the old data stays where its ARNs say it was served.
    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("opens");
    let engine = Engine::new(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        std::sync::Arc::new(store),
    );
    let served = engine::scope::Arn::parse(arn)
        .and_then(|a| a.scope())
        .expect("scope");
    holds_the_old_resources(&engine, &served).await;
    holds_nothing(&engine, &engine.default_scope()).await;
    let topics = engine
        .topics(&served)
        .list_topics(request!(json!({})))
        .await
        .expect("topics");
    assert_eq!(topics.topics[0].topic_arn, arn);
    let elsewhere = engine
        .topics(&engine.default_scope())
        .list_topics(request!(json!({})))
        .await
        .expect("topics");
    assert!(elsewhere.topics.is_empty());
}

/// A CloudTrail event as the tests write it: a management event of `name` by user `user`, or
/// a data event when `name` is `None`.
fn trail_event(id: &str, name: Option<&str>, time_ms: i64, user: &str) -> String {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "123456789012"},
        "eventTime": engine::format::iso8601_time(time_ms),
        "eventSource": if name.is_some() { "iam.amazonaws.com" } else { "s3.amazonaws.com" },
        "eventName": name.unwrap_or("GetObject"),
        "awsRegion": "us-east-1",
        "eventID": id,
        "managementEvent": name.is_some(),
        "eventCategory": if name.is_some() { "Management" } else { "Data" },
        "resources": [{"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::123456789012:role/admin"}],
    })
    .to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_that_kept_the_event_history_a_row_per_event_opens_with_it_in_blocks() {
    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit";
    let dir = tempfile::tempdir().expect("temp dir");
    let now = now_ms();
    let (t1, t2, t_data) = (now - 2 * 3_600_000, now - 3_600_000, now - 3 * 3_600_000);
    let e1 = trail_event("e1", Some("PutRolePolicy"), t1, "alice");
    let e2 = trail_event("e2", Some("CreateUser"), t2, "bob");
    let data = trail_event("data-1", None, t_data, "bob");
    {
        let old = rusqlite::Connection::open(dir.path().join("trailwatch.db")).expect("db");
        old.execute_batch(include_str!("data/schema-before-history-blocks.sql"))
            .expect("previous schema");
        for (id, time, name, user, event) in [
            ("e1", t1, "PutRolePolicy", "alice", &e1),
            ("e2", t2, "CreateUser", "bob", &e2),
        ] {
            old.execute(
                "INSERT INTO event_history (scope, event_id, time_ms, event_name, event_source,
                     read_only, username, access_key_id, resources, event_lz4)
                 VALUES ('123456789012:us-east-1', ?1, ?2, ?3, 'iam.amazonaws.com', NULL, ?4,
                     NULL, '[[\"AWS::IAM::Role\",\"arn:aws:iam::123456789012:role/admin\"]]', ?5)",
                rusqlite::params![
                    id,
                    time,
                    name,
                    user,
                    lz4_flex::compress_prepend_size(event.as_bytes())
                ],
            )
            .expect("history");
        }
        // The trail met the data event hours after it happened (a time the old rows did not
        // keep).
        for (id, met) in [
            ("e1", t1 + 300_000),
            ("e2", t2 + 300_000),
            ("data-1", now - 60_000),
        ] {
            old.execute(
                "INSERT INTO trail_sightings (trail_arn, event_id, time_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![TRAIL, id, met],
            )
            .expect("sightings");
        }
    }

    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("opens");
    let engine = Engine::new(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        std::sync::Arc::new(store),
    );
    let scope = engine::scope::Scope::new(
        "123456789012",
        engine::scope::Region::named("us-east-1").expect("a region"),
    );
    let trails = engine.trails(&scope);
    let lookup = |attribute: serde_json::Value| {
        let trails = engine.trails(&scope);
        async move {
            let page = trails
                .lookup_events(serde_json::from_value(attribute).expect("request"))
                .await
                .expect("LookupEvents");
            page.events
        }
    };
    let found = lookup(json!({})).await;
    let ids: Vec<&str> = found.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e2", "e1"]);
    assert_eq!(found[1].cloud_trail_event, e1);
    assert_eq!(found[1].username.as_deref(), Some("alice"));
    assert_eq!(
        found[1].resources[0].resource_name.as_deref(),
        Some("arn:aws:iam::123456789012:role/admin")
    );
    let by_user = lookup(
        json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "bob"}]}),
    )
    .await;
    assert_eq!(by_user.len(), 1);
    assert_eq!(by_user[0].cloud_trail_event, e2);

    // The trail still knows what it met: delivered again, only the new event counts.
    let created = trails
        .create_trail(
            serde_json::from_value(json!({"Name": "audit", "S3BucketName": "audit-logs"}))
                .expect("request"),
        )
        .await
        .expect("CreateTrail");
    assert_eq!(created.trail_arn, TRAIL);
    trails
        .start_logging(serde_json::from_value(json!({"Name": "audit"})).expect("request"))
        .await
        .expect("StartLogging");
    let e3 = trail_event("e3", Some("DeleteTrail"), now - 60_000, "alice");
    let object = engine::trails::ObjectEvents {
        key: "audit-logs/again.json.gz".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        organization: None,
        events: [&e1, &data, &e3]
            .into_iter()
            .map(|e| engine::trails::TrailEvent::parse(e.clone()).expect("an event"))
            .collect(),
        problems: Vec::new(),
    };
    let delivery = engine
        .prepare_delivery(TRAIL, vec![object])
        .await
        .expect("prepared")
        .expect("logging");
    let done = engine.commit_delivery(delivery).await.expect("delivered");
    assert_eq!((done.events, done.duplicates), (3, 2), "{done:?}");
    let ids: Vec<String> = lookup(json!({}))
        .await
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, ["e3", "e2", "e1"]);

    let db = rusqlite::Connection::open(dir.path().join("trailwatch.db")).expect("db");
    let old_tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('event_history', 'trail_sightings')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(old_tables, 0, "the rows' tables are gone");
    let scopes: i64 = db
        .query_row("SELECT count(*) FROM event_history_scopes", [], |r| {
            r.get(0)
        })
        .expect("scopes");
    assert_eq!(scopes, 1, "expiry visits the history's scope");
}
