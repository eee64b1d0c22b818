//! Text to [`Pattern`], with AWS's rules and errors that point at the offending part.

use crate::ast::*;
use crate::choices;
use crate::error::PatternError;
use crate::regex::AwsRegex;

/// Parses a filter pattern.
pub(crate) fn parse(text: &str) -> Result<Pattern, PatternError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > choices::MAX_PATTERN_CHARS {
        return Err(PatternError::new(format!(
            "1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: \
             Member must have length less than or equal to {}",
            choices::MAX_PATTERN_CHARS
        )));
    }
    let start = chars.iter().position(|c| !is_ws(*c));
    let Some(start) = start else {
        return Ok(Pattern::MatchAll);
    };
    let end = chars
        .iter()
        .rposition(|c| !is_ws(*c))
        .map_or(start, |e| e + 1);
    let mut p = Parser {
        chars: &chars,
        pos: start,
        end,
        regexes: 0,
        wildcards: 0,
    };
    match chars[start] {
        '{' => {
            if chars[end - 1] != '}' || end - start < 2 {
                return Err(PatternError::new(
                    "If a filter pattern starts with '{' it must end with '}'",
                ));
            }
            p.pos = start + 1;
            p.end = end - 1;
            let expr = p.json_or()?;
            p.skip_ws();
            p.expect_end("'&&', '||' or '}'")?;
            Ok(Pattern::Json(expr))
        }
        '[' => {
            if chars[end - 1] != ']' || end - start < 2 {
                return Err(PatternError::new(
                    "If a filter pattern starts with '[' it must end with ']'",
                ));
            }
            p.pos = start + 1;
            p.end = end - 1;
            p.delimited().map(Pattern::Delimited)
        }
        _ => p.terms().map(Pattern::Terms),
    }
}

/// Parses a lone selector such as `$.requestParameters.bucketName` (no wildcards), as
/// `metricValue` and dimensions refer to fields.
pub(crate) fn parse_selector(text: &str) -> Option<Selector> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut p = Parser {
        chars: &chars,
        pos: 0,
        end: chars.len(),
        regexes: 0,
        wildcards: 0,
    };
    let selector = p.selector().ok()?;
    (p.at_end() && !selector.has_wildcard()).then_some(selector)
}

