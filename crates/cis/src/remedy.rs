//! What to create so that every control of a version is met on one log group: a metric filter
//! and an alarm for each control not yet met there, the topic and its subscription — written
//! as a configuration file, which `trailwatch apply` (or `cis apply`) makes true.
//!
//! A control already met by the user's own filters is left alone. Otherwise a filter named
//! after the control (`cis-<id>`) is added beside theirs, never in place of them: a filter
//! another tool or person made is never rewritten.

use std::collections::BTreeMap;

use config::plan::Current;
use config::{
    Alarm, File, LogGroup, MetricFilter as FileFilter, MetricTransformation, Subscription, Topic,
};

use crate::account::{self, Account, LogGroup as GroupFacts, Selectors, Trail, TrailStatus};
use crate::audit::{self, Status};
use crate::catalogue::{Benchmark, Control};

/// A log group holds at most this many metric filters (PutMetricFilter's quota).
pub const MAX_FILTERS_PER_GROUP: usize = 100;

/// The namespace of the metrics the pack's filters publish.
pub const NAMESPACE: &str = "CISBenchmark";

/// Which strings the pack's filters use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// The benchmark's own strings, so auditors comparing text pass too.
    #[default]
    Literal,
    /// Equivalent strings scoped to the calls' services, with every value quoted and the
    /// grouping written out.
    Tight,
}

/// Where and how to install the pack.
#[derive(Debug, Clone)]
pub struct Request {
    pub log_group: String,
    /// The topic the alarms notify, by name.
    pub topic: String,
    pub subscribe: Option<Subscription>,
    pub style: Style,
    /// The region the file is for.
    pub region: String,
}

/// The pack for one endpoint: the file to apply, and each control's fate.
#[derive(Debug, Clone)]
pub struct Remedy {
    pub file: File,
    /// Controls already met by existing filters, with the audit's summary.
    pub met: Vec<(String, String)>,
    /// Controls the file adds (or repairs) a filter and an alarm for.
    pub added: Vec<String>,
}

/// The name of the pack's filter, metric and alarm for a control.
pub fn name_of(control: &Control<'_>) -> String {
    format!("cis-{}", control.id())
}

/// The pattern the pack writes for a control.
pub fn pattern(control: &Control<'_>, style: Style) -> String {
    match style {
        Style::Literal => control.literal().pattern.clone(),
        Style::Tight => tight(control),
    }
}

/// A tight equivalent of a control's string. Controls on conditions other than the call's
/// name are written out; the others are the named calls, grouped by service.
fn tight(control: &Control<'_>) -> String {
    match control.id() {
        // The benchmark's grouping written out: since v2.0 its exclusions bind only to
        // AccessDenied* (`&&` binds tighter than `||`).
        "unauthorized_api_calls" => r#"{ ($.errorCode = "*UnauthorizedOperation") || (($.errorCode = "AccessDenied*") && ($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket")) }"#.to_owned(),
        "console_signin_without_mfa" => r#"{ ($.eventSource = "signin.amazonaws.com") && ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#.to_owned(),
        "root_account_usage" => r#"{ ($.userIdentity.type = "Root") && ($.userIdentity.invokedBy NOT EXISTS) && ($.eventType != "AwsServiceEvent") }"#.to_owned(),
        "console_auth_failures" => r#"{ ($.eventSource = "signin.amazonaws.com") && ($.eventName = "ConsoleLogin") && ($.errorMessage = "Failed authentication") }"#.to_owned(),
        _ => {
            let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in control.required() {
                if let (Some(source), Some(name)) = (e.event_source(), e.event_name()) {
                    by_source.entry(source).or_default().push(name);
                }
            }
            let groups: Vec<String> = by_source
                .iter()
                .map(|(source, names)| {
                    let names: Vec<String> = names
                        .iter()
                        .map(|n| format!("($.eventName = \"{n}\")"))
                        .collect();
                    format!(
                        "($.eventSource = \"{source}\") && ({})",
                        names.join(" || ")
                    )
                })
                .collect();
            match groups.as_slice() {
                [one] => format!("{{ {one} }}"),
                _ => format!("{{ ({}) }}", groups.join(") || (")),
            }
        }
    }
}

