//! CloudWatch through the AWS SDK for Rust, which speaks rpcv2Cbor (as the Go SDK and Terraform
//! do): every operation — an alarm, data that trips it, statistics, metrics, metric data, the
//! alarm's history, its actions switched off and on, its state set by hand — and AWS's error
//! codes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_cloudwatch::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_cloudwatch::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, HistoryItemType, Metric, MetricDataQuery, MetricDatum,
    MetricStat, StateValue, Statistic,
};
use common::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server};

/// Records the Content-Type of each request, to show which protocol the SDK spoke.
#[derive(Debug, Clone, Default)]
struct ContentTypes(Arc<Mutex<Vec<String>>>);

impl Intercept for ContentTypes {
    fn name(&self) -> &'static str {
        "ContentTypes"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let content_type = context
            .request()
            .headers()
            .get("content-type")
            .unwrap_or_default()
            .to_owned();
        self.0.lock().expect("lock").push(content_type);
        Ok(())
    }
}

fn client(server: &Server, secret: &str, seen: &ContentTypes) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&server.url)
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(seen.clone())
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

#[tokio::test(flavor = "current_thread")]
async fn cloudwatch_through_the_rust_sdk_over_rpc_v2_cbor() {
    let server = Server::start();
    let seen = ContentTypes::default();
    let cw = client(&server, SECRET_ACCESS_KEY, &seen);
    let dimension = Dimension::builder().name("Service").value("api").build();

    cw.put_metric_alarm()
        .alarm_name("errors")
        .namespace("App")
        .metric_name("Errors")
        .dimensions(dimension.clone())
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(3.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");

    let now = SystemTime::now();
    cw.put_metric_data()
        .namespace("App")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Errors")
                .dimensions(dimension.clone())
                .timestamp(DateTime::from(now))
                .values(2.0)
                .values(2.5)
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData");

    let alarms = cw
        .describe_alarms()
        .alarm_names("errors")
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm), "{alarm:?}");
    assert_eq!(alarm.threshold(), Some(3.0));
    assert!(
        alarm.state_updated_timestamp().is_some(),
        "timestamps decode"
    );
    assert!(
        alarm
            .state_reason()
            .is_some_and(|r| r.starts_with("Threshold Crossed: 1 datapoint [4.5 (")),
        "{alarm:?}"
    );

    let stats = cw
        .get_metric_statistics()
        .namespace("App")
        .metric_name("Errors")
        .dimensions(dimension.clone())
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(600)))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("GetMetricStatistics");
    let point = &stats.datapoints()[0];
    assert_eq!((point.sum(), point.maximum()), (Some(4.5), Some(2.5)));

    let metrics = cw
        .list_metrics()
        .namespace("App")
        .send()
        .await
        .expect("ListMetrics");
    assert_eq!(metrics.metrics().len(), 1);

    let query = MetricDataQuery::builder()
        .id("q")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("App")
                        .metric_name("Errors")
                        .dimensions(dimension.clone())
                        .build(),
                )
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let data = cw
        .get_metric_data()
        .metric_data_queries(query.clone())
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(600)))
        .send()
        .await
        .expect("GetMetricData");
    assert_eq!(data.metric_data_results()[0].values(), [4.5]);
    let err = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(600)))
        .next_token("nonsense")
        .send()
        .await
        .expect_err("an invented token is refused");
    assert_eq!(err.code(), Some("InvalidNextToken"), "{err:?}");

    let for_metric = cw
        .describe_alarms_for_metric()
        .namespace("App")
        .metric_name("Errors")
        .dimensions(dimension)
        .send()
        .await
        .expect("DescribeAlarmsForMetric");
    let names: Vec<_> = (for_metric.metric_alarms().iter())
        .filter_map(|a| a.alarm_name())
        .collect();
    assert_eq!(names, ["errors"]);

    let history = cw
        .describe_alarm_history()
        .alarm_name("errors")
        .send()
        .await
        .expect("DescribeAlarmHistory");
    assert!(
        (history.alarm_history_items().iter())
            .any(|i| i.history_item_type() == Some(&HistoryItemType::StateUpdate)),
        "{history:?}"
    );
    let err = cw
        .describe_alarm_history()
        .next_token("nonsense")
        .send()
        .await
        .expect_err("an invented token is refused");
    assert_eq!(err.code(), Some("InvalidNextToken"), "{err:?}");

    let actions_enabled =
        |alarms: aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput| {
            alarms.metric_alarms()[0].actions_enabled()
        };
    cw.disable_alarm_actions()
        .alarm_names("errors")
        .send()
        .await
        .expect("DisableAlarmActions");
    let alarms = cw.describe_alarms().alarm_names("errors").send().await;
    assert_eq!(
        actions_enabled(alarms.expect("DescribeAlarms")),
        Some(false)
    );
    cw.enable_alarm_actions()
        .alarm_names("errors")
        .send()
        .await
        .expect("EnableAlarmActions");
    let alarms = cw.describe_alarms().alarm_names("errors").send().await;
    assert_eq!(actions_enabled(alarms.expect("DescribeAlarms")), Some(true));

    cw.set_alarm_state()
        .alarm_name("errors")
        .state_value(StateValue::Ok)
        .state_reason("checked by hand")
        .send()
        .await
        .expect("SetAlarmState");
    let alarms = cw.describe_alarms().alarm_names("errors").send().await;
    let alarms = alarms.expect("DescribeAlarms");
    assert_eq!(
        alarms.metric_alarms()[0].state_value(),
        Some(&StateValue::Ok)
    );
    let err = cw
        .set_alarm_state()
        .alarm_name("absent")
        .state_value(StateValue::Ok)
        .state_reason("r")
        .send()
        .await
        .expect_err("no such alarm");
    assert_eq!(err.code(), Some("ResourceNotFound"), "{err:?}");

    // The SDK does not check lengths; the server names the empty value as CloudWatch does.
    let err = cw
        .put_metric_data()
        .namespace("App")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Errors")
                .dimensions(Dimension::builder().name("Service").value("").build())
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .expect_err("an empty dimension value is missing");
    assert_eq!(err.code(), Some("MissingParameter"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("The parameter MetricData.member.1.Dimensions.member.1.Value is required."),
    );

    let err = cw
        .put_metric_alarm()
        .alarm_name("bad")
        .namespace("App")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(45)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect_err("a 45-second period is invalid");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");

    cw.delete_alarms()
        .alarm_names("errors")
        .send()
        .await
        .expect("DeleteAlarms");
    let left = cw.describe_alarms().send().await.expect("DescribeAlarms");
    assert!(left.metric_alarms().is_empty());

    // A wrong secret is refused with AWS's code.
    let wrong = client(&server, "not-the-secret", &seen);
    let err = wrong
        .list_metrics()
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");

    let types = seen.0.lock().expect("lock").clone();
    assert!(
        !types.is_empty() && types.iter().all(|t| t == "application/cbor"),
        "the SDK spoke rpcv2Cbor: {types:?}"
    );
}
