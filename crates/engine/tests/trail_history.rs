//! A trail's deliveries into the event history and its log group, in-process on a manual
//! clock: each event once across objects, deliveries, hours and trails; LookupEvents latest
//! first, page by page, by attribute, per region; the history and what trails met forgotten
//! after 90 days.

mod common;

use common::{START_MS, fixture};
use engine::Engine;
use engine::logs::api::{
    FilterLogEventsRequest, LogGroupRequest, MetricTransformation, PutMetricFilterRequest,
};
use engine::metrics::api::GetMetricStatisticsRequest;
use engine::scope::{Region, Scope};
use engine::trails::api::{
    EventSelector, LookupAttribute, LookupEventsRequest, NameRequest, PutEventSelectorsRequest,
    TrailRequest,
};
use engine::trails::{Delivered, HISTORY_MS, HOUR_MS, ObjectEvents, TrailEvent};

const ACCOUNT: &str = "123456789012";
const MINUTE: i64 = 60_000;

fn scope(region: &str) -> Scope {
    Scope::new(ACCOUNT, Region::named(region).expect("a region"))
}

/// A management event as CloudTrail writes it.
fn event(id: &str, name: &str, time_ms: i64, user: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "userName": user,
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
            "accountId": ACCOUNT,
            "accessKeyId": format!("AKIA{}", user.to_uppercase()),
        },
        "eventTime": engine::format::iso8601_time(time_ms),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "readOnly": false,
        "eventID": id,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "eventCategory": "Management",
        "recipientAccountId": ACCOUNT,
    })
    .to_string()
}

fn object(key: &str, region: &str, events: &[&String]) -> ObjectEvents {
    ObjectEvents {
        key: key.to_owned(),
        account: ACCOUNT.to_owned(),
        region: region.to_owned(),
        organization: None,
        events: events
            .iter()
            .map(|json| TrailEvent::parse((*json).clone()).expect("an event"))
            .collect(),
        problems: Vec::new(),
    }
}

/// A logging trail delivering to its own new log group; its ARN.
async fn trail(engine: &Engine, name: &str) -> String {
    let home = scope("us-east-1");
    let group = format!("{name}-events");
    engine
        .logs(&home)
        .create_log_group(LogGroupRequest {
            log_group_name: group.clone(),
        })
        .await
        .expect("a log group");
    let trails = engine.trails(&home);
    let created = trails
        .create_trail(TrailRequest {
            name: name.to_owned(),
            s3_bucket_name: Some(format!("{name}-bucket")),
            cloud_watch_logs_log_group_arn: Some(format!(
                "arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*"
            )),
            cloud_watch_logs_role_arn: Some(format!(
                "arn:aws:iam::{ACCOUNT}:role/CloudTrail_CloudWatchLogs_Role"
            )),
            ..Default::default()
        })
        .await
        .expect("a trail");
    trails
        .start_logging(NameRequest {
            name: name.to_owned(),
        })
        .await
        .expect("logging");
    created.trail_arn
}

async fn deliver(engine: &Engine, arn: &str, objects: Vec<ObjectEvents>) -> Delivered {
    let delivery = engine
        .prepare_delivery(arn, objects)
        .await
        .expect("prepared")
        .expect("the trail is logging");
    engine.commit_delivery(delivery).await.expect("delivered")
}

