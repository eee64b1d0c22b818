//! Readers for every shape CloudTrail events come in.
//!
//! CloudTrail delivers to S3 as gzip'd `{"Records":[…]}` documents under
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/` (or `AWSLogs/<org-id>/<account>/…` for an
//! organization trail), beside digest files (`CloudTrail-Digest`) that hold no events; tools
//! export the same events as JSON arrays, JSON lines or one event per file. [`read_paths`] takes
//! files, folders (walked in name order, which in the S3 layout is time order) and `-` for
//! standard input, tells each content apart by its bytes rather than its name (gzip by its
//! magic number; a document, an array or lines by its JSON), and hands every event to a
//! [`Visitor`] as the raw JSON text it was written as.
//!
//! Nothing in the input aborts a run: a file that cannot be read or parsed, or an event that is
//! not one, is reported with its path (and line or record number) and counted, and reading goes
//! on; digests and other objects are reported as skipped.

pub mod follow;
mod shape;
mod walk;

use std::fmt;
use std::sync::Arc;

pub use walk::{Unreadable, read_bytes, read_paths, read_stream, stored_bytes};

/// Where in a file something was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The file as a whole (one document, or one event per file).
    File,
    /// A line of a JSON-lines file, from 1.
    Line(usize),
    /// An element of a `Records` list or of a JSON array, from 1.
    Record(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::File => Ok(()),
            Position::Line(n) => write!(f, ":{n}"),
            Position::Record(n) => write!(f, " record {n}"),
        }
    }
}

/// One CloudTrail event, as written in its file.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The event's JSON text, exactly as it was in the input.
    pub json: &'a str,
    /// The file it came from (`-` for standard input).
    pub path: &'a str,
    pub position: Position,
    /// Its key, where the reader read it on its way.
    pub(crate) known: Option<EventKey<'a>>,
    /// Its top-level members that the visitor asked for ([`Visitor::fields`]), and its
    /// `eventID` and `eventTime`, where the reader read them on its way.
    pub(crate) members: Option<&'a [(std::borrow::Cow<'a, str>, &'a str)]>,
    /// The whole text its JSON is a part of, where the reader holds one (a file read whole).
    pub(crate) document: Option<&'a Arc<String>>,
}

/// The fields of an event that replay orders and deduplicates on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventKey<'a> {
    pub event_id: Option<std::borrow::Cow<'a, str>>,
    pub event_time: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> Event<'a> {
    pub fn new(json: &'a str, path: &'a str, position: Position) -> Event<'a> {
        Event {
            json,
            path,
            position,
            known: None,
            members: None,
            document: None,
        }
    }

    /// The whole text its JSON is a part of (its file, read whole), where the reader holds
    /// one: a visitor that keeps the event can keep its JSON as a part of this text, shared
    /// with the file's other events, rather than copy it.
    pub fn document(&self) -> Option<&'a Arc<String>> {
        self.document
    }

    /// The raw values of its top-level members that the visitor asked for
    /// ([`Visitor::fields`]), with keys decoded, where the reader read them on its way (the
    /// events of a `Records` document); `None` where it did not.
    pub fn members(&self) -> Option<&'a [(std::borrow::Cow<'a, str>, &'a str)]> {
        self.members
    }

    /// Its `eventID` and `eventTime`, where it has them as strings.
    pub fn key(&self) -> EventKey<'a> {
        if let Some(key) = &self.known {
            return key.clone();
        }
        let json: &'a str = self.json;
        let scanned;
        let members = match self.members {
            Some(members) => Some(members),
            None => {
                scanned = filter::object_members(json, |k| k == "eventID" || k == "eventTime");
                scanned.as_deref()
            }
        };
        let member = |name: &str| {
            members
                .iter()
                .copied()
                .flatten()
                .find(|(key, _)| key == name)
                .and_then(|(_, raw)| shape::string_value(raw))
        };
        EventKey {
            event_id: member("eventID"),
            event_time: member("eventTime"),
        }
    }
}

/// Why input was not read as events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The file (`-` for standard input).
    pub path: String,
    pub position: Position,
    /// What is wrong, for a person.
    pub reason: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: {}", self.path, self.position, self.reason)
    }
}

/// Why a file was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A CloudTrail digest file (`CloudTrail-Digest`): hashes of log files, no events.
    Digest,
    /// Something else met while walking a folder: a hidden file, CloudTrail Insights, or a
    /// name that is not `.json`, `.jsonl`, `.ndjson` or `.gz`.
    Other,
}

/// Content read and not yet parsed. Parsing (and whatever is done with the events) is most of a
/// run's work, so a visitor may take content to read elsewhere — on other threads, keeping
/// the order — with [`Content::read`]; what it gives back is read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The file (`-` for standard input).
    pub path: String,
    pub(crate) kind: ContentKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentKind {
    /// A whole file as stored: gzip or not, any shape.
    Stored(Vec<u8>),
    /// A whole file's content, inflated: a document, an array, or lines; as text, which the
    /// events read from it share ([`Event::document`]).
    Document(Arc<String>),
    /// A whole file's content, inflated, that is not UTF-8, and where it is not.
    NotText(Vec<u8>, std::str::Utf8Error),
    /// Whole lines of a JSON-lines file, the first of them line `first_line`.
    Lines { first_line: usize, text: Chunk },
}

impl ContentKind {
    /// A whole file's content, inflated.
    pub(crate) fn document(bytes: Vec<u8>) -> ContentKind {
        match String::from_utf8(bytes) {
            Ok(text) => ContentKind::Document(Arc::new(text)),
            Err(e) => {
                let error = e.utf8_error();
                ContentKind::NotText(e.into_bytes(), error)
            }
        }
    }
}

/// A chunk of a large file's lines. Its buffer goes back to the reader that filled it when the
/// chunk is dropped (once read, on whatever thread), so that reading a large file cycles
/// through a few buffers rather than asking the kernel for fresh pages for every chunk.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    spare: Spare,
}

impl Chunk {
    pub(crate) fn new(bytes: Vec<u8>, spare: &Spare) -> Chunk {
        Chunk {
            bytes,
            spare: spare.clone(),
        }
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl PartialEq for Chunk {
    fn eq(&self, other: &Chunk) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.spare.put(std::mem::take(&mut self.bytes));
    }
}

/// Buffers given back by dropped [`Chunk`]s, for the reader to fill again.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spare(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// Buffers kept for reuse at most: more than the chunks a reader has in flight at once.
const SPARE: usize = 16;

impl Spare {
    /// An empty buffer with room for `capacity` bytes: a spare one if there is one. A new one
    /// has an eighth more room, so that it can be used again when what is asked varies a
    /// little (a chunk and the start of a line left over from the one before); room never
    /// written to takes no memory.
    pub(crate) fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(mut buf) => {
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity + capacity / 8),
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE && buf.capacity() > 0 {
            buf.clear();
            spare.push(buf);
        }
    }
}

impl Content {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match &self.kind {
            ContentKind::Stored(bytes) | ContentKind::NotText(bytes, _) => bytes.len(),
            ContentKind::Document(text) => text.len(),
            ContentKind::Lines { text, .. } => text.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads its events, telling `visitor` what it finds, as reading the file would have.
    pub fn read(&self, visitor: &mut dyn Visitor) {
        match &self.kind {
            ContentKind::Stored(bytes) => walk::read_stored(&self.path, bytes, visitor),
            ContentKind::Document(text) => shape::read_content(&self.path, text, visitor),
            ContentKind::NotText(_, error) => shape::not_text(&self.path, error, visitor),
            ContentKind::Lines { first_line, text } => {
                shape::read_line_chunk(&self.path, *first_line, text, visitor)
            }
        }
    }
}

/// What reading finds, in input order.
pub trait Visitor {
    /// An event.
    fn event(&mut self, event: &Event<'_>);
    /// A file or an event that could not be read; reading goes on.
    fn malformed(&mut self, problem: Malformed);
    /// A file that holds no events to read.
    fn skipped(&mut self, path: &str, why: Skip);
    /// A file has been read (its events handed over); `bytes` is its size as stored
    /// (compressed if it is), for progress against [`stored_bytes`].
    fn file(&mut self, path: &str, bytes: u64) {
        let _ = (path, bytes);
    }
    /// The top-level members of each event that it reads, besides `eventID` and `eventTime`:
    /// where a reader scans an event on its way (the events of a `Records` document), it
    /// hands them over with it ([`Event::members`]) rather than have the visitor scan it again.
    fn fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// Content read and not yet parsed: answered back to be read here and now (the default),
    /// or taken to be read elsewhere with [`Content::read`].
    fn content(&mut self, content: Content) -> Option<Content> {
        Some(content)
    }
}

/// Hands `content` to `visitor`, and reads what it gives back.
pub(crate) fn hand_over(visitor: &mut dyn Visitor, content: Content) {
    if let Some(content) = visitor.content(content) {
        content.read(visitor);
    }
}
