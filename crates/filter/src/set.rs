//! Many filters matched together, each event examined once.
//!
//! Each filter yields a *requirement*: a formula over literals that every event it matches must
//! contain (for `{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || …) }`,
//! "`kms.amazonaws.com` and (`DisableKey` or …)"). One Aho-Corasick pass over the raw event finds
//! which literals occur; filters whose requirement fails are dropped without reading the JSON.
//! The rest are evaluated on one lazily read document that decodes only the fields they select,
//! each at most once.
//!
//! A requirement must be implied by a match, so anything that can match without its literal in
//! the raw text yields no literal: `!=`, `NOT EXISTS`, numbers (`= 400` matches `4e2`),
//! regexes, exclusions. A JSON string may hide a literal behind escapes (`\u0050utRolePolicy`);
//! a literal taken from a JSON value never contains `"`, `\` or control characters, so only
//! `\u` and `\/` can hide it, and in an event that has either, JSON literals count as present.

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;

use crate::ast::*;
use crate::delimited;
use crate::json::{Entries, View, resolve_lazy};
use crate::{FilterPattern, condition_holds, fields_hold, terms_match};

/// A necessary condition on the raw event.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    /// No literal is required.
    None,
    /// The literal with this id occurs (for a JSON literal: or the event has hiding escapes).
    Literal {
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

    fn holds(&self, present: &[u64], hidden: bool) -> bool {
        match self {
            Requirement::None => true,
            Requirement::Literal { id, json } => {
                (*json && hidden) || present[id / 64] & (1 << (id % 64)) != 0
            }
            Requirement::All(items) => items.iter().all(|r| r.holds(present, hidden)),
            Requirement::Any(items) => items.iter().any(|r| r.holds(present, hidden)),
        }
    }
}

/// How one filter of the set is evaluated.
#[derive(Debug, Clone)]
struct Plan {
    requirement: Requirement,
    /// For JSON patterns: the expression with each selector replaced by its id in the set.
    json: Option<Expr<(usize, JsonTest)>>,
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
    plans: Vec<Plan>,
    literals: Vec<String>,
    searcher: Option<AhoCorasick>,
    selectors: Vec<Selector>,
}

/// Reusable per-thread state for matching events against a [`FilterSet`].
pub struct SetMatcher<'s> {
    set: &'s FilterSet,
    present: Vec<u64>,
}

struct Builder {
    literals: Vec<String>,
    selectors: Vec<Selector>,
}

impl Builder {
    fn literal(&mut self, text: &str, json: bool) -> Requirement {
        let id = match self.literals.iter().position(|l| l == text) {
            Some(id) => id,
            None => {
                self.literals.push(text.to_string());
                self.literals.len() - 1
            }
        };
        Requirement::Literal { id, json }
    }

    fn selector(&mut self, s: &Selector) -> usize {
        match self.selectors.iter().position(|x| x == s) {
            Some(id) => id,
            None => {
                self.selectors.push(s.clone());
                self.selectors.len() - 1
            }
        }
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
                let requirement = self.expr(expr, &mut |b, c: &JsonCondition| match &c.test {
                    JsonTest::Compare(CmpOp::Eq, Value::Text(glob)) => {
                        match glob.required_literal() {
                            Some(l)
                                if !l
                                    .chars()
                                    .any(|ch| ch == '"' || ch == '\\' || ch.is_control()) =>
                            {
                                b.literal(l, true)
                            }
                            _ => Requirement::None,
                        }
                    }
                    // The JSON words themselves cannot be escaped.
                    JsonTest::IsTrue => b.literal("true", false),
                    JsonTest::IsFalse => b.literal("false", false),
                    JsonTest::IsNull => b.literal("null", false),
                    _ => Requirement::None,
                });
                let json = Some(map_expr(expr, &mut |c: &JsonCondition| {
                    (self.selector(&c.selector), c.test.clone())
                }));
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

fn map_expr<C, D>(expr: &Expr<C>, f: &mut impl FnMut(&C) -> D) -> Expr<D> {
    match expr {
        Expr::Cond(c) => Expr::Cond(f(c)),
        Expr::And(items) => Expr::And(items.iter().map(|e| map_expr(e, f)).collect()),
        Expr::Or(items) => Expr::Or(items.iter().map(|e| map_expr(e, f)).collect()),
    }
}

impl FilterSet {
    /// Compiles filters to be matched together. Indices in answers refer to this order.
    pub fn new(filters: Vec<FilterPattern>) -> FilterSet {
        let mut b = Builder {
            literals: Vec::new(),
            selectors: Vec::new(),
        };
        let plans = filters.iter().map(|f| b.plan(f)).collect();
        let searcher = if b.literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&b.literals)
                    .expect("literal sets of filter patterns are small enough for Aho-Corasick"),
            )
        };
        FilterSet {
            filters,
            plans,
            literals: b.literals,
            searcher,
            selectors: b.selectors,
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

    /// The distinct literals the prefilter looks for.
    pub fn literals(&self) -> &[String] {
        &self.literals
    }

    /// State for matching many events; keep one per thread.
    pub fn matcher(&self) -> SetMatcher<'_> {
        SetMatcher {
            set: self,
            present: vec![0; self.literals.len().div_ceil(64)],
        }
    }

    /// The indices of the filters that match `message`, in ascending order.
    pub fn matching(&self, message: &str) -> Vec<usize> {
        let mut out = Vec::new();
        self.matcher().matching(message, &mut out);
        out
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
    /// Puts the indices of the filters that match `message` into `out` (cleared first).
    pub fn matching(&mut self, message: &str, out: &mut Vec<usize>) {
        out.clear();
        let set = self.set;
        self.present.iter_mut().for_each(|w| *w = 0);
        if let Some(searcher) = &set.searcher {
            for m in searcher.find_overlapping_iter(message) {
                let id = m.pattern().as_usize();
                self.present[id / 64] |= 1 << (id % 64);
            }
        }
        let mut hidden: Option<bool> = None;
        let mut candidates = Vec::new();
        for (i, plan) in set.plans.iter().enumerate() {
            let candidate = plan.requirement.holds(&self.present, false)
                || (*hidden.get_or_insert_with(|| has_hiding_escape(message))
                    && plan.requirement.holds(&self.present, true));
            if candidate {
                candidates.push(i);
            }
        }
        if candidates.is_empty() {
            return;
        }
        let mut document: Option<Option<Entries<'_>>> = None;
        let mut cache: Vec<Option<Vec<View<'_>>>> = Vec::new();
        for i in candidates {
            let filter = &set.filters[i];
            let matched = match (filter.pattern(), &set.plans[i].json) {
                (Pattern::MatchAll, _) => true,
                (Pattern::Terms(_), _) => terms_match(filter.term_matchers(), message),
                (Pattern::Delimited(fields), _) => delimited::assign(fields, message)
                    .is_some_and(|values| fields_hold(fields, &values)),
                (Pattern::Json(_), Some(expr)) => {
                    let Some(entries) = document.get_or_insert_with(|| Entries::parse(message))
                    else {
                        continue;
                    };
                    if cache.is_empty() {
                        cache.resize(set.selectors.len(), None);
                    }
                    expr.eval(&mut |(sel, test)| {
                        let values = cache[*sel].get_or_insert_with(|| {
                            let mut out = Vec::new();
                            resolve_lazy(entries, &set.selectors[*sel].steps, &mut out);
                            out
                        });
                        condition_holds(test, values)
                    })
                }
                (Pattern::Json(_), None) => false,
            };
            if matched {
                out.push(i);
            }
        }
    }
}
