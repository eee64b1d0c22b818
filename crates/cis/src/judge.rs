//! Whether filter patterns catch what a control asks for, decided by meaning: each pattern is
//! run, with the filter engine, on a representative event of every call the control names,
//! every exclusion it allows and every event it does not ask for.

use filter::{Explanation, FilterPattern};
use serde::Serialize;

use crate::catalogue::{Control, Example};

/// What an example event is to a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A filter must match it.
    Required,
    /// Required once, but the call can no longer occur: missing it is only a warning.
    Obsolete,
    /// The control lets a filter leave it out.
    AllowedExclusion,
    /// The benchmark's own string does not match it: matching it is noise.
    Negative,
}

/// One pattern's verdict on one example.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The example, e.g. `iam:PutRolePolicy`.
    pub event: String,
    pub role: Role,
    pub matched: bool,
    /// Clause by clause, what the pattern saw in the event.
    pub explanation: Explanation,
}

/// One pattern judged against a control.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    pub pattern: String,
    /// Why the pattern does not parse, when it does not: it then matches nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub verdicts: Vec<Verdict>,
}

impl Judgement {
    /// Runs `pattern` on every example of `control`.
    pub fn of(control: &Control<'_>, pattern: &str) -> Judgement {
        let parsed = FilterPattern::parse(pattern);
        let mut verdicts = Vec::new();
        let examples = control
            .required()
            .map(|e| {
                (
                    e,
                    if e.obsolete {
                        Role::Obsolete
                    } else {
                        Role::Required
                    },
                )
            })
            .chain(
                control
                    .allowed_exclusions()
                    .map(|e| (e, Role::AllowedExclusion)),
            )
            .chain(control.negatives().map(|e| (e, Role::Negative)));
        for (example, role) in examples {
            let explanation = match &parsed {
                Ok(p) => p.explain(&example.event),
                Err(e) => Explanation {
                    matched: false,
                    summary: format!("the pattern does not parse: {e}"),
                    clauses: Vec::new(),
                },
            };
            verdicts.push(Verdict {
                event: example.label.clone(),
                role,
                matched: explanation.matched,
                explanation,
            });
        }
        Judgement {
            pattern: pattern.to_owned(),
            error: parsed.err().map(|e| e.to_string()),
            verdicts,
        }
    }

    /// The examples of `role` the pattern matches.
    pub fn matched(&self, role: Role) -> impl Iterator<Item = &str> {
        self.verdicts
            .iter()
            .filter(move |v| v.role == role && v.matched)
            .map(|v| v.event.as_str())
    }

    /// The examples of `role` it does not match.
    pub fn missed(&self, role: Role) -> impl Iterator<Item = &str> {
        self.verdicts
            .iter()
            .filter(move |v| v.role == role && !v.matched)
            .map(|v| v.event.as_str())
    }

    /// Whether it catches anything the control asks for: only then is it a filter for this
    /// control at all.
    pub fn is_for_control(&self) -> bool {
        self.matched(Role::Required)
            .chain(self.matched(Role::Obsolete))
            .next()
            .is_some()
    }

    /// Whether it catches every event the control asks for.
    pub fn covers(&self) -> bool {
        self.missed(Role::Required).next().is_none()
    }
}

/// How an example is named in findings: the call's name for `iam:DetachRolePolicy`, the
/// description otherwise.
pub fn short_name(label: &str) -> &str {
    match label.split_once(':') {
        Some((service, call))
            if !service.contains(' ') && !call.contains(' ') && !call.is_empty() =>
        {
            call
        }
        _ => label,
    }
}

/// The examples of a control a set of patterns leaves uncaught, by short name, in the
/// catalogue's order.
pub fn missing<'a>(control: &Control<'a>, judgements: &[&Judgement]) -> Vec<&'a Example> {
    control
        .required()
        .filter(|e| !e.obsolete)
        .filter(|e| {
            !judgements
                .iter()
                .any(|j| j.matched(Role::Required).any(|m| m == e.label))
        })
        .collect()
}
