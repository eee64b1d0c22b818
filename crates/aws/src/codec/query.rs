//! awsQuery: input read from form fields (`MetricData.member.1.Value`), output written as the
//! members of an XML reply.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::validate::validate;
use super::{InputError, float, integer, iso8601, join, not_finite, parse_timestamp};
use crate::model::{Service, ShapeKind};

/// Reads awsQuery form fields (`Action` and `Version` included, they are ignored) as the input
/// structure `shape`.
pub fn from_query(
    service: &Service,
    shape: &str,
    params: &[(String, String)],
) -> Result<Value, InputError> {
    let fields: BTreeMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let value = query_value(service, shape, &fields, "")?.unwrap_or(Value::Object(Map::new()));
    validate(service, shape, &value)?;
    Ok(value)
}

/// Whether any field is `prefix` itself or lies under `prefix.`.
fn has_prefix(fields: &BTreeMap<&str, &str>, prefix: &str) -> bool {
    if fields.contains_key(prefix) {
        return true;
    }
    let under = format!("{prefix}.");
    fields
        .range(under.as_str()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&under))
}

fn query_value(
    service: &Service,
    name: &str,
    fields: &BTreeMap<&str, &str>,
    prefix: &str,
) -> Result<Option<Value>, InputError> {
    let shape = service.shape(name);
    let scalar = fields.get(prefix).copied();
    let invalid = |expected: &str, text: &str| {
        InputError::Validation(vec![format!(
            "Value '{text}' at '{prefix}' failed to satisfy constraint: Member must be {expected}"
        )])
    };
    match shape.kind {
        ShapeKind::Structure => {
            let mut out = Map::new();
            for (member, r) in &shape.members.0 {
                let key = join(prefix, member);
                if has_prefix(fields, &key)
                    && let Some(v) = query_value(service, &r.shape, fields, &key)?
                {
                    out.insert(member.clone(), v);
                }
            }
            if out.is_empty() && !prefix.is_empty() && !has_prefix(fields, prefix) {
                return Ok(None);
            }
            Ok(Some(Value::Object(out)))
        }
        ShapeKind::List => {
            let member = &shape.member.as_ref().expect("lists have a member").shape;
            let mut items = Vec::new();
            for i in 1.. {
                let key = format!("{prefix}.member.{i}");
                if !has_prefix(fields, &key) {
                    break;
                }
                if let Some(v) = query_value(service, member, fields, &key)? {
                    items.push(v);
                }
            }
            // botocore sends an empty list as `Name=` with no members.
            Ok(Some(Value::Array(items)))
        }
        ShapeKind::Map => {
            let key_shape = &shape.key.as_ref().expect("maps have a key").shape;
            let value_shape = &shape.value.as_ref().expect("maps have a value").shape;
            let mut out = Map::new();
            for i in 1.. {
                let entry = format!("{prefix}.entry.{i}");
                if !has_prefix(fields, &entry) {
                    break;
                }
                // SNS message attributes name their entry parts `Name` and `Value`.
                let key_field = [format!("{entry}.key"), format!("{entry}.Name")]
                    .into_iter()
                    .find(|k| fields.contains_key(k.as_str()));
                let value_field = [format!("{entry}.value"), format!("{entry}.Value")]
                    .into_iter()
                    .find(|k| has_prefix(fields, k));
                let (Some(kf), Some(vf)) = (key_field, value_field) else {
                    return Err(InputError::Validation(vec![format!(
                        "Value null at '{entry}' failed to satisfy constraint: Member must have a key and a value"
                    )]));
                };
                let k = query_value(service, key_shape, fields, &kf)?;
                let v = query_value(service, value_shape, fields, &vf)?;
                if let (Some(Value::String(k)), Some(v)) = (k, v) {
                    out.insert(k, v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        _ => {
            let Some(text) = scalar else {
                return Ok(None);
            };
            let v = match shape.kind {
                ShapeKind::String | ShapeKind::Blob => Value::String(text.to_owned()),
                ShapeKind::Integer | ShapeKind::Long => match text.trim().parse::<i64>() {
                    Ok(i) => Value::from(integer(shape.kind, i, prefix)?),
                    Err(_) => return Err(invalid("an integer", text)),
                },
                ShapeKind::Double | ShapeKind::Float => match text.trim().parse::<f64>() {
                    Ok(f) if !f.is_finite() => return Err(not_finite(text, prefix)),
                    Ok(f) => float(f),
                    Err(_) => return Err(invalid("a number", text)),
                },
                ShapeKind::Boolean => match text {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(invalid("true or false", text)),
                },
                ShapeKind::Timestamp => match parse_timestamp(text) {
                    Some(secs) => float(secs),
                    None => return Err(invalid("an ISO 8601 timestamp", text)),
                },
                ShapeKind::Structure | ShapeKind::List | ShapeKind::Map => {
                    unreachable!("handled above")
                }
            };
            Ok(Some(v))
        }
    }
}

/// Writes an output value (awsJson form) as the members of an awsQuery XML reply.
pub fn to_xml(service: &Service, shape: &str, v: &Value, out: &mut String) {
    let s = service.shape(shape);
    match (s.kind, v) {
        (ShapeKind::Structure, Value::Object(fields)) => {
            for (name, r) in &s.members.0 {
                if let Some(field) = fields.get(name).filter(|f| !f.is_null()) {
                    let _ = write!(out, "<{name}>");
                    to_xml(service, &r.shape, field, out);
                    let _ = write!(out, "</{name}>");
                }
            }
        }
        (ShapeKind::List, Value::Array(items)) => {
            let member = &s.member.as_ref().expect("lists have a member").shape;
            for item in items {
                out.push_str("<member>");
                to_xml(service, member, item, out);
                out.push_str("</member>");
            }
        }
        (ShapeKind::Map, Value::Object(entries)) => {
            let value_shape = &s.value.as_ref().expect("maps have a value").shape;
            for (k, item) in entries {
                out.push_str("<entry><key>");
                out.push_str(&quick_xml::escape::escape(k.as_str()));
                out.push_str("</key><value>");
                to_xml(service, value_shape, item, out);
                out.push_str("</value></entry>");
            }
        }
        (ShapeKind::Timestamp, Value::Number(n)) => {
            out.push_str(&iso8601(n.as_f64().unwrap_or(0.0)));
        }
        (_, Value::String(text)) => out.push_str(&quick_xml::escape::escape(text.as_str())),
        (_, other) => {
            let _ = write!(out, "{other}");
        }
    }
}
