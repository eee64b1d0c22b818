//! Replay in the engine: matching on worker threads counts and sums what matching in line
//! does, whatever the number of workers; duplicates count once; datapoints are summed per
//! second of event time; played on the clock, they move an alarm at the second they complete
//! its condition; and play leaves the alarm history the server's way does.

mod common;

use std::collections::HashSet;

use engine::replay::Owned;
use serde_json::json;

fn request<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a request")
}

async fn set_up(f: &common::Fixture) {
    let scope = f.engine.default_scope();
    let logs = f.engine.logs(&scope);
    logs.create_log_group(request(json!({"logGroupName": "trail"})))
        .await
        .expect("group");
    for (name, pattern) in [
        ("puts", "{ $.eventName = Put* }"),
        ("denied", "{ $.errorCode = \"AccessDenied*\" }"),
    ] {
        logs.put_metric_filter(request(json!({
            "logGroupName": "trail",
            "filterName": name,
            "filterPattern": pattern,
            "metricTransformations": [{
                "metricName": name, "metricNamespace": "Replay", "metricValue": "1",
            }],
        })))
        .await
        .expect("filter");
    }
}

/// 20,000 events, one a second from `start_s`, with 5,000 repeated eventIDs far apart.
fn events(start_s: i64) -> Vec<(String, String, i64)> {
    (0..20_000)
        .map(|i| {
            let id = format!("id-{}", i % 15_000);
            let name = if i % 3 == 0 {
                "PutRolePolicy"
            } else {
                "GetRole"
            };
            let error = if i % 7 == 0 {
                ",\"errorCode\":\"AccessDenied\""
            } else {
                ""
            };
            let json = format!(r#"{{"eventID":"{id}","eventName":"{name}"{error}}}"#);
            (json, id, (start_s + i64::from(i)) * 1000)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_beside_the_reader_counts_and_sums_what_matching_in_line_does() {
    let f = common::fixture();
    set_up(&f).await;
    let filters = f
        .engine
        .replay_filters(&f.engine.default_scope())
        .await
        .expect("filters");
    let names: Vec<String> = filters.names().into_iter().map(|(_, n)| n).collect();
    let all = events(common::START_MS / 1000);
    // In line, one event after the other.
    let mut seen = HashSet::new();
    let (mut puts, mut denied, mut duplicates) = (0u64, 0u64, 0u64);
    for (json, id, _) in &all {
        if !seen.insert(id.clone()) {
            duplicates += 1;
            continue;
        }
        puts += u64::from(json.contains("\"Put"));
        denied += u64::from(json.contains("AccessDenied"));
    }
    assert_eq!(duplicates, 5_000);
    let expected: Vec<u64> = names
        .iter()
        .map(|n| if n == "puts" { puts } else { denied })
        .collect();
    for workers in [1, 3] {
        let counts = filters.replay(
            workers,
            |push| {
                // Batches of 1,000: duplicates far apart fall in batches of other workers.
                for batch in all.chunks(1_000) {
                    push(
                        batch
                            .iter()
                            .cloned()
                            .map(|(json, id, time_ms)| Owned {
                                json,
                                event_id: Some(id),
                                time_ms: Some(time_ms),
                            })
                            .collect::<Vec<Owned>>(),
                    );
                }
            },
            |_| {},
        );
        assert_eq!(counts.events, 20_000, "{workers} workers");
        assert_eq!(counts.duplicates, duplicates, "{workers} workers");
        assert_eq!(counts.matches, expected, "{workers} workers");
        // One datum per matching event, each at its own second, summing to the matches.
        let summed: f64 = counts
            .timeline
            .values()
            .flatten()
            .filter(|d| d.metric_name == "puts")
            .map(|d| d.stats.sum)
            .sum();
        assert_eq!(summed as u64, puts, "{workers} workers");
        assert!(counts.timeline.keys().all(|t| t % 1000 == 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_second_are_one_datapoint_and_play_moves_the_alarm_then() {
    let f = common::fixture();
    set_up(&f).await;
    let scope = f.engine.default_scope();
    let filters = f.engine.replay_filters(&scope).await.expect("filters");
    let t0 = common::START_MS + 125_000;
    // Three denied calls in one second (two in the same millisecond), one without a time.
    let counts = filters.replay(
        1,
        |push| {
            let mut batch: Vec<Owned> = [0, 0, 400]
                .into_iter()
                .enumerate()
                .map(|(i, ms)| Owned {
                    json: r#"{"errorCode":"AccessDenied"}"#.into(),
                    event_id: Some(format!("d{i}")),
                    time_ms: Some(t0 + ms),
                })
                .collect();
            batch.push(Owned {
                json: r#"{"errorCode":"AccessDenied"}"#.into(),
                event_id: None,
                time_ms: None,
            });
            push(batch);
        },
        |_| {},
    );
    assert_eq!(counts.untimed, 1);
    assert_eq!(counts.timeline.len(), 1);
    let (second, data) = counts.timeline.iter().next().expect("a second");
    assert_eq!(*second, t0);
    assert_eq!(data.len(), 1);
    assert_eq!((data[0].stats.sum, data[0].stats.count), (3.0, 3.0));

    f.engine
        .alarms(&scope)
        .put_metric_alarm(request(json!({
            "AlarmName": "denied", "Namespace": "Replay", "MetricName": "denied",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 3,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        })))
        .await
        .expect("alarm");
    f.engine
        .play(&f.clock, &scope, counts.timeline)
        .await
        .expect("played");
    let history: serde_json::Value = serde_json::to_value(
        f.engine
            .alarms(&scope)
            .describe_alarm_history(request(json!({
                "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending",
            })))
            .await
            .expect("history"),
    )
    .expect("json");
    let moves: Vec<(i64, String)> = history["AlarmHistoryItems"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let data: serde_json::Value =
                serde_json::from_str(i["HistoryData"].as_str().expect("data")).expect("json");
            (
                (i["Timestamp"].as_f64().expect("time") * 1000.0) as i64,
                data["newState"]["stateValue"]
                    .as_str()
                    .expect("state")
                    .to_owned(),
            )
        })
        .collect();
    // ALARM at the second the three arrived; OK when their period has left the range.
    assert_eq!(moves.iter().filter(|(_, s)| s == "ALARM").count(), 1);
    let alarm_at = moves.iter().find(|(_, s)| s == "ALARM").expect("ALARM").0;
    assert_eq!(alarm_at, t0);
    let ok_after = moves.iter().rfind(|(_, s)| s == "OK").expect("OK").0;
    assert!(ok_after > t0, "{moves:?}");
}

/// The alarms of [`play_leaves_the_history_ticking_every_minute_does`]: each way of treating
/// missing data, M out of N, statistics that grow and that do not, periods of one and five
/// minutes.
fn alarm_kinds() -> Vec<serde_json::Value> {
    [
        (
            "breaching-3",
            60,
            3,
            2,
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1.0,
            "breaching",
        ),
        (
            "ignore-5",
            300,
            5,
            3,
            "SampleCount",
            "GreaterThanThreshold",
            1.0,
            "ignore",
        ),
        (
            "missing-2",
            60,
            2,
            2,
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            1.0,
            "missing",
        ),
        (
            "not-breaching-1",
            60,
            1,
            1,
            "Sum",
            "GreaterThanOrEqualToThreshold",
            2.0,
            "notBreaching",
        ),
        (
            "low-sum",
            300,
            4,
            1,
            "Sum",
            "LessThanOrEqualToThreshold",
            0.0,
            "breaching",
        ),
        (
            "average",
            60,
            2,
            1,
            "Average",
            "LessThanThreshold",
            0.5,
            "notBreaching",
        ),
    ]
    .into_iter()
    .map(
        |(name, period, periods, datapoints, stat, comparison, threshold, missing)| {
            json!({
                "AlarmName": name, "Namespace": "Replay", "MetricName": "denied",
                "Statistic": stat, "Period": period, "EvaluationPeriods": periods,
                "DatapointsToAlarm": datapoints, "Threshold": threshold,
                "ComparisonOperator": comparison, "TreatMissingData": missing,
            })
        },
    )
    .collect()
}

/// Puts the alarms of [`alarm_kinds`] in the fixture's engine.
async fn put_alarm_kinds(f: &common::Fixture) {
    let alarms = f.engine.alarms(&f.engine.default_scope());
    for alarm in alarm_kinds() {
        alarms
            .put_metric_alarm(request(alarm))
            .await
            .expect("alarm");
    }
}

/// Every state change, oldest first, as (alarm, time, history data).
async fn state_changes(f: &common::Fixture) -> Vec<(String, String, String)> {
    let history: serde_json::Value = serde_json::to_value(
        f.engine
            .alarms(&f.engine.default_scope())
            .describe_alarm_history(request(json!({
                "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending",
                "MaxRecords": 100,
            })))
            .await
            .expect("history"),
    )
    .expect("json");
    assert!(history["NextToken"].is_null(), "one page holds them all");
    history["AlarmHistoryItems"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let text = |k: &str| {
                i[k].as_str()
                    .map_or_else(|| i[k].to_string(), str::to_owned)
            };
            (text("AlarmName"), text("Timestamp"), text("HistoryData"))
        })
        .collect()
}

/// Play jumps over stretches without data and passes over alarms that would not change; the
/// server puts each event at its time and evaluates alarms as their periods end. Over bursts
/// of denied calls hours apart, both leave the same history, transition for transition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_leaves_the_history_ticking_every_minute_does() {
    let start = common::START_MS;
    let minute = 60_000;
    // Bursts: a few calls in ten minutes, one call alone, four in one minute, one every 90 s
    // for a quarter of an hour, and pairs.
    let mut times: Vec<i64> = [0, 20, 50, 70, 200, 420]
        .iter()
        .map(|s| start + 10 * minute + s * 1000)
        .collect();
    times.push(start + 180 * minute + 7_000);
    times.extend((0..4).map(|i| start + 210 * minute + 5_000 + i * 11_000));
    times.extend((0..10).map(|i| start + 420 * minute + i * 90_000));
    // Pairs of calls ever further apart: one of the gaps ends just after an alarm last found
    // nothing to look at, before it falls due again.
    let mut at = start + 300 * minute;
    for gap in 1..=12 {
        times.extend([at + 5_000, at + 25_000]);
        at += gap * minute;
    }
    times.sort_unstable();
    let event = |i: usize| format!(r#"{{"eventID":"e{i}","errorCode":"AccessDenied"}}"#);

    // Replay: matched beside the reader, then played.
    let played = common::fixture();
    set_up(&played).await;
    let scope = played.engine.default_scope();
    let filters = played.engine.replay_filters(&scope).await.expect("filters");
    let counts = filters.replay(
        2,
        |push| {
            push(
                times
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| Owned {
                        json: event(i),
                        event_id: Some(format!("e{i}")),
                        time_ms: Some(t),
                    })
                    .collect::<Vec<_>>(),
            )
        },
        |_| {},
    );
    put_alarm_kinds(&played).await;
    played
        .engine
        .play(&played.clock, &scope, counts.timeline)
        .await
        .expect("played");

    // The server's way: each event put at its time, a tick at every minute in between and for
    // three hours after the last.
    let ticked = common::fixture();
    set_up(&ticked).await;
    let logs = ticked.engine.logs(&scope);
    logs.create_log_stream(request(
        json!({"logGroupName": "trail", "logStreamName": "s"}),
    ))
    .await
    .expect("stream");
    put_alarm_kinds(&ticked).await;
    let end = times.last().expect("times") + 180 * minute;
    let mut next_tick = start;
    let mut events = times.iter().enumerate().peekable();
    while next_tick <= end {
        while let Some((i, &t)) = events.next_if(|(_, t)| **t < next_tick) {
            ticked.clock.set(t);
            ticked.engine.tick().await.expect("tick");
            logs.put_log_events(request(json!({
                "logGroupName": "trail", "logStreamName": "s",
                "logEvents": [{"timestamp": t, "message": event(i)}],
            })))
            .await
            .expect("put");
        }
        ticked.clock.set(next_tick);
        ticked.engine.tick().await.expect("tick");
        next_tick += minute;
    }

    let (by_play, by_ticks) = (state_changes(&played).await, state_changes(&ticked).await);
    assert!(by_ticks.len() > 12, "{by_ticks:#?}");
    assert_eq!(by_play, by_ticks);
}
