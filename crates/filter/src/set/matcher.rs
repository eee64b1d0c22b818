//! Matching one event against a [`FilterSet`]: marking the facts present, collecting the
//! candidate filters, and evaluating each candidate on the event.

use super::requirement::{Op, bit, set_bit};
use super::search::{has_hiding_escape, member_value};
use super::{
    FilterSet, MatchOrder, Resolved, SCORE_BOUND, SCORE_FALL, SetCondition, SetMatcher, UNREAD,
};
use crate::ast::*;
use crate::delimited;
use crate::json::{Entries, View};
use crate::{condition_holds, fields_hold, terms_match};

impl FilterSet {
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

// `op_size` and `eval_ops` are kept beside their only caller rather than with `Op`: in another
// module (another codegen unit) LLVM does not inline the leaf closures of `matching` into
// `eval_ops`, and matching takes up to 1% more instructions.
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

impl SetMatcher<'_> {
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
