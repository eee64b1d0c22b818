//! A validating JSON scanner that returns the raw text of the members asked for.
//!
//! A message is a JSON event only if the whole of it is one valid JSON object, so every event a
//! JSON filter looks at is validated in full, yet the filters read a handful of its members.
//! serde_json's generic path (visitors, `IgnoredAny`) took about as long to skip the rest of a
//! CloudTrail event as the whole 15-filter pass took; this scanner checks RFC 8259's grammar
//! directly on the bytes, eight string bytes at a time, and keeps only the spans asked for.
//! Decoding escapes is left to serde_json, on the few values that are read and have escapes.

use std::borrow::Cow;

/// Events with more containers nested than this are not read as JSON, so that no event can
/// exhaust the stack of the scanner or of the evaluators that walk the tree; serde_json
/// refuses the same depth when it builds values.
const MAX_DEPTH: usize = 128;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` below `n` (`n` ≤ 0x80). Only the lowest flag is exact (a
/// borrow may flag bytes above it), which is the only one read.
fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The high bit of each byte of `w` equal to `b`, the lowest one exact.
fn bytes_equal(w: u64, b: u8) -> u64 {
    bytes_below(w ^ (ONES * u64::from(b)), 1)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_white_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips one value inside `depth` open containers.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' if depth < MAX_DEPTH => self.object(depth + 1, |_, _, _| Some(())),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1, |_| ()),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// Skips the string that starts here; whether it has escapes.
    fn string(&mut self) -> Option<bool> {
        let bytes = self.bytes;
        let mut i = self.at + 1;
        let mut escaped = false;
        loop {
            while let Some(chunk) = bytes.get(i..i + 8) {
                let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                let special = bytes_equal(w, b'"') | bytes_equal(w, b'\\') | bytes_below(w, 0x20);
                if special != 0 {
                    i += special.trailing_zeros() as usize / 8;
                    break;
                }
                i += 8;
            }
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    i += match *bytes.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' if bytes.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                        _ => return None,
                    };
                }
                // Control characters must be escaped.
                0..0x20 => return None,
                _ => i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    /// Skips the object that starts here, calling `member(raw key, key has escapes, raw
    /// value)` for each member; a `None` from it stops the scan.
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&'a str, bool, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.object_with(|scanner, key, escaped| {
            let start = scanner.at;
            scanner.value(depth)?;
            member(key, escaped, &scanner.text[start..scanner.at])
        })
    }

    /// The members of the object at the scanner (within `depth` containers) whose key `keep`
    /// accepts, in order: keys decoded, values raw.
    fn kept_members(&mut self, depth: usize, keep: impl Fn(&str) -> bool) -> Option<Members<'a>> {
        let mut members = Vec::with_capacity(8);
        self.object(depth, |key, escaped, value| {
            let key = decoded(key, escaped)?;
            if keep(&key) {
                members.push((key, value));
            }
            Some(())
        })?;
        Some(members)
    }

    /// Skips the object that starts here, calling `member(self, raw key, key has escapes)`
    /// at each member's value, which it must skip.
    fn object_with(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str, bool) -> Option<()>,
    ) -> Option<()> {
        self.at += 1;
        self.skip_white_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = self.at;
            let escaped = self.string()?;
            let key = &self.text[key_start..self.at];
            self.skip_white_space();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.skip_white_space();
            member(self, key, escaped)?;
            if !self.another_item(b'}')? {
                return Some(());
            }
        }
    }

    /// After an item of a container that `close` ends: whether another item follows.
    fn another_item(&mut self, close: u8) -> Option<bool> {
        self.skip_white_space();
        let next = self.peek()?;
        self.at += 1;
        if next == b',' {
            self.skip_white_space();
            Some(true)
        } else {
            (next == close).then_some(false)
        }
    }

    /// Skips the array that starts here, calling `item(raw value)` for each item.
    fn array(&mut self, depth: usize, mut item: impl FnMut(&'a str)) -> Option<()> {
        self.array_with(|scanner| {
            let start = scanner.at;
            scanner.value(depth)?;
            item(&scanner.text[start..scanner.at]);
            Some(())
        })
    }

    /// Skips the array that starts here, calling `item(self)` at each item, which it must
    /// skip.
    fn array_with(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.at += 1;
        self.skip_white_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            if !self.another_item(b']')? {
                return Some(());
            }
        }
    }

    /// Runs `container` on the value that is the whole text, white space around it allowed.
    fn whole(mut self, open: u8, container: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        self.skip_white_space();
        (self.peek()? == open).then_some(())?;
        container(&mut self)?;
        self.skip_white_space();
        (self.at == self.bytes.len()).then_some(())
    }
}

