//! The input is `pattern '\n' event`. For every pattern that parses, the reference evaluator
//! (`FilterPattern::matches`), the one-pass `FilterSet` in both orders of work, `explain` and
//! `extract` agree on the verdict.
#![no_main]

use filter::{FilterPattern, FilterSet, MatchOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(p) = FilterPattern::parse(pattern) else {
        return;
    };
    let matched = p.matches(event);
    let set = FilterSet::new(vec![p.clone()]);
    let mut out = Vec::new();
    for order in [MatchOrder::PrefilterFirst, MatchOrder::JsonFirst] {
        set.matcher().with_order(order).matching(event, &mut out);
        assert_eq!(
            out == [0],
            matched,
            "FilterSet ({order:?}) disagrees with matches\n  pattern: {pattern:?}\n  event:   {event:?}"
        );
    }
    assert_eq!(
        p.explain(event).matched,
        matched,
        "explain disagrees with matches\n  pattern: {pattern:?}\n  event:   {event:?}"
    );
    assert_eq!(
        p.extract(event).is_some(),
        matched,
        "extract disagrees with matches\n  pattern: {pattern:?}\n  event:   {event:?}"
    );
});
