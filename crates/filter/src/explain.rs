//! Why a pattern matched an event or did not: each clause, its verdict and the value it saw.
//!
//! The CIS audit shows these as evidence, so an explanation evaluates every clause (no
//! short-circuit) and its verdict is always the reference evaluator's.

use std::fmt;

use serde::Serialize;

use crate::ast::*;
use crate::delimited;
use crate::json::Node;
use crate::{FilterPattern, compare_text, condition_holds, terms_match};

/// The verdict on one event, with the clauses that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Whether the event matches.
    pub matched: bool,
    /// One sentence for people.
    pub summary: String,
    /// The pattern's clauses and their verdicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<Clause>,
}

/// One clause: a term, a condition, or `&&` / `||` over clauses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clause {
    /// The clause as pattern text (`&&` and `||` for compound clauses).
    pub clause: String,
    /// Whether it holds for this event.
    pub result: bool,
    /// What the clause looked at: the field's value(s), `missing`, or whether a term occurs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Operands of `&&` / `||`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Clause>,
}

impl Clause {
    fn leaf(clause: String, result: bool, found: String) -> Clause {
        Clause {
            clause,
            result,
            found: Some(found),
            children: Vec::new(),
        }
    }
}

fn tree<C>(expr: &Expr<C>, leaf: &mut impl FnMut(&C) -> Clause) -> Clause {
    match expr {
        Expr::Cond(c) => leaf(c),
        Expr::And(items) | Expr::Or(items) => {
            let and = matches!(expr, Expr::And(_));
            let children: Vec<Clause> = items.iter().map(|e| tree(e, leaf)).collect();
            let result = if and {
                children.iter().all(|c| c.result)
            } else {
                children.iter().any(|c| c.result)
            };
            Clause {
                clause: if and { "&&" } else { "||" }.to_string(),
                result,
                found: None,
                children,
            }
        }
    }
}

impl FilterPattern {
    /// Explains the verdict on one event.
    pub fn explain(&self, message: &str) -> Explanation {
        match self.pattern() {
            Pattern::MatchAll => Explanation {
                matched: true,
                summary: "the empty pattern matches every event".into(),
                clauses: Vec::new(),
            },
            Pattern::Terms(terms) => self.explain_terms(terms, message),
            Pattern::Json(expr) => explain_json(expr, message),
            Pattern::Delimited(fields) => explain_delimited(fields, message),
        }
    }

    fn explain_terms(&self, terms: &[Term], message: &str) -> Explanation {
        let matchers = self.term_matchers();
        let all_optional = terms.iter().all(|t| t.role == TermRole::Optional);
        let mut clauses = Vec::new();
        for (term, (_, m)) in terms.iter().zip(matchers) {
            let occurs = m.occurs(message);
            let (result, found) = match term.role {
                TermRole::Include => (occurs, presence(occurs)),
                TermRole::Exclude => (!occurs, presence(occurs)),
                TermRole::Optional if all_optional => (occurs, presence(occurs)),
                TermRole::Optional => (
                    true,
                    format!("{}; ignored beside terms without '?'", presence(occurs)),
                ),
            };
            clauses.push(Clause::leaf(term.to_string(), result, found));
        }
        let matched = terms_match(matchers, message);
        let summary = if all_optional {
            if matched {
                "at least one optional term occurs".to_string()
            } else {
                "none of the optional terms occurs".to_string()
            }
        } else if matched {
            "every required term occurs and no excluded term does".to_string()
        } else {
            let failed: Vec<&str> = clauses
                .iter()
                .filter(|c| !c.result)
                .map(|c| c.clause.as_str())
                .collect();
            format!("not satisfied: {}", failed.join(", "))
        };
        Explanation {
            matched,
            summary,
            clauses,
        }
    }
}

fn presence(occurs: bool) -> String {
    if occurs { "present" } else { "absent" }.to_string()
}

