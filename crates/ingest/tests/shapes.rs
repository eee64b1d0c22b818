//! Every shape CloudTrail comes in, from the real files in `testdata/cloudtrail/shapes` and
//! small ones made here: what is read, what is skipped, and what is reported as malformed, with
//! event counts checked against an independent count (serde_json's own reading of the files).

use std::io::Read;
use std::path::{Path, PathBuf};

use ingest::{Content, Event, Malformed, Position, Skip, Visitor, read_paths, read_stream};
use serde_json::Value;

#[derive(Default)]
struct Seen {
    events: Vec<(String, Position, String)>,
    malformed: Vec<Malformed>,
    skipped: Vec<(String, Skip)>,
    files: usize,
}

impl Visitor for Seen {
    fn event(&mut self, e: &Event<'_>) {
        self.events
            .push((e.path.to_owned(), e.position, e.json.to_owned()));
    }
    fn malformed(&mut self, problem: Malformed) {
        self.malformed.push(problem);
    }
    fn skipped(&mut self, path: &str, why: Skip) {
        self.skipped.push((path.to_owned(), why));
    }
    fn file(&mut self, _path: &str, _bytes: u64) {
        self.files += 1;
    }
}

fn shapes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cloudtrail/shapes")
}

fn read(paths: &[PathBuf]) -> Seen {
    let mut seen = Seen::default();
    read_paths(paths, &mut seen).expect("readable paths");
    seen
}

/// A visitor that takes every content to read it later, as replay's workers do.
#[derive(Default)]
struct Deferred {
    taken: Vec<Content>,
    seen: Seen,
}

impl Visitor for Deferred {
    fn event(&mut self, e: &Event<'_>) {
        self.seen.event(e);
    }
    fn malformed(&mut self, problem: Malformed) {
        self.seen.malformed(problem);
    }
    fn skipped(&mut self, path: &str, why: Skip) {
        self.seen.skipped(path, why);
    }
    fn file(&mut self, path: &str, bytes: u64) {
        self.seen.file(path, bytes);
    }
    fn content(&mut self, content: Content) -> Option<Content> {
        self.taken.push(content);
        None
    }
}

/// What reading `paths` finds when every content is read after the walk, in order.
fn read_deferred(paths: &[PathBuf]) -> Seen {
    let mut deferred = Deferred::default();
    read_paths(paths, &mut deferred).expect("readable paths");
    let mut seen = deferred.seen;
    for content in deferred.taken {
        content.read(&mut seen);
    }
    seen
}

