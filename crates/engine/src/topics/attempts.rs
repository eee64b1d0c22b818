//! What a delivery attempt's outcome changes: its outbox row, the topic's `AWS/SNS` metrics
//! (which alarms may watch), and the history of the alarm whose notification failed.

use super::outbox::{Attempt, AttemptRecord, MessageKind};
use crate::alarms::history;
use crate::metrics::{self, Aggregate, Datum};
use crate::scope::Arn;
use crate::store::Tx;
use crate::{ApiError, Context, Engine};

impl Engine {
    /// Records an attempt's outcome. A Notification's attempt also counts in the topic's
    /// `AWS/SNS` metrics, as SNS counts it (`NumberOfNotificationsDelivered`, and
    /// `NumberOfNotificationsFailed` for every failed attempt to an HTTP/S endpoint); a
    /// Notification of an alarm that fails for good adds a failed action to the alarm's history.
    pub async fn record_attempt(&self, id: i64, outcome: Attempt) -> Result<(), ApiError> {
        self.write(&self.default_scope(), move |tx, ctx| {
            record_attempt(tx, ctx, id, &outcome)
        })
        .await
    }
}

fn record_attempt(
    tx: &mut dyn Tx,
    ctx: &Context,
    id: i64,
    outcome: &Attempt,
) -> Result<(), ApiError> {
    let now = ctx.now_ms;
    let record = match outcome {
        Attempt::Delivered => AttemptRecord {
            state: "delivered",
            next_attempt_ms: None,
            error: None,
            finished_ms: Some(now),
        },
        Attempt::RetryAt(at, e) => AttemptRecord {
            state: "pending",
            next_attempt_ms: Some(*at),
            error: Some(e),
            finished_ms: None,
        },
        Attempt::Failed(e) => AttemptRecord {
            state: "failed",
            next_attempt_ms: None,
            error: Some(e),
            finished_ms: Some(now),
        },
    };
    // Dropped or redriven while the attempt ran: nothing more to say of it.
    let Some(attempted) = tx.record_attempt(id, &record)? else {
        return Ok(());
    };
    if attempted.kind != MessageKind::Notification {
        return Ok(());
    }
    let metric = match outcome {
        Attempt::Delivered => "NumberOfNotificationsDelivered",
        Attempt::RetryAt(..) | Attempt::Failed(_) => "NumberOfNotificationsFailed",
    };
    // The metrics are those of the topic's scope; the alarm's history is its own scope's.
    let Some(arn) = Arn::parse(&attempted.topic_arn) else {
        return Ok(());
    };
    let Some(scope) = arn.scope() else {
        return Ok(());
    };
    tx.enter(&scope);
    let topic_name = arn.resource.to_owned();
    metrics::record(
        tx,
        ctx,
        &[Datum {
            namespace: "AWS/SNS".to_owned(),
            metric_name: metric.to_owned(),
            dimensions: vec![("TopicName".to_owned(), topic_name)],
            unit: "Count".to_owned(),
            timestamp_ms: now,
            stats: Aggregate::one(1.0),
            high_resolution: false,
        }],
    )?;
    if let (Attempt::Failed(error), Some(alarm)) = (outcome, &attempted.alarm_name) {
        if let Some(alarm_scope) = &attempted.alarm_scope {
            tx.enter(alarm_scope);
        }
        let attempts = attempted.attempts;
        let summary = format!(
            "Failed to execute action {}. Reason: the notification to {} was not delivered after {attempts} attempt{}: {error}",
            attempted.topic_arn,
            attempted.endpoint,
            if attempts == 1 { "" } else { "s" }
        );
        let data = serde_json::json!({
            "actionState": "Failed",
            "notificationResource": attempted.topic_arn,
            "endpoint": attempted.endpoint,
            "error": error,
        });
        history::append(tx, alarm, now, "Action", &summary, &data.to_string())?;
    }
    Ok(())
}
