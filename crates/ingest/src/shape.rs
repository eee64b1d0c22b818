//! One file's content, whatever its shape: gzip or not; a `{"Records":[…]}` document, a JSON
//! array of events, JSON lines, or one event.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::{Chunk, Content, ContentKind, Event, EventKey, Malformed, Position, Spare, Visitor};

/// Reads the events of one file's content, already inflated if it was gzip'd.
pub(crate) fn read_content(path: &str, document: &Arc<String>, visitor: &mut dyn Visitor) {
    let malformed = |visitor: &mut dyn Visitor, position, reason: String| {
        visitor.malformed(Malformed {
            path: path.to_owned(),
            position,
            reason,
        });
    };
    let text = document.trim_start_matches('\u{feff}');
    let body = text.trim_start();
    if body.is_empty() {
        return;
    }
    if body.starts_with('[') {
        return read_array(path, body, visitor);
    }
    // One valid document, as CloudTrail writes: read in one pass. What is not (JSON lines, or
    // broken JSON) is told apart below.
    if body.starts_with('{')
        && read_scanned(
            path,
            body.trim_end(),
            Position::File,
            Some(document),
            visitor,
        )
    {
        return;
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

/// A whole file's content that is not UTF-8 text.
pub(crate) fn not_text(path: &str, error: &std::str::Utf8Error, visitor: &mut dyn Visitor) {
    visitor.malformed(Malformed {
        path: path.to_owned(),
        position: Position::File,
        reason: format!("not UTF-8 text: {error}"),
    });
}

/// The top-level members that tell what an object is, and that replay reads.
const PROBED: [&str; 6] = [
    "Records",
    "eventVersion",
    "eventName",
    "eventSource",
    "eventID",
    "eventTime",
];

/// A member's raw value as a string, where it is one (escapes decoded).
pub(crate) fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// A top-level value: a Records document, or one event. One pass of the filter engine's
/// validating scanner checks the whole of its JSON and picks the members that say what it is,
/// and those of each record that the visitor reads.
fn read_value(path: &str, json: &str, position: Position, visitor: &mut dyn Visitor) {
    if !read_scanned(path, json, position, None, visitor) {
        let error = serde_json::from_str::<IgnoredAny>(json).err();
        not_an_event(path, json, position, error, visitor);
    }
}

/// [`read_value`] if `json` is one valid JSON object; `false` (and nothing read) otherwise.
/// `document` is the whole text `json` is a part of, where there is one to share.
fn read_scanned(
    path: &str,
    json: &str,
    position: Position,
    document: Option<&Arc<String>>,
    visitor: &mut dyn Visitor,
) -> bool {
    let fields = visitor.fields();
    let Some((members, records)) = filter::object_members_and_items(
        json,
        |key| PROBED.contains(&key),
        "Records",
        |key| key == "eventID" || key == "eventTime" || fields.contains(&key),
    ) else {
        return false;
    };
    let member = |name: &str| {
        members
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    };
    if member("Records").is_some() {
        let Some(records) = records else {
            visitor.malformed(Malformed {
                path: path.to_owned(),
                position,
                reason: "not CloudTrail records: Records is not a JSON array".to_owned(),
            });
            return true;
        };
        for (i, record) in records.iter().enumerate() {
            // Records are numbered within their document; a document on line N of a
            // JSON-lines file is numbered by its line. Any object is taken as an event
            // (CloudTrail's own records may have every field null).
            let at = match position {
                Position::Line(_) => position,
                _ => Position::Record(i + 1),
            };
            match &record.members {
                Some(members) => visitor.event(&Event {
                    json: record.raw,
                    path,
                    position: at,
                    known: None,
                    members: Some(members),
                    document,
                }),
                None => visitor.malformed(Malformed {
                    path: path.to_owned(),
                    position: at,
                    reason: "not a CloudTrail event: not a JSON object".to_owned(),
                }),
            }
        }
        return true;
    }
    let is_event = ["eventVersion", "eventName", "eventSource", "eventID"]
        .iter()
        .any(|name| member(name).is_some());
    if is_event {
        visitor.event(&Event {
            json: json.trim(),
            path,
            position,
            known: Some(EventKey {
                event_id: member("eventID").and_then(string_value),
                event_time: member("eventTime").and_then(string_value),
            }),
            members: None,
            document,
        });
    } else {
        visitor.malformed(Malformed {
            path: path.to_owned(),
            position,
            reason: "not a CloudTrail event: no Records, eventVersion, eventName, eventSource or eventID"
                .to_owned(),
        });
    }
    true
}

/// A top-level value that did not read as an event: broken JSON, or JSON that is not an object.
fn not_an_event(
    path: &str,
    json: &str,
    position: Position,
    error: Option<serde_json::Error>,
    visitor: &mut dyn Visitor,
) {
    let reason = match error {
        Some(error) => format!("not JSON: {error}"),
        // serde_json reads it, the scanner does not: not one JSON object it can read.
        None if json.trim_start().starts_with('{') => "not JSON: not one JSON object".to_owned(),
        None => "not a CloudTrail event: not a JSON object".to_owned(),
    };
    visitor.malformed(Malformed {
        path: path.to_owned(),
        position,
        reason,
    });
}

/// An element of a Records list or of an array: any object is taken as an event (CloudTrail's
/// own records may have every field null).
fn read_record(path: &str, json: &str, position: Position, visitor: &mut dyn Visitor) {
    if json.trim_start().starts_with('{') {
        visitor.event(&Event::new(json, path, position));
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
        read_line(path, line, i + 1, visitor);
    }
}

/// Line `number` of a JSON-lines file.
fn read_line(path: &str, line: &str, number: usize, visitor: &mut dyn Visitor) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    // One parse reads the line: a Records document or an event, checked as JSON.
    read_value(path, line, Position::Line(number), visitor);
}

/// How much of a file is looked at to tell its shape, and read at a time once it is known to
/// be JSON lines.
const CHUNK: usize = 1 << 20;

/// Reads the events of a stream of any shape. A stream longer than [`CHUNK`] whose first line
/// is a JSON value with more after it is read as JSON lines a chunk at a time, so that memory
/// follows the chunk, not the file; other shapes (documents, arrays) are read whole, as they
/// can only be parsed whole.
pub(crate) fn read_stream(
    path: &str,
    raw: &mut dyn Read,
    visitor: &mut dyn Visitor,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match raw.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let prefix = std::io::Cursor::new(head[..got].to_vec());
    let mut chained = prefix.chain(raw);
    // Gzip is told by its magic number; a file may hold several members, as concatenated
    // gzip files do.
    let gzip = head[..got] == [0x1f, 0x8b];
    let mut decoded;
    let input: &mut dyn Read = if gzip {
        decoded = flate2::read::MultiGzDecoder::new(chained);
        &mut decoded
    } else {
        &mut chained
    };
    let mut buf = Vec::with_capacity(CHUNK);
    let ended = fill(input, &mut buf, CHUNK).map_err(|e| gzip_error(gzip, e))?;
    if ended || !starts_json_lines(&buf) {
        input
            .read_to_end(&mut buf)
            .map_err(|e| gzip_error(gzip, e))?;
        crate::hand_over(
            visitor,
            Content {
                path: path.to_owned(),
                kind: ContentKind::document(buf),
            },
        );
        return Ok(());
    }
    let mut line_number = 1;
    let mut ended = false;
    let spare = Spare::default();
    loop {
        // Whole lines up to the last newline; the rest waits for the next chunk (a line
        // longer than a chunk makes the buffer grow until it ends).
        let cut = if ended {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1)
        };
        let first_line = line_number;
        line_number += memchr::memchr_iter(b'\n', &buf[..cut]).count();
        let mut next = spare.take(buf.len() - cut + CHUNK);
        next.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let text = std::mem::replace(&mut buf, next);
        if !text.is_empty() {
            crate::hand_over(
                visitor,
                Content {
                    path: path.to_owned(),
                    kind: ContentKind::Lines {
                        first_line,
                        text: Chunk::new(text, &spare),
                    },
                },
            );
        }
        if ended {
            return Ok(());
        }
        let want = buf.len() + CHUNK;
        ended = fill(input, &mut buf, want).map_err(|e| gzip_error(gzip, e))?;
    }
}

