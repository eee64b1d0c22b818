//! Operations run on the engine: each request, checked against the service model, is decoded
//! once into the operation's typed request, and its typed response encoded back for the
//! model to write in the request's protocol.

use std::future::Future;

use engine::scope::Scope;
use engine::{ApiError, Engine};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why an operation gave no output.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The engine refused it.
    Engine(ApiError),
    /// The service has the operation; trailwatch does not serve it.
    Unsupported,
    /// Refused as the service refuses it, with one of its model's exceptions.
    Refused {
        shape: &'static str,
        message: &'static str,
    },
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Engine(e)
    }
}

/// Decodes `input` as `Req`, runs `operation` on it and encodes its response.
async fn run<Req, Resp, Fut>(
    input: Value,
    operation: impl FnOnce(Req) -> Fut,
) -> Result<Value, Failure>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    Fut: Future<Output = Result<Resp, ApiError>>,
{
    // The model has checked the input, so a failure here means a member the engine relies on
    // has a form the model allows and the engine does not.
    let request = serde_json::from_value(input).map_err(|e| ApiError::validation(e.to_string()))?;
    let response = operation(request).await?;
    serde_json::to_value(response)
        .map_err(|e| ApiError::internal(format!("cannot encode the response: {e}")).into())
}

/// A CloudWatch Logs operation.
pub(crate) async fn logs(
    engine: &Engine,
    scope: &Scope,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    let l = engine.logs(scope);
    match operation {
        "CreateLogGroup" => run(input, |r| l.create_log_group(r)).await,
        "DeleteLogGroup" => run(input, |r| l.delete_log_group(r)).await,
        "DescribeLogGroups" => run(input, |r| l.describe_log_groups(r)).await,
        "CreateLogStream" => run(input, |r| l.create_log_stream(r)).await,
        "DeleteLogStream" => run(input, |r| l.delete_log_stream(r)).await,
        "DescribeLogStreams" => run(input, |r| l.describe_log_streams(r)).await,
        "PutLogEvents" => run(input, |r| l.put_log_events(r)).await,
        "GetLogEvents" => run(input, |r| l.get_log_events(r)).await,
        "FilterLogEvents" => run(input, |r| l.filter_log_events(r)).await,
        "PutMetricFilter" => run(input, |r| l.put_metric_filter(r)).await,
        "DescribeMetricFilters" => run(input, |r| l.describe_metric_filters(r)).await,
        "DeleteMetricFilter" => run(input, |r| l.delete_metric_filter(r)).await,
        "TestMetricFilter" => run(input, |r| l.test_metric_filter(r)).await,
        "PutRetentionPolicy" => run(input, |r| l.put_retention_policy(r)).await,
        "ListTagsForResource" => run(input, |r| l.list_tags_for_resource(r)).await,
        "DescribeResourcePolicies" => run(input, |r| l.describe_resource_policies(r)).await,
        "DeleteRetentionPolicy" => run(input, |r| l.delete_retention_policy(r)).await,
        _ => Err(Failure::Unsupported),
    }
}

/// A CloudWatch operation.
pub(crate) async fn cloudwatch(
    engine: &Engine,
    scope: &Scope,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    let (a, m) = (engine.alarms(scope), engine.metrics(scope));
    match operation {
        "PutMetricAlarm" => run(input, |r| a.put_metric_alarm(r)).await,
        "DescribeAlarms" => run(input, |r| a.describe_alarms(r)).await,
        "DeleteAlarms" => run(input, |r| a.delete_alarms(r)).await,
        "SetAlarmState" => run(input, |r| a.set_alarm_state(r)).await,
        "EnableAlarmActions" => run(input, |r| a.enable_alarm_actions(r)).await,
        "DisableAlarmActions" => run(input, |r| a.disable_alarm_actions(r)).await,
        "DescribeAlarmsForMetric" => run(input, |r| a.describe_alarms_for_metric(r)).await,
        "DescribeAlarmHistory" => run(input, |r| a.describe_alarm_history(r)).await,
        "ListTagsForResource" => run(input, |r| a.list_tags_for_resource(r)).await,
        "PutMetricData" => run(input, |r| m.put_metric_data(r)).await,
        "GetMetricStatistics" => run(input, |r| m.get_metric_statistics(r)).await,
        "GetMetricData" => run(input, |r| m.get_metric_data(r)).await,
        "ListMetrics" => run(input, |r| m.list_metrics(r)).await,
        _ => Err(Failure::Unsupported),
    }
}

