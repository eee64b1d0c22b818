//! CloudWatch metric alarms: their configuration, their evaluation against metrics, state
//! transitions with their notifications, and their history.
//!
//! - `api.rs`: the operations' requests and responses;
//! - `config.rs`: an alarm's configuration and CloudWatch's rules for it;
//! - `evaluate.rs`: the evaluation rules, on AWS's truth tables, and the reason texts;
//! - `transition.rs`: evaluating an alarm, transitions and notification messages;
//! - `history.rs`: history items;
//! - `store.rs`: what the component needs kept.

pub mod api;
mod config;
pub mod evaluate;
pub mod history;
mod schedule;
pub mod store;
mod transition;

use crate::error::CloudWatchException;
use crate::metrics::datum::{dimensions_key, pairs};
use crate::paging::{self, Listing};
use crate::scope::Scope;
use crate::store::Tx;
use crate::{ApiError, Context, Empty, Engine};
use api::*;
pub use evaluate::AlarmState;
pub(crate) use schedule::{AlarmKey, Schedule, period_end_ms};
pub(crate) use transition::{Evaluation, evaluate_telling};

/// Re-evaluates the alarms on one metric (namespace, name, canonical dimensions): its data
/// has just changed. Answers their names.
pub(crate) fn evaluate_watching(
    tx: &mut dyn Tx,
    ctx: &Context,
    namespace: &str,
    metric: &str,
    dims: &str,
) -> Result<Vec<String>, ApiError> {
    let names = tx.alarms_on_metric(namespace, metric, dims)?;
    for name in &names {
        transition::evaluate(tx, ctx, name)?;
    }
    Ok(names)
}

/// Evaluates these alarms, each in its scope, at `ctx.now_ms`.
pub(crate) fn evaluate_alarms(
    tx: &mut dyn Tx,
    ctx: &Context,
    alarms: &[AlarmKey],
) -> Result<(), ApiError> {
    let each = alarms.iter().map(|(scope, name)| (scope.clone(), name));
    crate::store::in_their_scopes(tx, each, |tx, name| transition::evaluate(tx, ctx, name))
}

/// Alarms evaluated in one write by a tick: a large backlog (every alarm, at start) goes in
/// several writes rather than holding the writer for all of it.
const TICK_BATCH: usize = 1_000;

impl Engine {
    /// What time alone changes in alarms: each alarm whose period has ended since it was last
    /// evaluated is evaluated now (periods that closed and data that stopped arriving change
    /// states without new data). At the first tick every alarm is due.
    pub async fn tick(&self) -> Result<(), ApiError> {
        let now = self.now_ms();
        // Alarms are evaluated each in its own scope; the write starts in any.
        let scope = self.default_scope();
        if self.alarm_schedule.needs_loading() {
            let names = self.read(&scope, |tx, _| Ok(tx.all_alarms()?)).await?;
            self.alarm_schedule.load(names, now);
        }
        let due = self.alarm_schedule.take_due(now);
        for batch in due.chunks(TICK_BATCH) {
            let batch = batch.to_vec();
            self.write(&scope, move |tx, ctx| evaluate_alarms(tx, ctx, &batch))
                .await?;
        }
        Ok(())
    }

    /// Evaluates every alarm now, due or not: what a tick did before alarms were scheduled,
    /// kept to measure the schedule against.
    pub async fn evaluate_every_alarm(&self) -> Result<(), ApiError> {
        let scope = self.default_scope();
        let names = self.read(&scope, |tx, _| Ok(tx.all_alarms()?)).await?;
        for batch in names.chunks(TICK_BATCH) {
            let batch = batch.to_vec();
            self.write(&scope, move |tx, ctx| evaluate_alarms(tx, ctx, &batch))
                .await?;
        }
        Ok(())
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        CloudWatchException::ResourceNotFound,
        format!("Alarm {name} does not exist"),
    )
}

/// The CloudWatch alarm operations.
pub struct Alarms<'e> {
    engine: &'e Engine,
    scope: Scope,
}

impl Engine {
    /// The CloudWatch alarm operations.
    pub fn alarms(&self, scope: &Scope) -> Alarms<'_> {
        Alarms {
            engine: self,
            scope: scope.clone(),
        }
    }
}

