//! SNS topics: topics, subscriptions and their confirmation, publishing, and the outbox that
//! delivery drains.
//!
//! - `api.rs`: the operations' requests and responses;
//! - `topic.rs`, `subscription.rs`, `publish.rs`: the operations;
//! - `tokens.rs`: confirmation tokens; `endpoint.rs`: which endpoints may be contacted;
//!   `delivery_policy.rs`: retry, throttle and request policies;
//! - `outbox.rs`: queued messages, attempts, failed deliveries and redrives;
//! - `store.rs`: what the component needs kept.

pub mod api;
mod attempts;
pub mod delivery_policy;
pub mod endpoint;
pub mod outbox;
pub(crate) mod policy;
pub(crate) mod publish;
pub mod store;
mod subscription;
pub(crate) mod tokens;
mod topic;

use std::collections::BTreeMap;

use crate::error::SnsException;
use crate::scope::{Arn, Scope};
use crate::store::Tx;
use crate::{ApiError, Caller, Engine};
use api::*;

pub use tokens::TOKEN_LIFETIME_MS;

/// Attributes set on a topic or a subscription, by name.
pub type Attributes = BTreeMap<String, String>;

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub arn: String,
    pub name: String,
    /// The attributes set on it (the others are computed when asked for).
    pub attributes: Attributes,
}

/// A subscription of an endpoint to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    /// `http`, `https`, `email`, …
    pub protocol: String,
    pub endpoint: String,
    /// Confirmed by its endpoint (or needing no confirmation).
    pub confirmed: bool,
    /// Confirmed through the signed API with `AuthenticateOnUnsubscribe=true`: only a signed
    /// Unsubscribe removes it (`ConfirmationWasAuthenticated`).
    pub authenticated: bool,
    /// The attributes set on it.
    pub attributes: Attributes,
    /// The subscriber's account, which may not be the topic's.
    pub owner: String,
}

/// The token of a confirmation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationToken {
    pub token: String,
    pub subscription_arn: String,
    pub topic_arn: String,
    pub purpose: TokenPurpose,
    pub expires_ms: i64,
    /// When it was first used.
    pub used_ms: Option<i64>,
}

/// What a confirmation token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirm a pending subscription (a SubscriptionConfirmation's).
    Confirm,
    /// Bring back a removed subscription (an UnsubscribeConfirmation's).
    Restore,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::Restore => "restore",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(s: &str) -> Option<TokenPurpose> {
        match s {
            "confirm" => Some(TokenPurpose::Confirm),
            "restore" => Some(TokenPurpose::Restore),
            _ => None,
        }
    }
}

const INVALID: SnsException = SnsException::InvalidParameterException;
const NOT_FOUND: SnsException = SnsException::NotFoundException;

/// AWS's check that a parameter is at least shaped like an ARN, of this region and partition.
fn check_arn(scope: &Scope, arn: &str, parameter: &str) -> Result<(), ApiError> {
    let parts = arn.split(':').count();
    if parts < 6 {
        return Err(ApiError::new(
            INVALID,
            format!(
                "Invalid parameter: {parameter} Reason: An ARN must have at least 6 elements, not {parts}"
            ),
        ));
    }
    // A topic of another region or partition is not this endpoint's to act on: SNS answers
    // as for a malformed ARN.
    let here = scope.region();
    if Arn::parse(arn).is_some_and(|a| a.region != here.name || a.partition != here.partition.id) {
        return Err(ApiError::new(
            INVALID,
            format!("Invalid parameter: {parameter}"),
        ));
    }
    Ok(())
}

/// Checks `arn` as [`check_arn`] does, and that the caller's account may perform `action` on
/// the topic it names: its own topics always, another account's where the topic's policy
/// allows (else `AuthorizationError`, whether or not the topic exists, as SNS answers).
fn authorize(tx: &mut dyn Tx, arn: &str, parameter: &str, action: &str) -> Result<(), ApiError> {
    let scope = tx.scope().clone();
    check_arn(&scope, arn, parameter)?;
    let Some(owner) = Arn::parse(arn).map(|a| a.account.to_owned()) else {
        return Ok(());
    };
    if owner == scope.account() {
        return Ok(());
    }
    let allowed = if parameter == "TopicArn" {
        tx.topic(arn)?.is_some_and(|t| {
            policy::allows(
                t.attributes.get("Policy").map(String::as_str),
                arn,
                &owner,
                policy::Caller::Account(scope.account()),
                action,
            )
        })
    } else {
        // A subscription is its subscriber's (and its topic owner's, above).
        tx.subscription(arn)?
            .is_some_and(|s| s.owner == scope.account())
    };
    if allowed {
        Ok(())
    } else {
        Err(not_authorized(&scope, action, arn))
    }
}