/// The audit's view of what `current` has on one log group, as if a multi-region trail
/// logging everything delivered to it: the pack is about filters and alarms, so the trail is
/// taken as given. A subscription waiting for confirmation counts (confirming is the
/// subscriber's part), and so does one on the pack's own topic (`--subscribe` makes it); a
/// topic nobody subscribes to does not, so an alarm notifying only such a topic gets the
/// pack's beside it.
pub fn account_of(current: &Current, log_group: &str, region: &str, pack_topic: &str) -> Account {
    let group_arn = format!("arn:aws:logs:{region}:000000000000:log-group:{log_group}:*");
    let mut account = Account::empty(region);
    account.trails = Ok(vec![Trail {
        name: "(the trail delivering to the log group)".to_owned(),
        arn: String::new(),
        home_region: region.to_owned(),
        multi_region: true,
        organization: false,
        log_group_arn: Some(group_arn.clone()),
        status: Ok(TrailStatus {
            is_logging: true,
            ..TrailStatus::default()
        }),
        selectors: Ok(Selectors::default()),
    }]);
    let exists = current
        .file
        .log_groups
        .iter()
        .any(|g| g.log_group_name == log_group);
    let metric_filters = current
        .file
        .metric_filters
        .iter()
        .filter(|m| m.log_group_name == log_group)
        .map(|m| account::MetricFilter {
            name: m.filter_name.clone(),
            pattern: m.filter_pattern.clone(),
            transformations: m
                .metric_transformations
                .iter()
                .map(|t| account::Transformation {
                    namespace: t.metric_namespace.clone(),
                    name: t.metric_name.clone(),
                    value: t.metric_value.clone(),
                    dimensions: t.dimensions.clone(),
                    default_value: t.default_value,
                    unit: t.unit.clone(),
                })
                .collect(),
        })
        .collect();
    account.log_groups.insert(
        group_arn,
        Ok(GroupFacts {
            exists,
            metric_filters,
        }),
    );
    let alarms = current
        .file
        .alarms
        .iter()
        .map(|a| account::Alarm {
            name: a.alarm_name.clone(),
            arn: String::new(),
            actions_enabled: a.actions_enabled.unwrap_or(true),
            alarm_actions: a.alarm_actions.clone(),
            namespace: Some(a.namespace.clone()),
            metric_name: Some(a.metric_name.clone()),
            dimensions: a.dimensions.clone(),
            statistic: a.statistic.clone(),
            extended_statistic: a.extended_statistic.clone(),
            period: i32::try_from(a.period).ok(),
            evaluation_periods: i32::try_from(a.evaluation_periods).unwrap_or(i32::MAX),
            datapoints_to_alarm: a.datapoints_to_alarm.and_then(|d| i32::try_from(d).ok()),
            threshold: Some(a.threshold),
            comparison_operator: a.comparison_operator.clone(),
            unit: a.unit.clone(),
            treat_missing_data: a.treat_missing_data.clone(),
            evaluate_low_sample_count_percentile: a.evaluate_low_sample_count_percentile.clone(),
            metrics: Vec::new(),
        })
        .collect();
    account.alarms.insert(region.to_owned(), Ok(alarms));
    for (name, arn) in &current.topic_arns {
        let mut subscribers: Vec<account::Subscription> = current
            .file
            .topics
            .iter()
            .filter(|t| &t.name == name)
            .flat_map(|t| &t.subscriptions)
            .enumerate()
            .map(|(i, s)| account::Subscription {
                protocol: s.protocol.clone(),
                endpoint: s.endpoint.clone(),
                arn: format!("{arn}:{i}"),
            })
            .collect();
        if subscribers.is_empty() && name == pack_topic {
            subscribers.push(account::Subscription {
                protocol: "any".to_owned(),
                endpoint: "(the pack's topic: subscribing is --subscribe's part)".to_owned(),
                arn: format!("{arn}:pack"),
            });
        }
        account.topics.insert(arn.clone(), Ok(Some(subscribers)));
    }
    account
}

