//! An alarm's configuration: CloudWatch's rules between its members, the evaluation rule it
//! sets, and how DescribeAlarms shows it.

use super::api::{MetricAlarm, MetricAlarmDescription};
use super::evaluate::{Comparison, Rule, TreatMissingData};
use super::store::StoredAlarm;
use crate::ApiError;
use crate::error::CloudWatchException;
use crate::metrics::datum::{dimensions_key, pairs};
use crate::scope::{Arn, Scope};

const INVALID_VALUE: CloudWatchException = CloudWatchException::InvalidParameterValueException;
const INVALID_COMBINATION: CloudWatchException =
    CloudWatchException::InvalidParameterCombinationException;
const MISSING: CloudWatchException = CloudWatchException::MissingRequiredParameterException;

/// Checks what the model cannot: CloudWatch's rules between members of an alarm.
pub(crate) fn check(a: &MetricAlarm) -> Result<(), ApiError> {
    if a.metrics.is_some() {
        for (k, present) in [
            ("MetricName", a.metric_name.is_some()),
            ("Namespace", a.namespace.is_some()),
            ("Statistic", a.statistic.is_some()),
            ("ExtendedStatistic", a.extended_statistic.is_some()),
            ("Period", a.period.is_some()),
            ("Dimensions", a.dimensions.is_some()),
            ("Unit", a.unit.is_some()),
        ] {
            if present {
                return Err(ApiError::new(
                    INVALID_COMBINATION,
                    format!("The parameters Metrics and {k} are mutually exclusive."),
                ));
            }
        }
    } else {
        if a.metric_name.is_none() || a.namespace.is_none() {
            return Err(ApiError::new(
                MISSING,
                "The parameters MetricName and Namespace are required unless Metrics is given.",
            ));
        }
        match (a.statistic.is_some(), a.extended_statistic.is_some()) {
            (true, true) => {
                return Err(ApiError::new(
                    INVALID_COMBINATION,
                    "The parameters Statistic and ExtendedStatistic are mutually exclusive and you have specified both.",
                ));
            }
            (false, false) => {
                return Err(ApiError::new(
                    MISSING,
                    "One of the parameters Statistic or ExtendedStatistic must be specified.",
                ));
            }
            _ => {}
        }
        let Some(period) = a.period else {
            return Err(ApiError::new(MISSING, "The parameter Period is required."));
        };
        if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
            return Err(ApiError::new(
                INVALID_VALUE,
                "Period must be 10, 20, 30 or a multiple of 60",
            ));
        }
        let n = a.evaluation_periods.unwrap_or(1);
        let cap = if period < 3600 { 86_400 } else { 604_800 };
        if period.checked_mul(n).is_none_or(|p| p > cap) {
            return Err(ApiError::new(
                INVALID_VALUE,
                format!(
                    "The evaluation period (Period * EvaluationPeriods) must not exceed {cap} seconds."
                ),
            ));
        }
    }
    let n = a.evaluation_periods.unwrap_or(1);
    if a.datapoints_to_alarm.is_some_and(|m| m > n) {
        return Err(ApiError::new(
            INVALID_VALUE,
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods.",
        ));
    }
    if let Some(t) = &a.treat_missing_data
        && !matches!(
            t.as_str(),
            "breaching" | "notBreaching" | "ignore" | "missing"
        )
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            format!(
                "The value {t} for parameter TreatMissingData is not valid: it must be breaching, notBreaching, ignore or missing."
            ),
        ));
    }
    if let Some(e) = &a.evaluate_low_sample_count_percentile
        && !matches!(e.as_str(), "evaluate" | "ignore")
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            format!(
                "The value {e} for parameter EvaluateLowSampleCountPercentile is not valid: it must be evaluate or ignore."
            ),
        ));
    }
    if a.threshold.is_some_and(|t| !t.is_finite()) {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The value for parameter Threshold must be a finite number.",
        ));
    }
    let comparison = a.comparison_operator.as_deref().unwrap_or("");
    if Comparison::parse(comparison).is_some()
        && a.threshold.is_none()
        && a.threshold_metric_id.is_none()
    {
        return Err(ApiError::new(
            MISSING,
            "The parameter Threshold is required.",
        ));
    }
    for (list, actions) in [
        ("OKActions", &a.ok_actions),
        ("AlarmActions", &a.alarm_actions),
        ("InsufficientDataActions", &a.insufficient_data_actions),
    ] {
        if actions.as_ref().is_some_and(|v| v.len() > 5) {
            return Err(ApiError::new(
                INVALID_VALUE,
                format!("The maximum number of {list} is 5."),
            ));
        }
    }
    Ok(())
}

