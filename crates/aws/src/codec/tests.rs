//! Conversions and checks against the real service models.

use super::*;
use crate::model;
use serde_json::json;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn query_alarm_reads_numbers_lists_and_empty_lists() {
    let input = from_query(
        model::cloudwatch(),
        "PutMetricAlarmInput",
        &params(&[
            ("Action", "PutMetricAlarm"),
            ("AlarmName", "a"),
            ("MetricName", "m"),
            ("Namespace", "CISBenchmark"),
            ("Statistic", "Sum"),
            ("Period", "300"),
            ("EvaluationPeriods", "1"),
            ("Threshold", "1.5"),
            ("ComparisonOperator", "GreaterThanOrEqualToThreshold"),
            (
                "AlarmActions.member.1",
                "arn:aws:sns:us-east-1:000000000000:t",
            ),
            ("OKActions", ""),
            ("Dimensions.member.1.Name", "d"),
            ("Dimensions.member.1.Value", "v"),
        ]),
    )
    .expect("valid");
    assert_eq!(input["Period"], json!(300));
    assert_eq!(input["Threshold"], json!(1.5));
    assert_eq!(input["OKActions"], json!([]));
    assert_eq!(
        input["AlarmActions"],
        json!(["arn:aws:sns:us-east-1:000000000000:t"])
    );
    assert_eq!(input["Dimensions"], json!([{"Name": "d", "Value": "v"}]));
}

#[test]
fn enum_and_required_violations_use_aws_wording() {
    let err = from_json(
        model::cloudwatch(),
        "SetAlarmStateInput",
        json!({"AlarmName": "a", "StateValue": "INVALID", "StateReason": "r"}),
    )
    .expect_err("invalid enum");
    let InputError::Validation(lines) = err else {
        panic!("expected a validation error");
    };
    assert_eq!(
        InputError::validation_message(&lines),
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]"
    );
    let err =
        from_json(model::logs(), "CreateLogGroupRequest", json!({})).expect_err("missing name");
    assert_eq!(
        err,
        InputError::Missing {
            parameters: vec!["logGroupName".to_owned()],
            violations: vec![
                "Value null at 'logGroupName' failed to satisfy constraint: Member must not be null"
                    .to_owned()
            ],
        }
    );
}

#[test]
fn required_members_absent_or_empty_are_named_as_the_query_protocol_names_them() {
    let err = from_json(
        model::cloudwatch(),
        "PutMetricDataInput",
        json!({"Namespace": "N", "MetricData": [
            {"MetricName": "M", "Value": 1.0},
            {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "d", "Value": ""}, {"Value": "v"}]},
        ]}),
    )
    .expect_err("an empty and an absent required member");
    let InputError::Missing {
        parameters,
        violations,
    } = err
    else {
        panic!("expected missing parameters, got {err:?}");
    };
    assert_eq!(
        parameters,
        [
            "MetricData.member.2.Dimensions.member.1.Value",
            "MetricData.member.2.Dimensions.member.2.Name"
        ]
    );
    assert_eq!(violations.len(), 2, "{violations:?}");
}

#[test]
fn an_empty_value_that_may_be_empty_is_not_missing() {
    // StateReason has no minimum length; the enum violation is what is wrong.
    let err = from_json(
        model::cloudwatch(),
        "SetAlarmStateInput",
        json!({"AlarmName": "a", "StateValue": "BOGUS", "StateReason": ""}),
    )
    .expect_err("invalid enum");
    assert!(matches!(err, InputError::Validation(_)), "{err:?}");
}

#[test]
fn wrong_json_types_are_serialization_errors() {
    let err = from_json(
        model::cloudwatch(),
        "PutMetricAlarmInput",
        json!({"AlarmName": "a", "EvaluationPeriods": "one", "ComparisonOperator": "GreaterThanThreshold"}),
    )
    .expect_err("string for an integer");
    assert!(matches!(err, InputError::Serialization(_)), "{err:?}");
}

#[test]
fn cbor_timestamps_and_output_round_trip() {
    let mut body = Vec::new();
    let cbor = ciborium::Value::Map(vec![
        (
            ciborium::Value::Text("Namespace".into()),
            ciborium::Value::Text("N".into()),
        ),
        (
            ciborium::Value::Text("MetricName".into()),
            ciborium::Value::Text("M".into()),
        ),
        (
            ciborium::Value::Text("StartTime".into()),
            ciborium::Value::Tag(1, Box::new(ciborium::Value::Float(1_700_000_000.5))),
        ),
        (
            ciborium::Value::Text("EndTime".into()),
            ciborium::Value::Tag(1, Box::new(ciborium::Value::Integer(1_700_000_600.into()))),
        ),
        (
            ciborium::Value::Text("Period".into()),
            ciborium::Value::Integer(60.into()),
        ),
    ]);
    ciborium::into_writer(&cbor, &mut body).expect("encodes");
    let input = from_cbor(model::cloudwatch(), "GetMetricStatisticsInput", &body).expect("valid");
    assert_eq!(input["StartTime"], json!(1_700_000_000.5));
    assert_eq!(input["EndTime"], json!(1_700_000_600));
    let out = to_cbor(
        model::cloudwatch(),
        "GetMetricStatisticsOutput",
        &json!({"Label": "M", "Datapoints": [{"Timestamp": 1_700_000_000, "Sum": 2}]}),
    );
    let ciborium::Value::Map(entries) = out else {
        panic!("a map");
    };
    let points = &entries[1].1;
    let ciborium::Value::Array(points) = points else {
        panic!("an array");
    };
    let ciborium::Value::Map(point) = &points[0] else {
        panic!("a map");
    };
    assert!(
        point
            .iter()
            .any(|(k, v)| k == &ciborium::Value::Text("Timestamp".into())
                && matches!(v, ciborium::Value::Tag(1, _)))
    );
    assert!(point.iter().any(
        |(k, v)| k == &ciborium::Value::Text("Sum".into()) && v == &ciborium::Value::Float(2.0)
    ));
}

#[test]
fn xml_lists_maps_and_timestamps() {
    let mut out = String::new();
    to_xml(
        model::sns(),
        "ListTopicsResponse",
        &json!({"Topics": [{"TopicArn": "arn:aws:sns:us-east-1:1:a&b"}]}),
        &mut out,
    );
    assert_eq!(
        out,
        "<Topics><member><TopicArn>arn:aws:sns:us-east-1:1:a&amp;b</TopicArn></member></Topics>"
    );
    assert_eq!(iso8601(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
    assert_eq!(
        parse_timestamp("2023-11-14T22:13:20.500Z"),
        Some(1_700_000_000.5)
    );
}
