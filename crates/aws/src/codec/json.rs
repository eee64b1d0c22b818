//! awsJson bodies: input read from parsed JSON, output written with the model's number types.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::validate::validate;
use super::{InputError, Path, float, integer, not_finite, parse_timestamp};
use crate::model::{Service, ShapeKind};

/// Reads an awsJson body (already parsed) as the input structure `shape`.
pub fn from_json(service: &Service, shape: &str, body: Value) -> Result<Value, InputError> {
    let value = json_value(service, shape, body, Path::Root)?;
    validate(service, shape, &value)?;
    Ok(value)
}

fn json_value(service: &Service, name: &str, v: Value, path: Path) -> Result<Value, InputError> {
    let shape = service.shape(name);
    let wrong = |expected: &str| {
        Err(InputError::Serialization(format!(
            "Expected {expected} for {path}"
        )))
    };
    match shape.kind {
        ShapeKind::Structure => {
            let Value::Object(mut fields) = v else {
                return wrong("a structure");
            };
            let mut out = Map::new();
            for (member, r) in &shape.members.0 {
                match fields.remove(member) {
                    None | Some(Value::Null) => {}
                    Some(field) => {
                        let p = Path::Member(&path, member);
                        out.insert(member.clone(), json_value(service, &r.shape, field, p)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        ShapeKind::List => {
            let Value::Array(items) = v else {
                return wrong("a list");
            };
            let member = &shape.member.as_ref().expect("lists have a member").shape;
            let items = items
                .into_iter()
                .enumerate()
                .filter(|(_, item)| !item.is_null())
                .map(|(i, item)| json_value(service, member, item, Path::Index(&path, i)))
                .collect::<Result<_, _>>()?;
            Ok(Value::Array(items))
        }
        ShapeKind::Map => {
            let Value::Object(entries) = v else {
                return wrong("a map");
            };
            let value_shape = &shape.value.as_ref().expect("maps have a value").shape;
            let mut out = Map::new();
            for (k, item) in entries {
                if !item.is_null() {
                    let value = json_value(service, value_shape, item, Path::Key(&path, &k))?;
                    out.insert(k, value);
                }
            }
            Ok(Value::Object(out))
        }
        ShapeKind::String => match v {
            Value::String(_) => Ok(v),
            _ => wrong("a string"),
        },
        ShapeKind::Integer | ShapeKind::Long => match v.as_i64() {
            Some(i) => integer(shape.kind, i, path).map(Value::from),
            None => wrong("an integer"),
        },
        ShapeKind::Double | ShapeKind::Float => match v {
            Value::Number(_) => Ok(v),
            // JSON has no literal for these; AWS's JSON protocols send them as strings.
            Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                Err(not_finite(&s, path))
            }
            _ => wrong("a number"),
        },
        ShapeKind::Boolean => match v {
            Value::Bool(_) => Ok(v),
            _ => wrong("a boolean"),
        },
        ShapeKind::Timestamp => match v {
            Value::Number(_) => Ok(v),
            Value::String(s) => match parse_timestamp(&s) {
                Some(secs) => Ok(float(secs)),
                None => wrong("a timestamp"),
            },
            _ => wrong("a timestamp"),
        },
        ShapeKind::Blob => match v {
            Value::String(ref s) if base64::engine::general_purpose::STANDARD.decode(s).is_ok() => {
                Ok(v)
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