impl Alarms<'_> {
    pub async fn put_metric_alarm(&self, req: MetricAlarm) -> Result<Empty, ApiError> {
        config::check(&req)?;
        self.engine
            .write(&self.scope, move |tx, ctx| put_metric_alarm(tx, ctx, req))
            .await
    }

    /// An alarm's tags. Tags given to PutMetricAlarm are not kept yet, so an alarm has none.
    pub async fn list_tags_for_resource(
        &self,
        req: ListTagsForResourceRequest,
    ) -> Result<ListTagsForResourceResponse, ApiError> {
        let scope = self.scope.clone();
        self.engine
            .read(&self.scope, move |tx, _| {
                let name = crate::scope::Arn::parse(&req.resource_arn)
                    .filter(|a| a.service == "cloudwatch" && a.region == scope.region().name)
                    .and_then(|a| a.resource.strip_prefix("alarm:").map(str::to_owned));
                let missing = || {
                    ApiError::new(
                        CloudWatchException::ResourceNotFoundException,
                        format!("Resource {} not found.", req.resource_arn),
                    )
                };
                let name = name.ok_or_else(missing)?;
                tx.alarm(&name)?.ok_or_else(missing)?;
                Ok(ListTagsForResourceResponse { tags: Vec::new() })
            })
            .await
    }

    pub async fn describe_alarms(
        &self,
        req: DescribeAlarmsRequest,
    ) -> Result<DescribeAlarmsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| describe_alarms(tx, req))
            .await
    }

    /// Names that do not exist are skipped, as on AWS.
    pub async fn delete_alarms(&self, req: AlarmNamesRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                for name in &req.alarm_names {
                    if tx.delete_alarm(name)? {
                        let data = serde_json::json!({"version": "1.0", "type": "Delete"});
                        history::append(
                            tx,
                            name,
                            ctx.now_ms,
                            "ConfigurationUpdate",
                            &format!("Alarm \"{name}\" deleted"),
                            &data.to_string(),
                        )?;
                    }
                }
                Ok(Empty {})
            })
            .await
    }

    /// Sets the state until the next evaluation says otherwise; actions run if the state
    /// changes.
    pub async fn set_alarm_state(&self, req: SetAlarmStateRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| set_alarm_state(tx, ctx, req))
            .await
    }

    pub async fn enable_alarm_actions(&self, req: AlarmNamesRequest) -> Result<Empty, ApiError> {
        self.set_actions_enabled(req, true).await
    }

    pub async fn disable_alarm_actions(&self, req: AlarmNamesRequest) -> Result<Empty, ApiError> {
        self.set_actions_enabled(req, false).await
    }

    async fn set_actions_enabled(
        &self,
        req: AlarmNamesRequest,
        enabled: bool,
    ) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| {
                for name in &req.alarm_names {
                    if let Some(mut alarm) = tx.alarm(name)? {
                        alarm.config.actions_enabled = Some(enabled);
                        tx.replace_alarm_config(&alarm.config)?;
                    }
                }
                Ok(Empty {})
            })
            .await
    }

    pub async fn describe_alarms_for_metric(
        &self,
        req: DescribeAlarmsForMetricRequest,
    ) -> Result<DescribeAlarmsForMetricResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| {
                let dims = dimensions_key(&pairs(&req.dimensions));
                let mut metric_alarms = Vec::new();
                for name in tx.alarms_on_metric(&req.namespace, &req.metric_name, &dims)? {
                    let Some(a) = tx.alarm(&name)? else {
                        continue;
                    };
                    let same = |have: &Option<String>, want: &Option<String>| {
                        want.is_none() || have == want
                    };
                    let c = &a.config;
                    if same(&c.statistic, &req.statistic)
                        && same(&c.extended_statistic, &req.extended_statistic)
                        && same(&c.unit, &req.unit)
                        && req.period.is_none_or(|p| c.period == Some(p))
                    {
                        metric_alarms.push(config::describe(tx.scope(), a));
                    }
                }
                Ok(DescribeAlarmsForMetricResponse { metric_alarms })
            })
            .await
    }

    pub async fn describe_alarm_history(
        &self,
        req: DescribeAlarmHistoryRequest,
    ) -> Result<DescribeAlarmHistoryResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| history::describe(tx, req))
            .await
    }
}

