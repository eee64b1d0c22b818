//! The outbox: messages for subscribers, written in the same transaction as their cause and
//! delivered afterwards, so a crash between the two loses nothing (it may deliver twice; SNS
//! delivery is at-least-once too, and the message id stays the same on every attempt).
//!
//! Each row is one message to one subscription. The delivery worker (in `trailwatch-delivery`)
//! learns of new rows from [`Engine::queued_deliveries`], reads a row when it is due
//! ([`Engine::deliveries`]), and records each attempt's outcome ([`Engine::record_attempt`],
//! in `attempts.rs`) before the message can be picked again. A message whose delivery policy runs out stays as a
//! failed delivery, which an operator lists ([`Engine::list_deliveries`]) and sends again
//! ([`Engine::redrive_deliveries`]) with its `MessageId`.

use super::delivery_policy::EffectivePolicy;
use super::{Attributes, TokenPurpose, tokens};
use crate::scope::Scope;
use crate::store::Tx;
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

    /// The kind of a stored `Type`.
    pub fn parse(s: &str) -> MessageKind {
        match s {
            "SubscriptionConfirmation" => MessageKind::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => MessageKind::UnsubscribeConfirmation,
            _ => MessageKind::Notification,
        }
    }
}

/// A message to queue for one subscription.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub kind: MessageKind,
    /// `MessageId`: one per published message, shared by its copies to each subscription.
    pub message_id: &'a str,
    pub topic_arn: &'a str,
    pub subscription_arn: &'a str,
    pub protocol: &'a str,
    pub endpoint: &'a str,
    pub subject: Option<&'a str>,
    pub message: &'a str,
    pub token: Option<&'a str>,
    /// A Notification's `MessageAttributes` object, as JSON text.
    pub attributes: Option<&'a str>,
    /// The alarm whose action published it, and the alarm's scope.
    pub alarm_name: Option<&'a str>,
    pub alarm_scope: Option<&'a Scope>,
}

/// Queues a message in the caller's transaction; the delivery worker is woken once it commits.
pub(crate) fn queue(tx: &mut dyn Tx, ctx: &Context, m: &NewMessage) -> Result<(), ApiError> {
    tx.queue_message(m, ctx.now_ms)?;
    tx.outbox_queued();
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

/// A pending message as the store gives it: the message and what its topic and
/// subscription have set (the topic's `SignatureVersion` and `DeliveryPolicy`, the
/// subscription's `RawMessageDelivery` and `DeliveryPolicy`).
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub id: i64,
    pub kind: MessageKind,
    pub message_id: String,
    pub topic_arn: String,
    pub subscription_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub subject: Option<String>,
    pub message: String,
    pub token: Option<String>,
    pub timestamp_ms: i64,
    pub attempts: i64,
    pub message_attributes: Option<String>,
    pub topic_attributes: Attributes,
    pub subscription_attributes: Attributes,
}

/// An attempt's outcome as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord<'a> {
    /// `pending`, `delivered` or `failed`.
    pub state: &'a str,
    /// When a pending message is due again.
    pub next_attempt_ms: Option<i64>,
    pub error: Option<&'a str>,
    /// When a delivered or failed message finished.
    pub finished_ms: Option<i64>,
}

/// What an attempt was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub kind: MessageKind,
    pub topic_arn: String,
    pub endpoint: String,
    pub alarm_name: Option<String>,
    /// Attempts made, this one included.
    pub attempts: i64,
    /// The scope of the alarm (`None` for rows queued before it was kept: the topic's).
    pub alarm_scope: Option<Scope>,
}

/// What a redrive needs to know of an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub state: String,
    pub message_id: String,
    pub kind: MessageKind,
    pub subscription_arn: String,
    pub topic_arn: String,
    /// Its subscription still exists (or it says the subscription is gone).
    pub addressable: bool,
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

/// The outbox spans scopes: its rows are found by id, and each names its topic, whose ARN
/// names the scope.
impl Engine {
    /// Pending messages after row `after_id`, in row order: at start-up (from 0) every message
    /// still to deliver, later those queued since.
    pub async fn queued_deliveries(&self, after_id: i64) -> Result<Vec<Queued>, ApiError> {
        self.read(&self.default_scope(), move |tx, _| {
            Ok(tx.queued_after(after_id)?)
        })
        .await
    }

