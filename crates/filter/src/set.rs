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

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;

use crate::ast::*;
use crate::delimited;
use crate::json::{Entries, View, WantedKeys, resolve_lazy};
use crate::{FilterPattern, condition_holds, fields_hold, terms_match};

/// A necessary condition on the raw event, over facts.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    /// No fact is required.
    None,
    /// The fact with this id holds (for a JSON fact: or the event has hiding escapes).
    Fact {
        id: usize,
        json: bool,
    },
    All(Vec<Requirement>),
    Any(Vec<Requirement>),
}

impl Requirement {
    fn all(items: Vec<Requirement>) -> Requirement {
        let mut items: Vec<_> = items
            .into_iter()
            .filter(|r| *r != Requirement::None)
            .collect();
        match items.len() {
            0 => Requirement::None,
            1 => items.pop().expect("one"),
            _ => Requirement::All(items),
        }
    }

    fn any(items: Vec<Requirement>) -> Requirement {
        if items.is_empty() || items.contains(&Requirement::None) {
            return Requirement::None;
        }
        Requirement::Any(items)
    }

    /// Facts of which at least one is present whenever the requirement holds, chosen to be
    /// rarely present (by `weight`, an estimate of each fact's chance), with their total chance.
    fn anchors(&self, weight: &[f64]) -> (Vec<usize>, f64) {
        match self {
            Requirement::None => (Vec::new(), 1.0),
            Requirement::Fact { id, .. } => (vec![*id], weight[*id]),
            Requirement::Any(items) => {
                let mut facts = Vec::new();
                let mut chance = 0.0;
                for item in items {
                    let (f, c) = item.anchors(weight);
                    facts.extend(f);
                    chance += c;
                }
                (facts, chance.min(1.0))
            }
            Requirement::All(items) => items
                .iter()
                .map(|item| item.anchors(weight))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((Vec::new(), 1.0)),
        }
    }

    /// Whether the presence of any of its facts makes the requirement hold (no `All`).
    fn is_disjunction(&self) -> bool {
        match self {
            Requirement::None | Requirement::Fact { .. } => true,
            Requirement::Any(items) => items.iter().all(Self::is_disjunction),
            Requirement::All(_) => false,
        }
    }

    fn has_json_fact(&self) -> bool {
        match self {
            Requirement::None => false,
            Requirement::Fact { json, .. } => *json,
            Requirement::All(items) | Requirement::Any(items) => {
                items.iter().any(Self::has_json_fact)
            }
        }
    }
}

fn bit(words: &[u64], id: usize) -> bool {
    words[id / 64] & (1 << (id % 64)) != 0
}

fn set_bit(words: &mut [u64], id: usize) {
    words[id / 64] |= 1 << (id % 64);
}

/// A node of a formula flattened into one array: operands follow their `All`/`Any`, which
/// record the size of their subtree, so evaluating walks memory forward instead of chasing
/// pointers through a thousand filters' trees.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    True,
    Fact { id: u32, json: bool },
    Cond(u32),
    All(u32),
    Any(u32),
}

fn op_size(op: Op) -> usize {
    match op {
        Op::All(n) | Op::Any(n) => n as usize,
        _ => 1,
    }
}

/// Evaluates the formula at `at`, `&&` and `||` short-circuiting.
fn eval_ops(ops: &[Op], at: usize, leaf: &mut impl FnMut(Op) -> bool) -> bool {
    match ops[at] {
        Op::True => true,
        Op::All(n) | Op::Any(n) => {
            let all = matches!(ops[at], Op::All(_));
            let end = at + n as usize;
            let mut i = at + 1;
            while i < end {
                if eval_ops(ops, i, leaf) != all {
                    return !all;
                }
                i += op_size(ops[i]);
            }
            all
        }
        op => leaf(op),
    }
}

fn emit_requirement(r: &Requirement, ops: &mut Vec<Op>) {
    let (items, all) = match r {
        Requirement::None => return ops.push(Op::True),
        Requirement::Fact { id, json } => {
            return ops.push(Op::Fact {
                id: *id as u32,
                json: *json,
            });
        }
        Requirement::All(items) => (items, true),
        Requirement::Any(items) => (items, false),
    };
    emit_group(ops, all, |ops| {
        items.iter().for_each(|item| emit_requirement(item, ops))
    });
}

