//! The parsed form of a filter pattern, and its canonical text.
//!
//! `Display` writes a pattern back as text that parses to the same tree, so a pattern can be
//! normalised, stored and compared.

use std::fmt::{self, Write as _};

use crate::regex::AwsRegex;

/// One of the four shapes of a filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// The empty or blank pattern: every event matches.
    MatchAll,
    /// Terms, phrases and regexes over the raw message.
    Terms(Vec<Term>),
    /// `{ … }`: conditions on the fields of a JSON event.
    Json(Expr<JsonCondition>),
    /// `[ … ]`: fields of a space-delimited event.
    Delimited(Vec<Field>),
}

/// How a term counts towards the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermRole {
    /// Must occur.
    Include,
    /// `-term`: must not occur.
    Exclude,
    /// `?term`: at least one optional term must occur (when all terms are optional).
    Optional,
}

/// One term of a term pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// Include, exclude or optional.
    pub role: TermRole,
    /// What to look for.
    pub text: TermText,
}

/// What a term looks for in the message.
#[derive(Debug, Clone, PartialEq)]
pub enum TermText {
    /// An unquoted word (letters, digits, `_`).
    Word(String),
    /// A double-quoted phrase, unescaped.
    Phrase(String),
    /// `%regex%`.
    Regex(AwsRegex),
}

/// `&&` / `||` over conditions; `And` binds tighter than `Or`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<C> {
    /// One condition.
    Cond(C),
    /// All must hold (two or more operands, none of them an `And`).
    And(Vec<Expr<C>>),
    /// One must hold (two or more operands, none of them an `Or`).
    Or(Vec<Expr<C>>),
}

impl<C> Expr<C> {
    /// `a && b`, flattening nested `And`s so that equal meanings have equal trees.
    pub(crate) fn and(items: Vec<Expr<C>>) -> Expr<C> {
        Self::join(items, true)
    }

    /// `a || b`, flattening nested `Or`s.
    pub(crate) fn or(items: Vec<Expr<C>>) -> Expr<C> {
        Self::join(items, false)
    }

    fn join(items: Vec<Expr<C>>, and: bool) -> Expr<C> {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Expr::And(inner) if and => flat.extend(inner),
                Expr::Or(inner) if !and => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            return flat.pop().expect("one item");
        }
        if and { Expr::And(flat) } else { Expr::Or(flat) }
    }

    /// Every condition, left to right.
    pub fn conditions(&self) -> Vec<&C> {
        let mut out = Vec::new();
        self.visit(&mut |c| out.push(c));
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a C)) {
        match self {
            Expr::Cond(c) => f(c),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.visit(f)),
        }
    }

    /// Evaluates with short-circuiting, `&&` before `||` as the tree says.
    pub(crate) fn eval(&self, cond: &mut impl FnMut(&C) -> bool) -> bool {
        match self {
            Expr::Cond(c) => cond(c),
            Expr::And(items) => items.iter().all(|e| e.eval(cond)),
            Expr::Or(items) => items.iter().any(|e| e.eval(cond)),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in a pattern.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// True for `<`, `<=`, `>`, `>=`, which need numbers.
    pub fn is_relational(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text with optional leading and trailing `*` wildcards.
    Text(Glob),
    /// An unquoted number (`400`, `-1.5`, `1e-3`), compared numerically.
    Number(Number),
    /// `%regex%`.
    Regex(AwsRegex),
}

/// An unquoted number as written, with its value.
#[derive(Debug, Clone)]
pub struct Number {
    /// The text as written in the pattern.
    pub text: String,
    /// Its value.
    pub value: f64,
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A text value: `*` at the start or end stands for any text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The text after unquoting, wildcards included, as written.
    pub text: String,
    /// Whether it was written in double quotes (kept so that the canonical text keeps quotes).
    pub quoted: bool,
    /// A `*` at the start.
    pub leading_star: bool,
    /// A `*` at the end (distinct from the leading one).
    pub trailing_star: bool,
    /// The literal part between the wildcards.
    pub core: String,
}

impl Glob {
    pub(crate) fn new(text: String, quoted: bool) -> Glob {
        let leading_star = text.starts_with('*');
        let rest = if leading_star { &text[1..] } else { &text[..] };
        let trailing_star = rest.ends_with('*');
        let core = if trailing_star {
            &rest[..rest.len() - 1]
        } else {
            rest
        };
        let core = if crate::choices::INTERIOR_STAR_IS_LITERAL {
            core.to_string()
        } else {
            core.replace('*', "\u{0}")
        };
        Glob {
            leading_star,
            trailing_star,
            core,
            text,
            quoted,
        }
    }

    /// Whether `value` matches: equal to the core, or containing / starting / ending with it.
    pub fn matches(&self, value: &str) -> bool {
        if !crate::choices::INTERIOR_STAR_IS_LITERAL && self.core.contains('\u{0}') {
            return self.matches_all_stars(value);
        }
        match (self.leading_star, self.trailing_star) {
            (false, false) => value == self.core,
            (true, false) => value.ends_with(self.core.as_str()),
            (false, true) => value.starts_with(self.core.as_str()),
            (true, true) => memchr::memmem::find(value.as_bytes(), self.core.as_bytes()).is_some(),
        }
    }

    // Only reachable when `INTERIOR_STAR_IS_LITERAL` is false: every `*` is a wildcard.
    fn matches_all_stars(&self, value: &str) -> bool {
        let parts: Vec<&str> = self.core.split('\u{0}').collect();
        let mut rest = value;
        for (i, part) in parts.iter().enumerate() {
            let first = i == 0;
            let last = i == parts.len() - 1;
            if first && !self.leading_star {
                let Some(r) = rest.strip_prefix(part) else {
                    return false;
                };
                rest = r;
            } else if last && !self.trailing_star {
                return rest.ends_with(part);
            } else {
                match rest.find(part) {
                    Some(at) => rest = &rest[at + part.len()..],
                    None => return false,
                }
            }
        }
        true
    }

    /// The literal that any matching value contains, if it is not empty.
    pub(crate) fn required_literal(&self) -> Option<&str> {
        if self.core.is_empty() || self.core.contains('\u{0}') {
            None
        } else {
            Some(&self.core)
        }
    }
}

/// A JSON property selector such as `$.userIdentity.type`, `$.a[0]`, `$.list[*].id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The steps after `$`.
    pub steps: Vec<Step>,
}

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// `.name` or `.['name']`.
    Key(String),
    /// `[N]`.
    Index(usize),
    /// `.*` or `[*]`: every field or element.
    Wildcard {
        /// Written as `[*]` (rather than `.*`).
        bracket: bool,
    },
}

