//! SNS delivery policies for HTTP/S subscriptions: when to try a delivery again
//! (`healthyRetryPolicy`), how fast to send (`throttlePolicy`) and with which
//! `Content-Type` (`requestPolicy`), from a topic's `DeliveryPolicy`
//! (`http.default…`) and a subscription's own, as SNS combines them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest delay and longest total retry time AWS accepts, in seconds.
const MAX_DELAY_SECONDS: u32 = 3600;
/// Most retries AWS accepts for HTTP/S.
const MAX_RETRIES: u32 = 100;

/// `backoffFunction`: how delays grow from `minDelayTarget` to
/// `maxDelayTarget` during the backoff phase.
///
/// AWS names the four curves and charts them but publishes no formulas; with
/// `f` = (backoff retry number) / (backoff retries) the delay here is
/// `min + (max - min)·g(f)` with `g(f)` = `f` (linear), `f²` (arithmetic),
/// `f³` (geometric), and `min·(max/min)^f` for exponential. All four start
/// just above `min`, end exactly at `max`, and agree when `min == max`, which
/// is the default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffFunction {
    /// `"linear"`: the default.
    #[default]
    Linear,
    /// `"arithmetic"`.
    Arithmetic,
    /// `"geometric"`.
    Geometric,
    /// `"exponential"`.
    Exponential,
}

/// A delivery retry policy in AWS's four phases: immediate retries,
/// pre-backoff retries at `min_delay_target`, backoff retries growing to
/// `max_delay_target`, and post-backoff retries at `max_delay_target`.
///
/// [`RetryPolicy::default`] is AWS's HTTP/S policy: 3 retries, 20 s apart.
/// Delays are targets; add jitter when scheduling so that many failed
/// deliveries do not retry in lockstep.
///
/// Fields are in the order SNS writes them in `EffectiveDeliveryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryPolicy {
    /// `minDelayTarget`, seconds.
    pub min_delay_target: u32,
    /// `maxDelayTarget`, seconds.
    pub max_delay_target: u32,
    /// `numRetries`: all retries, across the four phases.
    pub num_retries: u32,
    /// `numMaxDelayRetries`: post-backoff retries at `maxDelayTarget`.
    pub num_max_delay_retries: u32,
    /// `numNoDelayRetries`: immediate retries.
    pub num_no_delay_retries: u32,
    /// `numMinDelayRetries`: pre-backoff retries at `minDelayTarget`.
    pub num_min_delay_retries: u32,
    /// `backoffFunction`.
    pub backoff_function: BackoffFunction,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_delay_target: 20,
            max_delay_target: 20,
            num_retries: 3,
            num_no_delay_retries: 0,
            num_min_delay_retries: 0,
            num_max_delay_retries: 0,
            backoff_function: BackoffFunction::Linear,
        }
    }
}

impl RetryPolicy {
    /// Parses a `healthyRetryPolicy` object (as in a subscription's
    /// `DeliveryPolicy`, or a topic's `http.defaultHealthyRetryPolicy`) and
    /// checks it against AWS's limits. Fields left out keep their
    /// [`RetryPolicy::default`] values.
    pub fn from_json(text: &str) -> Result<RetryPolicy, String> {
        let policy: RetryPolicy = serde_json::from_str(text).map_err(|e| e.to_string())?;
        policy.validate()?;
        Ok(policy)
    }

