//! Datapoints: what PutMetricData and metric filters record, checked as CloudWatch checks them.

use super::api::{Dimension, PutMetricDataRequest};
use crate::ApiError;
use crate::error::CloudWatchException;
use crate::format::java_double;

pub(crate) const INVALID_VALUE: CloudWatchException =
    CloudWatchException::InvalidParameterValueException;
pub(crate) const INVALID_COMBINATION: CloudWatchException =
    CloudWatchException::InvalidParameterCombinationException;

/// PutMetricData accepts datapoints up to two weeks old and two hours ahead.
const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// The smallest and largest magnitudes CloudWatch accepts for a metric value (its documented
/// base-10 bounds, about 2^-360 and 2^360).
const VALUE_MIN: f64 = 8.515920e-109;
const VALUE_MAX: f64 = 1.174271e+108;

/// Whether CloudWatch accepts `v` as a metric value: zero, or a magnitude within its range.
/// Sums of such values stay finite for any count of samples a store can hold.
pub(crate) fn value_in_range(v: f64) -> bool {
    v == 0.0 || (VALUE_MIN..=VALUE_MAX).contains(&v.abs())
}

/// One sample for a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub unit: String,
    pub timestamp_ms: i64,
    /// The samples, as their aggregates: one value, `Values` with `Counts`, or a statistic set
    /// all arrive in this form, so that a count of a million costs one row, not a million.
    pub stats: Aggregate,
    /// `StorageResolution=1`: kept per second rather than per minute.
    pub high_resolution: bool,
}

/// Sum, count, minimum and maximum of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub sum: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
}

impl Datum {
    /// The bucket the store adds its samples up in, as its start in seconds: a minute, or a
    /// second at high resolution.
    pub fn bucket_s(&self) -> i64 {
        let resolution = if self.high_resolution { 1 } else { 60 };
        self.timestamp_ms.div_euclid(1000).div_euclid(resolution) * resolution
    }
}

impl Aggregate {
    /// Adds the samples of `other`.
    pub fn add(&mut self, other: &Aggregate) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// One sample.
    pub fn one(value: f64) -> Aggregate {
        Aggregate {
            sum: value,
            count: 1.0,
            min: value,
            max: value,
        }
    }
}

