//! The outbox: messages for subscribers, written in the same transaction as their cause and
//! delivered afterwards, so a crash between the two loses nothing (it may deliver twice; SNS
//! delivery is at-least-once too, and the message id stays the same on every attempt).
//!
//! Each row is one message to one subscription. The delivery worker (in `trailwatch-notify`)
//! learns of new rows from [`Engine::queued_deliveries`], reads a row when it is due
//! ([`Engine::deliveries`]), and records each attempt's outcome ([`Engine::record_attempt`])
//! before the message can be picked again. A message whose delivery policy runs out stays as a
//! failed delivery, which an operator lists ([`Engine::list_deliveries`]) and sends again
//! ([`Engine::redrive_deliveries`]) with its `MessageId`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::cloudwatch::{self, Aggregate, Datum};
use crate::delivery_policy::EffectivePolicy;
use crate::store::sql;
use crate::tokens::{self, Purpose};
use crate::{ApiError, Context, Engine};

/// The SNS message types sent to HTTP(S) endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Asks the endpoint to confirm a new subscription.
    SubscriptionConfirmation,
    /// A published message.
    Notification,
    /// Tells the endpoint its subscription was removed.
    UnsubscribeConfirmation,
}

impl MessageKind {
    /// AWS's `Type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageKind::Notification => "Notification",
            MessageKind::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }

    fn parse(s: &str) -> MessageKind {
        match s {
            "SubscriptionConfirmation" => MessageKind::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => MessageKind::UnsubscribeConfirmation,
            _ => MessageKind::Notification,
        }
    }
}

/// A message to queue for one subscription.
pub(crate) struct NewMessage<'a> {
    pub kind: MessageKind,
    pub topic_arn: &'a str,
    pub subscription_arn: &'a str,
    pub protocol: &'a str,
    pub endpoint: &'a str,
    pub subject: Option<&'a str>,
    pub message: &'a str,
    pub token: Option<&'a str>,
    /// A Notification's `MessageAttributes` object, as JSON text.
    pub attributes: Option<&'a str>,
    /// The alarm whose action published it.
    pub alarm_name: Option<&'a str>,
}

pub(crate) fn queue(c: &Connection, ctx: &Context, m: &NewMessage) -> Result<(), ApiError> {
    queue_with_id(c, ctx, &uuid::Uuid::new_v4().to_string(), m)
}

pub(crate) fn queue_with_id(
    c: &Connection,
    ctx: &Context,
    message_id: &str,
    m: &NewMessage,
) -> Result<(), ApiError> {
    c.prepare_cached(
        "INSERT INTO outbox (kind, message_id, topic_arn, subscription_arn, protocol, endpoint,
                             subject, message, token, timestamp_ms, next_attempt_ms, attributes,
                             alarm_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
    )
    .map_err(sql)?
    .execute(params![
        m.kind.as_str(),
        message_id,
        m.topic_arn,
        m.subscription_arn,
        m.protocol,
        m.endpoint,
        m.subject,
        m.message,
        m.token,
        ctx.now_ms,
        m.attributes,
        m.alarm_name
    ])
    .map_err(sql)?;
    ctx.store.outbox_queued();
    Ok(())
}

/// A pending message as the delivery worker schedules it: where it goes and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The outbox row.
    pub id: i64,
    /// The endpoint URL.
    pub endpoint: String,
    /// The subscription it goes to.
    pub subscription_arn: String,
    /// When its next attempt is due, epoch milliseconds.
    pub due_ms: i64,
}