/// serde_json's own count of a file's events: gunzipped if need be, `Records` or an array.
fn independent_count(path: &Path) -> usize {
    let bytes = std::fs::read(path).expect("file");
    let mut text = String::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("gzip");
    } else {
        text = String::from_utf8(bytes).expect("utf-8");
    }
    match serde_json::from_str::<Value>(&text).expect("json") {
        Value::Array(events) => events.len(),
        Value::Object(doc) => doc["Records"].as_array().map_or(1, Vec::len),
        _ => 0,
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for file in files_under(from) {
        let target = to.join(file.strip_prefix(from).expect("under"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}

#[test]
fn an_s3_delivery_folder_is_read_in_time_order_and_its_digests_and_other_objects_skipped() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("bucket");
    copy_tree(&shapes().join("invictus-s3"), &root);
    // What sits beside log files in a real bucket.
    let digest = root.join(
        "AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/218007301253_CloudTrail-Digest_us-east-1_trail_us-east-1_20230710T120000Z.json.gz",
    );
    std::fs::create_dir_all(digest.parent().expect("parent")).expect("mkdir");
    std::fs::write(&digest, b"{\"awsAccountId\":\"218007301253\"}").expect("digest");
    std::fs::write(root.join("AWSLogs/.DS_Store"), b"\0\0").expect("other");
    std::fs::write(root.join("AWSLogs/218007301253/README.txt"), b"hello").expect("other");

    let seen = read(std::slice::from_ref(&root));
    let logs: Vec<PathBuf> = files_under(&root.join("AWSLogs/218007301253/CloudTrail"));
    // Progress counts the bytes of the files read, digests and other objects left out.
    let stored: u64 = logs
        .iter()
        .map(|p| std::fs::metadata(p).expect("file").len())
        .sum();
    assert_eq!(
        ingest::stored_bytes(std::slice::from_ref(&root)),
        Some(stored)
    );
    assert_eq!(
        ingest::stored_bytes(&[root.clone(), PathBuf::from("-")]),
        None
    );
    assert_eq!(logs.len(), 55);
    let expected: usize = logs.iter().map(|p| independent_count(p)).sum();
    assert_eq!(expected, 2_900);
    assert_eq!(seen.events.len(), expected);
    assert_eq!(seen.files, 55);
    assert!(seen.malformed.is_empty(), "{:?}", seen.malformed);
    let skipped: Vec<Skip> = seen.skipped.iter().map(|(_, why)| *why).collect();
    assert_eq!(skipped.iter().filter(|w| **w == Skip::Digest).count(), 1);
    assert_eq!(skipped.iter().filter(|w| **w == Skip::Other).count(), 2);
    // File names carry the delivery time: name order is time order.
    let paths: Vec<&String> = seen.events.iter().map(|(p, _, _)| p).collect();
    assert!(paths.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(seen.events[0].1, Position::Record(1));
    let first: Value = serde_json::from_str(&seen.events[0].2).expect("an event");
    assert!(
        first["eventTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-07-10"))
    );
}

#[test]
fn an_organization_trails_layout_is_read_too() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let org = tmp.path().join("AWSLogs/o-a1b2c3d4e5");
    copy_tree(&shapes().join("invictus-s3/AWSLogs"), &org);
    let seen = read(&[tmp.path().to_path_buf()]);
    assert_eq!(seen.events.len(), 2_900);
    assert!(seen.malformed.is_empty() && seen.skipped.is_empty());
}

#[test]
fn arrays_lines_records_and_gzip_are_told_apart_by_their_content() {
    let stratus = files_under(&shapes().join("stratus"));
    let seen = read(&stratus);
    let expected: usize = stratus.iter().map(|p| independent_count(p)).sum();
    assert!(expected > 0);
    assert_eq!(seen.events.len(), expected);
    assert!(
        seen.events
            .iter()
            .all(|(_, p, _)| matches!(p, Position::Record(_)))
    );

    let lines = shapes().join("panther/panther_cloudtrail_events.jsonl");
    let seen = read(std::slice::from_ref(&lines));
    let text = std::fs::read_to_string(&lines).expect("file");
    assert_eq!(
        seen.events.len(),
        text.lines().filter(|l| !l.trim().is_empty()).count()
    );
    assert_eq!(seen.events.len(), 464);
    assert_eq!(seen.events[2].1, Position::Line(3));

    // The same Records document plain and gzipped, whatever the name says.
    let library = shapes().join("processing-library");
    let plain = read(&[library.join("SerializerTestFileCompact.json")]);
    let gzipped = read(&[library.join("SerializerTestFileCompact.json.gz")]);
    assert_eq!(
        plain.events.len(),
        independent_count(&library.join("SerializerTestFileCompact.json"))
    );
    let texts = |s: &Seen| s.events.iter().map(|e| e.2.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&plain), texts(&gzipped));
    let tmp = tempfile::tempdir().expect("temp dir");
    let misnamed = tmp.path().join("events.txt");
    std::fs::copy(library.join("SerializerTestFileCompact.json.gz"), &misnamed).expect("copy");
    assert_eq!(texts(&read(&[misnamed])), texts(&plain));

    // Records whose every field is null are still records.
    let nulls = read(&[library.join("SerializerAllFieldsNull.json")]);
    assert_eq!(
        nulls.events.len(),
        independent_count(&library.join("SerializerAllFieldsNull.json"))
    );
}

#[test]
fn one_event_per_file_and_standard_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let corpus = shapes().join("panther/panther_cloudtrail_events.jsonl");
    let text = std::fs::read_to_string(&corpus).expect("file");
    let event: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    let single = tmp.path().join("one.json");
    std::fs::write(&single, serde_json::to_string_pretty(&event).expect("json")).expect("write");
    let seen = read(&[single]);
    assert_eq!(seen.events.len(), 1);
    assert_eq!(seen.events[0].1, Position::File);
    let read_back: Value = serde_json::from_str(&seen.events[0].2).expect("json");
    assert_eq!(read_back, event);

    // Standard input takes any shape a file takes: here gzip'd Records.
    let gz = std::fs::read(shapes().join("processing-library/SerializerTestFileCompact.json.gz"))
        .expect("file");
    let mut seen = Seen::default();
    read_stream("-", &mut &gz[..], &mut seen);
    assert!(!seen.events.is_empty());
    assert!(seen.events.iter().all(|(p, _, _)| p == "-"));
}