/// The members of the JSON object that is the whole of `text`, in order, with their keys
/// decoded and their values raw, keeping those whose key `keep` accepts; `None` if `text` is
/// not one valid JSON object (or a key's escapes do not decode).
pub fn object_members<'a>(text: &'a str, keep: impl Fn(&str) -> bool) -> Option<Members<'a>> {
    let mut members = None;
    Scanner::new(text).whole(b'{', |scanner| {
        members = Some(scanner.kept_members(1, keep)?);
        Some(())
    })?;
    members
}

/// A raw key, decoded.
fn decoded(key: &str, escaped: bool) -> Option<Cow<'_, str>> {
    Some(if escaped {
        Cow::Owned(serde_json::from_str::<String>(key).ok()?)
    } else {
        Cow::Borrowed(&key[1..key.len() - 1])
    })
}

/// The members of an object that were asked for: keys decoded, values raw.
pub type Members<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// An item of an array, raw, with the members asked for if it is an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub raw: &'a str,
    pub members: Option<Members<'a>>,
}

/// [`object_members`] of `text`, and, where its member `listing` (the first of that key) is
/// an array, its items, each with its members that `keep_item` accepts if it is an object: a
/// `{"Records":[…]}` document and its events' fields from one validating pass, rather than
/// one for the document, another for its list and a third for each event.
pub fn object_members_and_items<'a>(
    text: &'a str,
    keep: impl Fn(&str) -> bool,
    listing: &str,
    keep_item: impl Fn(&str) -> bool,
) -> Option<(Members<'a>, Option<Vec<Item<'a>>>)> {
    let mut members = Vec::with_capacity(8);
    let mut items: Option<Vec<Item<'a>>> = None;
    Scanner::new(text).whole(b'{', |scanner| {
        scanner.object_with(|scanner, key, escaped| {
            let key = decoded(key, escaped)?;
            let start = scanner.at;
            // Depths as `value(1)` would count them: the list inside 2 containers, an item's
            // members inside 3.
            if items.is_none() && *key == *listing && scanner.peek() == Some(b'[') {
                let mut list = Vec::new();
                scanner.array_with(|scanner| {
                    let at = scanner.at;
                    let mut kept = None;
                    if scanner.peek() == Some(b'{') {
                        kept = Some(scanner.kept_members(3, &keep_item)?);
                    } else {
                        scanner.value(2)?;
                    }
                    list.push(Item {
                        raw: &scanner.text[at..scanner.at],
                        members: kept,
                    });
                    Some(())
                })?;
                items = Some(list);
            } else {
                scanner.value(1)?;
            }
            if keep(&key) {
                members.push((key, &scanner.text[start..scanner.at]));
            }
            Some(())
        })
    })?;
    Some((members, items))
}