/// Reads whole lines of a JSON-lines file, the first of them line `first_line`.
pub(crate) fn read_line_chunk(
    path: &str,
    first_line: usize,
    chunk: &[u8],
    visitor: &mut dyn Visitor,
) {
    // The chunk's text is checked once; only a chunk that is not UTF-8 is looked at line by
    // line, to tell which lines are not.
    let text = std::str::from_utf8(chunk).ok();
    let mut start = 0;
    let mut line_number = first_line;
    while start < chunk.len() {
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i);
        // A newline never falls inside a UTF-8 character, so these are char boundaries.
        let line = match text {
            Some(text) => Ok(&text[start..end]),
            None => std::str::from_utf8(&chunk[start..end]),
        };
        match line {
            Ok(line) => read_line(path, line, line_number, visitor),
            Err(e) => visitor.malformed(Malformed {
                path: path.to_owned(),
                position: Position::Line(line_number),
                reason: format!("not UTF-8 text: {e}"),
            }),
        }
        line_number += 1;
        start = end + 1;
    }
}

/// [`read_stream`] of a file held whole (an object fetched from a bucket). Gzip is inflated
/// straight into a buffer of the size its trailer gives, rather than through a reader, which
/// clears each buffer before it fills it: for a backlog, clearing fresh memory cost as much as
/// inflating. What is told from the first [`CHUNK`] is told as [`read_stream`] tells it: long
/// JSON lines are read a chunk at a time, from the stream.
pub(crate) fn read_bytes(
    path: &str,
    bytes: &[u8],
    visitor: &mut dyn Visitor,
) -> std::io::Result<()> {
    let stream = |visitor: &mut dyn Visitor| read_stream(path, &mut &bytes[..], visitor);
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return stream(visitor);
    }
    let mut gzip = Inflating::new(bytes);
    // Broken gzip is read as a stream, which reads up to where it breaks (lines before it are
    // events still).
    if gzip.fill(CHUNK).is_none() {
        return stream(visitor);
    }
    if gzip.out.len() >= CHUNK && starts_json_lines(&gzip.out[..CHUNK]) {
        return stream(visitor);
    }
    if gzip.fill(usize::MAX).is_none() {
        return stream(visitor);
    }
    let mut text = gzip.out;
    // A trailer that said more than there was (a file cut short and read again later, say)
    // leaves no room idle in the document, which the events keep.
    if text.capacity() - text.len() > text.len() / 8 {
        text.shrink_to_fit();
    }
    crate::hand_over(
        visitor,
        Content {
            path: path.to_owned(),
            kind: ContentKind::document(text),
        },
    );
    Ok(())
}