#[test]
fn malformed_files_and_events_are_reported_with_where_and_reading_goes_on() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let library = shapes().join("processing-library");
    // A broken JSON-lines file: line 3 is cut short, line 5 is not an event.
    let lines = tmp.path().join("broken.jsonl");
    std::fs::write(
        &lines,
        "{\"eventID\":\"1\",\"eventName\":\"A\"}\n\
         {\"eventID\":\"2\",\"eventName\":\"B\"}\n\
         {\"eventID\":\"3\",\"eventName\":\n\
         \n\
         {\"hello\":\"world\"}\n\
         {\"eventID\":\"6\",\"eventName\":\"F\"}\n",
    )
    .expect("write");
    // A Records list with something that is not an object in it.
    let records = tmp.path().join("records.json");
    std::fs::write(
        &records,
        r#"{"Records":[{"eventID":"a"},42,{"eventID":"c"}]}"#,
    )
    .expect("write");
    let truncated_gzip = tmp.path().join("cut.json.gz");
    let gz = std::fs::read(library.join("SerializerTestFileCompact.json.gz")).expect("file");
    std::fs::write(&truncated_gzip, &gz[..gz.len() / 2]).expect("write");
    let paths = vec![
        library.join("SerializerTestFileBadJsonFormat.json"),
        lines.clone(),
        records.clone(),
        truncated_gzip.clone(),
        library.join("SQSMessageBody"),
        shapes().join("stratus"),
    ];
    let seen = read(&paths);
    let at = |path: &Path, position| {
        seen.malformed
            .iter()
            .any(|m| m.path == path.display().to_string() && m.position == position)
    };
    assert!(
        at(
            &library.join("SerializerTestFileBadJsonFormat.json"),
            Position::File
        ),
        "{:?}",
        seen.malformed
    );
    assert!(at(&lines, Position::Line(3)));
    assert!(at(&lines, Position::Line(5)));
    assert!(at(&records, Position::Record(2)));
    assert!(at(&truncated_gzip, Position::File));
    // Not a CloudTrail document: an SQS message naming log objects.
    assert!(at(&library.join("SQSMessageBody"), Position::File));
    assert_eq!(seen.malformed.len(), 6, "{:?}", seen.malformed);
    let ids: Vec<Value> = seen
        .events
        .iter()
        .filter(|(p, _, _)| {
            *p == lines.display().to_string() || *p == records.display().to_string()
        })
        .map(|(_, _, json)| serde_json::from_str::<Value>(json).expect("json")["eventID"].clone())
        .collect();
    assert_eq!(ids, ["1", "2", "6", "a", "c"]);
    // And the folder after them was read whole.
    let stratus: usize = files_under(&shapes().join("stratus"))
        .iter()
        .map(|p| independent_count(p))
        .sum();
    let from_stratus = seen
        .events
        .iter()
        .filter(|(p, _, _)| p.contains("stratus"))
        .count();
    assert_eq!(from_stratus, stratus);
    // Each problem reads as path, place and reason.
    let line3 = seen
        .malformed
        .iter()
        .find(|m| m.position == Position::Line(3))
        .expect("line 3");
    assert!(
        line3
            .to_string()
            .starts_with(&format!("{}:3: not JSON", lines.display())),
        "{line3}"
    );
}

#[test]
fn a_named_path_that_is_not_there_is_an_error_before_anything_is_read() {
    let mut seen = Seen::default();
    let missing = PathBuf::from("/nonexistent/cloudtrail");
    let err = read_paths(&[shapes().join("stratus"), missing.clone()], &mut seen)
        .expect_err("a missing path");
    assert_eq!(err.path, missing);
    assert!(seen.events.is_empty());
}

#[test]
fn an_events_id_and_time_are_read_for_replay() {
    let json = r#"{"eventVersion":"1.08","eventTime":"2023-07-10T11:42:12Z","eventID":"e-1"}"#;
    let event = Event::new(json, "-", Position::File);
    let key = event.key();
    assert_eq!(key.event_id.as_deref(), Some("e-1"));
    assert_eq!(key.event_time.as_deref(), Some("2023-07-10T11:42:12Z"));
}

