//! What an audit reads of an account: its trails, the metric filters of their log groups, the
//! alarms of those regions and the subscriptions of the alarms' topics — as the AWS APIs
//! answer, gathered by the caller (the binary does it through the AWS SDK for Rust), so the
//! audit itself is pure and runs the same on trailwatch and on AWS.

use std::collections::BTreeMap;

use engine::scope::Arn;
use engine::trails::api::{AdvancedEventSelector, EventSelector};
use serde::Serialize;

/// An account as the audit sees it. A listing that failed is kept as its error, so the
/// controls that need it are reported as not decided rather than failed.
#[derive(Debug, Clone)]
pub struct Account {
    /// The caller's account (STS GetCallerIdentity), when known.
    pub account_id: Option<String>,
    /// The region audited: where trails were listed.
    pub region: String,
    /// When it was read, in epoch milliseconds.
    pub read_at_ms: i64,
    /// DescribeTrails of that region, shadow trails included.
    pub trails: Result<Vec<Trail>, String>,
    /// The log groups trails deliver to, by the ARN the trail gives.
    pub log_groups: BTreeMap<String, Result<LogGroup, String>>,
    /// Every alarm of each region holding one of those log groups.
    pub alarms: BTreeMap<String, Result<Vec<Alarm>, String>>,
    /// The subscriptions of every topic alarms notify, by topic ARN; `None` for a topic that
    /// does not exist.
    pub topics: BTreeMap<String, Result<Option<Vec<Subscription>>, String>>,
}

impl Account {
    /// An account with nothing in it, in `region`.
    pub fn empty(region: &str) -> Account {
        Account {
            account_id: None,
            region: region.to_owned(),
            read_at_ms: 0,
            trails: Ok(Vec::new()),
            log_groups: BTreeMap::new(),
            alarms: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }
}

/// A trail, with its status and selectors.
#[derive(Debug, Clone, Serialize)]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group_arn: Option<String>,
    /// GetTrailStatus.
    #[serde(skip)]
    pub status: Result<TrailStatus, String>,
    /// GetEventSelectors.
    #[serde(skip)]
    pub selectors: Result<Selectors, String>,
}

impl Default for Selectors {
    fn default() -> Selectors {
        Selectors::Basic(vec![EventSelector::default()])
    }
}

/// What GetTrailStatus says of delivery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailStatus {
    pub is_logging: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_delivery_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
}

/// A trail's event selectors: basic, or advanced (which replace them).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

/// A log group and its metric filters; `exists` false when the trail names a group that is
/// not there.
#[derive(Debug, Clone, Default)]
pub struct LogGroup {
    pub exists: bool,
    pub metric_filters: Vec<MetricFilter>,
}

/// A metric filter as DescribeMetricFilters gives it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricFilter {
    pub name: String,
    pub pattern: String,
    pub transformations: Vec<Transformation>,
}

/// Where a filter's matches go.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Transformation {
    pub namespace: String,
    pub name: String,
    pub value: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// Published for every log event the filter does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// An alarm as DescribeAlarms gives it (metric alarms, metric math included).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Alarm {
    pub name: String,
    pub arn: String,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    pub period: Option<i32>,
    pub evaluation_periods: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub comparison_operator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// The metrics of a metric-math alarm.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricQuery>,
}

/// One metric of a metric-math alarm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricQuery {
    pub id: String,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// A topic's subscription; `arn` is `PendingConfirmation` until confirmed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    pub arn: String,
}

impl Subscription {
    pub fn confirmed(&self) -> bool {
        config::plan::is_confirmed(&self.arn)
    }
}

/// Whether an ARN is an SNS topic's (an alarm action that notifies).
pub fn is_topic(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|a| a.service == "sns")
}

/// The region and name of the log group a `CloudWatchLogsLogGroupArn` names
/// (`arn:aws:logs:<region>:<account>:log-group:<name>:*`).
pub fn log_group_of(arn: &str) -> Option<(&str, &str)> {
    let parsed = Arn::parse(arn)?;
    Some((parsed.region, parsed.log_group()?))
}
