//! Any AWS-compatible endpoint as a target of configuration files — a trailwatch server, or AWS
//! itself — through the AWS SDK for Rust and its usual credential chain.

use std::collections::BTreeMap;

use anyhow::Context as _;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StandardUnit, Statistic};
use aws_sdk_cloudwatchlogs::types::MetricTransformation as SdkTransformation;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use config::plan::{Call, Current};
use config::{Alarm, File, LogGroup, MetricFilter, MetricTransformation, Subscription, Trail};

use super::{Arns, Target};

/// Where to connect and as whom, as the AWS CLI takes it.
#[derive(clap::Args, Debug, Clone)]
pub struct Endpoint {
    /// The endpoint to talk to, e.g. http://127.0.0.1:4566 for a trailwatch server (default:
    /// AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The region (default: AWS_REGION or AWS_DEFAULT_REGION, then the file's `region`, then
    /// the profile's, then us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// The profile of the shared AWS config and credentials files (default: AWS_PROFILE, else
    /// `default`).
    #[arg(long)]
    pub profile: Option<String>,
}

/// The SDK's clients of the three services, on one configuration.
pub struct SdkTarget {
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
    sns: aws_sdk_sns::Client,
    /// The region the clients talk to.
    pub region: String,
}

impl SdkTarget {
    /// Clients for `endpoint`: flags first, then the environment, then `file_region`, then the
    /// profile and the SDK's defaults.
    pub async fn connect(endpoint: &Endpoint, file_region: Option<&str>) -> SdkTarget {
        let shared = shared_config(endpoint, file_region).await;
        SdkTarget {
            logs: aws_sdk_cloudwatchlogs::Client::new(&shared),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&shared),
            cloudtrail: aws_sdk_cloudtrail::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
            region: shared
                .region()
                .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
        }
    }
}