    /// [`RetryPolicy::from_json`] for an object already parsed as part of a
    /// larger `DeliveryPolicy`.
    pub fn from_json_value(value: &Value) -> Result<RetryPolicy, String> {
        let policy = RetryPolicy::deserialize(value).map_err(|e| e.to_string())?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks AWS's limits: at most 100 retries, `0 < minDelayTarget <=
    /// maxDelayTarget <= 3600`, phase counts within `numRetries`, and at most
    /// 3600 s of delays in all.
    pub fn validate(&self) -> Result<(), String> {
        let invalid = |reason: String| Err(reason);
        if self.num_retries > MAX_RETRIES {
            return invalid(format!("numRetries must be at most {MAX_RETRIES}"));
        }
        if self.min_delay_target == 0 {
            return invalid("minDelayTarget must be at least 1".to_owned());
        }
        if self.min_delay_target > self.max_delay_target {
            return invalid("minDelayTarget must not exceed maxDelayTarget".to_owned());
        }
        if self.max_delay_target > MAX_DELAY_SECONDS {
            return invalid(format!(
                "maxDelayTarget must be at most {MAX_DELAY_SECONDS}"
            ));
        }
        let phases = u64::from(self.num_no_delay_retries)
            + u64::from(self.num_min_delay_retries)
            + u64::from(self.num_max_delay_retries);
        if phases > u64::from(self.num_retries) {
            return invalid(
                "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed numRetries"
                    .to_owned(),
            );
        }
        let total: Duration = (1..=self.num_retries)
            .filter_map(|retry| self.delay_before_retry(retry))
            .sum();
        if total > Duration::from_secs(u64::from(MAX_DELAY_SECONDS)) {
            return invalid(format!(
                "the retries must fit within {MAX_DELAY_SECONDS} seconds"
            ));
        }
        Ok(())
    }

    /// All attempts a delivery gets: the first plus `numRetries`.
    pub fn max_attempts(&self) -> u32 {
        self.num_retries.saturating_add(1)
    }

    /// How long to wait after a failed attempt before retry number `retry`
    /// (1 is the second attempt), or `None` when the policy allows no such retry.
    pub fn delay_before_retry(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.num_retries {
            return None;
        }
        let min = f64::from(self.min_delay_target);
        let max = f64::from(self.max_delay_target.max(self.min_delay_target));
        let no_delay_end = self.num_no_delay_retries;
        let min_delay_end = no_delay_end.saturating_add(self.num_min_delay_retries);
        let backoff_end = self
            .num_retries
            .saturating_sub(self.num_max_delay_retries)
            .max(min_delay_end);

        let seconds = if retry <= no_delay_end {
            0.0
        } else if retry <= min_delay_end {
            min
        } else if retry <= backoff_end {
            let step = f64::from(retry - min_delay_end);
            let steps = f64::from(backoff_end - min_delay_end);
            let f = step / steps;
            match self.backoff_function {
                BackoffFunction::Linear => min + (max - min) * f,
                BackoffFunction::Arithmetic => min + (max - min) * f * f,
                BackoffFunction::Geometric => min + (max - min) * f * f * f,
                BackoffFunction::Exponential if min > 0.0 => min * (max / min).powf(f),
                BackoffFunction::Exponential => max * f,
            }
        } else {
            max
        };
        Some(Duration::from_millis((seconds * 1000.0).round() as u64))
    }
}

/// `throttlePolicy`: the most deliveries a second to one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottlePolicy {
    /// `maxReceivesPerSecond`, at least 1.
    pub max_receives_per_second: u32,
}

/// `requestPolicy`: how a Notification's request is made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPolicy {
    /// `headerContentType`: the `Content-Type` of Notifications.
    pub header_content_type: String,
}

/// The `Content-Type` values SNS accepts in a `requestPolicy`.
const CONTENT_TYPES: [&str; 3] = ["text/plain", "application/json", "application/xml"];

/// A subscription's `DeliveryPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionPolicy {
    healthy_retry_policy: Option<RetryPolicy>,
    throttle_policy: Option<ThrottlePolicy>,
    request_policy: Option<RequestPolicy>,
}

/// The `http` part of a topic's `DeliveryPolicy`: defaults for its HTTP/S subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicHttpPolicy {
    default_healthy_retry_policy: Option<RetryPolicy>,
    default_throttle_policy: Option<ThrottlePolicy>,
    default_request_policy: Option<RequestPolicy>,
    #[serde(default)]
    disable_subscription_overrides: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct TopicPolicy {
    #[serde(default)]
    http: TopicHttpPolicy,
}