/// The raw items of the JSON array that is the whole of `text`; `None` if it is not one.
pub fn array_items(text: &str) -> Option<Vec<&str>> {
    let mut items = Vec::new();
    Scanner::new(text).whole(b'[', |scanner| scanner.array(1, |item| items.push(item)))?;
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_object(text: &str) -> bool {
        object_members(text, |_| true).is_some()
    }

    #[test]
    fn agrees_with_serde_json_on_what_is_valid() {
        let cases = [
            r#"{}"#,
            r#" { "a" : 1 } "#,
            r#"{"a":-0.5e+10,"b":[true,false,null,{"c":[]}],"d":"x\"\\\/\b\f\n\r\t\u00e9"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"\u{7f} and \u{e9}\"}",
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nulls}"#,
            r#"{"a":1}}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":1} {"#,
            "{\"a\":1}\u{a0}",
            r#"{"a":[[[]]]}"#,
            // Longer than a word: strings looked at eight bytes at a time, with control
            // characters between tokens, in a string, or none.
            r#"{"a long key":"a long value with \"quotes\" and \\ inside it"}"#,
            "{\n  \"a long key\": \"a long value with \\\"quotes\\\" inside\"\n}",
            "{\n  \"a long key\": \"a long value with a\ttab in it\"\n}",
            "{\"a long key\":\"a long value with \u{1f} in it\"}",
            "{\"a long key\":\"a long value ending with a newline\n\"}",
        ];
        for text in cases {
            let serde = serde_json::from_str::<&serde_json::value::RawValue>(text)
                .is_ok_and(|v| v.get().starts_with('{'));
            assert_eq!(valid_object(text), serde, "{text}");
        }
    }

    #[test]
    fn refuses_more_than_128_nested_containers() {
        let nested = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(valid_object(&nested(MAX_DEPTH - 1)));
        assert!(!valid_object(&nested(MAX_DEPTH)));
        assert!(!valid_object(&nested(1_000_000)));
    }

    #[test]
    fn reads_a_list_and_its_objects_members_in_the_same_pass() {
        let text =
            r#"{"Records": [{"eventID":"a","x":1}, 2, {"eventID":"b"}], "Records":[9],"k":true}"#;
        let (members, items) =
            object_members_and_items(text, |k| k != "k", "Records", |k| k == "eventID")
                .expect("valid");
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].1, "[9]");
        let items = items.expect("a list");
        let raw: Vec<&str> = items.iter().map(|i| i.raw).collect();
        assert_eq!(raw, array_items(members[0].1).expect("items"));
        assert_eq!(items[0].members, Some(vec![("eventID".into(), r#""a""#)]));
        assert_eq!(items[1].members, None);
        assert_eq!(items[2].members, Some(vec![("eventID".into(), r#""b""#)]));
        // What is not one valid object is nothing, as for object_members; a list member that
        // is not an array is no list.
        assert_eq!(
            object_members_and_items(r#"{"Records":[{"a":1,}]}"#, |_| true, "Records", |_| true),
            None
        );
        let (_, items) =
            object_members_and_items(r#"{"Records":{}}"#, |_| true, "Records", |_| true)
                .expect("valid");
        assert_eq!(items, None);
    }

    #[test]
    fn a_list_read_with_its_items_is_as_deep_as_one_read_whole() {
        let nested = |n: usize| {
            format!(
                "{{\"Records\":[{{\"a\":{}1{}}}]}}",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let read =
            |text: &str| object_members_and_items(text, |_| true, "Records", |_| true).is_some();
        for n in [MAX_DEPTH - 4, MAX_DEPTH - 3, MAX_DEPTH - 2] {
            assert_eq!(read(&nested(n)), valid_object(&nested(n)), "{n}");
        }
    }

    #[test]
    fn returns_raw_values_and_decoded_keys() {
        let members = object_members(r#"{"a\u0062": [1, 2] , "c":"d\n", "e":2}"#, |k| k != "e")
            .expect("valid");
        assert_eq!(
            members,
            vec![
                (Cow::Owned("ab".into()), "[1, 2]"),
                ("c".into(), r#""d\n""#)
            ]
        );
        assert_eq!(
            array_items(" [1, \"x\" ,{}] "),
            Some(vec!["1", "\"x\"", "{}"])
        );
        assert_eq!(array_items("[1 2]"), None);
    }
}
