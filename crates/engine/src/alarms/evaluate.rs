//! CloudWatch alarm evaluation: from a metric's period values to a state, with AWS's texts.
//!
//! Pure functions over the values of an evaluation range (oldest first, `None` for a period
//! without data), so the rules of reference §2.2 — M out of N, the evaluation range, missing-data
//! treatment and the premature-alarm rule — can be tested on AWS's own truth tables.

use serde::{Deserialize, Serialize};

use crate::format::java_double;

/// An alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    /// The condition holds.
    #[serde(rename = "ALARM")]
    Alarm,
    /// The condition does not hold.
    #[serde(rename = "OK")]
    Ok,
    /// Not enough data to decide.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    /// AWS's name: `ALARM`, `OK`, `INSUFFICIENT_DATA`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// Parses AWS's name.
    pub fn parse(s: &str) -> Option<AlarmState> {
        match s {
            "ALARM" => Some(AlarmState::Alarm),
            "OK" => Some(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

/// `ComparisonOperator` of a static-threshold alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanOrEqualToThreshold`
    GreaterOrEqual,
    /// `GreaterThanThreshold`
    Greater,
    /// `LessThanThreshold`
    Less,
    /// `LessThanOrEqualToThreshold`
    LessOrEqual,
}

impl Comparison {
    /// Parses AWS's operator name; anomaly-band operators have no static threshold.
    pub fn parse(s: &str) -> Option<Comparison> {
        match s {
            "GreaterThanOrEqualToThreshold" => Some(Comparison::GreaterOrEqual),
            "GreaterThanThreshold" => Some(Comparison::Greater),
            "LessThanThreshold" => Some(Comparison::Less),
            "LessThanOrEqualToThreshold" => Some(Comparison::LessOrEqual),
            _ => None,
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Greater => value > threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }

    /// The phrase in StateReason texts: `greater than or equal to`.
    pub fn phrase(self) -> &'static str {
        match self {
            Comparison::GreaterOrEqual => "greater than or equal to",
            Comparison::Greater => "greater than",
            Comparison::Less => "less than",
            Comparison::LessOrEqual => "less than or equal to",
        }
    }

    /// Whether later data in a period can only push its value further in this direction, for
    /// statistics that only grow (Sum of non-negative values, Maximum, SampleCount).
    pub fn is_upward(self) -> bool {
        matches!(self, Comparison::GreaterOrEqual | Comparison::Greater)
    }
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreatMissingData {
    /// `missing` (the default): all-missing ranges are INSUFFICIENT_DATA.
    Missing,
    /// `ignore`: keep the current state.
    Ignore,
    /// `breaching`: missing periods breach.
    Breaching,
    /// `notBreaching`: missing periods do not breach.
    NotBreaching,
}

impl TreatMissingData {
    /// Parses AWS's value; absent means `missing`.
    pub fn parse(s: Option<&str>) -> TreatMissingData {
        match s {
            Some("ignore") => TreatMissingData::Ignore,
            Some("breaching") => TreatMissingData::Breaching,
            Some("notBreaching") => TreatMissingData::NotBreaching,
            _ => TreatMissingData::Missing,
        }
    }

    fn label(self) -> &'static str {
        match self {
            TreatMissingData::Breaching => "Breaching",
            _ => "NonBreaching",
        }
    }
}

/// How many periods an evaluation looks at beyond the N evaluated ones. AWS's range size is
/// undocumented; its documentation's example uses 5 periods for N = 3, so we look at N + 2.
pub const EXTRA_RANGE_PERIODS: usize = 2;

/// The rule an alarm evaluates.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// N, `EvaluationPeriods`.
    pub evaluation_periods: usize,
    /// M, `DatapointsToAlarm` (defaults to N).
    pub datapoints_to_alarm: usize,
    /// Whether `DatapointsToAlarm` was given (it changes the reason text).
    pub datapoints_to_alarm_set: bool,
    /// The operator.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// Missing-data treatment.
    pub treat_missing: TreatMissingData,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The alarm should be in this state, for this reason.
    State {
        /// The new state.
        state: AlarmState,
        /// Which range slots (indices into the values, oldest first) decided it.
        evaluated: Vec<usize>,
        /// How many of the evaluated slots were missing and filled by `TreatMissingData`.
        filled: usize,
    },
    /// Keep the current state (`TreatMissingData=ignore` without enough data).
    Retain,
}

/// Evaluates `values` (the evaluation range, oldest first; length N + [`EXTRA_RANGE_PERIODS`]).
pub fn evaluate(rule: &Rule, values: &[Option<f64>]) -> Verdict {
    let n = rule.evaluation_periods.max(1);
    let m = rule.datapoints_to_alarm.clamp(1, n);
    let breach = |v: f64| rule.comparison.breaches(v, rule.threshold);
    let real: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    let decide = |slots: Vec<usize>, filled: usize, breaching: usize| Verdict::State {
        state: if breaching >= m {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        },
        evaluated: slots,
        filled,
    };
    let count = |slots: &[usize]| {
        slots
            .iter()
            .filter(|&&i| values[i].is_some_and(breach))
            .count()
    };

    // 1 and 2: enough real datapoints — evaluate the N most recent real ones.
    if real.len() >= n {
        let slots = real[real.len() - n..].to_vec();
        let breaching = count(&slots);
        return decide(slots, 0, breaching);
    }
    // 3: fewer than N real datapoints; fill as few missing slots as needed.
    let to_fill = n - real.len();
    let last_n: Vec<usize> = (values.len().saturating_sub(n)..values.len()).collect();
    match rule.treat_missing {
        TreatMissingData::Breaching | TreatMissingData::NotBreaching => {
            let filled_breach = rule.treat_missing == TreatMissingData::Breaching;
            let missing_recent = (0..values.len())
                .rev()
                .filter(|&i| values[i].is_none())
                .take(to_fill);
            let mut slots: Vec<usize> = real.iter().copied().chain(missing_recent).collect();
            slots.sort_unstable();
            let breaching = count(&real) + if filled_breach { to_fill } else { 0 };
            decide(slots, to_fill, breaching)
        }
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            if real.is_empty() {
                return if rule.treat_missing == TreatMissingData::Ignore {
                    Verdict::Retain
                } else {
                    Verdict::State {
                        state: AlarmState::InsufficientData,
                        evaluated: last_n,
                        filled: 0,
                    }
                };
            }
            // The premature-alarm rule: with no real non-breaching point, the oldest breaching
            // point of the last N is at least M periods old, and everything newer breaches or
            // is missing.
            let any_good = real.iter().any(|&i| values[i].is_some_and(|v| !breach(v)));
            let oldest_breach = last_n.iter().find(|&&i| values[i].is_some_and(breach));
            if !any_good && let Some(&i) = oldest_breach {
                let age = values.len() - i;
                if age >= m {
                    return if rule.treat_missing == TreatMissingData::Ignore {
                        Verdict::Retain
                    } else {
                        let breaching = count(&real);
                        Verdict::State {
                            state: AlarmState::Alarm,
                            evaluated: real.clone(),
                            filled: breaching.saturating_sub(breaching),
                        }
                    };
                }
            }
            // Breaching data that is not yet M periods old decides nothing: the state stays
            // until it is old enough or good data arrives.
            if !any_good && oldest_breach.is_some() {
                return Verdict::Retain;
            }
            let breaching = count(&real);
            decide(real, 0, breaching)
        }
    }
}

