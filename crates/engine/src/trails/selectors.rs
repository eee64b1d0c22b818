//! Which events a trail logs: its basic event selectors (management events read, write or
//! both, minus excluded sources; data events by resource) or its advanced ones (conditions on
//! the event's fields).

use super::api::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector};
use super::{CloudTrailException, TrailEvent};
use crate::ApiError;

/// A trail has at most this many basic selectors (CloudTrail's quota).
const MAX_SELECTORS: usize = 5;
/// … and this many values across the conditions of its advanced selectors.
const MAX_ADVANCED_VALUES: usize = 500;

/// The fields advanced selectors may name, and how an event gives each.
const ADVANCED_FIELDS: &[&str] = &[
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "errorCode",
    "resources.type",
    "resources.ARN",
    "userIdentity.arn",
    "sessionCredentialFromConsole",
    "vpcEndpointId",
];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(CloudTrailException::InvalidEventSelectorsException, message)
}

/// Checks basic selectors as PutEventSelectors does.
pub(super) fn check_basic(selectors: &[EventSelector]) -> Result<(), ApiError> {
    if selectors.is_empty() || selectors.len() > MAX_SELECTORS {
        return Err(invalid(format!(
            "A trail has between 1 and {MAX_SELECTORS} event selectors; {} were given.",
            selectors.len()
        )));
    }
    for s in selectors {
        if let Some(t) = &s.read_write_type
            && !matches!(t.as_str(), "ReadOnly" | "WriteOnly" | "All")
        {
            return Err(invalid(format!("Invalid ReadWriteType: {t}")));
        }
        for r in &s.data_resources {
            if r.r#type.as_deref().is_none_or(str::is_empty) {
                return Err(invalid("A data resource must name its Type."));
            }
        }
    }
    Ok(())
}

/// Checks advanced selectors as PutEventSelectors does.
pub(super) fn check_advanced(selectors: &[AdvancedEventSelector]) -> Result<(), ApiError> {
    if selectors.is_empty() {
        return Err(invalid("At least one advanced event selector is required."));
    }
    let mut values = 0;
    for selector in selectors {
        if !selector
            .field_selectors
            .iter()
            .any(|f| f.field == "eventCategory")
        {
            return Err(invalid(
                "Each advanced event selector must have a condition on eventCategory.",
            ));
        }
        for f in &selector.field_selectors {
            if !ADVANCED_FIELDS.contains(&f.field.as_str()) {
                return Err(invalid(format!(
                    "Invalid field {} in advanced event selector.",
                    f.field
                )));
            }
            let lists = operators(f);
            if lists.iter().all(|(_, l)| l.is_none()) {
                return Err(invalid(format!(
                    "The condition on {} has no operator.",
                    f.field
                )));
            }
            values += lists
                .iter()
                .flat_map(|(_, l)| l.iter())
                .map(|l| l.len())
                .sum::<usize>();
        }
    }
    if values > MAX_ADVANCED_VALUES {
        return Err(invalid(format!(
            "Advanced event selectors hold at most {MAX_ADVANCED_VALUES} values; {values} were given."
        )));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    StartsWith,
    EndsWith,
    NotEquals,
    NotStartsWith,
    NotEndsWith,
}

fn operators(f: &AdvancedFieldSelector) -> [(Op, Option<&Vec<String>>); 6] {
    [
        (Op::Equals, f.equals.as_ref()),
        (Op::StartsWith, f.starts_with.as_ref()),
        (Op::EndsWith, f.ends_with.as_ref()),
        (Op::NotEquals, f.not_equals.as_ref()),
        (Op::NotStartsWith, f.not_starts_with.as_ref()),
        (Op::NotEndsWith, f.not_ends_with.as_ref()),
    ]
}

/// Whether basic selectors log the event.
pub(super) fn basic_selects(selectors: &[EventSelector], event: &TrailEvent) -> bool {
    selectors.iter().any(|s| {
        if event.is_management() {
            s.include_management_events.unwrap_or(true)
                && match s.read_write_type.as_deref().unwrap_or("All") {
                    "ReadOnly" => event.read_only == Some(true),
                    "WriteOnly" => event.read_only != Some(true),
                    _ => true,
                }
                && !s
                    .exclude_management_event_sources
                    .iter()
                    .any(|source| event.event_source() == Some(source.as_str()))
        } else if event.category() == "Data" {
            s.data_resources.iter().any(|r| {
                event.resources().iter().any(|(kind, arn)| {
                    r.r#type.as_deref() == Some(kind)
                        && r.values.iter().any(|v| {
                            // `arn:aws:s3` (or `arn:aws:s3:::`) stands for every resource.
                            let v = v.trim_end_matches(':');
                            arn.starts_with(v)
                        })
                })
            })
        } else {
            false
        }
    })
}

/// Whether advanced selectors log the event: one selector whose every condition holds.
pub(super) fn advanced_selects(selectors: &[AdvancedEventSelector], event: &TrailEvent) -> bool {
    selectors.iter().any(|s| {
        s.field_selectors
            .iter()
            .all(|f| holds(f, &field_values(&f.field, event)))
    })
}

/// The values an event has for a field (several for `resources.*`).
fn field_values<'e>(field: &str, e: &'e TrailEvent) -> Vec<&'e str> {
    let one = |v: Option<&'e str>| v.into_iter().collect::<Vec<_>>();
    let flag = |b: Option<bool>| one(b.map(|b| if b { "true" } else { "false" }));
    match field {
        "eventCategory" => vec![e.category()],
        "eventSource" => one(e.event_source()),
        "eventName" => one(e.event_name()),
        "eventType" => one(e.event_type()),
        "errorCode" => one(e.error_code()),
        "readOnly" => flag(e.read_only),
        "resources.type" => e.resources().iter().map(|(t, _)| t).collect(),
        "resources.ARN" => e.resources().iter().map(|(_, a)| a).collect(),
        "userIdentity.arn" => one(e.user_arn()),
        "sessionCredentialFromConsole" => flag(e.session_credential_from_console),
        "vpcEndpointId" => one(e.vpc_endpoint_id()),
        _ => Vec::new(),
    }
}