fn emit_expr(e: &Expr<usize>, ops: &mut Vec<Op>) {
    let (items, all) = match e {
        Expr::Cond(c) => return ops.push(Op::Cond(*c as u32)),
        Expr::And(items) => (items, true),
        Expr::Or(items) => (items, false),
    };
    emit_group(ops, all, |ops| {
        items.iter().for_each(|item| emit_expr(item, ops))
    });
}

/// Emits an `All` or `Any` whose operands `operands` emits, and records its size.
fn emit_group(ops: &mut Vec<Op>, all: bool, operands: impl FnOnce(&mut Vec<Op>)) {
    let at = ops.len();
    ops.push(Op::True);
    operands(ops);
    let size = (ops.len() - at) as u32;
    ops[at] = if all { Op::All(size) } else { Op::Any(size) };
}

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

/// How one filter of the set is evaluated.
#[derive(Debug, Clone)]
struct Plan {
    requirement: Requirement,
    /// For JSON patterns: the expression over the set's distinct conditions.
    json: Option<Expr<usize>>,
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

/// The text an exact `=` condition compares with, if it is one (no `*`, not a number).
fn exact_text(test: &JsonTest) -> Option<&str> {
    match test {
        JsonTest::Compare(CmpOp::Eq, Value::Text(g))
            if !g.leading_star && !g.trailing_star && !g.core.contains('\u{0}') =>
        {
            Some(&g.core)
        }
        _ => None,
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

#[derive(Default)]
struct Builder {
    literals: Vec<String>,
    /// The fact id of each literal.
    literal_facts: Vec<usize>,
    keys: Vec<String>,
    keyed: Vec<FxHashMap<String, usize>>,
    facts: usize,
    selectors: Vec<Selector>,
    conditions: Vec<SetCondition>,
    /// Literal text → (fact id, index in `literals`).
    literal_ids: HashMap<String, (usize, usize)>,
    /// Per literal: the top-level selectors of the JSON conditions that require it, or `None`
    /// if some use needs the raw text searched (terms, space-delimited fields, nested
    /// selectors).
    literal_selectors: Vec<Option<Vec<usize>>>,
}

/// A key that escapes cannot disguise unless the event has `\u` or `\/`, and that holds none of
/// the characters JSON puts between tokens (see [`KeySearch`]).
fn plain_key(k: &str) -> bool {
    !k.is_empty()
        && !k.chars().any(|c| {
            matches!(c, '"' | '\\' | '/' | ',' | ':' | '{' | '}' | '[' | ']')
                || c.is_whitespace()
                || c.is_control()
        })
}

fn position_or_push<T: PartialEq + Clone>(items: &mut Vec<T>, item: &T) -> usize {
    match items.iter().position(|x| x == item) {
        Some(id) => id,
        None => {
            items.push(item.clone());
            items.len() - 1
        }
    }
}

impl Builder {
    /// A literal of the raw text.
    fn literal(&mut self, text: &str, json: bool) -> Requirement {
        self.literal_on(text, json, None)
    }

    /// A literal that a JSON condition on the top-level selector `sel` (if it is one) requires
    /// of the selector's value.
    fn literal_on(&mut self, text: &str, json: bool, sel: Option<usize>) -> Requirement {
        let (id, index) = match self.literal_ids.get(text) {
            Some(&(id, index)) => (id, index),
            None => {
                let id = self.facts;
                self.facts += 1;
                self.literals.push(text.to_string());
                self.literal_facts.push(id);
                self.literal_selectors.push(Some(Vec::new()));
                let index = self.literals.len() - 1;
                self.literal_ids.insert(text.to_string(), (id, index));
                (id, index)
            }
        };
        let selectors = &mut self.literal_selectors[index];
        match (selectors.as_mut(), sel) {
            (Some(list), Some(sel)) if !list.contains(&sel) => list.push(sel),
            (_, None) => *selectors = None,
            _ => {}
        }
        Requirement::Fact { id, json }
    }

    fn keyed(&mut self, key: &str, value: &str) -> Requirement {
        let k = position_or_push(&mut self.keys, &key.to_string());
        if self.keyed.len() <= k {
            self.keyed.push(FxHashMap::default());
        }
        let next = self.facts;
        let id = *self.keyed[k].entry(value.to_string()).or_insert(next);
        if id == next {
            self.facts += 1;
        }
        Requirement::Fact { id, json: true }
    }

    fn expr<C>(
        &mut self,
        expr: &Expr<C>,
        leaf: &mut impl FnMut(&mut Self, &C) -> Requirement,
    ) -> Requirement {
        match expr {
            Expr::Cond(c) => leaf(self, c),
            Expr::And(items) => {
                let reqs = items.iter().map(|e| self.expr(e, leaf)).collect();
                Requirement::all(reqs)
            }
            Expr::Or(items) => {
                let reqs = items.iter().map(|e| self.expr(e, leaf)).collect();
                Requirement::any(reqs)
            }
        }
    }

    fn json_fact(&mut self, c: &JsonCondition) -> Requirement {
        let top_level = (c.selector.steps.len() == 1)
            .then(|| position_or_push(&mut self.selectors, &c.selector));
        match &c.test {
            JsonTest::Compare(CmpOp::Eq, Value::Text(glob)) => {
                let exact = !glob.leading_star && !glob.trailing_star;
                match (exact, c.selector.steps.last()) {
                    (true, Some(Step::Key(k))) if plain_key(k) => self.keyed(k, &glob.core),
                    _ => match glob.required_literal() {
                        Some(l)
                            if !l
                                .chars()
                                .any(|ch| ch == '"' || ch == '\\' || ch.is_control()) =>
                        {
                            self.literal_on(l, true, top_level)
                        }
                        _ => Requirement::None,
                    },
                }
            }
            // The JSON words themselves cannot be escaped.
            JsonTest::IsTrue => self.literal_on("true", false, top_level),
            JsonTest::IsFalse => self.literal_on("false", false, top_level),
            JsonTest::IsNull => self.literal_on("null", false, top_level),
            _ => Requirement::None,
        }
    }

    fn condition(&mut self, c: SetCondition) -> usize {
        position_or_push(&mut self.conditions, &c)
    }

    /// The expression over the set's distinct conditions, exact `=` alternatives on one
    /// selector joined into one lookup.
    fn compile(&mut self, expr: &Expr<JsonCondition>) -> Expr<usize> {
        match expr {
            Expr::Cond(c) => {
                let sel = position_or_push(&mut self.selectors, &c.selector);
                Expr::Cond(self.condition(SetCondition::Test(sel, c.test.clone())))
            }
            Expr::And(items) => Expr::And(items.iter().map(|e| self.compile(e)).collect()),
            Expr::Or(items) => {
                let mut groups: Vec<(usize, Vec<String>)> = Vec::new();
                let mut rest = Vec::new();
                for item in items {
                    match item {
                        Expr::Cond(c) if exact_text(&c.test).is_some() => {
                            let sel = position_or_push(&mut self.selectors, &c.selector);
                            let text = exact_text(&c.test).unwrap_or_default().to_string();
                            match groups.iter_mut().find(|(s, _)| *s == sel) {
                                Some((_, texts)) => texts.push(text),
                                None => groups.push((sel, vec![text])),
                            }
                        }
                        other => rest.push(self.compile(other)),
                    }
                }
                for (sel, mut texts) in groups {
                    texts.sort_unstable();
                    texts.dedup();
                    rest.push(Expr::Cond(self.condition(SetCondition::OneOf(sel, texts))));
                }
                Expr::or(rest)
            }
        }
    }

    fn plan(&mut self, filter: &FilterPattern) -> Plan {
        match filter.pattern() {
            Pattern::MatchAll => Plan {
                requirement: Requirement::None,
                json: None,
            },
            Pattern::Terms(terms) => {
                fn literal_of(t: &Term) -> Option<&str> {
                    match &t.text {
                        TermText::Word(w) => Some(w.as_str()),
                        TermText::Phrase(p) if !p.chars().all(crate::parse::is_ws) => {
                            Some(p.as_str())
                        }
                        _ => None,
                    }
                }
                let requirement = if terms.iter().all(|t| t.role == TermRole::Optional) {
                    let reqs = terms
                        .iter()
                        .map(|t| {
                            literal_of(t).map_or(Requirement::None, |l| self.literal(l, false))
                        })
                        .collect();
                    Requirement::any(reqs)
                } else {
                    let reqs = terms
                        .iter()
                        .filter(|t| t.role == TermRole::Include)
                        .filter_map(literal_of)
                        .map(|l| self.literal(l, false))
                        .collect();
                    Requirement::all(reqs)
                };
                Plan {
                    requirement,
                    json: None,
                }
            }
            Pattern::Json(expr) => {
                let requirement = self.expr(expr, &mut |b, c: &JsonCondition| b.json_fact(c));
                let json = Some(self.compile(expr));
                Plan { requirement, json }
            }
            Pattern::Delimited(fields) => {
                let mut reqs = Vec::new();
                for field in fields {
                    if let Field::Named {
                        condition: Some(expr),
                        ..
                    } = field
                    {
                        reqs.push(self.expr(expr, &mut |b, c: &FieldCondition| match (
                            &c.op, &c.value,
                        ) {
                            (CmpOp::Eq, Value::Text(glob)) => match glob.required_literal() {
                                Some(l) => b.literal(l, false),
                                None => Requirement::None,
                            },
                            _ => Requirement::None,
                        }));
                    }
                }
                Plan {
                    requirement: Requirement::all(reqs),
                    json: None,
                }
            }
        }
    }
}

impl FilterSet {
    /// Compiles filters to be matched together. Indices in answers refer to this order.
    pub fn new(filters: Vec<FilterPattern>) -> FilterSet {
        let mut b = Builder::default();
        let mut plans: Vec<Plan> = filters.iter().map(|f| b.plan(f)).collect();
        // A fact's chance of being present, estimated: a keyed value is one of the values the
        // set knows for its key (event names: rare; event sources: common); a literal is the
        // rarer the longer it is.
        let mut weight = vec![1.0; b.facts];
        for (literal, &fact) in b.literals.iter().zip(&b.literal_facts) {
            weight[fact] = 1.0 / (literal.len() * literal.len()).max(1) as f64;
        }
        for values in &b.keyed {
            for &id in values.values() {
                weight[id] = 1.0 / values.len().max(2) as f64;
            }
        }
        let literals: Vec<(String, usize)> = b.literals.into_iter().zip(b.literal_facts).collect();
        let literal_search = LiteralSearch::new(&literals);
        let (mut raw_literals, mut value_literals) = (Vec::new(), Vec::new());
        for ((literal, fact), selectors) in literals.iter().zip(b.literal_selectors) {
            match selectors {
                Some(selectors) => value_literals.push((literal.clone(), *fact, selectors)),
                None => raw_literals.push((literal.clone(), *fact)),
            }
        }
        let raw_literal_search = LiteralSearch::new(&raw_literals);
        let keys: Vec<String> = b.keys.iter().map(|k| format!("\"{k}\"")).collect();
        let key_search = (!keys.is_empty()).then(|| KeySearch::new(&keys));
        let mut by_fact = vec![Vec::new(); b.facts];
        let mut always = Vec::new();
        let mut with_json_facts = Vec::new();
        let mut ops = Vec::new();
        let mut compiled = Vec::with_capacity(plans.len());
        for (i, plan) in plans.iter_mut().enumerate() {
            let (mut anchors, _) = plan.requirement.anchors(&weight);
            anchors.sort_unstable();
            anchors.dedup();
            if anchors.is_empty() {
                always.push(i);
            }
            for f in anchors {
                by_fact[f].push(i as u32);
            }
            if plan.requirement.has_json_fact() {
                with_json_facts.push(i);
            }
            let requirement = ops.len() as u32;
            emit_requirement(&plan.requirement, &mut ops);
            let expression = ops.len() as u32;
            if let Some(expr) = &plan.json {
                emit_expr(expr, &mut ops);
            }
            compiled.push(Compiled {
                json: plan.json.is_some(),
                anchor_suffices: plan.requirement.is_disjunction(),
                requirement,
                expression,
            });
        }
        let mut anchor_start = Vec::with_capacity(by_fact.len() + 1);
        let mut anchored = Vec::new();
        for filters in by_fact {
            anchor_start.push(anchored.len() as u32);
            anchored.extend(filters);
        }
        anchor_start.push(anchored.len() as u32);
        let top_level_keys = b
            .selectors
            .iter()
            .map(|s| match s.steps.first() {
                Some(Step::Key(k)) => Some(k.clone()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map_or(WantedKeys::All, WantedKeys::new);
        let (mut keyed_selectors, mut nested_keys) = (Vec::new(), Vec::new());
        for (i, key) in b.keys.iter().enumerate() {
            let ending_in: Vec<usize> = (0..b.selectors.len())
                .filter(
                    |&sel| matches!(b.selectors[sel].steps.last(), Some(Step::Key(k)) if k == key),
                )
                .collect();
            if ending_in
                .iter()
                .all(|&sel| b.selectors[sel].steps.len() == 1)
            {
                keyed_selectors.extend(ending_in.into_iter().map(|sel| (sel, i)));
            } else {
                nested_keys.push((i, memmem::Finder::new(&keys[i]).into_owned()));
            }
        }
        let mut one_of = vec![FxHashMap::<String, Vec<usize>>::default(); b.selectors.len()];
        for (id, condition) in b.conditions.iter().enumerate() {
            if let SetCondition::OneOf(sel, texts) = condition {
                for text in texts {
                    one_of[*sel].entry(text.clone()).or_default().push(id);
                }
            }
        }
        FilterSet {
            one_of,
            top_level_keys,
            keyed_selectors,
            nested_keys,
            filters,
            compiled,
            ops,
            literals,
            literal_search,
            raw_literals,
            raw_literal_search,
            value_literals,
            keys,
            key_search,
            keyed: b.keyed,
            fact_count: b.facts,
            anchor_start,
            anchored,
            always,
            with_json_facts,
            selectors: b.selectors,
            conditions: b.conditions,
        }
    }

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

    /// Marks the keyed facts of the member whose key token ends at `at`.
    fn keyed_value(&self, key: usize, message: &str, at: usize, facts: &mut [u64]) {
        let values = &self.keyed[key];
        let Some(value) = member_value(message, at) else {
            return;
        };
        if let Some(&id) = values.get(value.as_ref()) {
            set_bit(facts, id);
        }
    }
}

/// Finds the `"key"` tokens of an event.
///
/// A leftmost, non-overlapping search suffices: a token that started before a real key's
/// opening quote and overlapped it would have to end with that quote, so its last key
/// character would be what precedes a key in JSON (`{`, `,`, white space), which keyed keys
/// never contain (see [`plain_key`]). Tokens all begin with `"`, which defeats Aho-Corasick's
/// start-byte prefilter, so the vectorised Teddy searcher is used directly where the CPU has it.
#[derive(Debug, Clone)]
enum KeySearch {
    Teddy(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl KeySearch {
    fn new(keys: &[String]) -> KeySearch {
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
    fn each(&self, message: &str, mut f: impl FnMut(usize, usize)) {
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
enum LiteralSearch {
    /// Few literals: one vectorised substring search each, stopping at the first occurrence.
    Each(Vec<memmem::Finder<'static>>),
    /// Many: one Aho-Corasick pass reporting overlapping matches.
    Automaton(AhoCorasick),
}

/// Up to this many literals are searched one by one; past it, one automaton pass is cheaper.
const SEPARATE_LITERAL_SEARCHES: usize = 12;

impl LiteralSearch {
    fn new(literals: &[(String, usize)]) -> LiteralSearch {
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

    fn mark(&self, literals: &[(String, usize)], message: &str, facts: &mut [u64]) {
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
fn member_value(message: &str, at: usize) -> Option<std::borrow::Cow<'_, str>> {
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

/// A scalar's text, for finding literals in it: a string decoded, anything else as written.
fn value_text<'v>(v: &'v View<'_>) -> Option<&'v str> {
    match v {
        View::String(s) => Some(s),
        View::Number(n) => Some(n),
        View::Bool(true) => Some("true"),
        View::Bool(false) => Some("false"),
        View::Null => Some("null"),
        _ => None,
    }
}

/// Whether a JSON string in `message` may hide characters behind `\u` or `\/` escapes.
fn has_hiding_escape(message: &str) -> bool {
    let bytes = message.as_bytes();
    memchr::memchr(b'\\', bytes).is_some_and(|first| {
        let rest = &bytes[first..];
        memmem::find(rest, b"\\u").is_some() || memmem::find(rest, b"\\/").is_some()
    })
}

impl SetMatcher<'_> {
    /// Sets this matcher's order of work (by default [`MatchOrder::Adaptive`]).
    pub fn with_order(mut self, order: MatchOrder) -> Self {
        self.order = order;
        self
    }

    fn reads_json_first(&self) -> bool {
        match self.order {
            MatchOrder::PrefilterFirst => false,
            MatchOrder::JsonFirst => true,
            MatchOrder::Adaptive => self.score > 0,
        }
    }

    /// Marks the facts present in the raw event: its literals, and its keyed values, searched
    /// in the text unless the event was read as JSON first (`document`): then they come from
    /// its values, and a message that is not JSON has none, as no JSON filter can match it.
    fn find_facts<'m>(
        &mut self,
        message: &'m str,
        document: Option<Option<&Entries<'m>>>,
        resolved: &mut Resolved<'m>,
    ) {
        let set = self.set;
        self.facts.iter_mut().for_each(|w| *w = 0);
        let Some(document) = document else {
            set.literal_search
                .mark(&set.literals, message, &mut self.facts);
            if let Some(keys) = &set.key_search {
                keys.each(message, |key, end| {
                    set.keyed_value(key, message, end, &mut self.facts)
                });
            }
            return;
        };
        set.raw_literal_search
            .mark(&set.raw_literals, message, &mut self.facts);
        let Some(entries) = document else {
            return;
        };
        for &(sel, key) in &set.keyed_selectors {
            for text in (resolved.get(set, entries, sel).iter()).filter_map(|v| v.compared_text()) {
                if let Some(&id) = set.keyed[key].get(text.0) {
                    set_bit(&mut self.facts, id);
                }
            }
        }
        for (key, finder) in &set.nested_keys {
            for at in finder.find_iter(message.as_bytes()) {
                let end = at + finder.needle().len();
                set.keyed_value(*key, message, end, &mut self.facts);
            }
        }
        for (literal, fact, selectors) in &set.value_literals {
            let found = selectors.iter().any(|&sel| {
                (resolved.get(set, entries, sel).iter())
                    .filter_map(value_text)
                    .any(|text| text.contains(literal.as_str()))
            });
            if found {
                set_bit(&mut self.facts, *fact);
            }
        }
    }

    /// Candidates, in filter order: filters with an anchor present, those without facts, and,
    /// in an event whose escapes may hide JSON facts, those with JSON facts.
    fn find_candidates(&mut self, hidden: bool) {
        let set = self.set;
        self.event += 1;
        let event = self.event;
        self.candidates.clear();
        let (stamp, candidates) = (&mut self.stamp, &mut self.candidates);
        let mut add = |i: usize| {
            if stamp[i] != event {
                stamp[i] = event;
                candidates.push(i);
            }
        };
        for (w, &word) in self.facts.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let fact = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let (from, to) = (
                    set.anchor_start[fact] as usize,
                    set.anchor_start[fact + 1] as usize,
                );
                set.anchored[from..to].iter().for_each(|&i| add(i as usize));
            }
        }
        set.always.iter().for_each(|&i| add(i));
        if hidden {
            set.with_json_facts.iter().for_each(|&i| add(i));
        }
        self.candidates.sort_unstable();
    }

    /// Puts the indices of the filters that match `message` into `out` (cleared first).
    pub fn matching(&mut self, message: &str, out: &mut Vec<usize>) {
        out.clear();
        let set = self.set;
        let mut document: Option<Option<Entries<'_>>> = (self.reads_json_first()
            && set.key_search.is_some())
        .then(|| Entries::parse_wanted(message, &set.top_level_keys));
        let mut resolved = Resolved {
            ranges: std::mem::take(&mut self.ranges),
            values: Vec::new(),
        };
        resolved.ranges.fill(UNREAD);
        self.find_facts(
            message,
            document.as_ref().map(Option::as_ref),
            &mut resolved,
        );
        let hidden = !set.with_json_facts.is_empty() && has_hiding_escape(message);
        self.find_candidates(hidden);
        let event = self.event;
        let mut read_needed = false;

        for &t in &self.touched {
            self.memo[t] = 0;
        }
        self.touched.clear();
        for &i in &self.candidates {
            let plan = set.compiled[i];
            let facts = &self.facts;
            // Outside events with hiding escapes, a candidate has one of its anchors present.
            let holds = (plan.anchor_suffices && !hidden)
                || eval_ops(&set.ops, plan.requirement as usize, &mut |op| match op {
                    Op::Fact { id, json } => (json && hidden) || bit(facts, id as usize),
                    _ => true,
                });
            if !holds {
                continue;
            }
            let matched = if plan.json {
                read_needed = true;
                let Some(entries) = document
                    .get_or_insert_with(|| Entries::parse_wanted(message, &set.top_level_keys))
                else {
                    continue;
                };
                let (memo, touched, decided) =
                    (&mut self.memo, &mut self.touched, &mut self.decided);
                eval_ops(&set.ops, plan.expression as usize, &mut |op| {
                    let Op::Cond(c) = op else {
                        return true;
                    };
                    let c = c as usize;
                    match memo[c] {
                        1 => false,
                        2 => true,
                        _ => {
                            let condition = &set.conditions[c];
                            let sel = condition.selector();
                            let values = resolved.get(set, entries, sel);
                            let holds = match condition {
                                SetCondition::Test(_, test) => condition_holds(test, values),
                                SetCondition::OneOf(..) => {
                                    if decided[sel] != event {
                                        decided[sel] = event;
                                        let hits = values
                                            .iter()
                                            .filter_map(|v| v.compared_text().map(|(t, _)| t));
                                        for id in
                                            hits.filter_map(|t| set.one_of[sel].get(t)).flatten()
                                        {
                                            if memo[*id] == 0 {
                                                memo[*id] = 2;
                                                touched.push(*id);
                                            }
                                        }
                                    }
                                    memo[c] == 2
                                }
                            };
                            if memo[c] == 0 {
                                memo[c] = if holds { 2 } else { 1 };
                                touched.push(c);
                            }
                            holds
                        }
                    }
                })
            } else {
                let filter = &set.filters[i];
                match filter.pattern() {
                    Pattern::MatchAll => true,
                    Pattern::Terms(_) => terms_match(filter.term_matchers(), message),
                    Pattern::Delimited(fields) => delimited::assign(fields, message)
                        .is_some_and(|values| fields_hold(fields, &values)),
                    Pattern::Json(_) => false,
                }
            };
            if matched {
                out.push(i);
            }
        }
        self.ranges = resolved.ranges;
        self.score = if read_needed {
            (self.score + 1).min(SCORE_BOUND)
        } else {
            (self.score - SCORE_FALL).max(-SCORE_BOUND)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_values_are_read_after_their_key() {
        let doc = r#"{"a" : "x\"y", "b":12,"c":{"d":1}, "e" :null}"#;
        let after = |key: &str| doc.find(key).map(|i| i + key.len()).expect("key");
        assert_eq!(member_value(doc, after("\"a\"")).as_deref(), Some("x\"y"));
        assert_eq!(member_value(doc, after("\"b\"")).as_deref(), Some("12"));
        assert_eq!(member_value(doc, after("\"c\"")), None);
        assert_eq!(member_value(doc, after("\"e\"")).as_deref(), Some("null"));
        assert_eq!(member_value(r#"["a","b"]"#, 4), None);
    }

    #[test]
    fn escaped_event_names_still_match() {
        let set = FilterSet::new(vec![
            FilterPattern::parse("{ $.eventName = PutRolePolicy }").expect("valid"),
            FilterPattern::parse("{ $.eventName = \"x/y\" }").expect("valid"),
        ]);
        assert_eq!(
            set.matching(r#"{"eventName":"Put\u0052olePolicy"}"#),
            vec![0]
        );
        assert_eq!(
            set.matching(r#"{"event\u004eame":"PutRolePolicy"}"#),
            vec![0]
        );
        assert_eq!(set.matching(r#"{"eventName":"x\/y"}"#), vec![1]);
        assert_eq!(
            set.matching(r#"{"eventName":"Put\"RolePolicy"}"#),
            Vec::<usize>::new()
        );
    }
}
