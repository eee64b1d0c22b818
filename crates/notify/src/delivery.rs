//! One POST of an envelope to an HTTP/S subscriber.

use std::error::Error as _;
use std::time::Duration;

use reqwest::Client;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
use reqwest::redirect::Policy;

use crate::{Envelope, Error, MessageType};

/// How long SNS waits for an endpoint's answer before counting the attempt failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// `User-Agent` of every SNS HTTP/S delivery.
pub const DELIVERY_USER_AGENT: &str = "Amazon Simple Notification Service Agent";
/// Default `Content-Type` of deliveries.
pub const DELIVERY_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";

/// The `x-amz-sns-*` headers of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryHeaders<'a> {
    /// `x-amz-sns-message-type`.
    pub message_type: MessageType,
    /// `x-amz-sns-message-id`: the envelope's `MessageId`, the same on retries.
    pub message_id: &'a str,
    /// `x-amz-sns-topic-arn`.
    pub topic_arn: &'a str,
    /// `x-amz-sns-subscription-arn`. Sent only with `Notification` and
    /// `UnsubscribeConfirmation`: AWS leaves it out of
    /// `SubscriptionConfirmation`, whose subscription does not exist yet.
    pub subscription_arn: Option<&'a str>,
    /// Adds `x-amz-sns-rawdelivery: true`, for a `RawMessageDelivery`
    /// subscription whose body is the bare `Message`.
    pub raw_delivery: bool,
}

impl<'a> DeliveryHeaders<'a> {
    /// Headers for delivering `envelope` (not raw) to `subscription_arn`.
    pub fn for_envelope(envelope: &Envelope<'a>, subscription_arn: Option<&'a str>) -> Self {
        DeliveryHeaders {
            message_type: envelope.message_type(),
            message_id: envelope.message_id,
            topic_arn: envelope.topic_arn,
            subscription_arn,
            raw_delivery: false,
        }
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The endpoint answered 200–499. AWS counts client errors as delivered
    /// too: retrying cannot fix an endpoint that rejects the message.
    Delivered {
        /// The HTTP status the endpoint answered.
        status: u16,
    },
    /// A 5xx answer, a connection error or a timeout: retry per the
    /// subscription's [`RetryPolicy`](crate::RetryPolicy).
    Failed {
        /// The HTTP status, when the endpoint answered at all.
        status: Option<u16>,
        /// What went wrong, for logs.
        error: String,
    },
    /// The request could not even be made (an endpoint that is not a valid
    /// URL, a header value with control characters): retrying gives the
    /// same result, so the delivery should be dropped or dead-lettered.
    Rejected {
        /// What was wrong, for logs.
        error: String,
    },
}

impl DeliveryOutcome {
    /// Whether the endpoint accepted the message (status 200–499).
    pub fn is_delivered(&self) -> bool {
        matches!(self, DeliveryOutcome::Delivered { .. })
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryOutcome::Failed { .. })
    }
}

/// A client set up for deliveries: rustls with the ring provider and the
/// platform's root certificates, no redirects (SNS judges the first answer;
/// a 3xx counts as delivered), and [`DELIVERY_TIMEOUT`].
///
/// reqwest is built here without a bundled crypto provider, so this installs
/// ring as the process-wide rustls default unless another provider already
/// is; build clients through this function rather than `Client::new()`.
pub fn http_client() -> Result<Client, Error> {
    // Err only means some provider is installed already, which is all reqwest needs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(Policy::none())
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .map_err(Error::HttpClient)
}

/// POSTs `body` to `endpoint` the way SNS does, within [`DELIVERY_TIMEOUT`].
pub async fn deliver(
    client: &Client,
    endpoint: &str,
    headers: DeliveryHeaders<'_>,
    body: String,
) -> DeliveryOutcome {
    let mut request = client
        .post(endpoint)
        .timeout(DELIVERY_TIMEOUT)
        .header(CONTENT_TYPE, DELIVERY_CONTENT_TYPE)
        .header("x-amz-sns-message-type", headers.message_type.as_str())
        .header("x-amz-sns-message-id", headers.message_id)
        .header("x-amz-sns-topic-arn", headers.topic_arn);
    if let Some(subscription_arn) = headers.subscription_arn
        && headers.message_type != MessageType::SubscriptionConfirmation
    {
        request = request.header("x-amz-sns-subscription-arn", subscription_arn);
    }
    if headers.raw_delivery {
        request = request.header("x-amz-sns-rawdelivery", "true");
    }
    let request = request
        .header(USER_AGENT, DELIVERY_USER_AGENT)
        .header(ACCEPT_ENCODING, "gzip,deflate")
        .body(body);

    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if (200..500).contains(&status.as_u16()) {
                DeliveryOutcome::Delivered {
                    status: status.as_u16(),
                }
            } else {
                DeliveryOutcome::Failed {
                    status: Some(status.as_u16()),
                    error: format!("endpoint answered HTTP {status}"),
                }
            }
        }
        Err(e) if e.is_builder() => DeliveryOutcome::Rejected {
            error: error_chain(&e),
        },
        Err(e) => DeliveryOutcome::Failed {
            status: None,
            error: error_chain(&e),
        },
    }
}

/// reqwest's own message only names the request; the cause (refused,
/// timed out, TLS failure) is further down the source chain.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