/// Whether a field's values meet a condition: each operator given must hold; a positive one
/// holds when a value meets one of its operands, a negative one when no value meets any.
fn holds(f: &AdvancedFieldSelector, values: &[&str]) -> bool {
    operators(f).iter().all(|(op, operands)| {
        let Some(operands) = operands else {
            return true;
        };
        let meets = |v: &str, o: &String| match op {
            Op::Equals | Op::NotEquals => v == o,
            Op::StartsWith | Op::NotStartsWith => v.starts_with(o.as_str()),
            Op::EndsWith | Op::NotEndsWith => v.ends_with(o.as_str()),
        };
        let any = values.iter().any(|v| operands.iter().any(|o| meets(v, o)));
        match op {
            Op::Equals | Op::StartsWith | Op::EndsWith => any,
            _ => !any,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> TrailEvent {
        TrailEvent::parse(json.to_owned()).expect("an event")
    }

    fn condition(field: &str, equals: &[&str]) -> AdvancedFieldSelector {
        AdvancedFieldSelector {
            field: field.into(),
            equals: Some(equals.iter().map(|s| s.to_string()).collect()),
            starts_with: None,
            ends_with: None,
            not_equals: None,
            not_starts_with: None,
            not_ends_with: None,
        }
    }

    const WRITE: &str = r#"{"eventID":"1","eventTime":"2026-12-01T00:00:00Z","eventName":"PutRolePolicy","eventSource":"iam.amazonaws.com","readOnly":false,"eventCategory":"Management"}"#;
    const READ: &str = r#"{"eventID":"2","eventTime":"2026-12-01T00:00:00Z","eventName":"Decrypt","eventSource":"kms.amazonaws.com","readOnly":true,"eventCategory":"Management"}"#;
    const DATA: &str = r#"{"eventID":"3","eventTime":"2026-12-01T00:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com","readOnly":true,"eventCategory":"Data","resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::bucket/key"}]}"#;

    #[test]
    fn basic_selectors_take_management_events_by_read_write_and_source() {
        let all = [EventSelector::default()];
        assert!(basic_selects(&all, &event(WRITE)));
        assert!(basic_selects(&all, &event(READ)));
        assert!(!basic_selects(&all, &event(DATA)));
        let write_only = [EventSelector {
            read_write_type: Some("WriteOnly".into()),
            ..EventSelector::default()
        }];
        assert!(basic_selects(&write_only, &event(WRITE)));
        assert!(!basic_selects(&write_only, &event(READ)));
        let no_kms = [EventSelector {
            exclude_management_event_sources: vec!["kms.amazonaws.com".into()],
            ..EventSelector::default()
        }];
        assert!(!basic_selects(&no_kms, &event(READ)));
        assert!(basic_selects(&no_kms, &event(WRITE)));
        let s3_data = [EventSelector {
            include_management_events: Some(false),
            data_resources: vec![super::super::api::DataResource {
                r#type: Some("AWS::S3::Object".into()),
                values: vec!["arn:aws:s3".into()],
            }],
            ..EventSelector::default()
        }];
        assert!(basic_selects(&s3_data, &event(DATA)));
        assert!(!basic_selects(&s3_data, &event(WRITE)));
    }

    #[test]
    fn advanced_selectors_need_every_condition_of_one_selector() {
        let management_writes = [AdvancedEventSelector {
            name: None,
            field_selectors: vec![
                condition("eventCategory", &["Management"]),
                condition("readOnly", &["false"]),
            ],
        }];
        assert!(check_advanced(&management_writes).is_ok());
        assert!(advanced_selects(&management_writes, &event(WRITE)));
        assert!(!advanced_selects(&management_writes, &event(READ)));
        let mut not_iam = condition("eventSource", &[]);
        not_iam.equals = None;
        not_iam.not_equals = Some(vec!["iam.amazonaws.com".into()]);
        let management_but_iam = [AdvancedEventSelector {
            name: None,
            field_selectors: vec![condition("eventCategory", &["Management"]), not_iam],
        }];
        assert!(!advanced_selects(&management_but_iam, &event(WRITE)));
        assert!(advanced_selects(&management_but_iam, &event(READ)));
    }

    #[test]
    fn selectors_are_checked_as_put_event_selectors_does() {
        assert!(check_basic(&[]).is_err());
        assert!(check_basic(&vec![EventSelector::default(); 6]).is_err());
        let bad = [AdvancedEventSelector {
            name: None,
            field_selectors: vec![condition("eventName", &["PutRolePolicy"])],
        }];
        assert!(check_advanced(&bad).is_err(), "no eventCategory");
        let unknown = [AdvancedEventSelector {
            name: None,
            field_selectors: vec![
                condition("eventCategory", &["Management"]),
                condition("colour", &["blue"]),
            ],
        }];
        assert!(check_advanced(&unknown).is_err());
    }
}
