//! Evaluating an alarm against its metric, and moving it to a new state: history, and the
//! notifications CloudWatch publishes to the actions' topics, in CloudWatch's words.

use serde_json::{Value, json};

use super::api::MetricAlarm;
use super::config::alarm_arn;
use super::evaluate::{self, AlarmState, Rule, Slot, Verdict};
use super::history;
use super::store::StoredAlarm;
use crate::format::payload_time;
use crate::metrics::statistics::MetricQuery;
use crate::scope::{Arn, Scope};
use crate::store::Tx;
use crate::topics::policy;
use crate::topics::publish::publish_for_alarm;
use crate::{ApiError, Context};

/// Evaluates the alarm `name` at `ctx.now_ms` and applies a transition with its notifications.
pub(crate) fn evaluate(tx: &mut dyn Tx, ctx: &Context, name: &str) -> Result<(), ApiError> {
    evaluate_telling(tx, ctx, name).map(drop)
}

/// What an evaluation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evaluation {
    /// No datapoint in the periods it looks at, and the state already what that makes it: until
    /// its metric has new data, evaluating it again (at any later time) changes nothing but
    /// when it is next due, at the end of its period (of `period_s` seconds).
    Idle { period_s: i64 },
    /// Anything else: data was looked at, the state changed, or the alarm is gone or not one
    /// that is evaluated.
    Other,
}

/// [`evaluate`], telling whether the alarm is [`Evaluation::Idle`].
pub(crate) fn evaluate_telling(
    tx: &mut dyn Tx,
    ctx: &Context,
    name: &str,
) -> Result<Evaluation, ApiError> {
    let Some(alarm) = tx.alarm(name)? else {
        return Ok(Evaluation::Other);
    };
    // Metric-math and percentile alarms are stored but not evaluated yet: they stay in
    // INSUFFICIENT_DATA.
    let (Some(watched), Some(rule)) = (alarm.config.watched(), alarm.config.rule()) else {
        return Ok(Evaluation::Other);
    };
    let period = watched.period;
    // What time alone changes, it changes when this period ends.
    ctx.alarm_schedule.set(
        tx.scope(),
        name,
        super::schedule::period_end_ms(ctx.now_ms, period),
    );
    let range = rule.evaluation_periods + evaluate::EXTRA_RANGE_PERIODS;
    let now_s = ctx.now_ms.div_euclid(1000);
    let open = now_s.div_euclid(period) * period;
    let first = open - range as i64 * period;
    let rows = tx.period_aggregates(&MetricQuery {
        namespace: watched.namespace,
        metric: watched.metric,
        dims: &watched.dims,
        unit: watched.unit,
        period_s: period,
        first_s: first,
        end_s: open + period,
    })?;
    // With no datapoint in the window the verdict is the rule's alone, the same at any later
    // time while no data comes.
    let unchanged = if rows.is_empty() {
        Evaluation::Idle { period_s: period }
    } else {
        Evaluation::Other
    };
    let stat = watched.statistic;
    // Slot i covers [first + i*period, …); slot `range` is the open (current) period.
    let mut values: Vec<Option<(f64, f64)>> = vec![None; range + 1];
    for p in rows {
        if let Some(v) = p.statistic(stat)
            && let Some(slot) = values.get_mut(p.index as usize)
        {
            *slot = Some((v, p.min));
        }
    }
    // The open period counts at once when later data in it cannot undo a breach: the
    // statistic only grows (Sum of non-negative values, Maximum, SampleCount) and the
    // operator is a "greater" one.
    let comparison = rule.comparison;
    let open_decided = values[range].is_some_and(|(v, min)| {
        let grows = match stat {
            "Sum" => min >= 0.0,
            "Maximum" | "SampleCount" => true,
            _ => false,
        };
        grows && comparison.is_upward() && comparison.breaches(v, rule.threshold)
    });
    let closed: Vec<Option<f64>> = values[..range].iter().map(|s| s.map(|(v, _)| v)).collect();
    let with_open: Vec<Option<f64>> = values[1..].iter().map(|s| s.map(|(v, _)| v)).collect();
    let closed_verdict = evaluate::evaluate(&rule, &closed);
    let (slot_values, slot_first, verdict) = if open_decided {
        let open_verdict = evaluate::evaluate(&rule, &with_open);
        match open_verdict {
            Verdict::State {
                state: AlarmState::Alarm,
                ..
            } => (with_open, first + period, open_verdict),
            _ => (closed, first, closed_verdict),
        }
    } else {
        (closed, first, closed_verdict)
    };
    let Verdict::State {
        state,
        evaluated,
        filled,
    } = verdict
    else {
        return Ok(unchanged);
    };
    if state == alarm.state {
        return Ok(unchanged);
    }
    let slots: Vec<Slot> = evaluated
        .iter()
        .map(|&i| Slot {
            start_ms: (slot_first + i as i64 * period) * 1000,
            value: slot_values[i],
        })
        .collect();
    let reason = evaluate::reason(&rule, state, &slots, filled);
    let reason_data = reason_data(&rule, stat, period, watched.unit, ctx.now_ms, &slots);
    transition(tx, ctx, &alarm, state, &reason, Some(&reason_data))?;
    Ok(Evaluation::Other)
}

