//! Compiling filters into a [`FilterSet`]: each filter's plan (its requirement and, for JSON,
//! its expression over the set's distinct conditions), then the set's searches and indexes.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use memchr::memmem;

use super::requirement::{Requirement, emit_expr, emit_requirement};
use super::search::{KeySearch, LiteralSearch, plain_key};
use super::{Compiled, FilterSet, SetCondition};
use crate::FilterPattern;
use crate::ast::*;
use crate::json::WantedKeys;

/// How one filter of the set is evaluated.
#[derive(Debug, Clone)]
struct Plan {
    requirement: Requirement,
    /// For JSON patterns: the expression over the set's distinct conditions.
    json: Option<Expr<usize>>,
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
}
