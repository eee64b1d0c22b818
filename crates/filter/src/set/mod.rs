//! Many filters matched together, each event examined once.
//!
//! Each filter yields a *requirement*: a formula over facts about the raw event that every event
//! it matches satisfies (for `{ ($.eventSource = kms.amazonaws.com) && (($.eventName =
//! DisableKey) || …) }`: "some `eventSource` member is `kms.amazonaws.com`, and some
//! `eventName` member is `DisableKey` or …"). The facts are of two kinds:
//!
//! * a *literal* occurs in the raw text (terms, space-delimited values, `*` wildcards);
//! * a *keyed value*: a member `"key": value` whose value is exactly the given text, for an exact
//!   `$.….key = value` condition. The key is found like a literal and the value after it is
//!   read and looked up in a hash map, so a thousand event names cost one lookup, not a thousand
//!   searches.
//!
//! One vectorised pass over the raw event for the key tokens (Teddy) and one per literal
//! (`memmem`; one Aho-Corasick pass when literals are many) establish the facts; an inverted
//! index turns them into candidate filters, so filters whose facts are absent cost nothing.
//! Candidates are evaluated on one lazily read document that decodes only the fields they
//! select, each condition at most once per event. When nearly every event has a JSON candidate
//! anyway (hundreds of filters on event names), the matcher reads the document first and takes
//! from its values the keyed facts of top-level keys and the literals that only conditions on
//! top-level fields require, instead of searching the text for them ([`MatchOrder`]).
//!
//! A requirement must be implied by a match, so anything that can match without its fact in
//! the raw text yields none: `!=`, `NOT EXISTS`, numbers (`= 400` matches `4e2`), regexes,
//! exclusions. A JSON key or string may hide characters behind escapes (`\u0050utRolePolicy`);
//! literals from JSON values never contain `"`, `\` or control characters, and keys of keyed
//! values contain none of those nor `/`, so only `\u` and `\/` can hide them: in an event that
//! has either, every JSON fact counts as present.

mod build;
mod matcher;
mod requirement;
mod search;
#[cfg(test)]
mod tests;

use rustc_hash::FxHashMap;

use memchr::memmem;

use crate::FilterPattern;
use crate::ast::*;
use crate::json::{Entries, View, WantedKeys, resolve_lazy};
use requirement::Op;
use search::{KeySearch, LiteralSearch};

/// What the matcher needs of one filter, compact and in one array.
#[derive(Debug, Clone, Copy)]
struct Compiled {
    /// A JSON pattern (evaluated from `expression`); otherwise the filter's own matcher.
    json: bool,
    /// The presence of one of the filter's anchors already makes its requirement hold.
    anchor_suffices: bool,
    /// Index of the requirement's formula in `ops`.
    requirement: u32,
    /// Index of the JSON expression's formula in `ops`.
    expression: u32,
}

/// Filters compiled to be matched together; [`FilterSet::matching`] equals evaluating each
/// filter alone with [`FilterPattern::matches`].
///
/// ```
/// use filter::{FilterPattern, FilterSet};
///
/// let set = FilterSet::new(vec![
///     FilterPattern::parse("{ $.eventName = ConsoleLogin }")?,
///     FilterPattern::parse("{ $.errorCode = \"AccessDenied*\" }")?,
/// ]);
/// let event = r#"{"eventName":"ConsoleLogin","errorCode":"AccessDenied"}"#;
/// assert_eq!(set.matching(event), vec![0, 1]);
/// # Ok::<(), filter::PatternError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FilterSet {
    filters: Vec<FilterPattern>,
    compiled: Vec<Compiled>,
    /// The formulas of every filter's requirement and expression.
    ops: Vec<Op>,
    /// The literals, with their fact ids.
    literals: Vec<(String, usize)>,
    literal_search: LiteralSearch,
    /// When the event is read as JSON first: the literals still searched in the text…
    raw_literals: Vec<(String, usize)>,
    raw_literal_search: LiteralSearch,
    /// … and those that only JSON conditions on top-level selectors require, looked for in
    /// the selectors' values instead: (literal, fact id, selectors).
    value_literals: Vec<(String, usize, Vec<usize>)>,
    /// The `"key"` tokens of keyed values.
    keys: Vec<String>,
    key_search: Option<KeySearch>,
    /// Per key: value → fact id.
    keyed: Vec<FxHashMap<String, usize>>,
    fact_count: usize,
    /// Fact id → filters that have it among their anchors: the filters of fact `f` are
    /// `anchored[anchor_start[f]..anchor_start[f + 1]]`.
    anchor_start: Vec<u32>,
    anchored: Vec<u32>,
    /// Filters without a requirement: candidates for every event.
    always: Vec<usize>,
    /// Filters with JSON facts: candidates for every event with hiding escapes.
    with_json_facts: Vec<usize>,
    selectors: Vec<Selector>,
    /// The top-level keys the selectors start with.
    top_level_keys: WantedKeys,
    /// When the event is read as JSON first, the keyed facts of keys that only top-level
    /// selectors end in come from their values: (selector, key index)…
    keyed_selectors: Vec<(usize, usize)>,
    /// … and those of other keys from a search for their token, as reading nested objects of
    /// every event costs more than the search: (key index, searcher).
    nested_keys: Vec<(usize, memmem::Finder<'static>)>,
    /// Distinct JSON conditions.
    conditions: Vec<SetCondition>,
    /// Per selector: value → the `OneOf` conditions that hold for it.
    one_of: Vec<FxHashMap<String, Vec<usize>>>,
}

