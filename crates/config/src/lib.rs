//! A monitoring set-up as one TOML file: log groups, metric filters, alarms, topics and their
//! subscriptions, each table's keys the parameters of the AWS call that makes it, in snake
//! case (`PutMetricAlarm`'s `ComparisonOperator` is `comparison_operator`, as the AWS CLI's
//! `--comparison-operator`).
//!
//! ```toml
//! region = "us-east-1"
//!
//! [[log_groups]]
//! log_group_name = "CloudTrail/DefaultLogGroup"
//! retention_in_days = 365
//!
//! [[metric_filters]]
//! log_group_name = "CloudTrail/DefaultLogGroup"
//! filter_name = "RootAccountUsage"
//! filter_pattern = '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }'
//! metric_transformations = [
//!   { metric_name = "RootAccountUsage", metric_namespace = "CISBenchmark", metric_value = "1" },
//! ]
//!
//! [[alarms]]
//! alarm_name = "RootAccountUsage"
//! namespace = "CISBenchmark"
//! metric_name = "RootAccountUsage"
//! statistic = "Sum"
//! period = 300
//! evaluation_periods = 1
//! threshold = 1
//! comparison_operator = "GreaterThanOrEqualToThreshold"
//! alarm_actions = ["cis-alarms"]
//!
//! [[topics]]
//! name = "cis-alarms"
//! subscriptions = [{ protocol = "email", endpoint = "secops@example.com" }]
//!
//! [[trails]]
//! name = "management"
//! s3_bucket_name = "audit-logs"
//! is_multi_region_trail = true
//! cloud_watch_logs_log_group_arn = "CloudTrail/DefaultLogGroup"
//! cloud_watch_logs_role_arn = "arn:aws:iam::123456789012:role/CloudTrail_CloudWatchLogs"
//! ```
//!
//! Alarm actions name a topic of the file by its name (it becomes the topic's ARN wherever the
//! file is applied) or give any ARN. A metric filter's log group must be declared in the file,
//! so that the file alone makes a working set-up. [`File::parse`] refuses what the APIs would
//! refuse before anything is applied only where the file alone can tell (unknown keys, wrong
//! types, patterns that do not parse, names used twice, references to nothing); the rest the
//! API that applies it says, and [`File::locate`] names the line of the item it said it of.

pub mod plan;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A configuration file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The region to apply the file in, when neither a flag nor the environment names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_groups: Vec<LogGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_filters: Vec<MetricFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Topic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trails: Vec<Trail>,
    /// The CIS AWS Foundations Benchmark monitoring controls, installed as `trailwatch cis
    /// apply` installs them: a filter and an alarm for each control that neither the endpoint
    /// nor the file's own filters meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis: Option<Cis>,
}

/// `[cis]`: where and how the CIS monitoring controls are installed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cis {
    /// The benchmark version (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis_version: Option<String>,
    /// The log group the trail delivers to (default `CloudTrail/DefaultLogGroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    /// The topic the alarms notify (default `cis-alarms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// `literal` (the benchmark's strings, the default) or `tight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

/// `CreateLogGroup` and `PutRetentionPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogGroup {
    pub log_group_name: String,
    /// Days events are kept; without it, forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i64>,
}

/// `PutMetricFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricFilter {
    pub log_group_name: String,
    pub filter_name: String,
    pub filter_pattern: String,
    pub metric_transformations: Vec<MetricTransformation>,
}

/// A metric filter's `MetricTransformation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTransformation {
    pub metric_name: String,
    pub metric_namespace: String,
    /// `"1"` to count matches, or a `$.field` (`$n` for a space-delimited pattern).
    pub metric_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Dimension name to the field giving its value (`$.eventSource`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// `PutMetricAlarm` on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    pub alarm_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    /// Whether the actions run (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_enabled: Option<bool>,
    /// Topic names of this file, or ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ok_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insufficient_data_actions: Vec<String>,
    pub namespace: String,
    pub metric_name: String,
    /// Dimension name to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    pub period: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: f64,
    pub comparison_operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
}