#[test]
fn long_json_lines_files_are_read_a_chunk_at_a_time_with_lines_numbered_across_chunks() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let corpus = std::fs::read_to_string(shapes().join("panther/panther_cloudtrail_events.jsonl"))
        .expect("file");
    let events: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    // About 9 MB: longer than the chunks the reader takes, with one broken line far in, and
    // one line (a 5 MB event) longer than a chunk.
    let mut lines: Vec<String> = Vec::new();
    while lines.len() < 8_000 {
        lines.extend(events.iter().map(|e| (*e).to_owned()));
    }
    lines.truncate(8_000);
    lines[6_999] = "{\"eventID\": \"cut".to_owned();
    lines[7_499] = format!(
        "{{\"eventID\":\"big\",\"eventName\":\"X\",\"requestParameters\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(5 << 20)
    );
    let text = lines.join("\n");
    assert!(text.len() > 9 << 20);
    let plain = tmp.path().join("big.jsonl");
    std::fs::write(&plain, &text).expect("write");
    let gzipped = tmp.path().join("big.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, text.as_bytes()).expect("compress");
    std::fs::write(&gzipped, encoder.finish().expect("gzip")).expect("write");

    for path in [plain, gzipped] {
        let seen = read(std::slice::from_ref(&path));
        assert_eq!(seen.events.len(), 7_999, "{}", path.display());
        assert_eq!(seen.malformed.len(), 1, "{:?}", seen.malformed);
        assert_eq!(seen.malformed[0].position, Position::Line(7_000));
        let last = seen.events.last().expect("events");
        assert_eq!(last.1, Position::Line(8_000));
        let big = seen
            .events
            .iter()
            .find(|(_, p, _)| *p == Position::Line(7_500))
            .expect("the long line");
        assert!(big.2.len() > 5 << 20);
        assert_eq!(seen.files, 1);
        // Read elsewhere and later, the content gives the same, in the same order.
        let deferred = read_deferred(std::slice::from_ref(&path));
        assert_eq!(deferred.events, seen.events);
        assert_eq!(deferred.malformed, seen.malformed);
    }
}

#[test]
fn content_read_elsewhere_gives_what_reading_in_place_gives() {
    let here = read(&[shapes()]);
    let later = read_deferred(&[shapes()]);
    assert!(here.events.len() > 1_000);
    assert_eq!(later.events, here.events);
    assert_eq!(later.malformed, here.malformed);
    assert_eq!(later.skipped, here.skipped);
    assert_eq!(later.files, here.files);
}

#[test]
fn a_line_that_is_not_utf8_in_a_long_file_is_told_by_its_number() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let event = br#"{"eventID":"e","eventName":"PutRolePolicy","requestParameters":{"policyDocument":"0123456789012345678901234567890123456789"}}"#;
    let mut bytes = Vec::new();
    for n in 1..=60_000 {
        if n == 50_000 {
            bytes.extend_from_slice(b"{\"eventName\":\"\xff\xfe\"}");
        } else {
            bytes.extend_from_slice(event);
        }
        bytes.push(b'\n');
    }
    assert!(bytes.len() > 4 << 20);
    let path = tmp.path().join("latin1.jsonl");
    std::fs::write(&path, &bytes).expect("write");
    let seen = read(&[path]);
    assert_eq!(seen.events.len(), 59_999);
    assert_eq!(seen.malformed.len(), 1);
    assert_eq!(seen.malformed[0].position, Position::Line(50_000));
    assert!(
        seen.malformed[0].reason.starts_with("not UTF-8"),
        "{}",
        seen.malformed[0]
    );
}

