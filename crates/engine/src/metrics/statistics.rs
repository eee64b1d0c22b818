//! Statistics of metric periods, from the sums, counts, minima and maxima kept per period.

/// Which metric samples to aggregate, and into which periods.
#[derive(Debug, Clone, Copy)]
pub struct MetricQuery<'a> {
    pub namespace: &'a str,
    pub metric: &'a str,
    /// Canonical dimensions text (see `datum::dimensions_key`).
    pub dims: &'a str,
    pub unit: Option<&'a str>,
    pub period_s: i64,
    /// The first period's start.
    pub first_s: i64,
    /// Samples from here on are left out.
    pub end_s: i64,
}

/// One period's aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodAggregate {
    /// Periods since the query's first one.
    pub index: i64,
    pub sum: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
}

impl PeriodAggregate {
    /// The statistic `name` of this period: `Sum`, `SampleCount`, `Average`, `Minimum` or
    /// `Maximum`; `None` for others.
    pub fn statistic(&self, name: &str) -> Option<f64> {
        match name {
            "Sum" => Some(self.sum),
            "SampleCount" => Some(self.count),
            "Average" => (self.count > 0.0).then(|| self.sum / self.count),
            "Minimum" => Some(self.min),
            "Maximum" => Some(self.max),
            _ => None,
        }
    }
}

/// The statistics kept: everything else needs the samples themselves.
pub(crate) const SIMPLE: [&str; 5] = ["Sum", "SampleCount", "Average", "Minimum", "Maximum"];

/// Whether `name` is one of CloudWatch's extended statistics: a percentile (`p99`, `p99.9`),
/// a trimmed or winsorized mean, count or sum (`tm90`, `wm(10%:90%)`, `TC(…)`, `ts99`), a
/// percentile rank (`PR(:300)`) or `IQM`.
pub(crate) fn is_extended_statistic(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let argument = |rest: &str| {
        let number =
            |t: &str| !t.is_empty() && t.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v));
        number(rest) || (rest.starts_with('(') && rest.ends_with(')') && rest.len() > 2)
    };
    lower == "iqm"
        || lower
            .strip_prefix('p')
            .is_some_and(|r| !r.starts_with('r') && argument(r))
        || ["tm", "wm", "tc", "ts", "pr"]
            .iter()
            .any(|p| lower.strip_prefix(p).is_some_and(argument))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_statistics_are_told_from_invalid_ones() {
        for name in [
            "p99",
            "p99.9",
            "p0",
            "p100",
            "tm90",
            "TM(10%:90%)",
            "wm99",
            "tc(:0.5)",
        ] {
            assert!(is_extended_statistic(name), "{name}");
        }
        for name in ["IQM", "PR(:300)", "ts99"] {
            assert!(is_extended_statistic(name), "{name}");
        }
        for name in ["Median", "p101", "p", "pp99", "tm", "Avg", "p-1", "()"] {
            assert!(!is_extended_statistic(name), "{name}");
        }
    }
}
