//! awsJson bodies: input read from parsed JSON, output written with the model's number types.

use base64::Engine as _;
use serde_json::{Number, Value};

use super::validate::validate;
use super::{InputError, Path, float, integer, not_finite, parse_timestamp};
use crate::model::{Service, ShapeKind};

/// Reads an awsJson body (already parsed) as the input structure `shape`.
pub fn from_json(service: &Service, shape: &str, mut body: Value) -> Result<Value, InputError> {
    json_value(service, shape, &mut body, Path::Root)?;
    validate(service, shape, &body)?;
    Ok(body)
}

/// Checks `v` against the shape `name` and brings it to the engine's form in place: members
/// the shape does not have and nulls go, timestamps become epoch seconds. In place, since a
/// PutLogEvents body holds ten thousand events, each of which a copy would allocate again.
fn json_value(service: &Service, name: &str, v: &mut Value, path: Path) -> Result<(), InputError> {
    let shape = service.shape(name);
    let wrong = |expected: &str| {
        Err(InputError::Serialization(format!(
            "Expected {expected} for {path}"
        )))
    };
    match shape.kind {
        ShapeKind::Structure => {
            let Value::Object(fields) = v else {
                return wrong("a structure");
            };
            fields.retain(|k, f| !f.is_null() && shape.members.get(k).is_some());
            // In the model's order, so that of several errors the first the model lists is told.
            for (member, r) in &shape.members.0 {
                if let Some(field) = fields.get_mut(member) {
                    json_value(service, &r.shape, field, Path::Member(&path, member))?;
                }
            }
            Ok(())
        }
        ShapeKind::List => {
            let Value::Array(items) = v else {
                return wrong("a list");
            };
            let member = &shape.member.as_ref().expect("lists have a member").shape;
            // Positions in messages are those the client sent, nulls included.
            let mut i = 0;
            let mut failed = None;
            items.retain_mut(|item| {
                let at = i;
                i += 1;
                if item.is_null() || failed.is_some() {
                    return false;
                }
                if let Err(e) = json_value(service, member, item, Path::Index(&path, at)) {
                    failed = Some(e);
                }
                true
            });
            failed.map_or(Ok(()), Err)
        }
        ShapeKind::Map => {
            let Value::Object(entries) = v else {
                return wrong("a map");
            };
            let value_shape = &shape.value.as_ref().expect("maps have a value").shape;
            entries.retain(|_, item| !item.is_null());
            for (k, item) in entries.iter_mut() {
                json_value(service, value_shape, item, Path::Key(&path, k))?;
            }
            Ok(())
        }
        ShapeKind::String => match v {
            Value::String(_) => Ok(()),
            _ => wrong("a string"),
        },
        ShapeKind::Integer | ShapeKind::Long => match v.as_i64() {
            Some(i) => integer(shape.kind, i, path).map(|_| ()),
            None => wrong("an integer"),
        },
        ShapeKind::Double | ShapeKind::Float => match v {
            Value::Number(_) => Ok(()),
            // JSON has no literal for these; AWS's JSON protocols send them as strings.
            Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                Err(not_finite(s, path))
            }
            _ => wrong("a number"),
        },
        ShapeKind::Boolean => match v {
            Value::Bool(_) => Ok(()),
            _ => wrong("a boolean"),
        },
        ShapeKind::Timestamp => match v {
            Value::Number(_) => Ok(()),
            Value::String(s) => match parse_timestamp(s) {
                Some(secs) => {
                    *v = float(secs);
                    Ok(())
                }
                None => wrong("a timestamp"),
            },
            _ => wrong("a timestamp"),
        },
        ShapeKind::Blob => match v {
            Value::String(s)
                if base64::engine::general_purpose::STANDARD
                    .decode(&*s)
                    .is_ok() =>
            {
                Ok(())
            }
            _ => wrong("base64-encoded bytes"),
        },
    }
}

/// Writes an output value for the JSON protocols: only the shape's members, and doubles as JSON
/// doubles (`1.0`, not `1`), so that typed clients read the type the model promises.
pub fn to_json(service: &Service, shape: &str, v: &Value) -> Value {
    let s = service.shape(shape);
    match (s.kind, v) {
        // Only the output shape's members: what the engine keeps beside them stays inside.
        (ShapeKind::Structure, Value::Object(fields)) => Value::Object(
            fields
                .iter()
                .filter(|(_, f)| !f.is_null())
                .filter_map(|(name, f)| {
                    let r = s.members.get(name)?;
                    Some((name.clone(), to_json(service, &r.shape, f)))
                })
                .collect(),
        ),
        (ShapeKind::List, Value::Array(items)) => {
            let member = &s.member.as_ref().expect("lists have a member").shape;
            Value::Array(items.iter().map(|i| to_json(service, member, i)).collect())
        }
        (ShapeKind::Map, Value::Object(entries)) => {
            let value_shape = &s.value.as_ref().expect("maps have a value").shape;
            Value::Object(
                entries
                    .iter()
                    .map(|(k, i)| (k.clone(), to_json(service, value_shape, i)))
                    .collect(),
            )
        }
        (ShapeKind::Double | ShapeKind::Float, Value::Number(n)) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| v.clone(), Value::Number),
        _ => v.clone(),
    }
}