fn check_parts(
    retry: Option<&RetryPolicy>,
    throttle: Option<&ThrottlePolicy>,
    request: Option<&RequestPolicy>,
) -> Result<(), String> {
    if let Some(retry) = retry {
        retry.validate()?;
    }
    if throttle.is_some_and(|t| t.max_receives_per_second == 0) {
        return Err("maxReceivesPerSecond must be at least 1".to_owned());
    }
    if let Some(request) = request {
        let media = request
            .header_content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !CONTENT_TYPES.contains(&media) {
            return Err(format!(
                "headerContentType must be one of {}",
                CONTENT_TYPES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks a topic's `DeliveryPolicy` attribute; the error is the reason, for SNS's
/// `Invalid parameter: DeliveryPolicy: …`.
pub fn check_topic_policy(text: &str) -> Result<(), String> {
    let policy: TopicPolicy = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let http = &policy.http;
    check_parts(
        http.default_healthy_retry_policy.as_ref(),
        http.default_throttle_policy.as_ref(),
        http.default_request_policy.as_ref(),
    )
}

/// Checks a subscription's `DeliveryPolicy` attribute.
pub fn check_subscription_policy(text: &str) -> Result<(), String> {
    let policy: SubscriptionPolicy = serde_json::from_str(text).map_err(|e| e.to_string())?;
    check_parts(
        policy.healthy_retry_policy.as_ref(),
        policy.throttle_policy.as_ref(),
        policy.request_policy.as_ref(),
    )
}

/// What applies to one HTTP/S subscription: its own `DeliveryPolicy` where it sets a part and
/// the topic allows overrides, else the topic's default, else SNS's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EffectivePolicy {
    /// When to retry.
    pub retry: RetryPolicy,
    /// At most this many deliveries a second, if set.
    pub throttle: Option<ThrottlePolicy>,
    /// The `Content-Type` of Notifications, if set.
    pub request: Option<RequestPolicy>,
}

impl EffectivePolicy {
    /// Combines a topic's and a subscription's `DeliveryPolicy` texts. A policy that does not
    /// parse (only a store written before policies were checked can hold one) counts as unset.
    pub fn of(topic: Option<&str>, subscription: Option<&str>) -> EffectivePolicy {
        let topic: TopicPolicy = topic
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let own: SubscriptionPolicy = subscription
            .filter(|_| !topic.http.disable_subscription_overrides)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let http = topic.http;
        EffectivePolicy {
            retry: own
                .healthy_retry_policy
                .or(http.default_healthy_retry_policy)
                .filter(|r| r.validate().is_ok())
                .unwrap_or_default(),
            throttle: own.throttle_policy.or(http.default_throttle_policy),
            request: own.request_policy.or(http.default_request_policy),
        }
    }

    /// A subscription's `EffectiveDeliveryPolicy` attribute, in SNS's shape and key order.
    pub fn subscription_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Shown<'a> {
            healthy_retry_policy: &'a RetryPolicy,
            sickly_retry_policy: Option<()>,
            throttle_policy: Option<&'a ThrottlePolicy>,
            #[serde(skip_serializing_if = "Option::is_none")]
            request_policy: Option<&'a RequestPolicy>,
            guaranteed: bool,
        }
        serde_json::to_string(&Shown {
            healthy_retry_policy: &self.retry,
            sickly_retry_policy: None,
            throttle_policy: self.throttle.as_ref(),
            request_policy: self.request.as_ref(),
            guaranteed: false,
        })
        .unwrap_or_default()
    }
}

/// A topic's `EffectiveDeliveryPolicy` attribute: its `DeliveryPolicy` over SNS's defaults,
/// in SNS's key order.
pub fn topic_effective_json(topic: Option<&str>) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Http {
        default_healthy_retry_policy: RetryPolicy,
        #[serde(skip_serializing_if = "Option::is_none")]
        default_throttle_policy: Option<ThrottlePolicy>,
        #[serde(skip_serializing_if = "Option::is_none")]
        default_request_policy: Option<RequestPolicy>,
        disable_subscription_overrides: bool,
    }
    #[derive(Serialize)]
    struct Shown {
        http: Http,
    }
    let policy: TopicPolicy = topic
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let http = policy.http;
    serde_json::to_string(&Shown {
        http: Http {
            default_healthy_retry_policy: http.default_healthy_retry_policy.unwrap_or_default(),
            default_throttle_policy: http.default_throttle_policy,
            default_request_policy: http.default_request_policy,
            disable_subscription_overrides: http.disable_subscription_overrides,
        },
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn default_is_three_retries_twenty_seconds_apart() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.delay_before_retry(0), None);
        assert_eq!(policy.delay_before_retry(1), secs(20));
        assert_eq!(policy.delay_before_retry(2), secs(20));
        assert_eq!(policy.delay_before_retry(3), secs(20));
        assert_eq!(policy.delay_before_retry(4), None);
        assert!(policy.validate().is_ok());
    }

    #[test]
    fn phases_run_in_order() {
        let policy = RetryPolicy::from_json(
            r#"{"minDelayTarget":1,"maxDelayTarget":20,"numRetries":10,
                "numNoDelayRetries":2,"numMinDelayRetries":2,"numMaxDelayRetries":2,
                "backoffFunction":"linear"}"#,
        )
        .expect("valid policy");
        let delays: Vec<_> = (1..=11).map(|n| policy.delay_before_retry(n)).collect();
        assert_eq!(delays[0], secs(0));
        assert_eq!(delays[1], secs(0));
        assert_eq!(delays[2], secs(1));
        assert_eq!(delays[3], secs(1));
        // Four backoff retries from 1 s towards 20 s, the last one at 20 s.
        assert_eq!(delays[4], Some(Duration::from_millis(5750)));
        assert_eq!(delays[7], secs(20));
        assert_eq!(delays[8], secs(20));
        assert_eq!(delays[9], secs(20));
        assert_eq!(delays[10], None);
    }

    #[test]
    fn backoff_curves_stay_between_min_and_max() {
        for function in ["linear", "arithmetic", "geometric", "exponential"] {
            let policy = RetryPolicy::from_json(&format!(
                r#"{{"minDelayTarget":2,"maxDelayTarget":60,"numRetries":10,"backoffFunction":"{function}"}}"#
            ))
            .expect("valid policy");
            let mut previous = Duration::from_secs(2);
            for retry in 1..=10 {
                let delay = policy.delay_before_retry(retry).expect("within numRetries");
                assert!(delay >= previous, "{function} grows");
                assert!(delay <= Duration::from_secs(60), "{function} capped");
                previous = delay;
            }
            assert_eq!(previous, Duration::from_secs(60), "{function} ends at max");
        }
    }

    #[test]
    fn missing_fields_keep_defaults() {
        let policy = RetryPolicy::from_json(r#"{"numRetries":5}"#).expect("valid policy");
        assert_eq!(policy.num_retries, 5);
        assert_eq!(policy.min_delay_target, 20);
        assert_eq!(policy.backoff_function, BackoffFunction::Linear);
    }

    #[test]
    fn limits_are_enforced() {
        for bad in [
            r#"{"numRetries":101}"#,
            r#"{"minDelayTarget":0}"#,
            r#"{"minDelayTarget":30,"maxDelayTarget":20}"#,
            r#"{"minDelayTarget":20,"maxDelayTarget":3601}"#,
            r#"{"numRetries":2,"numNoDelayRetries":2,"numMaxDelayRetries":1}"#,
            r#"{"numRetries":100,"minDelayTarget":3600,"maxDelayTarget":3600}"#,
            r#"{"backoffFunction":"cubic"}"#,
            r#"{"numRetries":"3"}"#,
            "not json",
        ] {
            assert!(
                RetryPolicy::from_json(bad).is_err(),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn subscription_policy_overrides_the_topic_unless_disabled() {
        let topic = r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":1},"defaultRequestPolicy":{"headerContentType":"application/json"}}}"#;
        let own = r#"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":2,"maxDelayTarget":2},"throttlePolicy":{"maxReceivesPerSecond":3}}"#;
        let p = EffectivePolicy::of(Some(topic), Some(own));
        assert_eq!(p.retry.num_retries, 1);
        assert_eq!(p.throttle.map(|t| t.max_receives_per_second), Some(3));
        assert_eq!(
            p.request.map(|r| r.header_content_type).as_deref(),
            Some("application/json")
        );
        let locked = topic.replace(
            r#""http":{"#,
            r#""http":{"disableSubscriptionOverrides":true,"#,
        );
        assert_eq!(
            EffectivePolicy::of(Some(&locked), Some(own))
                .retry
                .num_retries,
            5
        );
        assert_eq!(
            EffectivePolicy::of(None, None).retry,
            RetryPolicy::default()
        );
    }

    #[test]
    fn policies_are_checked() {
        assert!(
            check_topic_policy(r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":3}}}"#)
                .is_ok()
        );
        assert!(
            check_topic_policy(r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":101}}}"#)
                .is_err()
        );
        assert!(
            check_subscription_policy(r#"{"throttlePolicy":{"maxReceivesPerSecond":0}}"#).is_err()
        );
        assert!(
            check_subscription_policy(r#"{"requestPolicy":{"headerContentType":"text/html"}}"#)
                .is_err()
        );
        assert!(
            check_subscription_policy(
                r#"{"requestPolicy":{"headerContentType":"application/json; charset=UTF-8"}}"#
            )
            .is_ok()
        );
        assert!(check_subscription_policy("[]").is_err());
    }

    #[test]
    fn effective_policies_are_written_in_sns_shape() {
        assert_eq!(
            topic_effective_json(None),
            r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false}}"#
        );
        assert_eq!(
            EffectivePolicy::default().subscription_json(),
            r#"{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"guaranteed":false}"#
        );
    }
}
