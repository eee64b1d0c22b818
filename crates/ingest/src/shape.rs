//! One file's content, whatever its shape: gzip or not; a `{"Records":[…]}` document, a JSON
//! array of events, JSON lines, or one event.

use std::io::Read;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::{Event, Malformed, Position, Visitor};

/// Reads the events of one file's bytes (as stored: gzip'd or not).
pub(crate) fn read_content(path: &str, bytes: &[u8], visitor: &mut dyn Visitor) {
    let malformed = |visitor: &mut dyn Visitor, position, reason: String| {
        visitor.malformed(Malformed {
            path: path.to_owned(),
            position,
            reason,
        });
    };
    let inflated;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // A file may hold several gzip members, as concatenated gzip files do.
        if let Err(e) = flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out) {
            return malformed(
                visitor,
                Position::File,
                format!("not readable as gzip: {e}"),
            );
        }
        inflated = out;
        &inflated[..]
    } else {
        bytes
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.trim_start_matches('\u{feff}'),
        Err(e) => return malformed(visitor, Position::File, format!("not UTF-8 text: {e}")),
    };
    let body = text.trim_start();
    if body.is_empty() {
        return;
    }
    if body.starts_with('[') {
        return read_array(path, body, visitor);
    }
    // One document (a Records document or one event), or JSON lines: one value and nothing
    // after it is a document.
    let mut values = serde_json::Deserializer::from_str(body).into_iter::<&RawValue>();
    match values.next() {
        Some(Ok(first)) => {
            let rest = &body[values.byte_offset()..];
            if rest.trim().is_empty() {
                read_value(path, first.get(), Position::File, visitor);
            } else {
                read_lines(path, text, visitor);
            }
        }
        Some(Err(e)) => {
            // A first line that is a value on its own makes a JSON-lines file whose some line
            // is broken; otherwise the file is one broken document.
            let first_line = body.lines().next().unwrap_or_default();
            if serde_json::from_str::<&RawValue>(first_line).is_ok() {
                read_lines(path, text, visitor);
            } else {
                malformed(visitor, Position::File, format!("not JSON: {e}"));
            }
        }
        None => {}
    }
}

/// What a top-level object is.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "eventVersion", default)]
    event_version: Option<IgnoredAny>,
    #[serde(rename = "eventName", default)]
    event_name: Option<IgnoredAny>,
    #[serde(rename = "eventSource", default)]
    event_source: Option<IgnoredAny>,
    #[serde(rename = "eventID", default)]
    event_id: Option<IgnoredAny>,
}

/// A top-level value: a Records document, or one event.
fn read_value(path: &str, json: &str, position: Position, visitor: &mut dyn Visitor) {
    let probe = match serde_json::from_str::<Probe<'_>>(json) {
        Ok(probe) => probe,
        Err(e) => {
            let reason = if json.trim_start().starts_with('{') {
                format!("not JSON: {e}")
            } else {
                "not a CloudTrail event: not a JSON object".to_owned()
            };
            return visitor.malformed(Malformed {
                path: path.to_owned(),
                position,
                reason,
            });
        }
    };
    if let Some(records) = probe.records {
        for (i, record) in records.iter().enumerate() {
            // Records are numbered within their document; a document on line N of a
            // JSON-lines file is numbered by its line.
            let at = match position {
                Position::Line(_) => position,
                _ => Position::Record(i + 1),
            };
            read_record(path, record.get(), at, visitor);
        }
        return;
    }
    let is_event = probe.event_version.is_some()
        || probe.event_name.is_some()
        || probe.event_source.is_some()
        || probe.event_id.is_some();
    if is_event {
        visitor.event(&Event {
            json: json.trim(),
            path,
            position,
        });
    } else {
        visitor.malformed(Malformed {
            path: path.to_owned(),
            position,
            reason: "not a CloudTrail event: no Records, eventVersion, eventName, eventSource or eventID"
                .to_owned(),
        });
    }
}

/// An element of a Records list or of an array: any object is taken as an event (CloudTrail's
/// own records may have every field null).
fn read_record(path: &str, json: &str, position: Position, visitor: &mut dyn Visitor) {
    if json.trim_start().starts_with('{') {
        visitor.event(&Event {
            json,
            path,
            position,
        });
    } else {
        visitor.malformed(Malformed {
            path: path.to_owned(),
            position,
            reason: "not a CloudTrail event: not a JSON object".to_owned(),
        });
    }
}

fn read_array(path: &str, body: &str, visitor: &mut dyn Visitor) {
    match serde_json::from_str::<Vec<&RawValue>>(body) {
        Ok(elements) => {
            for (i, element) in elements.iter().enumerate() {
                read_record(path, element.get(), Position::Record(i + 1), visitor);
            }
        }
        Err(e) => visitor.malformed(Malformed {
            path: path.to_owned(),
            position: Position::File,
            reason: format!("not a JSON array of events: {e}"),
        }),
    }
}

fn read_lines(path: &str, text: &str, visitor: &mut dyn Visitor) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let position = Position::Line(i + 1);
        match serde_json::from_str::<&RawValue>(line) {
            Ok(value) => read_value(path, value.get(), position, visitor),
            Err(e) => visitor.malformed(Malformed {
                path: path.to_owned(),
                position,
                reason: format!("not JSON: {e}"),
            }),
        }
    }
}