/// The pack's metric filter and alarm for one control.
pub fn items(version: &str, control: &Control<'_>, request: &Request) -> (FileFilter, Alarm) {
    let name = name_of(control);
    let filter = FileFilter {
        log_group_name: request.log_group.clone(),
        filter_name: name.clone(),
        filter_pattern: pattern(control, request.style),
        metric_transformations: vec![MetricTransformation {
            metric_name: name.clone(),
            metric_namespace: NAMESPACE.to_owned(),
            metric_value: "1".to_owned(),
            default_value: None,
            unit: None,
            dimensions: BTreeMap::new(),
        }],
    };
    let alarm = Alarm {
        alarm_name: name.clone(),
        alarm_description: Some(format!(
            "CIS AWS Foundations Benchmark v{version} {}: {}",
            control.number, control.title
        )),
        actions_enabled: Some(true),
        alarm_actions: vec![request.topic.clone()],
        ok_actions: Vec::new(),
        insufficient_data_actions: Vec::new(),
        namespace: NAMESPACE.to_owned(),
        metric_name: name,
        dimensions: BTreeMap::new(),
        statistic: Some("Sum".to_owned()),
        extended_statistic: None,
        period: 300,
        unit: None,
        evaluation_periods: 1,
        datapoints_to_alarm: None,
        threshold: 1.0,
        comparison_operator: "GreaterThanOrEqualToThreshold".to_owned(),
        treat_missing_data: Some("notBreaching".to_owned()),
        evaluate_low_sample_count_percentile: None,
    };
    (filter, alarm)
}

/// The file that installs the pack on `request.log_group`, given what the endpoint has.
pub fn remedy(
    benchmark: &Benchmark<'_>,
    request: &Request,
    current: &Current,
) -> Result<Remedy, String> {
    let account = account_of(current, &request.log_group, &request.region, &request.topic);
    let report = audit::audit(&account, benchmark);
    let existing: Vec<&config::MetricFilter> = current
        .file
        .metric_filters
        .iter()
        .filter(|m| m.log_group_name == request.log_group)
        .collect();
    let retention = current
        .file
        .log_groups
        .iter()
        .find(|g| g.log_group_name == request.log_group)
        .and_then(|g| g.retention_in_days);
    let mut file = File {
        region: Some(request.region.clone()),
        log_groups: vec![LogGroup {
            log_group_name: request.log_group.clone(),
            retention_in_days: retention,
        }],
        topics: vec![Topic {
            name: request.topic.clone(),
            attributes: BTreeMap::new(),
            subscriptions: request.subscribe.iter().cloned().collect(),
        }],
        ..File::default()
    };
    let mut remedy = Remedy {
        file: File::default(),
        met: Vec::new(),
        added: Vec::new(),
    };
    let mut new_filters = 0;
    for (control, finding) in benchmark.controls.iter().zip(&report.findings) {
        let name = name_of(control);
        if finding.status == Status::Pass {
            remedy
                .met
                .push((control.id().to_owned(), finding.summary.clone()));
            continue;
        }
        if !existing.iter().any(|m| m.filter_name == name) {
            new_filters += 1;
        }
        let (filter, alarm) = items(benchmark.version, control, request);
        file.metric_filters.push(filter);
        file.alarms.push(alarm);
        remedy.added.push(control.id().to_owned());
    }
    if existing.len() + new_filters > MAX_FILTERS_PER_GROUP {
        return Err(format!(
            "log group {} has {} metric filters; the {new_filters} the pack adds would pass the \
             limit of {MAX_FILTERS_PER_GROUP} a log group holds",
            request.log_group,
            existing.len()
        ));
    }
    remedy.file = file;
    Ok(remedy)
}