/// A JSON condition of the set, on the selector with this id.
#[derive(Debug, Clone, PartialEq)]
enum SetCondition {
    /// One condition as written.
    Test(usize, JsonTest),
    /// `sel = "a" || sel = "b" || …` (exact texts, no wildcards), kept sorted so that equal
    /// sets compare equal. Decided through [`FilterSet::one_of`]: one lookup of the event's
    /// value decides every such condition on the selector.
    OneOf(usize, Vec<String>),
}

impl SetCondition {
    fn selector(&self) -> usize {
        match self {
            SetCondition::Test(sel, _) | SetCondition::OneOf(sel, ..) => *sel,
        }
    }
}

/// In which order a [`SetMatcher`] does its work on an event. Every order gives the same
/// answers; they differ in speed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOrder {
    /// Search the raw text for the facts first, and read the event as JSON only if a JSON filter
    /// is still a candidate. Fastest when few events concern the JSON filters.
    PrefilterFirst,
    /// Read the event as JSON first and take the keyed facts from its values, sparing the
    /// search for `"key"` tokens. Fastest when nearly every event has a JSON candidate anyway,
    /// as with hundreds of filters on event names.
    JsonFirst,
    /// Take the order that suited the recent events (the default).
    Adaptive,
}

/// Under [`MatchOrder::Adaptive`]: a JSON read costs about four times the key search, so reading
/// JSON first pays once more than three events in four need the read. The score rises by one
/// for each event that needed it and falls by this much for each that did not; JSON goes
/// first while it is positive.
const SCORE_FALL: i32 = 3;
/// The score's bounds: how many recent events the choice remembers.
const SCORE_BOUND: i32 = 64;

/// A selector not read yet in the current event.
const UNREAD: (u32, u32) = (u32::MAX, 0);

/// The values each selector reaches in the current event, each read at most once, kept in one
/// list so that an event costs one allocation rather than one per selector.
struct Resolved<'m> {
    /// Per selector: its values' range in `values`, or [`UNREAD`].
    ranges: Vec<(u32, u32)>,
    values: Vec<View<'m>>,
}

impl<'m> Resolved<'m> {
    fn get(&mut self, set: &FilterSet, entries: &Entries<'m>, sel: usize) -> &[View<'m>] {
        if self.ranges[sel] == UNREAD {
            let from = self.values.len();
            resolve_lazy(entries, &set.selectors[sel].steps, &mut self.values);
            self.ranges[sel] = (from as u32, self.values.len() as u32);
        }
        let (from, to) = self.ranges[sel];
        &self.values[from as usize..to as usize]
    }
}

/// Reusable per-thread state for matching events against a [`FilterSet`].
pub struct SetMatcher<'s> {
    set: &'s FilterSet,
    order: MatchOrder,
    /// Under [`MatchOrder::Adaptive`], see [`SCORE_FALL`].
    score: i32,
    facts: Vec<u64>,
    /// Per filter: the number of the last event that made it a candidate.
    stamp: Vec<u64>,
    event: u64,
    candidates: Vec<usize>,
    /// Per distinct JSON condition: 0 unknown, 1 false, 2 true, for the current event.
    memo: Vec<u8>,
    touched: Vec<usize>,
    /// Per selector: the number of the last event whose `OneOf` conditions it decided.
    decided: Vec<u64>,
    /// Kept between events for [`Resolved`].
    ranges: Vec<(u32, u32)>,
}

// `FilterSet::new` is in `build.rs`.
impl FilterSet {
    /// The filters, in order.
    pub fn filters(&self) -> &[FilterPattern] {
        &self.filters
    }

    /// The number of filters.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether the set has no filters.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// What the prefilter searches the raw text for: literals and `"key"` tokens.
    pub fn search_patterns(&self) -> Vec<&str> {
        let literals = self.literals.iter().map(|(l, _)| l.as_str());
        literals
            .chain(self.keys.iter().map(String::as_str))
            .collect()
    }

    /// State for matching many events; keep one per thread.
    pub fn matcher(&self) -> SetMatcher<'_> {
        SetMatcher {
            set: self,
            order: MatchOrder::Adaptive,
            score: 0,
            facts: vec![0; self.fact_count.div_ceil(64)],
            stamp: vec![0; self.filters.len()],
            event: 0,
            candidates: Vec::new(),
            memo: vec![0; self.conditions.len()],
            touched: Vec::new(),
            decided: vec![0; self.selectors.len()],
            ranges: vec![UNREAD; self.selectors.len()],
        }
    }

    /// The indices of the filters that match `message`, in ascending order.
    pub fn matching(&self, message: &str) -> Vec<usize> {
        let mut out = Vec::new();
        self.matcher().matching(message, &mut out);
        out
    }
}

// `SetMatcher::matching` is in `matcher.rs`.
impl SetMatcher<'_> {
    /// Sets this matcher's order of work (by default [`MatchOrder::Adaptive`]).
    pub fn with_order(mut self, order: MatchOrder) -> Self {
        self.order = order;
        self
    }
}
