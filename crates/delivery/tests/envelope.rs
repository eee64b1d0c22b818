//! Envelope bodies and the strings their signatures cover.

use std::time::{Duration, SystemTime};

use delivery::{
    Envelope, EnvelopeKind, MessageType, SignatureVersion, SigningKey, subscribe_message,
    unsubscribe_message, verify,
};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alarms";
const SUBSCRIPTION: &str = "arn:aws:sns:us-east-1:123456789012:alarms:0b1c2d3e";
const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem";
const SUBSCRIBE_URL: &str = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:alarms&Token=2336412f37";
const UNSUBSCRIBE_URL: &str = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:alarms:0b1c2d3e";

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_335_920_046_655)
}

fn notification<'a>(subject: Option<&'a str>, message: &'a str) -> Envelope<'a> {
    Envelope {
        kind: EnvelopeKind::Notification {
            subject,
            unsubscribe_url: UNSUBSCRIBE_URL,
            message_attributes: None,
        },
        message_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        topic_arn: TOPIC,
        message,
        timestamp: at(),
        signature_version: SignatureVersion::V1,
        signing_cert_url: CERT_URL,
    }
}

#[test]
fn notification_string_to_sign_with_subject() {
    let envelope = notification(Some("ALARM: cpu"), "line one\nline two");
    assert_eq!(
        envelope.string_to_sign(),
        "Message\nline one\nline two\n\
         MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n\
         Subject\nALARM: cpu\n\
         Timestamp\n2012-05-02T00:54:06.655Z\n\
         TopicArn\narn:aws:sns:us-east-1:123456789012:alarms\n\
         Type\nNotification\n"
    );
}

#[test]
fn notification_string_to_sign_without_subject() {
    let envelope = notification(None, "hello");
    assert_eq!(
        envelope.string_to_sign(),
        "Message\nhello\n\
         MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n\
         Timestamp\n2012-05-02T00:54:06.655Z\n\
         TopicArn\narn:aws:sns:us-east-1:123456789012:alarms\n\
         Type\nNotification\n"
    );
}

#[test]
fn confirmation_strings_to_sign() {
    let message = subscribe_message(TOPIC);
    let mut envelope = Envelope {
        kind: EnvelopeKind::SubscriptionConfirmation {
            token: "2336412f37",
            subscribe_url: SUBSCRIBE_URL,
        },
        message_id: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        topic_arn: TOPIC,
        message: &message,
        timestamp: at(),
        signature_version: SignatureVersion::V2,
        signing_cert_url: CERT_URL,
    };
    let expected = |kind: &str, message: &str| {
        format!(
            "Message\n{message}\n\
             MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n\
             SubscribeURL\n{SUBSCRIBE_URL}\n\
             Timestamp\n2012-05-02T00:54:06.655Z\n\
             Token\n2336412f37\n\
             TopicArn\n{TOPIC}\n\
             Type\n{kind}\n"
        )
    };
    assert_eq!(
        envelope.string_to_sign(),
        expected("SubscriptionConfirmation", &message)
    );

    let message = unsubscribe_message(SUBSCRIPTION);
    envelope.kind = EnvelopeKind::UnsubscribeConfirmation {
        token: "2336412f37",
        subscribe_url: SUBSCRIBE_URL,
    };
    envelope.message = &message;
    assert_eq!(
        envelope.message_type(),
        MessageType::UnsubscribeConfirmation
    );
    assert_eq!(
        envelope.string_to_sign(),
        expected("UnsubscribeConfirmation", &message)
    );
}

#[test]
fn confirmation_messages_are_aws_text() {
    assert_eq!(
        subscribe_message(TOPIC),
        "You have chosen to subscribe to the topic arn:aws:sns:us-east-1:123456789012:alarms.\n\
         To confirm the subscription, visit the SubscribeURL included in this message."
    );
    assert_eq!(
        unsubscribe_message(SUBSCRIPTION),
        "You have chosen to deactivate subscription arn:aws:sns:us-east-1:123456789012:alarms:0b1c2d3e.\n\
         To cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
    );
}

/// Field names of a pretty-printed body, in order, and checks the AWS layout.
fn keys_in_order(body: &str) -> Vec<String> {
    assert!(body.starts_with("{\n  \"Type\" : \""), "{body}");
    assert!(body.ends_with("\"\n}"), "{body}");
    body.lines()
        .skip(1)
        .filter(|line| *line != "}")
        .map(|line| {
            let key = line
                .strip_prefix("  \"")
                .and_then(|rest| rest.split_once("\" : \""))
                .map(|(key, _)| key.to_owned());
            key.unwrap_or_else(|| panic!("line {line:?} is not `  \"Key\" : \"Value\"`"))
        })
        .collect()
}

