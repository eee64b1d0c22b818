//! JSON events: a whole tree for the reference evaluator, lazy raw access for the filter set.
//!
//! Both read the event with [`crate::scan`] and agree on what a JSON event is: the whole message
//! is one valid JSON object (surrounding white space allowed). Duplicate keys resolve to the last
//! value, as most JSON readers do. Numbers keep the text they were written with, because `*`
//! wildcards and regexes compare against that text.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashSet;

use crate::ast::Step;
use crate::scan;

/// A value of the event as the matchers see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum View<'a> {
    Null,
    Bool(bool),
    /// The number's text as written in the event.
    Number(&'a str),
    String(Cow<'a, str>),
    Object,
    Array,
    /// A string or object whose escapes cannot be decoded (a lone surrogate): matches nothing.
    Undecodable,
}

impl View<'_> {
    /// The value as JSON-ish text, for explanations and extracted values.
    pub(crate) fn describe(&self) -> String {
        match self {
            View::Null => "null".into(),
            View::Bool(b) => b.to_string(),
            View::Number(n) => (*n).to_string(),
            View::String(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
            View::Object => "an object".into(),
            View::Array => "an array".into(),
            View::Undecodable => "an undecodable value".into(),
        }
    }

    /// The text a comparison (`=`, `!=`, `<`, …) sees, and whether it may be read as a number;
    /// `None` for values no comparison holds of (see [`crate::choices`], Q5 and Q7).
    pub(crate) fn compared_text(&self) -> Option<(&str, bool)> {
        match self {
            View::String(s) => Some((s, crate::choices::NUMERIC_VALUES_MATCH_NUMERIC_STRINGS)),
            View::Number(n) => Some((n, true)),
            View::Null if crate::choices::NULL_SATISFIES_COMPARISONS => Some(("null", false)),
            _ => None,
        }
    }

    /// The scalar's text, as TestMetricFilter reports it; `None` for null and containers.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            View::Bool(b) => Some(b.to_string()),
            View::Number(n) => Some((*n).to_string()),
            View::String(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Object entries with raw values.

/// The entries of one JSON object, in order, keys decoded and values left raw.
pub(crate) struct Entries<'a>(Vec<(Cow<'a, str>, &'a str)>);

/// The top-level keys a reader keeps.
#[derive(Debug, Clone)]
pub(crate) enum WantedKeys {
    All,
    /// Few keys: comparing is cheaper than hashing. With a bit per key length (modulo 64), so
    /// that most keys of an event are turned away by their length alone.
    Few(Vec<String>, u64),
    Many(FxHashSet<String>),
}

fn length_bit(key: &str) -> u64 {
    1 << (key.len() % 64)
}

impl WantedKeys {
    pub(crate) fn new(mut keys: Vec<String>) -> WantedKeys {
        keys.sort_unstable();
        keys.dedup();
        if keys.len() <= 16 {
            let lengths = keys.iter().fold(0, |bits, k| bits | length_bit(k));
            WantedKeys::Few(keys, lengths)
        } else {
            WantedKeys::Many(keys.into_iter().collect())
        }
    }

    fn wants(&self, key: &str) -> bool {
        match self {
            WantedKeys::All => true,
            WantedKeys::Few(keys, lengths) => {
                lengths & length_bit(key) != 0
                    && keys.iter().any(|k| {
                        k.len() == key.len()
                            && k.as_bytes().first() == key.as_bytes().first()
                            && k == key
                    })
            }
            WantedKeys::Many(keys) => keys.contains(key),
        }
    }
}

impl<'a> Entries<'a> {
    /// Parses `text` as a JSON object, keeping only the members whose keys are wanted; `None`
    /// if it is not a JSON object.
    pub(crate) fn parse_wanted(text: &'a str, wanted: &WantedKeys) -> Option<Entries<'a>> {
        scan::object_members(text, |key| wanted.wants(key)).map(Entries)
    }

    /// Parses `text` as a JSON object; `None` if it is not one.
    pub(crate) fn parse(text: &'a str) -> Option<Entries<'a>> {
        Entries::parse_wanted(text, &WantedKeys::All)
    }

    /// The value of `key` (the last one, if the key repeats).
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The values of all keys, the last one for a repeated key.
    fn values(&self) -> Vec<&'a str> {
        let mut seen = HashSet::with_capacity(self.0.len());
        let mut out: Vec<&'a str> = (self.0.iter().rev())
            .filter(|(k, _)| seen.insert(k.as_ref()))
            .map(|(_, v)| *v)
            .collect();
        out.reverse();
        out
    }
}

/// How a raw value looks to the matchers.
pub(crate) fn view(text: &str) -> View<'_> {
    match text.as_bytes().first() {
        Some(b'"') => {
            if !text.contains('\\') {
                View::String(Cow::Borrowed(&text[1..text.len() - 1]))
            } else {
                match serde_json::from_str::<String>(text) {
                    Ok(s) => View::String(Cow::Owned(s)),
                    Err(_) => View::Undecodable,
                }
            }
        }
        Some(b'{') => View::Object,
        Some(b'[') => View::Array,
        Some(b't') => View::Bool(true),
        Some(b'f') => View::Bool(false),
        Some(b'n') => View::Null,
        _ => View::Number(text),
    }
}

/// Follows `steps` from the children of `entries`, collecting what the selector reaches.
pub(crate) fn resolve_lazy<'a>(root: &Entries<'a>, steps: &[Step], out: &mut Vec<View<'a>>) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    match first {
        Step::Key(k) => {
            if let Some(raw) = root.get(k) {
                descend(raw, rest, out);
            }
        }
        Step::Wildcard { .. } => {
            for raw in root.values() {
                descend(raw, rest, out);
            }
        }
        Step::Index(_) => {}
    }
}

fn descend<'a>(text: &'a str, steps: &[Step], out: &mut Vec<View<'a>>) {
    let Some((first, rest)) = steps.split_first() else {
        out.push(view(text));
        return;
    };
    match (first, text.as_bytes().first()) {
        (Step::Key(_) | Step::Wildcard { .. }, Some(b'{')) => {
            if let Some(entries) = Entries::parse(text) {
                resolve_lazy(&entries, steps, out);
            }
        }
        (Step::Index(i), Some(b'[')) => {
            if let Some(items) = scan::array_items(text)
                && let Some(item) = items.get(*i)
            {
                descend(item, rest, out);
            }
        }
        (Step::Wildcard { .. }, Some(b'[')) => {
            if let Some(items) = scan::array_items(text) {
                for item in items {
                    descend(item, rest, out);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The whole tree, for the reference evaluator.

/// A JSON value with every level read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Node>),
    /// Keys in order; a repeated key keeps only its last value.
    Object(Vec<(String, Node)>),
    Undecodable,
}

impl Node {
    /// Reads the whole event; `None` unless it is a JSON object.
    pub(crate) fn parse_event(message: &str) -> Option<Node> {
        let entries = Entries::parse(message)?;
        Some(Node::from_entries(&entries))
    }

    fn from_entries(entries: &Entries<'_>) -> Node {
        let mut fields: Vec<(String, Node)> = Vec::with_capacity(entries.0.len());
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(entries.0.len());
        for (k, v) in &entries.0 {
            let node = Node::from_raw(v);
            match index.get(k.as_ref()) {
                // A repeated key: its value is the last one, at the place of the first.
                Some(&at) => fields[at].1 = node,
                None => {
                    index.insert(k, fields.len());
                    fields.push((k.to_string(), node));
                }
            }
        }
        Node::Object(fields)
    }

    fn from_raw(text: &str) -> Node {
        match view(text) {
            View::Null => Node::Null,
            View::Bool(b) => Node::Bool(b),
            View::Number(n) => Node::Number(n.to_string()),
            View::String(s) => Node::String(s.into_owned()),
            View::Undecodable => Node::Undecodable,
            View::Object => match Entries::parse(text) {
                Some(entries) => Node::from_entries(&entries),
                None => Node::Undecodable,
            },
            View::Array => match scan::array_items(text) {
                Some(items) => Node::Array(items.into_iter().map(Node::from_raw).collect()),
                None => Node::Undecodable,
            },
        }
    }

    pub(crate) fn view(&self) -> View<'_> {
        match self {
            Node::Null => View::Null,
            Node::Bool(b) => View::Bool(*b),
            Node::Number(n) => View::Number(n),
            Node::String(s) => View::String(Cow::Borrowed(s)),
            Node::Array(_) => View::Array,
            Node::Object(_) => View::Object,
            Node::Undecodable => View::Undecodable,
        }
    }

    /// Every node the selector reaches.
    pub(crate) fn select<'n>(&'n self, steps: &[Step], out: &mut Vec<&'n Node>) {
        let Some((first, rest)) = steps.split_first() else {
            out.push(self);
            return;
        };
        match (first, self) {
            (Step::Key(k), Node::Object(fields)) => {
                if let Some((_, child)) = fields.iter().find(|(name, _)| name == k) {
                    child.select(rest, out);
                }
            }
            (Step::Index(i), Node::Array(items)) => {
                if let Some(child) = items.get(*i) {
                    child.select(rest, out);
                }
            }
            (Step::Wildcard { .. }, Node::Object(fields)) => {
                fields.iter().for_each(|(_, child)| child.select(rest, out));
            }
            (Step::Wildcard { .. }, Node::Array(items)) => {
                items.iter().for_each(|child| child.select(rest, out));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_take_the_last_value() {
        let doc = r#"{"a": 1, "b": {"c": "x"}, "a": "two"}"#;
        let node = Node::parse_event(doc).expect("object");
        let mut out = Vec::new();
        node.select(&[Step::Key("a".into())], &mut out);
        assert_eq!(out, vec![&Node::String("two".into())]);
        let entries = Entries::parse(doc).expect("object");
        let mut lazy = Vec::new();
        resolve_lazy(&entries, &[Step::Key("a".into())], &mut lazy);
        assert_eq!(lazy, vec![View::String("two".into())]);
    }

    #[test]
    fn not_an_object_is_not_a_json_event() {
        for text in [
            "[1]",
            "\"x\"",
            "{\"a\":1} trailing",
            "{\"a\":",
            "prefix {\"a\":1}",
            "",
        ] {
            assert!(Node::parse_event(text).is_none(), "{text}");
            assert!(Entries::parse(text).is_none(), "{text}");
        }
        assert!(Node::parse_event(" {\"a\":1}\n").is_some());
    }

    #[test]
    fn numbers_keep_their_text_and_escapes_are_decoded() {
        let node = Node::parse_event(r#"{"n": 1.50e3, "s": "Put\u0052ole\/x"}"#).expect("object");
        let mut out = Vec::new();
        node.select(&[Step::Key("n".into())], &mut out);
        node.select(&[Step::Key("s".into())], &mut out);
        assert_eq!(
            out,
            vec![
                &Node::Number("1.50e3".into()),
                &Node::String("PutRole/x".into())
            ]
        );
    }
}