/// Gzip held whole, being inflated: every member, as concatenated gzip files have several.
struct Inflating<'a> {
    input: &'a [u8],
    member: Option<flate2::Decompress>,
    out: Vec<u8>,
}

/// How much a gzip file's trailer is believed at most: several times what CloudTrail's JSON
/// inflates to, and a bound on what one file asks for before it has shown it.
const TRAILER_RATIO: usize = 64;
const TRAILER_MOST: usize = 256 << 20;

impl<'a> Inflating<'a> {
    fn new(input: &'a [u8]) -> Inflating<'a> {
        // The last member's size (modulo 4 GiB) ends the input: room for a one-member file,
        // as CloudTrail writes, at once. A hint only: the room grows if it is short.
        let trailer = input.len().checked_sub(4).map_or(0, |at| {
            u32::from_le_bytes(input[at..].try_into().expect("four bytes")) as usize
        });
        let room = trailer
            .min(input.len().saturating_mul(TRAILER_RATIO))
            .min(TRAILER_MOST);
        let mut out = Vec::new();
        // Refused room is no error: the buffer grows as it is filled instead.
        let _ = out.try_reserve_exact(room);
        Inflating {
            input,
            member: None,
            out,
        }
    }

    /// Inflates until at least `want` bytes are out or the input is done; `None` if it is
    /// broken or cut short.
    fn fill(&mut self, want: usize) -> Option<()> {
        use flate2::{Decompress, FlushDecompress, Status};
        while self.out.len() < want {
            if self.member.is_none() {
                if self.input.is_empty() {
                    return Some(());
                }
                self.member = Some(Decompress::new_gzip(15));
            }
            let member = self.member.as_mut()?;
            if self.out.len() == self.out.capacity() {
                self.out.reserve(self.out.capacity().max(64 << 10));
            }
            let (read, written) = (member.total_in(), self.out.len());
            let status = member
                .decompress_vec(self.input, &mut self.out, FlushDecompress::None)
                .ok()?;
            let used = (member.total_in() - read) as usize;
            self.input = &self.input[used..];
            match status {
                Status::StreamEnd => self.member = None,
                // Nothing more to read and room left to write (the input ends mid-stream), or
                // no headway.
                _ if self.input.is_empty() && self.out.len() < self.out.capacity() => {
                    return None;
                }
                _ if self.out.len() == written && used == 0 => return None,
                _ => {}
            }
        }
        Some(())
    }
}

/// Reads until `buf` holds `want` bytes or the input ends; `true` when it ended. (Through
/// `read_to_end`, which grows `buf` as it reads.)
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let missing = want.saturating_sub(buf.len());
    let read = input.take(missing as u64).read_to_end(buf)?;
    Ok(read < missing)
}

