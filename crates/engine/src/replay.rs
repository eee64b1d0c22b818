//! Replay: CloudTrail events from archives run through metric filters, as the server runs
//! the events of a log group, to answer what a detection would have counted.
//!
//! Events are deduplicated on `eventID` (CloudTrail may deliver an event twice, and archives
//! overlap); an event without one is never a duplicate. Each event goes through one filter set
//! of every metric filter, the same matcher the server's log groups use.

use std::collections::HashSet;

use filter::{FilterPattern, FilterSet};

/// A metric filter named for replay, with its pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFilter {
    pub name: String,
    pub pattern: String,
}

/// Why a filter cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric filter {name}: {reason}")]
pub struct FilterError {
    pub name: String,
    pub reason: String,
}

/// The filters compiled together.
pub struct Filters {
    names: Vec<String>,
    set: FilterSet,
}

impl Filters {
    /// Compiles the filters; the first that does not parse is the error.
    pub fn new(filters: &[NamedFilter]) -> Result<Filters, FilterError> {
        let mut patterns = Vec::with_capacity(filters.len());
        for f in filters {
            let parsed = FilterPattern::parse(&f.pattern).map_err(|e| FilterError {
                name: f.name.clone(),
                reason: e.to_string(),
            })?;
            patterns.push(parsed);
        }
        Ok(Filters {
            names: filters.iter().map(|f| f.name.clone()).collect(),
            set: FilterSet::new(patterns),
        })
    }

    /// The filters' names, in the order counts are given.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// What a replay counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events read, duplicates included.
    pub events: u64,
    /// Events whose `eventID` was seen before.
    pub duplicates: u64,
    /// Matches of each filter, in the filters' order.
    pub matches: Vec<u64>,
}

/// Events handed to the workers of [`Filters::replay`] at a time.
const BATCH: usize = 2_048;

/// An event as the pipeline carries it: its JSON text and its `eventID`.
type Owned = (String, Option<String>);

