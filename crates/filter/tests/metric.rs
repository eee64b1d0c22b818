//! Metric transformations as PutMetricFilter checks them and as metric filters publish them.

use filter::{FilterPattern, MetricExtractor, MetricOutcome, TransformationError};

fn pattern(text: &str) -> FilterPattern {
    FilterPattern::parse(text).expect("valid pattern")
}

fn dims(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn rejects_what_aws_rejects() {
    let terms = pattern("ERROR");
    assert_eq!(
        MetricExtractor::new(&terms, "1", None, &dims(&[("d", "$x")])),
        Err(TransformationError::DimensionsNotSupported)
    );
    let json = pattern("{ $.eventName = * }");
    assert_eq!(
        MetricExtractor::new(&json, "1", Some(0.0), &dims(&[("d", "$.eventName")])),
        Err(TransformationError::DimensionsWithDefaultValue)
    );
    let four = dims(&[("a", "$.a"), ("b", "$.b"), ("c", "$.c"), ("d", "$.d")]);
    assert_eq!(
        MetricExtractor::new(&json, "1", None, &four),
        Err(TransformationError::TooManyDimensions(4))
    );
    assert!(matches!(
        MetricExtractor::new(&json, "length", None, &[]),
        Err(TransformationError::InvalidMetricValue(..))
    ));
    assert!(matches!(
        MetricExtractor::new(&terms, "$size", None, &[]),
        Err(TransformationError::InvalidMetricValue(..))
    ));
    let delimited = pattern("[ip, user, bytes]");
    assert!(matches!(
        MetricExtractor::new(&delimited, "$missing", None, &[]),
        Err(TransformationError::InvalidMetricValue(..))
    ));
    assert!(matches!(
        MetricExtractor::new(&delimited, "1", None, &dims(&[("d", "constant")])),
        Err(TransformationError::InvalidDimension { .. })
    ));
}

#[test]
fn json_value_and_dimensions_come_from_the_event() {
    let p = pattern("{ $.latency = * }");
    let m = MetricExtractor::new(
        &p,
        "$.latency",
        None,
        &dims(&[("eventType", "$.eventType")]),
    )
    .expect("valid");
    assert_eq!(
        m.apply(&p, r#"{"latency": 50, "eventType": "UpdateTrail"}"#),
        MetricOutcome::Datum {
            value: 50.0,
            dimensions: dims(&[("eventType", "UpdateTrail")])
        }
    );
    // A missing dimension is left out (Q13); the datum is still published.
    assert_eq!(
        m.apply(&p, r#"{"latency": "7.5"}"#),
        MetricOutcome::Datum {
            value: 7.5,
            dimensions: Vec::new()
        }
    );
    // A value that is not a number publishes nothing (Q11).
    assert_eq!(
        m.apply(&p, r#"{"latency": "slow"}"#),
        MetricOutcome::Nothing
    );
    // No match, no default: nothing.
    assert_eq!(m.apply(&p, r#"{"other": 1}"#), MetricOutcome::Nothing);
}

#[test]
fn default_value_is_published_for_events_that_do_not_match() {
    let p = pattern("ERROR");
    let m = MetricExtractor::new(&p, "1", Some(0.0), &[]).expect("valid");
    assert_eq!(
        m.apply(&p, "ERROR disk full"),
        MetricOutcome::Datum {
            value: 1.0,
            dimensions: Vec::new()
        }
    );
    assert_eq!(m.apply(&p, "all good"), MetricOutcome::Default(0.0));
}

#[test]
fn delimited_fields_by_name_and_position() {
    let p = pattern("[ip, user, ..., status = 4*, bytes]");
    let m = MetricExtractor::new(
        &p,
        "$bytes",
        None,
        &dims(&[("user", "$user"), ("third", "$3")]),
    )
    .expect("valid");
    assert_eq!(
        m.apply(&p, "10.0.0.1 bob GET / 404 512"),
        MetricOutcome::Datum {
            value: 512.0,
            dimensions: dims(&[("user", "bob"), ("third", "GET")])
        }
    );
    assert_eq!(
        m.apply(&p, "10.0.0.1 bob GET / 200 512"),
        MetricOutcome::Nothing
    );
}
