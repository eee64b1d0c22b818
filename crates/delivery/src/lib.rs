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
//!   SNS does (2xx–4xx delivered; 5xx, connection errors and timeouts retried),
//!   only to addresses the endpoint policy allows.
//! * [`Worker`]: the outbox worker, which delivers what the engine queues,
//!   each message one attempt at a time, each endpoint server in its own
//!   queue, retried under the subscription's delivery policy.

mod envelope;
mod error;
mod http;
mod signing;
mod worker;

pub use engine::delivery_policy::{BackoffFunction, RetryPolicy};
pub use envelope::{
    Envelope, EnvelopeKind, MessageType, UnknownMessageType, format_timestamp,
    received_string_to_sign, subscribe_message, subscribe_url, unsubscribe_message,
    unsubscribe_url,
};
pub use error::Error;
pub use http::{
    DELIVERY_CONTENT_TYPE, DELIVERY_TIMEOUT, DELIVERY_USER_AGENT, DeliveryHeaders, DeliveryOutcome,
    deliver, http_client,
};
pub use reqwest::Client;
pub use signing::{CERTIFICATE_FILE, PRIVATE_KEY_FILE, SignatureVersion, SigningKey, verify};
pub use worker::{Worker, WorkerLimits};
