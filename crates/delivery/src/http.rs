//! One POST of an envelope to an HTTP/S subscriber, to an address the endpoint policy allows.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use engine::endpoint::EndpointPolicy;
use reqwest::Client;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
use reqwest::redirect::Policy;

use crate::{Envelope, Error, MessageType};

/// How long SNS waits for an endpoint's answer before counting the attempt failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take, within [`DELIVERY_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per endpoint server, and for how long: enough to reuse a
/// connection between the messages of a burst without holding file descriptors for
/// endpoints that receive one message a day.
const IDLE_PER_HOST: usize = 2;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// The `Content-Type` a delivery policy's `requestPolicy` asks for, instead of
    /// [`DELIVERY_CONTENT_TYPE`].
    pub content_type: Option<&'a str>,
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
            content_type: None,
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
    /// URL, a header value with control characters, an address the endpoint
    /// policy refuses): retrying gives the same result, so the delivery
    /// should be dropped or dead-lettered.
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
/// a 3xx counts as delivered), no proxy, [`DELIVERY_TIMEOUT`], and a name
/// resolver that hands out only the addresses `policy` allows, so that the
/// address checked is the address connected to.
///
/// reqwest is built here without a bundled crypto provider, so this installs
/// ring as the process-wide rustls default unless another provider already
/// is; build clients through this function rather than `Client::new()`.
pub fn http_client(policy: Arc<EndpointPolicy>) -> Result<Client, Error> {
    // Err only means some provider is installed already, which is all reqwest needs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .dns_resolver(Arc::new(CheckedResolver { policy }))
        .build()
        .map_err(Error::HttpClient)
}

/// Resolves endpoint host names with the system resolver and keeps the addresses the
/// endpoint policy allows; an error when none is left.
struct CheckedResolver {
    policy: Arc<EndpointPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let refused = |why: String| Box::new(Refused(why)) as BoxError;
            policy.check_host(&host).map_err(refused)?;
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_address(Some(&host), a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusals.push(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusals
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| format!("{host} has no address"));
                return Err(refused(why));
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An endpoint the policy refuses to contact.
#[derive(Debug, thiserror::Error)]
#[error("refused by the endpoint policy: {0}")]
struct Refused(String);

/// The endpoint's address when its URL gives one literally (the resolver never sees those).
fn literal_address(endpoint: &str) -> Option<IpAddr> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// POSTs `body` to `endpoint` the way SNS does, within [`DELIVERY_TIMEOUT`], unless `policy`
/// refuses its address.
pub async fn deliver(
    client: &Client,
    policy: &EndpointPolicy,
    endpoint: &str,
    headers: DeliveryHeaders<'_>,
    body: String,
) -> DeliveryOutcome {
    if let Some(ip) = literal_address(endpoint)
        && let Err(why) = policy.check_address(None, ip)
    {
        return DeliveryOutcome::Rejected {
            error: format!("refused by the endpoint policy: {why}"),
        };
    }
    let content_type = headers.content_type.unwrap_or(DELIVERY_CONTENT_TYPE);
    let mut request = client
        .post(endpoint)
        .timeout(DELIVERY_TIMEOUT)
        .header(CONTENT_TYPE, content_type)
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
        Err(e) if refused(&e) => DeliveryOutcome::Rejected {
            error: error_chain(&e),
        },
        Err(e) => DeliveryOutcome::Failed {
            status: None,
            error: error_chain(&e),
        },
    }
}

/// Whether the endpoint policy refused every address of the endpoint's name: no retry
/// changes that (a name that later resolves elsewhere is the rebinding the check is for).
fn refused(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return true;
        }
        source = cause.source();
    }
    false
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
