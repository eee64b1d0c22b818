//! Subscribe, ConfirmSubscription, Unsubscribe, the subscription listings and the subscription
//! attributes.

use super::api::*;
use super::delivery_policy::EffectivePolicy;
use super::endpoint::EndpointUrl;
use super::outbox::{self, MessageKind};
use super::topic::check_delivery_policy;
use super::{
    Attributes, INVALID, NOT_FOUND, Subscription, TokenPurpose, authorize, check_arn, tokens,
    topic_not_found,
};
use crate::error::SnsException;
use crate::paging::{self, Listing};
use crate::store::Tx;
use crate::{ApiError, Caller, Context};

/// Subscriptions listed per page, as on AWS.
const PAGE: usize = 100;

/// The subscription attributes SetSubscriptionAttributes may change.
const SETTABLE: [&str; 6] = [
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];

fn subscription_not_found() -> ApiError {
    ApiError::new(NOT_FOUND, "Subscription does not exist")
}

/// Whether a protocol's endpoints are sent confirmation messages by POST.
fn is_http(protocol: &str) -> bool {
    matches!(protocol, "http" | "https")
}

pub(super) fn subscribe(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: SubscribeRequest,
) -> Result<SubscriptionArnResponse, ApiError> {
    authorize(tx, &req.topic_arn, "TopicArn", "Subscribe")?;
    let endpoint = req.endpoint.clone().unwrap_or_default();
    match req.protocol.as_str() {
        "http" | "https" => {
            if !endpoint.starts_with(&format!("{}://", req.protocol)) {
                return Err(ApiError::new(
                    INVALID,
                    "Invalid parameter: Endpoint must match the specified protocol",
                ));
            }
            EndpointUrl::parse(&endpoint, &req.protocol)
                .and_then(|url| url.check(&ctx.config.endpoint_policy))
                .map_err(|why| {
                    ApiError::new(
                        INVALID,
                        format!("Invalid parameter: Endpoint Reason: {why}"),
                    )
                })?;
        }
        "email" | "email-json" => {
            if !endpoint.contains('@') {
                return Err(ApiError::new(INVALID, "Invalid parameter: Email address"));
            }
        }
        "sqs" | "lambda" | "firehose" | "application" | "sms" => {}
        other => {
            return Err(ApiError::new(
                INVALID,
                format!(
                    "Invalid parameter: Amazon SNS does not support this protocol string: {other}"
                ),
            ));
        }
    }
    if let Some(policy) = req.attributes.get("DeliveryPolicy") {
        check_delivery_policy(policy, false)?;
    }
    if tx.topic(&req.topic_arn)?.is_none() {
        return Err(topic_not_found());
    }
    let return_arn = req.return_subscription_arn.unwrap_or(false);
    if let Some(existing) = tx.endpoint_subscription(&req.topic_arn, &req.protocol, &endpoint)? {
        if existing.attributes != req.attributes && !req.attributes.is_empty() {
            return Err(ApiError::new(
                INVALID,
                "Invalid parameter: Attributes Reason: Subscription already exists with different attributes",
            ));
        }
        // Subscribing again to a pending subscription sends its confirmation again, as on
        // AWS: the first one may have been lost.
        if !existing.confirmed && is_http(&req.protocol) {
            queue_confirmation(tx, ctx, &existing)?;
        }
        let shown = if existing.confirmed || return_arn {
            existing.arn
        } else {
            "pending confirmation".to_owned()
        };
        return Ok(SubscriptionArnResponse {
            subscription_arn: shown,
        });
    }
    // Only HTTP(S) and email endpoints confirm; AWS-managed endpoints in the same account are
    // confirmed at once.
    let needs_confirmation = matches!(
        req.protocol.as_str(),
        "http" | "https" | "email" | "email-json"
    );
    let subscription = Subscription {
        arn: format!("{}:{}", req.topic_arn, uuid::Uuid::new_v4()),
        topic_arn: req.topic_arn,
        protocol: req.protocol,
        endpoint,
        confirmed: !needs_confirmation,
        authenticated: false,
        attributes: req.attributes,
        owner: tx.scope().account().to_owned(),
    };
    tx.insert_subscription(&subscription)?;
    if is_http(&subscription.protocol) {
        queue_confirmation(tx, ctx, &subscription)?;
    }
    let shown = if needs_confirmation && !return_arn {
        "pending confirmation".to_owned()
    } else {
        subscription.arn
    };
    Ok(SubscriptionArnResponse {
        subscription_arn: shown,
    })
}