/// The SDK's configuration for `endpoint`: the region from flags first, then the environment,
/// then `file_region`, then the profile and the SDK's defaults; the credential chain of the
/// AWS CLI; HTTPS over rustls.
pub async fn shared_config(
    endpoint: &Endpoint,
    file_region: Option<&str>,
) -> aws_config::SdkConfig {
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::{BehaviorVersion, Region};
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = &endpoint.profile {
        profile_region = profile_region.profile_name(p);
    }
    let region = RegionProviderChain::first_try(endpoint.region.clone().map(Region::new))
        .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .or_else(file_region.map(|r| Region::new(r.to_owned())))
        .or_else(profile_region.build())
        .or_else(Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(region);
    if let Some(p) = &endpoint.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &endpoint.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Every item of every page of a listing, its error the service's words with the operation.
macro_rules! all {
    ($request:expr, $operation:expr) => {
        $request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err($crate::setup::sdk::said)
            .map_err(anyhow::Error::msg)
            .with_context(|| $operation)?
    };
}
pub(crate) use all;

/// An SDK error as the service's `Code: message`, or what failed on the way.
pub(crate) fn said<E, R>(e: SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(&e).to_string(),
    }
}

fn copied(
    attributes: Option<&std::collections::HashMap<String, String>>,
) -> BTreeMap<String, String> {
    attributes
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn owned(s: Option<&str>) -> String {
    s.unwrap_or_default().to_owned()
}

impl Target for SdkTarget {
    fn region(&self) -> String {
        self.region.clone()
    }

    async fn current(&self) -> anyhow::Result<Current> {
        let mut current = Current::default();
        for g in all!(self.logs.describe_log_groups(), "DescribeLogGroups") {
            current.file.log_groups.push(LogGroup {
                log_group_name: owned(g.log_group_name()),
                retention_in_days: g.retention_in_days().map(i64::from),
            });
        }
        for m in all!(self.logs.describe_metric_filters(), "DescribeMetricFilters") {
            let transformations = m
                .metric_transformations()
                .iter()
                .map(|t| MetricTransformation {
                    metric_name: t.metric_name().to_owned(),
                    metric_namespace: t.metric_namespace().to_owned(),
                    metric_value: t.metric_value().to_owned(),
                    default_value: t.default_value(),
                    unit: t.unit().map(|u| u.as_str().to_owned()),
                    dimensions: t
                        .dimensions()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                })
                .collect();
            current.file.metric_filters.push(MetricFilter {
                log_group_name: owned(m.log_group_name()),
                filter_name: owned(m.filter_name()),
                filter_pattern: owned(m.filter_pattern()),
                metric_transformations: transformations,
            });
        }
        let alarms = self
            .cloudwatch
            .describe_alarms()
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(said)
            .map_err(anyhow::Error::msg)
            .context("DescribeAlarms")?;
        // Alarms on metric math are not a file's to declare (yet): left out, never pruned.
        let alarms = alarms
            .iter()
            .flat_map(|page| page.metric_alarms())
            .filter(|a| a.metrics().is_empty());
        for a in alarms {
            current.file.alarms.push(Alarm {
                alarm_name: owned(a.alarm_name()),
                alarm_description: a.alarm_description().map(str::to_owned),
                actions_enabled: a.actions_enabled(),
                alarm_actions: a.alarm_actions().to_vec(),
                ok_actions: a.ok_actions().to_vec(),
                insufficient_data_actions: a.insufficient_data_actions().to_vec(),
                namespace: owned(a.namespace()),
                metric_name: owned(a.metric_name()),
                dimensions: a
                    .dimensions()
                    .iter()
                    .map(|d| (owned(d.name()), owned(d.value())))
                    .collect(),
                statistic: a.statistic().map(|s| s.as_str().to_owned()),
                extended_statistic: a.extended_statistic().map(str::to_owned),
                period: a.period().map(i64::from).unwrap_or_default(),
                unit: a.unit().map(|u| u.as_str().to_owned()),
                evaluation_periods: a.evaluation_periods().map(i64::from).unwrap_or_default(),
                datapoints_to_alarm: a.datapoints_to_alarm().map(i64::from),
                threshold: a.threshold().unwrap_or_default(),
                comparison_operator: a
                    .comparison_operator()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                treat_missing_data: a.treat_missing_data().map(str::to_owned),
                evaluate_low_sample_count_percentile: a
                    .evaluate_low_sample_count_percentile()
                    .map(str::to_owned),
            });
        }
        for t in all!(self.sns.list_topics(), "ListTopics") {
            let arn = owned(t.topic_arn());
            let attributes = self
                .sns
                .get_topic_attributes()
                .topic_arn(&arn)
                .send()
                .await
                .map_err(said)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("GetTopicAttributes {arn}"))?;
            let listed = all!(
                self.sns.list_subscriptions_by_topic().topic_arn(&arn),
                format!("ListSubscriptionsByTopic {arn}")
            );
            let mut subscriptions = Vec::new();
            for s in listed {
                let sub_arn = owned(s.subscription_arn());
                let mut sub = Subscription {
                    protocol: owned(s.protocol()),
                    endpoint: owned(s.endpoint()),
                    attributes: BTreeMap::new(),
                };
                if config::plan::is_confirmed(&sub_arn) {
                    let attributes = self
                        .sns
                        .get_subscription_attributes()
                        .subscription_arn(&sub_arn)
                        .send()
                        .await
                        .map_err(said)
                        .map_err(anyhow::Error::msg)
                        .with_context(|| format!("GetSubscriptionAttributes {sub_arn}"))?;
                    sub.attributes = copied(attributes.attributes());
                }
                subscriptions.push((sub, sub_arn));
            }
            current.add_topic(arn, copied(attributes.attributes()), subscriptions);
        }
        let described = self
            .cloudtrail
            .describe_trails()
            .include_shadow_trails(false)
            .send()
            .await
            .map_err(said)
            .map_err(anyhow::Error::msg)
            .context("DescribeTrails")?;
        for t in described.trail_list() {
            let arn = owned(t.trail_arn());
            let status = self
                .cloudtrail
                .get_trail_status()
                .name(&arn)
                .send()
                .await
                .map_err(said)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("GetTrailStatus {arn}"))?;
            let tags = self
                .cloudtrail
                .list_tags()
                .resource_id_list(&arn)
                .send()
                .await
                .map_err(said)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("ListTags {arn}"))?;
            current.file.trails.push(Trail {
                name: owned(t.name()),
                s3_bucket_name: owned(t.s3_bucket_name()),
                s3_key_prefix: t.s3_key_prefix().map(str::to_owned),
                // The topic's name, which CloudTrail now reports in its ARN.
                sns_topic_name: t
                    .sns_topic_arn()
                    .and_then(|a| a.rsplit(':').next())
                    .map(str::to_owned),
                is_multi_region_trail: t.is_multi_region_trail(),
                include_global_service_events: t.include_global_service_events(),
                enable_log_file_validation: t.log_file_validation_enabled(),
                is_organization_trail: t.is_organization_trail(),
                cloud_watch_logs_log_group_arn: t
                    .cloud_watch_logs_log_group_arn()
                    .map(str::to_owned),
                cloud_watch_logs_role_arn: t.cloud_watch_logs_role_arn().map(str::to_owned),
                kms_key_id: t.kms_key_id().map(str::to_owned),
                is_logging: status.is_logging(),
                tags: tags
                    .resource_tag_list()
                    .iter()
                    .flat_map(|r| r.tags_list())
                    .map(|t| (t.key().to_owned(), owned(t.value())))
                    .collect(),
            });
        }
        Ok(current)
    }

    async fn call(&self, call: &Call, file: &File, arns: &Arns) -> Result<Option<String>, String> {
        let topic_arn = |i: usize| arns.get(&file.topics[i].name).cloned().unwrap_or_default();
        let days = |d: Option<i64>| d.and_then(|d| i32::try_from(d).ok());
        match call {
            Call::CreateLogGroup(i) => {
                self.logs
                    .create_log_group()
                    .log_group_name(&file.log_groups[*i].log_group_name)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::PutRetentionPolicy(i) => {
                let g = &file.log_groups[*i];
                self.logs
                    .put_retention_policy()
                    .log_group_name(&g.log_group_name)
                    .set_retention_in_days(days(g.retention_in_days))
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::DeleteRetentionPolicy(i) => {
                self.logs
                    .delete_retention_policy()
                    .log_group_name(&file.log_groups[*i].log_group_name)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::PutMetricFilter(i) => {
                let m = &file.metric_filters[*i];
                let mut request = self
                    .logs
                    .put_metric_filter()
                    .log_group_name(&m.log_group_name)
                    .filter_name(&m.filter_name)
                    .filter_pattern(&m.filter_pattern);
                for t in &m.metric_transformations {
                    let dimensions = (!t.dimensions.is_empty())
                        .then(|| t.dimensions.clone().into_iter().collect());
                    let transformation = SdkTransformation::builder()
                        .metric_name(&t.metric_name)
                        .metric_namespace(&t.metric_namespace)
                        .metric_value(&t.metric_value)
                        .set_default_value(t.default_value)
                        .set_unit(t.unit.as_deref().map(StandardUnitLogs::from))
                        .set_dimensions(dimensions)
                        .build()
                        .map_err(|e| e.to_string())?;
                    request = request.metric_transformations(transformation);
                }
                request.send().await.map_err(said)?;
            }
            Call::PutMetricAlarm(i) => {
                let a = &file.alarms[*i];
                let dimensions = a
                    .dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                    .collect();
                let int = |n: i64| i32::try_from(n).map_err(|_| format!("{n} is out of range"));
                self.cloudwatch
                    .put_metric_alarm()
                    .alarm_name(&a.alarm_name)
                    .set_alarm_description(a.alarm_description.clone())
                    .set_actions_enabled(a.actions_enabled)
                    .set_alarm_actions(Some(file.action_arns(&a.alarm_actions, arns)))
                    .set_ok_actions(Some(file.action_arns(&a.ok_actions, arns)))
                    .set_insufficient_data_actions(Some(
                        file.action_arns(&a.insufficient_data_actions, arns),
                    ))
                    .namespace(&a.namespace)
                    .metric_name(&a.metric_name)
                    .set_dimensions(Some(dimensions))
                    .set_statistic(a.statistic.as_deref().map(Statistic::from))
                    .set_extended_statistic(a.extended_statistic.clone())
                    .period(int(a.period)?)
                    .set_unit(a.unit.as_deref().map(StandardUnit::from))
                    .evaluation_periods(int(a.evaluation_periods)?)
                    .set_datapoints_to_alarm(a.datapoints_to_alarm.map(int).transpose()?)
                    .threshold(a.threshold)
                    .comparison_operator(ComparisonOperator::from(a.comparison_operator.as_str()))
                    .set_treat_missing_data(a.treat_missing_data.clone())
                    .set_evaluate_low_sample_count_percentile(
                        a.evaluate_low_sample_count_percentile.clone(),
                    )
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::CreateTopic(i) => {
                let created = self
                    .sns
                    .create_topic()
                    .name(&file.topics[*i].name)
                    .set_attributes(
                        (!file.topics[*i].attributes.is_empty())
                            .then(|| file.topics[*i].attributes.clone().into_iter().collect()),
                    )
                    .send()
                    .await
                    .map_err(said)?;
                return Ok(created.topic_arn().map(str::to_owned));
            }
            Call::SetTopicAttributes(i, name, value) => {
                self.sns
                    .set_topic_attributes()
                    .topic_arn(topic_arn(*i))
                    .attribute_name(name)
                    .attribute_value(value)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::Subscribe(t, s) => {
                let sub = &file.topics[*t].subscriptions[*s];
                let attributes = (!sub.attributes.is_empty())
                    .then(|| sub.attributes.clone().into_iter().collect());
                self.sns
                    .subscribe()
                    .topic_arn(topic_arn(*t))
                    .protocol(&sub.protocol)
                    .endpoint(&sub.endpoint)
                    .set_attributes(attributes)
                    .return_subscription_arn(true)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::SetSubscriptionAttributes { arn, name, value } => {
                self.sns
                    .set_subscription_attributes()
                    .subscription_arn(arn)
                    .attribute_name(name)
                    .attribute_value(value)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::DeleteMetricFilter {
                log_group_name,
                filter_name,
            } => {
                self.logs
                    .delete_metric_filter()
                    .log_group_name(log_group_name)
                    .filter_name(filter_name)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::DeleteAlarm(name) => {
                self.cloudwatch
                    .delete_alarms()
                    .alarm_names(name)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::Unsubscribe(arn) => {
                self.sns
                    .unsubscribe()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::CreateTrail(i) => {
                let t = &file.trails[*i];
                let group = self.log_group_arn(t).await?;
                self.cloudtrail
                    .create_trail()
                    .name(&t.name)
                    .s3_bucket_name(&t.s3_bucket_name)
                    .set_s3_key_prefix(t.s3_key_prefix.clone())
                    .set_sns_topic_name(t.sns_topic_name.clone())
                    .set_is_multi_region_trail(t.is_multi_region_trail)
                    .set_include_global_service_events(t.include_global_service_events)
                    .set_enable_log_file_validation(t.enable_log_file_validation)
                    .set_is_organization_trail(t.is_organization_trail)
                    .set_cloud_watch_logs_log_group_arn(group)
                    .set_cloud_watch_logs_role_arn(t.cloud_watch_logs_role_arn.clone())
                    .set_kms_key_id(t.kms_key_id.clone())
                    .set_tags_list(Some(sdk_tags(t)?))
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::UpdateTrail(i) => {
                let t = &file.trails[*i];
                let group = self.log_group_arn(t).await?;
                // An empty string clears what the file leaves out.
                let or_clear = |v: &Option<String>| Some(v.clone().unwrap_or_default());
                self.cloudtrail
                    .update_trail()
                    .name(&t.name)
                    .s3_bucket_name(&t.s3_bucket_name)
                    .set_s3_key_prefix(or_clear(&t.s3_key_prefix))
                    .set_sns_topic_name(or_clear(&t.sns_topic_name))
                    .is_multi_region_trail(t.is_multi_region_trail.unwrap_or(false))
                    .include_global_service_events(t.include_global_service_events.unwrap_or(true))
                    .enable_log_file_validation(t.enable_log_file_validation.unwrap_or(false))
                    .is_organization_trail(t.is_organization_trail.unwrap_or(false))
                    .set_cloud_watch_logs_log_group_arn(or_clear(&group))
                    .set_cloud_watch_logs_role_arn(or_clear(&t.cloud_watch_logs_role_arn))
                    .set_kms_key_id(or_clear(&t.kms_key_id))
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::TagTrail(i) => {
                let t = &file.trails[*i];
                let got = self
                    .cloudtrail
                    .get_trail()
                    .name(&t.name)
                    .send()
                    .await
                    .map_err(said)?;
                let arn = got.trail().and_then(|t| t.trail_arn()).unwrap_or_default();
                self.cloudtrail
                    .add_tags()
                    .resource_id(arn)
                    .set_tags_list(Some(sdk_tags(t)?))
                    .send()
                    .await
                    .map_err(said)?;
            }
            Call::SetLogging(i, logging) => {
                let name = &file.trails[*i].name;
                if *logging {
                    let start = self.cloudtrail.start_logging().name(name).send().await;
                    start.map_err(said)?;
                } else {
                    let stop = self.cloudtrail.stop_logging().name(name).send().await;
                    stop.map_err(said)?;
                }
            }
            Call::DeleteTrail(name) => {
                self.cloudtrail
                    .delete_trail()
                    .name(name)
                    .send()
                    .await
                    .map_err(said)?;
            }
        }
        Ok(None)
    }
}

impl SdkTarget {
    /// The ARN of a trail's log group: a log group of the file is the group of that name at
    /// the endpoint, as DescribeLogGroups names it.
    async fn log_group_arn(&self, t: &Trail) -> Result<Option<String>, String> {
        let Some(group) = &t.cloud_watch_logs_log_group_arn else {
            return Ok(None);
        };
        if group.starts_with("arn:") {
            return Ok(Some(group.clone()));
        }
        let found = self
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group)
            .send()
            .await
            .map_err(said)?;
        found
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group.as_str()))
            .and_then(|g| g.arn())
            .map(|arn| Some(arn.to_owned()))
            .ok_or_else(|| format!("the log group {group} does not exist"))
    }
}

/// A trail's tags as the SDK's.
fn sdk_tags(t: &Trail) -> Result<Vec<aws_sdk_cloudtrail::types::Tag>, String> {
    t.tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_cloudtrail::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// CloudWatch Logs' own unit enum (a metric filter's `unit`).
type StandardUnitLogs = aws_sdk_cloudwatchlogs::types::StandardUnit;
