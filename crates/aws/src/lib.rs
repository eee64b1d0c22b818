//! The AWS wire: CloudWatch Logs over awsJson1_1, CloudWatch over awsJson1_0, rpcv2Cbor and
//! awsQuery, SNS over awsQuery, all on one HTTP listener; SigV4 verification; AWS's error
//! codes; dispatch into the engine.
//!
//! Requests are told apart as AWS's own front ends do (reference §1.2): the rpcv2Cbor path,
//! then `X-Amz-Target`, then form bodies by their `Version`. The service models decide how each
//! operation's input is read and its output written (see [`codec`]), and how an error shape
//! becomes a code and an HTTP status per protocol.
//!
//! ```no_run
//! # async fn demo(engine: std::sync::Arc<engine::Engine>) -> Result<(), Box<dyn std::error::Error>> {
//! let state = aws::State::new(engine, aws::Auth::None, None);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4566").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! aws::server::serve(listener, aws::router(state), Default::default(), shutdown).await?;
//! # Ok(()) }
//! ```

pub mod codec;
mod dispatch;
pub mod model;
mod operator;
pub mod server;
pub mod sigv4;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use engine::{ApiError, Engine};
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::codec::InputError;
use crate::model::Service;

/// The largest request body accepted. PutLogEvents allows 1 MiB of messages, which JSON
/// escaping can roughly double; anything larger is not a valid request of these services.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The longest a request body may take in all, however steadily it arrives.
const BODY_DEADLINE: Duration = Duration::from_secs(60);
/// The bytes of bodies held at once while their signature cannot be checked yet (clients that
/// do not sign `x-amz-content-sha256` are checked only once the body is in), in KiB: a client
/// that knows an access key id but not its secret cannot make the server hold more.
const UNVERIFIED_BODY_KIB: usize = 64 * 1024;
/// The SigV4 signing name of trailwatch's operator API (failed deliveries).
pub const OPERATOR_SIGNING_NAME: &str = operator::SIGNING_NAME;
/// The `X-Amz-Target` prefix of the operator API's operations.
pub const OPERATOR_TARGET_PREFIX: &str = operator::TARGET_PREFIX;

/// The largest body a gzip-encoded request may inflate to (PutMetricData allows 1 MB).
const MAX_INFLATED_BYTES: u64 = 8 * 1024 * 1024;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No checks (`--auth none`).
    None,
    /// SigV4 against these access key ids and their secrets.
    SigV4(HashMap<String, String>),
}

/// The SNS signing certificate served at `SigningCertURL`.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// `SimpleNotificationService-<hex>.pem`.
    pub file_name: String,
    /// The PEM text.
    pub pem: String,
}

/// What the handlers share.
pub struct State {
    engine: Arc<Engine>,
    auth: Auth,
    certificate: Option<Certificate>,
    body_timeout: Duration,
    /// KiB of unverified bodies that may still be held (see [`UNVERIFIED_BODY_KIB`]).
    unverified: Arc<tokio::sync::Semaphore>,
}

impl State {
    /// The state of a listener; a request body may stall for 10 seconds.
    pub fn new(engine: Arc<Engine>, auth: Auth, certificate: Option<Certificate>) -> Arc<State> {
        State::with_body_timeout(engine, auth, certificate, Duration::from_secs(10))
    }

    /// The state of a listener whose request bodies may go `body_timeout` without a byte
    /// before the request is refused (and 60 seconds in all).
    pub fn with_body_timeout(
        engine: Arc<Engine>,
        auth: Auth,
        certificate: Option<Certificate>,
        body_timeout: Duration,
    ) -> Arc<State> {
        Arc::new(State {
            engine,
            auth,
            certificate,
            body_timeout,
            unverified: Arc::new(tokio::sync::Semaphore::new(UNVERIFIED_BODY_KIB)),
        })
    }
}

