//! Publish: SNS's checks of a message and its attributes, and its fan-out into the outbox,
//! one row per confirmed subscription; alarms publish through [`publish_for_alarm`].

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::api::*;
use super::outbox::{self, MessageKind};
use super::{INVALID, authorize, topic_not_found};
use crate::error::SnsException;
use crate::store::Tx;
use crate::{ApiError, Context};

/// SNS's limit on a message: 256 KiB of UTF-8.
const MAX_MESSAGE_BYTES: usize = 262_144;

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
    let invalid =
        |message: String| ApiError::new(SnsException::InvalidParameterValueException, message);
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

pub(super) fn publish(
    tx: &mut dyn Tx,
    ctx: &Context,
    req: PublishRequest,
) -> Result<PublishResponse, ApiError> {
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
    authorize(tx, topic, "TopicArn", "Publish")?;
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
    if tx.topic(topic)?.is_none() {
        return Err(topic_not_found());
    }
    let (default, per_protocol) = match &message {
        None => (req.message.as_str(), &Value::Null),
        Some((default, per_protocol)) => (default.as_str(), per_protocol),
    };
    let message_id = publish_structured(
        tx,
        ctx,
        topic,
        req.subject.as_deref(),
        (default, per_protocol),
        attributes.as_deref(),
        None,
    )?;
    Ok(PublishResponse { message_id })
}

/// Publishes an alarm's notification to a topic inside the caller's transaction: one outbox
/// row per confirmed subscription, each remembering the alarm so that a delivery that fails
/// for good shows in its history. A topic that does not exist receives nothing (alarm
/// actions are not checked on AWS either). Returns the message id.
pub(crate) fn publish_for_alarm(
    tx: &mut dyn Tx,
    ctx: &Context,
    topic: &str,
    subject: Option<&str>,
    message: &str,
    alarm_name: &str,
) -> Result<String, ApiError> {
    publish_structured(
        tx,
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
    tx: &mut dyn Tx,
    ctx: &Context,
    topic: &str,
    subject: Option<&str>,
    (default, per_protocol): (&str, &Value),
    attributes: Option<&str>,
    alarm_name: Option<&str>,
) -> Result<String, ApiError> {
    let message_id = uuid::Uuid::new_v4().to_string();
    // An alarm publishes from its own scope, which its failed deliveries go back to.
    let alarm_scope = alarm_name.map(|_| tx.scope().clone());
    for subscription in tx.confirmed_subscriptions(topic)? {
        let protocol = subscription.protocol.as_str();
        if !matches!(protocol, "http" | "https") {
            // Other protocols are accepted but not delivered yet.
            continue;
        }
        let message = per_protocol
            .get(protocol)
            .and_then(Value::as_str)
            .unwrap_or(default);
        outbox::queue(
            tx,
            ctx,
            &outbox::NewMessage {
                kind: MessageKind::Notification,
                message_id: &message_id,
                topic_arn: topic,
                subscription_arn: &subscription.arn,
                protocol,
                endpoint: &subscription.endpoint,
                subject,
                message,
                token: None,
                attributes,
                alarm_name,
                alarm_scope: alarm_scope.as_ref(),
            },
        )?;
    }
    Ok(message_id)
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
            assert_eq!(
                err.code,
                SnsException::InvalidParameterValueException.into(),
                "{bad}"
            );
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