/// One slot of an evaluation as the reason text lists it.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The period's start, epoch milliseconds.
    pub start_ms: i64,
    /// The statistic's value, if the period has data.
    pub value: Option<f64>,
}

/// AWS's `NewStateReason` for a verdict; `slots` are the evaluated slots, oldest first.
pub fn reason(rule: &Rule, state: AlarmState, slots: &[Slot], filled: usize) -> String {
    if state == AlarmState::InsufficientData {
        let n = rule.evaluation_periods.max(1);
        return format!(
            "Insufficient Data: {n} {} {} unknown.",
            plural(n, "datapoint"),
            if n == 1 { "was" } else { "were" }
        );
    }
    let real: Vec<&Slot> = slots.iter().rev().filter(|s| s.value.is_some()).collect();
    let not = if state == AlarmState::Ok { "not " } else { "" };
    let threshold = java_double(rule.threshold);
    let listed = real
        .iter()
        .filter_map(|s| {
            let v = s.value?;
            Some(format!("{} ({})", java_double(v), reason_time(s.start_ms)))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let missing = if filled > 0 {
        format!(
            " and {filled} missing {} {} treated as [{}]",
            plural(filled, "datapoint"),
            if filled == 1 { "was" } else { "were" },
            rule.treat_missing.label()
        )
    } else {
        String::new()
    };
    if real.is_empty() {
        let periods = slots.len().max(filled);
        return format!(
            "Threshold Crossed: no datapoints were received for {periods} {}{missing}.",
            plural(periods, "period")
        );
    }
    let k = real.len();
    let verb = if k == 1 { "was" } else { "were" };
    if rule.datapoints_to_alarm_set {
        let m = rule.datapoints_to_alarm;
        let transition = if state == AlarmState::Alarm {
            "OK -> ALARM"
        } else {
            "ALARM -> OK"
        };
        format!(
            "Threshold Crossed: {k} out of the last {} datapoints [{listed}] {verb} {not}{} the threshold ({threshold}){missing} (minimum {m} {} for {transition} transition).",
            rule.evaluation_periods,
            rule.comparison.phrase(),
            plural(m, "datapoint"),
        )
    } else {
        format!(
            "Threshold Crossed: {k} {} [{listed}] {verb} {not}{} the threshold ({threshold}){missing}.",
            plural(k, "datapoint"),
            rule.comparison.phrase(),
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// `dd/MM/yy HH:mm:ss` in UTC, as reason texts show period starts.
fn reason_time(ms: i64) -> String {
    crate::format::utc(
        ms,
        time::macros::format_description!(
            "[day]/[month]/[year repr:last_two] [hour]:[minute]:[second]"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::payload_time;

    fn rule(n: usize, m: usize, treat: TreatMissingData) -> Rule {
        Rule {
            evaluation_periods: n,
            datapoints_to_alarm: m,
            datapoints_to_alarm_set: m != n,
            comparison: Comparison::GreaterOrEqual,
            threshold: 1.0,
            treat_missing: treat,
        }
    }

    /// `0 - X - X` notation of AWS's truth tables, oldest first.
    fn range(text: &str) -> Vec<Option<f64>> {
        text.split(' ')
            .map(|c| match c {
                "0" => Some(0.0),
                "X" => Some(1.0),
                _ => None,
            })
            .collect()
    }

    fn state(rule: &Rule, text: &str) -> Option<AlarmState> {
        match evaluate(rule, &range(text)) {
            Verdict::State { state, .. } => Some(state),
            Verdict::Retain => None,
        }
    }

    use AlarmState::{Alarm, InsufficientData as Insufficient, Ok};
    use TreatMissingData::{Breaching, Ignore, Missing, NotBreaching};

    /// AWS's documented truth table for N = M = 3 (`None` = retain).
    #[test]
    fn truth_table_three_of_three() {
        let rows: [(&str, [Option<AlarmState>; 4]); 5] = [
            ("0 - X - X", [Some(Ok), Some(Ok), Some(Ok), Some(Ok)]),
            ("0 - - - -", [Some(Ok), Some(Ok), Some(Ok), Some(Ok)]),
            (
                "- - - - -",
                [Some(Insufficient), None, Some(Alarm), Some(Ok)],
            ),
            (
                "0 X X - X",
                [Some(Alarm), Some(Alarm), Some(Alarm), Some(Alarm)],
            ),
            ("- - X - -", [Some(Alarm), None, Some(Alarm), Some(Ok)]),
        ];
        for (data, expected) in rows {
            for (treat, want) in [Missing, Ignore, Breaching, NotBreaching]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(state(&rule(3, 3, treat), data), want, "{data} {treat:?}");
            }
        }
    }

    /// AWS's documented truth table for M = 2, N = 3.
    #[test]
    fn truth_table_two_of_three() {
        let rows: [(&str, [Option<AlarmState>; 4]); 5] = [
            (
                "0 - X - X",
                [Some(Alarm), Some(Alarm), Some(Alarm), Some(Alarm)],
            ),
            (
                "0 0 X 0 X",
                [Some(Alarm), Some(Alarm), Some(Alarm), Some(Alarm)],
            ),
            ("0 - X - -", [Some(Ok), Some(Ok), Some(Alarm), Some(Ok)]),
            ("- - - - 0", [Some(Ok), Some(Ok), Some(Alarm), Some(Ok)]),
            ("- - - X -", [Some(Alarm), None, Some(Alarm), Some(Ok)]),
        ];
        for (data, expected) in rows {
            for (treat, want) in [Missing, Ignore, Breaching, NotBreaching]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(state(&rule(3, 2, treat), data), want, "{data} {treat:?}");
            }
        }
    }

    /// Breaching data too recent for the premature-alarm rule neither alarms nor reads as OK.
    #[test]
    fn premature_alarm_waits_for_m_periods() {
        assert_eq!(state(&rule(3, 3, Missing), "- - - - X"), None);
        assert_eq!(state(&rule(3, 3, Missing), "- - - X -"), None);
        assert_eq!(state(&rule(3, 3, Ignore), "- - - - X"), None);
    }

    #[test]
    fn reasons_read_like_cloudwatch() {
        let r = rule(1, 1, Missing);
        let slots = [Slot {
            start_ms: 1_770_891_180_000,
            value: Some(21.5),
        }];
        let mut r2 = r;
        r2.threshold = 21.0;
        r2.comparison = Comparison::Greater;
        assert_eq!(
            reason(&r2, Alarm, &slots, 0),
            "Threshold Crossed: 1 datapoint [21.5 (12/02/26 10:13:00)] was greater than the threshold (21.0)."
        );
        assert_eq!(
            reason(&r, Insufficient, &[], 0),
            "Insufficient Data: 1 datapoint was unknown."
        );
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(99.83274983791787), "99.83274983791787");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(
            payload_time(1_657_334_207_890),
            "2022-07-09T02:36:47.890+0000"
        );
    }
}
