//! Model-driven conversion between the three wire encodings and the one form the engine reads.
//!
//! The engine sees every input and produces every output as JSON values keyed by the model's
//! member names, with timestamps as epoch seconds and blobs as base64 text — the awsJson form.
//! awsQuery form fields, CBOR maps and XML replies are converted here, guided by the shapes of
//! the service model, so that `Threshold=1` on awsQuery and `Threshold: 1.0` in CBOR reach the
//! engine as the same number. Input is also checked against the model's constraints (required
//! members, types, lengths, ranges, enums, patterns) the way AWS's front end checks it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::model::{Service, Shape, ShapeKind};

/// Why an input could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum InputError {
    /// The body is not valid for the protocol (bad JSON, a string where a number belongs, …).
    Serialization(String),
    /// The input breaks the model's constraints; one line per violation, in AWS's words.
    Validation(Vec<String>),
    /// A value no service accepts although its type is right: NaN or an infinity where a
    /// number belongs. AWS answers these with its invalid-parameter-value error.
    InvalidValue(String),
    /// Required members absent or empty: their query-style names (`MetricData.member.1.
    /// Dimensions.member.1.Value`), for services that answer with a missing-parameter error
    /// (CloudWatch), and the same as validation lines for the others.
    Missing {
        parameters: Vec<String>,
        violations: Vec<String>,
    },
}

impl InputError {
    /// AWS's message for a validation failure: `1 validation error detected: …`.
    pub fn validation_message(violations: &[String]) -> String {
        let n = violations.len();
        let noun = if n == 1 { "error" } else { "errors" };
        format!("{n} validation {noun} detected: {}", violations.join("; "))
    }
}

/// Reads an awsJson body (already parsed) as the input structure `shape`.
pub fn from_json(service: &Service, shape: &str, body: Value) -> Result<Value, InputError> {
    let value = json_value(service, shape, body, Path::Root)?;
    validate(service, shape, &value)?;
    Ok(value)
}

/// Where a value sits in the input, in AWS's notation (`logEvents.3.member.message`); built
/// as a chain on the stack and written out only for an error message, since a PutLogEvents
/// body holds ten thousand values.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dot = |f: &mut fmt::Formatter<'_>, parent: &Path| match parent {
            Path::Root => Ok(()),
            p => write!(f, "{p}."),
        };
        match self {
            Path::Root => f.write_str("the request body"),
            Path::Member(parent, name) => {
                dot(f, parent)?;
                // AWS names fields in lower camel case (`stateValue`).
                let mut chars = name.chars();
                if let Some(first) = chars.next() {
                    write!(f, "{}{}", first.to_lowercase(), chars.as_str())?;
                }
                Ok(())
            }
            Path::Index(parent, i) => {
                dot(f, parent)?;
                write!(f, "{}.member", i + 1)
            }
            Path::Key(parent, key) => {
                dot(f, parent)?;
                f.write_str(key)
            }
        }
    }
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

/// An integer of the model's `integer` kind is 32 bits, as on AWS; `long` is 64.
fn integer(kind: ShapeKind, i: i64, path: impl fmt::Display) -> Result<i64, InputError> {
    if kind == ShapeKind::Integer && i32::try_from(i).is_err() {
        return Err(InputError::Validation(vec![format!(
            "Value '{i}' at '{path}' failed to satisfy constraint: Member must be a 32-bit integer"
        )]));
    }
    Ok(i)
}

