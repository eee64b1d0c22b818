//! rpcv2Cbor bodies: input read from CBOR maps, output written as CBOR with tagged timestamps.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::validate::validate;
use super::{InputError, float, integer, join, not_finite};
use crate::model::{Service, ShapeKind};

/// Reads a CBOR body (rpcv2Cbor) as the input structure `shape`.
pub fn from_cbor(service: &Service, shape: &str, body: &[u8]) -> Result<Value, InputError> {
    let cbor: ciborium::Value = if body.is_empty() {
        ciborium::Value::Map(Vec::new())
    } else {
        ciborium::from_reader(body)
            .map_err(|e| InputError::Serialization(format!("The body is not valid CBOR: {e}")))?
    };
    let value = cbor_value(service, shape, &cbor, "")?;
    validate(service, shape, &value)?;
    Ok(value)
}

fn cbor_value(
    service: &Service,
    name: &str,
    v: &ciborium::Value,
    path: &str,
) -> Result<Value, InputError> {
    use ciborium::Value as C;
    let shape = service.shape(name);
    let wrong = |expected: &str| {
        Err(InputError::Serialization(format!(
            "Expected {expected} for {}",
            if path.is_empty() {
                "the request body"
            } else {
                path
            }
        )))
    };
    // Tags other than the timestamp tag carry no meaning for these services; look through them.
    let v = match v {
        C::Tag(tag, inner) if *tag != 1 => inner.as_ref(),
        _ => v,
    };
    match shape.kind {
        ShapeKind::Structure => {
            let C::Map(entries) = v else {
                return wrong("a structure");
            };
            let mut out = Map::new();
            for (k, item) in entries {
                let C::Text(key) = k else {
                    return wrong("text keys");
                };
                if matches!(item, C::Null) {
                    continue;
                }
                if let Some(r) = shape.members.get(key) {
                    let p = join(path, key);
                    out.insert(key.clone(), cbor_value(service, &r.shape, item, &p)?);
                }
            }
            Ok(Value::Object(out))
        }
        ShapeKind::List => {
            let C::Array(items) = v else {
                return wrong("a list");
            };
            let member = &shape.member.as_ref().expect("lists have a member").shape;
            let items = items
                .iter()
                .enumerate()
                .filter(|(_, item)| !matches!(item, C::Null))
                .map(|(i, item)| cbor_value(service, member, item, &format!("{path}.{}", i + 1)))
                .collect::<Result<_, _>>()?;
            Ok(Value::Array(items))
        }
        ShapeKind::Map => {
            let C::Map(entries) = v else {
                return wrong("a map");
            };
            let value_shape = &shape.value.as_ref().expect("maps have a value").shape;
            let mut out = Map::new();
            for (k, item) in entries {
                let C::Text(key) = k else {
                    return wrong("text keys");
                };
                if !matches!(item, C::Null) {
                    let p = join(path, key);
                    out.insert(key.clone(), cbor_value(service, value_shape, item, &p)?);
                }
            }
            Ok(Value::Object(out))
        }
        ShapeKind::String => match v {
            C::Text(s) => Ok(Value::String(s.clone())),
            _ => wrong("a string"),
        },
        ShapeKind::Integer | ShapeKind::Long => match v {
            C::Integer(i) => match i64::try_from(*i) {
                Ok(i) => integer(shape.kind, i, path).map(Value::from),
                Err(_) => wrong("a 64-bit integer"),
            },
            _ => wrong("an integer"),
        },
        ShapeKind::Double | ShapeKind::Float => match v {
            C::Float(f) if !f.is_finite() => Err(not_finite(&f.to_string(), path)),
            C::Float(f) => Ok(float(*f)),
            C::Integer(i) => Ok(float(i128::from(*i) as f64)),
            _ => wrong("a number"),
        },
        ShapeKind::Boolean => match v {
            C::Bool(b) => Ok(Value::Bool(*b)),
            _ => wrong("a boolean"),
        },
        ShapeKind::Timestamp => match v {
            C::Tag(1, inner) => match inner.as_ref() {
                C::Integer(i) => Ok(float(i128::from(*i) as f64)),
                C::Float(f) if f.is_finite() => Ok(float(*f)),
                _ => wrong("a timestamp"),
            },
            _ => wrong("a timestamp (CBOR tag 1)"),
        },
        ShapeKind::Blob => match v {
            C::Bytes(b) => Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            _ => wrong("a byte string"),
        },
    }
}

/// Encodes an output value (awsJson form) as CBOR for rpcv2Cbor.
pub fn to_cbor(service: &Service, shape: &str, v: &Value) -> ciborium::Value {
    use ciborium::Value as C;
    let s = service.shape(shape);
    match (s.kind, v) {
        (ShapeKind::Structure, Value::Object(fields)) => C::Map(
            s.members
                .0
                .iter()
                .filter_map(|(name, r)| {
                    let field = fields.get(name).filter(|f| !f.is_null())?;
                    Some((C::Text(name.clone()), to_cbor(service, &r.shape, field)))
                })
                .collect(),
        ),
        (ShapeKind::List, Value::Array(items)) => {
            let member = &s.member.as_ref().expect("lists have a member").shape;
            C::Array(items.iter().map(|i| to_cbor(service, member, i)).collect())
        }
        (ShapeKind::Map, Value::Object(entries)) => {
            let value_shape = &s.value.as_ref().expect("maps have a value").shape;
            C::Map(
                entries
                    .iter()
                    .map(|(k, i)| (C::Text(k.clone()), to_cbor(service, value_shape, i)))
                    .collect(),
            )
        }
        (ShapeKind::Timestamp, Value::Number(n)) => {
            C::Tag(1, Box::new(C::Float(n.as_f64().unwrap_or(0.0))))
        }
        (ShapeKind::Double | ShapeKind::Float, Value::Number(n)) => {
            C::Float(n.as_f64().unwrap_or(0.0))
        }
        (ShapeKind::Blob, Value::String(s)) => C::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default(),
        ),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => C::Integer(i.into()),
            None => C::Float(n.as_f64().unwrap_or(0.0)),
        },
        (_, Value::String(s)) => C::Text(s.clone()),
        (_, Value::Bool(b)) => C::Bool(*b),
        (_, Value::Null) => C::Null,
        // A value of another kind than its shape is an engine bug; send it as it is.
        (_, Value::Array(items)) => C::Array(
            items
                .iter()
                .map(|i| to_cbor(service, "String", i))
                .collect(),
        ),
        (_, Value::Object(_)) => C::Map(Vec::new()),
    }
}
