//! Delivery of SNS messages to HTTP/S subscribers, byte-compatible with AWS.
//!
//! Endpoints written for real SNS check what they receive: the
//! `x-amz-sns-*` headers, the JSON envelope and its RSA signature, which they
//! verify against the certificate downloaded from `SigningCertURL`. This crate
//! produces all of that so trailwatch's subscribers (and SNS message
//! validators) cannot tell it from AWS:
//!
//! * [`SigningKey`]: the RSA 2048 key and self-signed certificate that sign
//!   messages, kept as PEM files and named like AWS's
//!   (`SimpleNotificationService-<hex>.pem`).
//! * [`Envelope`]: a `SubscriptionConfirmation`, `Notification` or
//!   `UnsubscribeConfirmation`, turned into the signed body by
//!   [`Envelope::to_signed_json`].
//! * [`deliver`]: one POST with SNS's headers and timeout, classified the way
//!   SNS does (2xx–4xx delivered; 5xx, connection errors and timeouts retried).
//! * [`RetryPolicy`]: when the next attempt is due, for the caller's outbox.
//!
//! The crate keeps no queue and no state: scheduling attempts and storing
//! pending deliveries belong to the caller.

mod delivery;
mod envelope;
mod error;
mod retry;
mod signing;

pub use delivery::{
    DELIVERY_CONTENT_TYPE, DELIVERY_TIMEOUT, DELIVERY_USER_AGENT, DeliveryHeaders, DeliveryOutcome,
    deliver, http_client,
};
pub use envelope::{
    Envelope, EnvelopeKind, MessageType, UnknownMessageType, format_timestamp, subscribe_message,
    subscribe_url, unsubscribe_message, unsubscribe_url,
};
pub use error::Error;
pub use reqwest::Client;
pub use retry::{BackoffFunction, RetryPolicy};
pub use signing::{CERTIFICATE_FILE, PRIVATE_KEY_FILE, SignatureVersion, SigningKey, verify};