/// The router serving every service on one port.
pub fn router(state: Arc<State>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// The services and their wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// CloudWatch Logs, awsJson1_1.
    LogsJson,
    /// CloudWatch, awsJson1_0 (query-compatible errors).
    CloudWatchJson,
    /// CloudWatch, rpcv2Cbor (query-compatible errors).
    CloudWatchCbor,
    /// CloudWatch, awsQuery.
    CloudWatchQuery,
    /// SNS, awsQuery.
    SnsQuery,
    /// trailwatch's own operations (failed deliveries), awsJson1_1-style.
    Operator,
}

impl Protocol {
    /// The service model of the protocol's errors; the operator API has no model and words
    /// its errors as CloudWatch Logs does.
    fn service(self) -> &'static Service {
        match self {
            Protocol::LogsJson | Protocol::Operator => model::logs(),
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery => {
                model::cloudwatch()
            }
            Protocol::SnsQuery => model::sns(),
        }
    }

    /// The SigV4 signing name.
    fn signing_name(self) -> &'static str {
        match self {
            Protocol::LogsJson => "logs",
            Protocol::SnsQuery => "sns",
            Protocol::Operator => operator::SIGNING_NAME,
            _ => "monitoring",
        }
    }

    fn is_query(self) -> bool {
        matches!(self, Protocol::CloudWatchQuery | Protocol::SnsQuery)
    }
}

/// A request's answer before it becomes HTTP.
struct Reply {
    protocol: Protocol,
    request_id: String,
    /// Whether the client asked for query-compatible status codes (`x-amzn-query-mode`).
    query_mode: bool,
}

/// What a POST's head says it is, before its body is read.
enum Addressed {
    /// A service and operation named by the path or `X-Amz-Target`.
    Operation(Protocol, String),
    /// A form body, whose `Version` names the service.
    Form,
}

