//! The CloudWatch Logs filter-pattern language, exactly as AWS documents it.
//!
//! One pattern language serves metric filters, subscription filters, `FilterLogEvents` and
//! `TestMetricFilter`. This crate parses patterns (rejecting what AWS rejects, with AWS's
//! wording where it is known), matches events, extracts the values a metric filter publishes,
//! explains each verdict, and matches many filters in one pass over an event ([`FilterSet`]).
//!
//! ```
//! use filter::FilterPattern;
//!
//! let pattern = FilterPattern::parse(
//!     r#"{ ($.eventName = PutRolePolicy) && ($.userIdentity.invokedBy NOT EXISTS) }"#,
//! )?;
//! let event = r#"{"eventName":"PutRolePolicy","userIdentity":{"type":"IAMUser"}}"#;
//! assert!(pattern.matches(event));
//!
//! let web = FilterPattern::parse("[ip, user, ..., status_code = 4*, bytes > 1000]")?;
//! let values = web.extract(r#"10.0.0.1 bob x "GET /" 404 2048"#).expect("matches");
//! assert_eq!(values.get("$status_code"), Some("404"));
//! # Ok::<(), filter::PatternError>(())
//! ```
//!
//! Where the documentation is silent, the reading taken is stated once in [`choices`].

pub mod ast;
pub mod choices;
mod delimited;
mod error;
mod explain;
mod json;
mod metric;
mod parse;
pub mod regex;
mod scan;
mod set;

use std::fmt;

use memchr::memmem;
use serde::Serialize;

pub use crate::ast::Pattern;
use crate::ast::*;
pub use crate::error::{PatternError, TransformationError};
pub use crate::explain::{Clause, Explanation};
use crate::json::{Node, View};
pub use crate::metric::{MetricExtractor, MetricOutcome, ValueRef};
pub use crate::scan::{Item, Members, array_items, object_members, object_members_and_items};
pub use crate::set::{FilterSet, MatchOrder, SetMatcher};

/// Which of the four shapes a pattern has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternKind {
    /// Empty or blank: matches every event.
    MatchAll,
    /// Terms, phrases and regexes over the raw message.
    Terms,
    /// `{ … }` over JSON events.
    Json,
    /// `[ … ]` over space-delimited events.
    Delimited,
}

/// A parsed, compiled filter pattern.
#[derive(Clone)]
pub struct FilterPattern {
    source: String,
    pattern: Pattern,
    terms: Vec<(TermRole, TermMatcher)>,
}

impl fmt::Debug for FilterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FilterPattern").field(&self.source).finish()
    }
}

/// How one term is looked for.
#[derive(Clone)]
pub(crate) enum TermMatcher {
    Literal(Box<memmem::Finder<'static>>),
    Regex(regex::AwsRegex),
    /// A blank quoted term (see [`choices::BLANK_QUOTED_TERM_MATCHES_ALL`]).
    Always,
}

impl TermMatcher {
    fn new(text: &TermText) -> TermMatcher {
        match text {
            TermText::Phrase(p)
                if choices::BLANK_QUOTED_TERM_MATCHES_ALL && p.chars().all(parse::is_ws) =>
            {
                TermMatcher::Always
            }
            TermText::Word(w) | TermText::Phrase(w) => {
                TermMatcher::Literal(Box::new(memmem::Finder::new(w.as_bytes()).into_owned()))
            }
            TermText::Regex(r) => TermMatcher::Regex(r.clone()),
        }
    }

    pub(crate) fn occurs(&self, message: &str) -> bool {
        match self {
            TermMatcher::Literal(f) => f.find(message.as_bytes()).is_some(),
            TermMatcher::Regex(r) => r.is_match(message),
            TermMatcher::Always => true,
        }
    }
}

/// Values a match extracts, as `TestMetricFilter` reports them in `extractedValues`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedValues(pub Vec<(String, String)>);

impl ExtractedValues {
    /// The value of `$name`, `$3` or `$.selector`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether nothing was extracted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ExtractedValues {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl FilterPattern {
    /// Parses and compiles a pattern, rejecting what CloudWatch Logs rejects.
    pub fn parse(text: &str) -> Result<FilterPattern, PatternError> {
        let pattern = parse::parse(text)?;
        let terms = match &pattern {
            Pattern::Terms(terms) => terms
                .iter()
                .map(|t| (t.role, TermMatcher::new(&t.text)))
                .collect(),
            _ => Vec::new(),
        };
        Ok(FilterPattern {
            source: text.to_string(),
            pattern,
            terms,
        })
    }

    /// The pattern as it was given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed pattern; its `Display` is the canonical text.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The pattern's shape.
    pub fn kind(&self) -> PatternKind {
        match self.pattern {
            Pattern::MatchAll => PatternKind::MatchAll,
            Pattern::Terms(_) => PatternKind::Terms,
            Pattern::Json(_) => PatternKind::Json,
            Pattern::Delimited(_) => PatternKind::Delimited,
        }
    }

    /// Whether the event's message matches. This is the reference evaluator: it reads the whole
    /// event and evaluates the pattern as written; [`FilterSet`] must always agree with it.
    pub fn matches(&self, message: &str) -> bool {
        match &self.pattern {
            Pattern::MatchAll => true,
            Pattern::Terms(_) => terms_match(&self.terms, message),
            Pattern::Json(expr) => {
                Node::parse_event(message).is_some_and(|root| json_holds(expr, &root))
            }
            Pattern::Delimited(fields) => delimited::assign(fields, message)
                .is_some_and(|values| fields_hold(fields, &values)),
        }
    }

