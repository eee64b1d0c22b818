//! The JSON envelopes SNS POSTs to HTTP/S endpoints, and their signatures.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::{SignatureVersion, SigningKey};

/// `Type` of an envelope, also sent as the `x-amz-sns-message-type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Sent to an HTTP/S endpoint when it is subscribed.
    SubscriptionConfirmation,
    /// A published message.
    Notification,
    /// Sent to an HTTP/S endpoint when it is unsubscribed.
    UnsubscribeConfirmation,
}

impl MessageType {
    /// AWS's spelling, e.g. `"SubscriptionConfirmation"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::Notification => "Notification",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageType {
    type Err = UnknownMessageType;

    fn from_str(s: &str) -> Result<Self, UnknownMessageType> {
        match s {
            "SubscriptionConfirmation" => Ok(MessageType::SubscriptionConfirmation),
            "Notification" => Ok(MessageType::Notification),
            "UnsubscribeConfirmation" => Ok(MessageType::UnsubscribeConfirmation),
            _ => Err(UnknownMessageType),
        }
    }
}

/// The text was none of the three SNS message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an SNS message type")]
pub struct UnknownMessageType;

/// The fields that only some message types carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind<'a> {
    /// A `SubscriptionConfirmation`.
    SubscriptionConfirmation {
        /// `Token`: what ConfirmSubscription takes.
        token: &'a str,
        /// `SubscribeURL`: visiting it confirms the subscription.
        subscribe_url: &'a str,
    },
    /// An `UnsubscribeConfirmation`.
    UnsubscribeConfirmation {
        /// `Token`: what ConfirmSubscription takes to restore the subscription.
        token: &'a str,
        /// `SubscribeURL`: visiting it restores the subscription.
        subscribe_url: &'a str,
    },
    /// A `Notification`.
    Notification {
        /// `Subject`, left out of the body and the signature when `None`.
        subject: Option<&'a str>,
        /// `UnsubscribeURL`: visiting it deletes the subscription.
        unsubscribe_url: &'a str,
        /// `MessageAttributes`: the publisher's message attributes as a JSON object
        /// (`{"name":{"Type":"String","Value":"v"}}`), sent last and left out of the signature,
        /// as SNS does; absent when `None`.
        message_attributes: Option<&'a str>,
    },
}

/// One message to an HTTP/S endpoint, before signing.
///
/// [`Envelope::to_signed_json`] turns it into the exact body SNS sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The type and its own fields.
    pub kind: EnvelopeKind<'a>,
    /// `MessageId`: a UUID, the same on every retry of one delivery.
    pub message_id: &'a str,
    /// `TopicArn`.
    pub topic_arn: &'a str,
    /// `Message`: the published text, or the confirmation text from
    /// [`subscribe_message`] / [`unsubscribe_message`].
    pub message: &'a str,
    /// `Timestamp`, written with millisecond precision in UTC.
    pub timestamp: SystemTime,
    /// `SignatureVersion`, which also picks the signature's digest.
    pub signature_version: SignatureVersion,
    /// `SigningCertURL`: where validators fetch the certificate, ending in
    /// [`SigningKey::cert_file_name`].
    pub signing_cert_url: &'a str,
}