/// The account owning a topic (and its subscriptions, kept in the topic's account): the one its
/// ARN names.
fn owner_of(topic_arn: &str, scope: &Scope) -> String {
    Arn::parse(topic_arn).map_or_else(|| scope.account().to_owned(), |a| a.account.to_owned())
}

fn not_authorized(scope: &Scope, action: &str, arn: &str) -> ApiError {
    let user = format!(
        "arn:{}:iam::{}:root",
        scope.region().partition.id,
        scope.account()
    );
    ApiError::new(
        SnsException::AuthorizationErrorException,
        format!(
            "User: {user} is not authorized to perform: SNS:{action} on resource: {arn} because no resource-based policy allows the SNS:{action} action"
        ),
    )
}

fn topic_not_found() -> ApiError {
    ApiError::new(NOT_FOUND, "Topic does not exist")
}

/// The SNS operations.
pub struct Topics<'e> {
    engine: &'e Engine,
    scope: Scope,
}

impl Engine {
    /// The SNS operations.
    pub fn topics(&self, scope: &Scope) -> Topics<'_> {
        Topics {
            engine: self,
            scope: scope.clone(),
        }
    }
}

impl Topics<'_> {
    pub async fn create_topic(
        &self,
        req: CreateTopicRequest,
    ) -> Result<CreateTopicResponse, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| topic::create(tx, req))
            .await
    }

    pub async fn delete_topic(&self, req: TopicRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| topic::delete(tx, req))
            .await
    }

    pub async fn list_topics(&self, req: ListRequest) -> Result<ListTopicsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| topic::list(tx, req))
            .await
    }

    pub async fn get_topic_attributes(
        &self,
        req: TopicRequest,
    ) -> Result<AttributesResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| topic::get_attributes(tx, req))
            .await
    }

    pub async fn set_topic_attributes(
        &self,
        req: SetTopicAttributesRequest,
    ) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| topic::set_attributes(tx, req))
            .await
    }

    pub async fn subscribe(
        &self,
        req: SubscribeRequest,
    ) -> Result<SubscriptionArnResponse, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                subscription::subscribe(tx, ctx, req)
            })
            .await
    }

    /// ConfirmSubscription through the signed API.
    pub async fn confirm_subscription(
        &self,
        req: ConfirmSubscriptionRequest,
    ) -> Result<SubscriptionArnResponse, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                subscription::confirm(tx, ctx, req, Caller::Signed)
            })
            .await
    }

    /// ConfirmSubscription through a message's unsigned `SubscribeURL`, which anyone holding
    /// the message may visit.
    pub async fn confirm_subscription_link(
        &self,
        req: ConfirmSubscriptionRequest,
    ) -> Result<SubscriptionArnResponse, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                subscription::confirm(tx, ctx, req, Caller::Unsigned)
            })
            .await
    }

    /// Unsubscribe through the signed API.
    pub async fn unsubscribe(&self, req: SubscriptionRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                subscription::unsubscribe(tx, ctx, req, Caller::Signed)
            })
            .await
    }

    /// Unsubscribe through a message's unsigned `UnsubscribeURL`.
    pub async fn unsubscribe_link(&self, req: SubscriptionRequest) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| {
                subscription::unsubscribe(tx, ctx, req, Caller::Unsigned)
            })
            .await
    }

    pub async fn list_subscriptions(
        &self,
        req: ListRequest,
    ) -> Result<ListSubscriptionsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| {
                subscription::list(tx, None, req.next_token)
            })
            .await
    }

    pub async fn list_subscriptions_by_topic(
        &self,
        req: ListSubscriptionsByTopicRequest,
    ) -> Result<ListSubscriptionsResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| {
                authorize(tx, &req.topic_arn, "TopicArn", "ListSubscriptionsByTopic")?;
                if tx.topic(&req.topic_arn)?.is_none() {
                    return Err(topic_not_found());
                }
                subscription::list(tx, Some(&req.topic_arn), req.next_token)
            })
            .await
    }

    pub async fn get_subscription_attributes(
        &self,
        req: SubscriptionRequest,
    ) -> Result<AttributesResponse, ApiError> {
        self.engine
            .read(&self.scope, move |tx, _| {
                subscription::get_attributes(tx, req)
            })
            .await
    }

    pub async fn set_subscription_attributes(
        &self,
        req: SetSubscriptionAttributesRequest,
    ) -> Result<Empty, ApiError> {
        self.engine
            .write(&self.scope, move |tx, _| {
                subscription::set_attributes(tx, req)
            })
            .await
    }

    pub async fn publish(&self, req: PublishRequest) -> Result<PublishResponse, ApiError> {
        self.engine
            .write(&self.scope, move |tx, ctx| publish::publish(tx, ctx, req))
            .await
    }
}