    /// The values a match extracts (`extractedValues` of `TestMetricFilter`), or `None` if the
    /// event does not match.
    pub fn extract(&self, message: &str) -> Option<ExtractedValues> {
        match &self.pattern {
            Pattern::MatchAll | Pattern::Terms(_) => {
                self.matches(message).then(ExtractedValues::default)
            }
            Pattern::Json(expr) => {
                let root = Node::parse_event(message)?;
                if !json_holds(expr, &root) {
                    return None;
                }
                let mut out = ExtractedValues::default();
                if choices::JSON_EXTRACTS_PATTERN_SELECTORS {
                    for c in expr.conditions() {
                        let key = c.selector.to_string();
                        if c.selector.has_wildcard() || out.get(&key).is_some() {
                            continue;
                        }
                        if let Some(text) = select(&root, &c.selector)
                            .first()
                            .and_then(View::scalar_text)
                        {
                            out.0.push((key, text));
                        }
                    }
                }
                Some(out)
            }
            Pattern::Delimited(fields) => {
                let values = delimited::assign(fields, message)?;
                fields_hold(fields, &values).then(|| delimited_values(fields, &values))
            }
        }
    }

    pub(crate) fn term_matchers(&self) -> &[(TermRole, TermMatcher)] {
        &self.terms
    }
}

impl fmt::Display for FilterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pattern.fmt(f)
    }
}

/// The verdict of a term pattern (see [`choices::OPTIONAL_TERMS_IGNORED_WHEN_MIXED`]).
pub(crate) fn terms_match(terms: &[(TermRole, TermMatcher)], message: &str) -> bool {
    let all_optional = terms.iter().all(|(role, _)| *role == TermRole::Optional);
    if all_optional {
        return terms.iter().any(|(_, m)| m.occurs(message));
    }
    let all_excluded = terms.iter().all(|(role, _)| *role == TermRole::Exclude);
    if all_excluded && !choices::EXCLUSION_ONLY_MATCHES_WHEN_ABSENT {
        return false;
    }
    let required = terms.iter().all(|(role, m)| match role {
        TermRole::Include => m.occurs(message),
        TermRole::Exclude => !m.occurs(message),
        TermRole::Optional => true,
    });
    required
        && (choices::OPTIONAL_TERMS_IGNORED_WHEN_MIXED
            || !terms.iter().any(|(role, _)| *role == TermRole::Optional)
            || terms
                .iter()
                .any(|(role, m)| *role == TermRole::Optional && m.occurs(message)))
}

/// Whether a JSON pattern holds of a whole event.
pub(crate) fn json_holds(expr: &Expr<JsonCondition>, root: &Node) -> bool {
    expr.eval(&mut |c| condition_holds(&c.test, &select(root, &c.selector)))
}

fn select<'n>(root: &'n Node, selector: &Selector) -> Vec<View<'n>> {
    let mut nodes = Vec::new();
    root.select(&selector.steps, &mut nodes);
    nodes.into_iter().map(Node::view).collect()
}

/// Whether a JSON test holds of the values its selector reached (none: the field is missing).
/// With a wildcard, one value satisfying the test is enough.
pub(crate) fn condition_holds(test: &JsonTest, values: &[View<'_>]) -> bool {
    match test {
        JsonTest::NotExists => values.is_empty(),
        _ => values.iter().any(|v| value_holds(test, v)),
    }
}

pub(crate) fn value_holds(test: &JsonTest, v: &View<'_>) -> bool {
    match test {
        JsonTest::NotExists => false,
        JsonTest::IsNull => *v == View::Null,
        JsonTest::IsTrue => *v == View::Bool(true),
        JsonTest::IsFalse => *v == View::Bool(false),
        JsonTest::Compare(op, value) => v
            .compared_text()
            .is_some_and(|(text, numeric)| compare_text(*op, value, text, numeric)),
    }
}

/// Compares a value's text with a pattern value (see [`choices::NUMERIC_VALUES_MATCH_NUMERIC_STRINGS`]).
/// `numeric` says whether the text may be read as a number.
pub(crate) fn compare_text(op: CmpOp, value: &Value, text: &str, numeric: bool) -> bool {
    let text_match = |m: bool| match op {
        CmpOp::Eq => m,
        CmpOp::Ne => !m,
        _ => false,
    };
    match value {
        Value::Number(n) => match numeric.then(|| parse::parse_number(text)).flatten() {
            Some(x) => match op {
                CmpOp::Eq => x == n.value,
                CmpOp::Ne => x != n.value,
                CmpOp::Lt => x < n.value,
                CmpOp::Le => x <= n.value,
                CmpOp::Gt => x > n.value,
                CmpOp::Ge => x >= n.value,
            },
            None => op == CmpOp::Ne,
        },
        Value::Text(glob) => text_match(glob.matches(text)),
        Value::Regex(re) => text_match(re.is_match(text)),
    }
}

/// Whether every field condition holds of the values lined up with the entries.
pub(crate) fn fields_hold(fields: &[Field], values: &[delimited::Assigned<'_>]) -> bool {
    values.iter().all(|a| match a.entry.map(|e| &fields[e]) {
        Some(Field::Named {
            condition: Some(expr),
            ..
        }) => expr.eval(&mut |c| compare_text(c.op, &c.value, a.value, true)),
        _ => true,
    })
}

fn delimited_values(fields: &[Field], values: &[delimited::Assigned<'_>]) -> ExtractedValues {
    ExtractedValues(
        values
            .iter()
            .map(|a| {
                let key = match a.entry.map(|e| &fields[e]) {
                    Some(Field::Named { name, .. }) => format!("${name}"),
                    _ => format!("${}", a.position),
                };
                (key, a.value.to_string())
            })
            .collect(),
    )
}