/// `StateReasonData` JSON as CloudWatch writes it, keys in its order.
fn reason_data(
    rule: &Rule,
    stat: &str,
    period: i64,
    unit: Option<&str>,
    now_ms: i64,
    slots: &[Slot],
) -> String {
    let text = |s: &str| json!(s).to_string();
    let mut fields = vec![
        ("version", text("1.0")),
        ("queryDate", text(&payload_time(now_ms))),
    ];
    if let Some(first) = slots.iter().find(|s| s.value.is_some()) {
        fields.push(("startDate", text(&payload_time(first.start_ms))));
    }
    if let Some(unit) = unit {
        fields.push(("unit", text(unit)));
    }
    fields.push(("statistic", text(stat)));
    fields.push(("period", period.to_string()));
    let recent: Vec<f64> = slots.iter().filter_map(|s| s.value).collect();
    fields.push(("recentDatapoints", json!(recent).to_string()));
    fields.push(("threshold", json!(rule.threshold).to_string()));
    let evaluated: Vec<String> = slots
        .iter()
        .rev()
        .map(|s| {
            let mut p = vec![("timestamp", text(&payload_time(s.start_ms)))];
            if let Some(v) = s.value {
                p.push(("value", json!(v).to_string()));
            }
            object(&p)
        })
        .collect();
    fields.push(("evaluatedDatapoints", format!("[{}]", evaluated.join(","))));
    object(&fields)
}

/// Moves an alarm to `state` and publishes its notifications to the actions' topics, in the
/// caller's transaction.
pub(crate) fn transition(
    tx: &mut dyn Tx,
    ctx: &Context,
    old: &StoredAlarm,
    state: AlarmState,
    reason: &str,
    reason_data: Option<&str>,
) -> Result<(), ApiError> {
    let now = ctx.now_ms;
    let name = old.config.alarm_name.as_str();
    tx.set_alarm_state(name, state, reason, reason_data, now, true)?;
    let mut new_state = json!({"stateValue": state.as_str(), "stateReason": reason});
    if let Some(d) = reason_data.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        new_state["stateReasonData"] = d;
    }
    let data = json!({
        "version": "1.0",
        "oldState": {"stateValue": old.state.as_str(), "stateReason": old.reason},
        "newState": new_state,
    });
    history::append(
        tx,
        name,
        now,
        "StateUpdate",
        &format!(
            "Alarm updated from {} to {}",
            old.state.as_str(),
            state.as_str()
        ),
        &data.to_string(),
    )?;
    tracing::info!(
        alarm = name,
        from = old.state.as_str(),
        to = state.as_str(),
        "Alarm changed state."
    );
    let cfg = &old.config;
    if cfg.actions_enabled == Some(false) {
        return Ok(());
    }
    let actions = cfg.actions_for(state);
    if actions.is_empty() {
        return Ok(());
    }
    let scope = tx.scope().clone();
    let region = scope.region().long_name();
    let subject = format!("{}: \"{name}\" in {region}", state.as_str());
    let message = alarm_message(&scope, old, state, reason, now, &region);
    for arn in actions {
        // CloudWatch does not validate action ARNs when an alarm is saved; an action that
        // cannot run is recorded in the alarm's history.
        let target = Arn::parse(arn).filter(|a| a.service == "sns");
        let topic = match target {
            Some(_) => tx.topic(arn)?,
            None => None,
        };
        let outcome = match (target, topic) {
            (None, _) => Err("only SNS topic actions are supported"),
            (Some(_), None) => Err("the topic does not exist"),
            // A topic of another account takes an alarm's notifications if its policy lets
            // the alarm's account publish.
            (Some(t), Some(topic))
                if !policy::allows(
                    topic.attributes.get("Policy").map(String::as_str),
                    arn,
                    t.account,
                    policy::Caller::Service("cloudwatch.amazonaws.com", scope.account()),
                    "Publish",
                ) =>
            {
                Err("the topic's access policy does not allow this account to publish")
            }
            (Some(_), Some(_)) => {
                publish_for_alarm(tx, ctx, arn, Some(&subject), &message, name)?;
                Ok(())
            }
        };
        let (summary, data) = match outcome {
            Ok(()) => (
                format!("Successfully executed action {arn}"),
                json!({"actionState": "Succeeded", "notificationResource": arn}),
            ),
            Err(reason) => (
                format!("Failed to execute action {arn}. Reason: {reason}"),
                json!({"actionState": "Failed", "notificationResource": arn, "error": reason}),
            ),
        };
        history::append(tx, name, now, "Action", &summary, &data.to_string())?;
    }
    Ok(())
}

