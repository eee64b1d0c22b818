//! The requirement a filter puts on the raw event, a formula over facts; the set of facts
//! present in an event, as bits; and the flat [`Op`] program that requirements and JSON
//! expressions are compiled to (and evaluated from, in `matcher.rs`).

use crate::ast::Expr;

/// A necessary condition on the raw event, over facts.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Requirement {
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
    pub(super) fn all(items: Vec<Requirement>) -> Requirement {
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

    pub(super) fn any(items: Vec<Requirement>) -> Requirement {
        if items.is_empty() || items.contains(&Requirement::None) {
            return Requirement::None;
        }
        Requirement::Any(items)
    }

    /// Facts of which at least one is present whenever the requirement holds, chosen to be
    /// rarely present (by `weight`, an estimate of each fact's chance), with their total chance.
    pub(super) fn anchors(&self, weight: &[f64]) -> (Vec<usize>, f64) {
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
    pub(super) fn is_disjunction(&self) -> bool {
        match self {
            Requirement::None | Requirement::Fact { .. } => true,
            Requirement::Any(items) => items.iter().all(Self::is_disjunction),
            Requirement::All(_) => false,
        }
    }

    pub(super) fn has_json_fact(&self) -> bool {
        match self {
            Requirement::None => false,
            Requirement::Fact { json, .. } => *json,
            Requirement::All(items) | Requirement::Any(items) => {
                items.iter().any(Self::has_json_fact)
            }
        }
    }
}

pub(super) fn bit(words: &[u64], id: usize) -> bool {
    words[id / 64] & (1 << (id % 64)) != 0
}

pub(super) fn set_bit(words: &mut [u64], id: usize) {
    words[id / 64] |= 1 << (id % 64);
}

/// A node of a formula flattened into one array: operands follow their `All`/`Any`, which
/// record the size of their subtree, so evaluating walks memory forward instead of chasing
/// pointers through a thousand filters' trees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    True,
    Fact { id: u32, json: bool },
    Cond(u32),
    All(u32),
    Any(u32),
}

pub(super) fn emit_requirement(r: &Requirement, ops: &mut Vec<Op>) {
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

pub(super) fn emit_expr(e: &Expr<usize>, ops: &mut Vec<Op>) {
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
