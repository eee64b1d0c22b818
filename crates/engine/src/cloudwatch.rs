//! CloudWatch: metrics, their statistics, and metric alarms.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alarm::{self, AlarmState, Comparison, Rule, Slot, TreatMissingData, Verdict};
use crate::sqlite::sql;
use crate::store::Tx;
use crate::{ApiError, Context, Engine, topics, unknown_operation};

const INVALID_VALUE: &str = "InvalidParameterValueException";
const INVALID_COMBINATION: &str = "InvalidParameterCombinationException";

/// One sample for a metric.
#[derive(Debug, Clone)]
pub(crate) struct Datum {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub unit: String,
    pub timestamp_ms: i64,
    /// The samples, as their aggregates: one value, `Values` with `Counts`, or a statistic set
    /// all arrive in this form, so that a count of a million costs one row, not a million.
    pub stats: Aggregate,
    /// `StorageResolution=1`: kept per second rather than per minute.
    pub high_resolution: bool,
}

/// Sum, count, minimum and maximum of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Aggregate {
    pub sum: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
}

impl Aggregate {
    /// One sample.
    pub fn one(value: f64) -> Aggregate {
        Aggregate {
            sum: value,
            count: 1.0,
            min: value,
            max: value,
        }
    }
}

pub(crate) async fn call(engine: &Engine, op: &str, v: Value) -> Result<Value, ApiError> {
    match op {
        "PutMetricAlarm" => {
            check_alarm(&v)?;
            engine
                .write(move |tx, ctx| put_metric_alarm(tx, ctx, v))
                .await
        }
        "DescribeAlarms" => engine.read_op(v, describe_alarms).await,
        "DeleteAlarms" => engine.write_op(v, delete_alarms).await,
        "PutMetricData" => {
            let data = metric_data(v, engine.now_ms())?;
            engine
                .write(move |tx, ctx| {
                    record(tx, ctx, &data)?;
                    Ok(json!({}))
                })
                .await
        }
        "GetMetricStatistics" => engine.read_op(v, get_metric_statistics).await,
        "GetMetricData" => engine.read_op(v, get_metric_data).await,
        "SetAlarmState" => {
            let req: SetAlarmState = crate::input(v)?;
            engine
                .write(move |tx, ctx| set_alarm_state(tx, ctx, req))
                .await
        }
        "EnableAlarmActions" => {
            engine
                .write_op(v, |c, _, r: DeleteAlarms| {
                    set_actions_enabled(c, &r.alarm_names, true)
                })
                .await
        }
        "DisableAlarmActions" => {
            engine
                .write_op(v, |c, _, r: DeleteAlarms| {
                    set_actions_enabled(c, &r.alarm_names, false)
                })
                .await
        }
        "DescribeAlarmsForMetric" => engine.read_op(v, describe_alarms_for_metric).await,
        "DescribeAlarmHistory" => engine.read_op(v, describe_alarm_history).await,
        "ListMetrics" => engine.read_op(v, list_metrics).await,
        _ => Err(unknown_operation(op)),
    }
}

/// Dimensions in canonical form: sorted by name, as JSON `[{"Name":…,"Value":…}]`. Metrics are
/// identified by namespace, name and this text.
fn dimensions_key(dims: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = dims.iter().collect();
    sorted.sort();
    let list: Vec<Value> = sorted
        .iter()
        .map(|(n, v)| json!({"Name": n, "Value": v}))
        .collect();
    Value::Array(list).to_string()
}

