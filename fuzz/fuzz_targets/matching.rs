//! The input is `pattern '\n' event`. For every pattern that parses, the reference evaluator
//! (`FilterPattern::matches`), the one-pass `FilterSet`, `explain` and `extract` agree on the
//! verdict.
#![no_main]

use filter::{FilterPattern, FilterSet};
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
    assert_eq!(
        set.matching(event) == vec![0],
        matched,
        "FilterSet disagrees with matches\n  pattern: {pattern:?}\n  event:   {event:?}"
    );
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
