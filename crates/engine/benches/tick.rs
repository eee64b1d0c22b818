//! The alarm tick with 100,000 alarms of which 100 come due: a tick evaluates the alarms whose
//! period has ended (`tick/scheduled`), where it used to evaluate every alarm
//! (`tick/every-alarm`, which `Engine::evaluate_every_alarm` still does).
//!
//! 100 alarms have a 60-second period and 99,900 a one-week period; each iteration moves the
//! engine's manual clock on by a minute, so that the 100 come due and the others do not (the
//! run stays within the week). The store lives in a temporary directory (set
//! `TMPDIR=/dev/shm` to keep fsyncs out of the figures).
//!
//! ```sh
//! cargo bench -p trailwatch-engine --bench tick
//! ```

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::{Config, Engine, ManualClock};
use serde_json::json;

const ALARMS: usize = 100_000;
const DUE: usize = 100;
const WEEK_S: i64 = 7 * 24 * 3600;

fn alarm(i: usize) -> engine::alarms::api::MetricAlarm {
    let period = if i < DUE { 60 } else { WEEK_S };
    serde_json::from_value(json!({
        "AlarmName": format!("alarm-{i:06}"),
        "Namespace": "Bench",
        "MetricName": format!("metric-{i}"),
        "Statistic": "Sum",
        "Period": period,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }))
    .expect("an alarm")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Just after a week's start: the week-long periods stay open for the whole run.
    let start_ms = (1_800_000_000 / WEEK_S + 1) * WEEK_S * 1000 + 1;
    let clock = Arc::new(ManualClock::at(start_ms));
    let store = store::SqliteStore::open(dir.path(), &Default::default()).expect("a store");
    let engine = Arc::new(Engine::with_clock(
        Config::new(dir.path().to_path_buf(), "http://127.0.0.1:9"),
        Arc::new(store),
        clock.clone(),
    ));
    runtime.block_on(async {
        // Concurrent puts share commits.
        for chunk in (0..ALARMS).collect::<Vec<_>>().chunks(2_000) {
            let puts = chunk.iter().map(|&i| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    engine
                        .alarms(&Default::default())
                        .put_metric_alarm(alarm(i))
                        .await
                })
            });
            for put in puts {
                put.await.expect("a task").expect("an alarm");
            }
        }
        // The first tick has every alarm due (as after a start).
        engine.tick().await.expect("a tick");
    });

    let mut group = c.benchmark_group("tick");
    group.sample_size(10);
    // Short enough that the clock, a minute further each iteration, stays within the week:
    // the long-period alarms must not come due during the run.
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("scheduled", |b| {
        b.iter(|| {
            clock.advance(60_000);
            runtime.block_on(engine.tick()).expect("a tick");
        })
    });
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("every-alarm", |b| {
        b.iter(|| {
            clock.advance(60_000);
            runtime
                .block_on(engine.evaluate_every_alarm())
                .expect("an evaluation");
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
