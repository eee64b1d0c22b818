//! Deliveries against a loopback HTTP server that records what it receives.

use std::collections::HashMap;

use std::sync::Arc;

use delivery::{DeliveryHeaders, DeliveryOutcome, MessageType, deliver, http_client};
use engine::endpoint::{EndpointPolicy, EndpointRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alarms";
const SUBSCRIPTION: &str = "arn:aws:sns:us-east-1:123456789012:alarms:0b1c2d3e";

struct Received {
    request_line: String,
    /// Header names lower-cased.
    headers: HashMap<String, String>,
    body: String,
}

/// Serves one request, answering `status`, and hands back what it received.
async fn one_shot_server(status: &'static str) -> (String, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!(
        "http://{}/sns/endpoint",
        listener.local_addr().expect("addr")
    );
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let header_end = loop {
            let n = stream.read(&mut buf).await.expect("read request");
            assert!(n > 0, "connection closed before the headers ended");
            data.extend_from_slice(&buf[..n]);
            if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
        };
        let head = String::from_utf8(data[..header_end].to_vec()).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let request_line = lines.next().expect("request line").to_owned();
        let headers: HashMap<String, String> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').expect("header line");
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .get("content-length")
            .expect("content-length")
            .parse()
            .expect("numeric content-length");
        let mut body = data[header_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buf).await.expect("read body");
            assert!(n > 0, "connection closed inside the body");
            body.extend_from_slice(&buf[..n]);
        }
        let response =
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        stream
            .write_all(response.as_bytes())
            .await
            .expect("write response");
        Received {
            request_line,
            headers,
            body: String::from_utf8(body).expect("UTF-8 body"),
        }
    });
    (url, handle)
}

fn headers(message_type: MessageType) -> DeliveryHeaders<'static> {
    DeliveryHeaders {
        message_type,
        message_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        topic_arn: TOPIC,
        subscription_arn: Some(SUBSCRIPTION),
        raw_delivery: false,
        content_type: None,
    }
}

/// The delivery client under the default endpoint policy.
fn client() -> reqwest::Client {
    http_client(Arc::new(EndpointPolicy::default())).expect("client")
}

#[tokio::test]
async fn notification_is_posted_with_sns_headers() {
    let client = client();
    let (url, server) = one_shot_server("200 OK").await;
    let body = "{\n  \"Type\" : \"Notification\"\n}".to_owned();
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        headers(MessageType::Notification),
        body.clone(),
    )
    .await;
    assert_eq!(outcome, DeliveryOutcome::Delivered { status: 200 });
    assert!(outcome.is_delivered() && !outcome.is_retryable());

    let received = server.await.expect("server task");
    assert_eq!(received.request_line, "POST /sns/endpoint HTTP/1.1");
    assert_eq!(received.body, body);
    let h = &received.headers;
    assert_eq!(h["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(h["x-amz-sns-message-type"], "Notification");
    assert_eq!(
        h["x-amz-sns-message-id"],
        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    );
    assert_eq!(h["x-amz-sns-topic-arn"], TOPIC);
    assert_eq!(h["x-amz-sns-subscription-arn"], SUBSCRIPTION);
    assert_eq!(h["user-agent"], "Amazon Simple Notification Service Agent");
    assert_eq!(h["accept-encoding"], "gzip,deflate");
    assert!(!h.contains_key("x-amz-sns-rawdelivery"));
}

#[tokio::test]
async fn subscription_confirmation_has_no_subscription_arn_header() {
    let client = client();
    let (url, server) = one_shot_server("204 No Content").await;
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        headers(MessageType::SubscriptionConfirmation),
        "{}".to_owned(),
    )
    .await;
    assert_eq!(outcome, DeliveryOutcome::Delivered { status: 204 });
    let received = server.await.expect("server task");
    assert_eq!(
        received.headers["x-amz-sns-message-type"],
        "SubscriptionConfirmation"
    );
    assert!(!received.headers.contains_key("x-amz-sns-subscription-arn"));
}

#[tokio::test]
async fn unsubscribe_confirmation_and_raw_delivery_headers() {
    let client = client();
    let (url, server) = one_shot_server("200 OK").await;
    let mut h = headers(MessageType::UnsubscribeConfirmation);
    h.raw_delivery = true;
    deliver(&client, &EndpointPolicy::default(), &url, h, "x".to_owned()).await;
    let received = server.await.expect("server task");
    assert_eq!(received.headers["x-amz-sns-subscription-arn"], SUBSCRIPTION);
    assert_eq!(received.headers["x-amz-sns-rawdelivery"], "true");
}

#[tokio::test]
async fn server_error_is_a_retryable_failure() {
    let client = client();
    let (url, server) = one_shot_server("500 Internal Server Error").await;
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    server.await.expect("server task");
    assert!(outcome.is_retryable(), "{outcome:?}");
    match outcome {
        DeliveryOutcome::Failed { status, error } => {
            assert_eq!(status, Some(500));
            assert!(error.contains("500"), "{error}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn client_error_counts_as_delivered() {
    let client = client();
    let (url, server) = one_shot_server("404 Not Found").await;
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    server.await.expect("server task");
    assert_eq!(outcome, DeliveryOutcome::Delivered { status: 404 });
}

#[tokio::test]
async fn refused_connection_is_a_retryable_failure() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    drop(listener);
    let client = client();
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    match outcome {
        DeliveryOutcome::Failed {
            status: None,
            error,
        } => {
            assert!(!error.is_empty());
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_endpoint_is_rejected_not_retried() {
    let client = client();
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        "not a url",
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    assert!(
        matches!(outcome, DeliveryOutcome::Rejected { .. }),
        "{outcome:?}"
    );
    assert!(!outcome.is_retryable());
}

#[tokio::test]
async fn request_policy_sets_the_content_type() {
    let client = client();
    let (url, server) = one_shot_server("200 OK").await;
    let mut h = headers(MessageType::Notification);
    h.content_type = Some("application/json");
    deliver(
        &client,
        &EndpointPolicy::default(),
        &url,
        h,
        "{}".to_owned(),
    )
    .await;
    let received = server.await.expect("server task");
    assert_eq!(received.headers["content-type"], "application/json");
}

#[tokio::test]
async fn metadata_address_is_never_contacted() {
    let client = client();
    let outcome = deliver(
        &client,
        &EndpointPolicy::default(),
        "http://2852039166/latest/meta-data/iam/security-credentials/",
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    match outcome {
        DeliveryOutcome::Rejected { error } => {
            assert!(error.contains("169.254.169.254"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn denied_addresses_are_checked_after_name_resolution() {
    // `localhost` resolves to loopback addresses, which this policy denies: the name passes
    // the host rules, its addresses do not, and the server is never contacted.
    let policy = EndpointPolicy {
        allow: Vec::new(),
        deny: vec![
            "127.0.0.0/8".parse::<EndpointRule>().expect("rule"),
            "::1".parse::<EndpointRule>().expect("rule"),
        ],
    };
    let client = http_client(Arc::new(policy.clone())).expect("client");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let outcome = deliver(
        &client,
        &policy,
        &format!("http://localhost:{port}/hook"),
        headers(MessageType::Notification),
        "x".to_owned(),
    )
    .await;
    match &outcome {
        DeliveryOutcome::Rejected { error } => assert!(error.contains("denied"), "{error}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the endpoint was contacted");
}