/// `CreateTopic` (with its attributes) and a `Subscribe` for each subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    /// `DisplayName`, `Policy`, `DeliveryPolicy`…
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
}

/// `Subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    /// `RawMessageDelivery`, `FilterPolicy`, `DeliveryPolicy`…
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `CreateTrail` (or `UpdateTrail`), `AddTags`, and `StartLogging` or `StopLogging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trail {
    pub name: String,
    pub s3_bucket_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_key_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns_topic_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_multi_region_trail: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_global_service_events: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_log_file_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_organization_trail: Option<bool>,
    /// A log group of this file by its name (it becomes the group's ARN wherever the file is
    /// applied), or a log group's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs_log_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether the trail logs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_logging: Option<bool>,
    /// Tag key to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Trail {
    /// The name of the log group it delivers to, from a name or an ARN
    /// (`arn:aws:logs:<region>:<account>:log-group:<name>:*`).
    pub fn log_group_name(&self) -> Option<&str> {
        let group = self.cloud_watch_logs_log_group_arn.as_deref()?;
        if !group.starts_with("arn:") {
            return Some(group);
        }
        let name = group.split_once(":log-group:")?.1;
        Some(name.strip_suffix(":*").unwrap_or(name))
    }
}

/// What is wrong with a file, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Error {
    /// The file as it was named.
    pub file: String,
    /// From 1; 0 when the file could not be read at all.
    pub line: usize,
    /// Where in the file's structure, as `alarms[2].threshold`; empty for the file's syntax.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A place in the file's structure: keys and array indices from the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Writes a path as `alarms[2].threshold`.
fn path_text(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(k);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// A parsed file, with its text kept to say where its items are.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: File,
    name: String,
    text: String,
}

impl File {
    /// Parses and checks the text of a file named `name` (the name only labels errors).
    pub fn parse(name: &str, text: &str) -> Result<Parsed, Error> {
        let syntax = |e: toml::de::Error| Error {
            file: name.to_owned(),
            line: e.span().map_or(0, |s| line_at(text, s.start)),
            key: String::new(),
            message: e.message().trim_end().to_owned(),
        };
        let deserializer = toml::Deserializer::parse(text).map_err(syntax)?;
        let file: File = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let steps = steps_of(&path);
            let line = inner
                .span()
                .map(|s| line_at(text, s.start))
                .or_else(|| locate_in(text, &steps))
                .unwrap_or(0);
            Error {
                file: name.to_owned(),
                line,
                key: if path == "." { String::new() } else { path },
                message: inner.message().trim_end().to_owned(),
            }
        })?;
        let parsed = Parsed {
            file,
            name: name.to_owned(),
            text: text.to_owned(),
        };
        parsed.check()?;
        Ok(parsed)
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The topics' names, for telling a topic of the file from an ARN in alarm actions.
    pub fn is_topic(&self, action: &str) -> bool {
        self.topics.iter().any(|t| t.name == action)
    }

    /// Alarm actions as they are sent: a topic of the file as its ARN in `arns` (by topic
    /// name) where it is known, anything else as it is.
    pub fn action_arns(
        &self,
        actions: &[String],
        arns: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        actions
            .iter()
            .map(|a| match arns.get(a) {
                Some(arn) if self.is_topic(a) => arn.clone(),
                _ => a.clone(),
            })
            .collect()
    }
}

/// Turns serde_path_to_error's `alarms[2].threshold` into steps.
fn steps_of(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                steps.push(Step::Key(rest[..open].to_owned()));
            }
            rest = &rest[open..];
            while rest.starts_with('[')
                && let Some(close) = rest.find(']')
            {
                if let Some(Ok(i)) = rest.get(1..close).map(str::parse) {
                    steps.push(Step::Index(i));
                }
                rest = &rest[close + 1..];
            }
        } else if !rest.is_empty() && rest != "?" {
            steps.push(Step::Key(rest.to_owned()));
        }
    }
    steps
}

/// The line (from 1) holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the value at `path`, or of the nearest enclosing one that is in the file.
fn locate_in(text: &str, path: &[Step]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let top = DeValue::Table(root.into_inner());
    let mut value: &DeValue<'_> = &top;
    let mut span = None;
    for step in path {
        let next = match step {
            Step::Key(k) => value.get(k.as_str()),
            Step::Index(i) => value.get(*i),
        };
        match next {
            Some(found) => {
                span = Some(found.span());
                value = found.get_ref();
            }
            None => break,
        }
    }
    span.map(|s| line_at(text, s.start))
}

impl Parsed {
    /// The name the file was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same file with `file` as its content: items it adds after the file's own have no
    /// line, the file's own keep theirs.
    pub fn with_file(&self, file: File) -> Parsed {
        Parsed {
            file,
            name: self.name.clone(),
            text: self.text.clone(),
        }
    }

    /// An error about the value at `path`, on its line.
    pub fn error_at(&self, path: &[Step], message: impl Into<String>) -> Error {
        Error {
            file: self.name.clone(),
            line: locate_in(&self.text, path).unwrap_or(0),
            key: path_text(path),
            message: message.into(),
        }
    }

    /// An error about an item (`what` it is), for what the API that applied it answered: on
    /// the line of the key the answer names (`Period` or `retentionInDays` is the item's
    /// `period` or `retention_in_days`), else of the item's name.
    pub fn error_at_item(&self, item: Item, what: &str, answer: &str) -> Error {
        let mut path = item.path();
        let table = &path[..path.len() - 1];
        if let Some(key) = self.key_named_in(table, answer) {
            path.truncate(path.len() - 1);
            path.push(Step::Key(key));
        }
        self.error_at(&path, format!("{what}: {answer}"))
    }

    /// The key of the table at `table` that `message` names in an AWS API's spelling, the
    /// longest if several.
    fn key_named_in(&self, table: &[Step], message: &str) -> Option<String> {
        use toml::de::{DeTable, DeValue};
        let root = DeTable::parse(&self.text).ok()?;
        let top = DeValue::Table(root.into_inner());
        let mut value = &top;
        for step in table {
            value = match step {
                Step::Key(k) => value.get(k.as_str())?.get_ref(),
                Step::Index(i) => value.get(*i)?.get_ref(),
            };
        }
        let words: Vec<&str> = message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .collect();
        value
            .as_table()?
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .filter(|k| {
                let pascal: String = k
                    .split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect();
                let camel = pascal
                    .chars()
                    .next()
                    .map(|f| f.to_ascii_lowercase().to_string() + &pascal[1..])
                    .unwrap_or_default();
                words.iter().any(|w| *w == pascal || *w == camel)
            })
            .max_by_key(String::len)
    }

    fn check(&self) -> Result<(), Error> {
        let f = &self.file;
        let key = |list: &str, i: usize, field: &str| {
            vec![
                Step::Key(list.into()),
                Step::Index(i),
                Step::Key(field.into()),
            ]
        };
        let mut groups = std::collections::HashSet::new();
        for (i, g) in f.log_groups.iter().enumerate() {
            if !groups.insert(g.log_group_name.as_str()) {
                return Err(self.error_at(
                    &key("log_groups", i, "log_group_name"),
                    format!("log group {} is declared twice", g.log_group_name),
                ));
            }
        }
        let mut filters = std::collections::HashSet::new();
        for (i, m) in f.metric_filters.iter().enumerate() {
            if !groups.contains(m.log_group_name.as_str()) {
                return Err(self.error_at(
                    &key("metric_filters", i, "log_group_name"),
                    format!(
                        "log group {} is not declared in [[log_groups]]",
                        m.log_group_name
                    ),
                ));
            }
            if !filters.insert((m.log_group_name.as_str(), m.filter_name.as_str())) {
                return Err(self.error_at(
                    &key("metric_filters", i, "filter_name"),
                    format!(
                        "metric filter {} of log group {} is declared twice",
                        m.filter_name, m.log_group_name
                    ),
                ));
            }
            if let Err(e) = filter::FilterPattern::parse(&m.filter_pattern) {
                return Err(
                    self.error_at(&key("metric_filters", i, "filter_pattern"), e.to_string())
                );
            }
            if m.metric_transformations.len() != 1 {
                return Err(self.error_at(
                    &key("metric_filters", i, "metric_transformations"),
                    "a metric filter has exactly one metric transformation",
                ));
            }
        }
        let mut alarms = std::collections::HashSet::new();
        for (i, a) in f.alarms.iter().enumerate() {
            if !alarms.insert(a.alarm_name.as_str()) {
                return Err(self.error_at(
                    &key("alarms", i, "alarm_name"),
                    format!("alarm {} is declared twice", a.alarm_name),
                ));
            }
            for (list, actions) in [
                ("alarm_actions", &a.alarm_actions),
                ("ok_actions", &a.ok_actions),
                ("insufficient_data_actions", &a.insufficient_data_actions),
            ] {
                for (j, action) in actions.iter().enumerate() {
                    if !action.starts_with("arn:") && !f.is_topic(action) {
                        let mut at = key("alarms", i, list);
                        at.push(Step::Index(j));
                        return Err(self.error_at(
                            &at,
                            format!("{action} is neither a topic of [[topics]] nor an ARN"),
                        ));
                    }
                }
            }
        }
        let mut topics = std::collections::HashSet::new();
        for (i, t) in f.topics.iter().enumerate() {
            if !topics.insert(t.name.as_str()) {
                return Err(self.error_at(
                    &key("topics", i, "name"),
                    format!("topic {} is declared twice", t.name),
                ));
            }
        }
        let mut trails = std::collections::HashSet::new();
        for (i, t) in f.trails.iter().enumerate() {
            if !trails.insert(t.name.as_str()) {
                return Err(self.error_at(
                    &key("trails", i, "name"),
                    format!("trail {} is declared twice", t.name),
                ));
            }
            if let Some(group) = &t.cloud_watch_logs_log_group_arn
                && !group.starts_with("arn:")
                && !groups.contains(group.as_str())
            {
                return Err(self.error_at(
                    &key("trails", i, "cloud_watch_logs_log_group_arn"),
                    format!("{group} is neither a log group of [[log_groups]] nor an ARN"),
                ));
            }
        }
        Ok(())
    }
}

/// An item of a file, to say where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    LogGroup(usize),
    MetricFilter(usize),
    Alarm(usize),
    Topic(usize),
    /// A topic's subscription: topic, then subscription.
    Subscription(usize, usize),
    Trail(usize),
}

impl Item {
    /// The path of the key naming the item.
    pub fn path(self) -> Vec<Step> {
        let at = |list: &str, i: usize, field: &str| {
            vec![
                Step::Key(list.into()),
                Step::Index(i),
                Step::Key(field.into()),
            ]
        };
        match self {
            Item::LogGroup(i) => at("log_groups", i, "log_group_name"),
            Item::MetricFilter(i) => at("metric_filters", i, "filter_name"),
            Item::Alarm(i) => at("alarms", i, "alarm_name"),
            Item::Topic(i) => at("topics", i, "name"),
            Item::Trail(i) => at("trails", i, "name"),
            Item::Subscription(t, s) => vec![
                Step::Key("topics".into()),
                Step::Index(t),
                Step::Key("subscriptions".into()),
                Step::Index(s),
            ],
        }
    }
}

#[cfg(test)]
mod tests;
