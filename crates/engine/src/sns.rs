//! SNS: topics, subscriptions and publishing into the outbox.

use std::collections::BTreeMap;

use base64::Engine as _;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::delivery_policy::{self, EffectivePolicy};
use crate::endpoint::EndpointUrl;
use crate::outbox::{self, MessageKind};
use crate::store::sql;
use crate::{ApiError, Caller, Context, Engine, tokens, unknown_operation};

const INVALID: &str = "InvalidParameterException";
const NOT_FOUND: &str = "NotFoundException";
/// SNS's limit on a message: 256 KiB of UTF-8.
const MAX_MESSAGE_BYTES: usize = 262_144;
/// Topics and subscriptions listed per page, as on AWS.
const PAGE: usize = 100;

pub(crate) async fn call(
    engine: &Engine,
    op: &str,
    v: Value,
    caller: Caller,
) -> Result<Value, ApiError> {
    match op {
        "CreateTopic" => engine.write_op(v, create_topic).await,
        "ListTopics" => engine.read_op(v, list_topics).await,
        "Subscribe" => engine.write_op(v, subscribe).await,
        "ConfirmSubscription" => {
            engine
                .write_op(v, move |c, ctx, req| {
                    confirm_subscription(c, ctx, req, caller)
                })
                .await
        }
        "ListSubscriptionsByTopic" => engine.read_op(v, list_subscriptions_by_topic).await,
        "Unsubscribe" => {
            engine
                .write_op(v, move |c, ctx, req| unsubscribe(c, ctx, req, caller))
                .await
        }
        "Publish" => engine.write_op(v, publish).await,
        "DeleteTopic" => engine.write_op(v, delete_topic).await,
        "GetTopicAttributes" => engine.read_op(v, get_topic_attributes).await,
        "SetTopicAttributes" => engine.write_op(v, set_topic_attributes).await,
        "ListSubscriptions" => engine.read_op(v, list_subscriptions).await,
        "GetSubscriptionAttributes" => engine.read_op(v, get_subscription_attributes).await,
        "SetSubscriptionAttributes" => engine.write_op(v, set_subscription_attributes).await,
        _ => Err(unknown_operation(op)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateTopic {
    name: String,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
}

pub(crate) fn topic_exists(c: &Connection, arn: &str) -> Result<bool, ApiError> {
    c.query_row("SELECT 1 FROM topics WHERE arn = ?1", [arn], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(sql)
}

fn create_topic(c: &Connection, ctx: &Context, req: CreateTopic) -> Result<Value, ApiError> {
    let name = &req.name;
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !base.is_empty()
        && name.len() <= 256
        && base
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !valid {
        return Err(ApiError::new(INVALID, "Invalid parameter: Topic Name"));
    }
    if let Some(policy) = req.attributes.get("DeliveryPolicy") {
        check_delivery_policy(policy.as_str().unwrap_or_default(), true)?;
    }
    let arn = format!(
        "arn:aws:sns:{}:{}:{name}",
        ctx.config.region, ctx.config.account_id
    );
    let attributes = Value::Object(req.attributes.clone()).to_string();
    let existing: Option<String> = c
        .query_row(
            "SELECT attributes FROM topics WHERE arn = ?1",
            [&arn],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    match existing {
        Some(stored) if stored != attributes && !req.attributes.is_empty() => Err(ApiError::new(
            INVALID,
            "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
        )),
        Some(_) => Ok(json!({ "TopicArn": arn })),
        None => {
            c.execute(
                "INSERT INTO topics (arn, name, attributes) VALUES (?1, ?2, ?3)",
                params![arn, name, attributes],
            )
            .map_err(sql)?;
            Ok(json!({ "TopicArn": arn }))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Paged {
    next_token: Option<String>,
}

fn page_after(token: &Option<String>) -> Result<String, ApiError> {
    match token {
        None => Ok(String::new()),
        Some(t) => t
            .strip_prefix("a/")
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new(INVALID, "Invalid parameter: NextToken")),
    }
}

fn list_topics(c: &Connection, _: &Context, req: Paged) -> Result<Value, ApiError> {
    let after = page_after(&req.next_token)?;
    let mut arns = c
        .prepare("SELECT arn FROM topics WHERE arn > ?1 ORDER BY arn LIMIT ?2")
        .map_err(sql)?
        .query_map(params![after, (PAGE + 1) as i64], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut out = json!({});
    if arns.len() > PAGE {
        arns.truncate(PAGE);
        out["NextToken"] = json!(format!("a/{}", arns[PAGE - 1]));
    }
    out["Topics"] = arns.iter().map(|a| json!({ "TopicArn": a })).collect();
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Subscribe {
    topic_arn: String,
    protocol: String,
    endpoint: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
    return_subscription_arn: Option<bool>,
}

fn subscribe(c: &Connection, ctx: &Context, req: Subscribe) -> Result<Value, ApiError> {
    check_arn(&req.topic_arn, "TopicArn")?;
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
        check_delivery_policy(policy.as_str().unwrap_or_default(), false)?;
    }
    if !topic_exists(c, &req.topic_arn)? {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    }
    let attributes = Value::Object(req.attributes.clone()).to_string();
    let existing: Option<(String, bool, String)> = c
        .query_row(
            "SELECT arn, confirmed, attributes FROM subscriptions
             WHERE topic_arn = ?1 AND protocol = ?2 AND endpoint = ?3",
            params![req.topic_arn, req.protocol, endpoint],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
    let return_arn = req.return_subscription_arn.unwrap_or(false);
    if let Some((arn, confirmed, stored)) = existing {
        if stored != attributes && !req.attributes.is_empty() {
            return Err(ApiError::new(
                INVALID,
                "Invalid parameter: Attributes Reason: Subscription already exists with different attributes",
            ));
        }
        // Subscribing again to a pending subscription sends its confirmation again, as on
        // AWS: the first one may have been lost.
        if !confirmed && matches!(req.protocol.as_str(), "http" | "https") {
            queue_confirmation(c, ctx, &req.topic_arn, &arn, &req.protocol, &endpoint)?;
        }
        let shown = if confirmed || return_arn {
            arn
        } else {
            "pending confirmation".to_owned()
        };
        return Ok(json!({ "SubscriptionArn": shown }));
    }
    let arn = format!("{}:{}", req.topic_arn, uuid::Uuid::new_v4());
    // Only HTTP(S) and email endpoints confirm; AWS-managed endpoints in the same account are
    // confirmed at once.
    let needs_confirmation = matches!(
        req.protocol.as_str(),
        "http" | "https" | "email" | "email-json"
    );
    c.execute(
        "INSERT INTO subscriptions (arn, topic_arn, protocol, endpoint, token, confirmed, attributes)
         VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
        params![
            arn,
            req.topic_arn,
            req.protocol,
            endpoint,
            !needs_confirmation,
            attributes
        ],
    )
    .map_err(sql)?;
    if matches!(req.protocol.as_str(), "http" | "https") {
        queue_confirmation(c, ctx, &req.topic_arn, &arn, &req.protocol, &endpoint)?;
    }
    let shown = if needs_confirmation && !return_arn {
        "pending confirmation".to_owned()
    } else {
        arn
    };
    Ok(json!({ "SubscriptionArn": shown }))
}

/// Queues the SubscriptionConfirmation of an HTTP(S) subscription, with a new token.
fn queue_confirmation(
    c: &Connection,
    ctx: &Context,
    topic_arn: &str,
    subscription_arn: &str,
    protocol: &str,
    endpoint: &str,
) -> Result<(), ApiError> {
    let token = tokens::issue(
        c,
        ctx,
        tokens::Purpose::Confirm,
        subscription_arn,
        topic_arn,
    )?;
    let message = format!(
        "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
    );
    outbox::queue(
        c,
        ctx,
        &outbox::NewMessage {
            kind: MessageKind::SubscriptionConfirmation,
            topic_arn,
            subscription_arn,
            protocol,
            endpoint,
            subject: None,
            message: &message,
            token: Some(&token),
            attributes: None,
            alarm_name: None,
        },
    )
}

/// AWS's check that a parameter is at least shaped like an ARN.
fn check_arn(arn: &str, parameter: &str) -> Result<(), ApiError> {
    let parts = arn.split(':').count();
    if parts < 6 {
        return Err(ApiError::new(
            INVALID,
            format!(
                "Invalid parameter: {parameter} Reason: An ARN must have at least 6 elements, not {parts}"
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfirmSubscription {
    topic_arn: String,
    token: String,
    authenticate_on_unsubscribe: Option<String>,
}

/// ConfirmSubscription, through the signed API or the unsigned `SubscribeURL` link
/// (`caller`): only the former can ask that unsubscribing be authenticated.
fn confirm_subscription(
    c: &Connection,
    ctx: &Context,
    req: ConfirmSubscription,
    caller: Caller,
) -> Result<Value, ApiError> {
    check_arn(&req.topic_arn, "TopicArn")?;
    if !topic_exists(c, &req.topic_arn)? {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    }
    let arn = tokens::redeem(c, ctx, &req.token, &req.topic_arn)?;
    let authenticate = caller == Caller::Signed
        && req
            .authenticate_on_unsubscribe
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    c.execute(
        "UPDATE subscriptions SET confirmed = 1, authenticated = MAX(authenticated, ?2) WHERE arn = ?1",
        params![arn, authenticate],
    )
    .map_err(sql)?;
    Ok(json!({ "SubscriptionArn": arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListSubscriptionsByTopic {
    topic_arn: String,
    next_token: Option<String>,
}

fn list_subscriptions_by_topic(
    c: &Connection,
    ctx: &Context,
    req: ListSubscriptionsByTopic,
) -> Result<Value, ApiError> {
    check_arn(&req.topic_arn, "TopicArn")?;
    if !topic_exists(c, &req.topic_arn)? {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    }
    subscriptions_page(c, ctx, Some(&req.topic_arn), &req.next_token)
}

fn list_subscriptions(c: &Connection, ctx: &Context, req: Paged) -> Result<Value, ApiError> {
    subscriptions_page(c, ctx, None, &req.next_token)
}

/// A page of subscriptions, of one topic or of all.
fn subscriptions_page(
    c: &Connection,
    ctx: &Context,
    topic: Option<&str>,
    next_token: &Option<String>,
) -> Result<Value, ApiError> {
    let after = page_after(next_token)?;
    let mut rows = c
        .prepare(
            "SELECT arn, protocol, endpoint, confirmed, topic_arn FROM subscriptions
             WHERE (?1 IS NULL OR topic_arn = ?1) AND arn > ?2 ORDER BY arn LIMIT ?3",
        )
        .map_err(sql)?
        .query_map(params![topic, after, (PAGE + 1) as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut out = json!({});
    if rows.len() > PAGE {
        rows.truncate(PAGE);
        out["NextToken"] = json!(format!("a/{}", rows[PAGE - 1].0));
    }
    out["Subscriptions"] = rows
        .into_iter()
        .map(|(arn, protocol, endpoint, confirmed, topic_arn)| {
            json!({
                "SubscriptionArn": if confirmed { arn } else { "PendingConfirmation".to_owned() },
                "Owner": ctx.config.account_id,
                "Protocol": protocol,
                "Endpoint": endpoint,
                "TopicArn": topic_arn,
            })
        })
        .collect();
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Unsubscribe {
    subscription_arn: String,
}

/// Unsubscribe, through the signed API or the unsigned `UnsubscribeURL` link (`caller`).
fn unsubscribe(
    c: &Connection,
    ctx: &Context,
    req: Unsubscribe,
    caller: Caller,
) -> Result<Value, ApiError> {
    check_arn(&req.subscription_arn, "SubscriptionArn")?;
    let found: Option<(String, String, String, bool)> = c
        .query_row(
            "SELECT topic_arn, protocol, endpoint, authenticated FROM subscriptions WHERE arn = ?1",
            [&req.subscription_arn],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(sql)?;
    let Some((topic, protocol, endpoint, authenticated)) = found else {
        return Err(ApiError::new(NOT_FOUND, "Subscription does not exist"));
    };
    if authenticated && caller == Caller::Unsigned {
        return Err(ApiError::new(
            "AuthorizationErrorException",
            format!(
                "The subscription {} was confirmed with AuthenticateOnUnsubscribe: only a signed Unsubscribe request removes it.",
                req.subscription_arn
            ),
        ));
    }
    c.execute(
        "INSERT OR REPLACE INTO unsubscribed (arn, topic_arn, protocol, endpoint, token, attributes, authenticated)
         SELECT arn, topic_arn, protocol, endpoint, '', attributes, authenticated FROM subscriptions WHERE arn = ?1",
        [&req.subscription_arn],
    )
    .map_err(sql)?;
    c.execute(
        "DELETE FROM subscriptions WHERE arn = ?1",
        [&req.subscription_arn],
    )
    .map_err(sql)?;
    // Links of earlier confirmation messages stop working with the subscription.
    tokens::revoke(c, &req.subscription_arn)?;
    if matches!(protocol.as_str(), "http" | "https") {
        let token = tokens::issue(
            c,
            ctx,
            tokens::Purpose::Restore,
            &req.subscription_arn,
            &topic,
        )?;
        let message = format!(
            "You have chosen to deactivate subscription {}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
            req.subscription_arn
        );
        outbox::queue(
            c,
            ctx,
            &outbox::NewMessage {
                kind: MessageKind::UnsubscribeConfirmation,
                topic_arn: &topic,
                subscription_arn: &req.subscription_arn,
                protocol: &protocol,
                endpoint: &endpoint,
                subject: None,
                message: &message,
                token: Some(&token),
                attributes: None,
                alarm_name: None,
            },
        )?;
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Publish {
    topic_arn: Option<String>,
    target_arn: Option<String>,
    phone_number: Option<String>,
    message: String,
    subject: Option<String>,
    message_structure: Option<String>,
    #[serde(default)]
    message_attributes: BTreeMap<String, MessageAttributeValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MessageAttributeValue {
    data_type: String,
    string_value: Option<String>,
    /// Base64, as on the wire.
    binary_value: Option<String>,
}

/// SNS's limit of message attributes per message.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// Whether `text` is a number SNS accepts as a `Number` attribute: decimal notation, within
/// ±10^126 and no smaller in magnitude than 10^-128 unless zero.
fn sns_number(text: &str) -> bool {
    let notation = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    notation
        && text
            .parse::<f64>()
            .is_ok_and(|v| v.is_finite() && v.abs() <= 1e126 && (v == 0.0 || v.abs() >= 1e-128))
}

/// Checks a Publish's message attributes as SNS does and renders them as a Notification's
/// `MessageAttributes` object (`{"name":{"Type":"String","Value":"v"}}`); `None` without any.
/// Also returns the bytes they count towards the message size limit (names, types, values).
fn message_attributes(
    attributes: &BTreeMap<String, MessageAttributeValue>,
) -> Result<(Option<String>, usize), ApiError> {
    let invalid = |message: String| ApiError::new("InvalidParameterValueException", message);
    if attributes.is_empty() {
        return Ok((None, 0));
    }
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    let mut rendered = serde_json::Map::new();
    let mut size = 0;
    for (name, value) in attributes {
        let lower = name.to_ascii_lowercase();
        let valid_name = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.");
        if !valid_name {
            return Err(invalid(format!(
                "The message attribute name '{name}' is invalid: use 1 to 256 letters, digits, '_', '-' and '.', without a leading, trailing or repeated '.', and not starting with 'AWS.' or 'Amazon.'."
            )));
        }
        let kind = value.data_type.split('.').next().unwrap_or_default();
        let text = match kind {
            "String" | "Number" => value.string_value.as_deref(),
            "Binary" => value.binary_value.as_deref(),
            _ => {
                return Err(invalid(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                )));
            }
        };
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Err(invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{}'.",
                value.data_type
            )));
        };
        if kind == "Number" && !sns_number(text) {
            return Err(invalid(format!(
                "Could not cast message attribute '{name}' value to number."
            )));
        }
        if kind == "Binary"
            && base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_err()
        {
            return Err(invalid(format!(
                "The message attribute '{name}' has a binary value that is not base64."
            )));
        }
        size += name.len() + value.data_type.len() + text.len();
        if value.data_type == "String.Array"
            && !serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_array())
        {
            return Err(invalid(format!(
                "The message attribute '{name}' with type 'String.Array' must be a JSON array."
            )));
        }
        rendered.insert(
            name.clone(),
            json!({"Type": value.data_type, "Value": text}),
        );
    }
    Ok((Some(Value::Object(rendered).to_string()), size))
}

fn publish(c: &Connection, ctx: &Context, req: Publish) -> Result<Value, ApiError> {
    if req.phone_number.is_some() {
        return Err(ApiError::new(
            INVALID,
            "Invalid parameter: PhoneNumber Reason: SMS is not supported",
        ));
    }
    let Some(topic) = req.topic_arn.as_ref().or(req.target_arn.as_ref()) else {
        return Err(ApiError::new(
            INVALID,
            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
        ));
    };
    check_arn(topic, "TopicArn")?;
    if req.message.is_empty() {
        return Err(ApiError::new(INVALID, "Invalid parameter: Empty message"));
    }
    let (attributes, attributes_size) = message_attributes(&req.message_attributes)?;
    // The attributes' names, types and values count towards the limit.
    if req.message.len() + attributes_size > MAX_MESSAGE_BYTES {
        return Err(ApiError::new(
            INVALID,
            "Invalid parameter: Message too long",
        ));
    }
    if let Some(subject) = &req.subject
        && (subject.is_empty()
            || subject.chars().count() >= 100
            || subject.chars().any(char::is_control))
    {
        return Err(ApiError::new(INVALID, "Invalid parameter: Subject"));
    }
    let message = match req.message_structure.as_deref() {
        Some("json") => {
            let parsed: Value = serde_json::from_str(&req.message).map_err(|_| {
                ApiError::new(
                    INVALID,
                    "Invalid parameter: Message Structure - JSON message body failed to parse",
                )
            })?;
            let Some(default) = parsed.get("default").and_then(Value::as_str) else {
                return Err(ApiError::new(
                    INVALID,
                    "Invalid parameter: Message Structure - No default entry in JSON message body",
                ));
            };
            // Per-protocol entries (`http`, `https`) are chosen per subscription below.
            Some(parsed.clone()).map(|p| (default.to_owned(), p))
        }
        _ => None,
    };
    // SNS sends message attributes with String messages only, not with JSON ones.
    let attributes = attributes.filter(|_| message.is_none());
    if !topic_exists(c, topic)? {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    }
    let (default, per_protocol) = match &message {
        None => (req.message.as_str(), &Value::Null),
        Some((default, per_protocol)) => (default.as_str(), per_protocol),
    };
    let message_id = publish_structured(
        c,
        ctx,
        topic,
        req.subject.as_deref(),
        (default, per_protocol),
        attributes.as_deref(),
        None,
    )?;
    Ok(json!({ "MessageId": message_id }))
}

/// Publishes an alarm's notification to a topic inside the caller's transaction: one outbox
/// row per confirmed subscription, each remembering the alarm so that a delivery that fails
/// for good shows in its history. A topic that does not exist receives nothing (alarm
/// actions are not checked on AWS either). Returns the message id.
pub(crate) fn publish_for_alarm(
    c: &Connection,
    ctx: &Context,
    topic: &str,
    subject: Option<&str>,
    message: &str,
    alarm_name: &str,
) -> Result<String, ApiError> {
    publish_structured(
        c,
        ctx,
        topic,
        subject,
        (message, &Value::Null),
        None,
        Some(alarm_name),
    )
}

/// Queues a message for the topic's confirmed subscriptions: `default`, or the text
/// `per_protocol` (a `MessageStructure=json` message) gives for a subscription's protocol.
fn publish_structured(
    c: &Connection,
    ctx: &Context,
    topic: &str,
    subject: Option<&str>,
    (default, per_protocol): (&str, &Value),
    attributes: Option<&str>,
    alarm_name: Option<&str>,
) -> Result<String, ApiError> {
    let subscribers = c
        .prepare_cached(
            "SELECT arn, protocol, endpoint FROM subscriptions WHERE topic_arn = ?1 AND confirmed = 1",
        )
        .map_err(sql)?
        .query_map([topic], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let message_id = uuid::Uuid::new_v4().to_string();
    for (arn, protocol, endpoint) in subscribers {
        if !matches!(protocol.as_str(), "http" | "https") {
            // Other protocols are accepted but not delivered yet.
            continue;
        }
        let message = per_protocol
            .get(&protocol)
            .and_then(Value::as_str)
            .unwrap_or(default);
        outbox::queue_with_id(
            c,
            ctx,
            &message_id,
            &outbox::NewMessage {
                kind: MessageKind::Notification,
                topic_arn: topic,
                subscription_arn: &arn,
                protocol: &protocol,
                endpoint: &endpoint,
                subject,
                message,
                token: None,
                attributes,
                alarm_name,
            },
        )?;
    }
    Ok(message_id)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TopicRef {
    topic_arn: String,
}

/// Deleting a topic that does not exist succeeds, as on AWS; its subscriptions go with it.
fn delete_topic(c: &Connection, _: &Context, req: TopicRef) -> Result<Value, ApiError> {
    check_arn(&req.topic_arn, "TopicArn")?;
    c.execute("DELETE FROM topics WHERE arn = ?1", [&req.topic_arn])
        .map_err(sql)?;
    Ok(json!({}))
}

/// AWS's default topic policy: the owner may use the topic.
fn default_policy(ctx: &Context, arn: &str) -> String {
    let account = &ctx.config.account_id;
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                       "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }],
    })
    .to_string()
}

/// Checks a `DeliveryPolicy` attribute of a topic or a subscription as SNS does.
fn check_delivery_policy(text: &str, topic: bool) -> Result<(), ApiError> {
    let checked = if topic {
        delivery_policy::check_topic_policy(text)
    } else {
        delivery_policy::check_subscription_policy(text)
    };
    checked
        .map_err(|why| ApiError::new(INVALID, format!("Invalid parameter: DeliveryPolicy: {why}")))
}

fn topic_attributes(
    c: &Connection,
    arn: &str,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    let stored: Option<String> = c
        .query_row("SELECT attributes FROM topics WHERE arn = ?1", [arn], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    Ok(stored.map(|text| match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }))
}

fn get_topic_attributes(c: &Connection, ctx: &Context, req: TopicRef) -> Result<Value, ApiError> {
    check_arn(&req.topic_arn, "TopicArn")?;
    let Some(set) = topic_attributes(c, &req.topic_arn)? else {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    };
    let (confirmed, pending): (i64, i64) = c
        .query_row(
            "SELECT COALESCE(SUM(confirmed), 0), COALESCE(SUM(1 - confirmed), 0)
             FROM subscriptions WHERE topic_arn = ?1",
            [&req.topic_arn],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    let mut attributes = serde_json::Map::new();
    attributes.insert("TopicArn".into(), json!(req.topic_arn));
    attributes.insert("Owner".into(), json!(ctx.config.account_id));
    attributes.insert("DisplayName".into(), json!(""));
    attributes.insert("Policy".into(), json!(default_policy(ctx, &req.topic_arn)));
    attributes.insert(
        "EffectiveDeliveryPolicy".into(),
        json!(delivery_policy::topic_effective_json(
            set.get("DeliveryPolicy").and_then(Value::as_str)
        )),
    );
    attributes.insert(
        "SubscriptionsConfirmed".into(),
        json!(confirmed.to_string()),
    );
    attributes.insert("SubscriptionsPending".into(), json!(pending.to_string()));
    attributes.insert("SubscriptionsDeleted".into(), json!("0"));
    for (k, v) in set {
        attributes.insert(k, v);
    }
    Ok(json!({ "Attributes": attributes }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetAttribute {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    attribute_name: String,
    attribute_value: Option<String>,
}

/// The topic attributes SetTopicAttributes may change.
const TOPIC_ATTRIBUTES: [&str; 7] = [
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "SignatureVersion",
    "TracingConfig",
    "KmsMasterKeyId",
    "ContentBasedDeduplication",
];

fn set_topic_attributes(c: &Connection, _: &Context, req: SetAttribute) -> Result<Value, ApiError> {
    let arn = req.topic_arn.clone().unwrap_or_default();
    check_arn(&arn, "TopicArn")?;
    let name = req.attribute_name.as_str();
    if !TOPIC_ATTRIBUTES.contains(&name) {
        return Err(ApiError::new(INVALID, "Invalid parameter: AttributeName"));
    }
    let value = req.attribute_value.clone().unwrap_or_default();
    if name == "SignatureVersion" && !matches!(value.as_str(), "1" | "2") {
        return Err(ApiError::new(
            INVALID,
            "Invalid parameter: SignatureVersion",
        ));
    }
    if name == "DeliveryPolicy" {
        check_delivery_policy(&value, true)?;
    }
    if name == "Policy" && serde_json::from_str::<Value>(&value).is_err() {
        return Err(ApiError::new(
            INVALID,
            format!("Invalid parameter: {name}: failed to parse JSON."),
        ));
    }
    let Some(mut attributes) = topic_attributes(c, &arn)? else {
        return Err(ApiError::new(NOT_FOUND, "Topic does not exist"));
    };
    attributes.insert(name.to_owned(), json!(value));
    c.execute(
        "UPDATE topics SET attributes = ?2 WHERE arn = ?1",
        params![arn, Value::Object(attributes).to_string()],
    )
    .map_err(sql)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionRef {
    subscription_arn: String,
}

/// A subscription's stored row.
struct StoredSubscription {
    topic_arn: String,
    protocol: String,
    endpoint: String,
    confirmed: bool,
    /// `ConfirmationWasAuthenticated`.
    authenticated: bool,
    /// The attributes set on it, as a JSON object's text.
    attributes: String,
}

fn subscription(c: &Connection, arn: &str) -> Result<Option<StoredSubscription>, ApiError> {
    c.query_row(
        "SELECT topic_arn, protocol, endpoint, confirmed, authenticated, attributes
         FROM subscriptions WHERE arn = ?1",
        [arn],
        |r| {
            Ok(StoredSubscription {
                topic_arn: r.get(0)?,
                protocol: r.get(1)?,
                endpoint: r.get(2)?,
                confirmed: r.get(3)?,
                authenticated: r.get(4)?,
                attributes: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// An attribute set on a topic or subscription, from its attributes' JSON text.
fn attribute(set: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    set.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn get_subscription_attributes(
    c: &Connection,
    ctx: &Context,
    req: SubscriptionRef,
) -> Result<Value, ApiError> {
    check_arn(&req.subscription_arn, "SubscriptionArn")?;
    let Some(sub) = subscription(c, &req.subscription_arn)? else {
        return Err(ApiError::new(NOT_FOUND, "Subscription does not exist"));
    };
    let set = match serde_json::from_str::<Value>(&sub.attributes) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let topic_set = topic_attributes(c, &sub.topic_arn)?.unwrap_or_default();
    let effective = EffectivePolicy::of(
        attribute(&topic_set, "DeliveryPolicy").as_deref(),
        attribute(&set, "DeliveryPolicy").as_deref(),
    );
    let mut attributes = serde_json::Map::new();
    attributes.insert("SubscriptionArn".into(), json!(req.subscription_arn));
    attributes.insert("TopicArn".into(), json!(sub.topic_arn));
    attributes.insert("Owner".into(), json!(ctx.config.account_id));
    attributes.insert("Protocol".into(), json!(sub.protocol));
    attributes.insert("Endpoint".into(), json!(sub.endpoint));
    attributes.insert(
        "PendingConfirmation".into(),
        json!((!sub.confirmed).to_string()),
    );
    attributes.insert(
        "ConfirmationWasAuthenticated".into(),
        json!(sub.authenticated.to_string()),
    );
    attributes.insert("RawMessageDelivery".into(), json!("false"));
    attributes.insert(
        "EffectiveDeliveryPolicy".into(),
        json!(effective.subscription_json()),
    );
    for (k, v) in set {
        attributes.insert(k, v);
    }
    Ok(json!({ "Attributes": attributes }))
}

/// The subscription attributes SetSubscriptionAttributes may change.
const SUBSCRIPTION_ATTRIBUTES: [&str; 6] = [
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];

fn set_subscription_attributes(
    c: &Connection,
    _: &Context,
    req: SetAttribute,
) -> Result<Value, ApiError> {
    let arn = req.subscription_arn.clone().unwrap_or_default();
    check_arn(&arn, "SubscriptionArn")?;
    let name = req.attribute_name.as_str();
    if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
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
            if !value.is_empty() && serde_json::from_str::<Value>(&value).is_err() =>
        {
            return Err(ApiError::new(
                INVALID,
                format!("Invalid parameter: {name}: failed to parse JSON."),
            ));
        }
        _ => {}
    }
    let Some(sub) = subscription(c, &arn)? else {
        return Err(ApiError::new(NOT_FOUND, "Subscription does not exist"));
    };
    let mut attributes = match serde_json::from_str::<Value>(&sub.attributes) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    attributes.insert(name.to_owned(), json!(value));
    c.execute(
        "UPDATE subscriptions SET attributes = ?2 WHERE arn = ?1",
        params![arn, Value::Object(attributes).to_string()],
    )
    .map_err(sql)?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(data_type: &str, string: Option<&str>, binary: Option<&str>) -> Result<(), ApiError> {
        let value = MessageAttributeValue {
            data_type: data_type.to_owned(),
            string_value: string.map(str::to_owned),
            binary_value: binary.map(str::to_owned),
        };
        message_attributes(&BTreeMap::from([("a".to_owned(), value)])).map(drop)
    }

    #[test]
    fn attribute_values_are_checked_as_sns_checks_them() {
        assert!(one("Number", Some("1.5e3"), None).is_ok());
        assert!(one("Number", Some("-0"), None).is_ok());
        for bad in [" 5 ", "NaN", "inf", "1e200", "1e-200", "0x10"] {
            let err = one("Number", Some(bad), None).expect_err(bad);
            assert_eq!(err.code, "InvalidParameterValueException", "{bad}");
        }
        assert!(one("Binary", None, Some("AAE=")).is_ok());
        assert!(one("Binary", None, Some("not base64!")).is_err());
        assert!(one("String.Array", Some(r#"["a", 1]"#), None).is_ok());
        let err = one("String.Array", Some("a"), None).expect_err("not an array");
        assert!(err.message.contains("String.Array"), "{err:?}");
        let err = one("String.Array", Some(""), None).expect_err("empty");
        assert!(err.message.ends_with("type 'String.Array'."), "{err:?}");
    }
}
