//! Searching an event's raw text: for `"key"` tokens and for literals, and reading a
//! member's value or finding escapes straight from the text, without parsing the JSON.

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;

use super::requirement::set_bit;

/// A key that escapes cannot disguise unless the event has `\u` or `\/`, and that holds none of
/// the characters JSON puts between tokens (see [`KeySearch`]).
pub(super) fn plain_key(k: &str) -> bool {
    !k.is_empty()
        && !k.chars().any(|c| {
            matches!(c, '"' | '\\' | '/' | ',' | ':' | '{' | '}' | '[' | ']')
                || c.is_whitespace()
                || c.is_control()
        })
}

/// Finds the `"key"` tokens of an event.
///
/// A leftmost, non-overlapping search suffices: a token that started before a real key's
/// opening quote and overlapped it would have to end with that quote, so its last key
/// character would be what precedes a key in JSON (`{`, `,`, white space), which keyed keys
/// never contain (see [`plain_key`]). Tokens all begin with `"`, which defeats Aho-Corasick's
/// start-byte prefilter, so the vectorised Teddy searcher is used directly where the CPU has it.
#[derive(Debug, Clone)]
pub(super) enum KeySearch {
    Teddy(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl KeySearch {
    pub(super) fn new(keys: &[String]) -> KeySearch {
        let teddy = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(keys)
            .build();
        match teddy {
            Some(searcher) => KeySearch::Teddy(searcher),
            None => KeySearch::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(keys)
                    .expect("keys of filter patterns are few and short"),
            ),
        }
    }

    /// Calls `f(key index, end of the token)` for each token.
    // Inline: called once per event by `matching`, in another module (another codegen unit).
    #[inline]
    pub(super) fn each(&self, message: &str, mut f: impl FnMut(usize, usize)) {
        match self {
            KeySearch::Teddy(s) => s
                .find_iter(message)
                .for_each(|m| f(m.pattern().as_usize(), m.end())),
            KeySearch::Automaton(a) => a
                .find_iter(message)
                .for_each(|m| f(m.pattern().as_usize(), m.end())),
        }
    }
}

/// Finds which literals occur anywhere in an event, overlapping ones included.
#[derive(Debug, Clone)]
pub(super) enum LiteralSearch {
    /// Few literals: one vectorised substring search each, stopping at the first occurrence.
    Each(Vec<memmem::Finder<'static>>),
    /// Many: one Aho-Corasick pass reporting overlapping matches.
    Automaton(AhoCorasick),
}

/// Up to this many literals are searched one by one; past it, one automaton pass is cheaper.
const SEPARATE_LITERAL_SEARCHES: usize = 12;

impl LiteralSearch {
    pub(super) fn new(literals: &[(String, usize)]) -> LiteralSearch {
        if literals.len() <= SEPARATE_LITERAL_SEARCHES {
            let finders = literals
                .iter()
                .map(|(l, _)| memmem::Finder::new(l.as_bytes()).into_owned());
            LiteralSearch::Each(finders.collect())
        } else {
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(literals.iter().map(|(l, _)| l))
                .expect("literals of filter patterns are few and short enough for Aho-Corasick");
            LiteralSearch::Automaton(automaton)
        }
    }

    pub(super) fn mark(&self, literals: &[(String, usize)], message: &str, facts: &mut [u64]) {
        match self {
            LiteralSearch::Each(finders) => {
                for (finder, (_, fact)) in finders.iter().zip(literals) {
                    if finder.find(message.as_bytes()).is_some() {
                        set_bit(facts, *fact);
                    }
                }
            }
            LiteralSearch::Automaton(automaton) => {
                for m in automaton.find_overlapping_iter(message) {
                    set_bit(facts, literals[m.pattern().as_usize()].1);
                }
            }
        }
    }
}

fn skip_json_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The value of the member whose key token ends at byte `at`: a string's decoded text, or a
/// scalar's raw text; `None` if no `:` follows (the token was not a key) or for containers.
// Inline: called per key token by `keyed_value`, in another module (another codegen unit).
#[inline]
pub(super) fn member_value(message: &str, at: usize) -> Option<std::borrow::Cow<'_, str>> {
    let bytes = message.as_bytes();
    let colon = skip_json_ws(bytes, at);
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    let start = skip_json_ws(bytes, colon + 1);
    match bytes.get(start)? {
        b'"' => {
            let body = &bytes[start + 1..];
            match memchr::memchr2(b'"', b'\\', body)? {
                end if body[end] == b'"' => Some(message[start + 1..start + 1 + end].into()),
                _ => {
                    // Escapes: let serde_json find the end and decode.
                    let mut stream =
                        serde_json::Deserializer::from_str(&message[start..]).into_iter::<String>();
                    stream.next()?.ok().map(Into::into)
                }
            }
        }
        b'{' | b'[' => None,
        _ => {
            let end = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(bytes.len(), |n| start + n);
            Some(message[start..end].into())
        }
    }
}

/// Whether a JSON string in `message` may hide characters behind `\u` or `\/` escapes.
pub(super) fn has_hiding_escape(message: &str) -> bool {
    let bytes = message.as_bytes();
    memchr::memchr(b'\\', bytes).is_some_and(|first| {
        let rest = &bytes[first..];
        memmem::find(rest, b"\\u").is_some() || memmem::find(rest, b"\\/").is_some()
    })
}