impl Envelope<'_> {
    /// The envelope's `Type`.
    pub fn message_type(&self) -> MessageType {
        match self.kind {
            EnvelopeKind::SubscriptionConfirmation { .. } => MessageType::SubscriptionConfirmation,
            EnvelopeKind::UnsubscribeConfirmation { .. } => MessageType::UnsubscribeConfirmation,
            EnvelopeKind::Notification { .. } => MessageType::Notification,
        }
    }

    /// The text the signature covers: `Key\nValue\n` for each signed field, in
    /// byte order of the keys, leaving out a `Subject` that is absent.
    pub fn string_to_sign(&self) -> String {
        self.string_to_sign_with(&format_timestamp(self.timestamp))
    }

    /// The signed JSON body, pretty-printed the way SNS does
    /// (`"Key" : "Value"`, two-space indent) with fields in AWS's order.
    pub fn to_signed_json(&self, key: &SigningKey) -> String {
        let timestamp = format_timestamp(self.timestamp);
        let signature = key.sign(
            self.signature_version,
            self.string_to_sign_with(&timestamp).as_bytes(),
        );
        let message_type = self.message_type().as_str();
        let version = self.signature_version.as_str();

        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(10);
        fields.push(("Type", message_type));
        fields.push(("MessageId", self.message_id));
        match self.kind {
            EnvelopeKind::SubscriptionConfirmation {
                token,
                subscribe_url,
            }
            | EnvelopeKind::UnsubscribeConfirmation {
                token,
                subscribe_url,
            } => {
                fields.push(("Token", token));
                fields.push(("TopicArn", self.topic_arn));
                fields.push(("Message", self.message));
                fields.push(("SubscribeURL", subscribe_url));
                fields.push(("Timestamp", &timestamp));
                fields.push(("SignatureVersion", version));
                fields.push(("Signature", &signature));
                fields.push(("SigningCertURL", self.signing_cert_url));
            }
            EnvelopeKind::Notification {
                subject,
                unsubscribe_url,
                ..
            } => {
                fields.push(("TopicArn", self.topic_arn));
                if let Some(subject) = subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Message", self.message));
                fields.push(("Timestamp", &timestamp));
                fields.push(("SignatureVersion", version));
                fields.push(("Signature", &signature));
                fields.push(("SigningCertURL", self.signing_cert_url));
                fields.push(("UnsubscribeURL", unsubscribe_url));
            }
        }
        let attributes = match self.kind {
            EnvelopeKind::Notification {
                message_attributes: Some(json),
                ..
            } => Some(("MessageAttributes", json)),
            _ => None,
        };
        pretty_json_object(&fields, attributes)
    }

    fn string_to_sign_with(&self, timestamp: &str) -> String {
        let mut text = String::new();
        for (key, value) in self.signed_fields(timestamp) {
            text.push_str(key);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
        text
    }

    /// Signed keys and values, already in the byte order of the keys that
    /// the signature format prescribes.
    fn signed_fields<'s>(&'s self, timestamp: &'s str) -> Vec<(&'static str, &'s str)> {
        let message_type = self.message_type().as_str();
        match self.kind {
            EnvelopeKind::SubscriptionConfirmation {
                token,
                subscribe_url,
            }
            | EnvelopeKind::UnsubscribeConfirmation {
                token,
                subscribe_url,
            } => vec![
                ("Message", self.message),
                ("MessageId", self.message_id),
                ("SubscribeURL", subscribe_url),
                ("Timestamp", timestamp),
                ("Token", token),
                ("TopicArn", self.topic_arn),
                ("Type", message_type),
            ],
            EnvelopeKind::Notification { subject, .. } => {
                let mut fields = vec![("Message", self.message), ("MessageId", self.message_id)];
                if let Some(subject) = subject {
                    fields.push(("Subject", subject));
                }
                fields.extend([
                    ("Timestamp", timestamp),
                    ("TopicArn", self.topic_arn),
                    ("Type", message_type),
                ]);
                fields
            }
        }
    }
}

/// The text a received message's signature covers, from its JSON body: the signed keys of its
/// `Type`, in SNS's order, each as `Key\nValue\n` (`Subject` only when the message has one).
/// What a subscriber checks before trusting a message; an error names what is missing.
pub fn received_string_to_sign(message: &serde_json::Value) -> Result<String, String> {
    let kind = message["Type"].as_str().ok_or("the message has no Type")?;
    let keys: &[&str] = match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        other => return Err(format!("{other:?} is not a Type of SNS messages")),
    };
    let mut text = String::new();
    for key in keys {
        let value = match &message[*key] {
            serde_json::Value::String(v) => v,
            serde_json::Value::Null if *key == "Subject" => continue,
            _ => return Err(format!("the message has no {key}")),
        };
        text.push_str(key);
        text.push('\n');
        text.push_str(value);
        text.push('\n');
    }
    Ok(text)
}

/// `Message` of a `SubscriptionConfirmation` for `topic_arn`.
pub fn subscribe_message(topic_arn: &str) -> String {
    format!(
        "You have chosen to subscribe to the topic {topic_arn}.\n\
         To confirm the subscription, visit the SubscribeURL included in this message."
    )
}