impl Selector {
    /// Whether the selector has a wildcard step.
    pub fn has_wildcard(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Wildcard { .. }))
    }
}

/// What a JSON condition tests.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTest {
    /// `= v`, `!= v`, `< n`, …
    Compare(CmpOp, Value),
    /// `IS NULL`
    IsNull,
    /// `IS TRUE`
    IsTrue,
    /// `IS FALSE`
    IsFalse,
    /// `NOT EXISTS`
    NotExists,
}

/// A condition on one selector of a JSON event.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCondition {
    /// Which value(s) of the event.
    pub selector: Selector,
    /// What must hold of them.
    pub test: JsonTest,
}

/// One entry of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `...`: any number of fields.
    Ellipsis,
    /// An empty entry: one unnamed field.
    Unnamed,
    /// A named field, perhaps with conditions on it.
    Named {
        /// The field's name (reported as `$name`).
        name: String,
        /// Conditions on the field's value.
        condition: Option<Expr<FieldCondition>>,
    },
}

/// A condition on the value of one space-delimited field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCondition {
    /// The comparison.
    pub op: CmpOp,
    /// The value compared against.
    pub value: Value,
}

// ---------------------------------------------------------------------------------------------
// Canonical text.

/// The canonical text is compact (no optional white space), so that it is never longer than
/// the text it was parsed from and always fits AWS's length limit again.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::MatchAll => Ok(()),
            Pattern::Terms(terms) => {
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{term}")?;
                }
                Ok(())
            }
            Pattern::Json(expr) => {
                f.write_char('{')?;
                write_expr(f, expr, &mut |f, c| match &c.test {
                    JsonTest::Compare(op, v) => write!(f, "{}{}{v}", c.selector, op.as_str()),
                    _ => write!(f, "{c}"),
                })?;
                f.write_char('}')
            }
            Pattern::Delimited(fields) => {
                f.write_char('[')?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    match field {
                        Field::Ellipsis => f.write_str("...")?,
                        Field::Unnamed => {}
                        Field::Named { name, condition } => match condition {
                            None => f.write_str(name)?,
                            Some(expr) => write_expr(f, expr, &mut |f, c| {
                                write!(f, "{name}{}{}", c.op.as_str(), c.value)
                            })?,
                        },
                    }
                }
                f.write_char(']')
            }
        }
    }
}

fn write_expr<C>(
    f: &mut fmt::Formatter<'_>,
    expr: &Expr<C>,
    cond: &mut impl FnMut(&mut fmt::Formatter<'_>, &C) -> fmt::Result,
) -> fmt::Result {
    match expr {
        Expr::Cond(c) => cond(f, c),
        Expr::And(items) | Expr::Or(items) => {
            let and = matches!(expr, Expr::And(_));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(if and { "&&" } else { "||" })?;
                }
                // Only an `Or` inside an `And` needs parentheses: `&&` binds tighter.
                let paren = and && matches!(item, Expr::Or(_));
                if paren {
                    f.write_char('(')?;
                }
                write_expr(f, item, cond)?;
                if paren {
                    f.write_char(')')?;
                }
            }
            Ok(())
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            TermRole::Include => {}
            TermRole::Exclude => f.write_char('-')?,
            TermRole::Optional => f.write_char('?')?,
        }
        match &self.text {
            TermText::Word(w) => f.write_str(w),
            TermText::Phrase(p) => write_quoted(f, p),
            TermText::Regex(r) => write!(f, "{r}"),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(g) if g.quoted => write_quoted(f, &g.text),
            Value::Text(g) => f.write_str(&g.text),
            Value::Number(n) => f.write_str(&n.text),
            Value::Regex(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('$')?;
        for step in &self.steps {
            match step {
                Step::Key(k) if is_plain_key(k) => write!(f, ".{k}")?,
                Step::Key(k) => write!(f, ".['{k}']")?,
                Step::Index(i) => write!(f, "[{i}]")?,
                Step::Wildcard { bracket: true } => f.write_str("[*]")?,
                Step::Wildcard { bracket: false } => f.write_str(".*")?,
            }
        }
        Ok(())
    }
}

/// Whether a key can be written as `.key` (letters, digits, `_`, `-`).
pub(crate) fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for JsonCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            JsonTest::Compare(op, v) => write!(f, "{} {} {v}", self.selector, op.as_str()),
            JsonTest::IsNull => write!(f, "{} IS NULL", self.selector),
            JsonTest::IsTrue => write!(f, "{} IS TRUE", self.selector),
            JsonTest::IsFalse => write!(f, "{} IS FALSE", self.selector),
            JsonTest::NotExists => write!(f, "{} NOT EXISTS", self.selector),
        }
    }
}
