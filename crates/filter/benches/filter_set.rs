//! Throughput of a filter set over real CloudTrail events, one thread.
//!
//! `cargo bench -p trailwatch-filter --bench filter_set`
//!
//! * `set/cis-15`: the 15 CIS AWS Foundations v5 monitoring patterns in one [`FilterSet`].
//! * `set/cis-150`, `set/cis-1500`: each CIS pattern again with its event names replaced by
//!   other event names that occur in the corpus (10 and 100 variants of each), so the literals
//!   are realistic and some filters match.
//! * `single/cis-15`: the same 15 patterns evaluated one by one with the reference evaluator.
//! * `json/*`: ways of reading the fields the CIS patterns test, for comparison.
//!
//! One iteration matches every event of `testdata/cloudtrail/all_real_events.jsonl` (3,777
//! events, 4.7 MB); throughput is reported in bytes of event text.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use filter::{FilterPattern, FilterSet};

fn testdata(name: &str) -> String {
    let path = format!("{}/../../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cis_patterns() -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Control {
        pattern: String,
    }
    #[derive(serde::Deserialize)]
    struct File {
        controls: BTreeMap<String, Control>,
    }
    let file: File =
        serde_json::from_str(&testdata("reference/cis-v5-patterns.json")).expect("parses");
    file.controls.into_values().map(|c| c.pattern).collect()
}

/// `variants` versions of each pattern; version 0 is the pattern itself, version k replaces
/// every event name in it with event names of the corpus, chosen deterministically.
fn variants(patterns: &[String], names: &[String], variants: usize) -> Vec<String> {
    let event_name =
        regex::Regex::new(r#"(\$\.eventName\s*!?=\s*)("?)([A-Za-z0-9]+)("?)"#).expect("valid");
    let mut out = Vec::new();
    for (p, pattern) in patterns.iter().enumerate() {
        for k in 0..variants {
            if k == 0 {
                out.push(pattern.clone());
                continue;
            }
            let mut j = 0;
            let text = event_name.replace_all(pattern, |c: &regex::Captures<'_>| {
                j += 1;
                let name = &names[(p * 31 + k * 7 + j * 13) % names.len()];
                format!("{}{}{name}{}", &c[1], &c[2], &c[4])
            });
            out.push(text.into_owned());
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let corpus = testdata("cloudtrail/all_real_events.jsonl");
    let events: Vec<&str> = corpus.lines().collect();
    let bytes: usize = events.iter().map(|e| e.len()).sum();
    let names: Vec<String> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .filter_map(|v| {
            v.get("eventName")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cis = cis_patterns();

    let mut group = c.benchmark_group("set");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.measurement_time(Duration::from_secs(8));
    for n in [1, 10, 100] {
        let texts = variants(&cis, &names, n);
        let filters: Vec<FilterPattern> = texts
            .iter()
            .map(|t| FilterPattern::parse(t).unwrap_or_else(|e| panic!("{t}: {e}")))
            .collect();
        let set = FilterSet::new(filters);
        let mut matcher = set.matcher();
        let mut out = Vec::new();
        let matches: usize = events
            .iter()
            .map(|e| {
                matcher.matching(e, &mut out);
                out.len()
            })
            .sum();
        eprintln!(
            "cis-{}: {} search patterns, {matches} matches over {} events",
            set.len(),
            set.search_patterns().len(),
            events.len()
        );
        group.bench_function(format!("cis-{}", set.len()), |b| {
            b.iter(|| {
                let mut total = 0;
                for e in &events {
                    matcher.matching(black_box(e), &mut out);
                    total += out.len();
                }
                total
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Bytes(bytes as u64));
    let filters: Vec<FilterPattern> = cis
        .iter()
        .map(|t| FilterPattern::parse(t).expect("valid"))
        .collect();
    group.bench_function("cis-15", |b| {
        b.iter(|| {
            let mut total = 0;
            for e in &events {
                for f in &filters {
                    total += usize::from(f.matches(black_box(e)));
                }
            }
            total
        })
    });
    group.finish();

    // The fields the 15 CIS patterns read.
    let paths: &[&[&str]] = &[
        &["eventName"],
        &["eventSource"],
        &["errorCode"],
        &["errorMessage"],
        &["sourceIPAddress"],
        &["eventType"],
        &["userIdentity", "type"],
        &["userIdentity", "invokedBy"],
        &["additionalEventData", "MFAUsed"],
    ];
    let mut group = c.benchmark_group("json");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("serde_json-value", |b| {
        b.iter(|| {
            events
                .iter()
                .filter_map(|e| serde_json::from_str::<serde_json::Value>(black_box(e)).ok())
                .count()
        })
    });
    group.bench_function("serde_json-raw-top-level", |b| {
        b.iter(|| {
            events
                .iter()
                .filter_map(|e| {
                    serde_json::from_str::<BTreeMap<&str, &serde_json::value::RawValue>>(black_box(
                        e,
                    ))
                    .ok()
                })
                .count()
        })
    });
    let mut tree = sonic_rs::PointerTree::new();
    for p in paths {
        tree.add_path(p.iter());
    }
    group.bench_function("sonic_rs-get_many", |b| {
        b.iter(|| {
            events
                .iter()
                .filter_map(|e| sonic_rs::get_many(black_box(*e), &tree).ok())
                .count()
        })
    });
    let wanted: Vec<&str> = paths.iter().map(|p| p[0]).collect();
    group.bench_function("sonic_rs-object-iter", |b| {
        b.iter(|| {
            let mut kept = 0;
            for e in &events {
                for entry in sonic_rs::to_object_iter(black_box(*e)) {
                    match entry {
                        Ok((k, v)) if wanted.contains(&k.as_ref()) => kept += v.as_raw_str().len(),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            kept
        })
    });
    group.bench_function("sonic_rs-value", |b| {
        b.iter(|| {
            events
                .iter()
                .filter_map(|e| sonic_rs::from_str::<sonic_rs::Value>(black_box(e)).ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