fn dimensions_of(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    Some((
                        d.get("Name")?.as_str()?.to_owned(),
                        d.get("Value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The smallest and largest magnitudes CloudWatch accepts for a metric value (its documented
/// base-10 bounds, about 2^-360 and 2^360).
const METRIC_VALUE_MIN: f64 = 8.515920e-109;
const METRIC_VALUE_MAX: f64 = 1.174271e+108;

/// Whether CloudWatch accepts `v` as a metric value: zero, or a magnitude within its range.
/// Sums of such values stay finite for any count of samples a store can hold.
pub(crate) fn metric_value_in_range(v: f64) -> bool {
    v == 0.0 || (METRIC_VALUE_MIN..=METRIC_VALUE_MAX).contains(&v.abs())
}

/// Stores datapoints and re-evaluates the alarms watching the metrics they touch.
pub(crate) fn record(tx: &mut dyn Tx, ctx: &Context, data: &[Datum]) -> Result<(), ApiError> {
    if data.is_empty() {
        return Ok(());
    }
    let c = tx.connection();
    let mut touched = BTreeSet::new();
    {
        let mut find = c
            .prepare_cached(
                "INSERT INTO metrics (namespace, name, dimensions, last_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, name, dimensions) DO UPDATE SET last_ms = MAX(last_ms, ?4)
                 RETURNING id",
            )
            .map_err(sql)?;
        let mut add = c
            .prepare_cached(
                "INSERT INTO metric_data (metric_id, unit, bucket_s, sum, count, min, max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (metric_id, unit, bucket_s) DO UPDATE SET
                    sum = sum + ?4, count = count + ?5, min = MIN(min, ?6), max = MAX(max, ?7)",
            )
            .map_err(sql)?;
        for d in data {
            let dims = dimensions_key(&d.dimensions);
            let id: i64 = find
                .query_row(params![d.namespace, d.metric_name, dims, ctx.now_ms], |r| {
                    r.get(0)
                })
                .map_err(sql)?;
            let resolution = if d.high_resolution { 1 } else { 60 };
            let bucket = d.timestamp_ms.div_euclid(1000).div_euclid(resolution) * resolution;
            let a = d.stats;
            add.execute(params![id, d.unit, bucket, a.sum, a.count, a.min, a.max])
                .map_err(sql)?;
            touched.insert((d.namespace.clone(), d.metric_name.clone(), dims));
        }
    }
    let mut watching = Vec::new();
    for (namespace, name, dims) in touched {
        let mut stmt = c
            .prepare_cached(
                "SELECT name FROM alarms WHERE namespace = ?1 AND metric_name = ?2 AND dimensions = ?3",
            )
            .map_err(sql)?;
        let alarms = stmt
            .query_map(params![namespace, name, dims], |r| r.get::<_, String>(0))
            .map_err(sql)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(sql)?;
        watching.extend(alarms);
    }
    for alarm in watching {
        evaluate_alarm(tx, ctx, &alarm)?;
    }
    Ok(())
}

/// Checks what the model cannot: CloudWatch's rules between members of an alarm.
fn check_alarm(v: &Value) -> Result<(), ApiError> {
    let has = |k: &str| v.get(k).is_some();
    if has("Metrics") {
        for k in [
            "MetricName",
            "Namespace",
            "Statistic",
            "ExtendedStatistic",
            "Period",
            "Dimensions",
            "Unit",
        ] {
            if has(k) {
                return Err(ApiError::new(
                    INVALID_COMBINATION,
                    format!("The parameters Metrics and {k} are mutually exclusive."),
                ));
            }
        }
    } else {
        if !has("MetricName") || !has("Namespace") {
            return Err(ApiError::new(
                "MissingRequiredParameterException",
                "The parameters MetricName and Namespace are required unless Metrics is given.",
            ));
        }
        match (has("Statistic"), has("ExtendedStatistic")) {
            (true, true) => {
                return Err(ApiError::new(
                    INVALID_COMBINATION,
                    "The parameters Statistic and ExtendedStatistic are mutually exclusive and you have specified both.",
                ));
            }
            (false, false) => {
                return Err(ApiError::new(
                    "MissingRequiredParameterException",
                    "One of the parameters Statistic or ExtendedStatistic must be specified.",
                ));
            }
            _ => {}
        }
        let Some(period) = v.get("Period").and_then(Value::as_i64) else {
            return Err(ApiError::new(
                "MissingRequiredParameterException",
                "The parameter Period is required.",
            ));
        };
        if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
            return Err(ApiError::new(
                INVALID_VALUE,
                "Period must be 10, 20, 30 or a multiple of 60",
            ));
        }
        let n = v
            .get("EvaluationPeriods")
            .and_then(Value::as_i64)
            .unwrap_or(1);
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
    let n = v
        .get("EvaluationPeriods")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if let Some(m) = v.get("DatapointsToAlarm").and_then(Value::as_i64)
        && m > n
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods.",
        ));
    }
    if let Some(t) = v.get("TreatMissingData").and_then(Value::as_str)
        && !matches!(t, "breaching" | "notBreaching" | "ignore" | "missing")
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            format!(
                "The value {t} for parameter TreatMissingData is not valid: it must be breaching, notBreaching, ignore or missing."
            ),
        ));
    }
    if let Some(e) = v
        .get("EvaluateLowSampleCountPercentile")
        .and_then(Value::as_str)
        && !matches!(e, "evaluate" | "ignore")
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            format!(
                "The value {e} for parameter EvaluateLowSampleCountPercentile is not valid: it must be evaluate or ignore."
            ),
        ));
    }
    if v.get("Threshold")
        .is_some_and(|t| t.as_f64().is_none_or(|t| !t.is_finite()))
    {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The value for parameter Threshold must be a finite number.",
        ));
    }
    let comparison = v
        .get("ComparisonOperator")
        .and_then(Value::as_str)
        .unwrap_or("");
    if Comparison::parse(comparison).is_some() && !has("Threshold") && !has("ThresholdMetricId") {
        return Err(ApiError::new(
            "MissingRequiredParameterException",
            "The parameter Threshold is required.",
        ));
    }
    for list in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        if v.get(list)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 5)
        {
            return Err(ApiError::new(
                INVALID_VALUE,
                format!("The maximum number of {list} is 5."),
            ));
        }
    }
    Ok(())
}

/// The stored configuration members, as PutMetricAlarm gave them.
fn put_metric_alarm(tx: &mut dyn Tx, ctx: &Context, config: Value) -> Result<Value, ApiError> {
    let c = tx.connection();
    let name = config["AlarmName"].as_str().unwrap_or_default().to_owned();
    let namespace = config.get("Namespace").and_then(Value::as_str);
    let metric = config.get("MetricName").and_then(Value::as_str);
    let dims = dimensions_key(&dimensions_of(config.get("Dimensions")));
    let now = ctx.now_ms;
    let stored = config.to_string();
    let existed = load_alarm(c, &name)?.is_some();
    // A new alarm starts in INSUFFICIENT_DATA; a re-put keeps its state (AWS: "When you update
    // an existing alarm, its state is left unchanged").
    c.execute(
        "INSERT INTO alarms (name, config, namespace, metric_name, dimensions, state, state_reason,
                             state_updated_ms, state_transitioned_ms, config_updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'INSUFFICIENT_DATA', 'Unchecked: Initial alarm creation', ?6, ?6, ?6)
         ON CONFLICT (name) DO UPDATE SET config = ?2, namespace = ?3, metric_name = ?4,
             dimensions = ?5, config_updated_ms = ?6",
        params![name, stored, namespace, metric, dims, now],
    )
    .map_err(sql)?;
    let (kind, verb) = if existed {
        ("Update", "updated")
    } else {
        ("Create", "created")
    };
    let data = json!({"version": "1.0", "type": kind, format!("{}Alarm", verb): config});
    history(
        c,
        &name,
        now,
        "ConfigurationUpdate",
        &format!("Alarm \"{name}\" {verb}"),
        &data.to_string(),
    )?;
    evaluate_alarm(tx, ctx, &name)?;
    Ok(json!({}))
}

/// Re-evaluates every alarm at `ctx.now_ms` (the tick).
pub(crate) fn evaluate_all(tx: &mut dyn Tx, ctx: &Context) -> Result<(), ApiError> {
    let names = tx
        .connection()
        .prepare("SELECT name FROM alarms")
        .map_err(sql)?
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(sql)?;
    for name in names {
        evaluate_alarm(tx, ctx, &name)?;
    }
    Ok(())
}

struct StoredAlarm {
    config: Value,
    state: AlarmState,
    reason: String,
    reason_data: Option<String>,
    updated_ms: i64,
    transitioned_ms: i64,
    config_updated_ms: i64,
}

fn load_alarm(c: &Connection, name: &str) -> Result<Option<StoredAlarm>, ApiError> {
    c.query_row(
        "SELECT config, state, state_reason, state_reason_data, state_updated_ms,
                state_transitioned_ms, config_updated_ms FROM alarms WHERE name = ?1",
        [name],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        },
    )
    .optional()
    .map_err(sql)?
    .map(
        |(config, state, reason, reason_data, updated, transitioned, config_updated)| {
            Ok(StoredAlarm {
                config: serde_json::from_str(&config)
                    .map_err(|e| ApiError::internal(format!("stored alarm: {e}")))?,
                state: AlarmState::parse(&state).unwrap_or(AlarmState::InsufficientData),
                reason,
                reason_data,
                updated_ms: updated,
                transitioned_ms: transitioned,
                config_updated_ms: config_updated,
            })
        },
    )
    .transpose()
}