/// Rebuilds the string to sign from the received JSON, as validators do.
fn validator_string_to_sign(body: &serde_json::Value, keys: &[&str]) -> String {
    let mut text = String::new();
    for key in keys {
        if let Some(value) = body.get(*key).and_then(|v| v.as_str()) {
            text.push_str(&format!("{key}\n{value}\n"));
        }
    }
    text
}

#[test]
fn signed_bodies_have_aws_field_order_and_verify() {
    let key = SigningKey::generate().expect("key generation");

    for subject in [Some("ALARM: \"cpu\" high"), None] {
        let envelope = notification(subject, "{\"AlarmName\":\"cpu\"}\n\ttabbed");
        let body = envelope.to_signed_json(&key);
        let mut expected = vec!["Type", "MessageId", "TopicArn"];
        if subject.is_some() {
            expected.push("Subject");
        }
        expected.extend([
            "Message",
            "Timestamp",
            "SignatureVersion",
            "Signature",
            "SigningCertURL",
            "UnsubscribeURL",
        ]);
        assert_eq!(keys_in_order(&body), expected);

        let json: serde_json::Value = serde_json::from_str(&body).expect("body is JSON");
        assert_eq!(json["Type"], "Notification");
        assert_eq!(json["Message"], "{\"AlarmName\":\"cpu\"}\n\ttabbed");
        assert_eq!(json["Timestamp"], "2012-05-02T00:54:06.655Z");
        assert_eq!(json["SignatureVersion"], "1");
        assert_eq!(json["SigningCertURL"], CERT_URL);
        assert_eq!(json["UnsubscribeURL"], UNSUBSCRIBE_URL);
        assert_eq!(json.get("Subject").and_then(|s| s.as_str()), subject);

        let signed = validator_string_to_sign(
            &json,
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ],
        );
        assert_eq!(signed, envelope.string_to_sign());
        assert_signature(&key, SignatureVersion::V1, &json, &signed);
    }

    let message = subscribe_message(TOPIC);
    let envelope = Envelope {
        kind: EnvelopeKind::SubscriptionConfirmation {
            token: "2336412f37",
            subscribe_url: SUBSCRIBE_URL,
        },
        message_id: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        topic_arn: TOPIC,
        message: &message,
        timestamp: at(),
        signature_version: SignatureVersion::V2,
        signing_cert_url: CERT_URL,
    };
    let body = envelope.to_signed_json(&key);
    assert_eq!(
        keys_in_order(&body),
        [
            "Type",
            "MessageId",
            "Token",
            "TopicArn",
            "Message",
            "SubscribeURL",
            "Timestamp",
            "SignatureVersion",
            "Signature",
            "SigningCertURL",
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("body is JSON");
    assert_eq!(json["Type"], "SubscriptionConfirmation");
    assert_eq!(json["SignatureVersion"], "2");
    assert_eq!(json["Message"], message.as_str());
    let signed = validator_string_to_sign(
        &json,
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    );
    assert_signature(&key, SignatureVersion::V2, &json, &signed);
}

#[test]
fn message_attributes_come_last_and_stay_out_of_the_signature() {
    let key = SigningKey::generate().expect("key");
    let plain = notification(None, "hello");
    let mut with = plain;
    with.kind = EnvelopeKind::Notification {
        subject: None,
        unsubscribe_url: UNSUBSCRIBE_URL,
        message_attributes: Some(r#"{"team":{"Type":"String","Value":"security"}}"#),
    };
    assert_eq!(with.string_to_sign(), plain.string_to_sign());
    let body = with.to_signed_json(&key);
    assert!(
        body.ends_with(
            ",\n  \"MessageAttributes\" : {\"team\":{\"Type\":\"String\",\"Value\":\"security\"}}\n}"
        ),
        "{body}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(parsed["MessageAttributes"]["team"]["Value"], "security");
    assert_signature(&key, SignatureVersion::V1, &parsed, &plain.string_to_sign());
}

/// The body's `Signature` verifies over `signed` with the key's certificate.
fn assert_signature(
    key: &SigningKey,
    version: SignatureVersion,
    body: &serde_json::Value,
    signed: &str,
) {
    let signature = body["Signature"].as_str().expect("Signature is a string");
    let checked = verify(key.cert_pem(), version, signed.as_bytes(), signature);
    assert!(checked.is_ok(), "{checked:?}");
}