impl Filters {
    /// Replays the events `feed` gives (on the calling thread) with matching on `workers`
    /// threads beside it: events go in batches to the workers, whose verdicts are taken back
    /// in the order the events were given, so that deduplication keeps the first of each
    /// `eventID` whatever thread matched it.
    pub fn replay(
        &self,
        workers: usize,
        feed: impl FnOnce(&mut dyn FnMut(String, Option<String>)),
    ) -> Counts {
        use std::sync::mpsc;
        let workers = workers.max(1);
        let (result_tx, result_rx) = mpsc::channel::<(u64, Vec<(Option<String>, Vec<usize>)>)>();
        std::thread::scope(|s| {
            let mut batch_txs = Vec::with_capacity(workers);
            for _ in 0..workers {
                // Two batches in flight a worker: reading never runs far ahead of matching.
                let (tx, rx) = mpsc::sync_channel::<(u64, Vec<Owned>)>(2);
                batch_txs.push(tx);
                let results = result_tx.clone();
                s.spawn(move || {
                    let mut matcher = self.set.matcher();
                    let mut matched = Vec::new();
                    for (seq, events) in rx {
                        let verdicts = events
                            .into_iter()
                            .map(|(json, id)| {
                                matcher.matching(&json, &mut matched);
                                (id, matched.clone())
                            })
                            .collect();
                        if results.send((seq, verdicts)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(result_tx);
            let merger = s.spawn(move || {
                let mut counts = Counts {
                    matches: vec![0; self.names.len()],
                    ..Counts::default()
                };
                let mut seen = HashSet::new();
                let mut waiting = std::collections::BTreeMap::new();
                let mut next = 0u64;
                for (seq, verdicts) in result_rx {
                    waiting.insert(seq, verdicts);
                    while let Some(verdicts) = waiting.remove(&next) {
                        next += 1;
                        for (id, matched) in verdicts {
                            counts.events += 1;
                            if let Some(id) = id
                                && !seen.insert(id)
                            {
                                counts.duplicates += 1;
                                continue;
                            }
                            for i in matched {
                                counts.matches[i] += 1;
                            }
                        }
                    }
                }
                counts
            });
            let mut batch: Vec<Owned> = Vec::with_capacity(BATCH);
            let mut seq = 0u64;
            let send = |batch: Vec<Owned>, seq: u64| {
                // A worker gone (it panicked) leaves its batches unmatched; the scope
                // re-raises its panic when it ends.
                let _ = batch_txs[(seq % workers as u64) as usize].send((seq, batch));
            };
            feed(&mut |json, id| {
                batch.push((json, id));
                if batch.len() == BATCH {
                    send(
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                        seq,
                    );
                    seq += 1;
                }
            });
            if !batch.is_empty() {
                send(batch, seq);
            }
            // The workers end when their batches do, and the merger when the workers do.
            drop(batch_txs);
            merger
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(specs: &[(&str, &str)]) -> Filters {
        let named: Vec<NamedFilter> = specs
            .iter()
            .map(|(name, pattern)| NamedFilter {
                name: (*name).into(),
                pattern: (*pattern).into(),
            })
            .collect();
        Filters::new(&named).expect("valid filters")
    }

    #[test]
    fn events_are_counted_per_filter_and_duplicates_once() {
        let f = filters(&[
            ("puts", "{ $.eventName = Put* }"),
            ("roots", "{ $.userIdentity.type = Root }"),
        ]);
        let put = r#"{"eventID":"1","eventName":"PutRolePolicy","userIdentity":{"type":"Root"}}"#;
        let counts = f.replay(1, |push| {
            let id = |s: &str| Some(s.to_owned());
            push(put.into(), id("1"));
            push(put.into(), id("1"));
            push(r#"{"eventName":"PutUserPolicy"}"#.into(), None);
            push(r#"{"eventName":"PutUserPolicy"}"#.into(), None);
            push(r#"{"eventID":"2","eventName":"Get"}"#.into(), id("2"));
        });
        assert_eq!(counts.events, 5);
        assert_eq!(counts.duplicates, 1);
        assert_eq!(counts.matches, [3, 1]);
    }

    #[test]
    fn matching_beside_the_reader_counts_what_matching_in_line_counts() {
        let f = filters(&[
            ("puts", "{ $.eventName = Put* }"),
            ("denied", "{ $.errorCode = \"AccessDenied*\" }"),
        ]);
        // Enough events for many batches, with duplicates far apart.
        let events: Vec<(String, Option<String>)> = (0..20_000)
            .map(|i| {
                let id = format!("id-{}", i % 15_000);
                let name = if i % 3 == 0 {
                    "PutRolePolicy"
                } else {
                    "GetRole"
                };
                let error = if i % 7 == 0 {
                    ",\"errorCode\":\"AccessDenied\""
                } else {
                    ""
                };
                let json = format!(r#"{{"eventID":"{id}","eventName":"{name}"{error}}}"#);
                (json, Some(id))
            })
            .collect();
        // The same events counted in line, one after the other.
        let mut in_line = Counts {
            matches: vec![0; 2],
            ..Counts::default()
        };
        let mut seen = HashSet::new();
        for (json, id) in &events {
            in_line.events += 1;
            if id.as_ref().is_some_and(|id| !seen.insert(id.clone())) {
                in_line.duplicates += 1;
                continue;
            }
            for i in f.set.matching(json) {
                in_line.matches[i] += 1;
            }
        }
        assert_eq!(in_line.duplicates, 5_000);
        for workers in [1, 3] {
            let parallel = f.replay(workers, |push| {
                for (json, id) in events.iter().cloned() {
                    push(json, id);
                }
            });
            assert_eq!(parallel, in_line, "{workers} workers");
        }
    }

    #[test]
    fn a_bad_pattern_names_its_filter() {
        let named = [NamedFilter {
            name: "broken".into(),
            pattern: "{ $.eventName = ".into(),
        }];
        let err = Filters::new(&named).err().expect("an error");
        assert_eq!(err.name, "broken");
        assert!(
            err.to_string().starts_with("metric filter broken: "),
            "{err}"
        );
    }
}