/// The ids of the messages in a trail's log group, sorted.
async fn logged(engine: &Engine, name: &str) -> Vec<String> {
    let events = engine
        .logs(&scope("us-east-1"))
        .filter_log_events(FilterLogEventsRequest {
            log_group_name: Some(format!("{name}-events")),
            log_group_identifier: None,
            log_stream_names: None,
            log_stream_name_prefix: None,
            start_time: None,
            end_time: None,
            filter_pattern: None,
            next_token: None,
            limit: None,
        })
        .await
        .expect("the group's events");
    assert!(events.next_token.is_none());
    let mut ids: Vec<String> = events
        .events
        .iter()
        .map(|e| {
            let json: serde_json::Value = serde_json::from_str(&e.message).expect("JSON");
            json["eventID"].as_str().expect("an id").to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// Every event LookupEvents finds in `region` (by `attribute`, if given), page by page of
/// `per_page`, as (id, time in ms, the event's JSON).
async fn history(
    engine: &Engine,
    region: &str,
    attribute: Option<(&str, &str)>,
    per_page: i64,
) -> Vec<(String, i64, String)> {
    let trails = engine.trails(&scope(region));
    let mut found = Vec::new();
    let mut next_token = None;
    loop {
        let page = trails
            .lookup_events(LookupEventsRequest {
                lookup_attributes: attribute
                    .map(|(key, value)| LookupAttribute {
                        attribute_key: key.to_owned(),
                        attribute_value: value.to_owned(),
                    })
                    .into_iter()
                    .collect(),
                max_results: Some(per_page),
                next_token: next_token.take(),
                ..Default::default()
            })
            .await
            .expect("a page");
        assert!(page.events.len() <= per_page as usize);
        found.extend(page.events.into_iter().map(|e| {
            (
                e.event_id,
                (e.event_time * 1000.0).round() as i64,
                e.cloud_trail_event,
            )
        }));
        match page.next_token {
            Some(token) => next_token = Some(token),
            None => return found,
        }
    }
}

fn ids(found: &[(String, i64, String)]) -> Vec<&str> {
    found.iter().map(|(id, _, _)| id.as_str()).collect()
}

#[tokio::test]
async fn each_event_is_kept_once_across_objects_deliveries_hours_and_trails() {
    let f = fixture();
    let engine = &f.engine;
    let a = trail(engine, "audit").await;
    let b = trail(engine, "other").await;
    // START_MS is an hour's start: the events fall in two hours.
    let at = |minutes: i64| START_MS + minutes * MINUTE;
    let e1 = event("e1", "PutRolePolicy", at(-5), "alice");
    let e2 = event("e2", "DescribeInstances", at(-1), "bob");
    let e3 = event("e3", "PutRolePolicy", at(1), "bob");
    let e4 = event("e4", "CreateUser", at(5), "alice");
    let e5 = event("e5", "PutRolePolicy", at(6), "carol");
    let e6 = event("e6", "DeleteTrail", at(-3), "alice");
    let e7 = event("e7", "CreateUser", at(7), "bob");
    let e8 = event("e8", "PutRolePolicy", at(8), "alice");
    let e9 = event("e9", "PutRolePolicy", at(2), "alice");

    // A file may repeat an event, and the next file may repeat it again.
    let first = deliver(
        engine,
        &a,
        vec![
            object("a1", "us-east-1", &[&e1, &e2, &e3, &e4, &e2]),
            object("a2", "us-east-1", &[&e3, &e5]),
        ],
    )
    .await;
    assert_eq!(
        (first.events, first.duplicates, first.logged),
        (7, 2, 5),
        "{first:?}"
    );
    // A later delivery repeats an event beside a new one of its hour, and brings an event of
    // the earlier hour; another region's event goes to that region's history.
    let second = deliver(
        engine,
        &a,
        vec![
            object("a3", "us-east-1", &[&e4, &e7, &e6]),
            object("a4", "eu-west-1", &[&e9]),
        ],
    )
    .await;
    assert_eq!(
        (second.events, second.duplicates, second.logged),
        (4, 1, 3),
        "{second:?}"
    );
    // An object read already is passed over whole.
    let again = deliver(engine, &a, vec![object("a1", "us-east-1", &[&e1, &e8])]).await;
    assert!(!again.taken && again.events == 0, "{again:?}");
    // Another trail delivering the same events logs them to its own group, but the history
    // holds each once.
    // The same event in an organization's folder of the account is another stream's, but
    // the same history's.
    let mut in_organization = object("b2", "us-east-1", &[&e8]);
    in_organization.organization = Some("o-a1b2c3d4e5".into());
    let other = deliver(
        engine,
        &b,
        vec![object("b1", "us-east-1", &[&e1, &e5, &e8]), in_organization],
    )
    .await;
    assert_eq!(
        (other.events, other.duplicates, other.logged),
        (4, 0, 4),
        "{other:?}"
    );

    assert_eq!(
        logged(engine, "audit").await,
        ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e9"]
    );
    assert_eq!(logged(engine, "other").await, ["e1", "e5", "e8", "e8"]);

    f.clock.set(at(60));
    // Latest first, across the hour's boundary and the pages.
    for per_page in [1, 3, 50] {
        let found = history(engine, "us-east-1", None, per_page).await;
        assert_eq!(
            ids(&found),
            ["e8", "e7", "e5", "e4", "e3", "e2", "e6", "e1"],
            "{per_page} a page"
        );
        assert_eq!(found[0].1, at(8));
        assert_eq!(found[7].1, at(-5));
    }
    // The event as the file held it.
    let found = history(engine, "us-east-1", Some(("EventId", "e6")), 50).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].2, e6);
    assert_eq!(
        ids(&history(engine, "us-east-1", Some(("EventName", "PutRolePolicy")), 2).await),
        ["e8", "e5", "e3", "e1"]
    );
    assert_eq!(
        ids(&history(engine, "us-east-1", Some(("Username", "alice")), 2).await),
        ["e8", "e4", "e6", "e1"]
    );
    assert_eq!(
        ids(&history(engine, "us-east-1", Some(("AccessKeyId", "AKIABOB")), 50).await),
        ["e7", "e3", "e2"]
    );
    assert_eq!(ids(&history(engine, "eu-west-1", None, 50).await), ["e9"]);
}

#[tokio::test]
async fn events_of_one_instant_page_in_id_order_and_90_days_later_are_forgotten() {
    let f = fixture();
    let engine = &f.engine;
    let a = trail(engine, "audit").await;
    // 40 events at one instant and 40 a millisecond later, just before an hour's end, in
    // objects of 20.
    let instant = START_MS + HOUR_MS - 1;
    let events: Vec<String> = (0..80)
        .map(|i| {
            let time = if i % 2 == 0 { instant } else { instant - 1 };
            event(
                &format!("id-{:02}", (i * 37) % 80),
                "CreateUser",
                time,
                "alice",
            )
        })
        .collect();
    let objects = events
        .chunks(20)
        .enumerate()
        .map(|(n, chunk)| {
            let refs: Vec<&String> = chunk.iter().collect();
            object(&format!("o{n}"), "us-east-1", &refs)
        })
        .collect();
    let done = deliver(engine, &a, objects).await;
    assert_eq!((done.events, done.duplicates), (80, 0));

    f.clock.set(instant + MINUTE);
    let mut expected: Vec<(i64, String)> = (0..80)
        .map(|i| {
            let time = if i % 2 == 0 { instant } else { instant - 1 };
            (time, format!("id-{:02}", (i * 37) % 80))
        })
        .collect();
    expected.sort();
    expected.reverse();
    let expected: Vec<&str> = expected.iter().map(|(_, id)| id.as_str()).collect();
    for per_page in [7, 40, 50] {
        assert_eq!(
            ids(&history(engine, "us-east-1", None, per_page).await),
            expected,
            "{per_page} a page"
        );
    }

    // Met again the next day: a duplicate.
    f.clock.advance(24 * HOUR_MS);
    let repeat = deliver(engine, &a, vec![object("r1", "us-east-1", &[&events[0]])]).await;
    assert_eq!((repeat.events, repeat.duplicates), (1, 1));

    // 90 days on, the history has let the events go, and the trail meets them as new.
    f.clock.set(instant + HISTORY_MS + HOUR_MS);
    engine.housekeeping().await.expect("housekeeping");
    assert!(history(engine, "us-east-1", None, 50).await.is_empty());
    let late = deliver(engine, &a, vec![object("r2", "us-east-1", &[&events[0]])]).await;
    assert_eq!((late.events, late.duplicates, late.logged), (1, 0, 1));
}

#[tokio::test]
async fn each_event_in_the_history_is_its_own_json_whatever_the_log_group_holds() {
    let f = fixture();
    let engine = &f.engine;
    let at = |minutes: i64| START_MS + minutes * MINUTE;
    let read = |id: &str, minutes: i64| {
        event(id, "GetPolicy", at(minutes), "bob")
            .replace(r#""readOnly":false"#, r#""readOnly":true"#)
    };
    let mut large: serde_json::Value =
        serde_json::from_str(&event("big", "PutRolePolicy", at(125), "alice")).expect("JSON");
    large["requestParameters"] = serde_json::json!({ "policyDocument": "x".repeat(300_000) });
    let large = large.to_string();
    let mut originals: Vec<String> = Vec::new();

    // A trail that logs every event of the hour: its log stream's batch and the history's
    // block hold the same events.
    let all = trail(engine, "all").await;
    let hour_one: Vec<String> = (0..5)
        .map(|i| event(&format!("a{i}"), "CreateUser", at(10 - i), "alice"))
        .collect();
    // An hour with an event too large for CloudWatch Logs: the history holds one event more.
    let hour_three = [event("c1", "CreateUser", at(121), "carol"), large];
    // Another hour of as many events as the first.
    let hour_four: Vec<String> = (0..5)
        .map(|i| event(&format!("d{i}"), "CreateUser", at(200 + i), "alice"))
        .collect();
    let objects = vec![
        object("all-1", "us-east-1", &hour_one.iter().collect::<Vec<_>>()),
        object("all-2", "us-east-1", &hour_three.iter().collect::<Vec<_>>()),
        object("all-3", "us-east-1", &hour_four.iter().collect::<Vec<_>>()),
    ];
    let done = deliver(engine, &all, objects).await;
    assert_eq!((done.events, done.logged, done.too_large), (12, 11, 1));
    originals.extend(
        hour_one
            .iter()
            .chain(&hour_three)
            .chain(&hour_four)
            .cloned(),
    );

    // A trail that logs write events only: its batch holds fewer events than the block.
    let writes = trail(engine, "writes").await;
    engine
        .trails(&scope("us-east-1"))
        .put_event_selectors(PutEventSelectorsRequest {
            trail_name: "writes".into(),
            event_selectors: Some(vec![EventSelector {
                read_write_type: Some("WriteOnly".into()),
                ..Default::default()
            }]),
            advanced_event_selectors: None,
        })
        .await
        .expect("selectors");
    let hour_two = [
        read("w1", 61),
        event("w2", "DeleteUser", at(62), "bob"),
        read("w3", 63),
    ];
    let done = deliver(
        engine,
        &writes,
        vec![object(
            "writes-1",
            "us-east-1",
            &hour_two.iter().collect::<Vec<_>>(),
        )],
    )
    .await;
    assert_eq!((done.events, done.logged), (3, 1));
    originals.extend(hour_two.iter().cloned());

    // A trail with no log group.
    let trails = engine.trails(&scope("us-east-1"));
    let bare = trails
        .create_trail(TrailRequest {
            name: "bare".into(),
            s3_bucket_name: Some("bare-bucket".into()),
            ..Default::default()
        })
        .await
        .expect("a trail")
        .trail_arn;
    trails
        .start_logging(NameRequest {
            name: "bare".into(),
        })
        .await
        .expect("logging");
    let bare_hour = [
        event("b1", "AttachRolePolicy", at(181), "dave"),
        read("b2", 182),
    ];
    let done = deliver(
        engine,
        &bare,
        vec![object(
            "bare-1",
            "us-east-1",
            &bare_hour.iter().collect::<Vec<_>>(),
        )],
    )
    .await;
    assert_eq!((done.events, done.logged), (2, 0));
    originals.extend(bare_hour.iter().cloned());

    assert_eq!(
        logged(engine, "all").await,
        [
            "a0", "a1", "a2", "a3", "a4", "c1", "d0", "d1", "d2", "d3", "d4"
        ]
    );
    assert_eq!(logged(engine, "writes").await, ["w2"]);

    f.clock.set(at(240));
    let found = history(engine, "us-east-1", None, 50).await;
    assert_eq!(found.len(), originals.len());
    for (id, _, json) in &found {
        let original = originals
            .iter()
            .find(|o| o.contains(&format!(r#""eventID":"{id}""#)))
            .expect("an event delivered");
        assert!(
            json == original,
            "{id}: the history holds another event's JSON"
        );
    }
}

#[tokio::test]
async fn a_delivery_that_repeats_events_met_before_stores_and_counts_each_once() {
    let f = fixture();
    let engine = &f.engine;
    let home = scope("us-east-1");
    let a = trail(engine, "audit").await;
    engine
        .logs(&home)
        .put_metric_filter(PutMetricFilterRequest {
            log_group_name: "audit-events".into(),
            filter_name: "policy-changes".into(),
            filter_pattern: r#"{ $.eventName = "PutRolePolicy" }"#.into(),
            metric_transformations: vec![MetricTransformation {
                metric_name: "PolicyChanges".into(),
                metric_namespace: "CISBenchmark".into(),
                metric_value: "1".into(),
                default_value: None,
                dimensions: None,
                unit: None,
            }],
        })
        .await
        .expect("a metric filter");
    let at = |minutes: i64| START_MS + minutes * MINUTE;
    // Every third event a policy change, in the hour before START_MS and the hour from it.
    let events = |prefix: &str, minutes: std::ops::Range<i64>| -> Vec<String> {
        minutes
            .map(|m| {
                let name = if m % 3 == 0 {
                    "PutRolePolicy"
                } else {
                    "CreateUser"
                };
                event(&format!("{prefix}{m}"), name, at(m), "alice")
            })
            .collect()
    };
    let policy_changes = |events: &[String]| {
        events
            .iter()
            .filter(|e| e.contains("PutRolePolicy"))
            .count()
    };
    let first = events("p", -40..0);
    let done = deliver(
        engine,
        &a,
        vec![object("a1", "us-east-1", &first.iter().collect::<Vec<_>>())],
    )
    .await;
    assert_eq!((done.logged, done.duplicates), (40, 0));

    // The next delivery brings two events met in the first (one a policy change) among new
    // ones of the same hour, and new ones of the next hour: what it prepared before the write
    // holds the two, the write must leave them out, and the others are stored as prepared.
    let second = events("q", -30..30);
    let repeated = [first[39].clone(), first[10].clone()];
    assert_eq!(policy_changes(&repeated), 1);
    let mut objects = vec![object(
        "a2",
        "us-east-1",
        &second[..20].iter().chain(&repeated).collect::<Vec<_>>(),
    )];
    objects.push(object(
        "a3",
        "us-east-1",
        &second[20..].iter().collect::<Vec<_>>(),
    ));
    let done = deliver(engine, &a, objects).await;
    assert_eq!((done.events, done.duplicates, done.logged), (62, 2, 60));

    let mut expected: Vec<String> = (-40..0)
        .map(|m| format!("p{m}"))
        .chain((-30..30).map(|m| format!("q{m}")))
        .collect();
    expected.sort();
    assert_eq!(logged(engine, "audit").await, expected);
    let counted = engine
        .metrics(&home)
        .get_metric_statistics(GetMetricStatisticsRequest {
            namespace: "CISBenchmark".into(),
            metric_name: "PolicyChanges".into(),
            dimensions: Vec::new(),
            start_time: (at(-60) / 1000) as f64,
            end_time: (at(60) / 1000) as f64,
            period: 3600,
            statistics: vec!["Sum".into()],
            unit: None,
        })
        .await
        .expect("the metric's data");
    let mut sums: Vec<(i64, f64)> = counted
        .datapoints
        .iter()
        .map(|d| (d.timestamp, d.sum.expect("a sum")))
        .collect();
    sums.sort_by_key(|&(t, _)| t);
    let (before, after) = second.split_at(30);
    assert_eq!(
        sums,
        [
            (
                at(-60) / 1000,
                (policy_changes(&first) + policy_changes(before)) as f64
            ),
            (at(0) / 1000, policy_changes(after) as f64),
        ]
    );
}
