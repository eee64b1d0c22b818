//! The outbox and the subscription lifecycle, in-process on a manual clock: confirmation
//! tokens (single-use, new for each message, expiring after three days), unsubscribing with
//! and without authentication, and failed deliveries kept, counted and redriven.

mod common;

use common::{Fixture, START_MS, fixture};
use engine::error::SnsException;
use engine::outbox::{Attempt, DeliveryQuery, MessageKind, RedriveTarget};
use engine::{ApiError, Engine};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 3600 * 1000;
const ENDPOINT: &str = "http://127.0.0.1:9/hook";

impl Fixture {
    /// An SNS operation through the signed API, its request and response as JSON.
    async fn sns(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        call(&self.engine, op, input, false).await
    }

    async fn topic(&self, name: &str) -> String {
        let out = self
            .sns("CreateTopic", json!({"Name": name}))
            .await
            .expect("topic");
        out["TopicArn"].as_str().expect("arn").to_owned()
    }

    async fn subscribe(&self, topic: &str) {
        self.sns(
            "Subscribe",
            json!({"TopicArn": topic, "Protocol": "http", "Endpoint": ENDPOINT}),
        )
        .await
        .expect("subscribe");
    }

    /// Every pending message of this kind, oldest first: (row, token, subscription).
    async fn pending(&self, kind: MessageKind) -> Vec<(i64, Option<String>, String)> {
        let queued = self.engine.queued_deliveries(0).await.expect("queued");
        let ids = queued.iter().map(|q| q.id).collect();
        self.engine
            .deliveries(ids)
            .await
            .expect("deliveries")
            .into_iter()
            .filter(|d| d.kind == kind)
            .map(|d| (d.id, d.token, d.subscription_arn))
            .collect()
    }

    /// Marks every pending message delivered.
    async fn deliver_all(&self) {
        for q in self.engine.queued_deliveries(0).await.expect("queued") {
            self.engine
                .record_attempt(q.id, Attempt::Delivered)
                .await
                .expect("recorded");
        }
    }

    async fn confirm(&self, topic: &str, token: &str) -> Result<Value, ApiError> {
        self.sns(
            "ConfirmSubscription",
            json!({"TopicArn": topic, "Token": token}),
        )
        .await
    }

    async fn confirm_link(&self, topic: &str, token: &str) -> Result<Value, ApiError> {
        call(
            &self.engine,
            "ConfirmSubscription",
            json!({"TopicArn": topic, "Token": token}),
            true,
        )
        .await
    }

    async fn subscriptions(&self, topic: &str) -> Vec<Value> {
        let out = self
            .sns("ListSubscriptionsByTopic", json!({"TopicArn": topic}))
            .await
            .expect("list");
        out["Subscriptions"].as_array().cloned().unwrap_or_default()
    }
}

/// Runs an operation as the wire does: the request decoded from JSON, the response encoded to
/// it; `link` for the unsigned links of messages.
async fn call(engine: &Engine, op: &str, input: Value, link: bool) -> Result<Value, ApiError> {
    async fn run<Req: DeserializeOwned, Resp: Serialize>(
        input: Value,
        f: impl AsyncFnOnce(Req) -> Result<Resp, ApiError>,
    ) -> Result<Value, ApiError> {
        let req = serde_json::from_value(input).expect("a well-formed request");
        Ok(serde_json::to_value(f(req).await?).expect("a response"))
    }
    let (t, a, m) = (
        engine.topics(&Default::default()),
        engine.alarms(&Default::default()),
        engine.metrics(&Default::default()),
    );
    match (op, link) {
        ("PutMetricAlarm", _) => run(input, async |r| a.put_metric_alarm(r).await).await,
        ("DescribeAlarmHistory", _) => {
            run(input, async |r| a.describe_alarm_history(r).await).await
        }
        ("PutMetricData", _) => run(input, async |r| m.put_metric_data(r).await).await,
        ("GetMetricStatistics", _) => run(input, async |r| m.get_metric_statistics(r).await).await,
        ("CreateTopic", _) => run(input, async |r| t.create_topic(r).await).await,
        ("Subscribe", _) => run(input, async |r| t.subscribe(r).await).await,
        ("ConfirmSubscription", false) => {
            run(input, async |r| t.confirm_subscription(r).await).await
        }
        ("ConfirmSubscription", true) => {
            run(input, async |r| t.confirm_subscription_link(r).await).await
        }
        ("Unsubscribe", false) => run(input, async |r| t.unsubscribe(r).await).await,
        ("Unsubscribe", true) => run(input, async |r| t.unsubscribe_link(r).await).await,
        ("ListSubscriptionsByTopic", _) => {
            run(input, async |r| t.list_subscriptions_by_topic(r).await).await
        }
        ("GetSubscriptionAttributes", _) => {
            run(input, async |r| t.get_subscription_attributes(r).await).await
        }
        _ => panic!("no {op} in this test"),
    }
}

