//! An event read from the members a validating scan picked on its way
//! ([`TrailEvent::from_members`], what a trail's follower does with each record of a delivery
//! file) is the event read from its whole JSON ([`TrailEvent::parse`]): on every event of the
//! corpus, and on events that are not quite events.

use engine::trails::TrailEvent;

fn both(json: &str) -> (Result<TrailEvent, String>, Result<TrailEvent, String>) {
    let members = filter::object_members(json, |k| TrailEvent::FIELDS.contains(&k))
        .expect("a valid JSON object");
    (
        TrailEvent::parse(json.to_owned()),
        TrailEvent::from_members(json, &members),
    )
}

/// The corpus's events, a line each.
fn corpus() -> Vec<String> {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/cloudtrail/all_real_events.jsonl"
    ))
    .expect("the corpus")
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(str::to_owned)
    .collect()
}

/// Whether `line` was read as an event, both ways alike (equal events, or both refused).
fn read_alike(
    line: &str,
    a: Result<TrailEvent, String>,
    b: Result<TrailEvent, String>,
) -> Option<TrailEvent> {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{line}");
            Some(a)
        }
        (Err(_), Err(_)) => None,
        (a, b) => panic!("{line}: one way {a:?}, the other {b:?}"),
    }
}

#[test]
fn every_event_of_the_corpus_reads_the_same_from_its_members() {
    let corpus = corpus();
    let read = corpus
        .iter()
        .filter(|line| {
            let (whole, members) = both(line);
            read_alike(line, whole, members).is_some()
        })
        .count();
    assert!(read > 3_000, "{read} events read");
}

#[test]
fn the_events_of_a_delivery_file_read_the_same_as_each_on_its_own() {
    // The corpus's events as one Records document, read as a trail's follower reads a
    // delivery file: each record's members picked in one pass over the whole, and each event
    // keeping its JSON as a part of the document.
    let lines = corpus();
    let document = std::sync::Arc::new(format!(r#"{{"Records":[{}]}}"#, lines.join(",")));
    let (_, items) = filter::object_members_and_items(
        &document,
        |k| k == "Records",
        "Records",
        |k| TrailEvent::FIELDS.contains(&k),
    )
    .expect("a valid document");
    let items = items.expect("a list of records");
    assert_eq!(items.len(), lines.len());
    let mut read = 0;
    for (item, line) in items.iter().zip(&lines) {
        let members = item.members.as_ref().expect("an object");
        let part = TrailEvent::from_members_in(&document, item.raw, members);
        let copied = TrailEvent::from_members(item.raw, members);
        if let Some(event) = read_alike(line, part, TrailEvent::parse(line.clone())) {
            assert_eq!(event.json(), line);
            assert_eq!(Some(event), copied.ok());
            read += 1;
        }
    }
    assert!(read > 3_000, "{read} events read");
}

#[test]
fn odd_events_read_the_same_from_their_members() {
    let base = r#""eventID":"e-1","eventTime":"2026-01-01T00:00:00Z""#;
    let cases = [
        format!("{{{base}}}"),
        format!(
            r#"{{{base},"eventName":"Put\u0052olePolicy","event\u0053ource":"iam.amazonaws.com"}}"#
        ),
        format!(r#"{{{base},"eventName":5}}"#),
        format!(r#"{{{base},"eventName":null,"readOnly":"true","managementEvent":null}}"#),
        format!(r#"{{{base},"managementEvent":"yes"}}"#),
        format!(r#"{{{base},"readOnly":{{"a":1}},"sessionCredentialFromConsole":"false"}}"#),
        format!(r#"{{{base},"eventName":"A","eventName":"B"}}"#),
        format!(r#"{{{base},"eventName":null,"eventName":"B"}}"#),
        format!(r#"{{{base},"userIdentity":"root"}}"#),
        format!(
            r#"{{{base},"userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{{"sessionIssuer":{{"userName":"r"}}}}}}}}"#
        ),
        format!(r#"{{{base},"userIdentity":{{"type":"Root","userName":null,"extra":[1,2]}}}}"#),
        format!(r#"{{{base},"resources":null}}"#),
        format!(r#"{{{base},"resources":[{{"type":null,"ARN":"arn:x"}},{{}}]}}"#),
        format!(r#"{{{base},"resources":[1]}}"#),
        format!(r#"{{{base},"resources":{{}}}}"#),
        r#"{"eventTime":"2026-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"eventID":"","eventTime":"2026-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"eventID":"e-1"}"#.to_owned(),
        r#"{"eventID":"e-1","eventTime":"yesterday"}"#.to_owned(),
        r#"{"eventID":7,"eventTime":"2026-01-01T00:00:00Z"}"#.to_owned(),
    ];
    for case in &cases {
        let (whole, members) = both(case);
        read_alike(case, whole, members);
    }
}