/// `Message` of an `UnsubscribeConfirmation` for `subscription_arn`.
pub fn unsubscribe_message(subscription_arn: &str) -> String {
    format!(
        "You have chosen to deactivate subscription {subscription_arn}.\n\
         To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
    )
}

/// `SubscribeURL`: `<service_url>/?Action=ConfirmSubscription&TopicArn=<arn>&Token=<token>`,
/// where `service_url` is the SNS endpoint as clients reach it
/// (`https://sns.us-east-1.amazonaws.com` on AWS).
///
/// ARNs and tokens only hold characters that are legal in a query, so like
/// AWS this does not percent-encode them.
pub fn subscribe_url(service_url: &str, topic_arn: &str, token: &str) -> String {
    format!(
        "{}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
        service_url.trim_end_matches('/')
    )
}

/// `UnsubscribeURL`: `<service_url>/?Action=Unsubscribe&SubscriptionArn=<arn>`.
pub fn unsubscribe_url(service_url: &str, subscription_arn: &str) -> String {
    format!(
        "{}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
        service_url.trim_end_matches('/')
    )
}

/// `Timestamp` text: UTC with milliseconds, e.g. `2012-05-02T00:54:06.655Z`.
///
/// Panics for times outside the years -9999..=9999, which no clock produces.
pub fn format_timestamp(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// SNS's layout: one member per line. String members, then `raw`, a member whose value is
/// JSON text already.
fn pretty_json_object(fields: &[(&str, &str)], raw: Option<(&str, &str)>) -> String {
    let mut out = String::from("{\n");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str("  ");
        push_json_string(&mut out, key);
        out.push_str(" : ");
        push_json_string(&mut out, value);
    }
    if let Some((key, json)) = raw {
        out.push_str(",\n  ");
        push_json_string(&mut out, key);
        out.push_str(" : ");
        out.push_str(json);
    }
    out.push_str("\n}");
    out
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamp_has_milliseconds_and_z() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_335_920_046_655);
        assert_eq!(format_timestamp(at), "2012-05-02T00:54:06.655Z");
        assert_eq!(
            format_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn a_received_message_is_checked_over_what_was_signed() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_335_920_046_655);
        for subject in [None, Some("ALARM: \"x\"")] {
            let envelope = Envelope {
                kind: EnvelopeKind::Notification {
                    subject,
                    unsubscribe_url: "http://h/?Action=Unsubscribe",
                    message_attributes: None,
                },
                message_id: "id-1",
                topic_arn: "arn:aws:sns:us-east-1:1:t",
                message: "hello\nworld",
                timestamp: at,
                signature_version: SignatureVersion::V1,
                signing_cert_url: "http://h/c.pem",
            };
            let mut received = serde_json::json!({
                "Type": "Notification",
                "MessageId": "id-1",
                "TopicArn": "arn:aws:sns:us-east-1:1:t",
                "Message": "hello\nworld",
                "Timestamp": format_timestamp(at),
                "UnsubscribeURL": "http://h/?Action=Unsubscribe",
            });
            if let Some(subject) = subject {
                received["Subject"] = subject.into();
            }
            assert_eq!(
                received_string_to_sign(&received),
                Ok(envelope.string_to_sign())
            );
        }
        let confirmation = serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "m"});
        assert_eq!(
            received_string_to_sign(&confirmation),
            Err("the message has no MessageId".to_owned())
        );
        let odd = serde_json::json!({"Type": "Gossip"});
        assert_eq!(
            received_string_to_sign(&odd),
            Err("\"Gossip\" is not a Type of SNS messages".to_owned())
        );
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é/");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é/""#);
    }

    #[test]
    fn confirmation_urls_follow_aws_shape() {
        assert_eq!(
            subscribe_url(
                "https://sns.us-east-1.amazonaws.com/",
                "arn:aws:sns:us-east-1:123456789012:t",
                "abc"
            ),
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:t&Token=abc"
        );
        assert_eq!(
            unsubscribe_url("http://localhost:4566", "arn:aws:sns:us-east-1:1:t:id"),
            "http://localhost:4566/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:1:t:id"
        );
    }
}
