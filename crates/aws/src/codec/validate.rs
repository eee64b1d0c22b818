//! The model's constraints checked on a converted input, as AWS's front end checks them:
//! required members, lengths, ranges, enums and patterns, every violation in AWS's words.

use serde_json::Value;

use super::{InputError, Path};
use crate::model::{Service, Shape, ShapeKind};

/// What a check of an input finds.
#[derive(Default)]
struct Violations {
    /// Every violation, in AWS's validation wording.
    lines: Vec<String>,
    /// The query-style names of required members that are absent or empty.
    missing: Vec<String>,
}

/// Checks a converted input against the model's constraints, collecting every violation.
pub(super) fn validate(service: &Service, shape: &str, v: &Value) -> Result<(), InputError> {
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
                && !pattern.matches(s)
            {
                out.lines.push(format!(
                    "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                    pattern.text
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
