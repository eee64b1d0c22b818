//! The outbox: messages for subscribers, written in the same transaction as their cause and
//! delivered afterwards, so a crash between the two loses nothing (it may deliver twice; SNS
//! delivery is at-least-once too, and the message id stays the same on every attempt).

use rusqlite::{Connection, params};

use crate::store::sql;
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
}

/// A new confirmation token: 64 random hex digits (AWS's are long opaque hex strings too).
pub(crate) fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
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
                             subject, message, token, timestamp_ms, next_attempt_ms, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
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
        m.attributes
    ])
    .map_err(sql)?;
    ctx.store.outbox_queued();
    Ok(())
}

/// A message due for delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The outbox row.
    pub id: i64,
    /// The message type.
    pub kind: MessageKind,
    /// `MessageId`, the same on every attempt.
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
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The endpoint took it (any status below 500).
    Delivered,
    /// Try again at this time.
    RetryAt(i64, String),
    /// No attempts left.
    GaveUp(String),
}

impl Engine {
    /// Messages whose next attempt is due, oldest first.
    pub async fn due_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, ApiError> {
        let now = self.now_ms();
        self.store
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, kind, message_id, topic_arn, subscription_arn, protocol, endpoint,
                                subject, message, token, timestamp_ms, attempts,
                                (SELECT json_extract(t.attributes, '$.SignatureVersion')
                                   FROM topics t WHERE t.arn = o.topic_arn),
                                (SELECT json_extract(s.attributes, '$.RawMessageDelivery')
                                   FROM subscriptions s WHERE s.arn = o.subscription_arn),
                                o.attributes
                         FROM outbox o WHERE state = 'pending' AND next_attempt_ms <= ?1
                           -- a message outlives its subscription only to say it is gone
                           AND (kind = 'UnsubscribeConfirmation' OR EXISTS
                                (SELECT 1 FROM subscriptions s WHERE s.arn = o.subscription_arn))
                         ORDER BY next_attempt_ms, id LIMIT ?2",
                    )
                    .map_err(sql)?;
                let rows = stmt
                    .query_map(params![now, limit as i64], |r| {
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
                            signature_version: r
                                .get::<_, Option<String>>(12)?
                                .unwrap_or_else(|| "1".to_owned()),
                            raw: r.get::<_, Option<String>>(13)?.as_deref() == Some("true"),
                            message_attributes: r.get(14)?,
                        })
                    })
                    .map_err(sql)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(sql)
            })
            .await
    }

    /// Drops pending messages whose subscription is gone (unsubscribed, or its topic deleted).
    pub async fn drop_orphaned_deliveries(&self) -> Result<(), ApiError> {
        self.store
            .write(|c| {
                c.execute(
                    "UPDATE outbox SET state = 'dropped' WHERE state = 'pending'
                       AND kind != 'UnsubscribeConfirmation'
                       AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.arn = outbox.subscription_arn)",
                    [],
                )
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    /// When the earliest pending message is due, if any.
    pub async fn next_delivery_ms(&self) -> Result<Option<i64>, ApiError> {
        self.store
            .read(|c| {
                c.query_row(
                    "SELECT MIN(next_attempt_ms) FROM outbox o WHERE state = 'pending'
                       AND (kind = 'UnsubscribeConfirmation' OR EXISTS
                            (SELECT 1 FROM subscriptions s WHERE s.arn = o.subscription_arn))",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .map_err(sql)
            })
            .await
    }

    /// Records an attempt's outcome.
    pub async fn delivery_attempted(&self, id: i64, outcome: Attempt) -> Result<(), ApiError> {
        self.store
            .write(move |c| {
                let (state, next, error) = match outcome {
                    Attempt::Delivered => ("delivered", None, None),
                    Attempt::RetryAt(at, e) => ("pending", Some(at), Some(e)),
                    Attempt::GaveUp(e) => ("failed", None, Some(e)),
                };
                c.execute(
                    "UPDATE outbox SET state = ?2, attempts = attempts + 1,
                         next_attempt_ms = COALESCE(?3, next_attempt_ms), last_error = ?4
                     WHERE id = ?1",
                    params![id, state, next, error],
                )
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    /// Signalled when a commit queued outbox messages.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.store.outbox_signal()
    }
}