/// Whether `name` is one of CloudWatch's extended statistics: a percentile (`p99`, `p99.9`),
/// a trimmed or winsorized mean, count or sum (`tm90`, `wm(10%:90%)`, `TC(…)`, `ts99`), a
/// percentile rank (`PR(:300)`) or `IQM`.
fn is_extended_statistic(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let argument = |rest: &str| {
        let number =
            |t: &str| !t.is_empty() && t.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v));
        number(rest) || (rest.starts_with('(') && rest.ends_with(')') && rest.len() > 2)
    };
    lower == "iqm"
        || lower
            .strip_prefix('p')
            .is_some_and(|r| !r.starts_with('r') && argument(r))
        || ["tm", "wm", "tc", "ts", "pr"]
            .iter()
            .any(|p| lower.strip_prefix(p).is_some_and(argument))
}

/// The statistic of one period from its aggregates.
fn statistic(name: &str, sum: f64, count: f64, min: f64, max: f64) -> Option<f64> {
    match name {
        "Sum" => Some(sum),
        "SampleCount" => Some(count),
        "Average" => (count > 0.0).then(|| sum / count),
        "Minimum" => Some(min),
        "Maximum" => Some(max),
        _ => None,
    }
}

/// Which metric samples to aggregate, and into which periods.
struct MetricQuery<'a> {
    namespace: &'a str,
    metric: &'a str,
    /// Canonical dimensions text (see `dimensions_key`).
    dims: &'a str,
    unit: Option<&'a str>,
    period_s: i64,
    /// The first period's start.
    first_s: i64,
    /// Samples from here on are left out.
    end_s: i64,
}

/// One period's aggregates.
struct PeriodAggregate {
    /// Periods since the query's first one.
    index: i64,
    sum: f64,
    count: f64,
    min: f64,
    max: f64,
}