async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = uri.path();
    if method == Method::GET {
        return handle_get(&state, &uri, &request_id).await;
    }
    if method != Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST and GET are supported.\n",
        );
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let target = header("x-amz-target");
    let content_type = header("content-type").unwrap_or_default();
    let query_mode = header("x-amzn-query-mode") == Some("true");
    let scope_service = scope_service(header("authorization").unwrap_or_default());

    // Dispatch order of reference §1.2.
    let addressed = if let Some(op) =
        path.strip_prefix("/service/GraniteServiceVersion20100801/operation/")
    {
        Addressed::Operation(Protocol::CloudWatchCbor, op.to_owned())
    } else if let Some((prefix, op)) = target.and_then(|t| t.split_once('.')) {
        let protocol = match prefix {
            "Logs_20140328" => Protocol::LogsJson,
            "GraniteServiceVersion20100801" => Protocol::CloudWatchJson,
            operator::TARGET_PREFIX => Protocol::Operator,
            _ => {
                discard(body, state.body_timeout);
                return json_error_response(
                    StatusCode::BAD_REQUEST,
                    "UnknownOperationException",
                    None,
                    "application/x-amz-json-1.1",
                    &request_id,
                    None,
                );
            }
        };
        Addressed::Operation(protocol, op.to_owned())
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Addressed::Form
    } else {
        discard(body, state.body_timeout);
        return plain(
            StatusCode::NOT_FOUND,
            "Not an AWS API request: expected X-Amz-Target, an rpcv2Cbor path or a form body.\n",
        );
    };

    // Errors before the body is read answer in the protocol the head points to; a form
    // request's service is told by its credential scope until its Version is read.
    let mut reply = Reply {
        protocol: match &addressed {
            Addressed::Operation(protocol, _) => *protocol,
            Addressed::Form if scope_service == Some("monitoring") => Protocol::CloudWatchQuery,
            Addressed::Form => Protocol::SnsQuery,
        },
        request_id,
        query_mode,
    };

    // The signature is checked as far as it can be before the body is read: an unsigned or
    // wrongly scoped request, or one with an unknown key, is answered before its body is read;
    // a client that signs its payload's hash is checked entirely. Bodies that still have to
    // be read before their signature can be checked share a bounded budget.
    let pending = match &state.auth {
        Auth::None => None,
        Auth::SigV4(keys) => {
            let pairs: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            let head = sigv4::Request {
                method: method.as_str(),
                path,
                query: uri.query().unwrap_or_default(),
                headers: &pairs,
                body: &[],
            };
            let services: &[&str] = match &addressed {
                Addressed::Operation(protocol, _) => &[protocol.signing_name()],
                Addressed::Form => &["sns", "monitoring"],
            };
            let expect = sigv4::Expectation {
                region: &state.engine.config().region,
                services,
                now: SystemTime::now(),
            };
            match sigv4::verify_head(&head, &expect, keys) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    tracing::info!(error = %e, "Request refused: authentication failed.");
                    discard(body, state.body_timeout);
                    return auth_error(&reply, &e);
                }
            }
        }
    };

    // CloudWatch clients gzip large PutMetricData bodies; nothing else is understood.
    let gzip = match header("content-encoding").map(str::trim) {
        None | Some("" | "identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            let e = ApiError::new(
                "SerializationException",
                format!("The Content-Encoding {other} is not supported: send gzip or no encoding."),
            );
            discard(body, state.body_timeout);
            return error(&reply, &e);
        }
    };

    let budget = pending
        .as_ref()
        .filter(|p| !p.signature_checked())
        .map(|_| &state.unverified);
    let (body, held) = match read_body(body, &headers, state.body_timeout, budget).await {
        Ok(b) => b,
        Err(refusal) => return closing(refusal),
    };

    // The signature covers the body as sent: compressed bodies are checked compressed.
    let signer = match pending.map(|p| p.finish(&body)).transpose() {
        Ok(signer) => signer,
        Err(e) => {
            tracing::info!(error = %e, "Request refused: authentication failed.");
            return auth_error(&reply, &e);
        }
    };
    // Verified: the body no longer counts against the budget of unverified ones.
    drop(held);
    let body = if gzip {
        match inflate(&body) {
            Ok(b) => Bytes::from(b),
            Err(e) => return error(&reply, &e),
        }
    } else {
        body
    };

    let (protocol, operation, form) = match addressed {
        Addressed::Operation(protocol, op) => (protocol, op, None),
        Addressed::Form => {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(&body).into_owned().collect();
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let version = get("Version").unwrap_or_default();
            let protocol = if version == model::sns().api_version || scope_service == Some("sns") {
                Protocol::SnsQuery
            } else if version == model::cloudwatch().api_version
                || scope_service == Some("monitoring")
            {
                Protocol::CloudWatchQuery
            } else {
                return query_error_response(
                    None,
                    StatusCode::BAD_REQUEST,
                    "InvalidAction",
                    Some("The request names no known service API version."),
                    &reply.request_id,
                );
            };
            let op = get("Action").unwrap_or_default();
            (protocol, op, Some(params))
        }
    };
    reply.protocol = protocol;
    // A form's credential scope must name the service its Version names.
    if let Some(signer) = signer
        && signer.service != protocol.signing_name()
    {
        let e = sigv4::AuthError::InvalidScope {
            message: format!(
                "Credential should be scoped to correct service: '{}'.",
                protocol.signing_name()
            ),
        };
        return auth_error(&reply, &e);
    }

    if protocol == Protocol::Operator {
        return operator::handle(&state.engine, &operation, &body, &reply.request_id).await;
    }

    let service = protocol.service();
    let Some(op) = service.operations.get(&operation) else {
        return error(&reply, &unknown_operation(protocol, &operation));
    };

    let input_shape = op.input.as_ref().map(|r| r.shape.as_str());
    let input = match (input_shape, protocol) {
        (None, _) => Ok(Value::Object(Default::default())),
        (Some(shape), Protocol::LogsJson | Protocol::CloudWatchJson | Protocol::Operator) => {
            let parsed: Result<Value, _> = if body.is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_slice(&body)
            };
            match parsed {
                Ok(v) => codec::from_json(service, shape, v),
                Err(e) => Err(InputError::Serialization(format!(
                    "The request body is not valid JSON: {e}"
                ))),
            }
        }
        (Some(shape), Protocol::CloudWatchCbor) => codec::from_cbor(service, shape, &body),
        (Some(shape), Protocol::CloudWatchQuery | Protocol::SnsQuery) => {
            codec::from_query(service, shape, form.as_deref().unwrap_or_default())
        }
    };
    let input = match input {
        Ok(v) => v,
        Err(e) => return error(&reply, &input_error(protocol, e)),
    };

    let engine = &state.engine;
    let result = match protocol {
        Protocol::LogsJson => dispatch::logs(engine, &operation, input).await,
        Protocol::SnsQuery => dispatch::sns(engine, &operation, input).await,
        _ => dispatch::cloudwatch(engine, &operation, input).await,
    };
    match result {
        Ok(output) => success(&reply, service, &operation, &output),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(operation, error = %e.message, "Operation failed.");
            }
            error(&reply, &e)
        }
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`], within `stall` between two of its
/// parts and [`BODY_DEADLINE`] in all; the refusal to answer otherwise. With a `budget`, the
/// body's size is taken from it (in KiB) for as long as the permits returned are held.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    stall: Duration,
    budget: Option<&Arc<tokio::sync::Semaphore>>,
) -> Result<(Bytes, Option<tokio::sync::OwnedSemaphorePermit>), Response> {
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is larger than these services accept.\n",
        )
    };
    let stalled = || {
        plain(
            StatusCode::REQUEST_TIMEOUT,
            "The request body stopped arriving.\n",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    loop {
        let next = deadline.min(tokio::time::Instant::now() + stall);
        let frame = match tokio::time::timeout_at(next, body.frame()).await {
            Err(_) => return Err(stalled()),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "Cannot read a request body.");
                return Err(plain(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.\n",
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            if let Some(budget) = budget {
                // Whole KiB held for the bytes read so far.
                let wanted = (out.len() + data.len()).div_ceil(1024);
                let have = held.as_ref().map_or(0, |p| p.num_permits());
                if wanted > have {
                    let more = u32::try_from(wanted - have).unwrap_or(u32::MAX);
                    let next = deadline.min(tokio::time::Instant::now() + stall);
                    let permit = match tokio::time::timeout_at(
                        next,
                        budget.clone().acquire_many_owned(more),
                    )
                    .await
                    {
                        Ok(Ok(permit)) => permit,
                        _ => {
                            return Err(plain(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "Too many unverified request bodies are being received; try again.\n",
                            ));
                        }
                    };
                    match &mut held {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                }
            }
            out.extend_from_slice(&data);
        }
    }
    Ok((Bytes::from(out), held))
}

/// Reads and drops the body of a request refused before its body was read, so that the
/// connection can close (or go on) cleanly once the client has sent it: closing a socket with
/// unread data resets the connection, and the client may then lose the answer. Nothing is
/// kept, and a body that stalls or exceeds [`MAX_BODY_BYTES`] is cut off.
fn discard(body: Body, stall: Duration) {
    tokio::spawn(async move {
        let mut body = body;
        let mut seen = 0usize;
        let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
        loop {
            let next = deadline.min(tokio::time::Instant::now() + stall);
            match tokio::time::timeout_at(next, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen += frame.data_ref().map_or(0, Bytes::len);
                    if seen > MAX_BODY_BYTES {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
}

/// Marks a reply as the connection's last: the request's body cannot be read to its end.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The service of a SigV4 credential scope (`AKID/date/region/SERVICE/aws4_request`).
fn scope_service(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(3)
}

/// Inflates a gzip body, every member of it (RFC 1952 lets a file hold several).
fn inflate(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::new(
                "SerializationException",
                format!("The gzip body could not be read: {e}"),
            )
        })?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(ApiError::new(
            "SerializationException",
            "The request body is too large.",
        ));
    }
    Ok(out)
}

fn unknown_operation(protocol: Protocol, operation: &str) -> ApiError {
    if protocol.is_query() {
        ApiError::new(
            "InvalidAction",
            format!("The action {operation} is not valid for this endpoint."),
        )
    } else {
        ApiError::new(
            "UnknownOperationException",
            format!("The operation {operation} is not supported."),
        )
    }
}

fn input_error(protocol: Protocol, e: InputError) -> ApiError {
    match e {
        InputError::Serialization(message) => {
            if protocol.is_query() {
                ApiError::new("InvalidParameterValue", message)
            } else {
                ApiError::new("SerializationException", message)
            }
        }
        InputError::InvalidValue(message) => match protocol {
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery => {
                ApiError::new("InvalidParameterValueException", message)
            }
            Protocol::LogsJson | Protocol::SnsQuery | Protocol::Operator => {
                ApiError::new("InvalidParameterException", message)
            }
        },
        InputError::Missing {
            parameters,
            violations,
        } => match protocol {
            // CloudWatch names what is missing, a line each (seen in client reports over
            // awsQuery; its JSON and CBOR protocols carry the same errors).
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery => {
                let lines: Vec<String> = parameters
                    .iter()
                    .map(|p| format!("The parameter {p} is required."))
                    .collect();
                ApiError::new("MissingRequiredParameterException", lines.join("\n"))
            }
            _ => input_error(protocol, InputError::Validation(violations)),
        },
        InputError::Validation(lines) => {
            let message = InputError::validation_message(&lines);
            match protocol {
                // CloudWatch Logs answers a broken constraint with its own exception and
                // the coral text (recorded from AWS in many client bug reports).
                Protocol::LogsJson | Protocol::Operator => {
                    ApiError::new("InvalidParameterException", message)
                }
                Protocol::CloudWatchJson | Protocol::CloudWatchCbor => {
                    ApiError::new("ValidationException", message)
                }
                // Query services name it by its query code.
                Protocol::CloudWatchQuery | Protocol::SnsQuery => {
                    ApiError::new("ValidationError", message)
                }
            }
        }
    }
}

async fn handle_get(state: &State, uri: &Uri, request_id: &str) -> Response {
    let path = uri.path();
    if path == "/healthz" {
        return plain(StatusCode::OK, "ok\n");
    }
    if let Some(cert) = &state.certificate
        && path.strip_prefix('/') == Some(cert.file_name.as_str())
    {
        let mut r = Response::new(Body::from(cert.pem.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-x509-ca-cert"),
        );
        return r;
    }
    // The SubscribeURL and UnsubscribeURL links of SNS messages: plain GETs, unsigned, as AWS
    // serves them.
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str());
    let reply = Reply {
        protocol: Protocol::SnsQuery,
        request_id: request_id.to_owned(),
        query_mode: false,
    };
    let operation = match action {
        Some(op @ ("ConfirmSubscription" | "Unsubscribe")) => op,
        _ => return plain(StatusCode::NOT_FOUND, "Not found.\n"),
    };
    let service = model::sns();
    let shape = service.operations[operation]
        .input
        .as_ref()
        .map_or("", |r| r.shape.as_str());
    let input = match codec::from_query(service, shape, &params) {
        Ok(v) => v,
        Err(e) => return error(&reply, &input_error(Protocol::SnsQuery, e)),
    };
    match dispatch::sns_link(&state.engine, operation, input).await {
        Ok(output) => success(&reply, service, operation, &output),
        Err(e) => error(&reply, &e),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn with_headers(mut r: Response, pairs: &[(&'static str, String)]) -> Response {
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

fn success(reply: &Reply, service: &Service, operation: &str, output: &Value) -> Response {
    let op = &service.operations[operation];
    let output_shape = op.output.as_ref().map(|r| r.shape.as_str());
    let id = reply.request_id.clone();
    match reply.protocol {
        Protocol::LogsJson | Protocol::CloudWatchJson | Protocol::Operator => {
            let content_type = if reply.protocol != Protocol::CloudWatchJson {
                "application/x-amz-json-1.1"
            } else {
                "application/x-amz-json-1.0"
            };
            let body = match output_shape {
                Some(shape) => codec::to_json(service, shape, output),
                None => Value::Object(Default::default()),
            };
            with_headers(
                Response::new(Body::from(body.to_string())),
                &[
                    ("content-type", content_type.to_owned()),
                    ("x-amzn-requestid", id),
                ],
            )
        }
        Protocol::CloudWatchCbor => {
            let mut headers = vec![
                ("smithy-protocol", "rpc-v2-cbor".to_owned()),
                ("x-amzn-requestid", id),
            ];
            // rpcv2Cbor: operations without output answer an empty body without a type.
            let body = match output_shape {
                None => Vec::new(),
                Some(shape) => {
                    headers.push(("content-type", "application/cbor".to_owned()));
                    cbor_bytes(&codec::to_cbor(service, shape, output))
                }
            };
            with_headers(Response::new(Body::from(body)), &headers)
        }
        Protocol::CloudWatchQuery | Protocol::SnsQuery => {
            let ns = service.xml_namespace.as_deref().unwrap_or_default();
            let mut xml = format!("<{operation}Response xmlns=\"{ns}\">");
            if let (Some(shape), Some(wrapper)) = (
                output_shape,
                op.output.as_ref().and_then(|r| r.result_wrapper.as_deref()),
            ) {
                xml.push_str(&format!("<{wrapper}>"));
                codec::to_xml(service, shape, output, &mut xml);
                xml.push_str(&format!("</{wrapper}>"));
            }
            xml.push_str(&format!(
                "<ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></{operation}Response>"
            ));
            with_headers(
                Response::new(Body::from(xml)),
                &[
                    ("content-type", "text/xml".to_owned()),
                    ("x-amzn-requestid", id),
                ],
            )
        }
    }
}

fn cbor_bytes(v: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

/// How an error shape is spelled on the wire of a protocol.
struct WireError {
    status: StatusCode,
    /// awsQuery code and the code of `x-amzn-query-error`.
    query_code: String,
    /// `__type` of JSON and CBOR bodies.
    type_name: String,
    sender_fault: bool,
}

fn wire_error(reply: &Reply, e: &ApiError) -> WireError {
    let service = reply.protocol.service();
    let modelled = service.error(&e.code);
    let internal = e.is_internal();
    let mut query_code = modelled
        .and_then(|m| m.code.clone())
        .unwrap_or_else(|| e.code.to_string());
    let mut status = modelled
        .and_then(|m| m.http_status_code)
        .unwrap_or(if internal { 500 } else { 400 });
    let sender_fault = modelled.map_or(!internal, |m| m.sender_fault);
    let mut type_name = e.code.to_string();
    match reply.protocol {
        Protocol::CloudWatchJson | Protocol::CloudWatchCbor => {
            if e.code == "ValidationException" {
                type_name = "com.amazon.coral.validate#ValidationException".into();
                query_code = "ValidationError".into();
            } else if modelled.is_some() {
                type_name = format!("com.amazonaws.cloudwatch.v2010_08_01#{}", e.code);
            }
            // Modelled statuses apply only to clients in query mode; others get 400 (§1.4).
            if !reply.query_mode && !internal {
                status = 400;
            }
        }
        Protocol::LogsJson | Protocol::Operator => {
            // Logs models no statuses: every client error is 400.
            status = if internal { 500 } else { 400 };
        }
        Protocol::CloudWatchQuery | Protocol::SnsQuery => {
            // Engine errors named for the JSON protocols take their awsQuery names.
            match e.code.as_ref() {
                "UnknownOperationException" => query_code = "InvalidAction".into(),
                "ValidationException" => query_code = "ValidationError".into(),
                _ => {}
            }
            if internal {
                query_code = if reply.protocol == Protocol::SnsQuery {
                    "InternalError".into()
                } else {
                    "InternalServiceError".into()
                };
            }
        }
    }
    WireError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        query_code,
        type_name,
        sender_fault,
    }
}

fn error(reply: &Reply, e: &ApiError) -> Response {
    let w = wire_error(reply, e);
    // Our own faults keep their details in the log, not in the reply.
    let message = if e.is_internal() {
        "An internal error occurred."
    } else {
        e.message.as_str()
    };
    error_response(reply, &w, message)
}

fn auth_error(reply: &Reply, e: &sigv4::AuthError) -> Response {
    let w = WireError {
        status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
        query_code: e.query_code().to_owned(),
        type_name: e.json_code().to_owned(),
        sender_fault: true,
    };
    error_response(reply, &w, e.message())
}

/// An error reply in the request's protocol.
fn error_response(reply: &Reply, w: &WireError, message: &str) -> Response {
    let fault = if w.sender_fault { "Sender" } else { "Receiver" };
    let query_error = format!("{};{fault}", w.query_code);
    match reply.protocol {
        Protocol::LogsJson | Protocol::Operator => json_error_response(
            w.status,
            &w.type_name,
            Some(message),
            "application/x-amz-json-1.1",
            &reply.request_id,
            None,
        ),
        Protocol::CloudWatchJson => json_error_response(
            w.status,
            &w.type_name,
            Some(message),
            "application/x-amz-json-1.0",
            &reply.request_id,
            Some(query_error),
        ),
        Protocol::CloudWatchCbor => {
            let text = |s: &str| ciborium::Value::Text(s.to_owned());
            let body = ciborium::Value::Map(vec![
                (text("__type"), text(&w.type_name)),
                (text("message"), text(message)),
            ]);
            let mut r = with_headers(
                Response::new(Body::from(cbor_bytes(&body))),
                &[
                    ("content-type", "application/cbor".to_owned()),
                    ("smithy-protocol", "rpc-v2-cbor".to_owned()),
                    ("x-amzn-requestid", reply.request_id.clone()),
                    ("x-amzn-query-error", query_error),
                ],
            );
            *r.status_mut() = w.status;
            r
        }
        Protocol::CloudWatchQuery | Protocol::SnsQuery => query_error_response(
            Some(reply.protocol.service()),
            w.status,
            &w.query_code,
            Some(message),
            &reply.request_id,
        ),
    }
}

fn json_error_response(
    status: StatusCode,
    type_name: &str,
    message: Option<&str>,
    content_type: &str,
    request_id: &str,
    query_error: Option<String>,
) -> Response {
    let mut body = serde_json::json!({ "__type": type_name });
    if let Some(m) = message {
        body["message"] = Value::String(m.to_owned());
    }
    let short = type_name.rsplit('#').next().unwrap_or(type_name).to_owned();
    let mut headers = vec![
        ("content-type", content_type.to_owned()),
        ("x-amzn-requestid", request_id.to_owned()),
        ("x-amzn-errortype", short),
    ];
    if let Some(q) = query_error {
        headers.push(("x-amzn-query-error", q));
    }
    let mut r = with_headers(Response::new(Body::from(body.to_string())), &headers);
    *r.status_mut() = status;
    r
}

fn query_error_response(
    service: Option<&Service>,
    status: StatusCode,
    code: &str,
    message: Option<&str>,
    request_id: &str,
) -> Response {
    let ns = service
        .and_then(|s| s.xml_namespace.as_deref())
        .unwrap_or("http://sns.amazonaws.com/doc/2010-03-31/");
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let message = message
        .map(|m| format!("<Message>{}</Message>", quick_xml::escape::escape(m)))
        .unwrap_or_default();
    let xml = format!(
        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{fault}</Type><Code>{code}</Code>{message}</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    let mut r = with_headers(
        Response::new(Body::from(xml)),
        &[
            ("content-type", "text/xml".to_owned()),
            ("x-amzn-requestid", request_id.to_owned()),
        ],
    );
    *r.status_mut() = status;
    r
}