fn put_metric_alarm(
    tx: &mut dyn Tx,
    ctx: &Context,
    config: MetricAlarm,
) -> Result<Empty, ApiError> {
    config::check_actions(tx.scope(), &config)?;
    let name = config.alarm_name.clone();
    let existed = tx.put_alarm(&config, &config.dimensions_key(), ctx.now_ms)?;
    let (kind, verb) = if existed {
        ("Update", "updated")
    } else {
        ("Create", "created")
    };
    let data = serde_json::json!({
        "version": "1.0",
        "type": kind,
        format!("{verb}Alarm"): config,
    });
    history::append(
        tx,
        &name,
        ctx.now_ms,
        "ConfigurationUpdate",
        &format!("Alarm \"{name}\" {verb}"),
        &data.to_string(),
    )?;
    transition::evaluate(tx, ctx, &name)?;
    Ok(Empty {})
}

fn describe_alarms(
    tx: &mut dyn Tx,
    req: DescribeAlarmsRequest,
) -> Result<DescribeAlarmsResponse, ApiError> {
    if req.alarm_name_prefix.is_some() && !req.alarm_names.is_empty() {
        return Err(ApiError::new(
            CloudWatchException::InvalidParameterCombinationException,
            "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.",
        ));
    }
    let limit = req.max_records.unwrap_or(50).clamp(1, 100) as usize;
    let after: Option<String> = match &req.next_token {
        None => None,
        Some(t) => Some(paging::key(Listing::Alarms, t).ok_or_else(|| {
            ApiError::new(
                CloudWatchException::InvalidNextToken,
                "The next token is invalid.",
            )
        })?),
    };
    let wants_metric =
        req.alarm_types.is_empty() || req.alarm_types.iter().any(|t| t == "MetricAlarm");
    let mut metric_alarms: Vec<MetricAlarmDescription> = Vec::new();
    let mut next_token = None;
    let names = if wants_metric {
        tx.alarm_names(after.as_deref())?
    } else {
        Vec::new()
    };
    for name in names {
        if !req.alarm_names.is_empty() && !req.alarm_names.contains(&name) {
            continue;
        }
        if let Some(p) = &req.alarm_name_prefix
            && !name.starts_with(p.as_str())
        {
            continue;
        }
        let Some(a) = tx.alarm(&name)? else {
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
            let c = &a.config;
            let has = [
                &c.ok_actions,
                &c.alarm_actions,
                &c.insufficient_data_actions,
            ]
            .into_iter()
            .flatten()
            .flatten()
            .any(|x| x.starts_with(prefix.as_str()));
            if !has {
                continue;
            }
        }
        if metric_alarms.len() == limit {
            next_token = metric_alarms
                .last()
                .map(|a| paging::token(Listing::Alarms, &a.config.alarm_name));
            break;
        }
        metric_alarms.push(config::describe(tx.scope(), a));
    }
    Ok(DescribeAlarmsResponse {
        metric_alarms,
        composite_alarms: Vec::new(),
        next_token,
    })
}

fn set_alarm_state(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: SetAlarmStateRequest,
) -> Result<Empty, ApiError> {
    if let Some(data) = &req.state_reason_data
        && serde_json::from_str::<serde_json::Value>(data).is_err()
    {
        return Err(ApiError::new(
            CloudWatchException::InvalidFormatFault,
            "The value for parameter StateReasonData is not valid JSON.",
        ));
    }
    let Some(alarm) = tx.alarm(&req.alarm_name)? else {
        return Err(not_found(&req.alarm_name));
    };
    let state = AlarmState::parse(&req.state_value).ok_or_else(|| {
        ApiError::new(
            CloudWatchException::InvalidParameterValueException,
            "StateValue must be OK, ALARM or INSUFFICIENT_DATA.",
        )
    })?;
    if state == alarm.state {
        tx.set_alarm_state(
            &req.alarm_name,
            state,
            &req.state_reason,
            req.state_reason_data.as_deref(),
            ctx.now_ms,
            false,
        )?;
        return Ok(Empty {});
    }
    transition::transition(
        tx,
        ctx,
        &alarm,
        state,
        &req.state_reason,
        req.state_reason_data.as_deref(),
    )?;
    Ok(Empty {})
}
