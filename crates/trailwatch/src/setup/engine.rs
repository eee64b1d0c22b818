//! The engine of this process as a target of configuration files: each call is the engine's
//! operation on the request the AWS API would carry.

use std::collections::BTreeMap;

use config::plan::{Call, Current};
use config::{Alarm, File, LogGroup, MetricFilter, MetricTransformation, Subscription, Trail};
use engine::scope::Scope;
use engine::{ApiError, Engine};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Arns, Target};

/// An engine in one scope.
pub struct EngineTarget<'e> {
    pub engine: &'e Engine,
    pub scope: Scope,
}

/// A request of the engine from the JSON of the AWS API's.
fn request<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("InvalidParameterValue: {e}"))
}

/// A response of the engine as the JSON of the AWS API's.
fn response(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn said(e: ApiError) -> String {
    e.to_string()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

fn texts(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON object of strings as a map.
fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Every item of a listing answered in pages: `page` fetches the page after a token (`None`
/// for the first); `items` and `token` are the response's keys for its items and next token.
async fn all<F, Fut>(items: &str, token: &str, mut page: F) -> anyhow::Result<Vec<Value>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Value, PageError>>,
{
    let mut found = Vec::new();
    let mut next = None;
    loop {
        let mut answer = page(next).await.map_err(|e| anyhow::anyhow!(e.0))?;
        if let Value::Array(list) = answer[items].take() {
            found.extend(list);
        }
        next = opt_text(&answer, token);
        if next.is_none() {
            return Ok(found);
        }
    }
}

/// Why a page could not be had: a request that would not form, or the engine's answer.
struct PageError(String);

impl From<String> for PageError {
    fn from(e: String) -> PageError {
        PageError(e)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e.to_string())
    }
}

/// `CreateTrail`'s request (`UpdateTrail`'s with `update`, where a member the file leaves out
/// is cleared) for a trail of the file, its log group given as `group_arn`.
pub fn trail_request(t: &Trail, group_arn: Option<String>, update: bool) -> Value {
    let text = |v: &Option<String>| match v {
        Some(v) => json!(v),
        None if update => json!(""),
        None => Value::Null,
    };
    let mut v = json!({
        "Name": t.name,
        "S3BucketName": t.s3_bucket_name,
        "S3KeyPrefix": text(&t.s3_key_prefix),
        "SnsTopicName": text(&t.sns_topic_name),
        "IsMultiRegionTrail": t.is_multi_region_trail.unwrap_or(false),
        "IncludeGlobalServiceEvents": t.include_global_service_events.unwrap_or(true),
        "EnableLogFileValidation": t.enable_log_file_validation.unwrap_or(false),
        "IsOrganizationTrail": t.is_organization_trail.unwrap_or(false),
        "CloudWatchLogsLogGroupArn": text(&group_arn),
        "CloudWatchLogsRoleArn": text(&t.cloud_watch_logs_role_arn),
        "KmsKeyId": text(&t.kms_key_id),
    });
    if !update {
        v["TagsList"] = tags_list(t);
    }
    if let Value::Object(members) = &mut v {
        members.retain(|_, value| !value.is_null());
    }
    v
}

/// A trail's tags as CloudTrail's `TagsList`.
pub fn tags_list(t: &Trail) -> Value {
    t.tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

/// A trail as DescribeTrails shows it, with its logging and tags, as a file's.
fn trail_of(v: &Value, is_logging: bool, tags: BTreeMap<String, String>) -> Trail {
    Trail {
        name: text(v, "Name"),
        s3_bucket_name: text(v, "S3BucketName"),
        s3_key_prefix: opt_text(v, "S3KeyPrefix"),
        sns_topic_name: opt_text(v, "SnsTopicName"),
        is_multi_region_trail: v["IsMultiRegionTrail"].as_bool(),
        include_global_service_events: v["IncludeGlobalServiceEvents"].as_bool(),
        enable_log_file_validation: v["LogFileValidationEnabled"].as_bool(),
        is_organization_trail: v["IsOrganizationTrail"].as_bool(),
        cloud_watch_logs_log_group_arn: opt_text(v, "CloudWatchLogsLogGroupArn"),
        cloud_watch_logs_role_arn: opt_text(v, "CloudWatchLogsRoleArn"),
        kms_key_id: opt_text(v, "KmsKeyId"),
        is_logging: Some(is_logging),
        tags,
    }
}

/// `PutMetricFilter`'s request for a filter of the file.
pub fn metric_filter_request(m: &MetricFilter) -> Value {
    let transformations: Vec<Value> = m
        .metric_transformations
        .iter()
        .map(|t| {
            let mut v = json!({
                "metricName": t.metric_name,
                "metricNamespace": t.metric_namespace,
                "metricValue": t.metric_value,
            });
            if let Some(d) = t.default_value {
                v["defaultValue"] = json!(d);
            }
            if let Some(u) = &t.unit {
                v["unit"] = json!(u);
            }
            if !t.dimensions.is_empty() {
                v["dimensions"] = json!(t.dimensions);
            }
            v
        })
        .collect();
    json!({
        "logGroupName": m.log_group_name,
        "filterName": m.filter_name,
        "filterPattern": m.filter_pattern,
        "metricTransformations": transformations,
    })
}

/// `PutMetricAlarm`'s request for an alarm of the file, its topics made ARNs.
pub fn alarm_request(a: &Alarm, file: &File, arns: &Arns) -> Value {
    let mut v = json!({
        "AlarmName": a.alarm_name,
        "Namespace": a.namespace,
        "MetricName": a.metric_name,
        "Period": a.period,
        "EvaluationPeriods": a.evaluation_periods,
        "Threshold": a.threshold,
        "ComparisonOperator": a.comparison_operator,
        "AlarmActions": file.action_arns(&a.alarm_actions, arns),
        "OKActions": file.action_arns(&a.ok_actions, arns),
        "InsufficientDataActions": file.action_arns(&a.insufficient_data_actions, arns),
        "Dimensions": a.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>(),
    });
    let optional = [
        (
            "AlarmDescription",
            a.alarm_description.as_ref().map(|s| json!(s)),
        ),
        ("ActionsEnabled", a.actions_enabled.map(|b| json!(b))),
        ("Statistic", a.statistic.as_ref().map(|s| json!(s))),
        (
            "ExtendedStatistic",
            a.extended_statistic.as_ref().map(|s| json!(s)),
        ),
        ("Unit", a.unit.as_ref().map(|s| json!(s))),
        ("DatapointsToAlarm", a.datapoints_to_alarm.map(|n| json!(n))),
        (
            "TreatMissingData",
            a.treat_missing_data.as_ref().map(|s| json!(s)),
        ),
        (
            "EvaluateLowSampleCountPercentile",
            a.evaluate_low_sample_count_percentile
                .as_ref()
                .map(|s| json!(s)),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            v[key] = value;
        }
    }
    v
}

/// An alarm as `DescribeAlarms` describes it, as a file's alarm.
pub fn alarm_of(v: &Value) -> Alarm {
    Alarm {
        alarm_name: text(v, "AlarmName"),
        alarm_description: opt_text(v, "AlarmDescription"),
        actions_enabled: v["ActionsEnabled"].as_bool(),
        alarm_actions: texts(v, "AlarmActions"),
        ok_actions: texts(v, "OKActions"),
        insufficient_data_actions: texts(v, "InsufficientDataActions"),
        namespace: text(v, "Namespace"),
        metric_name: text(v, "MetricName"),
        dimensions: v["Dimensions"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|d| (text(d, "Name"), text(d, "Value")))
                    .collect()
            })
            .unwrap_or_default(),
        statistic: opt_text(v, "Statistic"),
        extended_statistic: opt_text(v, "ExtendedStatistic"),
        period: v["Period"].as_i64().unwrap_or_default(),
        unit: opt_text(v, "Unit"),
        evaluation_periods: v["EvaluationPeriods"].as_i64().unwrap_or_default(),
        datapoints_to_alarm: v["DatapointsToAlarm"].as_i64(),
        threshold: v["Threshold"].as_f64().unwrap_or_default(),
        comparison_operator: text(v, "ComparisonOperator"),
        treat_missing_data: opt_text(v, "TreatMissingData"),
        evaluate_low_sample_count_percentile: opt_text(v, "EvaluateLowSampleCountPercentile"),
    }
}

impl Target for EngineTarget<'_> {
    fn region(&self) -> String {
        self.scope.region().name.clone()
    }

    async fn current(&self) -> anyhow::Result<Current> {
        let (logs, alarms, topics) = (
            self.engine.logs(&self.scope),
            self.engine.alarms(&self.scope),
            self.engine.topics(&self.scope),
        );
        // Borrowed by each page's request.
        let (logs, alarms, topics) = (&logs, &alarms, &topics);
        let mut current = Current::default();
        let groups = all("logGroups", "nextToken", |token| async move {
            let request = request(json!({"nextToken": token}))?;
            Ok(response(logs.describe_log_groups(request).await?))
        })
        .await?;
        for g in groups {
            current.file.log_groups.push(LogGroup {
                log_group_name: text(&g, "logGroupName"),
                retention_in_days: g["retentionInDays"].as_i64(),
            });
        }
        let filters = all("metricFilters", "nextToken", |token| async move {
            let request = request(json!({"nextToken": token}))?;
            Ok(response(logs.describe_metric_filters(request).await?))
        })
        .await?;
        for m in filters {
            let transformations = m["metricTransformations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| MetricTransformation {
                    metric_name: text(t, "metricName"),
                    metric_namespace: text(t, "metricNamespace"),
                    metric_value: text(t, "metricValue"),
                    default_value: t["defaultValue"].as_f64(),
                    unit: opt_text(t, "unit"),
                    dimensions: strings(&t["dimensions"]),
                })
                .collect();
            current.file.metric_filters.push(MetricFilter {
                log_group_name: text(&m, "logGroupName"),
                filter_name: text(&m, "filterName"),
                filter_pattern: text(&m, "filterPattern"),
                metric_transformations: transformations,
            });
        }
        let described = all("MetricAlarms", "NextToken", |token| async move {
            let request = request(json!({"NextToken": token}))?;
            Ok(response(alarms.describe_alarms(request).await?))
        })
        .await?;
        // Alarms on metric math are not a file's to declare (yet): left out, never pruned.
        current.file.alarms = described
            .iter()
            .filter(|a| a["Metrics"].as_array().is_none_or(Vec::is_empty))
            .map(alarm_of)
            .collect();
        let listed = all("Topics", "NextToken", |token| async move {
            let request = request(json!({"NextToken": token}))?;
            Ok(response(topics.list_topics(request).await?))
        })
        .await?;
        for t in listed {
            let arn = text(&t, "TopicArn");
            let asked = request(json!({"TopicArn": arn})).map_err(anyhow::Error::msg)?;
            let attributes = response(topics.get_topic_attributes(asked).await?);
            let topic_arn = &arn;
            let listed = all("Subscriptions", "NextToken", |token| async move {
                let request = request(json!({"TopicArn": topic_arn, "NextToken": token}))?;
                Ok(response(topics.list_subscriptions_by_topic(request).await?))
            })
            .await?;
            let mut subscriptions = Vec::new();
            for s in listed {
                let sub_arn = text(&s, "SubscriptionArn");
                let mut sub = Subscription {
                    protocol: text(&s, "Protocol"),
                    endpoint: text(&s, "Endpoint"),
                    attributes: BTreeMap::new(),
                };
                if config::plan::is_confirmed(&sub_arn) {
                    let asked =
                        request(json!({"SubscriptionArn": sub_arn})).map_err(anyhow::Error::msg)?;
                    let attributes = response(topics.get_subscription_attributes(asked).await?);
                    sub.attributes = strings(&attributes["Attributes"]);
                }
                subscriptions.push((sub, sub_arn));
            }
            current.add_topic(arn, strings(&attributes["Attributes"]), subscriptions);
        }
        let trails = self.engine.trails(&self.scope);
        let described = trails
            .describe_trails(
                request(json!({"includeShadowTrails": false})).map_err(anyhow::Error::msg)?,
            )
            .await?;
        for t in described.trail_list {
            let name = request(json!({"Name": t.trail_arn})).map_err(anyhow::Error::msg)?;
            let status = trails.get_trail_status(name).await?;
            let asked =
                request(json!({"ResourceIdList": [t.trail_arn]})).map_err(anyhow::Error::msg)?;
            let tags = trails
                .list_tags(asked)
                .await?
                .resource_tag_list
                .into_iter()
                .flat_map(|r| r.tags_list)
                .map(|t| (t.key, t.value.unwrap_or_default()))
                .collect();
            current
                .file
                .trails
                .push(trail_of(&response(&t), status.is_logging, tags));
        }
        Ok(current)
    }

    async fn call(&self, call: &Call, file: &File, arns: &Arns) -> Result<Option<String>, String> {
        let (logs, alarms, topics) = (
            self.engine.logs(&self.scope),
            self.engine.alarms(&self.scope),
            self.engine.topics(&self.scope),
        );
        let topic_arn = |i: usize| arns.get(&file.topics[i].name).cloned().unwrap_or_default();
        match call {
            Call::CreateLogGroup(i) => {
                let g = &file.log_groups[*i];
                logs.create_log_group(request(json!({"logGroupName": g.log_group_name}))?)
                    .await
                    .map_err(said)?;
            }
            Call::PutRetentionPolicy(i) => {
                let g = &file.log_groups[*i];
                logs.put_retention_policy(request(json!({
                    "logGroupName": g.log_group_name,
                    "retentionInDays": g.retention_in_days,
                }))?)
                .await
                .map_err(said)?;
            }
            Call::DeleteRetentionPolicy(i) => {
                let g = &file.log_groups[*i];
                logs.delete_retention_policy(request(json!({"logGroupName": g.log_group_name}))?)
                    .await
                    .map_err(said)?;
            }
            Call::PutMetricFilter(i) => {
                logs.put_metric_filter(request(metric_filter_request(&file.metric_filters[*i]))?)
                    .await
                    .map_err(said)?;
            }
            Call::PutMetricAlarm(i) => {
                alarms
                    .put_metric_alarm(request(alarm_request(&file.alarms[*i], file, arns))?)
                    .await
                    .map_err(said)?;
            }
            Call::CreateTopic(i) => {
                let created = topics
                    .create_topic(request(json!({
                        "Name": file.topics[*i].name,
                        "Attributes": file.topics[*i].attributes,
                    }))?)
                    .await
                    .map_err(said)?;
                return Ok(Some(created.topic_arn));
            }
            Call::SetTopicAttributes(i, name, value) => {
                topics
                    .set_topic_attributes(request(json!({
                        "TopicArn": topic_arn(*i),
                        "AttributeName": name,
                        "AttributeValue": value,
                    }))?)
                    .await
                    .map_err(said)?;
            }
            Call::Subscribe(t, s) => {
                let sub = &file.topics[*t].subscriptions[*s];
                topics
                    .subscribe(request(json!({
                        "TopicArn": topic_arn(*t),
                        "Protocol": sub.protocol,
                        "Endpoint": sub.endpoint,
                        "Attributes": sub.attributes,
                        "ReturnSubscriptionArn": true,
                    }))?)
                    .await
                    .map_err(said)?;
            }
            Call::SetSubscriptionAttributes { arn, name, value } => {
                topics
                    .set_subscription_attributes(request(json!({
                        "SubscriptionArn": arn,
                        "AttributeName": name,
                        "AttributeValue": value,
                    }))?)
                    .await
                    .map_err(said)?;
            }
            Call::DeleteMetricFilter {
                log_group_name,
                filter_name,
            } => {
                logs.delete_metric_filter(request(json!({
                    "logGroupName": log_group_name,
                    "filterName": filter_name,
                }))?)
                .await
                .map_err(said)?;
            }
            Call::DeleteAlarm(name) => {
                alarms
                    .delete_alarms(request(json!({"AlarmNames": [name]}))?)
                    .await
                    .map_err(said)?;
            }
            Call::Unsubscribe(arn) => {
                topics
                    .unsubscribe(request(json!({"SubscriptionArn": arn}))?)
                    .await
                    .map_err(said)?;
            }
            Call::CreateTrail(i) | Call::UpdateTrail(i) => {
                let t = &file.trails[*i];
                // A log group of the file is the group of that name here.
                let group = t.cloud_watch_logs_log_group_arn.as_ref().map(|g| {
                    if g.starts_with("arn:") {
                        g.clone()
                    } else {
                        self.scope.arn("logs", &format!("log-group:{g}:*"))
                    }
                });
                let update = matches!(call, Call::UpdateTrail(_));
                let asked = request(trail_request(t, group, update))?;
                let trails = self.engine.trails(&self.scope);
                if update {
                    trails.update_trail(asked).await.map_err(said)?;
                } else {
                    trails.create_trail(asked).await.map_err(said)?;
                }
            }
            Call::TagTrail(i) => {
                let t = &file.trails[*i];
                let arn = self.scope.arn("cloudtrail", &format!("trail/{}", t.name));
                self.engine
                    .trails(&self.scope)
                    .add_tags(request(
                        json!({"ResourceId": arn, "TagsList": tags_list(t)}),
                    )?)
                    .await
                    .map_err(said)?;
            }
            Call::SetLogging(i, logging) => {
                let asked = request(json!({"Name": file.trails[*i].name}))?;
                let trails = self.engine.trails(&self.scope);
                if *logging {
                    trails.start_logging(asked).await.map_err(said)?;
                } else {
                    trails.stop_logging(asked).await.map_err(said)?;
                }
            }
            Call::DeleteTrail(name) => {
                self.engine
                    .trails(&self.scope)
                    .delete_trail(request(json!({"Name": name}))?)
                    .await
                    .map_err(said)?;
            }
        }
        Ok(None)
    }
}