fn not_finite(text: &str, path: impl fmt::Display) -> InputError {
    InputError::InvalidValue(format!(
        "The value {text} for parameter {path} is invalid: it must be a finite number."
    ))
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

/// What a check of an input finds.
#[derive(Default)]
struct Violations {
    /// Every violation, in AWS's validation wording.
    lines: Vec<String>,
    /// The query-style names of required members that are absent or empty.
    missing: Vec<String>,
}

/// Checks a converted input against the model's constraints, collecting every violation.
fn validate(service: &Service, shape: &str, v: &Value) -> Result<(), InputError> {
    let mut found = Violations::default();
    check(service, shape, v, Path::Root, &mut found);
    match found {
        Violations { lines, .. } if lines.is_empty() => Ok(()),
        Violations { lines, missing } if missing.is_empty() => Err(InputError::Validation(lines)),
        Violations { lines, missing } => Err(InputError::Missing {
            parameters: missing,
            violations: lines,
        }),
    }
}

/// A member's name as the query protocol writes it: `MetricData.member.1.Value`.
fn query_name(path: &Path) -> String {
    match path {
        Path::Root => String::new(),
        Path::Member(Path::Root, name) => (*name).to_owned(),
        Path::Member(parent, name) => format!("{}.{name}", query_name(parent)),
        Path::Index(parent, i) => format!("{}.member.{}", query_name(parent), i + 1),
        Path::Key(parent, key) => format!("{}.{key}", query_name(parent)),
    }
}

fn check(service: &Service, name: &str, v: &Value, path: Path, out: &mut Violations) {
    let shape = service.shape(name);
    match (shape.kind, v) {
        (ShapeKind::Structure, Value::Object(fields)) => {
            for required in &shape.required {
                let member = Path::Member(&path, required);
                match fields.get(required) {
                    None => {
                        out.lines.push(format!(
                            "Value null at '{member}' failed to satisfy constraint: Member must not be null"
                        ));
                        out.missing.push(query_name(&member));
                    }
                    // An empty value where one is needed; its length violation is found below.
                    Some(Value::String(s))
                        if s.is_empty()
                            && shape.members.get(required).is_some_and(|r| {
                                service.shape(&r.shape).min.is_some_and(|min| min >= 1.0)
                            }) =>
                    {
                        out.missing.push(query_name(&member))
                    }
                    Some(_) => {}
                }
            }
            for (member, r) in &shape.members.0 {
                if let Some(field) = fields.get(member) {
                    check(service, &r.shape, field, Path::Member(&path, member), out);
                }
            }
        }
        (ShapeKind::List, Value::Array(items)) => {
            check_length(shape, items.len(), v, path, out);
            let member = &shape.member.as_ref().expect("lists have a member").shape;
            for (i, item) in items.iter().enumerate() {
                check(service, member, item, Path::Index(&path, i), out);
            }
        }
        (ShapeKind::Map, Value::Object(entries)) => {
            check_length(shape, entries.len(), v, path, out);
            let key = &shape.key.as_ref().expect("maps have a key").shape;
            let value = &shape.value.as_ref().expect("maps have a value").shape;
            for (k, item) in entries {
                check(
                    service,
                    key,
                    &Value::String(k.clone()),
                    Path::Key(&path, "key"),
                    out,
                );
                check(service, value, item, Path::Key(&path, k), out);
            }
        }
        (ShapeKind::String, Value::String(s)) => {
            // AWS counts characters, not bytes. A character takes one to four bytes, so the
            // byte length alone settles most strings without counting (log messages are
            // large and only need to be non-empty).
            let bytes = s.len() as f64;
            let surely_long_enough = shape.min.is_none_or(|min| bytes / 4.0 >= min);
            let surely_short_enough = shape.max.is_none_or(|max| bytes <= max);
            if !(surely_long_enough && surely_short_enough) {
                check_length(shape, s.chars().count(), v, path, out);
            }
            if let Some(allowed) = &shape.enum_values
                && !allowed.iter().any(|a| a == s)
            {
                out.lines.push(format!(
                    "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ));
            }
            if let Some(pattern) = &shape.pattern
                && !matches_pattern(pattern, s)
            {
                out.lines.push(format!(
                    "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
                ));
            }
        }
        (
            ShapeKind::Integer | ShapeKind::Long | ShapeKind::Double | ShapeKind::Float,
            Value::Number(n),
        ) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = shape.min
                && x < min
            {
                out.lines.push(format!(
                    "Value '{n}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
                ));
            }
            if let Some(max) = shape.max
                && x > max
            {
                out.lines.push(format!(
                    "Value '{n}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max}"
                ));
            }
        }
        _ => {}
    }
}

fn check_length(shape: &Shape, len: usize, v: &Value, path: Path, out: &mut Violations) {
    // The value is written out only when it breaks a limit: a list may be megabytes.
    let shown = || match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(min) = shape.min
        && (len as f64) < min
    {
        out.lines.push(format!(
            "Value '{}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}",
            shown()
        ));
    }
    if let Some(max) = shape.max
        && (len as f64) > max
    {
        out.lines.push(format!(
            "Value '{}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}",
            shown()
        ));
    }
}

/// Whether `text` matches a model pattern as a whole (Java's `matches`). A pattern the `regex`
/// crate cannot compile is not enforced rather than rejecting every value.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let compiled = cache
        .entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok());
    compiled.as_ref().is_none_or(|re| re.is_match(text))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A JSON number for `f`, integral values kept integral so that they print without a fraction.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// Epoch seconds from an ISO 8601 / RFC 3339 timestamp or a decimal number of seconds.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    if let Ok(secs) = text.parse::<f64>() {
        return secs.is_finite().then_some(secs);
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            // botocore and older clients may omit the offset (`2024-01-01T00:00:00`), meaning UTC.
            time::PrimitiveDateTime::parse(
                text,
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .map(|t| t.assume_utc())
        })
        .ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// `2026-11-27T20:45:00.000Z` for epoch seconds, as awsQuery replies write timestamps.
pub fn iso8601(secs: f64) -> String {
    engine::format::iso8601_time((secs * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
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
        let input =
            from_cbor(model::cloudwatch(), "GetMetricStatisticsInput", &body).expect("valid");
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
        assert!(
            point
                .iter()
                .any(|(k, v)| k == &ciborium::Value::Text("Sum".into())
                    && v == &ciborium::Value::Float(2.0))
        );
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
}
