//! Successful replies in each protocol: the operation's output written by the model, with the
//! headers AWS's clients look for.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::codec;
use crate::model::Service;
use crate::protocol::Protocol;

/// How a request is answered: its protocol, its id and the client's wishes.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub protocol: Protocol,
    pub request_id: String,
    /// Whether the client asked for query-compatible status codes (`x-amzn-query-mode`).
    pub query_mode: bool,
}

/// The reply carrying `output`, the result of `operation` of `service`.
pub(crate) fn success(
    reply: &Reply,
    service: &Service,
    operation: &str,
    output: &Value,
) -> Response {
    let op = &service.operations[operation];
    let output_shape = op.output.as_ref().map(|r| r.shape.as_str());
    let id = reply.request_id.clone();
    match reply.protocol {
        Protocol::LogsJson
        | Protocol::CloudWatchJson
        | Protocol::Operator
        | Protocol::CloudTrailJson
        | Protocol::OrganizationsJson => {
            let body = match output_shape {
                Some(shape) => codec::to_json(service, shape, output),
                None => Value::Object(Default::default()),
            };
            json(reply, &body)
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
        Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery => {
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

/// A JSON body in the reply's JSON protocol.
pub(crate) fn json(reply: &Reply, body: &Value) -> Response {
    with_headers(
        Response::new(Body::from(body.to_string())),
        &[
            (
                "content-type",
                reply.protocol.json_content_type().to_owned(),
            ),
            ("x-amzn-requestid", reply.request_id.clone()),
        ],
    )
}

/// A plain-text reply, for requests that are not AWS API requests at all.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(crate) fn with_headers(mut r: Response, pairs: &[(&'static str, String)]) -> Response {
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

pub(crate) fn cbor_bytes(v: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(v, &mut out);
    out
}