fn gzip_error(gzip: bool, e: std::io::Error) -> std::io::Error {
    if gzip {
        std::io::Error::new(e.kind(), format!("not readable as gzip: {e}"))
    } else {
        e
    }
}

/// Whether a file's beginning is JSON lines: a first line that is a JSON value on its own.
fn starts_json_lines(head: &[u8]) -> bool {
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let first = &head[..end];
    let trimmed = first.trim_ascii_start();
    !trimmed.starts_with(b"[")
        && std::str::from_utf8(first)
            .is_ok_and(|line| serde_json::from_str::<&RawValue>(line.trim()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).expect("gzip");
        gz.finish().expect("gzip")
    }

    fn inflated(input: &[u8]) -> Option<Vec<u8>> {
        let mut gzip = Inflating::new(input);
        gzip.fill(usize::MAX)?;
        Some(gzip.out)
    }

    #[test]
    fn gzip_held_whole_inflates_every_member_into_the_room_its_trailer_gives() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|n| n.to_string().into_bytes())
            .collect();
        let one = gzip(&text);
        let mut whole = Inflating::new(&one);
        assert_eq!(whole.out.capacity(), text.len());
        whole.fill(usize::MAX).expect("inflated");
        assert_eq!(
            (whole.out.len(), whole.out.capacity()),
            (text.len(), text.len())
        );
        assert_eq!(whole.out, text);
        // Two members, the last (whose size ends the input) small: filled a part at a time,
        // then the rest.
        let (a, b) = text.split_at(text.len() - 12_345);
        let two = [gzip(a), gzip(b)].concat();
        let mut parts = Inflating::new(&two);
        assert_eq!(parts.out.capacity(), 12_345);
        parts.fill(1000).expect("a part");
        assert!(parts.out.len() >= 1000 && parts.out.len() < text.len());
        parts.fill(usize::MAX).expect("the rest");
        assert_eq!(parts.out, text);
        assert_eq!(inflated(&gzip(b"")), Some(Vec::new()));
        // A trailer that lies either way: the room grows, or the text is as long as it is.
        for size in [1u32, u32::MAX] {
            let mut lying = one.clone();
            let at = lying.len() - 4;
            lying[at..].copy_from_slice(&size.to_le_bytes());
            let mut gzip = Inflating::new(&lying);
            assert!(gzip.out.capacity() <= lying.len() * TRAILER_RATIO);
            // The trailer's size is checked once the member ends: it does not match.
            assert_eq!(gzip.fill(usize::MAX), None);
        }
    }

    #[test]
    fn broken_or_cut_gzip_is_none_not_a_panic() {
        let one = gzip(b"{\"Records\":[]}");
        for cut in 1..one.len() {
            assert_eq!(inflated(&one[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            inflated(&[one.clone(), b"not gzip".to_vec()].concat()),
            None
        );
        let mut flipped = one.clone();
        flipped[12] ^= 0xff;
        assert_eq!(inflated(&flipped), None);
    }
}
