//! Alarms on a manual clock, in process: what data changes at once, and what only time changes
//! (a period closing, data that stopped arriving), which the tick decides when the alarm's
//! period ends. Each case takes milliseconds: the clock moves when the test says.

mod common;

use common::{Fixture, fixture};
use serde_json::{Value, json};

impl Fixture {
    async fn alarm(&self, config: Value) {
        let request = serde_json::from_value(config).expect("an alarm");
        self.engine
            .alarms(&Default::default())
            .put_metric_alarm(request)
            .await
            .expect("PutMetricAlarm");
    }

    async fn datum(&self, value: f64) {
        let request = serde_json::from_value(json!({
            "Namespace": "Test",
            "MetricData": [{"MetricName": "m", "Value": value, "Timestamp": self.clock_s()}],
        }))
        .expect("a datum");
        self.engine
            .metrics(&Default::default())
            .put_metric_data(request)
            .await
            .expect("PutMetricData");
    }

    fn clock_s(&self) -> f64 {
        use engine::Clock;
        self.clock.now_ms() as f64 / 1000.0
    }

    async fn state(&self, name: &str) -> String {
        let request = serde_json::from_value(json!({"AlarmNames": [name]})).expect("a request");
        let found = self
            .engine
            .alarms(&Default::default())
            .describe_alarms(request)
            .await
            .expect("DescribeAlarms");
        found.metric_alarms[0].state_value.clone()
    }

    /// Moves the clock on and runs the tick, as `serve` does every second.
    async fn after(&self, ms: i64) {
        self.clock.advance(ms);
        self.engine.tick().await.expect("tick");
    }
}

fn rule(name: &str, comparison: &str, threshold: f64, treat_missing: &str) -> Value {
    json!({
        "AlarmName": name, "Namespace": "Test", "MetricName": "m", "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": 1, "Threshold": threshold,
        "ComparisonOperator": comparison, "TreatMissingData": treat_missing,
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_breach_that_later_data_cannot_undo_alarms_at_once() {
    let f = fixture();
    f.alarm(rule("up", "GreaterThanOrEqualToThreshold", 1.0, "missing"))
        .await;
    f.after(5_000).await;
    f.datum(3.0).await;
    assert_eq!(f.state("up").await, "ALARM", "no tick needed");
}

#[tokio::test(flavor = "current_thread")]
async fn a_condition_later_data_could_undo_waits_for_its_period_to_close() {
    let f = fixture();
    f.alarm(rule("low", "LessThanThreshold", 5.0, "missing"))
        .await;
    f.after(5_000).await;
    f.datum(1.0).await;
    // More data in this minute could still lift the Sum to 5.
    assert_eq!(f.state("low").await, "INSUFFICIENT_DATA");
    f.after(30_000).await;
    assert_eq!(
        f.state("low").await,
        "INSUFFICIENT_DATA",
        "the period is open"
    );
    // The minute ends: the tick evaluates the closed period.
    f.after(25_000).await;
    assert_eq!(f.state("low").await, "ALARM");
}

#[tokio::test(flavor = "current_thread")]
async fn data_that_stops_arriving_is_missing_data_once_periods_close() {
    let f = fixture();
    f.alarm(rule(
        "gone",
        "GreaterThanOrEqualToThreshold",
        1.0,
        "missing",
    ))
    .await;
    f.alarm(rule(
        "quiet",
        "GreaterThanOrEqualToThreshold",
        1.0,
        "notBreaching",
    ))
    .await;
    f.after(1_000).await;
    f.datum(2.0).await;
    assert_eq!(f.state("gone").await, "ALARM");
    assert_eq!(f.state("quiet").await, "ALARM");
    // While the datum's period is within the evaluation range (N + 2 = 3 periods back from the
    // open one), the most recent datapoint decides.
    for _ in 0..3 {
        f.after(60_000).await;
        assert_eq!(
            f.state("quiet").await,
            "ALARM",
            "the datum is still in range"
        );
        assert_eq!(
            f.state("gone").await,
            "ALARM",
            "the datum is still in range"
        );
    }
    // Once it has left the range, only missing data is left.
    f.after(60_000).await;
    assert_eq!(
        f.state("quiet").await,
        "OK",
        "missing data treated as not breaching"
    );
    assert_eq!(
        f.state("gone").await,
        "INSUFFICIENT_DATA",
        "missing data stays missing"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_tick_evaluates_only_alarms_whose_period_has_ended() {
    let f = fixture();
    let minute = rule("minute", "LessThanThreshold", 5.0, "missing");
    let mut hour = rule("hour", "LessThanThreshold", 5.0, "missing");
    hour["Period"] = json!(3600);
    f.alarm(minute).await;
    f.alarm(hour).await;
    f.after(1_000).await;
    f.datum(1.0).await;
    f.after(60_000).await;
    assert_eq!(f.state("minute").await, "ALARM");
    assert_eq!(
        f.state("hour").await,
        "INSUFFICIENT_DATA",
        "its period is still open"
    );
    f.after(3_600_000).await;
    assert_eq!(f.state("hour").await, "ALARM");
}
