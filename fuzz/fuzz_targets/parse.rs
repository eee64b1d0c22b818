//! Parsing never panics, the canonical text (`Display`) parses back to the same AST, and
//! `explain` never panics on a fixed JSON event.
#![no_main]

use filter::FilterPattern;
use libfuzzer_sys::fuzz_target;

const EVENT: &str = "{\"a\":[1,{\"b\":null}],\"eventName\":\"x\"}";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pattern) = FilterPattern::parse(text) else {
        return;
    };
    let canonical = pattern.to_string();
    let reparsed = match FilterPattern::parse(&canonical) {
        Ok(p) => p,
        Err(e) => panic!(
            "canonical text does not parse again\n  input:     {text:?}\n  canonical: {canonical:?}\n  error:     {e}"
        ),
    };
    assert_eq!(
        pattern.pattern(),
        reparsed.pattern(),
        "canonical text parses to a different AST\n  input:     {text:?}\n  canonical: {canonical:?}"
    );
    let _ = pattern.explain(EVENT);
});