/// An SNS operation of the signed API.
pub(crate) async fn sns(
    engine: &Engine,
    scope: &Scope,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    let t = engine.topics(scope);
    match operation {
        "CreateTopic" => run(input, |r| t.create_topic(r)).await,
        "DeleteTopic" => run(input, |r| t.delete_topic(r)).await,
        "ListTopics" => run(input, |r| t.list_topics(r)).await,
        "GetTopicAttributes" => run(input, |r| t.get_topic_attributes(r)).await,
        "SetTopicAttributes" => run(input, |r| t.set_topic_attributes(r)).await,
        "Subscribe" => run(input, |r| t.subscribe(r)).await,
        "ConfirmSubscription" => run(input, |r| t.confirm_subscription(r)).await,
        "Unsubscribe" => run(input, |r| t.unsubscribe(r)).await,
        "ListSubscriptions" => run(input, |r| t.list_subscriptions(r)).await,
        "ListSubscriptionsByTopic" => run(input, |r| t.list_subscriptions_by_topic(r)).await,
        "GetSubscriptionAttributes" => run(input, |r| t.get_subscription_attributes(r)).await,
        "SetSubscriptionAttributes" => run(input, |r| t.set_subscription_attributes(r)).await,
        "Publish" => run(input, |r| t.publish(r)).await,
        _ => Err(Failure::Unsupported),
    }
}

/// A CloudTrail operation.
pub(crate) async fn cloudtrail(
    engine: &Engine,
    scope: &Scope,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    let t = engine.trails(scope);
    match operation {
        "CreateTrail" => run(input, |r| t.create_trail(r)).await,
        "UpdateTrail" => run(input, |r| t.update_trail(r)).await,
        "DeleteTrail" => run(input, |r| t.delete_trail(r)).await,
        "GetTrail" => run(input, |r| t.get_trail(r)).await,
        "DescribeTrails" => run(input, |r| t.describe_trails(r)).await,
        "ListTrails" => run(input, |r| t.list_trails(r)).await,
        "GetTrailStatus" => run(input, |r| t.get_trail_status(r)).await,
        "StartLogging" => run(input, |r| t.start_logging(r)).await,
        "StopLogging" => run(input, |r| t.stop_logging(r)).await,
        "GetEventSelectors" => run(input, |r| t.get_event_selectors(r)).await,
        "PutEventSelectors" => run(input, |r| t.put_event_selectors(r)).await,
        "AddTags" => run(input, |r| t.add_tags(r)).await,
        "RemoveTags" => run(input, |r| t.remove_tags(r)).await,
        "ListTags" => run(input, |r| t.list_tags(r)).await,
        "LookupEvents" => run(input, |r| t.lookup_events(r)).await,
        "GetInsightSelectors" => run(input, |r| t.get_insight_selectors(r)).await,
        _ => Err(Failure::Unsupported),
    }
}

/// An STS operation: who the caller is. Keys are trailwatch's own, so the caller is the key:
/// an IAM user named after it in the key's account, or the account's root without signatures.
pub(crate) fn sts(
    scope: &Scope,
    access_key_id: Option<&str>,
    operation: &str,
) -> Result<Value, Failure> {
    if operation != "GetCallerIdentity" {
        return Err(Failure::Unsupported);
    }
    let account = scope.account();
    let partition = &scope.region().partition.id;
    let (user_id, arn) = match access_key_id {
        Some(key) => (
            key.to_owned(),
            format!("arn:{partition}:iam::{account}:user/{key}"),
        ),
        None => (
            account.to_owned(),
            format!("arn:{partition}:iam::{account}:root"),
        ),
    };
    Ok(serde_json::json!({"UserId": user_id, "Account": account, "Arn": arn}))
}

/// Organizations, as it answers an account that belongs to no organization: every call about
/// one is refused with `AWSOrganizationsNotInUseException`. Making or joining one is not
/// served.
pub(crate) fn organizations(operation: &str) -> Result<Value, Failure> {
    match operation {
        "CreateOrganization"
        | "AcceptHandshake"
        | "DeclineHandshake"
        | "DescribeHandshake"
        | "ListHandshakesForAccount" => Err(Failure::Unsupported),
        _ => Err(Failure::Refused {
            shape: "AWSOrganizationsNotInUseException",
            message: "Your account is not a member of an organization.",
        }),
    }
}

/// The SNS operation of an unsigned link in a message: a `SubscribeURL` (ConfirmSubscription)
/// or an `UnsubscribeURL` (Unsubscribe), which anyone holding the message may visit.
pub(crate) async fn sns_link(
    engine: &Engine,
    scope: &Scope,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    let t = engine.topics(scope);
    match operation {
        "ConfirmSubscription" => run(input, |r| t.confirm_subscription_link(r)).await,
        "Unsubscribe" => run(input, |r| t.unsubscribe_link(r)).await,
        _ => Err(Failure::Unsupported),
    }
}
