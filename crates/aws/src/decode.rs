//! A request's body read as its operation's input, in the awsJson form the dispatch decodes
//! into typed requests, and a body the model rejects answered with the protocol's error.

use serde_json::Value;

use crate::codec::{self, InputError};
use crate::error::AwsError;
use crate::model::Service;
use crate::protocol::Protocol;
use crate::response::Reply;

/// The body of `operation`, in a JSON or CBOR body or in form fields (`form`), checked
/// against the model.
pub(crate) fn input(
    reply: &Reply,
    service: &Service,
    operation: &str,
    body: &[u8],
    form: Option<&[(String, String)]>,
) -> Result<Value, AwsError> {
    let Some(shape) = service.operations[operation]
        .input
        .as_ref()
        .map(|r| r.shape.as_str())
    else {
        return Ok(Value::Object(Default::default()));
    };
    let input = match reply.protocol {
        Protocol::LogsJson
        | Protocol::CloudWatchJson
        | Protocol::Operator
        | Protocol::CloudTrailJson
        | Protocol::OrganizationsJson => {
            let parsed: Result<Value, _> = if body.is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_slice(body)
            };
            match parsed {
                Ok(v) => codec::from_json(service, shape, v),
                Err(e) => Err(InputError::Serialization(format!(
                    "The request body is not valid JSON: {e}"
                ))),
            }
        }
        Protocol::CloudWatchCbor => codec::from_cbor(service, shape, body),
        Protocol::CloudWatchQuery | Protocol::SnsQuery | Protocol::StsQuery => {
            codec::from_query(service, shape, form.unwrap_or_default())
        }
    };
    input.map_err(|e| input_error(reply, e))
}

/// The error answering an input the model rejects.
pub(crate) fn input_error(reply: &Reply, e: InputError) -> AwsError {
    let cloudwatch = matches!(
        reply.protocol,
        Protocol::CloudWatchJson | Protocol::CloudWatchCbor | Protocol::CloudWatchQuery
    );
    match e {
        InputError::Serialization(message) => {
            if reply.protocol.is_query() {
                AwsError::shape(reply, "InvalidParameterValue", message)
            } else {
                AwsError::shape(reply, "SerializationException", message)
            }
        }
        InputError::InvalidValue(message) if cloudwatch => {
            AwsError::shape(reply, "InvalidParameterValueException", message)
        }
        InputError::InvalidValue(message) => {
            AwsError::shape(reply, "InvalidParameterException", message)
        }
        // CloudWatch names what is missing, a line each (seen in client reports over awsQuery;
        // its JSON and CBOR protocols carry the same errors).
        InputError::Missing { parameters, .. } if cloudwatch => {
            let lines: Vec<String> = parameters
                .iter()
                .map(|p| format!("The parameter {p} is required."))
                .collect();
            AwsError::shape(reply, "MissingRequiredParameterException", lines.join("\n"))
        }
        InputError::Missing { violations, .. } => {
            AwsError::validation(reply, InputError::validation_message(&violations))
        }
        InputError::Validation(lines) => {
            AwsError::validation(reply, InputError::validation_message(&lines))
        }
    }
}

/// The error answering an operation the service does not have.
pub(crate) fn unknown_operation(reply: &Reply, operation: &str) -> AwsError {
    if reply.protocol.is_query() {
        AwsError::shape(
            reply,
            "InvalidAction",
            format!("The action {operation} is not valid for this endpoint."),
        )
    } else {
        AwsError::shape(
            reply,
            "UnknownOperationException",
            format!("The operation {operation} is not supported."),
        )
    }
}

/// The error answering an operation the service has and trailwatch does not serve yet.
pub(crate) fn unsupported_operation(reply: &Reply, operation: &str) -> AwsError {
    AwsError::shape(
        reply,
        "UnknownOperationException",
        format!("The operation {operation} is not supported."),
    )
}