/// A message due for delivery, with everything its envelope and its attempt need.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The outbox row.
    pub id: i64,
    /// The message type.
    pub kind: MessageKind,
    /// `MessageId`, the same on every attempt and after a redrive.
    pub message_id: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// The subscription the message goes to.
    pub subscription_arn: String,
    /// `http` or `https`.
    pub protocol: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// `Subject`, if the publisher gave one.
    pub subject: Option<String>,
    /// `Message`.
    pub message: String,
    /// `Token` of confirmation messages.
    pub token: Option<String>,
    /// `Timestamp`, epoch milliseconds of the publish.
    pub timestamp_ms: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// The topic's `SignatureVersion` attribute (`1` when unset).
    pub signature_version: String,
    /// The subscription's `RawMessageDelivery`: send the message alone as the body.
    pub raw: bool,
    /// A Notification's `MessageAttributes` object, as JSON text.
    pub message_attributes: Option<String>,
    /// The delivery policy in force: the subscription's, the topic's, or SNS's default.
    pub policy: EffectivePolicy,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The endpoint took it (a status below 500).
    Delivered,
    /// It failed; try again at this time (epoch milliseconds).
    RetryAt(i64, String),
    /// It failed and the delivery policy has no attempt left, or it can never succeed: the
    /// message is kept as a failed delivery.
    Failed(String),
}

/// A row of the outbox as operators see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// The outbox row, which `redrive` takes.
    pub id: i64,
    /// `MessageId`.
    pub message_id: String,
    /// The message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// The subscription.
    pub subscription_arn: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// `pending`, `delivered`, `failed`, `dropped` or `redriven`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `Subject`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The alarm whose action published it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// When it was published, epoch milliseconds.
    pub published_ms: i64,
    /// When the next attempt is due, while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<i64>,
    /// When it was delivered, failed or dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only this state.
    pub state: Option<String>,
    /// Only messages of this topic.
    pub topic_arn: Option<String>,
    /// Only messages to this subscription.
    pub subscription_arn: Option<String>,
    /// Rows after this one (the page token).
    pub after_id: Option<i64>,
    /// At most this many rows.
    pub limit: usize,
}

/// One subscription's deliveries, counted by state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounts {
    /// The subscription.
    pub subscription_arn: String,
    /// Its topic.
    pub topic_arn: String,
    /// Its endpoint.
    pub endpoint: String,
    /// Messages waiting for an attempt.
    pub pending: i64,
    /// Messages the endpoint took.
    pub delivered: i64,
    /// Messages whose delivery policy ran out.
    pub failed: i64,
}

/// What to send again.
#[derive(Debug, Clone)]
pub enum RedriveTarget {
    /// These failed deliveries.
    Ids(Vec<i64>),
    /// Every failed delivery to this subscription.
    Subscription(String),
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    /// Failed deliveries queued again: the old row and its new one, same `MessageId`.
    pub redriven: Vec<RedrivenDelivery>,
    /// Deliveries left alone, and why.
    pub skipped: Vec<SkippedDelivery>,
}

/// A failed delivery queued again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivenDelivery {
    /// The failed row.
    pub id: i64,
    /// The new pending row.
    pub new_id: i64,
    /// Its `MessageId`, unchanged.
    pub message_id: String,
}

/// A delivery a redrive left alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedDelivery {
    /// The row asked for.
    pub id: i64,
    /// Why it was not queued again.
    pub reason: String,
}

/// `WHERE` of rows whose message still has somewhere to go: a message outlives its
/// subscription only to say the subscription is gone.
const ADDRESSABLE: &str = "(o.kind = 'UnsubscribeConfirmation'
    OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.arn = o.subscription_arn))";

fn record_of(r: &Row) -> rusqlite::Result<DeliveryRecord> {
    let state: String = r.get(6)?;
    let next: i64 = r.get(11)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        message_id: r.get(1)?,
        kind: r.get(2)?,
        topic_arn: r.get(3)?,
        subscription_arn: r.get(4)?,
        endpoint: r.get(5)?,
        next_attempt_ms: (state == "pending").then_some(next),
        state,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        subject: r.get(9)?,
        alarm_name: r.get(10)?,
        published_ms: r.get(12)?,
        finished_ms: r.get(13)?,
    })
}

const RECORD_COLUMNS: &str = "id, message_id, kind, topic_arn, subscription_arn, endpoint, state,
    attempts, last_error, subject, alarm_name, next_attempt_ms, timestamp_ms, finished_ms";

