//! trailwatch's own operations, for operators: failed deliveries listed and sent again.
//!
//! They speak awsJson1_1 on the same port as the AWS services (`X-Amz-Target:
//! Trailwatch_20261206.<Operation>`), signed with SigV4 for the signing name `trailwatch` by
//! the same keys, so `trailwatch deliveries` needs nothing the AWS CLI does not.
//!
//! - `ListDeliveries` `{state?, topicArn?, subscriptionArn?, maxResults?, nextToken?}` →
//!   `{deliveries: [...], subscriptions: [...], nextToken?}`: the messages of the outbox in
//!   order, and each subscription's deliveries counted by state.
//! - `RedriveDeliveries` `{ids: [...]}` or `{subscriptionArn}` → `{redriven: [...],
//!   skipped: [...]}`: failed deliveries queued again with their `MessageId`.

use axum::response::{IntoResponse, Response};
use engine::outbox::{DeliveryQuery, RedriveTarget};
use engine::{ApiError, Engine};
use serde::Deserialize;
use serde_json::json;

use crate::error::AwsError;
use crate::response::{Reply, json};

const INVALID: &str = "InvalidParameterException";
/// Deliveries per page, by default and at most.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// The states a delivery can be in.
const STATES: [&str; 5] = ["pending", "delivered", "failed", "dropped", "redriven"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListDeliveries {
    state: Option<String>,
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RedriveDeliveries {
    ids: Option<Vec<i64>>,
    subscription_arn: Option<String>,
}

/// Why an operation was refused.
enum Refusal {
    Engine(ApiError),
    /// An error code as CloudWatch Logs names it, and its message.
    Input(&'static str, String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Engine(e)
    }
}

/// Runs an operator operation on a body whose signature is verified.
pub(crate) async fn handle(
    engine: &Engine,
    operation: &str,
    body: &[u8],
    reply: &Reply,
) -> Response {
    let result = match operation {
        "ListDeliveries" => match input(body) {
            Ok(req) => list(engine, req).await,
            Err(e) => Err(e),
        },
        "RedriveDeliveries" => match input(body) {
            Ok(req) => redrive(engine, req).await,
            Err(e) => Err(e),
        },
        _ => Err(Refusal::Input(
            "UnknownOperationException",
            format!("The operation {operation} is not supported."),
        )),
    };
    match result {
        Ok(output) => json(reply, &output),
        Err(Refusal::Engine(e)) => {
            if e.is_internal() {
                tracing::error!(operation, error = %e.message, "Operation failed.");
            }
            AwsError::engine(reply, &e).into_response()
        }
        Err(Refusal::Input(code, message)) => AwsError::shape(reply, code, message).into_response(),
    }
}

fn input<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        Refusal::Input(
            "SerializationException",
            format!("The request body is not valid: {e}"),
        )
    })
}

async fn list(engine: &Engine, req: ListDeliveries) -> Result<serde_json::Value, Refusal> {
    if let Some(state) = &req.state
        && !STATES.contains(&state.as_str())
    {
        return Err(Refusal::Input(
            INVALID,
            format!("state must be one of {}.", STATES.join(", ")),
        ));
    }
    let limit = req.max_results.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Refusal::Input(
            INVALID,
            format!("maxResults must be between 1 and {MAX_PAGE}."),
        ));
    }
    let after_id = match &req.next_token {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            Refusal::Input(
                "InvalidNextTokenException",
                "The nextToken is not valid.".into(),
            )
        })?),
    };
    let counts = engine.delivery_counts(req.topic_arn.clone()).await?;
    let deliveries = engine
        .list_deliveries(DeliveryQuery {
            state: req.state,
            topic_arn: req.topic_arn,
            subscription_arn: req.subscription_arn,
            after_id,
            // One more than the page tells whether another page follows.
            limit: limit + 1,
        })
        .await?;
    let more = deliveries.len() > limit;
    let page = &deliveries[..deliveries.len().min(limit)];
    let mut out = json!({ "deliveries": page, "subscriptions": counts });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(last.id.to_string());
    }
    Ok(out)
}

async fn redrive(engine: &Engine, req: RedriveDeliveries) -> Result<serde_json::Value, Refusal> {
    let target = match (req.ids, req.subscription_arn) {
        (Some(ids), None) if !ids.is_empty() => RedriveTarget::Ids(ids),
        (None, Some(arn)) => RedriveTarget::Subscription(arn),
        _ => {
            return Err(Refusal::Input(
                INVALID,
                "Give either ids (one or more) or subscriptionArn.".into(),
            ));
        }
    };
    let done = engine.redrive_deliveries(target).await?;
    Ok(json!(done))
}