fn invalid_token(result: Result<Value, ApiError>) {
    let err = result.expect_err("the token must be refused");
    assert_eq!(err.code, SnsException::InvalidParameterException.into());
    assert_eq!(err.message, "Invalid token");
}

#[tokio::test(flavor = "current_thread")]
async fn confirmation_tokens_expire_after_three_days() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let first = f.pending(MessageKind::SubscriptionConfirmation).await;
    let token = first[0].1.clone().expect("a token");
    f.clock.advance(3 * DAY_MS);
    invalid_token(f.confirm(&topic, &token).await);

    // Subscribing again sends a new confirmation with a new token, which works.
    f.subscribe(&topic).await;
    let again = f.pending(MessageKind::SubscriptionConfirmation).await;
    let fresh = again.last().and_then(|m| m.1.clone()).expect("a token");
    assert_ne!(fresh, token, "each confirmation message has its own token");
    f.clock.advance(3 * DAY_MS - 1);
    let arn = f.confirm(&topic, &fresh).await.expect("confirmed");
    assert_eq!(
        f.subscriptions(&topic).await[0]["SubscriptionArn"],
        arn["SubscriptionArn"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_old_subscribe_url_cannot_restore_a_removed_subscription() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let token = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    let arn = f.confirm_link(&topic, &token).await.expect("confirmed")["SubscriptionArn"]
        .as_str()
        .expect("arn")
        .to_owned();
    // Visiting the link again answers the same ARN, as AWS does.
    assert_eq!(
        f.confirm_link(&topic, &token).await.expect("again")["SubscriptionArn"],
        arn.as_str()
    );
    f.deliver_all().await;

    f.sns("Unsubscribe", json!({"SubscriptionArn": arn}))
        .await
        .expect("unsubscribed");
    assert!(f.subscriptions(&topic).await.is_empty());
    invalid_token(f.confirm_link(&topic, &token).await);
    assert!(
        f.subscriptions(&topic).await.is_empty(),
        "the first SubscribeURL must not bring the subscription back"
    );

    // The UnsubscribeConfirmation's own link restores it, once.
    let restore = f.pending(MessageKind::UnsubscribeConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    f.confirm_link(&topic, &restore).await.expect("restored");
    assert_eq!(f.subscriptions(&topic).await.len(), 1);
    f.deliver_all().await;
    f.sns("Unsubscribe", json!({"SubscriptionArn": arn}))
        .await
        .expect("unsubscribed again");
    invalid_token(f.confirm_link(&topic, &restore).await);
    assert!(f.subscriptions(&topic).await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn authenticate_on_unsubscribe_refuses_the_unsigned_link() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let token = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    // Asked through the unsigned link, the flag is not honoured (anyone could set it).
    call(
        &f.engine,
        "ConfirmSubscription",
        json!({"TopicArn": topic, "Token": token, "AuthenticateOnUnsubscribe": "true"}),
        true,
    )
    .await
    .expect("confirmed");
    let arn = f.subscriptions(&topic).await[0]["SubscriptionArn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let attributes = f
        .sns("GetSubscriptionAttributes", json!({"SubscriptionArn": arn}))
        .await
        .expect("attributes");
    assert_eq!(
        attributes["Attributes"]["ConfirmationWasAuthenticated"],
        "false"
    );

    // Through the signed API it is.
    f.sns(
        "ConfirmSubscription",
        json!({"TopicArn": topic, "Token": token, "AuthenticateOnUnsubscribe": "true"}),
    )
    .await
    .expect("confirmed");
    let attributes = f
        .sns("GetSubscriptionAttributes", json!({"SubscriptionArn": arn}))
        .await
        .expect("attributes");
    assert_eq!(
        attributes["Attributes"]["ConfirmationWasAuthenticated"],
        "true"
    );
    let err = call(
        &f.engine,
        "Unsubscribe",
        json!({"SubscriptionArn": arn}),
        true,
    )
    .await
    .expect_err("the unsigned UnsubscribeURL must be refused");
    assert_eq!(err.code, SnsException::AuthorizationErrorException.into());
    assert_eq!(f.subscriptions(&topic).await.len(), 1);
    f.sns("Unsubscribe", json!({"SubscriptionArn": arn}))
        .await
        .expect("a signed Unsubscribe removes it");
    assert!(f.subscriptions(&topic).await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_delivery_is_kept_counted_in_history_and_redriven_with_its_message_id() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let token = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    f.confirm(&topic, &token).await.expect("confirmed");
    f.deliver_all().await;

    // An alarm whose action publishes to the topic, tripped by a datapoint.
    call(
        &f.engine,
        "PutMetricAlarm",
        json!({
            "AlarmName": "a", "Namespace": "N", "MetricName": "m", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [topic],
        }),
        false,
    )
    .await
    .expect("alarm");
    call(
        &f.engine,
        "PutMetricData",
        json!({"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 5.0}]}),
        false,
    )
    .await
    .expect("data");
    let notification = f.pending(MessageKind::Notification).await;
    assert_eq!(notification.len(), 1);
    let id = notification[0].0;
    let message_id = f.engine.deliveries(vec![id]).await.expect("read")[0]
        .message_id
        .clone();

    f.engine
        .record_attempt(id, Attempt::RetryAt(START_MS + 1000, "HTTP 500".into()))
        .await
        .expect("recorded");
    f.engine
        .record_attempt(id, Attempt::Failed("HTTP 500".into()))
        .await
        .expect("recorded");
    // An outcome arriving for a message that is no longer pending changes nothing.
    f.engine
        .record_attempt(id, Attempt::Delivered)
        .await
        .expect("ignored");

    let failed = f
        .engine
        .list_deliveries(DeliveryQuery {
            state: Some("failed".into()),
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(failed[0].message_id, message_id);
    assert_eq!(failed[0].alarm_name.as_deref(), Some("a"));
    let counts = f.engine.delivery_counts(None).await.expect("counts");
    assert_eq!((counts[0].failed, counts[0].pending), (1, 0));

    let history = call(
        &f.engine,
        "DescribeAlarmHistory",
        json!({"AlarmName": "a", "HistoryItemType": "Action"}),
        false,
    )
    .await
    .expect("history");
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["HistorySummary"].as_str())
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with(&format!("Failed to execute action {topic}"))),
        "{summaries:?}"
    );

    // Each failed attempt counts, as SNS counts HTTP/S attempts.
    let failed_metric = call(
        &f.engine,
        "GetMetricStatistics",
        json!({
            "Namespace": "AWS/SNS", "MetricName": "NumberOfNotificationsFailed",
            "Dimensions": [{"Name": "TopicName", "Value": "alarms"}],
            "StartTime": (START_MS / 1000 - 600) as f64, "EndTime": (START_MS / 1000 + 600) as f64,
            "Period": 60, "Statistics": ["Sum"],
        }),
        false,
    )
    .await
    .expect("statistics");
    assert_eq!(failed_metric["Datapoints"][0]["Sum"], 2.0);

    let done = f
        .engine
        .redrive_deliveries(RedriveTarget::Ids(vec![id, id + 1000]))
        .await
        .expect("redrive");
    assert_eq!(done.redriven.len(), 1);
    assert_eq!(done.redriven[0].message_id, message_id);
    assert_eq!(done.skipped[0].id, id + 1000);
    let again = f
        .engine
        .deliveries(vec![done.redriven[0].new_id])
        .await
        .expect("read");
    assert_eq!(again[0].message_id, message_id);
    assert_eq!(again[0].attempts, 0);
    // Redriving it twice does nothing more.
    let twice = f
        .engine
        .redrive_deliveries(RedriveTarget::Ids(vec![id]))
        .await
        .expect("redrive");
    assert!(twice.redriven.is_empty());
    assert!(twice.skipped[0].reason.contains("redriven"), "{twice:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_and_metadata_endpoints_are_refused_at_subscribe() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    for endpoint in [
        "http://a b/",
        "http:///nohost",
        "http://999.1.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://user:pw@[::ffff:169.254.169.254]/",
    ] {
        let err = f
            .sns(
                "Subscribe",
                json!({"TopicArn": topic, "Protocol": "http", "Endpoint": endpoint}),
            )
            .await
            .expect_err(endpoint);
        assert_eq!(
            err.code,
            SnsException::InvalidParameterException.into(),
            "{endpoint}"
        );
        assert!(
            err.message.starts_with("Invalid parameter: Endpoint"),
            "{endpoint}: {}",
            err.message
        );
    }
    assert!(f.subscriptions(&topic).await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn restoring_keeps_one_subscription_per_endpoint_and_its_authentication() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let token = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    let arn = f
        .sns(
            "ConfirmSubscription",
            json!({"TopicArn": topic, "Token": token, "AuthenticateOnUnsubscribe": "true"}),
        )
        .await
        .expect("confirmed")["SubscriptionArn"]
        .as_str()
        .expect("arn")
        .to_owned();
    f.deliver_all().await;
    f.sns("Unsubscribe", json!({"SubscriptionArn": arn}))
        .await
        .expect("unsubscribed");
    let restore = f.pending(MessageKind::UnsubscribeConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    f.deliver_all().await;

    // Restored, it still wants a signed Unsubscribe.
    f.confirm_link(&topic, &restore).await.expect("restored");
    let err = call(
        &f.engine,
        "Unsubscribe",
        json!({"SubscriptionArn": arn}),
        true,
    )
    .await
    .expect_err("still authenticated");
    assert_eq!(err.code, SnsException::AuthorizationErrorException.into());

    // Removed again, then subscribed again by the endpoint: an old restore link answers the
    // subscription that exists instead of adding a second one.
    f.sns("Unsubscribe", json!({"SubscriptionArn": arn}))
        .await
        .expect("unsubscribed");
    let second_restore = f.pending(MessageKind::UnsubscribeConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    f.deliver_all().await;
    f.subscribe(&topic).await;
    let fresh = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    let current = f.confirm(&topic, &fresh).await.expect("confirmed")["SubscriptionArn"].clone();
    let answered = f
        .confirm_link(&topic, &second_restore)
        .await
        .expect("answered");
    assert_eq!(answered["SubscriptionArn"], current);
    assert_eq!(f.subscriptions(&topic).await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_redriven_confirmation_carries_a_new_token() {
    let f = fixture();
    let topic = f.topic("alarms").await;
    f.subscribe(&topic).await;
    let (id, old, _) = f.pending(MessageKind::SubscriptionConfirmation).await[0].clone();
    f.engine
        .record_attempt(id, Attempt::Failed("refused".into()))
        .await
        .expect("recorded");
    f.clock.advance(3 * DAY_MS);
    let done = f
        .engine
        .redrive_deliveries(RedriveTarget::Ids(vec![id]))
        .await
        .expect("redrive");
    let again = f
        .engine
        .deliveries(vec![done.redriven[0].new_id])
        .await
        .expect("read");
    let token = again[0].token.clone().expect("a token");
    assert_ne!(
        Some(token.clone()),
        old,
        "the expired token is not sent again"
    );
    f.confirm(&topic, &token)
        .await
        .expect("the new token confirms");
    invalid_token(f.confirm(&topic, old.as_deref().expect("old token")).await);
}

fn request<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a well-formed request")
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_notification_of_another_accounts_alarm_goes_to_that_alarms_history() {
    use engine::scope::{Region, Scope};
    let f = fixture();
    let owner = Scope::default();
    let other = Scope::new(
        "111122223333",
        Region::named("us-east-1").expect("a region"),
    );
    let topic = f.topic("shared").await;
    f.subscribe(&topic).await;
    let token = f.pending(MessageKind::SubscriptionConfirmation).await[0]
        .1
        .clone()
        .expect("a token");
    f.confirm(&topic, &token).await.expect("confirmed");
    f.deliver_all().await;
    // The topic's owner lets CloudWatch publish for the other account's alarms.
    let policy = json!({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "SNS:Publish", "Resource": topic,
        "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}},
    }]});
    f.engine
        .topics(&owner)
        .set_topic_attributes(request(json!({
            "TopicArn": topic, "AttributeName": "Policy", "AttributeValue": policy.to_string(),
        })))
        .await
        .expect("policy");
    f.engine
        .alarms(&other)
        .put_metric_alarm(request(json!({
            "AlarmName": "a", "Namespace": "N", "MetricName": "m", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "AlarmActions": [topic],
        })))
        .await
        .expect("alarm");
    f.engine
        .metrics(&other)
        .put_metric_data(request(
            json!({"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 5.0}]}),
        ))
        .await
        .expect("data");
    let notification = f.pending(MessageKind::Notification).await;
    assert_eq!(notification.len(), 1, "the policy let the alarm publish");
    f.engine
        .record_attempt(notification[0].0, Attempt::Failed("HTTP 500".into()))
        .await
        .expect("recorded");

    let failures = |scope: Scope| {
        let engine = &f.engine;
        async move {
            let history = engine
                .alarms(&scope)
                .describe_alarm_history(request(
                    json!({"AlarmName": "a", "HistoryItemType": "Action"}),
                ))
                .await
                .expect("history");
            serde_json::to_value(history).expect("JSON")["AlarmHistoryItems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i["HistorySummary"].as_str().map(str::to_owned))
                .filter(|s| s.starts_with("Failed to execute action"))
                .count()
        }
    };
    assert_eq!(failures(other.clone()).await, 1, "the alarm's own history");
    assert_eq!(
        failures(owner).await,
        0,
        "nothing in the topic owner's account"
    );
}