impl Engine {
    /// Pending messages after row `after_id`, in row order: at start-up (from 0) every message
    /// still to deliver, later those queued since.
    pub async fn queued_deliveries(&self, after_id: i64) -> Result<Vec<Queued>, ApiError> {
        self.store
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, endpoint, subscription_arn, next_attempt_ms FROM outbox
                         WHERE id > ?1 AND state = 'pending' ORDER BY id",
                    )
                    .map_err(sql)?;
                stmt.query_map([after_id], |r| {
                    Ok(Queued {
                        id: r.get(0)?,
                        endpoint: r.get(1)?,
                        subscription_arn: r.get(2)?,
                        due_ms: r.get(3)?,
                    })
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)
            })
            .await
    }

    /// The messages of these rows that are still pending and still have somewhere to go, in
    /// the order asked. Rows left out were delivered, dropped or redriven meanwhile, or their
    /// subscription is gone (the tick drops those).
    pub async fn deliveries(&self, ids: Vec<i64>) -> Result<Vec<Delivery>, ApiError> {
        self.store
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT o.id, o.kind, o.message_id, o.topic_arn, o.subscription_arn,
                                o.protocol, o.endpoint, o.subject, o.message, o.token,
                                o.timestamp_ms, o.attempts, o.attributes,
                                json_extract(t.attributes, '$.SignatureVersion'),
                                json_extract(t.attributes, '$.DeliveryPolicy'),
                                json_extract(s.attributes, '$.RawMessageDelivery'),
                                json_extract(s.attributes, '$.DeliveryPolicy')
                         FROM outbox o
                           LEFT JOIN topics t ON t.arn = o.topic_arn
                           LEFT JOIN subscriptions s ON s.arn = o.subscription_arn
                         WHERE o.id = ?1 AND o.state = 'pending' AND {ADDRESSABLE}"
                    ))
                    .map_err(sql)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let found = stmt
                        .query_row([id], |r| {
                            let topic_policy: Option<String> = r.get(14)?;
                            let own_policy: Option<String> = r.get(16)?;
                            Ok(Delivery {
                                id: r.get(0)?,
                                kind: MessageKind::parse(&r.get::<_, String>(1)?),
                                message_id: r.get(2)?,
                                topic_arn: r.get(3)?,
                                subscription_arn: r.get(4)?,
                                protocol: r.get(5)?,
                                endpoint: r.get(6)?,
                                subject: r.get(7)?,
                                message: r.get(8)?,
                                token: r.get(9)?,
                                timestamp_ms: r.get(10)?,
                                attempts: r.get(11)?,
                                message_attributes: r.get(12)?,
                                signature_version: r
                                    .get::<_, Option<String>>(13)?
                                    .unwrap_or_else(|| "1".to_owned()),
                                raw: r.get::<_, Option<String>>(15)?.as_deref() == Some("true"),
                                policy: EffectivePolicy::of(
                                    topic_policy.as_deref(),
                                    own_policy.as_deref(),
                                ),
                            })
                        })
                        .optional()
                        .map_err(sql)?;
                    out.extend(found);
                }
                Ok(out)
            })
            .await
    }

    /// Drops pending messages whose subscription is gone (unsubscribed, or its topic deleted).
    pub async fn drop_orphaned_deliveries(&self) -> Result<(), ApiError> {
        self.write(|c, ctx| {
            c.execute(
                &format!(
                    "UPDATE outbox AS o SET state = 'dropped', finished_ms = ?1
                     WHERE o.state = 'pending' AND NOT {ADDRESSABLE}"
                ),
                [ctx.now_ms],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    /// Records an attempt's outcome. A Notification's attempt also counts in the topic's
    /// `AWS/SNS` metrics, as SNS counts it (`NumberOfNotificationsDelivered`, and
    /// `NumberOfNotificationsFailed` for every failed attempt to an HTTP/S endpoint); a
    /// Notification of an alarm that fails for good adds a failed action to the alarm's history.
    pub async fn record_attempt(&self, id: i64, outcome: Attempt) -> Result<(), ApiError> {
        self.write(move |c, ctx| record_attempt(c, ctx, id, &outcome))
            .await
    }

    /// Deliveries matching `query`, in row order.
    pub async fn list_deliveries(
        &self,
        query: DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, ApiError> {
        self.store
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {RECORD_COLUMNS} FROM outbox
                         WHERE id > ?1 AND (?2 IS NULL OR state = ?2)
                           AND (?3 IS NULL OR topic_arn = ?3)
                           AND (?4 IS NULL OR subscription_arn = ?4)
                         ORDER BY id LIMIT ?5"
                    ))
                    .map_err(sql)?;
                stmt.query_map(
                    params![
                        query.after_id.unwrap_or(0),
                        query.state,
                        query.topic_arn,
                        query.subscription_arn,
                        query.limit as i64
                    ],
                    record_of,
                )
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)
            })
            .await
    }

    /// Each subscription's deliveries by state, of one topic or of all, in subscription order.
    pub async fn delivery_counts(
        &self,
        topic_arn: Option<String>,
    ) -> Result<Vec<DeliveryCounts>, ApiError> {
        self.store
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT subscription_arn, topic_arn, endpoint,
                                SUM(state = 'pending'), SUM(state = 'delivered'), SUM(state = 'failed')
                         FROM outbox WHERE ?1 IS NULL OR topic_arn = ?1
                         GROUP BY subscription_arn ORDER BY subscription_arn",
                    )
                    .map_err(sql)?;
                stmt.query_map([topic_arn], |r| {
                    Ok(DeliveryCounts {
                        subscription_arn: r.get(0)?,
                        topic_arn: r.get(1)?,
                        endpoint: r.get(2)?,
                        pending: r.get(3)?,
                        delivered: r.get(4)?,
                        failed: r.get(5)?,
                    })
                })
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)
            })
            .await
    }

    /// Queues failed deliveries again, each as a new pending row with the same `MessageId`
    /// and `Timestamp` and a fresh delivery policy; the failed row is marked `redriven`.
    pub async fn redrive_deliveries(&self, target: RedriveTarget) -> Result<Redriven, ApiError> {
        self.write(move |c, ctx| redrive(c, ctx, &target)).await
    }
}