#[test]
fn a_line_is_malformed_exactly_when_serde_json_refuses_it() {
    // Each line an event by its fields, with one thing wrong or right about its JSON.
    let lines = [
        r#"{"eventName":"A","x":1}"#,
        r#"{"eventName":"A","x":1,}"#,
        r#"{"eventName":"A","x":01}"#,
        r#"{"eventName":"A","x":-}"#,
        r#"{"eventName":"A","x":1.}"#,
        r#"{"eventName":"A","x":1e}"#,
        r#"{"eventName":"A","x":tru}"#,
        r#"{"eventName":"A","x":NaN}"#,
        r#"{"eventName":"A","x":"\q"}"#,
        r#"{"eventName":"A","x":"\uZZZZ"}"#,
        r#"{"eventName":"A","x":"\ud800"}"#,
        "{\"eventName\":\"A\",\"x\":\"tab\there\"}",
        r#"{"eventName":"A","x":[1,2,]}"#,
        r#"{"eventName":"A","x":{"y":}}"#,
        r#"{"eventName":"A","x":{"y":1}}}"#,
        r#"{"eventName":"A" "x":1}"#,
        r#"{"eventName":"A","x":[{"y":[true,false,null,-1.5e+3,"\u00e9\n"]}]}"#,
        r#"{"eventName":"A","eventID":"a\"b","eventTime":"2024-01-01T00:00:00Z"}"#,
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lines.jsonl");
    std::fs::write(&path, lines.join("\n")).expect("write");
    let seen = read(std::slice::from_ref(&path));
    let malformed: Vec<usize> = seen
        .malformed
        .iter()
        .map(|m| match m.position {
            Position::Line(n) => n,
            other => panic!("{other:?}"),
        })
        .collect();
    let refused: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| serde_json::from_str::<serde::de::IgnoredAny>(l).is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert!(refused.len() > 10, "the cases are mostly broken ones");
    assert_eq!(malformed, refused);
    assert_eq!(seen.events.len(), lines.len() - refused.len());
}

#[test]
fn a_file_held_whole_reads_as_the_same_file_streamed() {
    use std::io::Write as _;
    let gzip = |text: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).expect("gzip");
        gz.finish().expect("gzip")
    };
    let library = shapes().join("processing-library");
    let document = std::fs::read(library.join("SerializerTestFileCompact.json")).expect("file");
    let whole = gzip(&document);
    // Concatenated gzip files: a document in two members.
    let (first, second) = document.split_at(document.len() / 2);
    let two_members = [gzip(first), gzip(second)].concat();
    let lines =
        std::fs::read(shapes().join("panther/panther_cloudtrail_events.jsonl")).expect("file");
    // JSON lines longer than what is read at once, gzipped.
    let long_lines = lines.repeat(1 + (2 << 20) / lines.len());
    let mut files: Vec<(String, Vec<u8>)> = files_under(&shapes())
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("file")))
        .collect();
    files.extend([
        ("whole.json.gz".to_owned(), whole.clone()),
        ("two.json.gz".to_owned(), two_members),
        ("cut.json.gz".to_owned(), whole[..whole.len() / 2].to_vec()),
        ("cut-lines.jsonl.gz".to_owned(), {
            let g = gzip(&lines);
            g[..g.len() * 2 / 3].to_vec()
        }),
        ("long.jsonl.gz".to_owned(), gzip(&long_lines)),
        // Exactly what is read at once to tell lines from a document, a line of it not
        // UTF-8: read as lines, that line alone is refused.
        ("exact.jsonl.gz".to_owned(), {
            let mut exact = long_lines[..1 << 20].to_vec();
            let cut = exact.iter().rposition(|&b| b == b'\n').expect("a line") + 1;
            exact[cut..].fill(b' ');
            let second = exact.iter().position(|&b| b == b'\n').expect("a line") + 1;
            let quote = second
                + exact[second..]
                    .iter()
                    .position(|&b| b == b'"')
                    .expect("a string");
            exact[quote + 1] = 0xe9;
            gzip(&exact)
        }),
        (
            "latin1.json.gz".to_owned(),
            gzip(b"{\"Records\":[{\"eventID\":\"\xe9\"}]}"),
        ),
        ("empty.json.gz".to_owned(), gzip(b"")),
        ("not-gzip.json.gz".to_owned(), vec![0x1f, 0x8b, 1, 2, 3]),
    ]);
    let mut shared = 0;
    for (name, bytes) in &files {
        let mut streamed = Seen::default();
        read_stream(name, &mut &bytes[..], &mut streamed);
        let mut held = Seen::default();
        ingest::read_bytes(name, bytes, &mut held);
        assert_eq!(held.events, streamed.events, "{name}");
        assert_eq!(held.malformed, streamed.malformed, "{name}");
        assert_eq!(held.skipped, streamed.skipped, "{name}");
        assert_eq!(held.files, streamed.files, "{name}");
        if name == "whole.json.gz" || name == "two.json.gz" {
            // The events of a document are parts of its text, which they share.
            struct Parts(usize);
            impl Visitor for Parts {
                fn event(&mut self, e: &Event<'_>) {
                    let document = e.document().expect("a document");
                    let start = e.json.as_ptr() as usize - document.as_ptr() as usize;
                    assert_eq!(&document[start..start + e.json.len()], e.json);
                    self.0 += 1;
                }
                fn malformed(&mut self, problem: Malformed) {
                    panic!("{problem}");
                }
                fn skipped(&mut self, _: &str, _: Skip) {}
            }
            let mut parts = Parts(0);
            ingest::read_bytes(name, bytes, &mut parts);
            assert_eq!(parts.0, held.events.len());
            shared += parts.0;
        }
    }
    assert_eq!(
        shared,
        2 * independent_count(&library.join("SerializerTestFileCompact.json"))
    );
}
