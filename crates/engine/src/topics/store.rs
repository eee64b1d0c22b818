//! What topics, subscriptions, confirmation tokens and the outbox need kept.

use super::outbox::{
    AttemptRecord, Attempted, DeliveryCounts, DeliveryQuery, DeliveryRecord, NewMessage, OutboxRow,
    Queued, StoredDelivery,
};
use super::{Attributes, ConfirmationToken, Subscription, Topic};
use crate::store::StorageResult as Result;

/// Topics, their subscriptions and the confirmation tokens of those.
pub trait TopicStore {
    /// The topic `arn`, if it exists.
    fn topic(&mut self, arn: &str) -> Result<Option<Topic>>;
    /// Adds a topic (its ARN is new).
    fn insert_topic(&mut self, topic: &Topic) -> Result<()>;
    /// Replaces the attributes set on a topic.
    fn set_topic_attributes(&mut self, arn: &str, attributes: &Attributes) -> Result<()>;
    /// Removes a topic with its subscriptions, removed ones included.
    fn delete_topic(&mut self, arn: &str) -> Result<()>;
    /// Topic ARNs in order, after `after`.
    fn topic_arns(&mut self, after: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// The subscription `arn`, if it exists.
    fn subscription(&mut self, arn: &str) -> Result<Option<Subscription>>;
    /// The subscription of an endpoint to a topic over a protocol, if there is one.
    fn endpoint_subscription(
        &mut self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
    ) -> Result<Option<Subscription>>;
    /// Adds a subscription (its ARN is new).
    fn insert_subscription(&mut self, subscription: &Subscription) -> Result<()>;
    /// Marks a subscription confirmed, and as asking for authenticated unsubscribes when
    /// `authenticated` (which stays once set).
    fn confirm_subscription(&mut self, arn: &str, authenticated: bool) -> Result<()>;
    /// Replaces the attributes set on a subscription.
    fn set_subscription_attributes(&mut self, arn: &str, attributes: &Attributes) -> Result<()>;
    /// Subscriptions in ARN order after `after`, of one topic or of all.
    fn subscriptions(
        &mut self,
        topic_arn: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>>;
    /// The confirmed subscriptions of a topic.
    fn confirmed_subscriptions(&mut self, topic_arn: &str) -> Result<Vec<Subscription>>;
    /// Removes a subscription, keeping what a restore token needs to bring it back.
    fn unsubscribe(&mut self, arn: &str) -> Result<()>;
    /// Whether `arn` is a removed subscription that could still be brought back.
    fn is_unsubscribed(&mut self, arn: &str) -> Result<bool>;
    /// Brings back the removed subscription `arn`, unless its endpoint has subscribed to the
    /// topic again meanwhile; either way, the ARN of the subscription that now stands for the
    /// endpoint, if any.
    fn restore_subscription(&mut self, arn: &str) -> Result<Option<String>>;

    /// Adds a confirmation token.
    fn insert_token(&mut self, token: &ConfirmationToken) -> Result<()>;
    /// A confirmation token by its text.
    fn token(&mut self, token: &str) -> Result<Option<ConfirmationToken>>;
    /// Marks a token used at `at_ms` (the first use counts).
    fn use_token(&mut self, token: &str, at_ms: i64) -> Result<()>;
    /// Ends the confirm tokens of a subscription.
    fn revoke_confirm_tokens(&mut self, subscription_arn: &str) -> Result<()>;
    /// Forgets tokens expired at `now_ms`, and the removed subscriptions no unused token can
    /// restore any more.
    fn expire_tokens(&mut self, now_ms: i64) -> Result<()>;
}

/// The outbox: messages for subscribers, their attempts and their outcomes.
pub trait OutboxStore {
    /// Queues a message; its row id.
    fn queue_message(&mut self, message: &NewMessage<'_>, at_ms: i64) -> Result<i64>;
    /// Pending messages after row `after_id`, in row order.
    fn queued_after(&mut self, after_id: i64) -> Result<Vec<Queued>>;
    /// A pending message whose subscription still exists (or that says it is gone), with
    /// the attributes of its topic and subscription.
    fn pending_delivery(&mut self, id: i64) -> Result<Option<StoredDelivery>>;
    /// Marks `dropped` the pending messages whose subscription is gone.
    fn drop_orphaned(&mut self, now_ms: i64) -> Result<()>;
    /// Records an attempt on a pending message; what the message was, if it was pending.
    fn record_attempt(&mut self, id: i64, record: &AttemptRecord<'_>) -> Result<Option<Attempted>>;
    /// Deliveries matching `query`, in row order.
    fn list_deliveries(&mut self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>>;
    /// Each subscription's deliveries by state, of one topic or of all.
    fn delivery_counts(&mut self, topic_arn: Option<&str>) -> Result<Vec<DeliveryCounts>>;
    /// What a redrive needs to know of a row.
    fn outbox_row(&mut self, id: i64) -> Result<Option<OutboxRow>>;
    /// The failed deliveries to a subscription, in row order.
    fn failed_deliveries(&mut self, subscription_arn: &str) -> Result<Vec<i64>>;
    /// Queues a failed delivery again as a new pending row due at `at_ms` (with a new
    /// `token`, for confirmations) and marks the old one `redriven`; the new row's id.
    fn requeue(&mut self, id: i64, at_ms: i64, token: Option<&str>) -> Result<i64>;
}
