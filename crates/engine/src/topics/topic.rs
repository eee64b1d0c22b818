//! CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes and SetTopicAttributes.

use serde_json::json;

use super::api::*;
use super::delivery_policy;
use super::{INVALID, Topic, authorize, owner_of, topic_not_found};
use crate::ApiError;
use crate::paging::{self, Listing};
use crate::store::Tx;

/// Topics listed per page, as on AWS.
const PAGE: usize = 100;

/// The topic attributes SetTopicAttributes may change.
const SETTABLE: [&str; 7] = [
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "SignatureVersion",
    "TracingConfig",
    "KmsMasterKeyId",
    "ContentBasedDeduplication",
];

pub(super) fn create(
    tx: &mut dyn Tx,
    req: CreateTopicRequest,
) -> Result<CreateTopicResponse, ApiError> {
    let name = &req.name;
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !base.is_empty()
        && name.len() <= 256
        && base
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    if !valid {
        return Err(ApiError::new(INVALID, "Invalid parameter: Topic Name"));
    }
    if let Some(policy) = req.attributes.get("DeliveryPolicy") {
        check_delivery_policy(policy, true)?;
    }
    let arn = tx.scope().arn("sns", name);
    match tx.topic(&arn)? {
        Some(existing) if existing.attributes != req.attributes && !req.attributes.is_empty() => {
            Err(ApiError::new(
                INVALID,
                "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
            ))
        }
        Some(_) => Ok(CreateTopicResponse { topic_arn: arn }),
        None => {
            tx.insert_topic(&Topic {
                arn: arn.clone(),
                name: name.clone(),
                attributes: req.attributes,
            })?;
            Ok(CreateTopicResponse { topic_arn: arn })
        }
    }
}

/// Deleting a topic that does not exist succeeds, as on AWS; its subscriptions go with it.
pub(super) fn delete(tx: &mut dyn Tx, req: TopicRequest) -> Result<Empty, ApiError> {
    authorize(tx, &req.topic_arn, "TopicArn", "DeleteTopic")?;
    tx.delete_topic(&req.topic_arn)?;
    Ok(Empty {})
}

pub(super) fn list(tx: &mut dyn Tx, req: ListRequest) -> Result<ListTopicsResponse, ApiError> {
    let after: Option<String> = match &req.next_token {
        None => None,
        Some(t) => Some(
            paging::key(Listing::Topics, t)
                .ok_or_else(|| ApiError::new(INVALID, "Invalid parameter: NextToken"))?,
        ),
    };
    let mut arns = tx.topic_arns(after.as_deref(), PAGE + 1)?;
    let next_token = (arns.len() > PAGE).then(|| {
        arns.truncate(PAGE);
        paging::token(Listing::Topics, &arns[PAGE - 1])
    });
    Ok(ListTopicsResponse {
        topics: arns
            .into_iter()
            .map(|topic_arn| TopicArn { topic_arn })
            .collect(),
        next_token,
    })
}

/// AWS's default topic policy: the owner may use the topic.
fn default_policy(account: &str, arn: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                       "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }],
    })
    .to_string()
}

/// Checks a `DeliveryPolicy` attribute of a topic or a subscription as SNS does.
pub(super) fn check_delivery_policy(text: &str, topic: bool) -> Result<(), ApiError> {
    let checked = if topic {
        delivery_policy::check_topic_policy(text)
    } else {
        delivery_policy::check_subscription_policy(text)
    };
    checked
        .map_err(|why| ApiError::new(INVALID, format!("Invalid parameter: DeliveryPolicy: {why}")))
}

pub(super) fn get_attributes(
    tx: &mut dyn Tx,
    req: TopicRequest,
) -> Result<AttributesResponse, ApiError> {
    authorize(tx, &req.topic_arn, "TopicArn", "GetTopicAttributes")?;
    let Some(topic) = tx.topic(&req.topic_arn)? else {
        return Err(topic_not_found());
    };
    let subscriptions = tx.subscriptions(Some(&req.topic_arn), None, usize::MAX)?;
    let confirmed = subscriptions.iter().filter(|s| s.confirmed).count();
    let pending = subscriptions.len() - confirmed;
    let mut attributes = super::Attributes::new();
    attributes.insert("TopicArn".into(), req.topic_arn.clone());
    // The topic's account, which may not be the caller's.
    let owner = owner_of(&req.topic_arn, tx.scope());
    attributes.insert("Owner".into(), owner.clone());
    attributes.insert("DisplayName".into(), String::new());
    attributes.insert("Policy".into(), default_policy(&owner, &req.topic_arn));
    attributes.insert(
        "EffectiveDeliveryPolicy".into(),
        delivery_policy::topic_effective_json(
            topic.attributes.get("DeliveryPolicy").map(String::as_str),
        ),
    );
    attributes.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
    attributes.insert("SubscriptionsPending".into(), pending.to_string());
    attributes.insert("SubscriptionsDeleted".into(), "0".into());
    attributes.extend(topic.attributes);
    Ok(AttributesResponse { attributes })
}

pub(super) fn set_attributes(
    tx: &mut dyn Tx,
    req: SetTopicAttributesRequest,
) -> Result<Empty, ApiError> {
    authorize(tx, &req.topic_arn, "TopicArn", "SetTopicAttributes")?;
    let name = req.attribute_name.as_str();
    if !SETTABLE.contains(&name) {
        return Err(ApiError::new(INVALID, "Invalid parameter: AttributeName"));
    }
    let value = req.attribute_value.unwrap_or_default();
    if name == "SignatureVersion" && !matches!(value.as_str(), "1" | "2") {
        return Err(ApiError::new(
            INVALID,
            "Invalid parameter: SignatureVersion",
        ));
    }
    if name == "DeliveryPolicy" {
        check_delivery_policy(&value, true)?;
    }
    if name == "Policy" && serde_json::from_str::<serde_json::Value>(&value).is_err() {
        return Err(ApiError::new(
            INVALID,
            format!("Invalid parameter: {name}: failed to parse JSON."),
        ));
    }
    let Some(mut topic) = tx.topic(&req.topic_arn)? else {
        return Err(topic_not_found());
    };
    topic.attributes.insert(name.to_owned(), value);
    tx.set_topic_attributes(&req.topic_arn, &topic.attributes)?;
    Ok(Empty {})
}