    /// The messages of these rows that are still pending and still have somewhere to go, in
    /// the order asked. Rows left out were delivered, dropped or redriven meanwhile, or their
    /// subscription is gone (the tick drops those).
    pub async fn deliveries(&self, ids: Vec<i64>) -> Result<Vec<Delivery>, ApiError> {
        self.read(&self.default_scope(), move |tx, _| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(d) = tx.pending_delivery(id)? {
                    out.push(delivery(d));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Drops pending messages whose subscription is gone (unsubscribed, or its topic deleted).
    pub async fn drop_orphaned_deliveries(&self) -> Result<(), ApiError> {
        self.write(&self.default_scope(), |tx, ctx| {
            Ok(tx.drop_orphaned(ctx.now_ms)?)
        })
        .await
    }

    /// Deliveries matching `query`, in row order.
    pub async fn list_deliveries(
        &self,
        query: DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, ApiError> {
        self.read(&self.default_scope(), move |tx, _| {
            Ok(tx.list_deliveries(&query)?)
        })
        .await
    }

    /// Each subscription's deliveries by state, of one topic or of all, in subscription order.
    pub async fn delivery_counts(
        &self,
        topic_arn: Option<String>,
    ) -> Result<Vec<DeliveryCounts>, ApiError> {
        self.read(&self.default_scope(), move |tx, _| {
            Ok(tx.delivery_counts(topic_arn.as_deref())?)
        })
        .await
    }

    /// Queues failed deliveries again, each as a new pending row with the same `MessageId`
    /// and `Timestamp` and a fresh delivery policy; the failed row is marked `redriven`.
    pub async fn redrive_deliveries(&self, target: RedriveTarget) -> Result<Redriven, ApiError> {
        self.write(&self.default_scope(), move |tx, ctx| {
            redrive(tx, ctx, &target)
        })
        .await
    }

    /// Signalled after a commit that queued outbox messages.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.store.outbox_signal()
    }
}

/// A stored message with the policies and choices its topic and subscription set.
fn delivery(d: StoredDelivery) -> Delivery {
    let topic = |k: &str| d.topic_attributes.get(k).map(String::as_str);
    let own = |k: &str| d.subscription_attributes.get(k).map(String::as_str);
    let policy = EffectivePolicy::of(topic("DeliveryPolicy"), own("DeliveryPolicy"));
    let signature_version = topic("SignatureVersion").unwrap_or("1").to_owned();
    let raw = own("RawMessageDelivery") == Some("true");
    Delivery {
        id: d.id,
        kind: d.kind,
        message_id: d.message_id,
        topic_arn: d.topic_arn,
        subscription_arn: d.subscription_arn,
        protocol: d.protocol,
        endpoint: d.endpoint,
        subject: d.subject,
        message: d.message,
        token: d.token,
        timestamp_ms: d.timestamp_ms,
        attempts: d.attempts,
        signature_version,
        raw,
        message_attributes: d.message_attributes,
        policy,
    }
}

fn redrive(tx: &mut dyn Tx, ctx: &Context, target: &RedriveTarget) -> Result<Redriven, ApiError> {
    let ids: Vec<i64> = match target {
        RedriveTarget::Ids(ids) => ids.clone(),
        RedriveTarget::Subscription(arn) => tx.failed_deliveries(arn)?,
    };
    let mut out = Redriven::default();
    for id in ids {
        let skip = |reason: &str| SkippedDelivery {
            id,
            reason: reason.to_owned(),
        };
        let Some(row) = tx.outbox_row(id)? else {
            out.skipped.push(skip("there is no such delivery"));
            continue;
        };
        if row.state != "failed" {
            out.skipped.push(skip(&format!(
                "it is {}; only failed deliveries are redriven",
                row.state
            )));
            continue;
        }
        if !row.addressable {
            out.skipped.push(skip("its subscription no longer exists"));
            continue;
        }
        // A confirmation goes again with a new token: the old one may have expired.
        let token = match row.kind {
            MessageKind::Notification => None,
            MessageKind::SubscriptionConfirmation => {
                if tx
                    .subscription(&row.subscription_arn)?
                    .is_some_and(|s| s.confirmed)
                {
                    out.skipped
                        .push(skip("its subscription is confirmed already"));
                    continue;
                }
                Some(tokens::issue(
                    tx,
                    ctx,
                    TokenPurpose::Confirm,
                    &row.subscription_arn,
                    &row.topic_arn,
                )?)
            }
            MessageKind::UnsubscribeConfirmation => {
                if !tx.is_unsubscribed(&row.subscription_arn)? {
                    out.skipped
                        .push(skip("its subscription was restored, or can no longer be"));
                    continue;
                }
                Some(tokens::issue(
                    tx,
                    ctx,
                    TokenPurpose::Restore,
                    &row.subscription_arn,
                    &row.topic_arn,
                )?)
            }
        };
        let new_id = tx.requeue(id, ctx.now_ms, token.as_deref())?;
        out.redriven.push(RedrivenDelivery {
            id,
            new_id,
            message_id: row.message_id,
        });
    }
    if !out.redriven.is_empty() {
        tx.outbox_queued();
    }
    Ok(out)
}
