//! Every case of the reference corpus (`testdata/reference/filter-cases.json`): the verdict, the
//! extracted values, the metric value and the dimensions, through the single-filter evaluator
//! and through a filter set. Cases marked `disputed` assert the choice documented in
//! `filter::choices`; `invalid` cases must be rejected.

use filter::{FilterPattern, FilterSet, MatchOrder, MetricExtractor, MetricOutcome};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Case {
    id: String,
    pattern: String,
    event: String,
    matches: bool,
    kind: String,
    #[serde(default)]
    extracted: Option<BTreeMap<String, String>>,
    #[serde(default)]
    metric_value_ref: Option<String>,
    #[serde(default)]
    metric_value: Option<f64>,
    #[serde(default)]
    dimensions_spec: Option<BTreeMap<String, String>>,
    #[serde(default)]
    dimensions: Option<BTreeMap<String, String>>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/reference/filter-cases.json"
    );
    let text = std::fs::read_to_string(path).expect("filter-cases.json is in testdata");
    serde_json::from_str(&text).expect("filter-cases.json parses")
}

fn check(case: &Case) -> Result<(), String> {
    let parsed = FilterPattern::parse(&case.pattern);
    if case.kind == "invalid" {
        return match parsed {
            Err(_) => Ok(()),
            Ok(_) => Err("accepted a pattern AWS rejects".into()),
        };
    }
    let pattern = parsed.map_err(|e| format!("rejected: {e}"))?;
    let matched = pattern.matches(&case.event);
    if matched != case.matches {
        return Err(format!("matches = {matched}, expected {}", case.matches));
    }
    let set = FilterSet::new(vec![pattern.clone()]);
    for order in [MatchOrder::PrefilterFirst, MatchOrder::JsonFirst] {
        let mut out = Vec::new();
        set.matcher()
            .with_order(order)
            .matching(&case.event, &mut out);
        if out.is_empty() == matched {
            return Err(format!(
                "the filter set ({order:?}) disagrees with the single-filter evaluator"
            ));
        }
    }
    if pattern.explain(&case.event).matched != matched {
        return Err("the explanation's verdict disagrees".into());
    }
    if let Some(expected) = &case.extracted {
        let got: BTreeMap<String, String> = pattern
            .extract(&case.event)
            .ok_or("no extracted values for a matching event")?
            .0
            .into_iter()
            .collect();
        if &got != expected {
            return Err(format!("extractedValues = {got:?}, expected {expected:?}"));
        }
    }
    // Given the set's verdict, the extractor gives what it finds deciding alone.
    if matched {
        let references = ["1"].into_iter().chain(case.metric_value_ref.as_deref());
        for reference in references {
            if let Ok(extractor) = MetricExtractor::new(&pattern, reference, None, &[]) {
                let alone = extractor.apply(&pattern, &case.event);
                if extractor.apply_to_match(&pattern, &case.event) != alone {
                    return Err(format!("apply_to_match disagrees with apply ({alone:?})"));
                }
            }
        }
    }
    if let (Some(reference), Some(expected)) = (&case.metric_value_ref, case.metric_value) {
        let extractor = MetricExtractor::new(&pattern, reference, None, &[])
            .map_err(|e| format!("metricValue rejected: {e}"))?;
        match extractor.apply(&pattern, &case.event) {
            MetricOutcome::Datum { value, .. } if value == expected => {}
            other => {
                return Err(format!(
                    "metric outcome {other:?}, expected value {expected}"
                ));
            }
        }
    }
    if let (Some(spec), Some(expected)) = (&case.dimensions_spec, &case.dimensions) {
        let spec: Vec<(String, String)> = spec.clone().into_iter().collect();
        let extractor = MetricExtractor::new(&pattern, "1", None, &spec)
            .map_err(|e| format!("dimensions rejected: {e}"))?;
        match extractor.apply(&pattern, &case.event) {
            MetricOutcome::Datum { dimensions, .. } => {
                let got: BTreeMap<String, String> = dimensions.into_iter().collect();
                if &got != expected {
                    return Err(format!("dimensions = {got:?}, expected {expected:?}"));
                }
            }
            other => return Err(format!("metric outcome {other:?}, expected a datum")),
        }
    }
    Ok(())
}

#[test]
fn every_reference_case_holds() {
    let cases = cases();
    assert!(cases.len() >= 229, "the corpus has {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c)
                .err()
                .map(|e| format!("{} ({:?}): {e}", c.id, c.pattern))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn canonical_text_of_every_case_parses_to_the_same_pattern() {
    for case in cases().iter().filter(|c| c.kind != "invalid") {
        let pattern = FilterPattern::parse(&case.pattern).expect("valid");
        let text = pattern.to_string();
        let again = FilterPattern::parse(&text)
            .unwrap_or_else(|e| panic!("{}: canonical {text:?} rejected: {e}", case.id));
        assert_eq!(pattern.pattern(), again.pattern(), "{}: {text}", case.id);
    }
}

/// Found by fuzzing: the canonical text added spaces, so a pattern near the 1,024-character
/// limit printed to text that the parser then rejected as too long.
#[test]
fn regression_canonical_text_of_a_long_pattern_fits_the_limit() {
    let one = "($.eventName=DeleteGroupPolicy)||";
    let mut text = String::from("{");
    while text.len() + one.len() + 40 < 1024 {
        text.push_str(one);
    }
    text.push_str("($.eventName=DetachGroupPolicy)}");
    let pattern = FilterPattern::parse(&text).expect("within the limit");
    let canonical = pattern.to_string();
    assert!(canonical.len() <= text.len(), "{canonical}");
    let again = FilterPattern::parse(&canonical).expect("canonical text parses");
    assert_eq!(again.pattern(), pattern.pattern());
}

/// The reference evaluator walked nested arrays recursively, so an event nested a million
/// levels deep (well within the event size limit) overflowed the stack. Events nested deeper
/// than 128 containers are not read as JSON.
#[test]
fn regression_deeply_nested_event_does_not_overflow_the_stack() {
    let deep = |n: usize| format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
    let pattern = FilterPattern::parse("{ $.b NOT EXISTS }").expect("valid");
    let set = FilterSet::new(vec![pattern.clone()]);
    let shallow = deep(100);
    assert!(pattern.matches(&shallow));
    assert_eq!(set.matching(&shallow), vec![0]);
    let deep = deep(1_000_000);
    assert!(!pattern.matches(&deep));
    assert!(pattern.extract(&deep).is_none());
    assert!(!pattern.explain(&deep).matched);
    assert!(set.matching(&deep).is_empty());
}