/// Aggregates per period `[start, start + period)`.
fn period_values(c: &Connection, q: &MetricQuery) -> Result<Vec<PeriodAggregate>, ApiError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT (d.bucket_s - ?5) / ?6, SUM(d.sum), SUM(d.count), MIN(d.min), MAX(d.max)
             FROM metric_data d JOIN metrics m ON m.id = d.metric_id
             WHERE m.namespace = ?1 AND m.name = ?2 AND m.dimensions = ?3
               AND (?4 IS NULL OR d.unit = ?4) AND d.bucket_s >= ?5 AND d.bucket_s < ?7
             GROUP BY 1",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(
            params![
                q.namespace,
                q.metric,
                q.dims,
                q.unit,
                q.first_s,
                q.period_s,
                q.end_s
            ],
            |r| {
                Ok(PeriodAggregate {
                    index: r.get(0)?,
                    sum: r.get(1)?,
                    count: r.get(2)?,
                    min: r.get(3)?,
                    max: r.get(4)?,
                })
            },
        )
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Evaluates one alarm at `ctx.now_ms` and applies a transition with its notifications.
pub(crate) fn evaluate_alarm(tx: &mut dyn Tx, ctx: &Context, name: &str) -> Result<(), ApiError> {
    let c = tx.connection();
    let Some(alarm) = load_alarm(c, name)? else {
        return Ok(());
    };
    let cfg = &alarm.config;
    let (Some(namespace), Some(metric), Some(stat), Some(period)) = (
        cfg.get("Namespace").and_then(Value::as_str),
        cfg.get("MetricName").and_then(Value::as_str),
        cfg.get("Statistic").and_then(Value::as_str),
        cfg.get("Period").and_then(Value::as_i64),
    ) else {
        // Metric-math and percentile alarms are stored but not evaluated yet: they stay in
        // INSUFFICIENT_DATA.
        return Ok(());
    };
    let Some(comparison) = cfg
        .get("ComparisonOperator")
        .and_then(Value::as_str)
        .and_then(Comparison::parse)
    else {
        return Ok(());
    };
    let n = cfg
        .get("EvaluationPeriods")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let m_set = cfg.get("DatapointsToAlarm").and_then(Value::as_u64);
    let rule = Rule {
        evaluation_periods: n,
        datapoints_to_alarm: m_set.map_or(n, |m| m as usize),
        datapoints_to_alarm_set: m_set.is_some(),
        comparison,
        threshold: cfg.get("Threshold").and_then(Value::as_f64).unwrap_or(0.0),
        treat_missing: TreatMissingData::parse(cfg.get("TreatMissingData").and_then(Value::as_str)),
    };
    let dims = dimensions_key(&dimensions_of(cfg.get("Dimensions")));
    let unit = cfg.get("Unit").and_then(Value::as_str);
    let period = period.max(1);
    let range = n + alarm::EXTRA_RANGE_PERIODS;
    let now_s = ctx.now_ms.div_euclid(1000);
    let open = now_s.div_euclid(period) * period;
    let first = open - range as i64 * period;
    let rows = period_values(
        c,
        &MetricQuery {
            namespace,
            metric,
            dims: &dims,
            unit,
            period_s: period,
            first_s: first,
            end_s: open + period,
        },
    )?;
    // Slot i covers [first + i*period, …); slot `range` is the open (current) period.
    let mut values: Vec<Option<(f64, f64)>> = vec![None; range + 1];
    for p in rows {
        if let Some(v) = statistic(stat, p.sum, p.count, p.min, p.max)
            && let Some(slot) = values.get_mut(p.index as usize)
        {
            *slot = Some((v, p.min));
        }
    }
    // The open period counts at once when later data in it cannot undo a breach: the
    // statistic only grows (Sum of non-negative values, Maximum, SampleCount) and the
    // operator is a "greater" one.
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
    let (slot_values, slot_first, verdict) = {
        let closed_verdict = alarm::evaluate(&rule, &closed);
        if open_decided {
            let open_verdict = alarm::evaluate(&rule, &with_open);
            match open_verdict {
                Verdict::State {
                    state: AlarmState::Alarm,
                    ..
                } => (with_open, first + period, open_verdict),
                _ => (closed, first, closed_verdict),
            }
        } else {
            (closed, first, closed_verdict)
        }
    };
    let Verdict::State {
        state,
        evaluated,
        filled,
    } = verdict
    else {
        return Ok(());
    };
    if state == alarm.state {
        return Ok(());
    }
    let slots: Vec<Slot> = evaluated
        .iter()
        .map(|&i| Slot {
            start_ms: (slot_first + i as i64 * period) * 1000,
            value: slot_values[i],
        })
        .collect();
    let reason = alarm::reason(&rule, state, &slots, filled);
    let reason_data = reason_data(&rule, stat, period, unit, ctx.now_ms, &slots);
    transition(tx, ctx, name, &alarm, state, &reason, Some(&reason_data))
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
        ("queryDate", text(&alarm::payload_time(now_ms))),
    ];
    if let Some(first) = slots.iter().find(|s| s.value.is_some()) {
        fields.push(("startDate", text(&alarm::payload_time(first.start_ms))));
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
            let mut p = vec![("timestamp", text(&alarm::payload_time(s.start_ms)))];
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
fn transition(
    tx: &mut dyn Tx,
    ctx: &Context,
    name: &str,
    old: &StoredAlarm,
    state: AlarmState,
    reason: &str,
    reason_data: Option<&str>,
) -> Result<(), ApiError> {
    let now = ctx.now_ms;
    let c = tx.connection();
    c.execute(
        "UPDATE alarms SET state = ?2, state_reason = ?3, state_reason_data = ?4,
             state_updated_ms = ?5, state_transitioned_ms = ?5 WHERE name = ?1",
        params![name, state.as_str(), reason, reason_data, now],
    )
    .map_err(sql)?;
    let mut new_state = json!({"stateValue": state.as_str(), "stateReason": reason});
    if let Some(d) = reason_data.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        new_state["stateReasonData"] = d;
    }
    let data = json!({
        "version": "1.0",
        "oldState": {"stateValue": old.state.as_str(), "stateReason": old.reason},
        "newState": new_state,
    });
    history(
        c,
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
    if cfg.get("ActionsEnabled").and_then(Value::as_bool) == Some(false) {
        return Ok(());
    }
    let list = match state {
        AlarmState::Alarm => "AlarmActions",
        AlarmState::Ok => "OKActions",
        AlarmState::InsufficientData => "InsufficientDataActions",
    };
    let actions: Vec<String> = cfg
        .get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if actions.is_empty() {
        return Ok(());
    }
    let region = alarm::region_long_name(&ctx.config.region);
    let subject = format!("{}: \"{name}\" in {region}", state.as_str());
    let message = alarm_message(ctx, name, old, state, reason, now, &region);
    for arn in actions {
        // CloudWatch does not validate action ARNs when an alarm is saved; an action that
        // cannot run is recorded in the alarm's history.
        let outcome = if !arn.starts_with("arn:aws:sns:") {
            Err("only SNS topic actions are supported")
        } else if tx.topic(&arn)?.is_none() {
            Err("the topic does not exist")
        } else {
            topics::publish_for_alarm(tx, ctx, &arn, Some(&subject), &message, name)?;
            Ok(())
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
        history(
            tx.connection(),
            name,
            now,
            "Action",
            &summary,
            &data.to_string(),
        )?;
    }
    Ok(())
}

/// The alarm-state-change JSON CloudWatch publishes to SNS, keys in AWS's order.
fn alarm_message(
    ctx: &Context,
    name: &str,
    old: &StoredAlarm,
    state: AlarmState,
    reason: &str,
    now_ms: i64,
    region: &str,
) -> String {
    let cfg = &old.config;
    let get = |k: &str| cfg.get(k).cloned().unwrap_or(Value::Null).to_string();
    let list = |k: &str| cfg.get(k).cloned().unwrap_or_else(|| json!([])).to_string();
    let mut trigger: Vec<(&str, String)> = vec![
        ("MetricName", get("MetricName")),
        ("Namespace", get("Namespace")),
    ];
    match cfg.get("Statistic").and_then(Value::as_str) {
        Some(s) => {
            trigger.push(("StatisticType", json!("Statistic").to_string()));
            trigger.push(("Statistic", json!(upper_snake(s)).to_string()));
        }
        None => {
            trigger.push(("StatisticType", json!("ExtendedStatistic").to_string()));
            trigger.push(("ExtendedStatistic", get("ExtendedStatistic")));
        }
    }
    trigger.push(("Unit", get("Unit")));
    let dims: Vec<String> = dimensions_of(cfg.get("Dimensions"))
        .into_iter()
        .map(|(n, v)| {
            object(&[
                ("value", json!(v).to_string()),
                ("name", json!(n).to_string()),
            ])
        })
        .collect();
    trigger.push(("Dimensions", format!("[{}]", dims.join(","))));
    trigger.push(("Period", get("Period")));
    trigger.push(("EvaluationPeriods", get("EvaluationPeriods")));
    if cfg.get("DatapointsToAlarm").is_some() {
        trigger.push(("DatapointsToAlarm", get("DatapointsToAlarm")));
    }
    trigger.push(("ComparisonOperator", get("ComparisonOperator")));
    let threshold = cfg.get("Threshold").and_then(Value::as_f64).unwrap_or(0.0);
    trigger.push(("Threshold", json!(threshold).to_string()));
    let or = |k: &str, default: &str| {
        cfg.get(k)
            .cloned()
            .unwrap_or_else(|| json!(default))
            .to_string()
    };
    trigger.push(("TreatMissingData", or("TreatMissingData", "missing")));
    trigger.push((
        "EvaluateLowSampleCountPercentile",
        or("EvaluateLowSampleCountPercentile", ""),
    ));
    let text = |s: &str| json!(s).to_string();
    object(&[
        ("AlarmName", text(name)),
        ("AlarmDescription", get("AlarmDescription")),
        ("AWSAccountId", text(&ctx.config.account_id)),
        (
            "AlarmConfigurationUpdatedTimestamp",
            text(&alarm::payload_time(old.config_updated_ms)),
        ),
        ("NewStateValue", text(state.as_str())),
        ("NewStateReason", text(reason)),
        ("StateChangeTime", text(&alarm::payload_time(now_ms))),
        ("Region", text(region)),
        ("AlarmArn", text(&alarm_arn(ctx, name))),
        ("OldStateValue", text(old.state.as_str())),
        ("OKActions", list("OKActions")),
        ("AlarmActions", list("AlarmActions")),
        ("InsufficientDataActions", list("InsufficientDataActions")),
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

fn alarm_arn(ctx: &Context, name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:alarm:{name}",
        ctx.config.region, ctx.config.account_id
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAlarms {
    #[serde(default)]
    alarm_names: Vec<String>,
    alarm_name_prefix: Option<String>,
    #[serde(default)]
    alarm_types: Vec<String>,
    state_value: Option<String>,
    action_prefix: Option<String>,
    max_records: Option<i64>,
    next_token: Option<String>,
}

fn ms_to_secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn describe_alarms(c: &Connection, ctx: &Context, req: DescribeAlarms) -> Result<Value, ApiError> {
    if req.alarm_name_prefix.is_some() && !req.alarm_names.is_empty() {
        return Err(ApiError::new(
            INVALID_COMBINATION,
            "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.",
        ));
    }
    let limit = req.max_records.unwrap_or(50).clamp(1, 100) as usize;
    let after = match &req.next_token {
        None => String::new(),
        Some(t) => t
            .strip_prefix("n/")
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new("InvalidNextToken", "The next token is invalid."))?,
    };
    let wants_metric =
        req.alarm_types.is_empty() || req.alarm_types.iter().any(|t| t == "MetricAlarm");
    let names = c
        .prepare("SELECT name FROM alarms WHERE name > ?1 ORDER BY name")
        .map_err(sql)?
        .query_map([after], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut alarms = Vec::new();
    let mut next = None;
    for name in names.into_iter().filter(|_| wants_metric) {
        if !req.alarm_names.is_empty() && !req.alarm_names.contains(&name) {
            continue;
        }
        if let Some(p) = &req.alarm_name_prefix
            && !name.starts_with(p.as_str())
        {
            continue;
        }
        let Some(a) = load_alarm(c, &name)? else {
            continue;
        };
        if req
            .state_value
            .as_deref()
            .is_some_and(|s| s != a.state.as_str())
        {
            continue;
        }
        if let Some(prefix) = &req.action_prefix {
            let has = ["OKActions", "AlarmActions", "InsufficientDataActions"]
                .iter()
                .any(|l| {
                    a.config.get(*l).and_then(Value::as_array).is_some_and(|v| {
                        v.iter()
                            .any(|x| x.as_str().is_some_and(|x| x.starts_with(prefix.as_str())))
                    })
                });
            if !has {
                continue;
            }
        }
        if alarms.len() == limit {
            next = alarms
                .last()
                .and_then(|v: &Value| v["AlarmName"].as_str())
                .map(|n| format!("n/{n}"));
            break;
        }
        alarms.push(described(ctx, &name, &a)?);
    }
    let mut out = json!({ "MetricAlarms": alarms, "CompositeAlarms": [] });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

/// An alarm as DescribeAlarms shows it: its configuration with its state.
fn described(ctx: &Context, name: &str, a: &StoredAlarm) -> Result<Value, ApiError> {
    let mut out = a.config.clone();
    let obj = out
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("stored alarm is not an object"))?;
    obj.insert("AlarmArn".into(), json!(alarm_arn(ctx, name)));
    obj.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        ms_to_secs(a.config_updated_ms),
    );
    obj.entry("ActionsEnabled").or_insert(json!(true));
    for l in [
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "Dimensions",
    ] {
        obj.entry(l).or_insert(json!([]));
    }
    obj.insert("StateValue".into(), json!(a.state.as_str()));
    obj.insert("StateReason".into(), json!(a.reason));
    if let Some(d) = &a.reason_data {
        obj.insert("StateReasonData".into(), json!(d));
    }
    obj.insert("StateUpdatedTimestamp".into(), ms_to_secs(a.updated_ms));
    obj.insert(
        "StateTransitionedTimestamp".into(),
        ms_to_secs(a.transitioned_ms),
    );
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteAlarms {
    alarm_names: Vec<String>,
}

/// Names that do not exist are skipped, as on AWS.
fn delete_alarms(c: &Connection, ctx: &Context, req: DeleteAlarms) -> Result<Value, ApiError> {
    for name in &req.alarm_names {
        let deleted = c
            .execute("DELETE FROM alarms WHERE name = ?1", [name])
            .map_err(sql)?;
        if deleted > 0 {
            let data = json!({"version": "1.0", "type": "Delete"});
            history(
                c,
                name,
                ctx.now_ms,
                "ConfigurationUpdate",
                &format!("Alarm \"{name}\" deleted"),
                &data.to_string(),
            )?;
        }
    }
    Ok(json!({}))
}

/// Appends an alarm history item; items outlive their alarm, as on AWS.
pub(crate) fn history(
    c: &Connection,
    alarm: &str,
    at_ms: i64,
    item_type: &str,
    summary: &str,
    data: &str,
) -> Result<(), ApiError> {
    c.prepare_cached(
        "INSERT INTO alarm_history (alarm_name, timestamp_ms, item_type, summary, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql)?
    .execute(params![alarm, at_ms, item_type, summary, data])
    .map_err(sql)?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetAlarmState {
    alarm_name: String,
    state_value: String,
    state_reason: String,
    state_reason_data: Option<String>,
}

/// Sets the state until the next evaluation says otherwise; actions run if the state changes.
fn set_alarm_state(tx: &mut dyn Tx, ctx: &Context, req: SetAlarmState) -> Result<Value, ApiError> {
    let c = tx.connection();
    if let Some(data) = &req.state_reason_data
        && serde_json::from_str::<Value>(data).is_err()
    {
        return Err(ApiError::new(
            "InvalidFormatFault",
            "The value for parameter StateReasonData is not valid JSON.",
        ));
    }
    let Some(alarm) = load_alarm(c, &req.alarm_name)? else {
        return Err(ApiError::new(
            "ResourceNotFound",
            format!("Alarm {} does not exist", req.alarm_name),
        ));
    };
    let state = AlarmState::parse(&req.state_value).ok_or_else(|| {
        ApiError::new(
            INVALID_VALUE,
            "StateValue must be OK, ALARM or INSUFFICIENT_DATA.",
        )
    })?;
    if state == alarm.state {
        c.execute(
            "UPDATE alarms SET state_reason = ?2, state_reason_data = ?3, state_updated_ms = ?4
             WHERE name = ?1",
            params![
                req.alarm_name,
                req.state_reason,
                req.state_reason_data,
                ctx.now_ms
            ],
        )
        .map_err(sql)?;
        return Ok(json!({}));
    }
    transition(
        tx,
        ctx,
        &req.alarm_name,
        &alarm,
        state,
        &req.state_reason,
        req.state_reason_data.as_deref(),
    )?;
    Ok(json!({}))
}

fn set_actions_enabled(c: &Connection, names: &[String], enabled: bool) -> Result<Value, ApiError> {
    for name in names {
        c.execute(
            "UPDATE alarms SET config = json_set(config, '$.ActionsEnabled', json(?2)) WHERE name = ?1",
            params![name, if enabled { "true" } else { "false" }],
        )
        .map_err(sql)?;
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAlarmsForMetric {
    metric_name: String,
    namespace: String,
    statistic: Option<String>,
    extended_statistic: Option<String>,
    #[serde(default)]
    dimensions: Vec<DimensionIn>,
    period: Option<i64>,
    unit: Option<String>,
}

fn describe_alarms_for_metric(
    c: &Connection,
    ctx: &Context,
    req: DescribeAlarmsForMetric,
) -> Result<Value, ApiError> {
    let dims: Vec<(String, String)> = req
        .dimensions
        .iter()
        .map(|d| (d.name.clone(), d.value.clone().unwrap_or_default()))
        .collect();
    let names = c
        .prepare(
            "SELECT name FROM alarms WHERE namespace = ?1 AND metric_name = ?2 AND dimensions = ?3
             ORDER BY name",
        )
        .map_err(sql)?
        .query_map(
            params![req.namespace, req.metric_name, dimensions_key(&dims)],
            |r| r.get::<_, String>(0),
        )
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut alarms = Vec::new();
    for name in names {
        let Some(a) = load_alarm(c, &name)? else {
            continue;
        };
        let same = |k: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| a.config.get(k).and_then(Value::as_str) == Some(w.as_str()))
        };
        let period_ok = req
            .period
            .is_none_or(|p| a.config.get("Period").and_then(Value::as_i64) == Some(p));
        if same("Statistic", &req.statistic)
            && same("ExtendedStatistic", &req.extended_statistic)
            && same("Unit", &req.unit)
            && period_ok
        {
            alarms.push(described(ctx, &name, &a)?);
        }
    }
    Ok(json!({ "MetricAlarms": alarms }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAlarmHistory {
    alarm_name: Option<String>,
    #[serde(default)]
    alarm_types: Vec<String>,
    history_item_type: Option<String>,
    start_date: Option<f64>,
    end_date: Option<f64>,
    max_records: Option<i64>,
    next_token: Option<String>,
    scan_by: Option<String>,
}

fn describe_alarm_history(
    c: &Connection,
    _: &Context,
    req: DescribeAlarmHistory,
) -> Result<Value, ApiError> {
    if !req.alarm_types.is_empty() && !req.alarm_types.iter().any(|t| t == "MetricAlarm") {
        return Ok(json!({ "AlarmHistoryItems": [] }));
    }
    let ascending = req.scan_by.as_deref() == Some("TimestampAscending");
    let limit = req.max_records.unwrap_or(100).clamp(1, 100);
    // Tokens continue after (before, when descending) a history row: `h/<id>`.
    let after: Option<i64> = match &req.next_token {
        None => None,
        Some(t) => Some(
            t.strip_prefix("h/")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| ApiError::new("InvalidNextToken", "The next token is invalid."))?,
        ),
    };
    let start = req.start_date.map_or(i64::MIN, |s| (s * 1000.0) as i64);
    let end = req.end_date.map_or(i64::MAX, |s| (s * 1000.0) as i64);
    let order = if ascending { "ASC" } else { "DESC" };
    let bound = if ascending { "id > ?6" } else { "id < ?6" };
    let mut stmt = c
        .prepare(&format!(
            "SELECT id, alarm_name, timestamp_ms, item_type, summary, data FROM alarm_history
             WHERE (?1 IS NULL OR alarm_name = ?1) AND (?2 IS NULL OR item_type = ?2)
               AND timestamp_ms >= ?3 AND timestamp_ms <= ?4 AND {bound}
             ORDER BY timestamp_ms {order}, id {order} LIMIT ?5"
        ))
        .map_err(sql)?;
    let bound_value = after.unwrap_or(if ascending { i64::MIN } else { i64::MAX });
    let mut rows = stmt
        .query_map(
            params![
                req.alarm_name,
                req.history_item_type,
                start,
                end,
                limit + 1,
                bound_value
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    json!({
                        "AlarmName": r.get::<_, String>(1)?,
                        "AlarmType": "MetricAlarm",
                        "Timestamp": r.get::<_, i64>(2)? as f64 / 1000.0,
                        "HistoryItemType": r.get::<_, String>(3)?,
                        "HistorySummary": r.get::<_, String>(4)?,
                        "HistoryData": r.get::<_, String>(5)?,
                    }),
                ))
            },
        )
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut out = json!({});
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        if let Some((id, _)) = rows.last() {
            out["NextToken"] = json!(format!("h/{id}"));
        }
    }
    out["AlarmHistoryItems"] = rows.into_iter().map(|(_, item)| item).collect();
    Ok(out)
}

/// PutMetricData accepts datapoints up to two weeks old and two hours ahead.
const METRIC_MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
const METRIC_MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// Reads PutMetricData's input into samples.
fn metric_data(v: Value, now_ms: i64) -> Result<Vec<Datum>, ApiError> {
    let namespace = v["Namespace"].as_str().unwrap_or_default().to_owned();
    if namespace.starts_with("AWS/") {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The value AWS/ for parameter Namespace is invalid.",
        ));
    }
    let mut out = Vec::new();
    let items = v["MetricData"].as_array().cloned().unwrap_or_default();
    for (i, d) in items.iter().enumerate() {
        let at = |k: &str| format!("MetricData.member.{}.{k}", i + 1);
        let invalid = |k: &str, why: &str| {
            Err(ApiError::new(
                INVALID_VALUE,
                format!("The parameter {} {why}", at(k)),
            ))
        };
        let has = |k: &str| d.get(k).is_some();
        let number = |x: &Value| x.as_f64().filter(|f| f.is_finite());
        let ts = d
            .get("Timestamp")
            .and_then(Value::as_f64)
            .map_or(now_ms, |s| (s * 1000.0) as i64);
        if ts < now_ms - METRIC_MAX_AGE_MS || ts > now_ms + METRIC_MAX_AHEAD_MS {
            return invalid(
                "Timestamp",
                "must specify a time no more than two weeks in the past and no more than two hours in the future.",
            );
        }
        let resolution = d.get("StorageResolution").and_then(Value::as_i64);
        if resolution.is_some_and(|r| r != 1 && r != 60) {
            return invalid("StorageResolution", "must be 1 or 60.");
        }
        let given = ["Value", "Values", "StatisticValues"]
            .iter()
            .filter(|k| has(k))
            .count();
        if given == 0 {
            // AWS's text (recorded before `Values` existed; it names the two it knew).
            return Err(ApiError::new(
                INVALID_COMBINATION,
                format!(
                    "At least one of the parameters {} and {} must be specified.",
                    at("Value"),
                    at("StatisticValues")
                ),
            ));
        }
        if given > 1 {
            let both: Vec<String> = ["Value", "Values", "StatisticValues"]
                .iter()
                .filter(|k| has(k))
                .map(|k| at(k))
                .collect();
            return Err(ApiError::new(
                INVALID_COMBINATION,
                format!(
                    "The parameters {} are mutually exclusive and you have specified both.",
                    both.join(" and ")
                ),
            ));
        }
        // Values outside CloudWatch's range get AWS's answer for them.
        let out_of_range = |k: &str, x: f64| {
            Err(ApiError::new(
                INVALID_VALUE,
                format!(
                    "The value {} for parameter {} is invalid.",
                    alarm::java_double(x),
                    at(k)
                ),
            ))
        };
        let mut samples: Vec<Aggregate> = Vec::new();
        if let Some(x) = d.get("Value") {
            let Some(x) = number(x) else {
                return invalid("Value", "must be a finite number.");
            };
            if !metric_value_in_range(x) {
                return out_of_range("Value", x);
            }
            samples.push(Aggregate::one(x));
        } else if let Some(list) = d.get("Values").and_then(Value::as_array) {
            let counts = d.get("Counts").and_then(Value::as_array);
            if let Some(counts) = counts
                && counts.len() != list.len()
            {
                return Err(ApiError::new(
                    INVALID_VALUE,
                    format!(
                        "The parameters {} and {} must be of the same size.",
                        at("Values"),
                        at("Counts")
                    ),
                ));
            }
            for (j, x) in list.iter().enumerate() {
                let Some(x) = number(x) else {
                    return invalid("Values", "must hold finite numbers.");
                };
                if !metric_value_in_range(x) {
                    return out_of_range(&format!("Values.member.{}", j + 1), x);
                }
                let n = match counts.and_then(|c| c.get(j)) {
                    None => 1.0,
                    Some(n) => match number(n).filter(|n| *n >= 0.0) {
                        Some(n) => n,
                        None => return invalid("Counts", "must hold non-negative numbers."),
                    },
                };
                // A count so large that the samples' sum leaves the range could overflow the
                // period's Sum; refused like an out-of-range value.
                if (x * n).abs() > METRIC_VALUE_MAX {
                    return out_of_range(&format!("Counts.member.{}", j + 1), n);
                }
                if n > 0.0 {
                    samples.push(Aggregate {
                        sum: x * n,
                        count: n,
                        min: x,
                        max: x,
                    });
                }
            }
        } else if let Some(s) = d.get("StatisticValues") {
            let part = |k: &str| s.get(k).and_then(number);
            let (Some(count), Some(sum), Some(min), Some(max)) = (
                part("SampleCount"),
                part("Sum"),
                part("Minimum"),
                part("Maximum"),
            ) else {
                return invalid("StatisticValues", "must hold finite numbers.");
            };
            for (k, x) in [("Sum", sum), ("Minimum", min), ("Maximum", max)] {
                if !metric_value_in_range(x) {
                    return out_of_range(&format!("StatisticValues.{k}"), x);
                }
            }
            if count <= 0.0 || min > max {
                return invalid(
                    "StatisticValues",
                    "must have a positive SampleCount and a Minimum no greater than its Maximum.",
                );
            }
            samples.push(Aggregate {
                sum,
                count,
                min,
                max,
            });
        }
        for stats in samples {
            out.push(Datum {
                namespace: namespace.clone(),
                metric_name: d["MetricName"].as_str().unwrap_or_default().to_owned(),
                dimensions: dimensions_of(d.get("Dimensions")),
                unit: d
                    .get("Unit")
                    .and_then(Value::as_str)
                    .unwrap_or("None")
                    .to_owned(),
                timestamp_ms: ts,
                stats,
                high_resolution: resolution == Some(1),
            });
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMetricStatistics {
    namespace: String,
    metric_name: String,
    #[serde(default)]
    dimensions: Vec<DimensionIn>,
    start_time: f64,
    end_time: f64,
    period: i64,
    #[serde(default)]
    statistics: Vec<String>,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DimensionIn {
    name: String,
    value: Option<String>,
}

fn get_metric_statistics(
    c: &Connection,
    _: &Context,
    req: GetMetricStatistics,
) -> Result<Value, ApiError> {
    if req.start_time >= req.end_time {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    if req.statistics.is_empty() {
        return Err(ApiError::new(
            "MissingRequiredParameterException",
            "The parameter Statistics or ExtendedStatistics must be specified.",
        ));
    }
    let period = req.period.max(1);
    let start = (req.start_time.floor() as i64).div_euclid(period) * period;
    let end = req.end_time.ceil() as i64;
    // i128: StartTime and EndTime come from the caller and may be anything.
    let points =
        (i128::from(end) - i128::from(start) + i128::from(period) - 1) / i128::from(period);
    if points > 1440 {
        return Err(ApiError::new(
            INVALID_COMBINATION,
            format!(
                "You have requested up to {points} datapoints, which exceeds the limit of 1440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            ),
        ));
    }
    let dims: Vec<(String, String)> = req
        .dimensions
        .iter()
        .map(|d| (d.name.clone(), d.value.clone().unwrap_or_default()))
        .collect();
    let dims = dimensions_key(&dims);
    let rows = period_values(
        c,
        &MetricQuery {
            namespace: &req.namespace,
            metric: &req.metric_name,
            dims: &dims,
            unit: req.unit.as_deref(),
            period_s: period,
            first_s: start,
            end_s: end,
        },
    )?;
    let datapoints: Vec<Value> = rows
        .into_iter()
        .map(|a| {
            let mut p = json!({ "Timestamp": start + a.index * period });
            for s in &req.statistics {
                let value = statistic(s, a.sum, a.count, a.min, a.max);
                if let Some(v) = value {
                    p[s.as_str()] = json!(v);
                }
            }
            p["Unit"] = json!(req.unit.clone().unwrap_or_else(|| "None".into()));
            p
        })
        .collect();
    Ok(json!({ "Label": req.metric_name, "Datapoints": datapoints }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMetrics {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<DimensionIn>,
    next_token: Option<String>,
}

/// ListMetrics pages hold up to 500 metrics, as on AWS.
const LIST_METRICS_PAGE: usize = 500;

fn list_metrics(c: &Connection, _: &Context, req: ListMetrics) -> Result<Value, ApiError> {
    let after: i64 = match &req.next_token {
        None => 0,
        Some(t) => t
            .strip_prefix("m/")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ApiError::new("InvalidNextToken", "The next token is invalid."))?,
    };
    let mut stmt = c
        .prepare(
            "SELECT id, namespace, name, dimensions FROM metrics
             WHERE id > ?1 AND (?2 IS NULL OR namespace = ?2) AND (?3 IS NULL OR name = ?3)
             ORDER BY id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![after, req.namespace, req.metric_name], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(sql)?;
    let mut metrics = Vec::new();
    let mut next = None;
    for row in rows {
        let (id, namespace, name, dims) = row.map_err(sql)?;
        let dims: Value = serde_json::from_str(&dims).unwrap_or_else(|_| json!([]));
        let matches = req.dimensions.iter().all(|f| {
            dims.as_array().is_some_and(|list| {
                list.iter().any(|d| {
                    d["Name"] == json!(f.name)
                        && f.value.as_ref().is_none_or(|v| d["Value"] == json!(v))
                })
            })
        });
        if !matches {
            continue;
        }
        if metrics.len() == LIST_METRICS_PAGE {
            next = Some(format!("m/{}", id - 1));
            break;
        }
        metrics.push(json!({"Namespace": namespace, "MetricName": name, "Dimensions": dims}));
    }
    let mut out = json!({ "Metrics": metrics });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMetricData {
    metric_data_queries: Vec<MetricDataQuery>,
    start_time: f64,
    end_time: f64,
    next_token: Option<String>,
    scan_by: Option<String>,
    max_datapoints: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataQuery {
    id: String,
    metric_stat: Option<MetricStat>,
    expression: Option<String>,
    label: Option<String>,
    return_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStat {
    metric: MetricIn,
    period: i64,
    stat: String,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricIn {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<DimensionIn>,
}

/// GetMetricData's default and largest page, in datapoints.
const MAX_DATAPOINTS: i64 = 100_800;

fn get_metric_data(c: &Connection, _: &Context, req: GetMetricData) -> Result<Value, ApiError> {
    if req.start_time >= req.end_time {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    if req.metric_data_queries.len() > 500 {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The collection MetricDataQueries must not have a size greater than 500.",
        ));
    }
    let ascending = req.scan_by.as_deref() == Some("TimestampAscending");
    let page = req
        .max_datapoints
        .unwrap_or(MAX_DATAPOINTS)
        .clamp(1, MAX_DATAPOINTS) as usize;
    // Tokens continue at a query and a datapoint within it: `q/<query>/<offset>`.
    let (first_query, first_offset) = match &req.next_token {
        None => (0, 0),
        Some(t) => t
            .strip_prefix("q/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(q, o)| Some((q.parse::<usize>().ok()?, o.parse::<usize>().ok()?)))
            .ok_or_else(|| ApiError::new("InvalidNextToken", "The next token is invalid."))?,
    };
    let start = req.start_time.floor() as i64;
    let end = req.end_time.ceil() as i64;
    for (i, q) in req.metric_data_queries.iter().enumerate() {
        let Some(stat) = q.metric_stat.as_ref().map(|s| s.stat.as_str()) else {
            continue;
        };
        if matches!(
            stat,
            "Sum" | "SampleCount" | "Average" | "Minimum" | "Maximum"
        ) {
            continue;
        }
        return Err(if is_extended_statistic(stat) {
            ApiError::new(
                INVALID_VALUE,
                format!(
                    "The statistic {stat} of query {} is a percentile or trimmed statistic; trailwatch keeps sums, counts, minima and maxima only.",
                    q.id
                ),
            )
        } else {
            // AWS's wording, seen in client reports.
            ApiError::new(
                "ValidationException",
                format!(
                    "The value {stat} for parameter MetricDataQueries.member.{}.MetricStat.Stat is not a valid statistic.",
                    i + 1
                ),
            )
        });
    }
    let mut results = Vec::new();
    let mut left = page;
    let mut next = None;
    for (qi, q) in req.metric_data_queries.iter().enumerate() {
        if q.return_data == Some(false) || qi < first_query {
            continue;
        }
        if q.expression.is_some() {
            return Err(ApiError::new(
                INVALID_VALUE,
                format!(
                    "The query {} uses a metric math expression; trailwatch evaluates MetricStat queries only.",
                    q.id
                ),
            ));
        }
        let Some(stat) = &q.metric_stat else {
            return Err(ApiError::new(
                "MissingRequiredParameterException",
                format!(
                    "The query {} must have a MetricStat or an Expression.",
                    q.id
                ),
            ));
        };
        let period = stat.period.max(1);
        let dims: Vec<(String, String)> = stat
            .metric
            .dimensions
            .iter()
            .map(|d| (d.name.clone(), d.value.clone().unwrap_or_default()))
            .collect();
        let dims = dimensions_key(&dims);
        let namespace = stat.metric.namespace.clone().unwrap_or_default();
        let name = stat.metric.metric_name.clone().unwrap_or_default();
        let first = start.div_euclid(period) * period;
        let rows = period_values(
            c,
            &MetricQuery {
                namespace: &namespace,
                metric: &name,
                dims: &dims,
                unit: stat.unit.as_deref(),
                period_s: period,
                first_s: first,
                end_s: end,
            },
        )?;
        let mut points: Vec<(i64, f64)> = rows
            .iter()
            .filter_map(|a| {
                let v = statistic(&stat.stat, a.sum, a.count, a.min, a.max)?;
                Some((first + a.index * period, v))
            })
            .collect();
        points.sort_by_key(|(t, _)| *t);
        if !ascending {
            points.reverse();
        }
        let offset = if qi == first_query { first_offset } else { 0 };
        let rest = points.get(offset..).unwrap_or_default();
        let taken = rest.len().min(left);
        left -= taken;
        let complete = taken == rest.len();
        if !complete && next.is_none() {
            next = Some(format!("q/{qi}/{}", offset + taken));
        }
        results.push(json!({
            "Id": q.id,
            "Label": q.label.clone().unwrap_or(name),
            "Timestamps": rest[..taken].iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            "Values": rest[..taken].iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            "StatusCode": if complete { "Complete" } else { "PartialData" },
            "Messages": [],
        }));
    }
    let mut out = json!({ "MetricDataResults": results, "Messages": [] });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_statistics_are_told_from_invalid_ones() {
        for name in [
            "p99",
            "p99.9",
            "p0",
            "p100",
            "tm90",
            "TM(10%:90%)",
            "wm99",
            "tc(:0.5)",
        ] {
            assert!(is_extended_statistic(name), "{name}");
        }
        for name in ["IQM", "PR(:300)", "ts99"] {
            assert!(is_extended_statistic(name), "{name}");
        }
        for name in ["Median", "p101", "p", "pp99", "tm", "Avg", "p-1", "()"] {
            assert!(!is_extended_statistic(name), "{name}");
        }
    }
}
