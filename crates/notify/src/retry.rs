//! When to try an HTTP/S delivery again: SNS's `healthyRetryPolicy`.

use std::time::Duration;

use serde::Deserialize;

use crate::Error;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryPolicy {
    /// `minDelayTarget`, seconds.
    pub min_delay_target: u32,
    /// `maxDelayTarget`, seconds.
    pub max_delay_target: u32,
    /// `numRetries`: all retries, across the four phases.
    pub num_retries: u32,
    /// `numNoDelayRetries`: immediate retries.
    pub num_no_delay_retries: u32,
    /// `numMinDelayRetries`: pre-backoff retries at `minDelayTarget`.
    pub num_min_delay_retries: u32,
    /// `numMaxDelayRetries`: post-backoff retries at `maxDelayTarget`.
    pub num_max_delay_retries: u32,
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
    pub fn from_json(text: &str) -> Result<RetryPolicy, Error> {
        let policy: RetryPolicy =
            serde_json::from_str(text).map_err(|e| Error::InvalidRetryPolicy(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// [`RetryPolicy::from_json`] for an object already parsed as part of a
    /// larger `DeliveryPolicy`.
    pub fn from_json_value(value: &serde_json::Value) -> Result<RetryPolicy, Error> {
        let policy = RetryPolicy::deserialize(value)
            .map_err(|e| Error::InvalidRetryPolicy(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks AWS's limits: at most 100 retries, `0 < minDelayTarget <=
    /// maxDelayTarget <= 3600`, phase counts within `numRetries`, and at most
    /// 3600 s of delays in all.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidRetryPolicy(reason));
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
                matches!(
                    RetryPolicy::from_json(bad),
                    Err(Error::InvalidRetryPolicy(_))
                ),
                "{bad} must be rejected"
            );
        }
    }
}