/// Queues the SubscriptionConfirmation of an HTTP(S) subscription, with a new token.
fn queue_confirmation(
    tx: &mut dyn Tx,
    ctx: &Context,
    subscription: &Subscription,
) -> Result<(), ApiError> {
    let message = format!(
        "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        subscription.topic_arn
    );
    queue_with_token(
        tx,
        ctx,
        subscription,
        MessageKind::SubscriptionConfirmation,
        &message,
    )
}

/// Queues a confirmation message of `kind` to the subscription's endpoint, with a new token of
/// the purpose its kind has.
fn queue_with_token(
    tx: &mut dyn Tx,
    ctx: &Context,
    subscription: &Subscription,
    kind: MessageKind,
    message: &str,
) -> Result<(), ApiError> {
    let purpose = if kind == MessageKind::UnsubscribeConfirmation {
        TokenPurpose::Restore
    } else {
        TokenPurpose::Confirm
    };
    let token = tokens::issue(tx, ctx, purpose, &subscription.arn, &subscription.topic_arn)?;
    outbox::queue(
        tx,
        ctx,
        &outbox::NewMessage {
            kind,
            message_id: &uuid::Uuid::new_v4().to_string(),
            topic_arn: &subscription.topic_arn,
            subscription_arn: &subscription.arn,
            protocol: &subscription.protocol,
            endpoint: &subscription.endpoint,
            subject: None,
            message,
            token: Some(&token),
            attributes: None,
            alarm_name: None,
            alarm_scope: None,
        },
    )
}

/// ConfirmSubscription, through the signed API or the unsigned `SubscribeURL` link
/// (`caller`): only the former can ask that unsubscribing be authenticated.
pub(super) fn confirm(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: ConfirmSubscriptionRequest,
    caller: Caller,
) -> Result<SubscriptionArnResponse, ApiError> {
    check_arn(tx.scope(), &req.topic_arn, "TopicArn")?;
    if tx.topic(&req.topic_arn)?.is_none() {
        return Err(topic_not_found());
    }
    let arn = tokens::redeem(tx, ctx, &req.token, &req.topic_arn)?;
    let authenticate = caller == Caller::Signed
        && req
            .authenticate_on_unsubscribe
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    tx.confirm_subscription(&arn, authenticate)?;
    Ok(SubscriptionArnResponse {
        subscription_arn: arn,
    })
}

/// Unsubscribe, through the signed API or the unsigned `UnsubscribeURL` link (`caller`).
pub(super) fn unsubscribe(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: SubscriptionRequest,
    caller: Caller,
) -> Result<Empty, ApiError> {
    authorize(tx, &req.subscription_arn, "SubscriptionArn", "Unsubscribe")?;
    let Some(subscription) = tx.subscription(&req.subscription_arn)? else {
        return Err(subscription_not_found());
    };
    if subscription.authenticated && caller == Caller::Unsigned {
        return Err(ApiError::new(
            SnsException::AuthorizationErrorException,
            format!(
                "The subscription {} was confirmed with AuthenticateOnUnsubscribe: only a signed Unsubscribe request removes it.",
                subscription.arn
            ),
        ));
    }
    tx.unsubscribe(&subscription.arn)?;
    // Links of earlier confirmation messages stop working with the subscription.
    tx.revoke_confirm_tokens(&subscription.arn)?;
    if is_http(&subscription.protocol) {
        let message = format!(
            "You have chosen to deactivate subscription {}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
            subscription.arn
        );
        queue_with_token(
            tx,
            ctx,
            &subscription,
            MessageKind::UnsubscribeConfirmation,
            &message,
        )?;
    }
    Ok(Empty {})
}