/// What an alarm on one metric watches: namespace, metric name, canonical dimensions, the
/// statistic and the period. `None` for metric-math and percentile alarms, which are kept but
/// not evaluated yet.
pub(crate) struct Watched<'a> {
    pub namespace: &'a str,
    pub metric: &'a str,
    pub dims: String,
    pub statistic: &'a str,
    pub period: i64,
    pub unit: Option<&'a str>,
}

impl MetricAlarm {
    /// The canonical dimensions text of the alarm's metric.
    pub(crate) fn dimensions_key(&self) -> String {
        dimensions_key(&pairs(self.dimensions.as_deref().unwrap_or_default()))
    }

    /// The metric and statistic the alarm evaluates, if it evaluates one.
    pub(crate) fn watched(&self) -> Option<Watched<'_>> {
        Some(Watched {
            namespace: self.namespace.as_deref()?,
            metric: self.metric_name.as_deref()?,
            dims: self.dimensions_key(),
            statistic: self.statistic.as_deref()?,
            period: self.period?.max(1),
            unit: self.unit.as_deref(),
        })
    }

    /// The evaluation rule the alarm sets.
    pub(crate) fn rule(&self) -> Option<Rule> {
        let comparison = Comparison::parse(self.comparison_operator.as_deref()?)?;
        let n = self.evaluation_periods.unwrap_or(1).max(1) as usize;
        Some(Rule {
            evaluation_periods: n,
            datapoints_to_alarm: self.datapoints_to_alarm.map_or(n, |m| m.max(1) as usize),
            datapoints_to_alarm_set: self.datapoints_to_alarm.is_some(),
            comparison,
            threshold: self.threshold.unwrap_or(0.0),
            treat_missing: TreatMissingData::parse(self.treat_missing_data.as_deref()),
        })
    }

    /// The actions of the lists for `state`.
    pub(crate) fn actions_for(&self, state: super::AlarmState) -> &[String] {
        let list = match state {
            super::AlarmState::Alarm => &self.alarm_actions,
            super::AlarmState::Ok => &self.ok_actions,
            super::AlarmState::InsufficientData => &self.insufficient_data_actions,
        };
        list.as_deref().unwrap_or_default()
    }
}

/// The alarm's ARN.
pub(crate) fn alarm_arn(scope: &Scope, name: &str) -> String {
    scope.arn("cloudwatch", &format!("alarm:{name}"))
}

/// Checks that the alarm's actions are in its own partition and region, as CloudWatch does
/// (an action is an ARN; which resource it names is looked at when it runs).
pub(crate) fn check_actions(scope: &Scope, a: &MetricAlarm) -> Result<(), ApiError> {
    let here = scope.region();
    for list in [
        &a.alarm_actions,
        &a.ok_actions,
        &a.insufficient_data_actions,
    ] {
        for arn in list.iter().flatten() {
            let Some(action) = Arn::parse(arn) else {
                continue;
            };
            if action.partition != here.partition.id {
                return Err(ApiError::validation(format!(
                    "Invalid partition {} specified. Only {} is supported.",
                    action.partition, here.partition.id
                )));
            }
            if action.region != here.name {
                return Err(ApiError::validation(format!(
                    "Invalid region {} specified. Only {} is supported.",
                    action.region, here.name
                )));
            }
        }
    }
    Ok(())
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// An alarm as DescribeAlarms shows it.
pub(crate) fn describe(scope: &Scope, a: StoredAlarm) -> MetricAlarmDescription {
    let mut config = a.config;
    config.actions_enabled = Some(config.actions_enabled.unwrap_or(true));
    for list in [
        &mut config.ok_actions,
        &mut config.alarm_actions,
        &mut config.insufficient_data_actions,
    ] {
        list.get_or_insert_with(Vec::new);
    }
    config.dimensions.get_or_insert_with(Vec::new);
    MetricAlarmDescription {
        alarm_arn: alarm_arn(scope, &config.alarm_name),
        config,
        alarm_configuration_updated_timestamp: seconds(a.config_updated_ms),
        state_value: a.state.as_str().to_owned(),
        state_reason: a.reason,
        state_reason_data: a.reason_data,
        state_updated_timestamp: seconds(a.updated_ms),
        state_transitioned_timestamp: seconds(a.transitioned_ms),
    }
}
