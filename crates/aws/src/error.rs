//! Errors as a client of each protocol receives them.
//!
//! Every refusal — of the engine, of the model's checks, of the signature — becomes one
//! [`AwsError`]: a code, a message, an HTTP status and the request id, rendered in the
//! request's protocol. The service model gives an exception shape its awsQuery code, status
//! and fault (reference §1.4).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::{ApiError, ErrorCode};
use serde_json::Value;

use crate::protocol::Protocol;
use crate::response::{Reply, cbor_bytes, with_headers};
use crate::sigv4::AuthError;

/// An error reply.
#[derive(Debug)]
pub(crate) struct AwsError {
    /// The protocol it is written in.
    protocol: Protocol,
    /// The request's id, in a header and in awsQuery bodies.
    request_id: String,
    /// awsQuery `<Code>`, and the code of `x-amzn-query-error`.
    code: String,
    /// `__type` of JSON and CBOR bodies.
    type_name: String,
    /// What the client reads; `None` for errors AWS sends without one.
    message: Option<String>,
    status: StatusCode,
    /// Whether the client is at fault (`Sender`) rather than the service (`Receiver`).
    sender_fault: bool,
}

impl AwsError {
    /// The exception shape `name` of the protocol's service (or a code every protocol of the
    /// kind knows, such as `SerializationException`), with `message`.
    pub fn shape(reply: &Reply, name: &str, message: impl Into<String>) -> AwsError {
        let service = reply.protocol.service();
        let modelled = service.error(name);
        let mut code = modelled
            .and_then(|m| m.code.clone())
            .unwrap_or_else(|| name.to_owned());
        let mut status = modelled.and_then(|m| m.http_status_code).unwrap_or(400);
        let mut type_name = name.to_owned();
        match reply.protocol {
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor => {
                if modelled.is_some() {
                    type_name = format!("com.amazonaws.cloudwatch.v2010_08_01#{name}");
                }
                // Modelled statuses apply only to clients in query mode; others get 400 (§1.4).
                if !reply.query_mode {
                    status = 400;
                }
            }
            // Logs models no statuses: every client error is 400.
            Protocol::LogsJson | Protocol::Operator => status = 400,
            Protocol::CloudTrailJson | Protocol::OrganizationsJson => {}
            Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery => {
                if name == "UnknownOperationException" {
                    code = "InvalidAction".into();
                }
            }
        }
        AwsError {
            protocol: reply.protocol,
            request_id: reply.request_id.clone(),
            code,
            type_name,
            message: Some(message.into()),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            sender_fault: modelled.is_none_or(|m| m.sender_fault),
        }
    }

    /// Input that breaks a constraint of the model: each protocol has its own code for it.
    pub fn validation(reply: &Reply, message: impl Into<String>) -> AwsError {
        match reply.protocol {
            // CloudWatch Logs answers a broken constraint with its own exception and the
            // coral text (recorded from AWS in many client bug reports).
            Protocol::LogsJson | Protocol::Operator => {
                AwsError::shape(reply, "InvalidParameterException", message)
            }
            Protocol::CloudWatchJson | Protocol::CloudWatchCbor => AwsError {
                code: "ValidationError".into(),
                type_name: "com.amazon.coral.validate#ValidationException".into(),
                ..AwsError::shape(reply, "ValidationException", message)
            },
            Protocol::CloudTrailJson | Protocol::OrganizationsJson => {
                AwsError::shape(reply, "ValidationException", message)
            }
            // Query services name it by its query code.
            Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery => {
                AwsError::shape(reply, "ValidationError", message)
            }
        }
    }

    /// A fault of ours: its details stay in the log, not in the reply.
    pub fn internal(reply: &Reply) -> AwsError {
        let code = match reply.protocol {
            Protocol::SnsQuery | Protocol::StsQuery => "InternalError",
            Protocol::CloudWatchQuery => "InternalServiceError",
            _ => "InternalFailure",
        };
        AwsError {
            protocol: reply.protocol,
            request_id: reply.request_id.clone(),
            code: code.into(),
            type_name: "InternalFailure".into(),
            message: Some("An internal error occurred.".into()),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            sender_fault: false,
        }
    }