/// A page of subscriptions, of one topic or of all.
pub(super) fn list(
    tx: &mut dyn Tx,
    topic_arn: Option<&str>,
    next_token: Option<String>,
) -> Result<ListSubscriptionsResponse, ApiError> {
    let after: Option<String> = match &next_token {
        None => None,
        Some(t) => Some(
            paging::key(Listing::Subscriptions, t)
                .ok_or_else(|| ApiError::new(INVALID, "Invalid parameter: NextToken"))?,
        ),
    };
    let mut rows = tx.subscriptions(topic_arn, after.as_deref(), PAGE + 1)?;
    let next_token = (rows.len() > PAGE).then(|| {
        rows.truncate(PAGE);
        paging::token(Listing::Subscriptions, &rows[PAGE - 1].arn)
    });
    Ok(ListSubscriptionsResponse {
        subscriptions: rows
            .into_iter()
            .map(|s| SubscriptionSummary {
                subscription_arn: if s.confirmed {
                    s.arn
                } else {
                    "PendingConfirmation".to_owned()
                },
                owner: s.owner,
                protocol: s.protocol,
                endpoint: s.endpoint,
                topic_arn: s.topic_arn,
            })
            .collect(),
        next_token,
    })
}

pub(super) fn get_attributes(
    tx: &mut dyn Tx,
    req: SubscriptionRequest,
) -> Result<AttributesResponse, ApiError> {
    authorize(
        tx,
        &req.subscription_arn,
        "SubscriptionArn",
        "GetSubscriptionAttributes",
    )?;
    let Some(sub) = tx.subscription(&req.subscription_arn)? else {
        return Err(subscription_not_found());
    };
    let topic_policy = tx
        .topic(&sub.topic_arn)?
        .and_then(|t| t.attributes.get("DeliveryPolicy").cloned());
    let effective = EffectivePolicy::of(
        topic_policy.as_deref(),
        sub.attributes.get("DeliveryPolicy").map(String::as_str),
    );
    let mut attributes = Attributes::new();
    attributes.insert("SubscriptionArn".into(), req.subscription_arn);
    attributes.insert("Owner".into(), sub.owner);
    attributes.insert("TopicArn".into(), sub.topic_arn);
    attributes.insert("Protocol".into(), sub.protocol);
    attributes.insert("Endpoint".into(), sub.endpoint);
    attributes.insert("PendingConfirmation".into(), (!sub.confirmed).to_string());
    attributes.insert(
        "ConfirmationWasAuthenticated".into(),
        sub.authenticated.to_string(),
    );
    attributes.insert("RawMessageDelivery".into(), "false".into());
    attributes.insert(
        "EffectiveDeliveryPolicy".into(),
        effective.subscription_json(),
    );
    attributes.extend(sub.attributes);
    Ok(AttributesResponse { attributes })
}

pub(super) fn set_attributes(
    tx: &mut dyn Tx,
    req: SetSubscriptionAttributesRequest,
) -> Result<Empty, ApiError> {
    authorize(
        tx,
        &req.subscription_arn,
        "SubscriptionArn",
        "SetSubscriptionAttributes",
    )?;
    let name = req.attribute_name.as_str();
    if !SETTABLE.contains(&name) {
        return Err(ApiError::new(INVALID, "Invalid parameter: AttributeName"));
    }
    let value = req.attribute_value.clone().unwrap_or_default();
    match name {
        "RawMessageDelivery" if !matches!(value.as_str(), "true" | "false") => {
            return Err(ApiError::new(
                INVALID,
                format!(
                    "Invalid parameter: RawMessageDelivery: Invalid value [{value}]. Must be true or false."
                ),
            ));
        }
        "FilterPolicyScope" if !matches!(value.as_str(), "MessageAttributes" | "MessageBody") => {
            return Err(ApiError::new(
                INVALID,
                "Invalid parameter: FilterPolicyScope: Invalid value. Must be MessageAttributes or MessageBody.",
            ));
        }
        "DeliveryPolicy" if !value.is_empty() => check_delivery_policy(&value, false)?,
        "FilterPolicy" | "RedrivePolicy"
            if !value.is_empty() && serde_json::from_str::<serde_json::Value>(&value).is_err() =>
        {
            return Err(ApiError::new(
                INVALID,
                format!("Invalid parameter: {name}: failed to parse JSON."),
            ));
        }
        _ => {}
    }
    let Some(mut sub) = tx.subscription(&req.subscription_arn)? else {
        return Err(subscription_not_found());
    };
    sub.attributes.insert(name.to_owned(), value);
    tx.set_subscription_attributes(&sub.arn, &sub.attributes)?;
    Ok(Empty {})
}
