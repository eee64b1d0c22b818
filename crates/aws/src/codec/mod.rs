//! Model-driven conversion between the three wire encodings and the one form the engine reads.
//!
//! The engine sees every input and produces every output as JSON values keyed by the model's
//! member names, with timestamps as epoch seconds and blobs as base64 text — the awsJson form.
//! awsQuery form fields, CBOR maps and XML replies are converted here, guided by the shapes of
//! the service model, so that `Threshold=1` on awsQuery and `Threshold: 1.0` in CBOR reach the
//! engine as the same number. Input is also checked against the model's constraints (required
//! members, types, lengths, ranges, enums, patterns) the way AWS's front end checks it.

mod cbor;
mod json;
mod query;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

use serde_json::{Number, Value};

use crate::model::ShapeKind;

pub use cbor::{from_cbor, to_cbor};
pub use json::{from_json, to_json};
pub use query::{from_query, to_xml};

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