/// White space between the parts of a pattern.
pub(crate) fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Whether `s` is a number as the pattern language writes them: an optional sign, digits, an
/// optional fraction, an optional exponent (`400`, `-1.5`, `+1000`, `1e-3`, `10E3`).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Out-of-range values become ±infinity, which still compare as numbers.
    s.parse::<f64>().ok()
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    end: usize,
    regexes: usize,
    wildcards: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        (self.pos < self.end).then(|| self.chars[self.pos])
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        (self.pos + k < self.end).then(|| self.chars[self.pos + k])
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.pos + n <= self.end && s.chars().zip(&self.chars[self.pos..]).all(|(a, b)| a == *b)
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars[start..end].iter().collect()
    }

    /// "Invalid filter pattern: expected X, found Y" at the current position.
    fn expected(&self, what: &str) -> PatternError {
        let found = match self.peek() {
            None => "the end of the pattern".to_string(),
            Some(_) => {
                let end = (self.pos..self.end)
                    .find(|&i| is_ws(self.chars[i]))
                    .unwrap_or(self.end)
                    .min(self.pos + 20)
                    .max(self.pos + 1);
                format!("'{}'", self.text(self.pos, end))
            }
        };
        PatternError::at(
            format!("Invalid filter pattern: expected {what}, found {found}"),
            self.pos,
            self.pos + 1,
        )
    }

    fn expect_end(&self, what: &str) -> Result<(), PatternError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// `"…"` with backslash escapes; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<String, PatternError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => match self.peek() {
                    Some(n) => {
                        out.push(n);
                        self.pos += 1;
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(PatternError::at(
            "Invalid filter pattern: unterminated quoted string",
            start,
            self.end,
        ))
    }

    /// `%…%`; the cursor is on the opening `%`.
    fn regex(&mut self) -> Result<AwsRegex, PatternError> {
        let start = self.pos;
        let body_start = start + 1;
        let Some(close) = (body_start..self.end).find(|&i| self.chars[i] == '%') else {
            return Err(PatternError::at(
                "Invalid filter pattern: a regular expression starting with '%' must end with '%'",
                start,
                self.end,
            ));
        };
        let body = self.text(body_start, close);
        let regex = AwsRegex::new(&body).map_err(|e| {
            PatternError::at(e.message, body_start + e.offset, body_start + e.offset + 1)
        })?;
        self.regexes += 1;
        if self.regexes > choices::MAX_REGEXES_PER_PATTERN {
            return Err(PatternError::at(
                format!(
                    "Invalid filter pattern: at most {} regular expressions are allowed in a filter pattern",
                    choices::MAX_REGEXES_PER_PATTERN
                ),
                start,
                close + 1,
            ));
        }
        self.pos = close + 1;
        Ok(regex)
    }

    // -----------------------------------------------------------------------------------------
    // Terms.

    fn terms(&mut self) -> Result<Vec<Term>, PatternError> {
        let mut terms = Vec::new();
        loop {
            self.skip_ws();
            if self.at_end() {
                return Ok(terms);
            }
            let start = self.pos;
            let role = match self.peek() {
                Some('?') => TermRole::Optional,
                Some('-') => TermRole::Exclude,
                _ => TermRole::Include,
            };
            if role != TermRole::Include {
                self.pos += 1;
            }
            let text = match self.peek() {
                Some('"') => TermText::Phrase(self.quoted()?),
                Some('%') => TermText::Regex(self.regex()?),
                Some(c) if !is_ws(c) => {
                    let word_start = self.pos;
                    while self.peek().is_some_and(|c| !is_ws(c)) {
                        self.pos += 1;
                    }
                    let word = self.text(word_start, self.pos);
                    if let Some(bad) = word
                        .chars()
                        .position(|c| !(c.is_ascii_alphanumeric() || c == '_'))
                    {
                        return Err(PatternError::at(
                            format!(
                                "Invalid character(s) in term '{word}': put terms with characters \
                                 other than letters, digits and '_' in double quotes"
                            ),
                            word_start + bad,
                            word_start + bad + 1,
                        ));
                    }
                    TermText::Word(word)
                }
                _ => {
                    return Err(PatternError::at(
                        format!(
                            "Invalid filter pattern: '{}' must be followed by a term",
                            self.chars[start]
                        ),
                        start,
                        start + 1,
                    ));
                }
            };
            if self.peek().is_some_and(|c| !is_ws(c)) {
                return Err(self.expected("white space between terms"));
            }
            terms.push(Term { role, text });
        }
    }

    // -----------------------------------------------------------------------------------------
    // JSON.

    /// `a || b || …` over `&&` groups of `primary`: `&&` binds tighter than `||`.
    fn or_expr<C>(
        &mut self,
        primary: &mut impl FnMut(&mut Self) -> Result<Expr<C>, PatternError>,
    ) -> Result<Expr<C>, PatternError> {
        let mut items = vec![self.and_expr(primary)?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                return Ok(Expr::or(items));
            }
            items.push(self.and_expr(primary)?);
        }
    }

    fn and_expr<C>(
        &mut self,
        primary: &mut impl FnMut(&mut Self) -> Result<Expr<C>, PatternError>,
    ) -> Result<Expr<C>, PatternError> {
        let mut items = vec![primary(self)?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                return Ok(Expr::and(items));
            }
            items.push(primary(self)?);
        }
    }

    fn json_or(&mut self) -> Result<Expr<JsonCondition>, PatternError> {
        self.or_expr(&mut |p| p.json_primary())
    }

    fn json_primary(&mut self) -> Result<Expr<JsonCondition>, PatternError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            let open = self.pos;
            self.pos += 1;
            let expr = self.json_or()?;
            self.skip_ws();
            if !self.eat(")") {
                let mut err = self.expected("')', '&&' or '||'");
                err.message.push_str(&format!(
                    " (the '(' at character {} is not closed)",
                    open + 1
                ));
                return Err(err);
            }
            return Ok(expr);
        }
        self.json_condition().map(Expr::Cond)
    }

    fn json_condition(&mut self) -> Result<JsonCondition, PatternError> {
        let selector = self.selector()?;
        self.skip_ws();
        let before_op = self.pos;
        if let Some(op) = self.cmp_op() {
            let value = self.value(op, false)?;
            return Ok(JsonCondition {
                selector,
                test: JsonTest::Compare(op, value),
            });
        }
        let test = if self.keyword("IS") {
            self.skip_ws();
            if self.keyword("NULL") {
                JsonTest::IsNull
            } else if self.keyword("TRUE") {
                JsonTest::IsTrue
            } else if self.keyword("FALSE") {
                JsonTest::IsFalse
            } else {
                return Err(self.expected("NULL, TRUE or FALSE after IS"));
            }
        } else if self.keyword("NOT") {
            self.skip_ws();
            if !self.keyword("EXISTS") {
                return Err(self.expected("EXISTS after NOT"));
            }
            JsonTest::NotExists
        } else {
            self.pos = before_op;
            return Err(self.expected(
                "an operator (=, !=, <, <=, >, >=) or IS NULL, IS TRUE, IS FALSE, NOT EXISTS after the selector",
            ));
        };
        Ok(JsonCondition { selector, test })
    }

    /// A keyword followed by white space, a delimiter or the end.
    fn keyword(&mut self, word: &str) -> bool {
        let n = word.len();
        if self.pos + n > self.end {
            return false;
        }
        let candidate = self.text(self.pos, self.pos + n);
        let same = if choices::KEYWORDS_CASE_SENSITIVE {
            candidate == word
        } else {
            candidate.eq_ignore_ascii_case(word)
        };
        let boundary = self
            .chars
            .get(self.pos + n)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == '_'));
        if same && boundary {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn cmp_op(&mut self) -> Option<CmpOp> {
        for (s, op) in [
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("=", CmpOp::Eq),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ] {
            if self.eat(s) {
                return Some(op);
            }
        }
        None
    }

    fn selector(&mut self) -> Result<Selector, PatternError> {
        self.skip_ws();
        let start = self.pos;
        if !self.eat("$") {
            return Err(self.expected("a selector starting with '$.' (such as $.eventName)"));
        }
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('*') => {
                            self.pos += 1;
                            steps.push(Step::Wildcard { bracket: false });
                        }
                        Some('[') if self.peek_at(1) == Some('\'') => {
                            self.pos += 2;
                            let key_start = self.pos;
                            while self.peek().is_some_and(|c| c != '\'') {
                                self.pos += 1;
                            }
                            let key = self.text(key_start, self.pos);
                            if key.is_empty() || !self.eat("']") {
                                return Err(PatternError::at(
                                    "Invalid filter pattern: a bracketed key is written .['key'] with a non-empty key",
                                    key_start - 2,
                                    self.pos.max(key_start),
                                ));
                            }
                            steps.push(Step::Key(key));
                        }
                        _ => {
                            let name_start = self.pos;
                            while self
                                .peek()
                                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                            {
                                self.pos += 1;
                            }
                            if self.pos == name_start {
                                return Err(self.expected(
                                    "a property name (letters, digits, '_', '-'), '*' or ['key'] after '.'",
                                ));
                            }
                            steps.push(Step::Key(self.text(name_start, self.pos)));
                        }
                    }
                }
                Some('[') if !steps.is_empty() => {
                    self.pos += 1;
                    if self.eat("*]") {
                        steps.push(Step::Wildcard { bracket: true });
                        continue;
                    }
                    let digits_start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let index = self.text(digits_start, self.pos).parse::<usize>().ok();
                    match index {
                        Some(i) if self.eat("]") => steps.push(Step::Index(i)),
                        _ => return Err(self.expected("an array index such as [0], or [*]")),
                    }
                }
                _ => break,
            }
        }
        if steps.is_empty() {
            return Err(self.expected("'.' and a property name after '$'"));
        }
        let selector = Selector { steps };
        let stars = selector
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Wildcard { .. }))
            .count();
        if stars > 1 {
            return Err(PatternError::at(
                "Invalid filter pattern: a selector may contain at most one wildcard",
                start,
                self.pos,
            ));
        }
        if stars == 1 {
            self.wildcards += 1;
            if self.wildcards > choices::MAX_WILDCARD_SELECTORS {
                return Err(PatternError::at(
                    format!(
                        "Invalid filter pattern: at most {} wildcard selectors are allowed in a filter pattern",
                        choices::MAX_WILDCARD_SELECTORS
                    ),
                    start,
                    self.pos,
                ));
            }
        }
        Ok(selector)
    }

    /// The value after an operator, in a JSON condition or a space-delimited field condition.
    fn value(&mut self, op: CmpOp, delimited: bool) -> Result<Value, PatternError> {
        self.skip_ws();
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => Value::Text(Glob::new(self.quoted()?, true)),
            Some('%') => Value::Regex(self.regex()?),
            _ => {
                while self.peek().is_some_and(|c| {
                    !is_ws(c) && !choices::UNQUOTED_VALUE_EXCLUDED_CHARS.contains(&c)
                }) {
                    self.pos += 1;
                }
                if self.pos == start {
                    let what = if delimited {
                        "a value (a word, a number, \"quoted text\" or %regex%)"
                    } else {
                        "a value (a word, a number, \"quoted text\" or %regex%); strings take double quotes"
                    };
                    return Err(self.expected(what));
                }
                let text = self.text(start, self.pos);
                match parse_number(&text) {
                    Some(value) => Value::Number(Number { text, value }),
                    None => Value::Text(Glob::new(text, false)),
                }
            }
        };
        if op.is_relational() && !matches!(value, Value::Number(_)) {
            return Err(PatternError::at(
                format!(
                    "Invalid filter pattern: '{}' compares numbers, but {value} is not a number",
                    op.as_str()
                ),
                start,
                self.pos,
            ));
        }
        Ok(value)
    }

    // -----------------------------------------------------------------------------------------
    // Space-delimited.

    fn delimited(&mut self) -> Result<Vec<Field>, PatternError> {
        let mut fields = Vec::new();
        self.skip_ws();
        if self.at_end() {
            return Ok(fields);
        }
        let mut ellipses = 0;
        loop {
            self.skip_ws();
            let start = self.pos;
            let field = if self.peek() == Some(',') || self.at_end() {
                Field::Unnamed
            } else if self.eat("...") {
                ellipses += 1;
                if ellipses > choices::DELIMITED_MAX_ELLIPSES {
                    return Err(PatternError::at(
                        "Invalid filter pattern: at most one '...' is allowed",
                        start,
                        self.pos,
                    ));
                }
                Field::Ellipsis
            } else {
                self.named_field(&fields)?
            };
            fields.push(field);
            self.skip_ws();
            if self.at_end() {
                return Ok(fields);
            }
            if !self.eat(",") {
                return Err(self.expected("',' between fields"));
            }
        }
    }

    fn named_field(&mut self, earlier: &[Field]) -> Result<Field, PatternError> {
        let start = self.pos;
        let mut name: Option<String> = None;
        let expr = self.field_or(&mut name)?;
        let name = name.expect("a field condition sets the name");
        if earlier
            .iter()
            .any(|f| matches!(f, Field::Named { name: n, .. } if *n == name))
        {
            return Err(PatternError::at(
                format!("Invalid filter pattern: the field name '{name}' is used twice"),
                start,
                self.pos,
            ));
        }
        let condition = match expr {
            Expr::Cond(None) => None,
            expr => Some(lift(expr).ok_or_else(|| {
                PatternError::at(
                    format!(
                        "Invalid filter pattern: expected an operator after the field name '{name}'"
                    ),
                    start,
                    self.pos,
                )
            })?),
        };
        Ok(Field::Named { name, condition })
    }

    fn field_or(
        &mut self,
        name: &mut Option<String>,
    ) -> Result<Expr<Option<FieldCondition>>, PatternError> {
        self.or_expr(&mut |p| p.field_primary(name))
    }

    fn field_primary(
        &mut self,
        name: &mut Option<String>,
    ) -> Result<Expr<Option<FieldCondition>>, PatternError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            self.pos += 1;
            let expr = self.field_or(name)?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.expected("')', '&&' or '||'"));
            }
            return Ok(expr);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.expected("a field name (letters, digits, '_', '-'), '...' or ','"));
        }
        let this = self.text(start, self.pos);
        match name {
            None => *name = Some(this),
            Some(first) if *first != this => {
                return Err(PatternError::at(
                    format!(
                        "Invalid filter pattern: a condition in the entry of field '{first}' names \
                         field '{this}'; each entry may test only its own field"
                    ),
                    start,
                    self.pos,
                ));
            }
            Some(_) => {}
        }
        self.skip_ws();
        match self.cmp_op() {
            Some(op) => {
                let value = self.value(op, true)?;
                Ok(Expr::Cond(Some(FieldCondition { op, value })))
            }
            None => Ok(Expr::Cond(None)),
        }
    }
}

/// An entry's conditions, or `None` when one of them lacks an operator.
fn lift(expr: Expr<Option<FieldCondition>>) -> Option<Expr<FieldCondition>> {
    Some(match expr {
        Expr::Cond(c) => Expr::Cond(c?),
        Expr::And(items) => Expr::And(items.into_iter().map(lift).collect::<Option<_>>()?),
        Expr::Or(items) => Expr::Or(items.into_iter().map(lift).collect::<Option<_>>()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (s, v) in [
            ("400", 400.0),
            ("-1.5", -1.5),
            ("+1000", 1000.0),
            ("1e-3", 0.001),
            ("10E3", 1e4),
        ] {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        for s in [
            "", "1.", ".5", "1e", "inf", "NaN", "4*", "0x10", "1_000", "--1",
        ] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }
}