fn explain_json(expr: &Expr<JsonCondition>, message: &str) -> Explanation {
    let Some(root) = Node::parse_event(message) else {
        return Explanation {
            matched: false,
            summary: "the event is not a JSON object, so no JSON pattern matches it".into(),
            clauses: Vec::new(),
        };
    };
    let clause = tree(expr, &mut |c: &JsonCondition| {
        let mut nodes = Vec::new();
        root.select(&c.selector.steps, &mut nodes);
        let values: Vec<_> = nodes.iter().map(|n| n.view()).collect();
        let found = if values.is_empty() {
            "missing".to_string()
        } else {
            values
                .iter()
                .map(|v| v.describe())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Clause::leaf(c.to_string(), condition_holds(&c.test, &values), found)
    });
    let matched = clause.result;
    let summary = summarize(&clause);
    Explanation {
        matched,
        summary,
        clauses: vec![clause],
    }
}

/// A sentence naming the leaf clauses that decided the verdict.
fn summarize(root: &Clause) -> String {
    let mut deciding = Vec::new();
    collect_deciding(root, root.result, &mut deciding);
    // A failed `||` of sixteen event names would make an unreadable sentence: name the first
    // few and count the rest (the clauses below list them all).
    const SHOWN: usize = 3;
    let mut list = deciding
        .iter()
        .take(SHOWN)
        .map(|c| match &c.found {
            Some(found) => format!("{} (found {found})", c.clause),
            None => c.clause.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if deciding.len() > SHOWN {
        list.push_str(&format!("; and {} more", deciding.len() - SHOWN));
    }
    if root.result {
        format!("matched by {list}")
    } else {
        format!("not matched: {list}")
    }
}

/// The leaves whose result equals `want` along the paths that decided their parents.
fn collect_deciding<'c>(clause: &'c Clause, want: bool, out: &mut Vec<&'c Clause>) {
    if clause.children.is_empty() {
        if clause.result == want {
            out.push(clause);
        }
        return;
    }
    let and = clause.clause == "&&";
    // An `&&` that holds, or an `||` that fails, is decided by all its operands;
    // otherwise by the operands with the deciding verdict.
    for child in &clause.children {
        if (and == want) || child.result == want {
            collect_deciding(child, want, out);
        }
    }
}

fn explain_delimited(fields: &[Field], message: &str) -> Explanation {
    let Some(values) = delimited::assign(fields, message) else {
        let have = delimited::tokenize(message).len();
        let need = fields.iter().filter(|f| **f != Field::Ellipsis).count();
        return Explanation {
            matched: false,
            summary: format!(
                "the event has {have} space-delimited field(s); the pattern needs {}{need}",
                if fields.contains(&Field::Ellipsis) || crate::choices::LAST_FIELD_ABSORBS_REST {
                    "at least "
                } else {
                    "exactly "
                }
            ),
            clauses: Vec::new(),
        };
    };
    let mut clauses = Vec::new();
    for a in &values {
        let Some(Field::Named {
            name,
            condition: Some(expr),
        }) = a.entry.map(|e| &fields[e])
        else {
            continue;
        };
        let found = serde_json::to_string(a.value).unwrap_or_default();
        clauses.push(tree(expr, &mut |c: &FieldCondition| {
            Clause::leaf(
                format!("{name} {} {}", c.op.as_str(), c.value),
                compare_text(c.op, &c.value, a.value, true),
                format!("{found} in field {}", a.position),
            )
        }));
    }
    let matched = clauses.iter().all(|c| c.result);
    let summary = if clauses.is_empty() {
        "the event has enough fields and the pattern sets no conditions".to_string()
    } else {
        let root = Clause {
            clause: "&&".into(),
            result: matched,
            found: None,
            children: clauses.clone(),
        };
        summarize(&root)
    };
    Explanation {
        matched,
        summary,
        clauses,
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        for clause in &self.clauses {
            write_clause(f, clause, 1)?;
        }
        Ok(())
    }
}

fn write_clause(f: &mut fmt::Formatter<'_>, clause: &Clause, depth: usize) -> fmt::Result {
    let mark = if clause.result { "✓" } else { "✗" };
    write!(f, "{}{mark} {}", "  ".repeat(depth), clause.clause)?;
    if let Some(found) = &clause.found {
        write!(f, "  — {found}")?;
    }
    writeln!(f)?;
    for child in &clause.children {
        write_clause(f, child, depth + 1)?;
    }
    Ok(())
}
