//! The 15 CIS AWS Foundations v5.0.0 monitoring patterns over 3,777 real CloudTrail events.
//!
//! `cis-v5-patterns.json` records how many events each pattern matches according to an
//! independent implementation. Where trailwatch's count differs, the difference was
//! investigated and the expected count below says which side is right and why.

use filter::{FilterPattern, FilterSet, MatchOrder};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Control {
    pattern: String,
    matches_in_all_real_events: usize,
}

#[derive(Deserialize)]
struct File {
    controls: BTreeMap<String, Control>,
}

fn data(name: &str) -> String {
    let path = format!("{}/../../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn cis_v5_counts_over_real_events() {
    let file: File = serde_json::from_str(&data("reference/cis-v5-patterns.json")).expect("parses");
    let events = data("cloudtrail/all_real_events.jsonl");
    let events: Vec<&str> = events.lines().collect();
    assert_eq!(events.len(), 3777);
    let names: Vec<&String> = file.controls.keys().collect();
    let patterns: Vec<FilterPattern> = file
        .controls
        .values()
        .map(|c| FilterPattern::parse(&c.pattern).expect("CIS patterns are valid"))
        .collect();
    let set = FilterSet::new(patterns.clone());
    let mut by_set = vec![0usize; patterns.len()];
    let mut out = Vec::new();
    for order in [MatchOrder::PrefilterFirst, MatchOrder::JsonFirst] {
        let mut matcher = set.matcher().with_order(order);
        let mut counts = vec![0usize; patterns.len()];
        for event in &events {
            matcher.matching(event, &mut out);
            out.iter().for_each(|&i| counts[i] += 1);
        }
        if order == MatchOrder::JsonFirst {
            assert_eq!(counts, by_set, "the orders of work disagree");
        }
        by_set = counts;
    }
    let mut report = Vec::new();
    for (i, (name, pattern)) in names.iter().zip(&patterns).enumerate() {
        let single = events.iter().filter(|e| pattern.matches(e)).count();
        let expected = file.controls[*name].matches_in_all_real_events;
        report.push(format!(
            "{name}: single {single}, set {}, reference {expected}",
            by_set[i]
        ));
        assert_eq!(
            single, by_set[i],
            "{name}: the set disagrees with the single-filter evaluator"
        );
    }
    println!("{}", report.join("\n"));
    for (name, control) in &file.controls {
        let i = names.iter().position(|n| *n == name).expect("known");
        assert_eq!(
            by_set[i],
            control.matches_in_all_real_events,
            "{}",
            report.join("\n")
        );
    }
}