    /// An error the engine raised.
    pub fn engine(reply: &Reply, e: &ApiError) -> AwsError {
        match e.code {
            ErrorCode::Internal => AwsError::internal(reply),
            ErrorCode::Validation => AwsError::validation(reply, e.message.clone()),
            code => AwsError::shape(reply, code.name(), e.message.clone()),
        }
    }

    /// A request refused by its signature.
    pub fn auth(reply: &Reply, e: &AuthError) -> AwsError {
        AwsError {
            protocol: reply.protocol,
            request_id: reply.request_id.clone(),
            code: e.query_code().to_owned(),
            type_name: e.json_code().to_owned(),
            message: Some(e.message().to_owned()),
            status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
            sender_fault: true,
        }
    }

    /// The same error without a message, as AWS sends some.
    pub fn without_message(self) -> AwsError {
        AwsError {
            message: None,
            ..self
        }
    }

    fn fault(&self) -> &'static str {
        if self.sender_fault {
            "Sender"
        } else {
            "Receiver"
        }
    }

    fn json(self) -> Response {
        let mut body = serde_json::json!({ "__type": self.type_name });
        if let Some(m) = &self.message {
            body["message"] = Value::String(m.clone());
        }
        let short = self.type_name.rsplit('#').next().unwrap_or_default();
        let mut headers = vec![
            ("content-type", self.protocol.json_content_type().to_owned()),
            ("x-amzn-requestid", self.request_id.clone()),
            ("x-amzn-errortype", short.to_owned()),
        ];
        // CloudWatch's JSON protocol is query-compatible: the header carries the query code.
        if self.protocol == Protocol::CloudWatchJson {
            headers.push((
                "x-amzn-query-error",
                format!("{};{}", self.code, self.fault()),
            ));
        }
        with_headers(Response::new(Body::from(body.to_string())), &headers)
    }

    fn cbor(self) -> Response {
        let text = |s: &str| ciborium::Value::Text(s.to_owned());
        let mut body = vec![(text("__type"), text(&self.type_name))];
        if let Some(m) = &self.message {
            body.push((text("message"), text(m)));
        }
        with_headers(
            Response::new(Body::from(cbor_bytes(&ciborium::Value::Map(body)))),
            &[
                ("content-type", "application/cbor".to_owned()),
                ("smithy-protocol", "rpc-v2-cbor".to_owned()),
                ("x-amzn-requestid", self.request_id.clone()),
                (
                    "x-amzn-query-error",
                    format!("{};{}", self.code, self.fault()),
                ),
            ],
        )
    }

    fn xml(self) -> Response {
        let ns = self
            .protocol
            .service()
            .xml_namespace
            .as_deref()
            .unwrap_or_default();
        let message = self
            .message
            .as_deref()
            .map(|m| format!("<Message>{}</Message>", quick_xml::escape::escape(m)))
            .unwrap_or_default();
        let xml = format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{}</Type><Code>{}</Code>{message}</Error><RequestId>{}</RequestId></ErrorResponse>",
            self.fault(),
            self.code,
            self.request_id
        );
        with_headers(
            Response::new(Body::from(xml)),
            &[
                ("content-type", "text/xml".to_owned()),
                ("x-amzn-requestid", self.request_id),
            ],
        )
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut r = match self.protocol {
            Protocol::LogsJson
            | Protocol::CloudWatchJson
            | Protocol::Operator
            | Protocol::CloudTrailJson
            | Protocol::OrganizationsJson => self.json(),
            Protocol::CloudWatchCbor => self.cbor(),
            Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery => self.xml(),
        };
        *r.status_mut() = status;
        r
    }
}

/// Marks a reply as the connection's last: the request's body cannot be read to its end.
pub(crate) fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}