/// Dimensions in canonical form: sorted by name, as JSON `[{"Name":…,"Value":…}]`. Metrics are
/// identified by namespace, name and this text.
pub(crate) fn dimensions_key(dims: &[(String, String)]) -> String {
    let mut sorted: Vec<Dimension> = dims
        .iter()
        .map(|(name, value)| Dimension {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    sorted.sort();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "[]".to_owned())
}

/// The name and value pairs of model dimensions.
pub(crate) fn pairs(dims: &[Dimension]) -> Vec<(String, String)> {
    dims.iter()
        .map(|d| (d.name.clone(), d.value.clone()))
        .collect()
}

/// Reads PutMetricData's input into samples, with CloudWatch's checks and errors.
pub(crate) fn data_of(req: &PutMetricDataRequest, now_ms: i64) -> Result<Vec<Datum>, ApiError> {
    if req.namespace.starts_with("AWS/") {
        return Err(ApiError::new(
            INVALID_VALUE,
            "The value AWS/ for parameter Namespace is invalid.",
        ));
    }
    let mut out = Vec::new();
    for (i, d) in req.metric_data.iter().enumerate() {
        let at = |k: &str| format!("MetricData.member.{}.{k}", i + 1);
        let invalid = |k: &str, why: &str| {
            Err(ApiError::new(
                INVALID_VALUE,
                format!("The parameter {} {why}", at(k)),
            ))
        };
        // Values outside CloudWatch's range get AWS's answer for them.
        let out_of_range = |k: &str, x: f64| {
            Err(ApiError::new(
                INVALID_VALUE,
                format!(
                    "The value {} for parameter {} is invalid.",
                    java_double(x),
                    at(k)
                ),
            ))
        };
        let ts = d.timestamp.map_or(now_ms, |s| (s * 1000.0) as i64);
        if ts < now_ms - MAX_AGE_MS || ts > now_ms + MAX_AHEAD_MS {
            return invalid(
                "Timestamp",
                "must specify a time no more than two weeks in the past and no more than two hours in the future.",
            );
        }
        if d.storage_resolution.is_some_and(|r| r != 1 && r != 60) {
            return invalid("StorageResolution", "must be 1 or 60.");
        }
        let given: Vec<&str> = [
            ("Value", d.value.is_some()),
            ("Values", d.values.is_some()),
            ("StatisticValues", d.statistic_values.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(k, _)| *k)
        .collect();
        if given.is_empty() {
            // AWS's text (recorded before `Values` existed; it names the two it knew).
            return Err(ApiError::new(
                INVALID_COMBINATION,
                format!(
                    "At least one of the parameters {} and {} must be specified.",
                    at("Value"),
                    at("StatisticValues")
                ),
            ));
        }
        if given.len() > 1 {
            let both: Vec<String> = given.iter().map(|k| at(k)).collect();
            return Err(ApiError::new(
                INVALID_COMBINATION,
                format!(
                    "The parameters {} are mutually exclusive and you have specified both.",
                    both.join(" and ")
                ),
            ));
        }
        let mut samples: Vec<Aggregate> = Vec::new();
        if let Some(x) = d.value {
            if !x.is_finite() {
                return invalid("Value", "must be a finite number.");
            }
            if !value_in_range(x) {
                return out_of_range("Value", x);
            }
            samples.push(Aggregate::one(x));
        } else if let Some(list) = &d.values {
            if let Some(counts) = &d.counts
                && counts.len() != list.len()
            {
                return Err(ApiError::new(
                    INVALID_VALUE,
                    format!(
                        "The parameters {} and {} must be of the same size.",
                        at("Values"),
                        at("Counts")
                    ),
                ));
            }
            for (j, &x) in list.iter().enumerate() {
                if !x.is_finite() {
                    return invalid("Values", "must hold finite numbers.");
                }
                if !value_in_range(x) {
                    return out_of_range(&format!("Values.member.{}", j + 1), x);
                }
                let n = match d.counts.as_ref().and_then(|c| c.get(j)) {
                    None => 1.0,
                    Some(&n) if n.is_finite() && n >= 0.0 => n,
                    Some(_) => return invalid("Counts", "must hold non-negative numbers."),
                };
                // A count so large that the samples' sum leaves the range could overflow the
                // period's Sum; refused like an out-of-range value.
                if (x * n).abs() > VALUE_MAX {
                    return out_of_range(&format!("Counts.member.{}", j + 1), n);
                }
                if n > 0.0 {
                    samples.push(Aggregate {
                        sum: x * n,
                        count: n,
                        min: x,
                        max: x,
                    });
                }
            }
        } else if let Some(s) = &d.statistic_values {
            let all = [s.sample_count, s.sum, s.minimum, s.maximum];
            if all.iter().any(|v| !v.is_finite()) {
                return invalid("StatisticValues", "must hold finite numbers.");
            }
            for (k, x) in [
                ("Sum", s.sum),
                ("Minimum", s.minimum),
                ("Maximum", s.maximum),
            ] {
                if !value_in_range(x) {
                    return out_of_range(&format!("StatisticValues.{k}"), x);
                }
            }
            if s.sample_count <= 0.0 || s.minimum > s.maximum {
                return invalid(
                    "StatisticValues",
                    "must have a positive SampleCount and a Minimum no greater than its Maximum.",
                );
            }
            samples.push(Aggregate {
                sum: s.sum,
                count: s.sample_count,
                min: s.minimum,
                max: s.maximum,
            });
        }
        for stats in samples {
            out.push(Datum {
                namespace: req.namespace.clone(),
                metric_name: d.metric_name.clone(),
                dimensions: pairs(&d.dimensions),
                unit: d.unit.clone().unwrap_or_else(|| "None".to_owned()),
                timestamp_ms: ts,
                stats,
                high_resolution: d.storage_resolution == Some(1),
            });
        }
    }
    Ok(out)
}