impl Engine {
    /// Signalled after a commit that queued outbox messages.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.store.outbox_signal()
    }
}

fn record_attempt(
    c: &Connection,
    ctx: &Context,
    id: i64,
    outcome: &Attempt,
) -> Result<(), ApiError> {
    let now = ctx.now_ms;
    let (state, next, error, finished) = match outcome {
        Attempt::Delivered => ("delivered", None, None, Some(now)),
        Attempt::RetryAt(at, e) => ("pending", Some(*at), Some(e.as_str()), None),
        Attempt::Failed(e) => ("failed", None, Some(e.as_str()), Some(now)),
    };
    let row: Option<(String, String, String, String, Option<String>, i64)> = c
        .query_row(
            "UPDATE outbox SET state = ?2, attempts = attempts + 1,
                 next_attempt_ms = COALESCE(?3, next_attempt_ms), last_error = ?4, finished_ms = ?5
             WHERE id = ?1 AND state = 'pending'
             RETURNING kind, topic_arn, subscription_arn, endpoint, alarm_name, attempts",
            params![id, state, next, error, finished],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?;
    // Dropped or redriven while the attempt ran: nothing more to say of it.
    let Some((kind, topic_arn, _subscription, endpoint, alarm, attempts)) = row else {
        return Ok(());
    };
    if MessageKind::parse(&kind) != MessageKind::Notification {
        return Ok(());
    }
    let metric = match outcome {
        Attempt::Delivered => "NumberOfNotificationsDelivered",
        Attempt::RetryAt(..) | Attempt::Failed(_) => "NumberOfNotificationsFailed",
    };
    let topic_name = topic_arn.rsplit(':').next().unwrap_or_default().to_owned();
    cloudwatch::record(
        c,
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
    if let (Attempt::Failed(error), Some(alarm)) = (outcome, alarm) {
        let summary = format!(
            "Failed to execute action {topic_arn}. Reason: the notification to {endpoint} was not delivered after {attempts} attempt{}: {error}",
            if attempts == 1 { "" } else { "s" }
        );
        let data = serde_json::json!({
            "actionState": "Failed",
            "notificationResource": topic_arn,
            "endpoint": endpoint,
            "error": error,
        });
        cloudwatch::history(c, &alarm, now, "Action", &summary, &data.to_string())?;
    }
    Ok(())
}

fn redrive(c: &Connection, ctx: &Context, target: &RedriveTarget) -> Result<Redriven, ApiError> {
    let ids: Vec<i64> = match target {
        RedriveTarget::Ids(ids) => ids.clone(),
        RedriveTarget::Subscription(arn) => c
            .prepare("SELECT id FROM outbox WHERE subscription_arn = ?1 AND state = 'failed' ORDER BY id")
            .map_err(sql)?
            .query_map([arn], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(sql)?,
    };
    let mut out = Redriven::default();
    for id in ids {
        let found: Option<(String, String, bool, String, String, String)> = c
            .query_row(
                &format!(
                    "SELECT o.state, o.message_id, {ADDRESSABLE}, o.kind, o.subscription_arn, o.topic_arn
                     FROM outbox o WHERE o.id = ?1"
                ),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()
            .map_err(sql)?;
        let skip = |reason: String| SkippedDelivery { id, reason };
        let Some((state, message_id, addressable, kind, subscription, topic)) = found else {
            out.skipped
                .push(skip("there is no such delivery".to_owned()));
            continue;
        };
        if state != "failed" {
            out.skipped.push(skip(format!(
                "it is {state}; only failed deliveries are redriven"
            )));
            continue;
        }
        if !addressable {
            out.skipped
                .push(skip("its subscription no longer exists".to_owned()));
            continue;
        }
        // A confirmation goes again with a new token: the old one may have expired.
        let token = match MessageKind::parse(&kind) {
            MessageKind::Notification => None,
            MessageKind::SubscriptionConfirmation => {
                let confirmed: Option<bool> = c
                    .query_row(
                        "SELECT confirmed FROM subscriptions WHERE arn = ?1",
                        [&subscription],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                if confirmed == Some(true) {
                    out.skipped
                        .push(skip("its subscription is confirmed already".to_owned()));
                    continue;
                }
                Some(tokens::issue(
                    c,
                    ctx,
                    Purpose::Confirm,
                    &subscription,
                    &topic,
                )?)
            }
            MessageKind::UnsubscribeConfirmation => {
                let removed = c
                    .query_row(
                        "SELECT 1 FROM unsubscribed WHERE arn = ?1",
                        [&subscription],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(sql)?;
                if removed.is_none() {
                    out.skipped.push(skip(
                        "its subscription was restored, or can no longer be".to_owned(),
                    ));
                    continue;
                }
                Some(tokens::issue(
                    c,
                    ctx,
                    Purpose::Restore,
                    &subscription,
                    &topic,
                )?)
            }
        };
        let new_id: i64 = c
            .query_row(
                "INSERT INTO outbox (kind, message_id, topic_arn, subscription_arn, protocol, endpoint,
                                     subject, message, attributes, token, timestamp_ms,
                                     next_attempt_ms, alarm_name)
                 SELECT kind, message_id, topic_arn, subscription_arn, protocol, endpoint, subject,
                        message, attributes, COALESCE(?3, token), timestamp_ms, ?2, alarm_name
                 FROM outbox WHERE id = ?1
                 RETURNING id",
                params![id, ctx.now_ms, token],
                |r| r.get(0),
            )
            .map_err(sql)?;
        c.execute("UPDATE outbox SET state = 'redriven' WHERE id = ?1", [id])
            .map_err(sql)?;
        out.redriven.push(RedrivenDelivery {
            id,
            new_id,
            message_id,
        });
    }
    if !out.redriven.is_empty() {
        ctx.store.outbox_queued();
    }
    Ok(out)
}