/// The alarm-state-change JSON CloudWatch publishes to SNS, keys in AWS's order.
fn alarm_message(
    scope: &Scope,
    old: &StoredAlarm,
    state: AlarmState,
    reason: &str,
    now_ms: i64,
    region: &str,
) -> String {
    let cfg: &MetricAlarm = &old.config;
    let text = |s: &str| json!(s).to_string();
    let or_null = |v: &Option<String>| json!(v).to_string();
    let list = |v: &Option<Vec<String>>| json!(v.as_deref().unwrap_or_default()).to_string();
    let mut trigger: Vec<(&str, String)> = vec![
        ("MetricName", or_null(&cfg.metric_name)),
        ("Namespace", or_null(&cfg.namespace)),
    ];
    match &cfg.statistic {
        Some(s) => {
            trigger.push(("StatisticType", text("Statistic")));
            trigger.push(("Statistic", text(&upper_snake(s))));
        }
        None => {
            trigger.push(("StatisticType", text("ExtendedStatistic")));
            trigger.push(("ExtendedStatistic", or_null(&cfg.extended_statistic)));
        }
    }
    trigger.push(("Unit", or_null(&cfg.unit)));
    let dims: Vec<String> = cfg
        .dimensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|d| object(&[("value", text(&d.value)), ("name", text(&d.name))]))
        .collect();
    trigger.push(("Dimensions", format!("[{}]", dims.join(","))));
    trigger.push(("Period", json!(cfg.period).to_string()));
    trigger.push((
        "EvaluationPeriods",
        json!(cfg.evaluation_periods).to_string(),
    ));
    if let Some(m) = cfg.datapoints_to_alarm {
        trigger.push(("DatapointsToAlarm", m.to_string()));
    }
    trigger.push(("ComparisonOperator", or_null(&cfg.comparison_operator)));
    trigger.push(("Threshold", json!(cfg.threshold.unwrap_or(0.0)).to_string()));
    trigger.push((
        "TreatMissingData",
        text(cfg.treat_missing_data.as_deref().unwrap_or("missing")),
    ));
    trigger.push((
        "EvaluateLowSampleCountPercentile",
        text(
            cfg.evaluate_low_sample_count_percentile
                .as_deref()
                .unwrap_or(""),
        ),
    ));
    object(&[
        ("AlarmName", text(&cfg.alarm_name)),
        ("AlarmDescription", or_null(&cfg.alarm_description)),
        ("AWSAccountId", text(scope.account())),
        (
            "AlarmConfigurationUpdatedTimestamp",
            text(&payload_time(old.config_updated_ms)),
        ),
        ("NewStateValue", text(state.as_str())),
        ("NewStateReason", text(reason)),
        ("StateChangeTime", text(&payload_time(now_ms))),
        ("Region", text(region)),
        ("AlarmArn", text(&alarm_arn(scope, &cfg.alarm_name))),
        ("OldStateValue", text(old.state.as_str())),
        ("OKActions", list(&cfg.ok_actions)),
        ("AlarmActions", list(&cfg.alarm_actions)),
        (
            "InsufficientDataActions",
            list(&cfg.insufficient_data_actions),
        ),
        ("Trigger", object(&trigger)),
    ])
}

/// A JSON object as text, keys in the given order (values are JSON text). serde_json's map
/// sorts keys, and its `preserve_order` feature would change every map in the program.
fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json!(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// `SUM`, `SAMPLE_COUNT`: the statistic names of alarm notifications.
fn upper_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}
